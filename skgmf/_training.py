"""Minibatch training of a GMF Keras model: one compiled TensorFlow call per epoch."""
# License: BSD 3 clause

import numpy as np

from ._model import field_name, import_keras

# Adam's defaults in keras.optimizers.Adam (Kingma and Ba, 2015).
_BETA_1, _BETA_2, _EPSILON = 0.9, 0.999, 1e-7

LOSSES = ("squared_error", "log_loss")

_EPOCH_FUNCTIONS = {}


def _epoch_function(loss="squared_error"):
    """The training epoch as a ``tf.function``, traced once per process and loss.

    It takes the variables as arguments instead of capturing those of one model, so
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

    def batch_loss(params, idx, y, weight, alpha):
        # params: [factors_0, biases_0, factors_1, biases_1, ..., kernel, intercept]
        n_fields = (len(params) - 2) // 2
        kernel, intercept = params[-2], params[-1]
        vectors = [tf.gather(params[2 * f], idx[:, f]) for f in range(n_fields)]
        biases = [tf.gather(params[2 * f + 1], idx[:, f])[:, 0] for f in range(n_fields)]
        if n_fields == 1:
            interaction = vectors[0]
        else:
            # Eq. (2) of the NCF paper, summed over all pairs of fields.
            interaction = tf.add_n(
                [
                    vectors[f] * vectors[g]
                    for f in range(n_fields)
                    for g in range(f + 1, n_fields)
                ]
            )
        y_pred = tf.linalg.matvec(interaction, kernel[:, 0]) + intercept[0] + tf.add_n(biases)
        error = data_loss(y, y_pred)
        penalty = tf.add_n(
            [tf.reduce_sum(tf.square(v), axis=1) for v in vectors]
            + [tf.square(b) for b in biases]
        )
        objective = tf.reduce_mean(weight * (error + alpha * penalty))
        return objective, tf.reduce_sum(weight * error)

    def fix_norm(kernel):
        # Project the output weights back onto the sphere of radius sqrt(n_factors).
        return kernel * tf.sqrt(tf.cast(tf.size(kernel), kernel.dtype)) / tf.norm(kernel)

    @tf.function(reduce_retracing=True)
    def run_epoch(perm, idx, y, weight, params, moments, step, learning_rate, alpha,
                  batch_size):
        # Pure function of tensors (no captured variables), so that one trace with
        # unknown table sizes serves every fit.
        n_batches = (tf.shape(perm)[0] + batch_size - 1) // batch_size
        total = tf.constant(0.0, dtype=y.dtype)
        for b in tf.range(n_batches):
            rows = perm[b * batch_size : (b + 1) * batch_size]
            with tf.GradientTape() as tape:
                tape.watch(params)
                objective, batch_error = batch_loss(
                    params,
                    tf.gather(idx, rows),
                    tf.gather(y, rows),
                    tf.gather(weight, rows),
                    alpha,
                )
            gradients = tape.gradient(objective, params)
            step += 1.0
            # Adam, as keras.optimizers.Adam computes it (bias correction in the rate).
            rate = learning_rate * tf.sqrt(1.0 - _BETA_2**step) / (1.0 - _BETA_1**step)
            new_params, new_moments = [], []
            for p, grad, m, v in zip(params, gradients, moments[0::2], moments[1::2]):
                if isinstance(grad, tf.IndexedSlices):
                    grad = tf.math.unsorted_segment_sum(
                        grad.values, grad.indices, tf.shape(p)[0]
                    )
                m = m + (grad - m) * (1.0 - _BETA_1)
                v = v + (tf.square(grad) - v) * (1.0 - _BETA_2)
                new_params.append(p - rate * m / (tf.sqrt(v) + _EPSILON))
                new_moments += [m, v]
            new_params[-2] = fix_norm(new_params[-2])
            params, moments = new_params, new_moments
            total += batch_error
        return params, moments, step, total / tf.reduce_sum(weight)

    _EPOCH_FUNCTIONS[loss] = run_epoch
    return run_epoch


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
    params = [tf.convert_to_tensor(v) for v in variables]
    moments = [tf.zeros_like(p) for p in params for _ in range(2)]
    step = tf.constant(0.0)
    settings = (
        tf.constant(learning_rate, dtype=tf.float32),
        tf.constant(alpha, dtype=tf.float32),
    )

    loss_curve, scores = [], [] if validate is not None else None
    best, best_weights, no_improvement = -np.inf, None, 0
    rows, data = None, None
    for epoch in range(max_iter):
        perm, epoch_rows = next(epochs)
        if epoch_rows is not rows:
            rows, data = epoch_rows, tuple(tf.constant(a) for a in epoch_rows)
        params, moments, step, epoch_loss = run_epoch(
            tf.constant(perm), *data, params, moments, step, *settings,
            tf.constant(min(batch_size, len(perm)), dtype=tf.int32),
        )
        for variable, value in zip(variables, params):
            variable.assign(value)
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
