"""The training step: its gradient, its optimizer and the model it trains are one."""
# License: BSD 3 clause

import re
import time

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from skgmf import GMFClassifier, GMFRegressor
from skgmf._adam import batch_gradients, gmf_output, learning_rates, train
from skgmf._layout import EpochLayout
from skgmf._params import GMFParameters, decision_function, init_parameters, to_keras

from .conftest import FAST_PARAMS


@pytest.mark.parametrize("loss", ["squared_error", "log_loss"])
@pytest.mark.parametrize("n_fields", [1, 2, 3])
def test_written_out_gradient_equals_autodiff(loss, n_fields):
    tf = pytest.importorskip("tensorflow")
    rng = np.random.default_rng(0)
    n, k = 50, 6
    vectors = [tf.constant(rng.normal(size=(n, k)), tf.float32) for _ in range(n_fields)]
    biases = [tf.constant(rng.normal(size=n), tf.float32) for _ in range(n_fields)]
    kernel = tf.constant(rng.normal(size=k), tf.float32)
    intercept = tf.constant(0.3)
    y = tf.constant(rng.integers(0, 2, n) if loss == "log_loss" else rng.normal(3, 1, n),
                    tf.float32)
    weight = tf.constant(rng.uniform(0.5, 2, n), tf.float32)
    with tf.GradientTape() as tape:
        tape.watch([vectors, biases, kernel, intercept])
        y_pred = gmf_output(vectors, biases, kernel, intercept)
        if loss == "log_loss":
            error = tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=y_pred)
        else:
            error = tf.square(y - y_pred)
        objective = tf.reduce_sum(weight * error) / n
    expected = tape.gradient(objective, [vectors, biases, kernel, intercept])
    rows, bias, kernel_grad, intercept_grad, got_error = batch_gradients(
        vectors, biases, kernel, intercept, y, weight, loss=loss, scale=1.0 / n
    )
    for f in range(n_fields):
        assert_allclose(rows[f], expected[0][f], rtol=1e-4, atol=1e-6)
        assert_allclose(bias, expected[1][f], rtol=1e-4, atol=1e-6)
    assert_allclose(kernel_grad, expected[2], rtol=1e-4, atol=1e-6)
    assert_allclose(intercept_grad, expected[3], rtol=1e-4, atol=1e-6)
    assert_allclose(got_error, error, rtol=1e-5)


@pytest.mark.parametrize("batch_size", [7, 64, 1000])
def test_epoch_layout_keeps_each_batch_and_sorts_within_it(batch_size):
    rng = np.random.default_rng(0)
    n = 500
    idx = np.column_stack([rng.integers(0, 40, n), rng.integers(0, 90, n),
                           rng.integers(0, 5, n)]).astype(np.int32)
    y, w = rng.normal(size=n), rng.uniform(size=n)
    perm = rng.permutation(n)
    ids, y_out, w_out, rows = EpochLayout([40, 90, 5]).epoch(perm, idx, y, w, batch_size)
    # Row r of the epoch is row `order[r]` of the input: recover it from y.
    order = np.argsort(y)[np.searchsorted(np.sort(y), y_out)]
    assert_array_equal(y[order], y_out)
    assert_array_equal(w[order], w_out)
    for lo in range(0, n, batch_size):
        b, hi = lo // batch_size, min(lo + batch_size, n)
        # The same rows as the permutation's batch, users in order.
        assert set(order[lo:hi]) == set(perm[lo:hi])
        assert np.all(np.diff(ids[0][lo:hi]) >= 0)
        for f in range(3):
            assert_array_equal(ids[f], idx[order, f])
            local, segments, unique, offsets = (None, *rows[f]) if f == 0 else rows[f]
            batch_ids = ids[f][lo:hi] if f == 0 else ids[f][lo:hi][local[lo:hi]]
            assert np.all(np.diff(batch_ids) >= 0)
            used = unique[offsets[b]:offsets[b + 1]]
            assert_array_equal(used, np.unique(ids[f][lo:hi]))
            assert_array_equal(used[segments[lo:hi]], batch_ids)


