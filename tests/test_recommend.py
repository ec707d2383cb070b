"""recommend and similar_items of both estimators."""
# License: BSD 3 clause

import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import skgmf._recommend
from skgmf import GMFClassifier, GMFRegressor
from skgmf._params import decision_function

from .conftest import FAST_PARAMS


@pytest.fixture(scope="module")
def data(low_rank_ratings):
    X, y = low_rank_ratings
    # String ids, so that ids and embedding rows cannot be confused.
    X = np.column_stack([np.char.add("u", X[:, 0].astype(str)),
                         np.char.add("i", X[:, 1].astype(str))])
    return X[:8000], y[:8000]


@pytest.fixture(scope="module")
def regressor(data):
    return GMFRegressor(**FAST_PARAMS).fit(*data)


def brute_force(est, X, user, exclude_seen=True, ranking="score"):
    """Every item scored by predict-like arithmetic, best first.

    ``ranking="relevance"``: the share of X's rows that rate the item times the
    normal probability that the predicted rating clears the mean rating, with the
    training RMSE as the spread.
    """
    items = est.items_
    pairs = np.column_stack([np.repeat(user, len(items)), items])
    scores = decision_function(est._state.params, np.column_stack([
        np.searchsorted(est.users_, pairs[:, 0]), np.arange(len(items))
    ]).astype(np.int32))
    if ranking == "relevance":
        from scipy.stats import norm

        share = pd.Series(X[:, 1]).value_counts().reindex(items).to_numpy() / len(X)
        spread = np.sqrt(est.loss_curve_[-1])
        scores = share * norm.cdf(scores, loc=est.intercept_, scale=spread)
    if exclude_seen:
        seen = set(X[X[:, 0] == user, 1])
        scores = np.where(np.isin(items, list(seen)), -np.inf, scores)
    order = np.argsort(-scores, kind="stable")
    return items[order], scores[order]


@pytest.mark.parametrize("ranking", ["score", "relevance", "auto"])
def test_recommend_matches_brute_force_and_excludes_seen(regressor, data, ranking):
    X, _ = data
    users = regressor.users_[:5]
    ids, scores = regressor.recommend(users, k=7, return_scores=True, ranking=ranking)
    assert ids.shape == scores.shape == (5, 7)
    expected_ranking = "relevance" if ranking == "auto" else ranking
    for row, user in enumerate(users):
        expected_ids, expected_scores = brute_force(regressor, X, user,
                                                    ranking=expected_ranking)
        assert_allclose(scores[row], expected_scores[:7], rtol=1e-5)
        assert_array_equal(ids[row], expected_ids[:7])
        assert not set(ids[row]) & set(X[X[:, 0] == user, 1])


def test_recommend_can_include_seen_items(regressor, data):
    X, _ = data
    user = regressor.users_[0]
    ids = regressor.recommend([user], k=5, exclude_seen=False)
    expected = brute_force(regressor, X, user, exclude_seen=False, ranking="relevance")
    assert_array_equal(ids[0], expected[0][:5])


def test_relevance_ranks_popular_well_rated_items_above_rare_top_rated_ones():
    """An item rated 5 by a few users has the highest predicted rating, but a user
    is far likelier to rate (and like) an item that most users rate 4."""
    rng = np.random.default_rng(0)
    users = np.arange(200)
    X = np.column_stack([users, np.zeros(200, int)])  # item 0: everyone, rating ~4
    y = np.clip(np.round(rng.normal(4.2, 0.5, 200)), 1, 5)
    filler = np.column_stack([np.repeat(users, 5), rng.integers(2, 40, 1000)])
    fans = np.column_stack([np.arange(8), np.ones(8, int)])  # item 1: eight 5s
    X = np.concatenate([X, fans, filler])
    y = np.concatenate([y, np.full(8, 5.0), rng.integers(1, 4, 1000)])
    unseen = (X[:, 0] != 150) | (X[:, 1] > 1)  # user 150 rated neither item
    est = GMFRegressor(random_state=0).fit(X[unseen], y[unseen])
    by_rating = est.recommend([150], k=1, ranking="score")[0, 0]
    by_relevance = est.recommend([150], k=1)[0, 0]
    assert by_rating == 1 and by_relevance == 0


def test_ranking_must_be_known(regressor):
    with pytest.raises(ValueError, match="ranking must be 'auto', 'score' or 'relevance'"):
        regressor.recommend(regressor.users_[:1], ranking="rating")


