"""The training step: its gradient, its optimizer and the model it trains are one."""
# License: BSD 3 clause

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from skgmf import GMFClassifier, GMFRegressor
from skgmf._training import batch_gradients, batch_order, batch_rows, gmf_output

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


def test_batch_rows_sum_repeated_ids_in_order():
    ids = np.array([3, 1, 3, 0, 2, 2, 2, 5], dtype=np.int32)
    order, segments, unique, offsets = batch_rows(ids, 6, batch_size=5)
    # Batch 0 is [3, 1, 3, 0, 2], batch 1 is [2, 2, 5].
    assert_array_equal(unique, [0, 1, 2, 3, 2, 5])
    assert_array_equal(offsets, [0, 4, 6])
    assert_array_equal(ids[:5][order[:5]], [0, 1, 2, 3, 3])
    assert_array_equal(segments, [0, 1, 2, 3, 3, 0, 0, 1])
    # A table of 70,000 rows takes the general (not 16-bit) sort: the same answer.
    big = batch_rows(ids, 70_000, batch_size=5)
    for a, b in zip(big, (order, segments, unique, offsets)):
        assert_array_equal(a, b)


def test_batch_order_sorts_within_batches_only():
    ids = np.array([3, 1, 3, 0, 2, 2, 9, 5], dtype=np.int32)
    order = batch_order(ids, 10, batch_size=5)
    assert_array_equal(ids[order], [0, 1, 2, 3, 3, 2, 5, 9])
    assert sorted(order[:5]) == [0, 1, 2, 3, 4] and sorted(order[5:]) == [5, 6, 7]


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
