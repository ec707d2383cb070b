"""Minibatch Adam training of GMF parameters: one compiled TensorFlow call per epoch."""
# License: BSD 3 clause

# A step costs what its arithmetic costs: the gradient is written out (GMF's is a
# few products; batch_gradients is checked against TensorFlow's autodiff of the
# same objective in the tests), the gradients of repeated ids are summed by sorted
# segment sums whose order NumPy prepares (skgmf._layout), and Adam updates only
# the rows a batch uses (lazy Adam), so that a step does not grow with the
# catalogue. NumPy parameters in, NumPy parameters out: no Keras model.

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np

from ._backend import import_keras
from ._layout import EpochLayout, prepare_epoch
from ._params import GMFParameters
from ._stopping import EpochMonitor

# Adam's defaults in keras.optimizers.Adam (Kingma and Ba, 2015).
_BETA_1, _BETA_2, _EPSILON = 0.9, 0.999, 1e-7

LOSSES = ("squared_error", "log_loss")

_EPOCH_FUNCTIONS = {}
_TRACE_LOCK = threading.Lock()


class AdamState(NamedTuple):
    """Adam's moments and step count: what training needs to continue where it stopped.

    NumPy arrays, so that the estimator can move rows when new ids arrive.

    Attributes
    ----------
    tables : list of tuple of ndarray
        Per field, ``(factor_moments, bias_moments)`` of shapes
        ``(n_ids, 2, n_factors)`` and ``(n_ids, 2)``: the first and second moments
        of every row, side by side.
    dense : tuple of ndarray
        ``(kernel_moments, intercept_moments)`` of shapes ``(2, n_factors)`` and ``(2,)``.
    step : float
        Steps taken, for the bias correction.
    """

    tables: list
    dense: tuple
    step: float

    @classmethod
    def zeros(cls, sizes, n_factors):
        """The state before the first step: zero moments for tables of ``sizes`` rows."""
        tables = [(np.zeros((size, 2, n_factors), np.float32), np.zeros((size, 2), np.float32))
                  for size in sizes]
        dense = (np.zeros((2, n_factors), np.float32), np.zeros(2, np.float32))
        return cls(tables, dense, 0.0)


def _tf():
    import_keras()
    import tensorflow as tf

    return tf


def _interaction(vectors):
    """The fields' interaction and, per field, the factor it is multiplied by.

    Eq. (2) of the NCF paper for two fields, summed over all pairs of fields
    for more with the factorization-machine identity ((sum v)^2 - sum v^2) / 2, and
    the one field's vector itself for one field; the partner of field f is
    d interaction / d v_f: the other field's vector, the sum of the others, or ones.
    """
    tf = _tf()
    if len(vectors) == 1:  # mu + b + w^T v, as build_gmf computes it
        return vectors[0], [tf.ones_like(vectors[0])]
    if len(vectors) == 2:
        return vectors[0] * vectors[1], [vectors[1], vectors[0]]
    total = tf.add_n(vectors)
    interaction = (tf.square(total) - tf.add_n([tf.square(v) for v in vectors])) / 2
    return interaction, [total - v for v in vectors]


def gmf_output(vectors, biases, kernel, intercept, interaction=None):
    """The GMF output of gathered rows: :func:`skgmf._params.decision_function`'s formula.

    ``vectors`` and ``biases`` hold one ``(batch, n_factors)`` and one ``(batch,)``
    tensor per field; ``kernel`` is ``w`` of shape ``(n_factors,)``.
    ``interaction``, when the caller has it already, is ``_interaction(vectors)[0]``.
    """
    tf = _tf()
    if interaction is None:
        interaction = _interaction(vectors)[0]
    return tf.linalg.matvec(interaction, kernel) + intercept + tf.add_n(biases)


def batch_gradients(vectors, biases, kernel, intercept, y, weight, *, loss, scale):
    """Gradients of the data term of a batch's objective, row by row.

    The objective is ``scale * sum_r weight_r * loss(y_r, y_pred_r)``; the penalty
    is added per used row by the caller (its gradient is ``2 alpha`` times the
    row's summed weight times the row, no work per rating).

    Returns
    -------
    row_grads : list of (batch, n_factors) tensors
        d objective / d vectors[f], per rating.
    bias_grad : (batch,) tensor
        d objective / d biases[f] (the same for every field).
    kernel_grad, intercept_grad : tensors
    error : (batch,) tensor
        The unscaled, unweighted loss of every rating.
    """
    tf = _tf()
    interaction, partners = _interaction(vectors)
    y_pred = gmf_output(vectors, biases, kernel, intercept, interaction)
    if loss == "log_loss":
        error = tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=y_pred)
        d_pred = tf.sigmoid(y_pred) - y
    else:
        residual = y_pred - y
        error = tf.square(residual)
        d_pred = 2.0 * residual
    d_pred = d_pred * weight * scale
    scaled_kernel = d_pred[:, None] * kernel  # d objective / d interaction
    row_grads = [scaled_kernel * partner for partner in partners]
    kernel_grad = tf.linalg.matvec(interaction, d_pred, transpose_a=True)
    return row_grads, d_pred, kernel_grad, tf.reduce_sum(d_pred), error