def test_recommend_in_small_blocks_gives_the_same_answer(regressor, monkeypatch):
    users = regressor.users_[:20]
    expected = regressor.recommend(users, k=4)
    monkeypatch.setattr(skgmf._recommend, "_SCORE_BLOCK", 3 * len(regressor.items_))
    assert_array_equal(regressor.recommend(users, k=4), expected)


def test_unknown_users_get_the_most_popular_items(regressor, data):
    X, _ = data
    ids, scores = regressor.recommend(["nobody", regressor.users_[0]], k=3,
                                      return_scores=True)
    items, counts = np.unique(X[:, 1], return_counts=True)
    assert_array_equal(ids[0], items[np.argsort(-counts, kind="stable")][:3])
    assert np.isnan(scores[0]).all() and np.isfinite(scores[1]).all()


def test_recommend_among_candidate_items(regressor):
    candidates = regressor.items_[:6]
    ids = regressor.recommend(regressor.users_[:3], k=6, items=candidates,
                              exclude_seen=False)
    for row in ids:
        assert set(row) == set(candidates)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(k=0), "k must be"),
        (dict(items=["no-such-item"]), "not seen in fit"),
        (dict(k=3, items=["i1", "i2"]), "exceeds"),
    ],
)
def test_recommend_rejects_bad_arguments(regressor, kwargs, match):
    with pytest.raises(ValueError, match=match):
        regressor.recommend(regressor.users_[:1], **kwargs)


def test_similar_items_by_cosine_of_the_scaled_item_vectors(regressor):
    vectors = regressor.item_factors_ * regressor.coef_
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    item = regressor.items_[3]
    ids, scores = regressor.similar_items([item], k=5, return_scores=True)
    cosine = unit @ unit[3]
    cosine[3] = -np.inf
    order = np.argsort(-cosine)[:5]
    assert_array_equal(ids[0], regressor.items_[order])
    assert_allclose(scores[0], cosine[order], rtol=1e-6)
    assert item not in ids[0]


def test_similar_items_rejects_unknown_items(regressor):
    with pytest.raises(ValueError, match="not seen in fit"):
        regressor.similar_items(["no-such-item"])


def test_classifier_recommends_unseen_items(data):
    X, y = data
    clf = GMFClassifier(**FAST_PARAMS, n_negatives=2).fit(X[y >= 4], np.ones((y >= 4).sum()))
    ids = clf.recommend(clf.users_[:3], k=5)
    for user, row in zip(clf.users_[:3], ids):
        assert not set(row) & set(X[(y >= 4) & (X[:, 0] == user), 1])


def test_recommend_needs_a_two_field_model(data):
    X, y = data
    X3 = np.column_stack([X, np.arange(len(X)) % 3])
    est = GMFRegressor(**FAST_PARAMS, context_features="remaining").fit(X3, y)
    with pytest.raises(ValueError, match="exactly two fields"):
        est.recommend(est.users_[:1])


@pytest.mark.parametrize(
    "users, items, fill",
    [([0, 0, 0, 1], [0, 1, 2, 3], -1), (["a", "a", "a", "b"], ["w", "x", "y", "z"], None),
     ([0, 0, 0, 1], [0.5, 1.5, 2.5, 3.5], "nan")],
)
def test_recommend_pads_with_a_sentinel_never_a_seen_item(users, items, fill):
    X = np.array(list(zip(users, items)), dtype=object)
    est = GMFRegressor(**FAST_PARAMS).fit(X, [4.0, 3.0, 5.0, 2.0])
    ids, scores = est.recommend([users[0]], k=3, return_scores=True)
    # The user saw three of the four items: one to recommend, two padded slots.
    assert ids[0, 0] == items[3]
    if fill == "nan":
        assert np.isnan(ids[0, 1:]).all()
    else:
        assert ids[0, 1:].tolist() == [fill, fill]
    assert np.isfinite(scores[0, 0]) and (scores[0, 1:] == -np.inf).all()
    assert not set(ids[0].tolist()) & set(items[:3])


def test_recommend_fill_value_must_not_be_an_item():
    X = [[0, -1], [0, 1], [1, 2]]
    est = GMFRegressor(**FAST_PARAMS).fit(X, [4.0, 3.0, 5.0])
    with pytest.raises(ValueError, match="fill_value=-1 is a known item id"):
        est.recommend([0], k=3)
    ids = est.recommend([0], k=3, fill_value=-99)
    assert ids.tolist() == [[2, -99, -99]]