def test_epoch_layout_large_tables_take_the_general_sort():
    rng = np.random.default_rng(1)
    idx = rng.integers(0, 50, (300, 2)).astype(np.int32)
    perm, y = rng.permutation(300), np.arange(300.0)
    small = EpochLayout([50, 50]).epoch(perm, idx, y, y, 32)
    large = EpochLayout([70_000, 70_000]).epoch(perm, idx, y, y, 32)
    for a, b in zip(small[0] + [small[1]], large[0] + [large[1]]):
        assert_array_equal(a, b)
    for a, b in zip(small[3], large[3]):
        for x, z in zip(a, b):
            assert_array_equal(x, z)


def keras_reference_fit(model, idx, y, *, alpha, learning_rate, n_epochs):
    """Our training, written with the Keras model and Keras's Adam.

    One batch holds every rating, so every row is used at every step and lazy Adam
    must equal Keras's dense Adam exactly.
    """
    import keras
    import tensorflow as tf

    u, i = idx[:, 0], idx[:, 1]
    n_factors = model.get_layer("output").kernel.shape[0]
    optimizer = keras.optimizers.Adam(learning_rate=learning_rate)
    inputs = [tf.constant(u[:, None], tf.int32), tf.constant(i[:, None], tf.int32)]
    tables = [model.get_layer(name).embeddings
              for name in ("user_embedding", "user_bias", "item_embedding", "item_bias")]
    output = model.get_layer("output")
    target = tf.constant(y, tf.float32)
    for _ in range(n_epochs):
        with tf.GradientTape() as tape:
            y_pred = model(inputs)[:, 0]
            rows = [tf.gather(t, idx) for t, idx in zip(tables, (u, u, i, i))]
            penalty = tf.add_n([tf.reduce_sum(tf.square(r), axis=1) for r in rows])
            objective = tf.reduce_mean(tf.square(target - y_pred) + alpha * penalty)
        variables = model.trainable_variables
        # Dense gradients: Keras's Adam updates IndexedSlices by another rule.
        grads = [tf.convert_to_tensor(g) for g in tape.gradient(objective, variables)]
        optimizer.apply_gradients(zip(grads, variables))
        kernel = output.kernel
        kernel.assign(kernel * float(np.sqrt(n_factors)) / tf.norm(kernel))
    return model


def test_training_is_keras_adam_on_the_keras_model(low_rank_ratings):
    from skgmf._model import INIT_STD, get_gmf_weights

    X, y = low_rank_ratings
    X, y = X[:3000], y[:3000].astype(np.float32)
    users, u = np.unique(X[:, 0], return_inverse=True)
    items, i = np.unique(X[:, 1], return_inverse=True)
    idx = np.column_stack([u, i]).astype(np.int32)
    params = init_parameters([len(users), len(items)], 4, intercept=float(np.mean(y)),
                             std=INIT_STD, seed=0, coef="lecun_uniform")
    options = dict(alpha=0.05, learning_rate=0.05)
    rows = (idx, y, np.ones(len(y), np.float32))
    epochs = ((np.arange(len(y), dtype=np.int32), rows) for _ in range(3))
    got, loss_curve, _, converged, _ = train(
        params, epochs, loss="squared_error", batch_size=len(y), max_iter=3, tol=1e-4,
        n_iter_no_change=10, **options,
    )
    assert not converged  # still improving after max_iter
    # Keras's Adam on the Keras model of the same starting parameters.
    reference = keras_reference_fit(to_keras(params), idx, y, n_epochs=3, **options)
    expected = get_gmf_weights(reference)
    for a, b in zip([*got.factors, *got.biases, got.coef, got.intercept],
                    [*expected[0], *expected[1], expected[2], expected[3]]):
        assert_allclose(a, b, rtol=2e-4, atol=2e-6)


