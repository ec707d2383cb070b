"""Keras architecture of (biased) Generalized Matrix Factorization."""
# License: BSD 3 clause

from itertools import combinations

import numpy as np

from ._backend import import_keras
from ._columns import FIELD_NAMES

# Standard deviation of the initial embeddings; the value Surprise's SVD uses.
INIT_STD = 0.1

# The layer holding w and mu; each field's tables are "<field>_embedding" and
# "<field>_bias" (see build_gmf).
OUTPUT = "output"


def field_name(field):
    """Name of the model input (and layer prefix) of column ``field`` of X."""
    return FIELD_NAMES[field] if field < len(FIELD_NAMES) else f"field_{field}"


def _table_layers(model, field):
    """The embedding and bias layers of ``field``."""
    name = field_name(field)
    return model.get_layer(f"{name}_embedding"), model.get_layer(f"{name}_bias")


def build_gmf(field_sizes, n_factors, *, intercept=0.0, seed=0):
    """Build the GMF network of He et al. (2017) with biases, uncompiled.

    For two fields (user ``u``, item ``i``) the model is eq. (2) of the NCF paper
    with an identity output and added biases:

    .. math:: \\hat r_{ui} = \\mu + b_u + b_i + w^\\top (p_u \\odot q_i)

    Each further field joins through the pairwise element-wise products of all
    fields, summed (the factorization-machine interaction, with the GMF output
    weights). A single field gives :math:`\\mu + b_u + w^\\top p_u`.

    Parameters
    ----------
    field_sizes : sequence of int
        Number of distinct ids in each field (user, item, then context fields).
    n_factors : int
        Size of every embedding (the latent size).
    intercept : float, default=0.0
        Initial value of the global bias :math:`\\mu` (the mean rating is a good one).
    seed : int, default=0
        Seed of the initializers; the layers draw from ``seed``, ``seed + 1``, ...

    Returns
    -------
    model : keras.Model
        Functional model with one ``int32`` input of shape ``(1,)`` per field,
        named ``"user"``, ``"item"``, ``"field_2"``, ...; its output ``"rating"``
        has shape ``(batch, 1)``. Layers ``"<field>_embedding"`` and
        ``"<field>_bias"`` hold the tables, ``"output"`` the weights ``w`` and ``mu``.
    """
    keras = import_keras()
    from keras import layers

    inputs, factors, biases = [], [], []
    for field, size in enumerate(field_sizes):
        name = field_name(field)
        inp = keras.Input(shape=(1,), dtype="int32", name=name)
        embedding = layers.Embedding(
            size,
            n_factors,
            embeddings_initializer=keras.initializers.RandomNormal(
                stddev=INIT_STD, seed=seed + field
            ),
            name=f"{name}_embedding",
        )(inp)
        bias = layers.Embedding(
            size, 1, embeddings_initializer="zeros", name=f"{name}_bias"
        )(inp)
        inputs.append(inp)
        factors.append(layers.Flatten(name=f"{name}_latent")(embedding))
        biases.append(layers.Flatten(name=f"{name}_bias_flat")(bias))

    if len(factors) == 1:
        interaction = factors[0]
    else:
        products = [
            layers.Multiply(name=f"{field_name(f)}_x_{field_name(g)}")(
                [factors[f], factors[g]]
            )
            for f, g in combinations(range(len(factors)), 2)
        ]
        interaction = (
            products[0] if len(products) == 1 else layers.Add(name="interactions")(products)
        )
    # The seed notebook's output layer: Dense(1) with LeCun-uniform weights.
    output = layers.Dense(
        1,
        kernel_initializer=keras.initializers.LecunUniform(seed=seed + len(field_sizes)),
        bias_initializer=keras.initializers.Constant(float(intercept)),
        name=OUTPUT,
    )(interaction)
    rating = layers.Add(name="rating")([output, *biases])
    return keras.Model(inputs=inputs, outputs=rating, name="gmf")


def get_gmf_weights(model):
    """The tables of a :func:`build_gmf` model as NumPy arrays.

    Returns ``(factors, biases, coef, intercept)``: a list of embedding tables of
    shape ``(n_ids, n_factors)`` and one of bias vectors of shape ``(n_ids,)``, one
    per field, the output weights of shape ``(n_factors,)`` and the global bias.
    """
    layers = [_table_layers(model, f) for f in range(len(model.inputs))]
    factors = [embedding.get_weights()[0] for embedding, _ in layers]
    biases = [bias.get_weights()[0][:, 0] for _, bias in layers]
    kernel, bias = model.get_layer(OUTPUT).get_weights()
    return factors, biases, kernel[:, 0], float(bias[0])


def build_gmf_from_weights(factors, biases, coef, intercept):
    """The :func:`build_gmf` model holding these tables (see :func:`get_gmf_weights`)."""
    model = build_gmf([len(table) for table in factors], len(coef))
    for f, (table, bias) in enumerate(zip(factors, biases)):
        embedding, bias_layer = _table_layers(model, f)
        embedding.set_weights([table])
        bias_layer.set_weights([np.reshape(bias, (-1, 1))])
    model.get_layer(OUTPUT).set_weights(
        [np.reshape(coef, (-1, 1)), np.array([intercept], dtype=np.float32)]
    )
    return model
