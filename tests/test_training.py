"""The training step: its gradient, its optimizer and the model it trains are one."""
# License: BSD 3 clause

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from skgmf import GMFClassifier, GMFRegressor
from skgmf._training import EpochLayout, batch_gradients, gmf_output

from .conftest import FAST_PARAMS


@pytest.mark.parametrize("loss", ["squared_error", "log_loss"])
@pytest.mark.parametrize("n_fields", [2, 3])
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
    assert_array_equal(y[order], y_out) and assert_array_equal(w[order], w_out)
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


def keras_reference_fit(est, X, y, n_epochs):
    """The estimator's training, written with the Keras model and Keras's Adam.

    One batch holds every rating, so every row is used at every step and lazy Adam
    must equal Keras's dense Adam exactly.
    """
    import keras
    import tensorflow as tf

    from skgmf import build_gmf
    from skgmf._random import spawn_seeds

    init_seed, _, _ = spawn_seeds(est._rng(), 3)
    users, u = np.unique(X[:, 0], return_inverse=True)
    items, i = np.unique(X[:, 1], return_inverse=True)
    model = build_gmf([len(users), len(items)], est.n_factors,
                      intercept=float(np.mean(y)), seed=init_seed)
    optimizer = keras.optimizers.Adam(learning_rate=est.learning_rate)
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
            objective = tf.reduce_mean(tf.square(target - y_pred) + est.alpha * penalty)
        variables = model.trainable_variables
        # Dense gradients: Keras's Adam updates IndexedSlices by another rule.
        grads = [tf.convert_to_tensor(g) for g in tape.gradient(objective, variables)]
        optimizer.apply_gradients(zip(grads, variables))
        kernel = output.kernel
        kernel.assign(kernel * float(np.sqrt(est.n_factors)) / tf.norm(kernel))
    return model


def test_training_is_keras_adam_on_the_keras_model(low_rank_ratings):
    X, y = low_rank_ratings
    X, y = X[:3000], y[:3000]
    est = GMFRegressor(n_factors=4, max_iter=3, batch_size=len(y), learning_rate=0.05,
                       learning_rate_schedule="constant",
                       alpha=0.05, random_state=0)
    with pytest.warns(Warning):  # max_iter: still improving
        est.fit(X, y)
    reference = keras_reference_fit(est, X, y, n_epochs=3)
    for got, expected in zip(est.model_.get_weights(), reference.get_weights()):
        assert_allclose(got, expected, rtol=2e-4, atol=2e-6)


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
    numpy_out = est._decision_idx(rows.astype(np.int32))
    assert_allclose(training, keras_out, rtol=1e-5, atol=1e-5)
    assert_allclose(numpy_out, keras_out, rtol=1e-5, atol=1e-5)


def test_verbose_prints_epoch_loss_and_seconds(low_rank_ratings, capsys):
    X, y = low_rank_ratings
    GMFRegressor(**{**FAST_PARAMS, "verbose": 1}).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    for n, line in enumerate(lines, start=1):
        epoch, loss, seconds = line.split(", ")
        assert epoch == f"Epoch {n}/2"
        assert float(loss.removeprefix("loss = ")) > 0
        assert seconds.endswith(" s") and float(seconds[:-2]) >= 0


def test_fits_of_other_latent_sizes_in_one_process_train_their_own_width(low_rank_ratings):
    # The epoch graph is shared by the fits of a process; a graph traced for one
    # embedding width must never serve another (its width may be folded in).
    X, y = low_rank_ratings
    for n_factors in (32, 4, 32, 8, 4):
        est = GMFRegressor(**{**FAST_PARAMS, "n_factors": n_factors}).fit(X, y)
        assert_allclose(np.linalg.norm(est.coef_), np.sqrt(n_factors), rtol=1e-5)
        assert est.user_factors_.shape[1] == n_factors
