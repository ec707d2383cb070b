"""Ranking metrics on hand-computed cases, and the sampled-ranking scorer."""
# License: BSD 3 clause

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.model_selection import GridSearchCV, cross_validate

from skgmf import GMFClassifier, GMFRegressor
from skgmf.metrics import (
    SampledRankingScorer,
    hit_rate_at_k,
    map_at_k,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
)
from skgmf.model_selection import UserLeaveKOut

from .conftest import FAST_PARAMS

# Two lists of five candidates. Ranked by score, list 0 reads
# [rel, -, rel, -, -] and list 1 reads [-, -, -, rel, -].
Y_TRUE = [[1, 0, 1, 0, 0], [0, 0, 0, 0, 1]]
Y_SCORE = [[0.9, 0.8, 0.7, 0.1, 0.2], [0.5, 0.6, 0.7, 0.1, 0.3]]


def test_hit_rate_by_hand():
    assert hit_rate_at_k(Y_TRUE, Y_SCORE, k=1) == 0.5
    assert hit_rate_at_k(Y_TRUE, Y_SCORE, k=3) == 0.5
    assert hit_rate_at_k(Y_TRUE, Y_SCORE, k=4) == 1.0


def test_precision_by_hand():
    # k=3: list 0 has 2 of 3 relevant, list 1 none.
    assert_allclose(precision_at_k(Y_TRUE, Y_SCORE, k=3), (2 / 3 + 0) / 2)


def test_recall_by_hand():
    # k=2: list 0 finds 1 of its 2, list 1 none of its 1.
    assert_allclose(recall_at_k(Y_TRUE, Y_SCORE, k=2), (1 / 2 + 0) / 2)
    assert_allclose(recall_at_k(Y_TRUE, Y_SCORE, k=4), (1 + 1) / 2)


def test_ndcg_by_hand():
    # List 0: gains at ranks 1 and 3 -> (1 + 1/log2(4)) / (1 + 1/log2(3)).
    list0 = (1 + 0.5) / (1 + 1 / np.log2(3))
    # List 1: its one relevant entry at rank 4 -> 1/log2(5) at k >= 4, else 0.
    assert_allclose(ndcg_at_k(Y_TRUE, Y_SCORE, k=3), (list0 + 0) / 2)
    assert_allclose(ndcg_at_k(Y_TRUE, Y_SCORE, k=5), (list0 + 1 / np.log2(5)) / 2)


def test_map_by_hand():
    # List 0: precision 1 at rank 1 and 2/3 at rank 3, over min(k, 2) = 2.
    # List 1: precision 1/4 at rank 4, over 1.
    assert_allclose(map_at_k(Y_TRUE, Y_SCORE, k=5), ((1 + 2 / 3) / 2 + 1 / 4) / 2)


@pytest.mark.parametrize(
    "metric", [hit_rate_at_k, precision_at_k, recall_at_k, ndcg_at_k, map_at_k]
)
def test_ties_rank_relevant_entries_last(metric):
    # A constant scorer must not get credit for the relevant item's column.
    assert metric([[1, 0, 0]], [[0.5, 0.5, 0.5]], k=1) == 0.0


@pytest.mark.parametrize(
    "metric", [hit_rate_at_k, precision_at_k, recall_at_k, ndcg_at_k, map_at_k]
)
def test_perfect_ranking_scores_one_on_recall_like_metrics(metric):
    y_true = [[0, 1, 1, 0]]
    y_score = [[0.1, 0.9, 0.8, 0.2]]
    expected = 1.0
    assert_allclose(metric(y_true, y_score, k=2), expected)


def test_lists_without_relevant_entries_are_ignored():
    assert hit_rate_at_k([[1, 0], [0, 0]], [[2, 1], [2, 1]], k=1) == 1.0


