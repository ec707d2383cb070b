"""Generalized Matrix Factorization regressor (scikit-learn estimator)."""
# License: BSD 3 clause

import warnings

import numpy as np
from sklearn.base import RegressorMixin, _fit_context

from ._base import BaseGMF
from ._columns import column_where
from ._encoding import plain_value, warn_unknown_ids
from ._params import GMFParameters, decision_function, linear_in, move_rows
from ._recommend import _kind_hint


class GMFRegressor(RegressorMixin, BaseGMF):
    """Generalized Matrix Factorization regressor for (user, item) ratings.

    GMF (He et al., 2017) embeds every user and item and predicts a rating from the
    element-wise product of the two embeddings through a linear output layer. This
    estimator adds the global, user and item biases of biased matrix factorization:

    .. math:: \\hat r_{ui} = \\mu + b_u + b_i + w^\\top (p_u \\odot q_i)

    ``model_`` is that network as a Keras 3 model. By default it is trained by
    per-rating stochastic gradient descent in compiled code (``solver="sgd"``), or
    by minibatch Adam in TensorFlow (``solver="adam"``). The L2 penalty ``alpha``
    is applied per rating to the embedding rows and biases the rating uses (plus
    ``row_alpha`` per row with SGD). The output weights :math:`w` are kept at the
    norm :math:`\\sqrt{k}` of a vector of ones (SGD keeps them at ones; Adam
    projects them after every step): GMF is invariant to :math:`p, q \\to cp, cq`
    with :math:`w \\to w / c^2`, and without a fixed scale for :math:`w` the
    penalty would be void.

    Every column of ``X`` is a categorical field of ids, of any hashable type. The
    first column holds users and the second items; with exactly these two columns the
    model is the one above. Context columns that ``context_features`` selects (hour,
    device, ...) join through the sum of the pairwise element-wise products of all
    fields' embeddings, the factorization-machine interaction, and each adds its own
    bias. A DataFrame whose first two columns are named the other way round
    (``item, user``; ``movieId, userId``) is an error.

    Ids not seen in ``fit`` are handled by ``handle_unknown``: by default an unknown
    id contributes nothing (no bias, no factors), so an unknown user gets
    :math:`\\mu + b_i`, an unknown item :math:`\\mu + b_u` and an unknown pair
    :math:`\\mu`, as in Surprise. Predictions are clipped to the range of ``y`` seen
    in ``fit``.

    Read more in the :ref:`User Guide <user_guide>`.

    Parameters
    ----------
    n_factors : int or "auto", default="auto"
        Size of the user and item embeddings (the latent size). ``"auto"``: 128
        below 200,000 training ratings, else 32 (``solver="sgd"``); 32
        (``solver="adam"``). The seed notebook used 8.

    solver : {"auto", "sgd", "adam"}, default="auto"
        The training engine. ``"sgd"``: per-rating stochastic gradient descent in
        compiled code (numba), on up to 4 threads and deterministic (the same
        result on any number of threads, see the Notes); it trains (user,
        item) models. ``"adam"``: minibatch Adam in TensorFlow (lazy, per used
        row), for context fields and GPUs. ``"auto"`` takes ``"sgd"`` for a (user,
        item) model and ``"adam"`` with context fields. Measured side by side on
        MovieLens, ``"sgd"`` is more accurate and several times faster (see the
        README).

    alpha : float or "auto", default="auto"
        L2 penalty per rating on the embedding rows and biases used by that rating
        (Surprise's ``reg_all``). ``"auto"``: 0.05 below 200,000 training ratings,
        else 0.04 (``"sgd"``); 0.13 (``"adam"``).

    row_alpha : float or "auto", default="auto"
        L2 penalty per embedding row and bias, independent of the number of its
        ratings (a prior: a row with few ratings stays near zero). ``"auto"``: 1.0.
        Only used when ``solver="sgd"`` (a non-zero value with Adam warns).

    learning_rate : float or "auto", default="auto"
        Initial step size. ``"auto"``: 0.04 below 200,000 training ratings, else
        0.05 (``"sgd"``); 0.08 (``"adam"``).

    learning_rate_schedule : {"auto", "inverse", "cosine", "constant"}, default="auto"
        ``"inverse"`` steps at ``learning_rate / (1 + 0.3 * epoch)`` (SGD only);
        ``"cosine"`` decays the step size along half a cosine to 0 at the end of
        epoch ``max_iter``; ``"constant"`` keeps ``learning_rate``. ``"auto"``:
        ``"inverse"`` for SGD, ``"cosine"`` for Adam.

    batch_size : int or "auto", default="auto"
        Ratings per minibatch. ``"auto"`` takes about ``30 * sqrt(n_samples)``,
        rounded to a power of two between 256 and 131072 (8192 for 80,000 ratings,
        32768 for 800,000). Only used when ``solver="adam"``.

    max_iter : int or "auto", default="auto"
        Maximum number of epochs (passes over the training ratings). ``"auto"``:
        40 below 200,000 training ratings, else 20 (``"sgd"``); 10 (``"adam"``).

    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the ratings and stop when the validation
        score (:math:`R^2`) has not improved by ``tol`` for ``n_iter_no_change``
        epochs; the weights and Adam's state of the best epoch are kept (a later
        ``partial_fit`` continues from that epoch).

    validation_fraction : float, default=0.1
        Share of the ratings held out for early stopping. Only used if
        ``early_stopping`` is True.

    n_iter_no_change : int, default=3
        Epochs without an improvement of at least ``tol`` (in training loss, or in
        validation score with early stopping) before training stops.

    tol : float, default=1e-4
        Minimum improvement that counts, see ``n_iter_no_change``.

    context_features : None, "remaining" or array-like of int or str, default=None
        Columns of ``X`` after the first two (users, items) to use as context
        fields of ids (hour, device, ...), which join through pairwise products of
        the fields' embeddings. None uses none: ``X`` with more than two columns
        is an error that names them, so that a rating or a timestamp is never
        learned from by accident. ``"remaining"`` uses every column after the
        second; an array-like of column indices (2 or more) or of DataFrame column
        names uses those, and leaves the other columns unused. A context column
        equal to ``y`` or named like it is an error; one of non-integer numbers, or
        with nearly as many distinct values as rows, draws a warning, since every
        distinct value becomes an id.

    handle_unknown : {"use_fallback", "ignore", "error"}, default="use_fallback"
        What ``predict`` does with ids not seen in ``fit``: ``"use_fallback"`` lets
        them contribute nothing (the prediction falls back to the global mean plus
        the known biases) and warns when more than 5% of the rows of a prediction
        of 1,000 rows or more fall back (the sign of an unshuffled split of data
        sorted by user); ``"ignore"`` falls back silently, for a deliberate
        cold-start evaluation (as ``OneHotEncoder(handle_unknown="ignore")``);
        ``"error"`` raises a ``ValueError``.

    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, the row order of every epoch and the validation
        split. Pass an int for reproducible results. With None, fresh entropy
        is drawn from the operating system; NumPy's global random state is never used.

    verbose : int, default=0
        Print the loss of every epoch when > 0.

    Attributes
    ----------
    model_ : keras.Model
        The trained Keras GMF network (see :func:`skgmf.build_gmf`). It is not
        saved with the estimator: after loading, the first access rebuilds it from
        the tables below, which imports TensorFlow. Scoring never needs it.

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
        ``(min, max)`` of ``y`` in ``fit`` and ``partial_fit``; predictions are
        clipped to it.

    n_iter_ : int
        Number of epochs run: those of ``fit``, plus one per ``partial_fit``.

    loss_curve_ : list of float
        Training mean squared error of every epoch (without the penalty).

    validation_scores_ : list of float or None
        :math:`R^2` on the validation set after every epoch, if ``early_stopping``.

    best_validation_score_ : float or None
        Best of ``validation_scores_``, if ``early_stopping``.

    n_features_in_ : int
        Number of columns of ``X`` in ``fit``.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names of ``X``, when it is a DataFrame with string column names.

    See Also
    --------
    skgmf.build_gmf : The Keras network, for use outside the estimator.
    sklearn.neural_network.MLPRegressor : Source of the training parameters' names.

    Notes
    -----
    Both solvers minimise the per-rating loss
    :math:`s_r [(r - \\hat r)^2 + \\alpha (\\|p_u\\|^2 + \\|q_i\\|^2 + b_u^2 + b_i^2)]`
    with sample weights :math:`s_r`; ``solver="sgd"`` adds
    :math:`\\beta (\\|p\\|^2 + b^2)` once per row (``row_alpha``), takes one step
    per rating (Funk's SVD, as Surprise and cornac) with ``w`` at ones and
    :math:`\\mu` at the mean rating, and is deterministic;
    ``solver="adam"`` takes the batch mean, steps with Adam on the rows a batch
    uses, and projects :math:`w` back to norm :math:`\\sqrt{k}` after each step.
    Rows are sorted, then shuffled by a generator seeded from ``random_state``, so
    the fitted model does not depend on the order of the rows of ``X``. Rows of
    weight zero are dropped. Nothing global is changed: no Keras or TensorFlow
    seed, no configuration. ``predict`` runs in NumPy and never calls TensorFlow.

    ``solver="sgd"`` trains with LIBMF's schedule: users and items are dealt out
    to 4 strata each, and the 4 cells of each diagonal of the 4 x 4 grid share
    no user or item. From 20,000 rows on they train side by side on as many
    threads as scikit-learn's OpenMP code would use (the physical cores, at most
    4 here; ``OMP_NUM_THREADS`` lowers it, as does
    ``threadpoolctl.threadpool_limits`` for fits in the thread that set it, and
    joblib's worker processes get their share of the cores). The schedule is
    fixed, so the model is the same on any number of threads.
    TensorFlow is imported by a fit with ``solver="adam"`` and by the first access
    to ``model_``, not by ``import skgmf``, a fit with ``solver="sgd"`` nor by
    loading a pickle, joblib or skops file (see "Saving and serving" in the user
    guide).

    ``partial_fit`` runs one epoch over the rows it is given, from the current
    weights: with SGD at the rate the schedule reached at the end of ``fit``, with
    Adam (and its state) at a tenth of ``learning_rate`` (a fitted model needs
    small steps, and Adam moves every coordinate it touches by about its step
    size); new users and items get new rows, solved as ``partial_fit_users``
    solves users before the epoch. It ignores ``early_stopping``. Adam's state is
    kept in memory only: after loading or copying, ``partial_fit`` starts it
    afresh (see "Updating" in the user guide). ``partial_fit_users`` adds users without moving anything else:
    one ridge regression per user, in NumPy.

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

    # The public name, the one pickle, joblib and skops files record: it does not
    # change when the code moves between private modules ("skgmf.GMFRegressor" is
    # what skops' trusted types and MLflow's skops_trusted_types name).
    __module__ = "skgmf"

    def __init__(
        self,
        n_factors="auto",
        *,
        solver="auto",
        alpha="auto",
        row_alpha="auto",
        learning_rate="auto",
        learning_rate_schedule="auto",
        batch_size="auto",
        max_iter="auto",
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=3,
        tol=1e-4,
        context_features=None,
        handle_unknown="use_fallback",
        random_state=None,
        verbose=0,
    ):
        self.n_factors = n_factors
        self.solver = solver
        self.alpha = alpha
        self.row_alpha = row_alpha
        self.learning_rate = learning_rate
        self.learning_rate_schedule = learning_rate_schedule
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.context_features = context_features
        self.handle_unknown = handle_unknown
        self.random_state = random_state
        self.verbose = verbose


    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
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
        return self._fit(X, y, sample_weight)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """Update the model with one epoch over the ratings ``y`` of the rows of ``X``.

        The epoch starts from the current weights and steps, with SGD, at the
        rate the schedule reached at the end of ``fit`` (scaled by a
        ``learning_rate`` changed since); with Adam, from Adam's state at a tenth
        of ``learning_rate``, constant. Users and items not seen before get
        new embedding rows, solved before the epoch: each new user's as the ridge
        solution of its ratings of known items (as ``partial_fit_users``), then each
        new item's from its ratings by known or just solved users; rows that cannot
        be solved so, and new context ids, are drawn as in ``fit``. Known ids keep
        their rows. On an unfitted estimator it initialises the model as ``fit``
        does, so a first call equals ``fit`` with ``max_iter=1`` and
        ``learning_rate_schedule="constant"``. ``early_stopping`` is ignored.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_fields)
            Ids, in the columns seen in ``fit``.
        y : array-like of shape (n_samples,)
            Ratings.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of every rating; rows of weight zero are ignored.

        Returns
        -------
        self : GMFRegressor
            The updated estimator.
        """
        return self._partial_fit(X, y, sample_weight)

    def partial_fit_users(self, X, y, sample_weight=None):
        r"""Fold users in: solve their embeddings and biases, all else unchanged.

        Every user in ``X`` gets the embedding :math:`p_u` and bias :math:`b_u`
        that minimise the training objective (squared error plus ``alpha``'s
        penalty per rating, and ``row_alpha``'s once for a model fitted with
        ``solver="sgd"``) of its rows in ``X``, with the items' tables, the
        output weights :math:`w` and :math:`\mu` held fixed. The prediction is
        linear in :math:`(p_u, b_u)` then, so that is one ridge regression per
        user, solved exactly in NumPy: no epoch, no TensorFlow, and the other
        users' predictions do not move. Use it for new users of a model whose items
        are known; ``partial_fit`` also learns new items and moves the shared
        parameters.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, 2)
            (user, item) rows. Rows of items not seen in ``fit`` are left out, with a
            ``UserWarning`` that counts them (``partial_fit`` learns new items).
        y : array-like of shape (n_samples,)
            Ratings.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of every rating; rows of weight zero are ignored.

        Returns
        -------
        self : GMFRegressor
            The estimator, with the users of ``X`` added or, for known users,
            recomputed from their rows in ``X`` alone (pass all of a user's
            ratings).

        Notes
        -----
        ``n_iter_``, ``loss_curve_`` and Adam's state of known rows are unchanged;
        the users' interactions count for ``recommend`` and popularity, and
        ``model_`` is rebuilt from the tables when next read.
        """
        from ._fold_in import solve_users

        old = self._fitted()
        self._check_two_fields("partial_fit_users")
        settings = self._fitted_settings()
        X, y, sample_weight = self._validated_rows(X, y, sample_weight, reset=False)
        y = self._update_targets(y)
        users, items = old.vocabularies
        item_rows = items.rows(X[:, 1], field=1)
        unknown = item_rows < 0
        if unknown.all():
            raise ValueError(
                f"partial_fit_users keeps the item tables, but none of the {len(X)} rows "
                f"of X has an item seen in fit (e.g. {plain_value(X[0, 1])!r}"
                f"{_kind_hint(X[:, 1], items.kind)}); use partial_fit to "
                "learn new items."
            )
        if unknown.any():
            warnings.warn(
                f"partial_fit_users keeps the item tables: {int(unknown.sum())} of the "
                f"{len(X)} rows of X rate {len(set(X[unknown, 1].tolist()))} items not "
                f"seen in fit (e.g. {plain_value(X[unknown, 1][0])!r}) and are left out; "
                "use partial_fit to learn new items.",
                UserWarning,
                stacklevel=2,
            )
            known = ~unknown
            X, y, sample_weight = X[known], y[known], sample_weight[known]
            item_rows = item_rows[known]
        warn_unknown_ids(X[:, 0], None, users.ids, users.kind, column_where(0),
                         "they become new ids")
        users, move, user_rows = users.extend(X[:, 0], field=0)
        vectors, offsets = linear_in(old.params, 0, item_rows)
        solved, factors, biases = solve_users(
            user_rows, vectors, y - offsets, sample_weight,
            settings["alpha"], settings["row_alpha"],
        )
        params = old.params
        # Copies: the fitted tables are shared with readers of the old state.
        user_factors = np.array(move_rows(params.factors[0], move, len(users)))
        user_bias = np.array(move_rows(params.biases[0], move, len(users)))
        user_factors[solved], user_bias[solved] = factors, biases
        params = GMFParameters((user_factors, *params.factors[1:]),
                               (user_bias, *params.biases[1:]), params.coef,
                               params.intercept)
        sizes = [len(users), len(items)]
        moves = [move, np.arange(len(items), dtype=np.int32)]
        idx = np.column_stack([user_rows, item_rows]).astype(np.int32)
        interactions, optimizer_state = self._moved(
            old, moves, sizes, idx, y, sample_weight, fields=(0,),
            count_seen=False,  # a known user's ratings are given again, not added
        )
        self._assign(old._replace(vocabularies=(users, items), params=params.frozen(),
                                  interactions=interactions,
                                  rating_range=self._rating_range(y, old.rating_range)))
        self._optimizer_state = optimizer_state
        return self

    def _solve_new_rows(self, params, moves, idx, y, sample_weight):
        """Fold in the users, then the items, that a ``partial_fit`` adds.

        A new user's row is the ridge solution of its ratings of known items (as
        ``partial_fit_users`` solves it), a new item's that of its ratings by users
        known or just solved: a newcomer is served as well as the model can from
        the first call, instead of from a random row that one epoch barely moves.
        """
        if len(params.factors) != 2:
            return params
        from ._fold_in import solve_users

        settings = self._fitted_settings()
        factors, biases = list(params.factors), list(params.biases)
        is_new = []
        for move, table in zip(moves, factors):
            new = np.ones(len(table), dtype=bool)
            new[move] = False
            is_new.append(new)
        solved = [~is_new[0], ~is_new[1]]
        for f, other in ((0, 1), (1, 0)):
            rows = is_new[f][idx[:, f]] & solved[other][idx[:, other]]
            if not rows.any():
                continue
            current = GMFParameters(factors, biases, params.coef, params.intercept)
            vectors, offsets = linear_in(current, f, idx[rows, other])
            done, vectors, bias = solve_users(
                idx[rows, f], vectors, y[rows] - offsets, sample_weight[rows],
                settings["alpha"], settings["row_alpha"],
            )
            # Rows of new ids: arrays of this update, written in place.
            factors[f][done], biases[f][done] = vectors, bias
            solved[f][done] = True
        return GMFParameters(factors, biases, params.coef, params.intercept)

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
        state, idx = self._encode_X(X)
        return np.clip(decision_function(state.params, idx), *state.rating_range)

    # recommend ranks by relevance (see its ranking parameter).
    _auto_ranking = "relevance"

    def _relevance(self, state, scores, candidates):
        from scipy.special import ndtr

        spread = 1.0 if state.residual_std is None else state.residual_std
        z = (scores.astype(np.float64) - state.params.intercept) / spread
        return self._relevance_bound(state, candidates) * ndtr(z)

    def _relevance_bound(self, state, candidates):
        # The items' shares of the ratings: the relevance is that times a probability.
        counts = state.interactions.item_counts
        return counts[candidates] / max(counts.sum(), 1)

    @property
    def rating_range_(self):
        return self._fitted().rating_range

    def _encode_targets(self, y, classes=None):
        return y.astype(np.float32)

    def _update_targets(self, y, classes=None):
        return y.astype(np.float32)

    def _rating_range(self, y, previous=None):
        low, high = float(y.min()), float(y.max())
        if previous is not None:
            low, high = min(low, previous[0]), max(high, previous[1])
        return (low, high)

    def _validation_scorer(self, rows, seed, sampler, rating_range):
        # Imported here, as RegressorMixin.score does: sklearn.metrics is slow to import.
        from sklearn.metrics import r2_score

        idx, y, sample_weight = rows

        def score(params):
            y_pred = np.clip(decision_function(params, idx), *rating_range)
            return r2_score(y, y_pred, sample_weight=sample_weight)

        return score
