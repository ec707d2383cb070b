"""GMFClassifier: labels, negative sampling, probabilities."""
# License: BSD 3 clause

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from skgmf import GMFClassifier
from skgmf._sampling import NegativeSampler

from .conftest import FAST_PARAMS


@pytest.fixture(scope="module")
def interactions(low_rank_ratings):
    X, y = low_rank_ratings
    return X[y >= 4]


@pytest.fixture(scope="module")
def ncf_style(interactions):
    clf = GMFClassifier(n_factors=8, n_negatives=4, max_iter=8, batch_size=1024,
                        learning_rate=0.01, solver="adam", random_state=0)
    return clf.fit(interactions, np.ones(len(interactions)))


def test_default_sgd_ranks_observed_pairs_above_random_ones(interactions):
    from sklearn.metrics import roc_auc_score

    clf = GMFClassifier(n_factors=8, n_negatives=4, random_state=0)
    clf.fit(interactions, np.ones(len(interactions)))
    assert clf._settings["solver"] == "sgd" and clf.n_iter_ == 40
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]
    rng = np.random.default_rng(0)
    random_pairs = np.column_stack([
        rng.choice(clf.users_, 2000), rng.choice(clf.items_, 2000)
    ])
    scores = np.concatenate([clf.decision_function(interactions[:2000]),
                             clf.decision_function(random_pairs)])
    labels = np.repeat([1, 0], 2000)
    assert roc_auc_score(labels, scores) > 0.7  # chance: 0.5


def test_positive_only_fit_samples_negatives(ncf_style, interactions):
    assert_array_equal(ncf_style.classes_, [0.0, 1.0])
    assert ncf_style.n_iter_ == 8
    assert ncf_style.loss_curve_[-1] < ncf_style.loss_curve_[0]
    # Observed pairs must score higher than random pairs on average.
    rng = np.random.default_rng(0)
    random_pairs = np.column_stack([
        rng.choice(ncf_style.users_, 2000), rng.choice(ncf_style.items_, 2000)
    ])
    observed = ncf_style.predict_proba(interactions[:2000])[:, 1]
    # Over random_state 0..8 the gap is 0.076 to 0.107.
    assert observed.mean() > ncf_style.predict_proba(random_pairs)[:, 1].mean() + 0.05


def test_fitted_model_keeps_no_sampler_state(ncf_style):
    import pickle

    # Training-only state (the sampler, validation negatives) is never kept.
    assert not {"_sampler", "_validation_negatives", "_validation_seed"} & set(vars(ncf_style))
    restored = pickle.loads(pickle.dumps(ncf_style))
    assert_array_equal(restored.recommend(ncf_style.users_[:3], k=5),
                       ncf_style.recommend(ncf_style.users_[:3], k=5))


def test_intercept_starts_at_the_share_of_positives():
    clf = GMFClassifier(n_negatives=4)
    y, w = np.ones(10, dtype=np.float32), np.ones(10, dtype=np.float32)
    assert_allclose(1 / (1 + np.exp(-clf._initial_intercept(y, w))), 1 / 5)


def test_probabilities_and_decisions_agree(ncf_style, interactions):
    proba = ncf_style.predict_proba(interactions[:500])
    assert_allclose(proba.sum(axis=1), 1.0)
    decision = ncf_style.decision_function(interactions[:500])
    # Away from the boundary (float rounding may differ between the two calls).
    clear = np.abs(decision) > 1e-6
    assert_array_equal(ncf_style.predict(interactions[:500])[clear],
                       (decision > 0).astype(float)[clear])
    assert_allclose(proba[:, 1], 1 / (1 + np.exp(-decision)))


def test_same_random_state_gives_the_same_negatives_and_model(interactions):
    params = dict(FAST_PARAMS, n_negatives=2)
    a = GMFClassifier(**params).fit(interactions, np.ones(len(interactions)))
    b = GMFClassifier(**params).fit(interactions, np.ones(len(interactions)))
    assert_allclose(a.decision_function(interactions), b.decision_function(interactions),
                    rtol=1e-6, atol=1e-9)


