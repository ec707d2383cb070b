"""Interactions: seen pairs and popularity, updated as a rebuild from scratch gives."""
# License: BSD 3 clause

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from skgmf import GMFRegressor, _interactions
from skgmf._interactions import Interactions


def from_scratch(pairs, sizes):
    seen = np.zeros(sizes, dtype=bool)
    seen[pairs[:, 0], pairs[:, 1]] = True
    return seen


@pytest.mark.parametrize("rebuild_share", [0.0, 1.0], ids=["rebuild", "insert"])
def test_updates_equal_a_rebuild(rebuild_share, monkeypatch):
    """Random updates with new users and items sorting anywhere, repeated and
    already seen pairs: the same pairs and counts as one build over every row."""
    monkeypatch.setattr(_interactions, "_REBUILD_SHARE", rebuild_share)
    rng = np.random.default_rng(0)
    sizes = [30, 20]
    idx = np.column_stack([rng.integers(0, 30, 200), rng.integers(0, 20, 200)])
    all_rows = idx.copy()  # in "ids": the row of an id never changes here
    ids = [np.arange(30), np.arange(20)]
    state = Interactions.from_rows(idx, np.ones(len(idx), bool), sizes)
    counts = np.bincount(idx[:, 1], minlength=20)
    for step in range(15):
        # Grow each field by a few ids inserted at random places (sorted ids).
        moves, new_ids = [], []
        for f in range(2):
            grown = np.sort(np.concatenate([ids[f], rng.uniform(-5, 60, rng.integers(0, 3))]))
            moves.append(np.searchsorted(grown, ids[f]).astype(np.int32))
            new_ids.append(grown)
        ids = new_ids
        sizes = [len(ids[0]), len(ids[1])]
        moved = np.zeros(sizes[1], int)
        moved[moves[1]] = counts
        counts = moved
        all_rows = np.column_stack([moves[0][all_rows[:, 0]], moves[1][all_rows[:, 1]]])
        update = np.column_stack([rng.integers(0, sizes[0], 25), rng.integers(0, sizes[1], 25)])
        update = np.concatenate([update, update[:3], all_rows[:4]])  # repeats, seen pairs
        state = state.updated(moves, sizes, update.astype(np.int32), np.ones(len(update), bool))
        counts += np.bincount(update[:, 1], minlength=sizes[1])
        all_rows = np.concatenate([all_rows, update])
        assert_array_equal(state.seen.toarray(), from_scratch(all_rows, sizes))
        assert_array_equal(state.item_counts, counts)
        indptr, indices = state.seen.indptr, state.seen.indices
        for u in range(sizes[0]):  # canonical: each row's columns strictly increasing
            assert np.all(np.diff(indices[indptr[u]:indptr[u + 1]]) > 0)


def test_fold_in_leaves_the_items_row_weights_alone(low_rank_ratings):
    """partial_fit_users solves users only: the items' SGD penalties do not move."""
    X, y = low_rank_ratings
    est = GMFRegressor(n_factors=4, max_iter=2, random_state=0).fit(X[X[:, 0] != 7],
                                                                     y[X[:, 0] != 7])
    before = est._state.interactions.row_weights
    est.partial_fit_users(X[X[:, 0] == 7], y[X[:, 0] == 7])
    after = est._state.interactions.row_weights
    assert_array_equal(after[1], before[1])
    row = np.searchsorted(est.users_, 7)
    assert after[0][row] == pytest.approx(np.sum(X[:, 0] == 7))