@pytest.fixture(scope="module")
def integer_ids():
    """User 0 saw items 0, 1, 2 of 0..3: recommend([0], k=3) pads two slots."""
    X = [[0, 0], [0, 1], [0, 2], [1, 3]]
    return GMFRegressor(**FAST_PARAMS).fit(X, [4.0, 3.0, 5.0, 2.0])


@pytest.mark.parametrize("fill_value", [0.5, np.nan, 3.0, "x", True])
def test_integer_ids_need_an_integer_fill_value(integer_ids, fill_value):
    # 0.5 used to be truncated to 0, an item the user has seen.
    with pytest.raises(TypeError, match="fill_value must be an integer for integer item ids"):
        integer_ids.recommend([0], k=3, fill_value=fill_value)


def test_fill_value_must_fit_the_returned_ids(integer_ids):
    with pytest.raises(ValueError, match=r"fill_value=1180591620717411303424 does not fit"):
        integer_ids.recommend([0], k=3, fill_value=2**70)
    assert integer_ids.recommend([0], k=3, fill_value=np.int8(-5)).tolist() == [[3, -5, -5]]


def test_unsigned_ids_beyond_int64_come_back_unchanged():
    items = np.array([7, 2**63 + 1, 2**63 + 5, 2**63 + 9], dtype=np.uint64)
    X = pd.DataFrame({"user": np.array([0, 0, 0, 1], dtype=np.uint64), "item": items})
    est = GMFRegressor(**FAST_PARAMS).fit(X, [4.0, 3.0, 5.0, 2.0])
    assert est.items_.dtype == np.uint64
    ids = est.recommend([1], k=3)  # user 1 saw item 2**63 + 9 only
    assert ids.dtype == np.uint64
    assert sorted(ids[0].tolist()) == [7, 2**63 + 1, 2**63 + 5]
    # The default padding of unsigned ids beyond int64 is the largest uint64.
    padded = est.recommend([0], k=3)
    assert padded.tolist() == [[2**63 + 9, 2**64 - 1, 2**64 - 1]]
    with pytest.raises(ValueError, match="does not fit the uint64 item ids"):
        est.recommend([0], k=3, fill_value=-1)


def test_fill_value_is_checked_only_when_a_slot_is_padded():
    X = [[0, -1], [0, 1], [1, 2], [1, 1]]
    est = GMFRegressor(**FAST_PARAMS).fit(X, [4.0, 3.0, 5.0, 2.0])
    # Item -1 exists, but user 1 has an unseen item for its one slot: nothing padded.
    assert est.recommend([1], k=1).tolist() == [[-1]]
    with pytest.raises(ValueError, match="fill_value=-1 is a known item id"):
        est.recommend([0], k=3)


def test_repeated_candidates_count_once(regressor):
    item_a, item_b = regressor.items_[:2]
    users = regressor.users_[:4]
    ids = regressor.recommend(users, k=2, items=[item_a, item_a, item_b], exclude_seen=False)
    for row in ids:
        assert sorted(row.tolist()) == [item_a, item_b]
    with pytest.raises(ValueError, match="k=2 exceeds the 1 candidate items"):
        regressor.recommend(users, k=2, items=[item_a, item_a])


def test_unknown_item_messages_show_plain_values(regressor):
    with pytest.raises(ValueError, match=r"e\.g\. 'nope'\.$"):
        regressor.recommend(regressor.users_[:1], items=["nope"])
    with pytest.raises(ValueError, match=r"e\.g\. 'nope'\.$"):
        regressor.similar_items(["nope"])


def test_classifier_scores_are_the_interactions_logit(data):
    X, y = data
    labels = np.where(y >= 4, "liked", "other")
    clf = GMFClassifier(**FAST_PARAMS, pos_label="liked").fit(X, labels)
    assert_array_equal(clf.classes_, ["liked", "other"])
    user = clf.users_[0]
    ids, scores = clf.recommend([user], k=5, return_scores=True, exclude_seen=False)
    pairs = np.column_stack([np.repeat(user, 5), ids[0]])
    proba_liked = clf.predict_proba(pairs)[:, 0]
    assert_allclose(scores[0], -clf.decision_function(pairs), rtol=1e-6)
    assert_allclose(1 / (1 + np.exp(-scores[0])), proba_liked, rtol=1e-6)


