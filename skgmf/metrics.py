"""Top-k ranking metrics and a sampled-ranking scorer (the NCF protocol)."""
# License: BSD 3 clause

from numbers import Integral

import numpy as np

__all__ = [
    "SampledRankingScorer",
    "hit_rate_at_k",
    "map_at_k",
    "ndcg_at_k",
    "precision_at_k",
    "recall_at_k",
]


def _top_k_relevance(y_true, y_score, k):
    """Relevance of the top-k ranked entries per row, and the relevant counts.

    Rows without any relevant entry are dropped. Ties in ``y_score`` are broken
    against the relevant entries (they rank after irrelevant ones with the same
    score), so a constant scorer earns nothing.
    """
    if not isinstance(k, Integral) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}.")
    y_true = np.asarray(y_true)
    y_score = np.asarray(y_score, dtype=np.float64)
    if y_true.ndim != 2 or y_true.shape != y_score.shape:
        raise ValueError(
            "y_true and y_score must be 2-d arrays of the same shape (n_lists, "
            f"n_candidates); got {y_true.shape} and {y_score.shape}."
        )
    if not np.isin(y_true, [0, 1]).all():
        raise ValueError("y_true must hold binary relevance (0 or 1, or booleans).")
    if np.isnan(y_score).any():
        raise ValueError("y_score contains NaN.")
    y_true = y_true.astype(bool)
    n_relevant = y_true.sum(axis=1)
    y_true, y_score, n_relevant = (
        y_true[n_relevant > 0], y_score[n_relevant > 0], n_relevant[n_relevant > 0]
    )
    if len(y_true) == 0:
        raise ValueError("No row of y_true has a relevant entry.")
    k = min(k, y_true.shape[1])
    order = _rank_rows(y_true, y_score, k)
    return np.take_along_axis(y_true, order, axis=1), n_relevant, k


def _rank_rows(y_true, y_score, k):
    """Column order of the top k per row: score descending, relevant last among ties."""
    # A stable sort on the relevance first, then a stable sort on the score, gives
    # the lexicographic order (score desc, relevance asc).
    by_relevance = np.argsort(y_true, axis=1, kind="stable")
    scores = np.take_along_axis(y_score, by_relevance, axis=1)
    by_score = np.argsort(-scores, axis=1, kind="stable")
    return np.take_along_axis(by_relevance, by_score, axis=1)[:, :k]


def hit_rate_at_k(y_true, y_score, *, k=10):
    """Share of lists with at least one relevant entry in their top ``k``.

    Parameters
    ----------
    y_true : array-like of shape (n_lists, n_candidates)
        Binary relevance of every candidate (a list is typically one user).
    y_score : array-like of shape (n_lists, n_candidates)
        Scores; higher ranks first. Ties rank relevant entries last.
    k : int, default=10
        Cut-off.

    Returns
    -------
    hit_rate : float
        Mean over lists with at least one relevant entry.

    Examples
    --------
    >>> from skgmf.metrics import hit_rate_at_k
    >>> hit_rate_at_k([[1, 0, 0], [0, 0, 1]], [[0.9, 0.5, 0.1], [0.9, 0.5, 0.1]], k=2)
    0.5
    """
    top, _, _ = _top_k_relevance(y_true, y_score, k)
    return float(np.mean(top.any(axis=1)))


def precision_at_k(y_true, y_score, *, k=10):
    """Mean share of relevant entries among each list's top ``k``.

    Parameters
    ----------
    y_true : array-like of shape (n_lists, n_candidates)
        Binary relevance of every candidate.
    y_score : array-like of shape (n_lists, n_candidates)
        Scores; higher ranks first. Ties rank relevant entries last.
    k : int, default=10
        Cut-off (capped at ``n_candidates``).

    Returns
    -------
    precision : float
        Mean over lists with at least one relevant entry.

    Examples
    --------
    >>> from skgmf.metrics import precision_at_k
    >>> precision_at_k([[1, 1, 0, 0]], [[0.9, 0.1, 0.8, 0.2]], k=2)
    0.5
    """
    top, _, k = _top_k_relevance(y_true, y_score, k)
    return float(np.mean(top.sum(axis=1) / k))