def test_string_labels_with_two_classes(low_rank_ratings):
    X, y = low_rank_ratings
    labels = np.where(y >= 4, "like", "skip")
    clf = GMFClassifier(**FAST_PARAMS).fit(X, labels)
    assert_array_equal(clf.classes_, ["like", "skip"])
    assert set(clf.predict(X[:100])) <= {"like", "skip"}
    assert clf.score(X, labels) > 0.5


def test_explicit_negatives_are_kept_with_sampling(low_rank_ratings):
    X, y = low_rank_ratings
    labels = (y >= 4).astype(int)
    params = dict(FAST_PARAMS, n_factors=8, max_iter=4, n_negatives=1,
                  learning_rate_schedule="constant")
    clf = GMFClassifier(**params).fit(X, labels)
    assert_array_equal(clf.classes_, [0, 1])
    # What dropping the explicit negatives would give: the positives alone.
    positives_only = GMFClassifier(**params).fit(X[labels == 1], np.ones(labels.sum()))
    kept = clf.predict_proba(X)[:, 1]
    dropped = positives_only.predict_proba(X)[:, 1]
    # Trained on as negatives, the explicit negatives score well below the
    # positives (0.16 against 0.37 when written), and far below the same pairs
    # without them (0.48).
    assert kept[labels == 0].mean() < kept[labels == 1].mean() - 0.1
    assert kept[labels == 0].mean() < dropped[labels == 0].mean() - 0.2


def test_early_stopping_with_sampled_negatives(interactions):
    clf = GMFClassifier(**dict(FAST_PARAMS, n_negatives=2, max_iter=4),
                        early_stopping=True, n_iter_no_change=2)
    clf.fit(interactions, np.ones(len(interactions)))
    assert len(clf.validation_scores_) == clf.n_iter_
    assert clf.best_validation_score_ == max(clf.validation_scores_) < 0


class TestBadInput:
    def test_single_class_without_sampling(self, interactions):
        with pytest.raises(ValueError, match="only one class"):
            GMFClassifier(**FAST_PARAMS).fit(interactions, np.ones(len(interactions)))

    def test_single_class_must_be_the_positive_one(self, interactions):
        with pytest.raises(ValueError, match="single class 0.0, which is not the label of an interaction"):
            GMFClassifier(**FAST_PARAMS, n_negatives=1).fit(
                interactions, np.zeros(len(interactions))
            )

    def test_multiclass_is_rejected(self, low_rank_ratings):
        X, y = low_rank_ratings
        with pytest.raises(ValueError, match="Only binary classification"):
            GMFClassifier(**FAST_PARAMS).fit(X, np.round(y))

    def test_continuous_target_is_rejected(self, low_rank_ratings):
        X, y = low_rank_ratings
        with pytest.raises(ValueError, match="Unknown label type"):
            GMFClassifier(**FAST_PARAMS).fit(X, y + 0.01)

    @pytest.mark.parametrize("n_negatives", [0, 1])
    def test_one_column_is_rejected_before_tensorflow(self, n_negatives):
        with pytest.raises(ValueError, match="n_features = 1.*users in column 0"):
            GMFClassifier(n_negatives=n_negatives).fit([[1], [2]], [0, 1])