def test_training_takes_and_gives_numpy_parameters_and_leaves_its_inputs(monkeypatch):
    import skgmf._model
    from skgmf._adam import AdamState

    def no_keras(*args, **kwargs):
        raise AssertionError("the engine built a Keras model")

    monkeypatch.setattr(skgmf._model, "build_gmf", no_keras)
    monkeypatch.setattr(skgmf._model, "build_gmf_from_weights", no_keras)
    rng = np.random.default_rng(0)
    n, sizes = 200, [9, 11, 4]
    idx = np.column_stack([rng.integers(0, size, n) for size in sizes]).astype(np.int32)
    y = rng.normal(3, 1, n).astype(np.float32)
    rows = (idx, y, np.ones(n, np.float32))
    params = init_parameters(sizes, 5, intercept=3.0, std=0.1, seed=0, coef="lecun_uniform")
    params = params.frozen()  # read-only: the engine must write elsewhere
    saved = GMFParameters(*(tuple(map(np.copy, t)) if isinstance(t, (list, tuple))
                            else np.copy(t) for t in params))
    state = AdamState.zeros(sizes, 5)._replace(step=3.0)
    for m in state.tables:
        m[0][:] = rng.uniform(0, 1, m[0].shape)
        m[1][:] = rng.uniform(0, 1, m[1].shape)
    saved_state = [a.copy() for m in state.tables for a in m]
    out, loss_curve, scores, _, new_state = train(
        params, ((rng.permutation(n), rows) for _ in range(2)), loss="squared_error",
        alpha=0.01, learning_rate=0.01, batch_size=32, max_iter=2, tol=0.0,
        n_iter_no_change=10, state=state,
    )
    assert len(loss_curve) == 2 and scores is None
    for a, b in zip([*params.factors, *params.biases, params.coef],
                    [*saved.factors, *saved.biases, saved.coef]):
        assert_array_equal(a, b)
    assert params.intercept == saved.intercept
    for a, b in zip([a for m in state.tables for a in m], saved_state):
        assert_array_equal(a, b)
    assert isinstance(out, GMFParameters)
    assert isinstance(out.factors, tuple) and isinstance(out.biases, tuple)
    assert isinstance(out.intercept, float)
    for a, b in zip([*out.factors, *out.biases, out.coef],
                    [*params.factors, *params.biases, params.coef]):
        assert type(a) is np.ndarray and a.dtype == np.float32 and a.shape == b.shape
        assert a.flags.writeable and not np.shares_memory(a, b)
        assert not np.allclose(a, b)  # trained
    assert new_state.step == 3 + 2 * 7


def test_early_stopping_returns_the_validated_parameters_of_the_best_epoch():
    rng = np.random.default_rng(0)
    n, sizes = 100, [6, 8]
    idx = np.column_stack([rng.integers(0, size, n) for size in sizes]).astype(np.int32)
    y = rng.normal(3, 1, n).astype(np.float32)
    rows = (idx, y, np.ones(n, np.float32))
    params = init_parameters(sizes, 3, intercept=3.0, std=0.1, seed=0)
    # A validation score that peaks at epoch 2, then falls: stopped at epoch 4.
    scores = iter([0.1, 0.5, 0.4, 0.3, 0.2, 0.1])
    seen = []

    def validate(current):
        assert isinstance(current, GMFParameters)
        assert all(type(a) is np.ndarray for a in (*current.factors, current.coef))
        seen.append(GMFParameters(tuple(map(np.copy, current.factors)),
                                  tuple(map(np.copy, current.biases)),
                                  current.coef.copy(), current.intercept))
        return next(scores)

    out, loss_curve, validation_scores, _, state = train(
        params, ((rng.permutation(n), rows) for _ in range(6)), loss="squared_error",
        alpha=0.01, learning_rate=0.01, batch_size=25, max_iter=6, tol=0.0,
        n_iter_no_change=2, validate=validate,
    )
    assert len(loss_curve) == len(seen) == 4
    assert validation_scores == [0.1, 0.5, 0.4, 0.3]
    # The weights validate() scored at epoch 2, and Adam's state after it.
    for a, b in zip([*out.factors, *out.biases, out.coef],
                    [*seen[1].factors, *seen[1].biases, seen[1].coef]):
        assert_array_equal(a, b)
    assert out.intercept == seen[1].intercept
    assert state.step == 2 * 4
    assert not np.allclose(seen[1].factors[0], seen[3].factors[0])


