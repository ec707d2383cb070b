"""Minibatch training of a GMF Keras model: one compiled TensorFlow call per epoch."""
# License: BSD 3 clause

import numpy as np

from ._model import field_name, import_keras

# Adam's defaults in keras.optimizers.Adam (Kingma and Ba, 2015).
_BETA_1, _BETA_2, _EPSILON = 0.9, 0.999, 1e-7

LOSSES = ("squared_error", "log_loss")

_EPOCH_FUNCTIONS = {}


def batch_rows(ids, n_ids, batch_size):
    """For every minibatch, the distinct embedding rows it uses, in sorted order.

    This is the NumPy half of the lazy (sparse) Adam step: a batch's gradient
    reaches only the rows its ratings use, so only those rows of a table, and of
    Adam's two moments, are read and written, and a step costs the same whatever
    the size of the table. Sorting the batch's rows by id here, on the NumPy side,
    lets TensorFlow sum the gradients of repeated ids with a sorted segment sum,
    several times cheaper than an unsorted one.

    Parameters
    ----------
    ids : ndarray of shape (n_samples,), dtype=int32
        Embedding rows of one field, in the epoch's row order.
    n_ids : int
        Number of rows of the table.
    batch_size : int
        Rows per minibatch; the last batch may be shorter.

    Returns
    -------
    order : ndarray of shape (n_samples,), dtype=int32
        Per batch, the positions (within the batch) of its rows sorted by id.
    segments : ndarray of shape (n_samples,), dtype=int32
        Per batch, the index of each sorted row's id among the batch's ids.
    unique : ndarray, dtype=int32
        The distinct ids of every batch, batch after batch.
    offsets : ndarray of shape (n_batches + 1,), dtype=int32
        Batch ``b``'s distinct ids are ``unique[offsets[b]:offsets[b + 1]]``.
    """
    n = len(ids)
    order = np.empty(n, dtype=np.int32)
    segments = np.empty(n, dtype=np.int32)
    unique, offsets = [], [0]
    # NumPy's stable sort is a radix sort for 16-bit keys: linear in the batch.
    keys = ids.astype(np.uint16) if n_ids <= 1 << 16 else ids
    for lo in range(0, n, batch_size):
        hi = min(lo + batch_size, n)
        o = np.argsort(keys[lo:hi], kind="stable")
        sorted_ids = ids[lo:hi][o]
        new = np.empty(hi - lo, dtype=bool)
        new[0] = True
        np.not_equal(sorted_ids[1:], sorted_ids[:-1], out=new[1:])
        order[lo:hi] = o
        segments[lo:hi] = np.cumsum(new) - 1
        unique.append(sorted_ids[new])
        offsets.append(offsets[-1] + len(unique[-1]))
    return order, segments, np.concatenate(unique), np.asarray(offsets, dtype=np.int32)


