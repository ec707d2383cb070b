"""The fitted GMF as one immutable set of NumPy parameters, and its one scoring formula."""
# License: BSD 3 clause

from typing import NamedTuple

import numpy as np
from sklearn.utils import gen_batches

# Rows scored at once: bounds the memory of the gathered factors. At 8192 two
# gathered tables of 128 factors stay in a 2 MB cache: 20,000 rows at 128 factors
# score in 7.8 ms against 12.8 ms at 16384 (as fast at 32 factors).
_CHUNK = 8192


class GMFParameters(NamedTuple):
    """The parameters of a GMF of one or more fields (user, item, context...).

    .. math:: \\hat r = \\mu + \\textstyle\\sum_f b_{f, x_f}
              + w^\\top \\sum_{f < g} v_{f, x_f} \\odot v_{g, x_g}

    with a single field's model :math:`\\mu + b + w^\\top v`. Scoring is
    :func:`decision_function` (rows) and :func:`score_block` (users x items); the
    Keras network (:func:`to_keras`) and every engine compute the same formula,
    tied to it by tests.
    """

    factors: tuple  # per field: (n_ids, n_factors) float32
    biases: tuple  # per field: (n_ids,) float32
    coef: np.ndarray  # w: (n_factors,) float32
    intercept: float  # mu

    @property
    def sizes(self):
        return [len(table) for table in self.factors]

    @property
    def n_factors(self):
        return len(self.coef)

    def frozen(self):
        """These parameters with read-only arrays: a fitted model's, shared by readers."""
        def ro(a):
            a = np.asarray(a)
            if a.flags.writeable:
                a = a.view()
                a.flags.writeable = False
            return a

        return GMFParameters(tuple(map(ro, self.factors)), tuple(map(ro, self.biases)),
                             ro(self.coef), float(self.intercept))

    def copy(self):
        """Writable copies, for an engine that updates them in place."""
        return GMFParameters([np.array(a) for a in self.factors],
                             [np.array(a) for a in self.biases],
                             np.array(self.coef), float(self.intercept))


def init_parameters(sizes, n_factors, *, intercept, std, seed, coef="ones"):
    """Fresh parameters: embeddings ~ N(0, std), biases 0, ``mu = intercept``.

    ``coef="ones"`` starts ``w`` at ones (plain matrix factorization, the SGD
    engine); ``"lecun_uniform"`` draws it as the seed notebook's Dense layer does,
    U(-sqrt(3 / n_factors), sqrt(3 / n_factors)).
    """
    rng = np.random.default_rng(seed)
    factors = [rng.standard_normal((size, n_factors), dtype=np.float32) * np.float32(std)
               for size in sizes]
    if coef == "ones":
        w = np.ones(n_factors, np.float32)
    else:
        limit = np.sqrt(3.0 / n_factors)
        w = rng.uniform(-limit, limit, n_factors).astype(np.float32)
    biases = [np.zeros(size, np.float32) for size in sizes]
    return GMFParameters(factors, biases, w, float(intercept))


def move_rows(table, move, n_rows, new_rows=None):
    """``table`` with row ``r`` moved to row ``move[r]`` of ``n_rows`` rows.

    The other rows are ``new_rows(n)``, in order, or zeros when None. ``table``
    itself when no row was added.
    """
    if n_rows == len(table):
        return table
    out = np.zeros((n_rows, *table.shape[1:]), dtype=table.dtype)
    out[move] = table
    if new_rows is not None:
        added = np.ones(n_rows, dtype=bool)
        added[move] = False
        out[added] = new_rows(n_rows - len(table))
    return out


def grow_parameters(params, moves, sizes, *, std, seed):
    """``params`` with every field's rows moved (see :func:`move_rows`).

    New rows get embeddings drawn from N(0, std) and zero biases, as in fit.
    """
    rng = np.random.default_rng(seed)
    k = params.n_factors
    factors = [move_rows(t, m, n, lambda r: rng.normal(0.0, std, (r, k)).astype(np.float32))
               for t, m, n in zip(params.factors, moves, sizes)]
    biases = [move_rows(t, m, n) for t, m, n in zip(params.biases, moves, sizes)]
    return GMFParameters(factors, biases, params.coef, params.intercept)