@pytest.mark.parametrize("Estimator", [GMFRegressor, GMFClassifier])
def test_training_output_model_and_predict_agree(Estimator, low_rank_ratings):
    tf = pytest.importorskip("tensorflow")
    X, y = low_rank_ratings
    y = y if Estimator is GMFRegressor else (y >= 4).astype(int)
    est = Estimator(**FAST_PARAMS).fit(X, y)
    rows = np.column_stack([np.searchsorted(est.users_, X[:100, 0]),
                            np.searchsorted(est.items_, X[:100, 1])])
    training = gmf_output(
        [tf.constant(est.factors_[f][rows[:, f]]) for f in range(2)],
        [tf.constant(est.biases_[f][rows[:, f]]) for f in range(2)],
        tf.constant(est.coef_), tf.constant(est.intercept_, tf.float32),
    ).numpy()
    keras_out = est.model_.predict([rows[:, :1], rows[:, 1:]], verbose=0)[:, 0]
    params = GMFParameters(est.factors_, est.biases_, est.coef_, est.intercept_)
    numpy_out = decision_function(params, rows.astype(np.int32))
    assert_allclose(training, keras_out, rtol=1e-5, atol=1e-5)
    assert_allclose(numpy_out, keras_out, rtol=1e-5, atol=1e-5)


def test_verbose_prints_epoch_loss_and_seconds(low_rank_ratings, capsys):
    X, y = low_rank_ratings
    start = time.perf_counter()
    est = GMFRegressor(**{**FAST_PARAMS, "verbose": 1}).fit(X, y)
    elapsed = time.perf_counter() - start
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    printed = []
    for n, line in enumerate(lines, start=1):
        epoch, loss, seconds = line.split(", ")
        assert epoch == f"Epoch {n}/2"
        # The epoch's training loss as loss_curve_ holds it, to the printed digits.
        assert_allclose(float(loss.removeprefix("loss = ")), est.loss_curve_[n - 1],
                        atol=1e-6)
        assert re.fullmatch(r"\d+\.\d\d s", seconds), seconds
        printed.append(float(seconds[:-2]))
    # Seconds of each epoch, not a running clock: together at most the whole fit
    # (plus the rounding of each to 0.01 s).
    assert sum(printed) <= elapsed + 0.01 * len(printed)


def test_fits_of_other_latent_sizes_in_one_process_train_their_own_width(low_rank_ratings):
    # The epoch graph is shared by the fits of a process; a graph traced for one
    # embedding width must never serve another (its width may be folded in).
    X, y = low_rank_ratings
    for n_factors in (32, 4, 32, 8, 4):
        est = GMFRegressor(**{**FAST_PARAMS, "n_factors": n_factors}).fit(X, y)
        assert_allclose(np.linalg.norm(est.coef_), np.sqrt(n_factors), rtol=1e-5)
        assert est.user_factors_.shape[1] == n_factors


