"""The compiled per-rating SGD kernel against its NumPy reference and the objective."""
# License: BSD 3 clause

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from skgmf import GMFClassifier, GMFRegressor
from skgmf._sgd import (
    _STRATA,
    _balanced_strata,
    _block_order,
    _cell_orders,
    _diagonal_order,
    _Grid,
    _permute,
    _phases,
    _sgd_cells,
    _sgd_epoch,
    init_tables,
    predict,
    reference_step,
    row_penalties,
    sgd_fit,
)


def _tiny_problem(seed=0, loss="squared"):
    rng = np.random.default_rng(seed)
    n_users, n_items, k, n = 5, 4, 3, 40
    users = rng.integers(0, n_users, n).astype(np.int32)
    items = rng.integers(0, n_items, n).astype(np.int32)
    if loss == "squared":
        y = rng.uniform(1, 5, n).astype(np.float32)
    else:
        y = rng.integers(0, 2, n).astype(np.float32)
    s = rng.uniform(0.5, 2.0, n).astype(np.float32)
    P = rng.normal(0, 0.3, (n_users, k)).astype(np.float32)
    Q = rng.normal(0, 0.3, (n_items, k)).astype(np.float32)
    bu = rng.normal(0, 0.1, n_users).astype(np.float32)
    bi = rng.normal(0, 0.1, n_items).astype(np.float32)
    w = rng.normal(1, 0.3, k).astype(np.float32)
    reg_user = row_penalties(users, s, n_users, 0.05, 0.5)
    reg_item = row_penalties(items, s, n_items, 0.05, 0.5)
    return users, items, y, s, (P, Q, bu, bi, w), reg_user, reg_item


@pytest.mark.parametrize("loss", ["squared", "logistic"])
@pytest.mark.parametrize("learn_w, learn_mu, unit_w", [
    (False, False, False), (True, True, False),
    (False, False, True),  # w at ones, fixed: the kernel's loops without w
    (True, False, True),  # learned from ones: the general loops
])
def test_kernel_matches_reference_step_by_step(loss, learn_w, learn_mu, unit_w):
    users, items, y, s, tables, reg_user, reg_item = _tiny_problem(loss=loss)
    if unit_w:
        tables[-1][:] = 1.0
    kernel = [t.copy() for t in tables]
    ref = [t.copy() for t in tables]
    mu_kernel = np.array([0.3 if loss == "logistic" else 3.0], np.float32)
    mu_ref = float(mu_kernel[0])
    lr, code = 0.05, 0 if loss == "squared" else 1
    order = np.random.default_rng(1).permutation(len(y)).astype(np.int32)
    for j in order:
        _sgd_epoch(users, items, y, s, np.array([j], np.int32), *kernel, mu_kernel, lr,
                   reg_user, reg_item, learn_w, learn_mu, code)
        mu_ref = reference_step(users[j], items[j], float(y[j]), float(s[j]), *ref, mu_ref, lr,
                                reg_user, reg_item, learn_w=learn_w, learn_mu=learn_mu,
                                loss=loss)
        for a, b in zip(kernel, ref):
            assert_allclose(a, b, rtol=1e-4, atol=1e-5)
        assert_allclose(mu_kernel[0], mu_ref, rtol=1e-5)
    # The same steps as one epoch give the same tables.
    epoch = [t.copy() for t in tables]
    mu_epoch = np.array([0.3 if loss == "logistic" else 3.0], np.float32)
    _sgd_epoch(users, items, y, s, order, *epoch, mu_epoch, lr, reg_user, reg_item,
               learn_w, learn_mu, code)
    for a, b in zip(epoch, ref):
        assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_reference_step_descends_the_objective():
    # A small step along the reference update lowers the per-rating objective.
    users, items, y, s, tables, reg_user, reg_item = _tiny_problem()
    P, Q, bu, bi, w = (t.astype(np.float64) for t in tables)
    u, i, r, sw = users[0], items[0], float(y[0]), float(s[0])

    def objective(P, Q, bu, bi):
        pred = 3.0 + bu[u] + bi[i] + np.sum(w * P[u] * Q[i])
        return sw * ((r - pred) ** 2 + reg_user[u] * (P[u] @ P[u] + bu[u] ** 2)
                     + reg_item[i] * (Q[i] @ Q[i] + bi[i] ** 2))

    before = objective(P, Q, bu, bi)
    reference_step(u, i, r, sw, P, Q, bu, bi, w, 3.0, 1e-3, reg_user, reg_item)
    assert objective(P, Q, bu, bi) < before


