"""Minibatch training of a GMF Keras model: one compiled TensorFlow call per epoch.

A step costs what its arithmetic costs: the gradient is written out (GMF's is a
few products; :func:`batch_gradients` is checked against TensorFlow's autodiff of
the same objective in the tests), the gradients of repeated ids are summed by
sorted segment sums whose order NumPy prepares, and Adam updates only the rows a
batch uses (lazy Adam), so that a step does not grow with the catalogue.
"""
# License: BSD 3 clause

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np

from ._encoding import stable_argsort
from ._model import field_name, import_keras
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


class EpochLayout:
    """The NumPy half of a training epoch: rows in training order, and per field
    which embedding rows every minibatch uses.

    A minibatch is a set: the order of its rows does not change its gradient. So
    the rows of every batch are put in order of their first field's id (users),
    whose gradients then sum with a sorted segment sum and no gather; for every
    other field, the batch's positions in that field's id order are given. And
    lazy Adam reads and writes only the distinct rows a batch uses, so a step costs
    the same whatever the size of the tables.

    Everything is computed for the whole epoch at once, in time linear in its
    number of rows: the rows sorted by each field's id are computed once per set of
    rows (once per fit, or per epoch when the classifier draws new negatives), and
    each epoch only stable-sorts them by their batch number, a radix sort.

    Parameters
    ----------
    sizes : list of int
        Number of rows of every field's table.
    """

    def __init__(self, sizes):
        self.sizes = sizes
        self._rows, self._by_field = None, None

    def epoch(self, perm, idx, y, weight, batch_size):
        """Lay out one epoch.

        Parameters
        ----------
        perm : ndarray of shape (n_samples,)
            The epoch's random order: batch ``b`` holds the rows
            ``perm[b * batch_size:(b + 1) * batch_size]``.
        idx : ndarray of shape (n_samples, n_fields), dtype=int32
            Embedding rows of every field.
        y, weight : ndarray of shape (n_samples,)
        batch_size : int

        Returns
        -------
        ids : list of ndarray of shape (n_samples,), dtype=int32
            Every field's embedding rows in training order.
        y, weight : ndarray of shape (n_samples,)
            In training order.
        rows : list of tuple
            For every field, ``(order, segments, unique, offsets)`` (no ``order``
            for the first field): ``order`` holds, per batch, the positions within
            the batch of its rows sorted by the field's id; ``segments`` the index
            of each of them among the batch's distinct ids; the distinct ids of
            batch ``b`` are ``unique[offsets[b]:offsets[b + 1]]`` (``unique`` is
            padded with zeros to ``n_samples``).
        """
        n = len(perm)
        if idx is not self._rows:  # new rows: sort them by each field's id once
            self._rows = idx
            self._by_field = [stable_argsort(idx[:, f], size)
                              for f, size in enumerate(self.sizes)]
        n_batches = -(-n // batch_size)
        # int32 throughout: the layout's memory is a few int32 arrays of n_samples.
        batch_of = np.empty(n, dtype=np.int32)
        batch_of[perm] = np.arange(n, dtype=np.int32) // batch_size
        starts = np.arange(0, n, batch_size, dtype=np.int32)
        sizes = np.diff(np.append(starts, n))
        rows, order = [], None
        for f, by_id in enumerate(self._by_field):
            # Rows grouped by batch, in id order within each batch.
            grouped = by_id[stable_argsort(batch_of[by_id], n_batches)]
            sorted_ids = idx[grouped, f]
            new = np.empty(n, dtype=bool)
            new[0] = True
            np.not_equal(sorted_ids[1:], sorted_ids[:-1], out=new[1:])
            new[starts] = True
            segments = np.cumsum(new, dtype=np.int32)
            segments -= 1
            offsets = np.append(segments[starts], segments[-1] + 1).astype(np.int32)
            segments -= np.repeat(offsets[:-1], sizes)
            # Padded to n_samples: the same shape every epoch, so that the epoch
            # function is not traced again when the count of distinct ids changes.
            unique = np.zeros(n, dtype=sorted_ids.dtype)
            unique[: offsets[-1]] = sorted_ids[new]
            del sorted_ids, new
            if f == 0:
                order = grouped  # the training order
                position = np.empty(n, dtype=np.int32)
                position[order] = np.arange(n, dtype=np.int32)
                rows.append((segments, unique, offsets))
            else:
                local = position[grouped]
                local -= np.repeat(starts, sizes)
                rows.append((local, segments, unique, offsets))
            del grouped
        ids = [np.ascontiguousarray(idx[order, f]) for f in range(idx.shape[1])]
        return ids, y[order], weight[order], rows


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
    """The GMF output of gathered rows: the formula of :func:`skgmf.build_gmf`.

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


def _copy_to_model(variables, tables, dense):
    """Write the training tables into the Keras model's variables."""
    for f, (factors, bias, *_) in enumerate(tables):
        variables[2 * f].assign(factors)
        variables[2 * f + 1].assign(bias[:, None])
    variables[-2].assign(dense[0][:, None])
    variables[-1].assign(dense[1][None])


def _prepare_epoch(epochs, layout, batch_size):
    """Draw the next epoch's rows and lay them out for training (NumPy only)."""
    perm, (idx, y, weight) = next(epochs)
    batch = min(batch_size, len(perm))
    return (*layout.epoch(perm, idx, y, weight, batch), batch)


def model_parameters(model):
    """The model's TensorFlow variables in the order the epoch function expects."""
    params = []
    for f in range(len(model.inputs)):
        name = field_name(f)
        params.append(model.get_layer(f"{name}_embedding").embeddings.value)
        params.append(model.get_layer(f"{name}_bias").embeddings.value)
    output = model.get_layer("output")
    return params + [output.kernel.value, output.bias.value]


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


def train(model, epochs, *, loss="squared_error", alpha, learning_rate, batch_size,
          max_iter, tol, n_iter_no_change, validate=None, verbose=0,
          schedule="constant", state=None):
    """Train ``model`` in place, epoch by epoch, with MLPRegressor's stopping rules.

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

    Parameters
    ----------
    model : keras.Model
        From :func:`skgmf.build_gmf`; its variables are updated in place.
    epochs : iterator of (perm, (idx, y, sample_weight))
        Per epoch, the row order and the rows: ``idx`` (n_samples, n_fields) int32
        embedding rows, ``y`` and ``sample_weight`` float32. Yielding the same tuple
        object again reuses its tensors; a new one (fresh negatives) is converted.
    loss : {"squared_error", "log_loss"}, default="squared_error"
        :math:`\\ell`: squared error, or the log loss of the output read as a logit.
    alpha, learning_rate, batch_size, max_iter, tol, n_iter_no_change
        As in :class:`~skgmf.GMFRegressor`.
    validate : callable or None
        ``validate()`` returns the validation score (higher is better) of the model
        in its current state; when given, it drives early stopping and the best
        weights are restored at the end.
    verbose : int
        Print one line per epoch when > 0.
    schedule : {"constant", "cosine"}, default="constant"
        Learning-rate schedule, see :func:`learning_rates`.
    state : AdamState or None, default=None
        Adam's moments and step count to start from, as a previous call returned
        them (with rows moved where the tables grew); None starts afresh.

    Returns
    -------
    loss_curve : list of float
        Mean training loss :math:`\\ell` (without penalty) of each epoch.
    validation_scores : list of float or None
    converged : bool
        False when ``max_iter`` ended training whose last epoch still improved
        the monitored quantity by more than ``tol``.
    state : AdamState
        Adam's state after the last epoch, or, when early stopping restored the
        weights of an earlier epoch, after that epoch.
    """
    tf = _tf()
    variables = model_parameters(model)
    n_fields = (len(variables) - 2) // 2
    sizes = [int(variables[2 * f].shape[0]) for f in range(n_fields)]
    n_factors = int(variables[-2].shape[0])
    run_epoch = _epoch_function(loss, n_fields, n_factors)
    if state is None:
        state = AdamState.zeros(sizes, n_factors)
    for size, (factor_moments, bias_moments) in zip(sizes, state.tables, strict=True):
        if factor_moments.shape != (size, 2, n_factors) or bias_moments.shape != (size, 2):
            raise ValueError("The optimizer state does not match the model's tables.")
    tables = []
    for f in range(n_fields):
        factors = tf.convert_to_tensor(variables[2 * f])
        bias = tf.convert_to_tensor(variables[2 * f + 1])[:, 0]
        tables.append(tuple(
            tf.Variable(a, trainable=False, dtype=tf.float32)
            for a in (factors, bias, *state.tables[f])
        ))
    kernel = tf.convert_to_tensor(variables[-2])[:, 0]
    intercept = tf.convert_to_tensor(variables[-1])[0]
    dense = (kernel, intercept, *(tf.constant(m, tf.float32) for m in state.dense))
    step = tf.constant(state.step, tf.float32)
    del state  # the moments live in TensorFlow from here on
    alpha = tf.constant(alpha, dtype=tf.float32)

    monitor = EpochMonitor(max_iter, tol=tol, n_iter_no_change=n_iter_no_change,
                           validate=validate, verbose=verbose)
    best_weights = best_state = None
    # The next epoch's rows are drawn and ordered by NumPy in a thread while
    # TensorFlow trains on the current one.
    layout = EpochLayout(sizes)
    with ThreadPoolExecutor(max_workers=1) as pool:
        upcoming = pool.submit(_prepare_epoch, epochs, layout, batch_size)
        for epoch in range(max_iter):
            monitor.start_epoch()
            ids, y, weight, rows, batch = upcoming.result()
            if epoch + 1 < max_iter:
                upcoming = pool.submit(_prepare_epoch, epochs, layout, batch_size)
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
            if validate is not None:  # validate() reads the model
                _copy_to_model(variables, tables, dense)
            is_best, stop = monitor.end_epoch(epoch_loss)
            if is_best:
                # The weights and Adam's state of the best epoch, restored at the
                # end: a later partial_fit continues from that epoch.
                best_weights = model.get_weights()
                best_state = _adam_state(tables, dense, step)
            if stop:
                break
    # Copied back once, not every epoch: the model's variables would share the
    # tables' buffers, and the next in-place update would copy whole tables.
    _copy_to_model(variables, tables, dense)
    if best_weights is not None:
        model.set_weights(best_weights)
    if best_weights is not None:
        return monitor.loss_curve, monitor.scores, monitor.converged, best_state
    return (monitor.loss_curve, monitor.scores, monitor.converged,
            _adam_state(tables, dense, step))


def _adam_state(tables, dense, step):
    """Adam's state as NumPy copies of the training variables."""
    return AdamState([(t[2].numpy(), t[3].numpy()) for t in tables],
                     (dense[2].numpy(), dense[3].numpy()), float(step))