class TestIdsOfAnotherKind:
    """recommend and similar_items say when the ids cannot be fit's."""

    def test_string_users_on_an_integer_model_warn(self, integer_ids):
        with pytest.warns(UserWarning, match="users holds string ids, but numeric ids in fit"):
            ids, scores = integer_ids.recommend(["0", "1"], k=1, return_scores=True)
        assert np.isnan(scores).all()  # what the warning is about: popularity only

    def test_all_unknown_users_warn(self, integer_ids):
        with pytest.warns(UserWarning, match="Every id in users is unknown"):
            integer_ids.recommend([100, 101], k=1)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            integer_ids.recommend([100], k=1)  # one new user: no surprise
            integer_ids.recommend([0, 100], k=1)

    @pytest.mark.parametrize("users", [[np.nan, 0], [None, 1], [0, np.inf]])
    def test_missing_users_are_rejected(self, integer_ids, users):
        with pytest.raises(ValueError, match="users holds (missing|infinite) ids"):
            integer_ids.recommend(users, k=1)

    def test_items_of_another_kind_are_named(self, integer_ids):
        with pytest.raises(ValueError, match=r"e\.g\. '1' \(string ids, but numeric ids"):
            integer_ids.similar_items(["1"], k=1)
        with pytest.raises(ValueError, match=r"e\.g\. '1' \(string ids, but numeric ids"):
            integer_ids.recommend([0], k=1, items=["1", "2"])
        with pytest.raises(ValueError, match="items holds missing ids"):
            integer_ids.similar_items([np.nan], k=1)


def test_top_k_with_sampled_threshold_equals_the_exact_selection():
    from skgmf._recommend import _top_k, _top_k_exact

    rng = np.random.default_rng(0)
    for k, n in ((1, 5000), (10, 20_000), (25, 3000)):
        scores = rng.normal(size=(40, n)).astype(np.float32)
        scores[rng.random((40, n)) < 0.5] = -np.inf  # seen items
        scores[0, :] = -np.inf  # a user who has seen everything
        ids, top = _top_k(scores, k)
        exact_ids, exact_top = _top_k_exact(scores, k)
        assert_array_equal(top, exact_top)
        finite = np.isfinite(top)
        assert_array_equal(ids[finite], exact_ids[finite])


def test_relevance_scores_only_the_candidates_that_can_make_a_top_k(monkeypatch):
    """With many items the relevance of most is never computed (their share of
    the ratings cannot reach any user's k-th best), yet the lists are exact."""
    from skgmf.datasets import make_ratings

    ratings = make_ratings(200, 3000, 20_000, random_state=0)
    X, y = ratings[["user", "item"]].to_numpy(), ratings["rating"].to_numpy(float)
    est = GMFRegressor(n_factors=8, max_iter=5, random_state=0).fit(X, y)
    scored = []
    original = GMFRegressor._relevance

    def counting(self, state, scores, candidates):
        scored.append(scores.size)
        return original(self, state, scores, candidates)

    monkeypatch.setattr(GMFRegressor, "_relevance", counting)
    users = est.users_[:40]
    ids, scores = est.recommend(users, k=5, return_scores=True)
    assert sum(scored) < 0.25 * len(users) * len(est.items_)
    for row, user in enumerate(users):
        expected_ids, expected_scores = brute_force(est, X, user, ranking="relevance")
        assert_array_equal(ids[row], expected_ids[:5])
        assert_allclose(scores[row], expected_scores[:5], rtol=1e-5)


def test_relevance_spread_is_the_last_epochs_rmse_whatever_the_history(data):
    """fit, then partial_fit: the spread follows the last epoch, so a file written
    before the spread was stored (it reads loss_curve_) ranks the same."""
    import pickle

    X, y = data
    est = GMFRegressor(**FAST_PARAMS).fit(X[:5000], y[:5000])
    est.partial_fit(X[5000:6000], y[5000:6000])
    assert est._state.residual_std == pytest.approx(np.sqrt(est.loss_curve_[-1]))
    state = est.__getstate__()
    del state["_residual_std"]
    old = GMFRegressor.__new__(GMFRegressor)
    with pytest.warns(UserWarning):  # no version in the state: "unknown version"
        del state["_skgmf_version"]
        old.__setstate__(state)
    users = est.users_[:20]
    assert_array_equal(old.recommend(users, k=5), est.recommend(users, k=5))
    assert pickle.loads(pickle.dumps(est))._state.residual_std == est._state.residual_std