def recall_at_k(y_true, y_score, *, k=10):
    """Mean share of each list's relevant entries that reach its top ``k``.

    Parameters
    ----------
    y_true : array-like of shape (n_lists, n_candidates)
        Binary relevance of every candidate.
    y_score : array-like of shape (n_lists, n_candidates)
        Scores; higher ranks first. Ties rank relevant entries last.
    k : int, default=10
        Cut-off.

    Returns
    -------
    recall : float
        Mean over lists with at least one relevant entry.

    Examples
    --------
    >>> from skgmf.metrics import recall_at_k
    >>> recall_at_k([[1, 1, 0, 0]], [[0.9, 0.1, 0.8, 0.2]], k=2)
    0.5
    """
    top, n_relevant, _ = _top_k_relevance(y_true, y_score, k)
    return float(np.mean(top.sum(axis=1) / n_relevant))


def ndcg_at_k(y_true, y_score, *, k=10):
    """Normalized discounted cumulative gain at ``k``, binary gains.

    :math:`\\mathrm{DCG@k} = \\sum_{r=1}^{k} \\mathrm{rel}_r / \\log_2(r + 1)`, divided
    by its best value, :math:`\\sum_{r=1}^{\\min(k, n_{rel})} 1 / \\log_2(r + 1)`.
    With one relevant entry at rank :math:`r \\le k` it is :math:`1 / \\log_2(r + 1)`,
    as in the NCF paper.

    Parameters
    ----------
    y_true : array-like of shape (n_lists, n_candidates)
        Binary relevance of every candidate.
    y_score : array-like of shape (n_lists, n_candidates)
        Scores; higher ranks first. Ties rank relevant entries last.
    k : int, default=10
        Cut-off.

    Returns
    -------
    ndcg : float
        Mean over lists with at least one relevant entry.

    Examples
    --------
    >>> from skgmf.metrics import ndcg_at_k
    >>> round(ndcg_at_k([[0, 1, 0]], [[0.9, 0.5, 0.1]], k=3), 4)
    0.6309
    """
    top, n_relevant, k = _top_k_relevance(y_true, y_score, k)
    discount = 1 / np.log2(np.arange(2, k + 2))
    dcg = top @ discount
    ideal = np.cumsum(discount)[np.minimum(n_relevant, k) - 1]
    return float(np.mean(dcg / ideal))


def map_at_k(y_true, y_score, *, k=10):
    """Mean average precision at ``k``.

    For each list, :math:`\\mathrm{AP@k} = \\sum_{r=1}^{k} P@r \\cdot \\mathrm{rel}_r
    / \\min(k, n_{rel})`; the result is its mean over lists.

    Parameters
    ----------
    y_true : array-like of shape (n_lists, n_candidates)
        Binary relevance of every candidate.
    y_score : array-like of shape (n_lists, n_candidates)
        Scores; higher ranks first. Ties rank relevant entries last.
    k : int, default=10
        Cut-off.

    Returns
    -------
    map : float
        Mean over lists with at least one relevant entry.

    Examples
    --------
    >>> from skgmf.metrics import map_at_k
    >>> round(map_at_k([[1, 0, 1]], [[0.9, 0.5, 0.1]], k=3), 4)
    0.8333
    """
    top, n_relevant, k = _top_k_relevance(y_true, y_score, k)
    precision_at_r = np.cumsum(top, axis=1) / np.arange(1, k + 1)
    ap = (precision_at_r * top).sum(axis=1) / np.minimum(n_relevant, k)
    return float(np.mean(ap))


_METRICS = {
    "hit_rate": hit_rate_at_k,
    "ndcg": ndcg_at_k,
    "precision": precision_at_k,
    "recall": recall_at_k,
    "map": map_at_k,
}