def decision_function(params, idx):
    """The model's output for rows of embedding indices; index -1 is an unknown id.

    An unknown id contributes a zero embedding and a zero bias. Scored in chunks
    of bounded memory; for many two-field rows, ``w`` and the biases are folded
    into the two tables once, so that a score is one dot product,
    ``mu + [w p_u, b_u, 1] . [q_i, 1, b_i]``.
    """
    out = np.empty(len(idx), dtype=np.float64)
    fused = None
    if len(params.factors) == 2 and len(idx) > sum(params.sizes):
        (p, q), (bu, bi) = params.factors, params.biases
        fused = (np.column_stack([p * params.coef, bu, np.ones(len(bu), np.float32)]),
                 np.column_stack([q, np.ones(len(bi), np.float32), bi]))
    for batch in gen_batches(len(idx), _CHUNK):
        rows, chunk = idx[batch], out[batch]
        if fused is None:
            chunk[:] = _decision_rows(params, rows)
            continue
        # Rows with an unknown id (usually few) take the masked formula.
        known = (rows >= 0).all(axis=1)
        if not known.all():
            chunk[~known] = _decision_rows(params, rows[~known])
            rows = rows[known]
        chunk[known] = params.intercept + np.einsum(
            "ij,ij->i", fused[0][rows[:, 0]], fused[1][rows[:, 1]]
        )
    return out


def _decision_rows(params, idx):
    out = np.full(len(idx), params.intercept, dtype=np.float64)
    vectors = []
    for f, (factors, biases) in enumerate(zip(params.factors, params.biases)):
        rows = idx[:, f]
        known = rows >= 0
        if known.all():  # the usual case: no masking passes
            out += biases[rows]
            vectors.append(factors[rows])
            continue
        rows = np.where(known, rows, 0)
        out += np.where(known, biases[rows], 0.0)
        vectors.append(factors[rows] * known[:, None])
    if len(vectors) == 1:
        return out + vectors[0] @ params.coef
    if len(vectors) == 2:
        # w^T (p * q) without the (n, k) product: one fused pass.
        return out + np.einsum("ij,ij,j->i", vectors[0], vectors[1], params.coef,
                               optimize=False)
    # Sum of pairwise products: ((sum v)^2 - sum v^2) / 2, the FM identity.
    total = np.sum(vectors, axis=0)
    interaction = (total**2 - np.sum(np.square(vectors), axis=0)) / 2
    return out + interaction @ params.coef


def linear_in(params, field, other_rows):
    """The two-field model as linear in one field's row: ``offset + v . [p, 1]``.

    For the rows ``other_rows`` of the other field, returns ``vectors``
    (``w * q``, shape (n, n_factors)) and ``offsets`` (``mu + b``), so that the
    score of row ``p`` (with bias ``b_p``) against them is
    ``offsets + vectors @ p + b_p``. The fold-in's ridge regression and
    :func:`score_block` read the model this way.
    """
    other = 1 - field
    vectors = params.factors[other][other_rows] * params.coef
    offsets = params.intercept + params.biases[other][other_rows]
    return vectors, offsets


def score_block(params, user_rows, item_rows, item_terms=None):
    """Scores of every (user, item) pair of two known row sets: (n_users, n_items).

    ``item_terms`` is :func:`linear_in` ``(params, 0, item_rows)``, computed once by
    a caller that scores many blocks of users against the same items.
    """
    vectors, offsets = item_terms or linear_in(params, 0, item_rows)
    scores = params.factors[0][user_rows] @ vectors.T
    scores += params.biases[0][user_rows, None] + offsets
    return scores


def to_keras(params):
    """The Keras GMF network (:func:`skgmf.build_gmf`) holding ``params``."""
    from ._model import build_gmf_from_weights

    return build_gmf_from_weights(params.factors, params.biases, params.coef,
                                  params.intercept)