class TestNegativeSampler:
    def test_never_draws_an_observed_pair(self):
        rng = np.random.default_rng(0)
        # User 0 has seen items 0..7 of 10: only 8 and 9 may come out.
        observed = np.column_stack([np.zeros(8, int), np.arange(8)])
        sampler = NegativeSampler(observed, n_items=10)
        items = sampler.sample(np.zeros(2000, int), rng)
        assert set(items) == {8, 9}

    def test_popularity_weights_shape_the_draws(self):
        rng = np.random.default_rng(0)
        sampler = NegativeSampler(np.array([[0, 0]]), n_items=4, weights=[0, 1, 1, 2])
        items = sampler.sample(np.ones(40_000, int), rng)
        share = np.bincount(items, minlength=4) / len(items)
        assert share[0] == 0
        assert_allclose(share[1:], [0.25, 0.25, 0.5], atol=0.01)

    def test_dense_and_sorted_lookups_draw_the_same(self, monkeypatch):
        import skgmf._sampling

        rng = np.random.default_rng(0)
        observed = np.column_stack([rng.integers(0, 60, 2000), rng.integers(0, 40, 2000)])
        users = rng.integers(0, 70, 5000)  # users 60..69 have no observed pair
        dense = NegativeSampler(observed, 40)
        monkeypatch.setattr(skgmf._sampling, "_DENSE_CELLS", 0)
        sorted_keys = NegativeSampler(observed, 40)
        assert dense._dense is not None and sorted_keys._dense is None
        items = dense.sample(users, np.random.default_rng(1))
        assert_array_equal(items, sorted_keys.sample(users, np.random.default_rng(1)))
        seen = set(map(tuple, observed.tolist()))
        assert not any((u, i) in seen for u, i in zip(users.tolist(), items.tolist()))

    def test_keys_do_not_overflow_int32(self):
        # Row 40_000 of 70_000 items: the key user * n_items is past 2**31.
        n_items, user = 70_000, 40_000
        seen = np.setdiff1d(np.arange(n_items), [5])
        observed = np.column_stack([np.full(len(seen), user, dtype=np.int32),
                                    seen.astype(np.int32)])
        sampler = NegativeSampler(observed, n_items=n_items)
        items = sampler.sample(np.full(50, user, dtype=np.int32), np.random.default_rng(0))
        assert set(items.tolist()) == {5}


class TestPosLabel:
    """Which label is the interaction, and so which one sampled negatives get."""

    @pytest.fixture(scope="class")
    @classmethod
    def labelled(cls, interactions):
        # Every fourth interaction was shown but ignored.
        labels = np.where(np.arange(len(interactions)) % 4 == 0, "ignored", "clicked")
        return interactions, labels

    def test_string_labels_with_sampling_need_pos_label(self, labelled):
        X, labels = labelled
        with pytest.raises(ValueError, match="set pos_label.*'clicked', 'ignored'"):
            GMFClassifier(**FAST_PARAMS, n_negatives=1).fit(X, labels)
        with pytest.raises(ValueError, match="pos_label='liked' is not a label"):
            GMFClassifier(**FAST_PARAMS, n_negatives=1, pos_label="liked").fit(X, labels)

    def test_a_single_string_class_with_sampling_says_what_works(self, labelled):
        """Not "set pos_label", which would fail next for want of a negative label."""
        X, _ = labelled
        clicks = np.full(len(X), "click", dtype=object)
        for params in ({}, {"pos_label": "click"}):
            with pytest.raises(ValueError, match=r"single class 'click'.*Use 1 \(or True\)"):
                GMFClassifier(**FAST_PARAMS, n_negatives=1, **params).fit(X, clicks)

    def test_pos_label_is_the_interaction(self, labelled):
        X, labels = labelled
        params = dict(FAST_PARAMS, n_negatives=1)
        named = GMFClassifier(**params, pos_label="clicked").fit(X, labels)
        binary = GMFClassifier(**params).fit(X, (labels == "clicked").astype(int))
        assert_array_equal(named.classes_, ["clicked", "ignored"])
        # The same model: sampled negatives became "ignored", not "clicked".
        proba = named.predict_proba(X)
        assert_allclose(proba[:, 0], binary.predict_proba(X)[:, 1], rtol=1e-5)
        # sklearn's convention: decision_function favours classes_[1].
        assert_allclose(named.decision_function(X), -binary.decision_function(X),
                        rtol=1e-5, atol=1e-7)
        # Two fits: compare the classes away from the decision boundary.
        clear = np.abs(binary.decision_function(X)) > 1e-4
        assert_array_equal((named.predict(X) == "clicked")[clear],
                           (binary.predict(X) == 1)[clear])

    def test_sorting_last_is_no_longer_the_positive_class(self, labelled):
        X, labels = labelled
        clf = GMFClassifier(n_factors=4, max_iter=6, batch_size=1024, random_state=0,
                            n_negatives=2, pos_label="clicked",
                            learning_rate_schedule="constant").fit(X, labels)
        rng = np.random.default_rng(0)
        unobserved = np.column_stack([rng.choice(clf.users_, 500), rng.choice(clf.items_, 500)])
        clicked = clf.predict_proba(X[labels == "clicked"])[:, 0].mean()
        assert clicked > clf.predict_proba(unobserved)[:, 0].mean() + 0.03