def _epoch_function(loss, n_fields, n_factors):
    """The training epoch as a ``tf.function``, shared by the fits of a process.

    One function per loss, number of fields and latent size. The tables are
    ``tf.Variable`` arguments (updated in place) rather than captured variables, so
    later fits (cross-validation, grid search) reuse its graph: it is traced for
    the first fit's sizes, then once more with every size unknown. The latent size
    is part of the key because TensorFlow matches variable arguments by handle, not
    by shape, and a graph may have folded the embedding width into constants.
    ``loss`` is ``"squared_error"`` (ratings) or ``"log_loss"`` (binary labels, the
    model's output read as a logit).
    """
    key = (loss, n_fields, n_factors)
    with _TRACE_LOCK:
        if key not in _EPOCH_FUNCTIONS:
            _EPOCH_FUNCTIONS[key] = _make_epoch_function(loss, n_fields)
        return _EPOCH_FUNCTIONS[key]


def _make_epoch_function(loss, n_fields):
    tf = _tf()

    def adam(p, grad, m, v, rate):
        # keras.optimizers.Adam's update, bias correction folded into the rate.
        m = m + (grad - m) * (1.0 - _BETA_1)
        v = v + (tf.square(grad) - v) * (1.0 - _BETA_2)
        return p - rate * m / (tf.sqrt(v) + _EPSILON), m, v

    def fix_norm(kernel):
        # Project the output weights back onto the sphere of radius sqrt(n_factors).
        return kernel * tf.sqrt(tf.cast(tf.size(kernel), kernel.dtype)) / tf.norm(kernel)

    def lazy_adam(table, moments, used, grad, decay, rate):
        # Read and write only the used rows of a table and of its two moments
        # (stored side by side in one (n, 2, ...) variable), in place: the cost of
        # a step does not depend on the size of the table. decay is the penalty's
        # gradient per unit of the row.
        where = used[:, None]
        p = tf.gather(table, used)
        if len(p.shape) == 2:
            decay = decay[:, None]
        m_v = tf.gather(moments, used)
        p, m, v = adam(p, grad + decay * p, m_v[:, 0], m_v[:, 1], rate)
        return [table.scatter_nd_update(where, p),
                moments.scatter_nd_update(where, tf.stack([m, v], axis=1))]

    # autograph=False and an explicit while loop: tracing is the one-off cost of
    # the first fit in every process (every GridSearchCV worker), so keep it small.
    # The tables are tf.Variables (updated in place), which an input signature
    # cannot describe: reduce_retracing traces again once, for the second set of
    # table sizes, with every size unknown; later fits reuse that graph.
    @tf.function(reduce_retracing=True, autograph=False)
    def run_epoch(ids, y, weight, rows, tables, dense, step, learning_rates, alpha,
                  batch_size):
        # ids: per field, the epoch's embedding rows in training order (each batch
        # sorted by the first field). rows: per field, see EpochLayout.epoch.
        # tables: per field the variables (factors, biases, factor moments, bias
        # moments). dense: (kernel, intercept, kernel moments, intercept moments).
        # learning_rates: one per batch (the schedule).
        n = tf.shape(y)[0]
        n_batches = (n + batch_size - 1) // batch_size

        def one_batch(b, total, step, dense):
            lo = b * batch_size
            hi = tf.minimum(lo + batch_size, n)
            scale = 1.0 / tf.cast(hi - lo, y.dtype)
            batch_w = weight[lo:hi]
            batch_ids = [ids[f][lo:hi] for f in range(n_fields)]
            vectors = [tf.gather(tables[f][0], batch_ids[f]) for f in range(n_fields)]
            biases = [tf.gather(tables[f][1], batch_ids[f]) for f in range(n_fields)]
            kernel, intercept = dense[0], dense[1]
            row_grads, bias_grad, kernel_grad, intercept_grad, error = batch_gradients(
                vectors, biases, kernel, intercept, y[lo:hi], batch_w,
                loss=loss, scale=scale,
            )
            step += 1.0
            rate = learning_rates[b] * tf.sqrt(1.0 - _BETA_2**step) / (1.0 - _BETA_1**step)
            updates = []
            for f in range(n_fields):
                segments, unique, offsets = rows[f][-3:]
                used = unique[offsets[b] : offsets[b + 1]]
                seg = segments[lo:hi]
                g_rows, g_bias, w_rows = row_grads[f], bias_grad, batch_w
                if f > 0:  # only the first field's rows are in id order already
                    o = rows[f][0][lo:hi]
                    g_rows, g_bias, w_rows = (
                        tf.gather(g_rows, o), tf.gather(g_bias, o), tf.gather(w_rows, o)
                    )
                # The penalty alpha * weight * ||row||^2 of every rating, summed
                # per row: 2 alpha (sum of the row's weights) row.
                decay = 2.0 * alpha * scale * tf.math.segment_sum(w_rows, seg)
                updates += lazy_adam(
                    tables[f][0], tables[f][2], used, tf.math.segment_sum(g_rows, seg),
                    decay, rate,
                )
                updates += lazy_adam(
                    tables[f][1], tables[f][3], used, tf.math.segment_sum(g_bias, seg),
                    decay, rate,
                )
            kernel, m_k, v_k = adam(kernel, kernel_grad, dense[2][0], dense[2][1], rate)
            intercept, m_i, v_i = adam(intercept, intercept_grad, dense[3][0], dense[3][1],
                                       rate)
            dense = (fix_norm(kernel), intercept, tf.stack([m_k, v_k]), tf.stack([m_i, v_i]))
            with tf.control_dependencies(updates):  # the next batch reads the tables
                return b + 1, total + tf.reduce_sum(batch_w * error), step, dense

        _, total, step, dense = tf.while_loop(
            lambda b, *_: b < n_batches,
            one_batch,
            (tf.constant(0), tf.constant(0.0, dtype=y.dtype), step, dense),
        )
        return dense, step, total / tf.reduce_sum(weight)

    return run_epoch