def test_loss_decreases_on_low_rank_data(low_rank_ratings):
    X, y = low_rank_ratings
    users, items = X[:, 0], X[:, 1]
    P, Q, bu, bi, w = init_tables(users.max() + 1, items.max() + 1, 8, seed=0)
    mu, losses = sgd_fit(users, items, y, P, Q, bu, bi, w, float(y.mean()), n_epochs=15,
                         lr=0.03, lr_decay=0.1, alpha=0.01, seed=0)
    assert np.all(np.diff(losses) < 0)
    assert losses[-1] < 0.5 * losses[0]
    # Better than the global mean, and near the planted noise level (0.3).
    rmse = np.sqrt(np.mean((predict(users, items, P, Q, bu, bi, w, mu) - y) ** 2))
    assert rmse < 0.5 < np.std(y)


@pytest.mark.parametrize("shuffle", ["blocks", "epoch", "once"])
def test_same_seed_same_tables(low_rank_ratings, shuffle):
    X, y = low_rank_ratings

    def fit(seed):
        tables = init_tables(300, 200, 4, seed=0)
        mu, _ = sgd_fit(X[:, 0], X[:, 1], y, *tables, 3.5, n_epochs=3, seed=seed,
                        shuffle=shuffle, learn_mu=True)
        return [*tables, mu]

    first, again, other = fit(0), fit(0), fit(1)
    for a, b in zip(first, again):
        assert_array_equal(a, b)
    assert not np.array_equal(first[0], other[0])


def test_zero_weight_leaves_rows_untouched(low_rank_ratings):
    X, y = low_rank_ratings
    users, items = X[:, 0], X[:, 1]
    weights = np.ones(len(y))
    weights[users == 7] = 0
    weights[items == 11] = 0
    P, Q, bu, bi, w = init_tables(300, 200, 4, seed=0)
    P0, Q0 = P.copy(), Q.copy()
    sgd_fit(users, items, y, P, Q, bu, bi, w, 3.5, weights=weights, n_epochs=2, beta=1.0)
    assert_array_equal(P[7], P0[7])
    assert_array_equal(Q[11], Q0[11])
    assert bu[7] == 0 and bi[11] == 0
    assert not np.array_equal(P[8], P0[8])


def test_learned_w_keeps_its_norm(low_rank_ratings):
    X, y = low_rank_ratings
    P, Q, bu, bi, w = init_tables(300, 200, 6, seed=0)
    sgd_fit(X[:, 0], X[:, 1], y, P, Q, bu, bi, w, 3.5, n_epochs=2, lr=0.001, learn_w=True)
    assert_allclose(np.linalg.norm(w), np.sqrt(6), rtol=1e-5)
    assert not np.allclose(w, 1)


def test_orders_are_permutations():
    state = np.array([42], np.uint64)
    first = _permute(1000, state)
    assert_array_equal(np.sort(first), np.arange(1000))
    assert not np.array_equal(first, _permute(1000, state))
    blocks = _block_order(1000, 64, state)
    assert_array_equal(np.sort(blocks), np.arange(1000))
    # Runs of 64 consecutive indices.
    assert np.all(np.diff(blocks[:64]) == 1)


def test_row_penalties():
    rows = np.array([0, 0, 1, 1, 1, 1])
    reg = row_penalties(rows, np.ones(6), 3, alpha=0.1, beta=2.0)
    assert_allclose(reg, [0.1 + 1.0, 0.1 + 0.5, 0.1])
    assert row_penalties(rows, np.ones(6), 3, alpha=0.1).dtype == np.float32