def _epoch_function(loss="squared_error"):
    """The training epoch as a ``tf.function``, traced once per process and loss.

    It takes the tables as arguments instead of capturing those of one model, so
    every later fit (cross-validation, grid search) reuses the traced graph.
    ``loss`` is ``"squared_error"`` (ratings) or ``"log_loss"`` (binary labels,
    the model's output read as a logit).
    """
    if loss in _EPOCH_FUNCTIONS:
        return _EPOCH_FUNCTIONS[loss]
    import_keras()
    import tensorflow as tf

    def data_loss(y, y_pred):
        if loss == "log_loss":
            # Binary cross-entropy of the logit y_pred, in a numerically stable form.
            return tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=y_pred)
        return tf.square(y - y_pred)

    def adam(p, grad, m, v, rate):
        # keras.optimizers.Adam's update, bias correction folded into the rate.
        m = m + (grad - m) * (1.0 - _BETA_1)
        v = v + (tf.square(grad) - v) * (1.0 - _BETA_2)
        return p - rate * m / (tf.sqrt(v) + _EPSILON), m, v

    @tf.function(reduce_retracing=True)
    def run_epoch(idx, y, weight, rows, tables, dense, step, learning_rate, alpha,
                  batch_size):
        # idx, y, weight: the epoch's rows in training order. rows: per field the
        # output of batch_rows. tables: per field (factors, biases, and their Adam
        # moments). dense: output weights, intercept and their moments.
        n_fields = len(tables)
        n = tf.shape(y)[0]
        n_batches = (n + batch_size - 1) // batch_size
        total = tf.constant(0.0, dtype=y.dtype)
        for b in tf.range(n_batches):
            lo = b * batch_size
            hi = tf.minimum(lo + batch_size, n)
            batch_idx, batch_y, batch_w = idx[lo:hi], y[lo:hi], weight[lo:hi]
            kernel, intercept = dense[0], dense[1]
            vectors = [tf.gather(tables[f][0], batch_idx[:, f]) for f in range(n_fields)]
            biases = [tf.gather(tables[f][1], batch_idx[:, f]) for f in range(n_fields)]
            with tf.GradientTape() as tape:
                tape.watch([vectors, biases, kernel, intercept])
                y_pred = gmf_output(vectors, biases, kernel, intercept)
                error = data_loss(batch_y, y_pred)
                penalty = tf.add_n(
                    [tf.reduce_sum(tf.square(v), axis=1) for v in vectors]
                    + [tf.square(c) for c in biases]
                )
                objective = tf.reduce_sum(batch_w * (error + alpha * penalty)) / tf.cast(
                    hi - lo, y.dtype
                )
            grads = tape.gradient(objective, [vectors, biases, kernel, intercept])
            step += 1.0
            rate = learning_rate * tf.sqrt(1.0 - _BETA_2**step) / (1.0 - _BETA_1**step)
            new_tables = []
            for f in range(n_fields):
                order, segments, unique, offsets = rows[f]
                used = unique[offsets[b] : offsets[b + 1]]
                where = used[:, None]
                # Lazy Adam: sum the gradients of each used row (sorted segments),
                # then update those rows of the table and of both moments only.
                updated = []
                for grad, (table, m, v) in zip(
                    (grads[0][f], grads[1][f]),
                    (tables[f][0::2], tables[f][1::2]),
                ):
                    grad = tf.math.segment_sum(
                        tf.gather(grad, order[lo:hi]), segments[lo:hi]
                    )
                    p_rows, m_rows, v_rows = adam(
                        tf.gather(table, used), grad, tf.gather(m, used),
                        tf.gather(v, used), rate,
                    )
                    updated.append((
                        tf.tensor_scatter_nd_update(table, where, p_rows),
                        tf.tensor_scatter_nd_update(m, where, m_rows),
                        tf.tensor_scatter_nd_update(v, where, v_rows),
                    ))
                (factors, m_f, v_f), (bias, m_b, v_b) = updated
                new_tables.append((factors, bias, m_f, m_b, v_f, v_b))
            tables = new_tables
            kernel, m_k, v_k = adam(kernel, grads[2], dense[2], dense[3], rate)
            intercept, m_i, v_i = adam(intercept, grads[3], dense[4], dense[5], rate)
            dense = (fix_norm(kernel), intercept, m_k, v_k, m_i, v_i)
            total += tf.reduce_sum(batch_w * error)
        return tables, dense, step, total / tf.reduce_sum(weight)

    def fix_norm(kernel):
        # Project the output weights back onto the sphere of radius sqrt(n_factors).
        return kernel * tf.sqrt(tf.cast(tf.size(kernel), kernel.dtype)) / tf.norm(kernel)

    _EPOCH_FUNCTIONS[loss] = run_epoch
    return run_epoch


def gmf_output(vectors, biases, kernel, intercept):
    """The GMF output of gathered rows: the formula of :func:`skgmf.build_gmf`.

    ``vectors`` and ``biases`` hold one ``(batch, n_factors)`` and one ``(batch,)``
    tensor per field; ``kernel`` is ``w`` of shape ``(n_factors,)``.
    """
    import tensorflow as tf

    n_fields = len(vectors)
    if n_fields == 2:
        interaction = vectors[0] * vectors[1]
    else:
        # Eq. (2) of the NCF paper, summed over all pairs of fields.
        interaction = tf.add_n(
            [vectors[f] * vectors[g] for f in range(n_fields) for g in range(f + 1, n_fields)]
        )
    return tf.linalg.matvec(interaction, kernel) + intercept + tf.add_n(biases)