def lazy_adam_reference(weights, idx, y, sample_weight, perms, *, batch_size, alpha,
                        learning_rate, schedule, lazy=True):
    """:func:`skgmf._adam.train` on two fields, written out in NumPy (float64).

    Every batch takes the gradient of ``scale * sum_r s_r [(y_hat - y)^2 + alpha
    (|p_u|^2 + b_u^2 + |q_i|^2 + b_i^2)]`` at the batch's start, then Adam steps:
    with ``lazy``, only the rows the batch uses (their moments too); otherwise every
    row, as a dense Adam would. The output weights keep the norm sqrt(n_factors).
    Returns the weights and the loss curve.
    """
    beta_1, beta_2, eps = 0.9, 0.999, 1e-7
    factors, biases, kernel, intercept = weights
    params = [np.array(t, np.float64) for t in (*factors, *biases)]  # P, Q, b_u, b_i
    params += [np.array(kernel, np.float64), np.array([intercept], np.float64)]
    moments = [[np.zeros_like(p), np.zeros_like(p)] for p in params]
    n, n_factors = len(y), len(kernel)
    n_batches = -(-n // batch_size)
    step, loss_curve = 0, []
    for epoch, perm in enumerate(perms):
        rates = learning_rates(learning_rate, schedule, epoch, len(perms), n_batches)
        total = 0.0
        for b in range(n_batches):
            rows = perm[b * batch_size:(b + 1) * batch_size]
            u, i, s = idx[rows, 0], idx[rows, 1], sample_weight[rows]
            P, Q, bu, bi, w, mu = params
            pred = mu[0] + bu[u] + bi[i] + (P[u] * Q[i]) @ w
            total += np.sum(s * (pred - y[rows]) ** 2)
            d = 2 * (pred - y[rows]) * s / len(rows)
            grads = [np.zeros_like(p) for p in params]
            np.add.at(grads[0], u, d[:, None] * w * Q[i])
            np.add.at(grads[1], i, d[:, None] * w * P[u])
            np.add.at(grads[2], u, d)
            np.add.at(grads[3], i, d)
            grads[4] = (P[u] * Q[i]).T @ d
            grads[5] = np.array([d.sum()])
            # The penalty: 2 alpha scale (summed weight of the row's ratings) row.
            for t, ids in enumerate((u, i, u, i)):
                row_weight = np.bincount(ids, weights=s, minlength=len(params[t]))
                decay = 2 * alpha * row_weight / len(rows)
                grads[t] += decay.reshape(-1, *[1] * (params[t].ndim - 1)) * params[t]
            step += 1
            rate = rates[b] * np.sqrt(1 - beta_2**step) / (1 - beta_1**step)
            for t, (p, g, (m, v)) in enumerate(zip(params, grads, moments)):
                used = np.unique((u, i, u, i)[t]) if lazy and t < 4 else slice(None)
                m[used] = beta_1 * m[used] + (1 - beta_1) * g[used]
                v[used] = beta_2 * v[used] + (1 - beta_2) * g[used] ** 2
                p[used] -= rate * m[used] / (np.sqrt(v[used]) + eps)
            params[4] *= np.sqrt(n_factors) / np.linalg.norm(params[4])
        loss_curve.append(total / sample_weight.sum())
    P, Q, bu, bi, w, mu = params
    return ([P, Q], [bu, bi], w, mu[0]), loss_curve


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_lazy_adam_over_several_batches_equals_a_numpy_reference(schedule):
    # Batches of 5 of 24 ratings over 6 users and 5 items: every batch leaves some
    # rows out, where lazy Adam (the rows a batch uses, and their moments, only)
    # and a dense Adam part.
    rng = np.random.default_rng(0)
    n, n_factors, sizes = 24, 3, (6, 5)
    idx = np.column_stack([rng.integers(0, size, n) for size in sizes]).astype(np.int32)
    y = rng.normal(3, 1, n).astype(np.float32)
    sample_weight = rng.uniform(0.5, 2.0, n).astype(np.float32)
    kernel = rng.normal(size=n_factors)
    weights = (
        [rng.normal(0, 0.5, (size, n_factors)).astype(np.float32) for size in sizes],
        [rng.normal(0, 0.2, size).astype(np.float32) for size in sizes],
        (kernel * np.sqrt(n_factors) / np.linalg.norm(kernel)).astype(np.float32),
        3.0,
    )
    perms = [rng.permutation(n).astype(np.int32) for _ in range(2)]
    options = dict(batch_size=5, alpha=0.1, learning_rate=0.05, schedule=schedule)

    rows = (idx, y, sample_weight)
    params, loss_curve, _, _, state = train(
        GMFParameters(*weights), ((perm, rows) for perm in perms), loss="squared_error",
        max_iter=2, tol=0.0, n_iter_no_change=10, **options,
    )
    expected, expected_loss = lazy_adam_reference(weights, idx, y, sample_weight, perms,
                                                  **options)
    got = params
    for a, b in zip([*got.factors, *got.biases, got.coef, got.intercept],
                    [*expected[0], *expected[1], expected[2], expected[3]]):
        assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert_allclose(loss_curve, expected_loss, rtol=1e-5)
    assert state.step == 10
    # The reference can tell lazy from dense Adam on these batches.
    dense, _ = lazy_adam_reference(weights, idx, y, sample_weight, perms, lazy=False,
                                   **options)
    assert not np.allclose(got.factors[0], dense[0][0], rtol=1e-3, atol=1e-3)


def test_cosine_learning_rates_decay_from_learning_rate_to_zero():
    rates = np.concatenate([learning_rates(0.01, "cosine", epoch, 4, 10)
                            for epoch in range(4)])
    assert rates.dtype == np.float32
    assert_allclose(rates[0], 0.01)  # first batch: the full rate
    assert_allclose(rates[20], 0.005, rtol=1e-6)  # halfway: half of it
    assert_allclose(rates[10], 0.01 * (1 + np.cos(np.pi / 4)) / 2, rtol=1e-6)
    assert np.all(np.diff(rates) < 0)
    # The last batch steps at about 0.15 % of the rate: 0 comes after it.
    assert 0 < rates[-1] < 2e-3 * 0.01
    assert_allclose(rates[-1], 0.01 * (1 + np.cos(np.pi * 39 / 40)) / 2, rtol=1e-5)
    assert_allclose(learning_rates(0.01, "constant", 2, 4, 10), np.full(10, 0.01))


def test_sample_weights_equal_repeated_rows_in_one_full_batch(low_rank_ratings):
    # With every rating in one batch, a weight of 2 is the gradient of a duplicated
    # row up to a constant factor (1 / batch size), which Adam's steps do not see.
    # (Minibatches differ: see EXPECTED_FAILED_CHECKS in test_common.py.)
    X, y = low_rank_ratings
    X, y = X[:2000], y[:2000]
    counts = np.random.default_rng(0).choice([1, 2, 3], len(y), p=[0.6, 0.3, 0.1])
    repeated = np.repeat(np.arange(len(y)), counts)
    params = dict(n_factors=4, max_iter=4, batch_size=len(repeated), learning_rate=0.01,
                  random_state=0, solver="adam")
    weighted = GMFRegressor(**params).fit(X, y, sample_weight=counts)
    duplicated = GMFRegressor(**params).fit(X[repeated], y[repeated])
    assert_allclose(weighted.loss_curve_, duplicated.loss_curve_, rtol=1e-4)
    # Not closer: the float32 sums run in another order, and Adam's first steps
    # take the sign of a gradient, so a coordinate whose gradient is near 0 may
    # step the other way (about 0.002 here).
    assert_allclose(weighted.predict(X), duplicated.predict(X), atol=5e-3)
    # What the weights change is over 25 times that (0.10 here).
    unweighted = GMFRegressor(**params).fit(X, y)
    assert np.abs(unweighted.predict(X) - weighted.predict(X)).max() > 0.05


def test_fit_ignores_row_order_with_repeated_pairs(low_rank_ratings):
    # Repeated (user, item) pairs with other ratings and weights: the canonical
    # order must break the tie on y and the weight, not on the input position.
    X, y = low_rank_ratings
    X, y = X[:3000], y[:3000]
    rng = np.random.default_rng(0)
    again = rng.choice(len(y), 600)
    X_rep = np.vstack([X, X[again], X[again[:100]]])
    y_rep = np.concatenate([y, np.clip(y[again] + rng.normal(0, 1, 600), 1, 5),
                            y[again[:100]]])
    w_rep = rng.uniform(0.5, 2.0, len(y_rep))
    w_rep[-100:] = w_rep[again[:100]]  # some rows repeat entirely
    params = {**FAST_PARAMS, "batch_size": 512}
    est = GMFRegressor(**params).fit(X_rep, y_rep, sample_weight=w_rep)
    order = rng.permutation(len(y_rep))
    permuted = GMFRegressor(**params).fit(X_rep[order], y_rep[order],
                                          sample_weight=w_rep[order])
    assert_allclose(permuted.loss_curve_, est.loss_curve_, rtol=1e-6)
    assert_allclose(permuted.predict(X), est.predict(X), rtol=1e-6, atol=1e-6)


def test_popularity_sampling_draws_negatives_as_often_as_items_are_taken(recorded_epochs):
    # Positives only; GMFClassifier(negative_sampling="popularity") pairs each with
    # n_negatives items the user has not taken, drawn in proportion to how many
    # users took them: record the negatives of the epochs the estimator trains on.
    rng = np.random.default_rng(0)
    n_users, n_items, per_user = 400, 30, 3
    popularity = 1.0 / np.arange(1, n_items + 1)
    popularity /= popularity.sum()
    X = np.array([[u, i] for u in range(n_users)
                  for i in rng.choice(n_items, per_user, replace=False, p=popularity)])
    drawn = recorded_epochs
    shares = {}
    for sampling in ("popularity", "uniform"):
        drawn.clear()
        est = GMFClassifier(**FAST_PARAMS, n_negatives=4, negative_sampling=sampling)
        est.fit(X, np.ones(len(X), dtype=int))
        assert len(drawn) == 2
        negatives = np.concatenate([idx[y == 0] for idx, y, _ in drawn])
        assert len(negatives) == 2 * 4 * len(X)
        shares[sampling] = np.bincount(negatives[:, 1], minlength=n_items) / len(negatives)
    # The draw of a negative for user u: an item u has not taken, with probability
    # proportional to its count of takers.
    rows = np.column_stack([np.searchsorted(est.users_, X[:, 0]),
                            np.searchsorted(est.items_, X[:, 1])])
    taken = np.zeros((n_users, n_items), dtype=bool)
    taken[rows[:, 0], rows[:, 1]] = True
    counts = np.bincount(rows[:, 1], minlength=n_items)
    per_user_p = np.where(taken, 0.0, counts)
    per_user_p /= per_user_p.sum(axis=1, keepdims=True)
    expected = per_user_p[rows[:, 0]].mean(axis=0)  # the same 4 draws for every row
    assert_allclose(shares["popularity"], expected, atol=0.01)
    uniform = np.where(taken, 0.0, 1.0)
    uniform = (uniform / uniform.sum(axis=1, keepdims=True))[rows[:, 0]].mean(axis=0)
    assert_allclose(shares["uniform"], uniform, atol=0.01)
    assert np.abs(shares["popularity"] - uniform).max() > 0.05


def test_layout_and_engine_import_without_tensorflow():
    # The epoch layout is NumPy; the engine imports TensorFlow when it trains.
    import subprocess
    import sys

    code = ("import sys, numpy as np\n"
            "import skgmf._adam, skgmf._layout\n"
            "idx = np.array([[1, 0], [0, 1], [1, 1]], np.int32)\n"
            "skgmf._layout.EpochLayout([2, 2]).epoch(np.arange(3), idx, idx[:, 0],\n"
            "                                        idx[:, 1], 2)\n"
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True)