def test_bad_inputs_raise(low_rank_ratings):
    X, y = low_rank_ratings
    P, Q, bu, bi, w = init_tables(300, 200, 4, seed=0)
    with pytest.raises(ValueError, match="float32"):
        sgd_fit(X[:, 0], X[:, 1], y, P.astype(np.float64), Q, bu, bi, w, 3.5)
    with pytest.raises(ValueError, match="shuffle"):
        sgd_fit(X[:, 0], X[:, 1], y, P, Q, bu, bi, w, 3.5, shuffle="sometimes")


def test_cells_run_the_kernel_on_their_slices_of_the_order():
    users, items, y, s, tables, reg_user, reg_item = _tiny_problem()
    tables[-1][:] = 1.0
    bounds = np.array([0, 7, 7, 25, 40])  # one empty cell
    order = np.random.default_rng(2).permutation(len(y)).astype(np.int32)
    cells = np.array([2, 0, 3, 1])
    one_pass = [t.copy() for t in tables]
    mu = np.array([3.0], np.float32)
    total = _sgd_epoch(users, items, y, s, np.concatenate(
        [order[bounds[c]:bounds[c + 1]] for c in cells]), *one_pass, mu, 0.05,
        reg_user, reg_item, False, False, 0)
    by_cells = [t.copy() for t in tables]
    totals = np.zeros(4)
    _sgd_cells(users, items, y, s, cells, order, bounds, totals, *by_cells, mu, 0.05,
               reg_user, reg_item, 0)
    for a, b in zip(by_cells, one_pass):
        assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert_allclose(totals.sum(), total, rtol=1e-6)
    assert totals[1] == 0


def test_strata_hold_about_equal_counts():
    counts = np.random.default_rng(0).zipf(1.5, 2000).clip(max=500).astype(float)
    strata = _balanced_strata(counts, 4, np.random.default_rng(1))
    sums = np.bincount(strata, weights=counts, minlength=4)
    assert sums.max() - sums.min() <= counts.max()
    assert_array_equal(np.bincount(strata, minlength=4), [500] * 4)