def model_parameters(model):
    """The model's TensorFlow variables in the order the epoch function expects."""
    params = []
    for f in range(len(model.inputs)):
        name = field_name(f)
        params.append(model.get_layer(f"{name}_embedding").embeddings.value)
        params.append(model.get_layer(f"{name}_bias").embeddings.value)
    output = model.get_layer("output")
    return params + [output.kernel.value, output.bias.value]


def train(model, epochs, *, loss="squared_error", alpha, learning_rate, batch_size,
          max_iter, tol, n_iter_no_change, validate=None, verbose=0):
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

    Returns
    -------
    loss_curve : list of float
        Mean training loss :math:`\\ell` (without penalty) of each epoch.
    validation_scores : list of float or None
    converged : bool
        False when ``max_iter`` ended training whose last epoch still improved
        the monitored quantity by more than ``tol``.
    """
    import_keras()
    import tensorflow as tf

    run_epoch = _epoch_function(loss)
    variables = model_parameters(model)
    n_fields = (len(variables) - 2) // 2
    sizes = [int(variables[2 * f].shape[0]) for f in range(n_fields)]
    tables = []
    for f in range(n_fields):
        factors = tf.convert_to_tensor(variables[2 * f])
        bias = tf.convert_to_tensor(variables[2 * f + 1])[:, 0]
        tables.append((factors, bias, tf.zeros_like(factors), tf.zeros_like(bias),
                       tf.zeros_like(factors), tf.zeros_like(bias)))
    kernel = tf.convert_to_tensor(variables[-2])[:, 0]
    intercept = tf.convert_to_tensor(variables[-1])[0]
    dense = (kernel, intercept, tf.zeros_like(kernel), tf.zeros_like(kernel),
             tf.zeros_like(intercept), tf.zeros_like(intercept))
    step = tf.constant(0.0)
    settings = (
        tf.constant(learning_rate, dtype=tf.float32),
        tf.constant(alpha, dtype=tf.float32),
    )

    loss_curve, scores = [], [] if validate is not None else None
    best, best_weights, no_improvement = -np.inf, None, 0
    for epoch in range(max_iter):
        perm, (idx, y, weight) = next(epochs)
        batch = min(batch_size, len(perm))
        idx = idx[perm]
        rows = [
            tuple(tf.constant(a) for a in batch_rows(idx[:, f], sizes[f], batch))
            for f in range(n_fields)
        ]
        tables, dense, step, epoch_loss = run_epoch(
            tf.constant(idx), tf.constant(y[perm]), tf.constant(weight[perm]), rows,
            tables, dense, step, *settings, tf.constant(batch, dtype=tf.int32),
        )
        for f in range(n_fields):
            variables[2 * f].assign(tables[f][0])
            variables[2 * f + 1].assign(tables[f][1][:, None])
        variables[-2].assign(dense[0][:, None])
        variables[-1].assign(dense[1][None])
        epoch_loss = float(epoch_loss)
        if not np.isfinite(epoch_loss):
            raise ValueError(
                f"Training diverged: the loss is {epoch_loss} at iteration {epoch + 1}. "
                "Lower learning_rate or scale y."
            )
        loss_curve.append(epoch_loss)
        current = -epoch_loss if validate is None else validate()
        if validate is not None:
            scores.append(current)
        if verbose:
            extra = "" if validate is None else f", validation score = {current:.6f}"
            print(f"Iteration {epoch + 1}, loss = {epoch_loss:.6f}{extra}")
        # MLPRegressor's rule: an improvement counts when it exceeds tol.
        no_improvement = 0 if current > best + tol else no_improvement + 1
        if current > best:
            best = current
            if validate is not None:
                best_weights = model.get_weights()
        if no_improvement >= n_iter_no_change:
            if verbose:
                print(f"No improvement for {n_iter_no_change} iterations; stopping.")
            break
    if best_weights is not None:
        model.set_weights(best_weights)
    converged = len(loss_curve) < max_iter or no_improvement > 0
    return loss_curve, scores, converged
