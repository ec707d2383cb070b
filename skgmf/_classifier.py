"""Generalized Matrix Factorization classifier for implicit feedback."""
# License: BSD 3 clause

from numbers import Integral, Real

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.base import ClassifierMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted

from ._base import BaseGMF
from ._encoding import plain_value
from ._params import decision_function
from ._sampling import NegativeSampler


class GMFClassifier(ClassifierMixin, BaseGMF):
    """Generalized Matrix Factorization classifier: implicit feedback, log loss.

    The GMF model of the NCF paper (He et al., 2017) as it was born: the
    probability that user :math:`u` interacts with item :math:`i` is

    .. math:: \\sigma(\\mu + b_u + b_i + w^\\top (p_u \\odot q_i)),

    learned with the log loss. With ``n_negatives > 0`` the rows given to ``fit``
    are observed interactions, and every epoch pairs each of them with
    ``n_negatives`` fresh items the user has not interacted with as negatives, so
    ``GMFClassifier(n_negatives=4).fit(X_pos, np.ones(len(X_pos)))`` trains as NCF
    does. With ``n_negatives=0`` it is an ordinary binary classifier of the rows'
    labels.

    Ids, unknown ids, the penalty and the training loop are those of
    :class:`GMFRegressor`. Read more in the :ref:`User Guide <user_guide>`.

    Parameters
    ----------
    n_factors : int, default=32
        Size of the user and item embeddings (the latent size).

    solver : {"auto", "sgd", "adam"}, default="auto"
        The training engine: ``"sgd"`` (per-row stochastic gradient descent in
        compiled code, for (user, item) models; what ``"auto"`` takes for them) or
        ``"adam"`` (minibatch Adam in TensorFlow; ``"auto"`` with context fields).
        See :class:`GMFRegressor`.

    alpha : float or "auto", default="auto"
        L2 penalty per training row (observed or sampled) on the embedding rows and
        biases it uses. ``"auto"``: 0.005 (``"sgd"``), 0.003 (``"adam"``).

    row_alpha : float or "auto", default="auto"
        L2 penalty per embedding row and bias, independent of the number of its
        rows. ``"auto"``: 0. Only used when ``solver="sgd"``.

    learning_rate : float or "auto", default="auto"
        Initial step size. ``"auto"``: 0.05 (``"sgd"``), 0.01 (``"adam"``).

    learning_rate_schedule : {"auto", "inverse", "cosine", "constant"}, default="auto"
        As in :class:`GMFRegressor`. ``"auto"``: ``"inverse"`` (``"sgd"``),
        ``"cosine"`` (``"adam"``).

    batch_size : int or "auto", default=16384
        Rows (observed and sampled) per minibatch; ``"auto"`` as in
        :class:`GMFRegressor`, counting the sampled negatives. Only used when
        ``solver="adam"``.

    max_iter : int or "auto", default="auto"
        Maximum number of epochs. ``"auto"``: 40 (``"sgd"``), 15 (``"adam"``).

    n_negatives : int, default=0
        Unobserved items sampled per given row of the positive class, afresh every
        epoch; 0 disables sampling. NCF used 4.

    pos_label : int, float, bool, str or None, default=None
        The label of an interaction (the positive class). None takes ``classes_[1]``
        (the label that sorts last) when ``n_negatives=0``, as scikit-learn's binary
        classifiers do; with ``n_negatives > 0`` None requires the labels 0/1 (or
        False/True) and takes 1, since sampled negatives get the other label:
        labels such as ``"clicked"``/``"ignored"`` need ``pos_label="clicked"``.

    negative_sampling : {"uniform", "popularity"}, default="uniform"
        Draw negative items uniformly, or in proportion to their number of
        interactions in ``fit``.

    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the rows and stop when the validation
        score (minus the log loss; with ``n_negatives > 0`` on the held-out
        positives and ``n_negatives`` negatives sampled once for each) has not
        improved by ``tol`` for ``n_iter_no_change`` epochs; the best epoch's
        weights are kept.

    validation_fraction : float, default=0.1
        Share of the rows held out for early stopping.

    n_iter_no_change : int, default=10
        Epochs without an improvement of at least ``tol`` before training stops.
        MLPClassifier's default (the regressor's is 3): with ``n_negatives > 0``
        every epoch draws fresh negatives, and its loss varies from epoch to epoch
        by more than a slow decline gains (on a few thousand interactions, 3 epochs
        stopped some fits after 8 of 40 epochs, far from converged).

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
        What scoring does with ids not seen in ``fit``: ``"use_fallback"`` lets
        them contribute nothing, and warns when more than 5% of the rows of a
        prediction of 1,000 rows or more fall back; ``"ignore"`` does so silently;
        ``"error"`` raises a ``ValueError``.

    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, the row order and negatives of every epoch and
        the validation split. NumPy's global random state is never used.

    verbose : int, default=0
        Print the loss of every epoch when > 0.

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
        The two class labels, sorted. The interaction is ``pos_label`` (by default
        ``classes_[1]``). When ``y`` holds only the positive class 1 (or True) and
        negatives are sampled, ``classes_`` is ``[0, 1]`` (or ``[False, True]``).

    model_ : keras.Model
        The trained Keras GMF network, whose output is the logit; rebuilt from the
        NumPy tables on first access after loading (imports TensorFlow).

    categories_, users_, items_, factors_, biases_ : see :class:`GMFRegressor`
        Known ids and learned tables.

    user_factors_, item_factors_, user_bias_, item_bias_ : ndarray
        As in :class:`GMFRegressor`.

    coef_ : ndarray of shape (n_factors,)
        Output weights :math:`w`.

    intercept_ : float
        Global bias :math:`\\mu` of the logit.

    n_iter_ : int
        Number of epochs run: those of ``fit``, plus one per ``partial_fit``.

    loss_curve_ : list of float
        Mean training log loss of every epoch (without the penalty).

    validation_scores_ : list of float or None
        Validation score after every epoch, if ``early_stopping``.

    best_validation_score_ : float or None
        Best of ``validation_scores_``.

    n_features_in_ : int
        Number of columns of ``X`` in ``fit``.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names of ``X``, when it is a DataFrame with string column names.

    See Also
    --------
    GMFRegressor : The same model for explicit ratings.
    skgmf.metrics.SampledRankingScorer : The NCF evaluation protocol as a scorer.

    Notes
    -----
    ``partial_fit`` runs one epoch over the rows it is given, from the current
    weights: with Adam (and its state) at a tenth of ``learning_rate``, constant,
    with SGD at the rate the schedule reached (at least 5% of ``learning_rate``);
    new users and items get new rows, drawn as in ``fit``, and with ``n_negatives > 0`` the negatives are drawn among
    the items each user has not interacted with in any call so far. It ignores
    ``early_stopping``, and starts Adam afresh after loading or copying.

    ``solver="sgd"`` trains with LIBMF's schedule: users and items are dealt out
    to 4 strata each, and the 4 cells of each diagonal of the 4 x 4 grid share
    no user or item. From 20,000 rows on they train side by side on as many
    threads as scikit-learn's OpenMP code would use (the physical cores, at most
    4 here; ``OMP_NUM_THREADS`` lowers it, as does
    ``threadpoolctl.threadpool_limits`` for fits in the thread that set it, and
    joblib's worker processes get their share of the cores). The schedule is
    fixed, so the model is the same on any number of threads.

    References
    ----------
    X. He, L. Liao, H. Zhang, L. Nie, X. Hu and T.-S. Chua. "Neural Collaborative
    Filtering". WWW 2017.

    Examples
    --------
    >>> import numpy as np
    >>> from skgmf import GMFClassifier
    >>> X = [["ann", "a"], ["ann", "b"], ["bob", "b"], ["bob", "c"], ["cy", "a"]]
    >>> clf = GMFClassifier(n_factors=4, n_negatives=2, max_iter=3, random_state=0)
    >>> clf = clf.fit(X, np.ones(len(X)))
    >>> clf.classes_
    array([0., 1.])
    >>> clf.predict_proba([["ann", "c"]]).shape
    (1, 2)
    >>> clf.recommend(["cy"], k=2).shape
    (1, 2)
    """

    _parameter_constraints: dict = {
        **BaseGMF._parameter_constraints,
        "n_negatives": [Interval(Integral, 0, None, closed="left")],
        "negative_sampling": [StrOptions({"uniform", "popularity"})],
        "pos_label": [Real, str, "boolean", None],
    }

    _loss = "log_loss"

    # Chosen on the NCF protocol's training interactions with one more held out
    # per user (benchmarks/tune_ncf.py, 64 factors, 4 negatives): SGD 40 epochs at
    # 0.05, alpha 0.005: HR@10 0.8347, NDCG@10 0.5924 in 34 s; Adam's settings
    # below: 0.8331, 0.5868 in 53 s.
    _auto_solver = "sgd"
    _auto = {
        "sgd": {"n_factors": 32, "max_iter": 40, "alpha": 0.005, "learning_rate": 0.05,
                "learning_rate_schedule": "inverse", "row_alpha": 0.0},
        "adam": {"n_factors": 32, "max_iter": 15, "alpha": 0.003, "learning_rate": 0.01,
                 "learning_rate_schedule": "cosine", "row_alpha": 0.0},
    }

    # The public name recorded in saved files (see GMFRegressor).
    __module__ = "skgmf"

    def __init__(
        self,
        n_factors=32,
        *,
        solver="auto",
        alpha="auto",
        row_alpha="auto",
        learning_rate="auto",
        learning_rate_schedule="auto",
        batch_size=16384,
        max_iter="auto",
        n_negatives=0,
        negative_sampling="uniform",
        pos_label=None,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
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
        self.n_negatives = n_negatives
        self.negative_sampling = negative_sampling
        self.pos_label = pos_label
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
        tags.classifier_tags.multi_class = False
        # As for GMFRegressor: sklearn's generic data make every id a new one.
        tags.classifier_tags.poor_score = True
        return tags

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model to the binary labels ``y`` of the rows of ``X``.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_fields)
            Ids: users in the first column, items in the second, optional context
            fields after them.
        y : array-like of shape (n_samples,)
            Two classes; or, with ``n_negatives > 0``, possibly only the positive
            class 1 (the rows are then all interactions).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of every row; sampled negatives inherit the weight of
            the positive row they were drawn for.

        Returns
        -------
        self : GMFClassifier
            The fitted estimator.
        """
        return self._fit(X, y, sample_weight)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Update the model with one epoch over the labelled rows of ``X``.

        The epoch starts from the current weights and steps, with Adam, from its
        state at a tenth of ``learning_rate``, constant (a fitted model needs
        small steps); with SGD at the rate the schedule reached in ``fit`` (at
        least 5% of ``learning_rate``).
        Users, items and context ids not seen before get new embedding rows,
        initialised as in ``fit``; known ids keep theirs.
        With ``n_negatives > 0``, every row of the positive class is paired with
        ``n_negatives`` sampled items that the user has not interacted with in
        ``fit`` or any ``partial_fit``. On an unfitted estimator it initialises the
        model as ``fit`` does, so a first call equals ``fit`` with ``max_iter=1``
        and ``learning_rate_schedule="constant"``. ``early_stopping`` is ignored.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_fields)
            Ids, in the columns seen in ``fit``.
        y : array-like of shape (n_samples,)
            Labels, all among ``classes_`` once the estimator is fitted; one class
            alone is fine then.
        classes : array-like of shape (n_classes,), default=None
            Every label ``y`` will hold over all calls, as in scikit-learn's
            ``partial_fit``: it fixes ``classes_`` on the first call (by the rules
            of ``fit``, as if ``y`` held these labels); on later calls it may be
            omitted, or must equal ``classes_``. None on the first call takes the
            labels of ``y``, as ``fit`` does.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of every row; sampled negatives inherit the weight of
            the positive row they were drawn for.

        Returns
        -------
        self : GMFClassifier
            The updated estimator.
        """
        return self._partial_fit(X, y, sample_weight, classes=classes)

    def _check_targets(self, y):
        # Before validate_data: np.asarray(["a", np.nan]) would make NaN the label "nan".
        try:
            labels = np.asarray(y, dtype=object)
        except (TypeError, ValueError):
            return y  # ragged and the like: validate_data says what is wrong
        if labels.ndim == 1:
            missing = pd.isna(labels)
            if missing.any():
                raise ValueError(
                    f"y holds missing labels (NaN or None) in {int(missing.sum())} rows, "
                    f"first in row {int(np.argmax(missing))}; every row needs a label."
                )
        return y

    def _encode_targets(self, y, classes=None):
        check_classification_targets(y)
        y_type = type_of_target(y, input_name="y", raise_unknown=True)
        if classes is None:
            if y_type not in ("binary", "unknown") and len(np.unique(y)) > 2:
                raise ValueError(
                    "Only binary classification is supported. The type of the target "
                    f"is {y_type}."
                )
            classes = np.unique(y)
        else:
            # sklearn's partial_fit convention: classes names every label to come.
            classes = np.unique(np.asarray(classes))
            if len(classes) > 2:
                raise ValueError(
                    "Only binary classification is supported: classes holds "
                    f"{len(classes)} labels, {[plain_value(c) for c in classes]}."
                )
            _check_labels_in(y, classes, "classes")
        if len(classes) == 1 and self.n_negatives == 0:
            raise ValueError(
                f"y holds only one class ({plain_value(classes[0])!r}). Pass both classes, or "
                "set n_negatives > 0 to sample negatives for positive-only data."
            )
        positive = self._positive_label(classes)
        if len(classes) == 1:
            if classes[0] != positive:
                raise ValueError(
                    f"y holds a single class {classes[0].item()!r}, which is not the label "
                    f"of an interaction ({plain_value(positive)!r}): with sampled negatives, y must hold "
                    "interactions, or rows of both classes."
                )
            negative = False if classes.dtype == bool else 0
            if classes.dtype.kind not in "biuf" or positive == negative:
                raise ValueError(
                    f"y holds a single class {plain_value(positive)!r}: sampled negatives need a "
                    "label of their own. Use 1 (or True) for interactions, or pass "
                    "rows of both classes."
                )
            # Sorted, as classes_ always is: pos_label=-1 gives [-1, 0].
            classes = np.sort(np.array([negative, positive], dtype=classes.dtype))
        self.classes_ = classes
        self._positive_index = int(np.flatnonzero(classes == positive)[0])
        return (y == positive).astype(np.float32)

    def _update_targets(self, y, classes=None):
        check_classification_targets(y)
        if classes is not None and not _same_labels(np.unique(np.asarray(classes)),
                                                    self.classes_):
            raise ValueError(
                f"classes={[plain_value(c) for c in np.unique(classes)]} differs from "
                f"classes_ = {self.classes_.tolist()} of the first call; pass the same "
                "classes, or none after the first call."
            )
        _check_labels_in(y, self.classes_, "classes_")
        positive = self.classes_[self._positive_index]
        return (y == positive).astype(np.float32)

    def _positive_label(self, classes):
        """The label of an interaction, by ``pos_label`` and the rules it documents."""
        labels = classes.tolist()
        if self.pos_label is not None:
            if self.pos_label not in labels:
                raise ValueError(
                    f"pos_label={self.pos_label!r} is not a label of y; y holds "
                    f"{labels}."
                )
            return self.pos_label
        if self.n_negatives == 0:
            return classes[-1]
        if set(labels) <= {0, 1} and classes.dtype.kind in "biuf":
            return classes.dtype.type(1)
        if len(labels) == 1 and classes.dtype.kind not in "biuf":
            raise ValueError(
                f"y holds a single class {plain_value(classes[0])!r}: sampled negatives "
                "need a label of their own, which a string class does not give. Use 1 "
                "(or True) for interactions, or pass rows of both classes."
            )
        raise ValueError(
            f"With n_negatives > 0, sampled negatives take the label that is not the "
            f"interaction: set pos_label to the label of an interaction (y holds "
            f"{labels}), or use the labels 0 and 1."
        )

    def _positive_rows(self, y):
        return y == 1

    def _initial_intercept(self, y, sample_weight):
        positive = np.sum(sample_weight[y == 1])
        total = np.sum(sample_weight) + self.n_negatives * positive
        share = np.clip(positive / total, 1e-3, 1 - 1e-3)
        return float(np.log(share / (1 - share)))

    def _sampler(self, idx, y, n_items, interactions=None):
        if self.n_negatives == 0:
            return None
        if interactions is None:  # fit: the training rows' pairs
            weights = None
            if self.negative_sampling == "popularity":
                weights = np.bincount(idx[y == 1, 1], minlength=n_items)
            return NegativeSampler(idx[:, :2], n_items, weights)
        # partial_fit: never a pair seen in any call so far, by the users whose
        # negatives are drawn (the cost is theirs, not every pair's).
        users, items = interactions.pairs(np.unique(idx[y == 1, 0]))
        weights = (interactions.item_counts if self.negative_sampling == "popularity"
                   else None)
        return NegativeSampler(np.column_stack([users, items]), n_items, weights)

    def _split_validation(self, y, seed):
        """Held-out rows in the proportion of each class (stratified)."""
        if len(np.unique(y)) < 2:
            return super()._split_validation(y, seed)
        from sklearn.model_selection import train_test_split

        try:
            train, val = train_test_split(
                np.arange(len(y)), test_size=self.validation_fraction, stratify=y,
                random_state=seed,
            )
        except ValueError:  # a class too small to stratify: split at random
            return super()._split_validation(y, seed)
        return np.sort(train), np.sort(val)

    def _negatives(self, sampler, idx, y, sample_weight, rng):
        """``n_negatives`` sampled rows per positive row: (idx, y, sample_weight)."""
        positive = np.flatnonzero(y == 1)
        rows = np.repeat(positive, self.n_negatives)
        neg_idx = idx[rows].copy()
        neg_idx[:, 1] = sampler.sample(neg_idx[:, 0], rng)
        return neg_idx, np.zeros(len(rows), dtype=np.float32), sample_weight[rows]

    @property
    def _fresh_rows_each_epoch(self):
        return self.n_negatives > 0

    def _rows_per_epoch(self, y):
        return len(y) + self.n_negatives * int(np.sum(y == 1))

    def _epochs(self, idx, y, sample_weight, seed, sampler=None, ordered=True):
        if sampler is None:
            yield from super()._epochs(idx, y, sample_weight, seed, ordered=ordered)
            return
        # A stream of its own: the SGD engine draws its order from
        # default_rng(seed), the validation negatives come from default_rng([seed, 1]).
        rng = np.random.default_rng([seed, 2])
        while True:
            neg_idx, neg_y, neg_w = self._negatives(sampler, idx, y, sample_weight, rng)
            rows = (
                np.concatenate([idx, neg_idx]),
                np.concatenate([y, neg_y]),
                np.concatenate([sample_weight, neg_w]),
            )
            if ordered:
                yield rng.permutation(len(rows[1])).astype(np.int32), rows
            else:
                yield rows

    def _validation_scorer(self, rows, seed, sampler, rating_range):
        from sklearn.metrics import log_loss

        idx, y, sample_weight = rows
        if sampler is not None:
            # Drawn once, from random_state, among the items that the user has
            # neither in training nor among the validation rows.
            known = (idx[:, 0] >= 0) & (idx[:, 1] >= 0)
            validation_sampler = NegativeSampler(
                np.concatenate([sampler.observed, idx[known, :2]]), sampler.n_items,
                sampler.weights,
            )
            neg_idx, neg_y, neg_w = self._negatives(
                validation_sampler, idx[known], y[known], sample_weight[known],
                np.random.default_rng([seed, 1]),
            )
            idx, y = np.concatenate([idx, neg_idx]), np.concatenate([y, neg_y])
            sample_weight = np.concatenate([sample_weight, neg_w])

        def score(params):
            proba = expit(decision_function(params, idx))
            return -log_loss(y, proba, sample_weight=sample_weight, labels=[0, 1])

        return score

    def decision_function(self, X):
        """The logit of the positive class for the rows of ``X``.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_fields)
            Ids, in the columns seen in ``fit``.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            Positive scores favour ``classes_[1]``, as in scikit-learn; when
            ``pos_label`` is ``classes_[0]`` that is minus the interaction's logit.
        """
        state, idx = self._encode_X(X)
        logit = decision_function(state.params, idx)
        # Models pickled before pos_label have no _positive_index: classes_[1].
        return logit if getattr(self, "_positive_index", 1) == 1 else -logit

    def predict_proba(self, X):
        """Probabilities of both classes for the rows of ``X``.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_fields)
            Ids, in the columns seen in ``fit``.

        Returns
        -------
        proba : ndarray of shape (n_samples, 2)
            Columns follow ``classes_``.
        """
        positive = expit(self.decision_function(X))
        return np.column_stack([1 - positive, positive])

    def predict(self, X):
        """Predict the class of the rows of ``X``.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_fields)
            Ids, in the columns seen in ``fit``.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            ``classes_[1]`` where its probability exceeds 0.5.
        """
        check_is_fitted(self)
        return self.classes_[(self.decision_function(X) > 0).astype(np.intp)]


def _same_labels(a, b):
    """Whether two sorted label arrays hold the same labels (``1`` equals ``1.0``)."""
    return len(a) == len(b) and all(x == z for x, z in zip(a.tolist(), b.tolist()))


def _check_labels_in(y, classes, name):
    """Raise a ValueError naming the labels of ``y`` that ``classes`` lacks."""
    known = set(classes.tolist())
    extra = [label for label in pd.unique(np.asarray(y, dtype=object))
             if label not in known]
    if extra:
        raise ValueError(
            f"y holds labels not in {name} = {classes.tolist()}, e.g. "
            f"{plain_value(extra[0])!r}."
        )