@pytest.mark.parametrize(
    "y_true, y_score, k, match",
    [
        ([[1, 0]], [[1, 0]], 0, "k must be"),
        ([[1, 0]], [[1, 0, 0]], 1, "same shape"),
        ([1, 0], [1, 0], 1, "2-d"),
        ([[2, 0]], [[1, 0]], 1, "binary"),
        ([[1, 0]], [[np.nan, 0]], 1, "NaN"),
        ([[0, 0]], [[1, 0]], 1, "No row"),
    ],
)
def test_bad_input_is_rejected(y_true, y_score, k, match):
    with pytest.raises(ValueError, match=match):
        ndcg_at_k(y_true, y_score, k=k)


@pytest.fixture(scope="module")
def implicit(low_rank_ratings):
    """Interactions: the well-rated pairs of the planted data set."""
    X, y = low_rank_ratings
    return X[y >= 4]


def test_scorer_ranks_a_trained_model_above_chance(implicit):
    cv = UserLeaveKOut(random_state=0)
    train, test = next(cv.split(implicit))
    clf = GMFClassifier(n_factors=8, n_negatives=4, random_state=0)
    clf.fit(implicit[train], np.ones(len(train)))
    scorer = SampledRankingScorer("hit_rate", k=10, n_negatives=99)
    hr = scorer(clf, implicit[test], np.ones(len(test)))
    # Chance is 10 / 100 for a random ranking.
    assert hr > 0.25
    # The same seed gives the same negatives, hence the same score.
    assert scorer(clf, implicit[test], np.ones(len(test))) == hr


def test_scorer_in_cross_validate_and_grid_search(implicit):
    scoring = {"hr": SampledRankingScorer("hit_rate"), "ndcg": SampledRankingScorer()}
    params = dict(FAST_PARAMS, n_negatives=2)
    cv = UserLeaveKOut(n_splits=2, random_state=0)
    result = cross_validate(GMFClassifier(**params), implicit, np.ones(len(implicit)),
                            cv=cv, scoring=scoring)
    assert result["test_hr"].shape == (2,)
    assert np.all((result["test_ndcg"] >= 0) & (result["test_ndcg"] <= 1))
    search = GridSearchCV(GMFClassifier(**params), {"n_factors": [2, 4]},
                          scoring=SampledRankingScorer(), cv=cv)
    search.fit(implicit, np.ones(len(implicit)))
    # The search's scores are the scorer's on each split, refitted by hand.
    by_hand = []
    for train, test in cv.split(implicit):
        est = GMFClassifier(**{**params, "n_factors": 4}).fit(
            implicit[train], np.ones(len(train)))
        by_hand.append(SampledRankingScorer()(est, implicit[test]))
    assert_allclose(search.cv_results_["mean_test_score"][1], np.mean(by_hand), rtol=1e-6)
    best = int(np.argmax(search.cv_results_["mean_test_score"]))
    assert search.best_params_["n_factors"] == [2, 4][best]


def test_scorer_uses_relevance_threshold_for_ratings(low_rank_ratings):
    X, y = low_rank_ratings
    est = GMFRegressor(**FAST_PARAMS).fit(X[:15_000], y[:15_000])
    scorer = SampledRankingScorer(relevance_threshold=4)
    liked = scorer(est, X[15_000:], y[15_000:])
    # Only the rows rated 4 or more count: the same score as passing only those.
    high = np.flatnonzero(y[15_000:] >= 4) + 15_000
    assert liked == pytest.approx(SampledRankingScorer()(est, X[high]))
    assert liked != pytest.approx(SampledRankingScorer()(est, X[15_000:]))
    with pytest.raises(ValueError, match="No relevant test row"):
        SampledRankingScorer(relevance_threshold=100)(est, X[15_000:], y[15_000:])


@pytest.mark.parametrize(
    "params, match",
    [(dict(metric="auc"), "metric"), (dict(k=0), "k must"),
     (dict(n_negatives=0), "n_negatives")],
)
def test_scorer_rejects_bad_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        SampledRankingScorer(**params)
