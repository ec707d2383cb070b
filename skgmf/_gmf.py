"""Generalized Matrix Factorization regressor (scikit-learn estimator)."""
# License: BSD 3 clause

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from ._encoding import encode_ids, lookup_ids
from ._random import epoch_permutations, spawn_seeds

# Rows predicted at once: bounds the memory of the gathered factors.
_PREDICT_CHUNK = 1 << 16


class GMFRegressor(RegressorMixin, BaseEstimator):
    """Generalized Matrix Factorization regressor for (user, item) ratings.

    GMF (He et al., 2017) embeds every user and item and predicts a rating from the
    element-wise product of the two embeddings through a linear output layer. This
    estimator adds the global, user and item biases of biased matrix factorization:

    .. math:: \\hat r_{ui} = \\mu + b_u + b_i + w^\\top (p_u \\odot q_i)

    and learns all of them with Adam on minibatches, in a Keras 3 model on the
    TensorFlow backend. The L2 penalty ``alpha`` is applied per rating to the
    embedding rows and biases the rating uses. The output weights :math:`w` are
    kept at the norm :math:`\\sqrt{k}` of a vector of ones (projected after every
    step): GMF is invariant to :math:`p, q \\to cp, cq` with :math:`w \\to w / c^2`,
    and without a fixed scale for :math:`w` the penalty would be void.

    Every column of ``X`` is a categorical field of ids, of any hashable type. The
    first column holds users and the second items; with exactly these two columns the
    model is the one above. Further columns (context such as hour or device) join
    through the sum of the pairwise element-wise products of all fields'
    embeddings, the factorization-machine interaction, and each adds its own bias.

    Ids not seen in ``fit`` are handled by ``handle_unknown``: by default an unknown
    id contributes nothing (no bias, no factors), so an unknown user gets
    :math:`\\mu + b_i`, an unknown item :math:`\\mu + b_u` and an unknown pair
    :math:`\\mu`, as in Surprise. Predictions are clipped to the range of ``y`` seen
    in ``fit``.

    Read more in the :ref:`User Guide <user_guide>`.

    Parameters
    ----------
    n_factors : int, default=32
        Size of the user and item embeddings (the latent size). The seed notebook
        used 8.

    alpha : float, default=0.12
        L2 penalty per rating on the embedding rows and biases used by that rating
        (Surprise's ``reg_all``). Smaller data sets want a larger value.

    learning_rate : float, default=0.02
        Step size of the Adam optimizer.

    batch_size : int, default=16384
        Ratings per minibatch. Larger batches are faster per epoch.

    max_iter : int, default=20
        Maximum number of epochs (passes over the training ratings).

    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the ratings and stop when the validation
        score (:math:`R^2`) has not improved by ``tol`` for ``n_iter_no_change``
        epochs; the weights of the best epoch are kept.

    validation_fraction : float, default=0.1
        Share of the ratings held out for early stopping. Only used if
        ``early_stopping`` is True.

    n_iter_no_change : int, default=10
        Epochs without an improvement of at least ``tol`` (in training loss, or in
        validation score with early stopping) before training stops.

    tol : float, default=1e-4
        Minimum improvement that counts, see ``n_iter_no_change``.

    handle_unknown : {"use_fallback", "error"}, default="use_fallback"
        What ``predict`` does with ids not seen in ``fit``: ``"use_fallback"`` lets
        them contribute nothing (the prediction falls back to the global mean plus
        the known biases); ``"error"`` raises a ``ValueError``.

    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, the row order of every epoch and the validation
        split. Pass an int for reproducible results. With None, fresh entropy
        is drawn from the operating system; NumPy's global random state is never used.

    verbose : int, default=0
        Print the loss of every epoch when > 0.

    Attributes
    ----------
    model_ : keras.Model
        The trained Keras GMF network (see :func:`skgmf.build_gmf`).

    categories_ : list of ndarray
        Known ids of every column of ``X``, in embedding-row order.

    users_ : ndarray of shape (n_users,)
        Known user ids (``categories_[0]``); ``user_factors_[r]`` belongs to ``users_[r]``.

    items_ : ndarray of shape (n_items,)
        Known item ids (``categories_[1]``).

    factors_ : list of ndarray of shape (n_ids, n_factors)
        Learned embeddings of every field.

    biases_ : list of ndarray of shape (n_ids,)
        Learned biases of every field.

    user_factors_, item_factors_ : ndarray of shape (n_users or n_items, n_factors)
        ``factors_[0]`` and ``factors_[1]``.

    user_bias_, item_bias_ : ndarray of shape (n_users,) or (n_items,)
        ``biases_[0]`` and ``biases_[1]``.

    coef_ : ndarray of shape (n_factors,)
        Output weights :math:`w`.

    intercept_ : float
        Global bias :math:`\\mu`.

    rating_range_ : tuple of float
        ``(min, max)`` of ``y`` in ``fit``; predictions are clipped to it.

    n_iter_ : int
        Number of epochs run.

    loss_curve_ : list of float
        Training mean squared error of every epoch (without the penalty).

    validation_scores_ : list of float or None
        :math:`R^2` on the validation set after every epoch, if ``early_stopping``.

    best_validation_score_ : float or None
        Best of ``validation_scores_``, if ``early_stopping``.

    n_features_in_ : int
        Number of columns of ``X`` in ``fit``.

    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names of ``X``, when it is a DataFrame with string column names.

    See Also
    --------
    skgmf.build_gmf : The Keras network, for use outside the estimator.
    sklearn.neural_network.MLPRegressor : Source of the training parameters' names.

    Notes
    -----
    Training uses Adam with the batch mean of the per-rating loss
    :math:`s_r [(r - \\hat r)^2 + \\alpha (\\|p_u\\|^2 + \\|q_i\\|^2 + b_u^2 + b_i^2)]`,
    with sample weights :math:`s_r`, and :math:`w` projected back to norm
    :math:`\\sqrt{k}` after each step. Rows are shuffled every epoch by a
    NumPy generator seeded from ``random_state``, after sorting them, so the fitted
    model does not depend on the order of the rows of ``X``. Rows of weight zero
    are dropped. Nothing global is changed: no Keras or TensorFlow seed, no
    configuration. ``predict`` runs in NumPy from the exported weights and never
    calls TensorFlow. TensorFlow is imported by ``fit`` (or when a fitted
    estimator is unpickled), not by ``import skgmf``.

    References
    ----------
    X. He, L. Liao, H. Zhang, L. Nie, X. Hu and T.-S. Chua. "Neural Collaborative
    Filtering". WWW 2017.

    S. Rendle, W. Krichene, L. Zhang and J. Anderson. "Neural Collaborative Filtering
    vs. Matrix Factorization Revisited". RecSys 2020.

    Examples
    --------
    >>> from skgmf import GMFRegressor
    >>> X = [["alice", "matrix"], ["alice", "alien"], ["bob", "matrix"], ["bob", "heat"]]
    >>> y = [5, 4, 4, 2]
    >>> est = GMFRegressor(n_factors=4, max_iter=2, random_state=0).fit(X, y)
    >>> est.predict([["bob", "alien"], ["carol", "heat"]]).shape
    (2,)
    >>> est.users_.tolist()
    ['alice', 'bob']
    """

    _parameter_constraints: dict = {
        "n_factors": [Interval(Integral, 1, None, closed="left")],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "handle_unknown": [StrOptions({"use_fallback", "error"})],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        n_factors=32,
        *,
        alpha=0.12,
        learning_rate=0.02,
        batch_size=16384,
        max_iter=20,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        handle_unknown="use_fallback",
        random_state=None,
        verbose=0,
    ):
        self.n_factors = n_factors
        self.alpha = alpha
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.handle_unknown = handle_unknown
        self.random_state = random_state
        self.verbose = verbose

    def _check_params(self):
        """Checks that involve the environment rather than one parameter."""
        import keras

        if keras.config.backend() != "tensorflow":
            raise RuntimeError(
                "GMFRegressor trains with the TensorFlow backend of Keras, but "
                f"KERAS_BACKEND is {keras.config.backend()!r}. Set "
                "KERAS_BACKEND=tensorflow before Keras is first imported."
            )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.categorical = True
        # sklearn's generic checks draw continuous features: every value becomes an
        # id seen once, so there is nothing to generalise from at their tiny sizes.
        tags.regressor_tags.poor_score = True
        return tags

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model to ratings ``y`` of the (user, item, ...) rows of ``X``.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_fields)
            Ids: users in the first column, items in the second, optional context
            fields after them. Any hashable values; mixed types per column are fine.
        y : array-like of shape (n_samples,)
            Ratings.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of every rating; rows of weight zero are ignored.

        Returns
        -------
        self : GMFRegressor
            The fitted estimator.
        """
        self._check_params()
        X, y = validate_data(self, X, y, dtype=None, y_numeric=True)
        sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float32)
        if np.any(sample_weight < 0):
            raise ValueError("sample_weight must be non-negative.")
        keep = sample_weight > 0
        if not keep.any():
            raise ValueError("sample_weight must have at least one positive entry.")
        X, y, sample_weight = X[keep], y[keep].astype(np.float32), sample_weight[keep]

        init_seed, shuffle_seed, split_seed = spawn_seeds(self._rng(), 3)
        encoded = [encode_ids(X[:, f], field=f) for f in range(X.shape[1])]
        categories = [ids for ids, _ in encoded]
        idx = np.column_stack([col_idx for _, col_idx in encoded]).astype(np.int32)
        # Sort rows by (ids, y, weight) so that fitting ignores the input row order.
        order = np.lexsort([sample_weight, y, *idx.T[::-1]])
        idx, y, sample_weight = idx[order], y[order], sample_weight[order]
        validation = None
        if self.early_stopping:
            train_rows, val_rows = self._split_validation(len(y), split_seed)
            validation = (idx[val_rows], y[val_rows], sample_weight[val_rows])
            idx, y, sample_weight = idx[train_rows], y[train_rows], sample_weight[train_rows]
            categories = _restrict_to_training(categories, idx, validation[0])
        self.categories_ = categories
        self.rating_range_ = (float(y.min()), float(y.max()))

        from ._model import build_gmf
        from ._training import train

        self.model_ = build_gmf(
            [len(ids) for ids in self.categories_],
            self.n_factors,
            intercept=np.average(y, weights=sample_weight),
            seed=init_seed,
        )
        validate = None
        if validation is not None:
            # Imported here, as RegressorMixin.score does: sklearn.metrics is slow to import.
            from sklearn.metrics import r2_score

            idx_val, y_val, w_val = validation

            def validate():
                self._export_weights()
                return r2_score(y_val, self._predict_idx(idx_val), sample_weight=w_val)

        self.loss_curve_, self.validation_scores_ = train(
            self.model_,
            idx,
            y,
            sample_weight,
            alpha=self.alpha,
            learning_rate=self.learning_rate,
            batch_size=self.batch_size,
            max_iter=self.max_iter,
            tol=self.tol,
            n_iter_no_change=self.n_iter_no_change,
            permutations=epoch_permutations(shuffle_seed, len(y)),
            validate=validate,
            verbose=self.verbose,
        )
        self.n_iter_ = len(self.loss_curve_)
        self.best_validation_score_ = (
            max(self.validation_scores_) if self.validation_scores_ else None
        )
        self._export_weights()
        return self

    def predict(self, X):
        """Predict the ratings of the rows of ``X``.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_fields)
            Ids, in the columns seen in ``fit``.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Predicted ratings, clipped to ``rating_range_``.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=None)
        idx = np.column_stack(
            [lookup_ids(ids, X[:, f], field=f) for f, ids in enumerate(self.categories_)]
        )
        if self.handle_unknown == "error" and (idx < 0).any():
            f = int(np.nonzero((idx < 0).any(axis=0))[0][0])
            unknown = X[idx[:, f] < 0, f].tolist()
            raise ValueError(
                f"Found {len(set(unknown))} unknown ids in column {f} "
                f"of X during predict, e.g. {unknown[0]!r}. Use "
                "handle_unknown='use_fallback' to predict them from the known biases."
            )
        return self._predict_idx(idx)

    @property
    def users_(self):
        return self.categories_[0]

    @property
    def items_(self):
        return self.categories_[1]

    @property
    def user_factors_(self):
        return self.factors_[0]

    @property
    def item_factors_(self):
        return self.factors_[1]

    @property
    def user_bias_(self):
        return self.biases_[0]

    @property
    def item_bias_(self):
        return self.biases_[1]

    def _rng(self):
        """``random_state``, but fresh OS entropy instead of NumPy's global state."""
        if self.random_state is None:
            return np.random.RandomState(np.random.SeedSequence().generate_state(1))
        return self.random_state

    def _split_validation(self, n_samples, seed):
        """Training and validation rows: ``validation_fraction`` held out at random."""
        n_val = int(round(self.validation_fraction * n_samples))
        if n_val < 1 or n_val >= n_samples:
            raise ValueError(
                f"validation_fraction={self.validation_fraction} leaves an empty "
                f"training or validation set with n_samples = {n_samples}; "
                "use more samples or set early_stopping=False."
            )
        perm = np.random.default_rng(seed).permutation(n_samples)
        return np.sort(perm[n_val:]), np.sort(perm[:n_val])

    def _export_weights(self):
        """Copy the Keras weights into NumPy arrays used by ``predict``."""
        from ._model import field_name

        model = self.model_
        names = [field_name(f) for f in range(len(self.categories_))]
        self.factors_ = [
            model.get_layer(f"{name}_embedding").embeddings.numpy() for name in names
        ]
        self.biases_ = [
            model.get_layer(f"{name}_bias").embeddings.numpy()[:, 0] for name in names
        ]
        kernel, bias = model.get_layer("output").get_weights()
        self.coef_ = kernel[:, 0]
        self.intercept_ = float(bias[0])

    def _predict_idx(self, idx):
        """Clipped predictions for encoded rows, in chunks of bounded memory."""
        y_pred = np.empty(len(idx), dtype=np.float64)
        for start in range(0, len(idx), _PREDICT_CHUNK):
            rows = idx[start : start + _PREDICT_CHUNK]
            y_pred[start : start + len(rows)] = self._predict_rows(rows)
        return np.clip(y_pred, *self.rating_range_)

    def _predict_rows(self, idx):
        """The model's formula in NumPy; index -1 (unknown) selects a zero row."""
        y_pred = np.full(len(idx), self.intercept_, dtype=np.float64)
        vectors = []
        for f, (factors, biases) in enumerate(zip(self.factors_, self.biases_)):
            known = idx[:, f] >= 0
            rows = np.where(known, idx[:, f], 0)
            y_pred += np.where(known, biases[rows], 0.0)
            vectors.append(factors[rows] * known[:, None])
        if len(vectors) == 1:
            interaction = vectors[0]
        elif len(vectors) == 2:
            interaction = vectors[0] * vectors[1]
        else:
            # Sum of pairwise products: ((sum v)^2 - sum v^2) / 2, the FM identity.
            total = np.sum(vectors, axis=0)
            interaction = (total**2 - np.sum(np.square(vectors), axis=0)) / 2
        return y_pred + interaction @ self.coef_


def _restrict_to_training(categories, idx, idx_val):
    """Keep only the ids the training rows use; re-index both row sets in place.

    Ids seen only in the validation rows get no embedding row: they become
    unknown (-1) there, as they would be for ``predict``.
    """
    restricted = []
    for f, ids in enumerate(categories):
        used, idx[:, f] = np.unique(idx[:, f], return_inverse=True)
        new_row = np.full(len(ids), -1, dtype=np.int32)
        new_row[used] = np.arange(len(used), dtype=np.int32)
        idx_val[:, f] = new_row[idx_val[:, f]]
        restricted.append(ids[used])
    return restricted