def test_validation_negatives_avoid_validation_positives(interactions, monkeypatch):
    drawn = []
    original = GMFClassifier._negatives

    def spy(self, sampler, idx, y, sample_weight, rng):
        negatives = original(self, sampler, idx, y, sample_weight, rng)
        drawn.append((negatives[0], idx[y == 1]))
        return negatives

    monkeypatch.setattr(GMFClassifier, "_negatives", spy)
    params = dict(FAST_PARAMS, n_negatives=4, early_stopping=True, validation_fraction=0.3)
    firsts = []
    for seed in (0, 0, 1):
        drawn.clear()
        GMFClassifier(**{**params, "random_state": seed}).fit(
            interactions, np.ones(len(interactions)))
        negatives, positives = drawn[0]
        as_keys = lambda a: set(map(tuple, a[:, :2].tolist()))  # noqa: E731
        assert not as_keys(negatives) & as_keys(positives)
        firsts.append(negatives[:, 1])
    # Drawn from random_state: the same seed, the same negatives; another, others.
    assert_array_equal(firsts[0], firsts[1])
    assert not np.array_equal(firsts[0], firsts[2])


def test_validation_split_is_stratified():
    y = np.r_[np.ones(100), np.zeros(900)].astype(np.float32)
    clf = GMFClassifier(validation_fraction=0.2)
    for seed in range(5):
        train, val = clf._split_validation(y, seed)
        assert len(val) == 200 and y[val].sum() == 20
        assert len(np.intersect1d(train, val)) == 0 and len(train) + len(val) == 1000


def test_classes_are_sorted_with_sampled_negatives(interactions):
    X = interactions[:2000]
    params = dict(FAST_PARAMS, n_negatives=1)
    minus = GMFClassifier(**params, pos_label=-1).fit(X, np.full(len(X), -1))
    plus = GMFClassifier(**params, pos_label=1).fit(X, np.full(len(X), 1))
    assert_array_equal(minus.classes_, [-1, 0])  # was [0, -1]
    assert_array_equal(plus.classes_, [0, 1])
    # The same model; predict_proba's columns follow classes_, so the interaction
    # is column 0 for pos_label=-1 and column 1 for pos_label=1.
    assert_allclose(minus.predict_proba(X)[:, 0], plus.predict_proba(X)[:, 1], rtol=1e-5)
    assert_allclose(minus.decision_function(X), -plus.decision_function(X),
                    rtol=1e-5, atol=1e-7)
    clear = np.abs(plus.decision_function(X)) > 1e-4  # two fits: away from 0
    assert_array_equal((minus.predict(X) == -1)[clear], (plus.predict(X) == 1)[clear])


def test_a_model_without_positive_index_takes_classes_1(ncf_style, interactions):
    """Models pickled before pos_label existed lack _positive_index."""
    import copy

    from skgmf.metrics import SampledRankingScorer

    old = copy.deepcopy(ncf_style)
    del old._positive_index
    assert_allclose(old.decision_function(interactions[:50]),
                    ncf_style.decision_function(interactions[:50]))
    scorer = SampledRankingScorer(n_negatives=5, random_state=0)
    y = np.ones(200)
    assert scorer(old, interactions[:200], y) == scorer(ncf_style, interactions[:200], y)