class SampledRankingScorer:
    """Rank each held-out interaction among sampled unobserved items (NCF protocol).

    A scorer for ``scoring=`` in :class:`~sklearn.model_selection.GridSearchCV`,
    :func:`~sklearn.model_selection.cross_validate` and friends. On a test fold,
    every relevant (user, item) row is ranked by the fitted estimator's score
    against ``n_negatives`` items drawn uniformly from the items known to the
    estimator that the user interacted with neither in ``fit`` nor in the test
    fold; the result is the mean of ``metric`` at ``k`` over those rows. He et al.
    (2017) used 99 negatives with HR@10 and NDCG@10. Rows with a user or item
    unknown to the estimator are skipped. Negatives come from a generator seeded
    with ``random_state``, so every candidate model is judged on the same draw.

    Parameters
    ----------
    metric : {"hit_rate", "ndcg", "precision", "recall", "map"}, default="ndcg"
        Metric of :mod:`skgmf.metrics` computed on each row's ranked list.
    k : int, default=10
        Cut-off.
    n_negatives : int, default=99
        Sampled items per held-out row.
    relevance_threshold : float or None, default=None
        Rows with ``y >= relevance_threshold`` are relevant. None: every row for a
        regressor, rows of the interaction label (``pos_label``) for a classifier.
    random_state : int, default=0
        Seed of the negatives.

    Examples
    --------
    >>> from skgmf.metrics import SampledRankingScorer
    >>> hr10 = SampledRankingScorer("hit_rate", k=10)
    >>> hr10
    SampledRankingScorer(metric='hit_rate', k=10, n_negatives=99)
    """

    def __init__(self, metric="ndcg", k=10, *, n_negatives=99, relevance_threshold=None,
                 random_state=0):
        if metric not in _METRICS:
            raise ValueError(f"metric must be one of {sorted(_METRICS)}, got {metric!r}.")
        if not isinstance(n_negatives, Integral) or n_negatives < 1:
            raise ValueError(f"n_negatives must be a positive integer, got {n_negatives!r}.")
        if not isinstance(k, Integral) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}.")
        self.metric = metric
        self.k = k
        self.n_negatives = n_negatives
        self.relevance_threshold = relevance_threshold
        self.random_state = random_state

    def __repr__(self):
        return (
            f"SampledRankingScorer(metric={self.metric!r}, k={self.k}, "
            f"n_negatives={self.n_negatives})"
        )

    def __call__(self, estimator, X, y=None, sample_weight=None):
        """Score ``estimator`` on the test rows ``X`` (labels ``y``).

        Parameters
        ----------
        estimator : GMFRegressor or GMFClassifier, or a Pipeline ending in one
            Fitted estimator.
        X : {array-like, DataFrame} of shape (n_samples, n_fields)
            Test rows; users in the first column, items in the second.
        y : array-like of shape (n_samples,), default=None
            Ratings or labels, used to select the relevant rows.
        sample_weight : None
            Not supported; must be None.

        Returns
        -------
        score : float
            Mean ``metric`` at ``k`` over the relevant rows.
        """
        from ._params import decision_function
        from ._sampling import NegativeSampler

        if sample_weight is not None:
            raise ValueError("SampledRankingScorer does not support sample_weight.")
        model = estimator
        if hasattr(estimator, "steps"):  # a Pipeline: transform X as predict would
            model = estimator[-1]
            if len(estimator) > 1:
                X = estimator[:-1].transform(X)
        state = model._check_two_fields("SampledRankingScorer")
        X = np.asarray(X.to_numpy() if hasattr(X, "to_numpy") else X, dtype=object)
        relevant = np.ones(len(X), dtype=bool)
        if y is not None:
            y = np.asarray(y)
            if self.relevance_threshold is not None:
                relevant = y >= self.relevance_threshold
            elif hasattr(model, "classes_"):  # rows of the interaction label
                # Models pickled before pos_label have no _positive_index: classes_[1].
                relevant = y == model.classes_[getattr(model, "_positive_index", 1)]
        users = state.vocabularies[0].rows(X[relevant, 0], field=0)
        items = state.vocabularies[1].rows(X[relevant, 1], field=1)
        known = (users >= 0) & (items >= 0)
        users, items = users[known], items[known]
        if len(users) == 0:
            raise ValueError("No relevant test row has a user and an item seen in fit.")
        observed = np.concatenate(
            [np.column_stack(state.interactions.pairs()), np.column_stack([users, items])]
        )
        sampler = NegativeSampler(observed, len(state.vocabularies[1]))
        rng = np.random.default_rng(self.random_state)
        negatives = sampler.sample(np.repeat(users, self.n_negatives), rng)
        candidates = np.column_stack([items, negatives.reshape(-1, self.n_negatives)])
        idx = np.column_stack([np.repeat(users, candidates.shape[1]), candidates.ravel()])
        scores = decision_function(state.params, idx).reshape(candidates.shape)
        relevance = np.zeros(candidates.shape, dtype=bool)
        relevance[:, 0] = True
        return _METRICS[self.metric](relevance, scores, k=self.k)