def test_rows_go_to_their_cells_once_and_shuffled():
    rng = np.random.default_rng(0)
    n_users, n_items, n = 30, 20, 3000
    idx = np.column_stack([rng.integers(0, n_users, n), rng.integers(0, n_items, n)])
    y = rng.uniform(1, 5, n)
    weight = rng.uniform(0.5, 2.0, n)
    counts = [np.bincount(idx[:, f], weights=weight, minlength=size)
              for f, size in enumerate((n_users, n_items))]
    grid = _Grid(counts, rng)
    state = np.array([7], np.uint64)
    users, items, y_out, w_out, bounds, user_weight, item_weight = grid.layout(
        (idx, y, weight), 2.0, state)
    # Every working row is a table row's rank, strata sorted in working order.
    for f in (0, 1):
        assert_array_equal(grid.rows[f][grid.rank[f]], np.arange(len(counts[f])))
        assert np.all(np.diff(grid.strata[f]) >= 0)
    assert bounds[0] == 0 and bounds[-1] == n and np.all(np.diff(bounds) >= 0)
    for c in range(_STRATA * _STRATA):
        rows = slice(bounds[c], bounds[c + 1])
        assert np.all(grid.strata[0][users[rows]] == c // _STRATA)
        assert np.all(grid.strata[1][items[rows]] == c % _STRATA)
    # The same rows (as a multiset), weights over the scale, summed per row.
    original = np.column_stack([grid.rank[0][idx[:, 0]], grid.rank[1][idx[:, 1]], y, weight / 2])
    laid_out = np.column_stack([users, items, y_out, w_out]).astype(np.float64)
    key = np.lexsort(original.T[::-1])
    assert_allclose(laid_out[np.lexsort(laid_out.T[::-1])], original[key], rtol=1e-6)
    assert_allclose(user_weight, grid.rows_of(0, counts[0]) / 2, rtol=1e-5)
    assert_allclose(item_weight, grid.rows_of(1, counts[1]) / 2, rtol=1e-5)
    # Shuffled within cells: not in the input's order, and differently next time.
    assert not np.all(np.diff(users[bounds[0]:bounds[1]]) >= 0)
    again = grid.layout((idx, y, weight), 2.0, state)[0]
    assert not np.array_equal(again, users)


def test_cell_orders_and_diagonals_are_permutations():
    state = np.array([3], np.uint64)
    bounds = np.array([0, 5000, 5000, 7100])
    order = _cell_orders(bounds, 1024, state)
    for c in range(3):
        part = order[bounds[c]:bounds[c + 1]]
        assert_array_equal(np.sort(part), np.arange(bounds[c], bounds[c + 1]))
    for _ in range(10):
        shifts = _diagonal_order(state)
        assert_array_equal(np.sort(shifts), np.arange(_STRATA))
        parity = shifts % 2
        assert np.count_nonzero(np.diff(parity)) == 1  # evens together, odds together


def test_phases_keep_threads_apart_and_each_row_in_order():
    """Every parity-grouped order of the diagonals, on 1, 2 and 4 threads: threads
    of a phase share no user or item stratum, every cell runs once, and the cells
    of each stratum run in the order one thread runs them."""
    from itertools import permutations

    def stratum_orders(phases):
        orders = {}
        for shares in phases:
            for cells in shares:
                for c in cells:
                    orders.setdefault(("user", c // _STRATA), []).append(c)
                    orders.setdefault(("item", c % _STRATA), []).append(c)
        return orders

    n_orders = 0
    for shifts in map(np.array, permutations(range(_STRATA))):
        if np.count_nonzero(np.diff(shifts % 2)) != 1:
            continue  # not an order _diagonal_order gives
        n_orders += 1
        serial = stratum_orders(_phases(shifts, 1))
        for n_threads in (2, 4):
            phases = _phases(shifts, n_threads)
            assert len(phases) == (2 if n_threads == 2 else _STRATA)
            for shares in phases:
                assert len(shares) == n_threads
                users = [{c // _STRATA for c in cells} for cells in shares]
                items = [{c % _STRATA for c in cells} for cells in shares]
                for a in range(n_threads):
                    for b in range(a + 1, n_threads):
                        assert not users[a] & users[b] and not items[a] & items[b]
            cells = np.concatenate([c for shares in phases for c in shares])
            assert_array_equal(np.sort(cells), np.arange(_STRATA * _STRATA))
            assert stratum_orders(phases) == serial
    assert n_orders == 8


@pytest.mark.parametrize("Estimator, early_stopping", [
    (GMFRegressor, False), (GMFRegressor, True), (GMFClassifier, False),
])
def test_same_result_on_any_number_of_threads(low_rank_ratings, monkeypatch, Estimator,
                                              early_stopping):
    import skgmf._sgd

    X, y = low_rank_ratings
    monkeypatch.setattr(skgmf._sgd, "_PARALLEL_MIN_RATINGS", 0)
    params = dict(n_factors=8, max_iter=3, early_stopping=early_stopping, random_state=0)
    if Estimator is GMFClassifier:  # fresh negatives every epoch
        X, y, params = X[y >= 3], np.ones(int(np.sum(y >= 3))), dict(params, n_negatives=2)
    cut = 2 * len(y) // 3
    fitted = []
    for n_threads in (1, 2, 3, 4):
        monkeypatch.setattr(skgmf._sgd, "effective_n_threads", lambda: n_threads)
        est = Estimator(**params).fit(X[:cut], y[:cut])
        fitted.append(est.partial_fit(X[cut:], y[cut:]))
    for other in fitted[1:]:
        assert other.loss_curve_ == fitted[0].loss_curve_
        for a, b in zip(fitted[0].factors_ + fitted[0].biases_, other.factors_ + other.biases_):
            assert_allclose(a, b, rtol=1e-6, atol=1e-7)