def learning_rates(learning_rate, schedule, epoch, max_iter, n_batches):
    """Step sizes of one epoch's batches under ``schedule``.

    ``"constant"`` keeps ``learning_rate``; ``"cosine"`` decays it along half a
    cosine from ``learning_rate`` at the first batch to 0 after the last batch of
    epoch ``max_iter`` (Loshchilov and Hutter, 2017, without restarts).
    """
    if schedule == "constant":
        return np.full(n_batches, learning_rate, dtype=np.float32)
    progress = (epoch + np.arange(n_batches) / n_batches) / max_iter
    return (learning_rate * 0.5 * (1.0 + np.cos(np.pi * progress))).astype(np.float32)


def train(params, epochs, *, loss, alpha, learning_rate, batch_size, max_iter, tol,
          n_iter_no_change, validate=None, verbose=0, schedule="constant", state=None):
    """Train GMF parameters, epoch by epoch, with MLPRegressor's stopping rules.

    The loss of a batch ``B`` is, per rating as in SGD matrix factorization (and
    Surprise's ``SVD`` with ``reg_all=alpha``),

    .. math:: \\frac{1}{|B|} \\sum_{r \\in B} s_r \\big[\\ell(y_r, \\hat y_r)
              + \\alpha \\textstyle\\sum_f \\big(\\|v_{f, x_{rf}}\\|^2
              + b_{f, x_{rf}}^2\\big)\\big]

    Only the embedding rows the batch uses are penalised. The optimizer is Adam.
    After every step the output weights ``w`` are projected back to the norm
    ``sqrt(n_factors)`` (the norm of a vector of ones, where GMF is plain matrix
    factorization). GMF is otherwise redundant in scale (``p, q -> cp, cq`` with
    ``w -> w / c^2`` predicts the same; Rendle et al. 2020), so the penalty on the
    embeddings could be evaded by growing ``w``; and penalising ``w`` as well makes
    the penalty one on a product of three factors, whose minimum at zero swallows the
    interaction term on large data sets (the fit falls back to the biases).

    NumPy in, NumPy out: the weights train in TensorFlow variables of their own,
    and no Keras model is built.

    Parameters
    ----------
    params : GMFParameters
        The weights to start from; never modified.
    epochs : iterator of (perm, (idx, y, sample_weight))
        Per epoch, the row order and the rows: ``idx`` (n_samples, n_fields) int32
        embedding rows, ``y`` and ``sample_weight`` float32. Yielding the same ``idx``
        array again reuses its sort by id; a new one (fresh negatives) is sorted.
    loss : {"squared_error", "log_loss"}
        :math:`\\ell`: squared error, or the log loss of the output read as a logit.
    alpha, learning_rate, batch_size, max_iter, tol, n_iter_no_change
        As in :class:`~skgmf.GMFRegressor`.
    validate : callable or None
        ``validate(params)`` returns the validation score (higher is better) of the
        weights after an epoch, given as a :class:`GMFParameters` of read-only NumPy
        arrays; when given, it drives early stopping and the weights of the best
        epoch are returned.
    verbose : int
        Print one line per epoch when > 0.
    schedule : {"constant", "cosine"}, default="constant"
        Learning-rate schedule, see :func:`learning_rates`.
    state : AdamState or None, default=None
        Adam's moments and step count to start from, as a previous call returned
        them (with rows moved where the tables grew); None starts afresh. Never
        modified.

    Returns
    -------
    params : GMFParameters
        The trained weights, new float32 NumPy arrays (tuples of tables and bias
        vectors): after the last epoch, or, with ``validate``, after the epoch of
        the best validation score.
    loss_curve : list of float
        Mean training loss :math:`\\ell` (without penalty) of each epoch.
    validation_scores : list of float or None
    converged : bool
        False when ``max_iter`` ended training whose last epoch still improved
        the monitored quantity by more than ``tol``.
    state : AdamState
        Adam's state after the epoch whose weights ``params`` holds.
    """
    tf = _tf()
    n_fields = len(params.factors)
    sizes = [len(table) for table in params.factors]
    n_factors = len(params.coef)
    for table, bias in zip(params.factors, params.biases, strict=True):
        if np.shape(table) != (len(table), n_factors) or np.shape(bias) != (len(table),):
            raise ValueError("The parameters' tables do not match their coef and biases.")
    run_epoch = _epoch_function(loss, n_fields, n_factors)
    if state is None:
        state = AdamState.zeros(sizes, n_factors)
    for size, (factor_moments, bias_moments) in zip(sizes, state.tables, strict=True):
        if factor_moments.shape != (size, 2, n_factors) or bias_moments.shape != (size, 2):
            raise ValueError("The optimizer state does not match the parameters' tables.")
    # The variables hold TensorFlow's own copies: updating them in place leaves
    # params and state as they were (tested in test_training.py).
    tables = [
        tuple(tf.Variable(np.asarray(a, np.float32), trainable=False, dtype=tf.float32)
              for a in (params.factors[f], params.biases[f], *state.tables[f]))
        for f in range(n_fields)
    ]
    dense = (tf.constant(np.asarray(params.coef, np.float32)),
             tf.constant(float(params.intercept), tf.float32),
             *(tf.constant(m, tf.float32) for m in state.dense))
    step = tf.constant(state.step, tf.float32)
    del state  # the moments live in TensorFlow from here on
    alpha = tf.constant(alpha, dtype=tf.float32)

    current = None  # the weights validate() last scored, as NumPy arrays

    def score():
        nonlocal current
        current = _numpy_parameters(tables, dense)
        return validate(current.frozen())

    monitor = EpochMonitor(max_iter, tol=tol, n_iter_no_change=n_iter_no_change,
                           validate=None if validate is None else score, verbose=verbose)
    best = None
    # The next epoch's rows are drawn and ordered by NumPy in a thread while
    # TensorFlow trains on the current one.
    layout = EpochLayout(sizes)
    with ThreadPoolExecutor(max_workers=1) as pool:
        upcoming = pool.submit(prepare_epoch, epochs, layout, batch_size)
        for epoch in range(max_iter):
            monitor.start_epoch()
            ids, y, weight, rows, batch = upcoming.result()
            if epoch + 1 < max_iter:
                upcoming = pool.submit(prepare_epoch, epochs, layout, batch_size)
            n_batches = -(-len(ids[0]) // batch)
            rates = learning_rates(learning_rate, schedule, epoch, max_iter, n_batches)
            inputs = ([tf.constant(a) for a in ids], tf.constant(y), tf.constant(weight),
                      [tuple(tf.constant(a) for a in r) for r in rows])
            del ids, y, weight, rows  # TensorFlow holds its own copies
            dense, step, epoch_loss = run_epoch(
                *inputs, tables, dense, step, tf.constant(rates), alpha,
                tf.constant(batch, dtype=tf.int32),
            )
            del inputs
            is_best, stop = monitor.end_epoch(epoch_loss)
            if is_best:
                # The weights (those just validated) and Adam's state of the best
                # epoch, returned at the end: a later partial_fit continues from it.
                best = current, _adam_state(tables, dense, step)
            if stop:
                break
    if best is not None:
        return (best[0], monitor.loss_curve, monitor.scores, monitor.converged, best[1])
    return (_numpy_parameters(tables, dense), monitor.loss_curve, monitor.scores,
            monitor.converged, _adam_state(tables, dense, step))


def _numpy_parameters(tables, dense):
    """The training variables' weights as new NumPy arrays."""
    return GMFParameters(tuple(t[0].numpy() for t in tables),
                         tuple(t[1].numpy() for t in tables),
                         dense[0].numpy(), float(dense[1].numpy()))


def _adam_state(tables, dense, step):
    """Adam's state as NumPy copies of the training variables."""
    return AdamState([(t[2].numpy(), t[3].numpy()) for t in tables],
                     (dense[2].numpy(), dense[3].numpy()), float(step))
