"""The Keras GMF architecture (shapes, layers, seeds; no training)."""
# License: BSD 3 clause

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from skgmf import build_gmf
from skgmf._model import get_gmf_weights


def test_two_fields_build_the_seed_notebook_layers():
    model = build_gmf([5, 7], 8, intercept=3.5, seed=0)
    assert [inp.name for inp in model.inputs] == ["user", "item"]
    assert model.get_layer("user_embedding").embeddings.shape == (5, 8)
    assert model.get_layer("item_embedding").embeddings.shape == (7, 8)
    assert model.get_layer("user_x_item").__class__.__name__ == "Multiply"
    kernel, bias = model.get_layer("output").get_weights()
    assert kernel.shape == (8, 1)
    assert_allclose(bias, [3.5])
    # LeCun uniform: limit sqrt(3 / fan_in).
    assert np.abs(kernel).max() <= np.sqrt(3 / 8)
    out = model.predict([np.array([[0], [4]]), np.array([[6], [1]])], verbose=0)
    assert out.shape == (2, 1)


def test_output_is_the_biased_gmf_formula():
    model = build_gmf([3, 4], 2, intercept=1.0, seed=1)
    model.get_layer("user_bias").set_weights([np.array([[0.5], [0.0], [0.0]])])
    P = model.get_layer("user_embedding").get_weights()[0]
    Q = model.get_layer("item_embedding").get_weights()[0]
    w = model.get_layer("output").get_weights()[0][:, 0]
    out = model.predict([np.array([[0]]), np.array([[2]])], verbose=0)[0, 0]
    assert_allclose(out, 1.0 + 0.5 + (P[0] * Q[2]) @ w, rtol=1e-5)


def test_same_seed_gives_same_initial_weights():
    a, b = build_gmf([5, 7], 4, seed=3), build_gmf([5, 7], 4, seed=3)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        assert_array_equal(wa, wb)
    c = build_gmf([5, 7], 4, seed=4)
    assert not np.array_equal(a.get_weights()[0], c.get_weights()[0])


def test_context_fields_add_pairwise_products():
    model = build_gmf([5, 7, 3], 4)
    names = {layer.name for layer in model.layers}
    assert {"field_2", "user_x_item", "user_x_field_2", "item_x_field_2"} <= names


def test_single_field_model_is_bias_plus_weighted_factors():
    # One field: mu + b_u + w^T p_u, in the Keras model, in training's formula and
    # in the NumPy scoring, on the same weights.
    tf = pytest.importorskip("tensorflow")
    from skgmf._adam import gmf_output
    from skgmf._params import GMFParameters, decision_function

    rng = np.random.default_rng(0)
    model = build_gmf([5], 4, intercept=0.7, seed=2)
    assert not any(layer.__class__.__name__ == "Multiply" for layer in model.layers)
    model.get_layer("user_bias").set_weights([rng.normal(size=(5, 1))])
    factors, biases, coef, intercept = get_gmf_weights(model)
    rows = np.array([0, 3, 1, 4, 4, 2])
    keras_out = model.predict([rows[:, None]], verbose=0)[:, 0]
    assert_allclose(keras_out, intercept + biases[0][rows] + factors[0][rows] @ coef,
                    rtol=1e-5, atol=1e-6)
    training = gmf_output([tf.constant(factors[0][rows])], [tf.constant(biases[0][rows])],
                          tf.constant(coef), tf.constant(intercept, tf.float32))
    assert_allclose(training.numpy(), keras_out, rtol=1e-5, atol=1e-6)
    params = GMFParameters(factors, biases, coef, intercept)  # the NumPy scoring
    assert_allclose(decision_function(params, rows[:, None]), keras_out, rtol=1e-5,
                    atol=1e-6)
