"""Per-rating stochastic gradient descent for the GMF objective, compiled with numba.

The model is the one :func:`skgmf._model.build_gmf` builds for a user and an item
field::

    r_hat = mu + b_u + b_i + w . (p_u * q_i)

and one step on a rating ``r`` with sample weight ``s`` follows Surprise's SVD
(Funk's SGD, with the factor 2 of the squared error folded into the learning
rate ``lr``)::

    e    = r - r_hat                      (squared loss)
    e    = y - sigmoid(r_hat)             (logistic loss, y in {0, 1})
    b_u += lr * s * (e - a_u * b_u)
    b_i += lr * s * (e - a_i * b_i)
    p_u += lr * s * (e * w * q_i - a_u * p_u)      (with the old q_i)
    q_i += lr * s * (e * w * p_u - a_i * q_i)      (with the old p_u)
    w   += lr * s * e * (p_u * q_i)                (only when w is learned)
    mu  += lr * s * e                              (only when mu is learned)

that is, a step down the gradient of
``s * [(r - r_hat)^2 + a_u (|p_u|^2 + b_u^2) + a_i (|q_i|^2 + b_i^2)] / 2``
(or ``s * [logloss + (a_u (...) + a_i (...)) / 2]``). The per-row penalties
``a_u = alpha + beta / n_u`` and ``a_i = alpha + beta / n_i`` (:func:`row_penalties`,
``n`` the summed sample weight of the row) make ``alpha`` the per-rating L2 of
Surprise's ``reg_all`` and ``beta`` a penalty on each row independent of its count.

Learned output weights ``w`` are projected back to the norm ``sqrt(n_factors)``
after every epoch (``w = ones`` is plain biased matrix factorization).

Everything is deterministic: the same inputs and seed give the same tables, bit
for bit, on the same machine. :func:`sgd_fit` (the tuning benchmarks' entry
point) runs on one thread; :func:`train` (the estimators') on up to ``_STRATA``
threads, with LIBMF's schedule, and the same result on any number of them.
"""
# License: BSD 3 clause

import math
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

from ._interactions import row_weights

SQUARED = 0
LOGISTIC = 1
_LOSSES = {"squared": SQUARED, "logistic": LOGISTIC}
# Ratings per run of shuffle="blocks": long enough to stream, short enough to mix.
_BLOCK = 1024
# Strata of users and of items of the parallel schedule (LIBMF's): every epoch
# visits the _STRATA diagonals of the grid of cells in a random order, and a
# diagonal's cells, which share no user or item, run on up to _STRATA threads.
# Fixed, so that the result does not depend on the number of threads.
_STRATA = 4
# The cells of every diagonal of the grid, by user stratum: cell (a, a + shift)
# is S * a + (a + shift) % S. No two share a user or an item.
_DIAGONALS = [np.arange(_STRATA) * _STRATA + (np.arange(_STRATA) + shift) % _STRATA
              for shift in range(_STRATA)]
# Fewer ratings train on one thread: a diagonal's work would not pay a thread's wake-up.
_PARALLEL_MIN_RATINGS = 20_000


@numba.njit(cache=True, fastmath=True, nogil=True)
def _sgd_epoch(users, items, targets, weights, order, P, Q, bu, bi, w, mu,
               lr, reg_user, reg_item, learn_w, learn_mu, loss):  # pragma: no cover
    """One pass over ``order``; updates the tables in place, returns the summed loss.

    ``mu`` is a float32 array of shape (1,) (updated in place when ``learn_mu``).
    The returned loss is the weighted data term (squared error or log-loss) seen
    during the pass, before each step, without the penalty.
    """
    k = P.shape[1]
    lr32 = np.float32(lr)
    zero = np.float32(0.0)
    one = np.float32(1.0)
    m = mu[0]
    total = 0.0
    # w at ones (plain MF, the estimators' SGD): loops without w, about 20% faster.
    unit_w = not learn_w
    for f in range(k):
        if w[f] != one:
            unit_w = False
    for t in range(order.shape[0]):
        j = order[t]
        s = weights[j]
        if s == zero:
            continue
        u = users[j]
        i = items[j]
        pu = P[u]
        qi = Q[i]
        dot = zero
        if unit_w:
            for f in range(k):
                dot += pu[f] * qi[f]
        else:
            for f in range(k):
                dot += w[f] * pu[f] * qi[f]
        pred = m + bu[u] + bi[i] + dot
        y = targets[j]
        if loss == 0:
            e = y - pred
            total += s * e * e
        else:
            # Stable sigmoid and log-loss of the logit ``pred``.
            if pred >= zero:
                z = np.float32(math.exp(-pred))
                prob = one / (one + z)
                total += s * (math.log1p(z) + (one - y) * pred)
            else:
                z = np.float32(math.exp(pred))
                prob = z / (one + z)
                total += s * (math.log1p(z) - y * pred)
            e = y - prob
        step = lr32 * s
        ru = reg_user[u]
        ri = reg_item[i]
        bu[u] += step * (e - ru * bu[u])
        bi[i] += step * (e - ri * bi[i])
        if learn_mu:
            m += step * e
        ge = step * e
        du = one - step * ru
        di = one - step * ri
        if learn_w:
            for f in range(k):
                p = pu[f]
                q = qi[f]
                wf = w[f]
                pu[f] = du * p + ge * wf * q
                qi[f] = di * q + ge * wf * p
                w[f] = wf + ge * p * q
        elif unit_w:
            for f in range(k):
                p = pu[f]
                q = qi[f]
                pu[f] = du * p + ge * q
                qi[f] = di * q + ge * p
        else:
            for f in range(k):
                p = pu[f]
                q = qi[f]
                wf = w[f]
                pu[f] = du * p + ge * wf * q
                qi[f] = di * q + ge * wf * p
    if learn_mu:
        mu[0] = m
    return total


@numba.njit(cache=True, nogil=True)
def _splitmix(x):  # pragma: no cover
    """splitmix64: the next state and its output."""
    x += np.uint64(0x9E3779B97F4A7C15)
    z = x
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x, z ^ (z >> np.uint64(31))


@numba.njit(cache=True, nogil=True)
def _permute(n, state):  # pragma: no cover
    """A permutation of ``range(n)`` (int32) by Fisher-Yates with splitmix64.

    ``state`` is a uint64 array of shape (1,), advanced in place, so that a
    sequence of calls gives a deterministic sequence of permutations.
    """
    order = np.arange(n).astype(np.int32)
    x = state[0]
    for t in range(n - 1, 0, -1):
        x, z = _splitmix(x)
        r = np.int64(z % np.uint64(t + 1))
        tmp = order[t]
        order[t] = order[r]
        order[r] = tmp
    state[0] = x
    return order


@numba.njit(cache=True, nogil=True)
def _block_order(n, block, state):  # pragma: no cover
    """``range(n)`` cut into runs of ``block`` indices, the runs in a random order."""
    n_blocks = (n + block - 1) // block
    blocks = _permute(n_blocks, state)
    order = np.empty(n, np.int32)
    t = 0
    for b in blocks:
        for j in range(b * block, min(n, (b + 1) * block)):
            order[t] = j
            t += 1
    return order


@numba.njit(cache=True, nogil=True)
def _cell_orders(bounds, block, state):  # pragma: no cover
    """Every cell's positions ``bounds[c]:bounds[c + 1]`` in runs of ``block``, the
    runs of each cell in a random order (cells in turn, so one stream of ``state``)."""
    order = np.empty(bounds[-1], np.int32)
    for c in range(bounds.shape[0] - 1):
        start, stop = bounds[c], bounds[c + 1]
        runs = _permute((stop - start + block - 1) // block, state)
        t = start
        for b in runs:
            for j in range(start + b * block, min(stop, start + (b + 1) * block)):
                order[t] = j
                t += 1
    return order


@numba.njit(cache=True, nogil=True)
def _to_cells(idx, targets, weights, rank_user, rank_item, strata_user, strata_item,
              n_strata, state):  # pragma: no cover
    """The rows grouped by cell, in a random order within each cell.

    Row ``j`` goes to cell ``n_strata * strata_user[u] + strata_item[i]`` of its
    working rows ``u = rank_user[idx[j, 0]]`` and ``i = rank_item[idx[j, 1]]``.
    One counting sort, then a Fisher-Yates shuffle of every cell (``state``
    advanced in place): a pass over the data and shuffles that stay within a cell.

    Returns ``(users, items, targets, weights, bounds, user_weight, item_weight)``:
    cell ``c`` holds ``bounds[c]:bounds[c + 1]``; the summed weight of every
    working row.
    """
    n = idx.shape[0]
    bounds = np.zeros(n_strata * n_strata + 1, np.int64)
    cell = np.empty(n, np.int32)
    user_weight = np.zeros(rank_user.shape[0])
    item_weight = np.zeros(rank_item.shape[0])
    for j in range(n):
        u = rank_user[idx[j, 0]]
        i = rank_item[idx[j, 1]]
        c = strata_user[u] * n_strata + strata_item[i]
        cell[j] = c
        bounds[c + 1] += 1
        user_weight[u] += weights[j]
        item_weight[i] += weights[j]
    for c in range(n_strata * n_strata):
        bounds[c + 1] += bounds[c]
    fill = bounds[:-1].copy()
    users = np.empty(n, np.int32)
    items = np.empty(n, np.int32)
    y = np.empty(n, np.float32)
    s = np.empty(n, np.float32)
    for j in range(n):
        p = fill[cell[j]]
        fill[cell[j]] += 1
        users[p] = rank_user[idx[j, 0]]
        items[p] = rank_item[idx[j, 1]]
        y[p] = targets[j]
        s[p] = weights[j]
    x = state[0]
    for c in range(n_strata * n_strata):
        start = bounds[c]
        for t in range(bounds[c + 1] - 1, start, -1):
            x, z = _splitmix(x)
            r = start + np.int64(z % np.uint64(t - start + 1))
            users[t], users[r] = users[r], users[t]
            items[t], items[r] = items[r], items[t]
            y[t], y[r] = y[r], y[t]
            s[t], s[r] = s[r], s[t]
    state[0] = x
    return users, items, y, s, bounds, user_weight, item_weight


@numba.njit(cache=True, fastmath=True, nogil=True)
def _sgd_cells(users, items, targets, weights, cells, order, bounds, totals, P, Q, bu,
               bi, w, mu, lr, reg_user, reg_item, loss):  # pragma: no cover
    """:func:`_sgd_epoch` over the ``cells``' runs of ``order``, in turn; the
    summed loss of cell ``c`` goes to ``totals[c]``. ``w``, ``mu`` stay fixed."""
    for c in cells:
        totals[c] = _sgd_epoch(users, items, targets, weights,
                               order[bounds[c]:bounds[c + 1]], P, Q, bu, bi, w, mu, lr,
                               reg_user, reg_item, False, False, loss)


def row_penalties(rows, weights, n_rows, alpha, beta=0.0):
    """Per-row L2 coefficients ``alpha + beta / n`` (float32, shape ``(n_rows,)``).

    ``n`` is the summed sample weight of each row's ratings; a row without weight
    gets ``alpha``. Summed over a row's ratings (each scaled by its sample
    weight) the penalty is ``alpha * n + beta``: ``alpha`` is per rating, ``beta``
    per row.
    """
    return _penalties(np.bincount(rows, weights=weights, minlength=n_rows), alpha, beta)


def learning_rates(lr, n_epochs, decay=0.0):
    """Per-epoch learning rates ``lr / (1 + decay * epoch)`` (``decay=0``: constant)."""
    return (float(lr) / (1.0 + decay * np.arange(n_epochs, dtype=np.float64))).tolist()


def init_tables(n_users, n_items, n_factors, *, init_std=0.1, seed=0):
    """Float32 tables ``P, Q`` drawn from N(0, init_std), zero biases and ``w = 1``."""
    rng = np.random.default_rng(seed)
    P = rng.normal(0.0, init_std, (n_users, n_factors)).astype(np.float32)
    Q = rng.normal(0.0, init_std, (n_items, n_factors)).astype(np.float32)
    bu = np.zeros(n_users, np.float32)
    bi = np.zeros(n_items, np.float32)
    w = np.ones(n_factors, np.float32)
    return P, Q, bu, bi, w


def project_w(w):
    """Scale ``w`` in place to the norm ``sqrt(len(w))`` (unless it is all zero)."""
    norm = float(np.sqrt(np.dot(w.astype(np.float64), w)))
    if norm > 0:
        w *= np.float32(np.sqrt(len(w)) / norm)
    return w


def sgd_fit(users, items, targets, P, Q, bu, bi, w, mu, *, weights=None, n_epochs=20,
            lr=0.01, lr_decay=0.0, alpha=0.02, beta=0.0, seed=0, shuffle="blocks",
            learn_w=False, learn_mu=False, loss="squared", callback=None):
    """Train the tables in place with per-rating SGD; return ``(mu, losses)``.

    Parameters
    ----------
    users, items : array-like of int
        Row of every rating in ``P``/``bu`` and ``Q``/``bi``.
    targets : array-like of float
        Ratings (squared loss) or 0/1 labels (logistic loss).
    P, Q : ndarray of float32, C-contiguous, shapes (n_users, k) and (n_items, k)
    bu, bi, w : ndarray of float32, shapes (n_users,), (n_items,) and (k,)
        Tables, updated in place.
    mu : float
        Global bias (the mean rating for squared loss is a good start).
    weights : array-like of float, default=None
        Sample weights (ones when None); a weight 0 leaves the rating out.
    n_epochs : int
    lr, lr_decay : float
        Learning rate of epoch ``e`` is ``lr / (1 + lr_decay * e)``.
    alpha, beta : float
        Per-rating and per-row L2 (see :func:`row_penalties`).
    seed : int
        Seed of the visiting order.
    shuffle : {"blocks", "epoch", "once", "none"}
        ``"epoch"``: a fresh random order every epoch; ``"once"``: one random
        order for all epochs; ``"blocks"``: the data shuffled once, then every epoch
        visits its runs of ``_BLOCK`` consecutive ratings in a fresh random order
        (nearly as random as ``"epoch"``, but reads the data sequentially, so
        about twice as fast); ``"none"``: the given order.
    learn_w, learn_mu : bool
        Whether the output weights (projected to norm ``sqrt(k)`` after each epoch)
        and the global bias are learned.
    loss : {"squared", "logistic"}
    callback : callable, default=None
        Called as ``callback(epoch, P, Q, bu, bi, w, mu)`` after every epoch.

    Returns
    -------
    mu : float
        The (possibly learned) global bias.
    losses : list of float
        Mean weighted data loss of each epoch, seen during the pass.
    """
    users = np.ascontiguousarray(users, dtype=np.int32)
    items = np.ascontiguousarray(items, dtype=np.int32)
    targets = np.ascontiguousarray(targets, dtype=np.float32)
    n = len(users)
    if weights is None:
        weights = np.ones(n, np.float32)
    else:
        weights = np.ascontiguousarray(weights, dtype=np.float32)
    for table in (P, Q, bu, bi, w):
        if table.dtype != np.float32 or not table.flags.c_contiguous:
            raise ValueError("tables must be C-contiguous float32 arrays")
    loss_code = _LOSSES[loss]
    reg_user = row_penalties(users, weights, len(P), alpha, beta)
    reg_item = row_penalties(items, weights, len(Q), alpha, beta)
    state = np.array([np.random.default_rng(seed).integers(0, 2**63)], dtype=np.uint64)
    if shuffle not in ("blocks", "epoch", "once", "none"):
        raise ValueError(f"unknown shuffle {shuffle!r}")
    if shuffle in ("once", "blocks"):
        # Gather once into the shuffled order: then every epoch streams the data.
        perm = _permute(n, state)
        users, items, targets, weights = (a[perm] for a in (users, items, targets, weights))
    order = np.arange(n, dtype=np.int32)
    mu_arr = np.array([mu], dtype=np.float32)
    total_weight = max(float(weights.sum(dtype=np.float64)), 1e-300)
    losses = []
    for epoch, rate in enumerate(learning_rates(lr, n_epochs, lr_decay)):
        if shuffle == "epoch":
            order = _permute(n, state)
        elif shuffle == "blocks":
            order = _block_order(n, _BLOCK, state)
        total = _sgd_epoch(users, items, targets, weights, order, P, Q, bu, bi, w, mu_arr,
                           rate, reg_user, reg_item, learn_w, learn_mu, loss_code)
        if learn_w:
            project_w(w)
        losses.append(total / total_weight)
        if callback is not None:
            callback(epoch, P, Q, bu, bi, w, float(mu_arr[0]))
    return float(mu_arr[0]), losses


def predict(users, items, P, Q, bu, bi, w, mu):
    """``mu + b_u + b_i + w . (p_u * q_i)`` for every (user, item) pair (float64)."""
    users = np.asarray(users)
    items = np.asarray(items)
    dot = np.einsum("nk,nk,k->n", P[users], Q[items], w, dtype=np.float64)
    return mu + bu[users].astype(np.float64) + bi[items] + dot


def reference_step(u, i, y, s, P, Q, bu, bi, w, mu, lr, reg_user, reg_item,
                   learn_w=False, learn_mu=False, loss="squared"):
    """One SGD step in plain NumPy (float64 math), in place; returns the new ``mu``.

    The specification the compiled kernel is tested against.
    """
    p = P[u].astype(np.float64)
    q = Q[i].astype(np.float64)
    wf = w.astype(np.float64)
    pred = mu + float(bu[u]) + float(bi[i]) + float(np.sum(wf * p * q))
    if loss == "squared":
        e = y - pred
    else:
        e = y - 1.0 / (1.0 + np.exp(-pred))
    step = lr * s
    ru, ri = float(reg_user[u]), float(reg_item[i])
    bu[u] = bu[u] + step * (e - ru * bu[u])
    bi[i] = bi[i] + step * (e - ri * bi[i])
    P[u] = p + step * (e * wf * q - ru * p)
    Q[i] = q + step * (e * wf * p - ri * q)
    if learn_w:
        w[:] = wf + step * e * p * q
    if learn_mu:
        mu = mu + step * e
    return mu


def epoch_learning_rates(learning_rate, schedule, max_iter):
    """The learning rate of each of ``max_iter`` epochs under ``schedule``.

    ``"inverse"``: ``learning_rate / (1 + INVERSE_DECAY * epoch)`` (the decay chosen
    on validation, benchmarks/tune_sgd.py); ``"cosine"``: half a cosine from
    ``learning_rate`` at the first epoch towards 0 after the last; ``"constant"``.
    """
    if schedule == "inverse":
        return learning_rates(learning_rate, max_iter, INVERSE_DECAY)
    epochs = np.arange(max_iter, dtype=np.float64)
    if schedule == "cosine":
        rates = learning_rate * 0.5 * (1.0 + np.cos(np.pi * epochs / max_iter))
    else:
        rates = np.full(max_iter, float(learning_rate))
    return rates.tolist()


# lr / (1 + decay * epoch) of the "inverse" schedule, chosen on validation.
INVERSE_DECAY = 0.3


def train(params, epochs, *, loss, rates, alpha, row_alpha,
          row_counts=None, weight_scale=1.0, fixed_rows=True, validate=None, tol=1e-4,
          n_iter_no_change=3, verbose=0, seed=0):
    """Per-rating SGD epochs over the rows ``epochs`` yields: NumPy in, NumPy out.

    The estimator's training entry point for ``solver="sgd"``, with the stopping
    rules of :func:`skgmf._adam.train` (MLPRegressor's).

    Parameters
    ----------
    params : GMFParameters
        Two fields' tables ``[P, Q]``, biases ``[b_u, b_i]``, ``w`` and ``mu`` to
        start from; left as they are (training updates copies). ``w`` (ones:
        learning it lost accuracy on validation) and ``mu`` stay fixed.
    epochs : iterator of (idx, y, sample_weight)
        The rows of every epoch: ``idx`` (n_samples, n_fields) int embedding rows.
        With ``fixed_rows`` only its first item is drawn. The engine orders the
        rows itself (see Notes).
    loss : {"squared_error", "log_loss"}
    rates : list of float
        Learning rate of every epoch; their number is ``max_iter``.
    alpha, row_alpha : float
        Per-rating and per-row L2 (see :func:`row_penalties`).
    fixed_rows : bool, default=True
        Whether every epoch trains on the same rows (see ``epochs``).
    row_counts : list of ndarray or None
        Summed sample weight (divided by ``weight_scale``) of every user and item
        row, for the per-row penalty: those of all the ratings so far in a
        ``partial_fit``; None counts the rows given.
    weight_scale : float, default=1.0
        The sample weights are divided by it: the mean weight of ``fit``'s rows
        (see Notes).
    validate : callable or None
        ``validate(params)`` scores the current parameters (higher is better):
        early stopping, and the best epoch's tables are kept at the end.
    tol, n_iter_no_change, verbose
        As in the estimators.
    seed : int
        Seed of the epochs' visiting order.

    Returns
    -------
    params : GMFParameters
        The trained parameters (new arrays).
    loss_curve : list of float
    validation_scores : list of float or None
    converged : bool
        False when the last epoch still improved the monitored quantity by more
        than ``tol``.
    kept_epoch : int
        The epoch (from 0) whose tables are kept: the last one run, or with
        ``validate`` the best one.

    Notes
    -----
    The schedule is LIBMF's: users and items are dealt out to ``_STRATA``
    strata of about equal numbers of ratings, which cut the ratings into a grid
    of cells. Every epoch visits the grid's diagonals in a random order; the
    cells of a diagonal share no user or item, so they train on up to
    ``_STRATA`` threads at once without locks and with the same result as one
    after the other. Within a cell, the rows are shuffled once per set of rows
    and every epoch visits runs of ``_BLOCK`` of them in a fresh random order
    (as fast as streaming). The result depends on ``seed`` and the data, not on
    the number of threads (:func:`effective_n_threads`).

    The sample weights are divided by their mean first, so that their scale does
    not scale the steps (a weight multiplies a rating's step): weights of 5 train
    the model weights of 1 train. ``row_counts`` are in the same unit.
    """
    from ._params import GMFParameters
    from ._stopping import EpochMonitor

    (P, Q), (bu, bi) = params.factors, params.biases
    coef = np.array(params.coef, dtype=np.float32)  # writable: the kernel's type
    loss_code = SQUARED if loss == "squared_error" else LOGISTIC
    mu = np.array([params.intercept], dtype=np.float32)
    rng = np.random.default_rng(seed)
    state = np.array([rng.integers(0, 2**63)], dtype=np.uint64)
    rows = next(epochs)
    if row_counts is None:
        fixed_counts = None
        idx, _, weight = rows
        row_counts = row_weights(idx, weight / weight_scale, (len(P), len(Q)))
    else:
        fixed_counts = row_counts
    # Working copies of the tables with every stratum's rows together: threads
    # then write apart (a bias shared a cache line with other strata's).
    grid = _Grid(row_counts, rng)
    P, bu = grid.gather(0, P, bu)
    Q, bi = grid.gather(1, Q, bi)

    def trained():
        factors, biases = zip(grid.scatter(0, P, bu), grid.scatter(1, Q, bi))
        return GMFParameters(list(factors), list(biases), coef, params.intercept)

    monitor = EpochMonitor(len(rates), tol=tol, n_iter_no_change=n_iter_no_change,
                           validate=None if validate is None else lambda: validate(trained()),
                           verbose=verbose)
    best_tables = None
    threads = _divisor_at_most(effective_n_threads(), _STRATA)
    with ThreadPoolExecutor(_STRATA - 1) as pool:
        for epoch, rate in enumerate(rates):
            monitor.start_epoch()
            if epoch == 0 or not fixed_rows:
                if epoch > 0:
                    rows = next(epochs)
                *data, bounds, user_weight, item_weight = grid.layout(rows, weight_scale,
                                                                      state)
                if fixed_counts is not None:
                    user_weight, item_weight = (grid.rows_of(f, fixed_counts[f])
                                                for f in (0, 1))
                reg_user = _penalties(user_weight, alpha, row_alpha)
                reg_item = _penalties(item_weight, alpha, row_alpha)
                total_weight = max(float(data[3].sum(dtype=np.float64)), 1e-300)
                n_threads = threads if len(data[0]) >= _PARALLEL_MIN_RATINGS else 1
            order = _cell_orders(bounds, _BLOCK, state)
            totals = np.zeros(_STRATA * _STRATA)
            args = (order, bounds, totals, P, Q, bu, bi, coef, mu, rate, reg_user,
                    reg_item, loss_code)
            for shares in _phases(_diagonal_order(state), n_threads):
                futures = [pool.submit(_sgd_cells, *data, cells, *args)
                           for cells in shares[1:]]
                _sgd_cells(*data, shares[0], *args)
                for future in futures:
                    future.result()
            is_best, stop = monitor.end_epoch(float(totals.sum()) / total_weight)
            if is_best:
                best_tables = [t.copy() for t in (P, Q, bu, bi)]
            if stop:
                break
    if best_tables is not None:
        P, Q, bu, bi = best_tables
    kept_epoch = (monitor.best_epoch if best_tables is not None
                  else len(monitor.loss_curve) - 1)
    return trained(), monitor.loss_curve, monitor.scores, monitor.converged, kept_epoch


def _diagonal_order(state):
    """The shifts of an epoch's diagonals: a random order, with the even shifts
    together and the odd ones together. On two threads (cells dealt out by user
    stratum) an item stratum changes thread only when the shift's parity does:
    each change moves its table rows from one core's cache to the other's."""
    shifts = _permute(_STRATA, state)
    return shifts[np.argsort(shifts % 2 != shifts[0] % 2, kind="stable")]


def _phases(shifts, n_threads):
    """The epoch's diagonals ``shifts`` as phases of work for ``n_threads`` threads
    (a divisor of ``_STRATA``): a list of phases, each the cells of every thread.

    Thread t trains the cells of user strata t, t + n_threads, ...; on diagonal
    ``shift`` their item strata are those equal to ``t + shift`` modulo
    ``n_threads``. So consecutive diagonals of equal ``shift % n_threads`` make
    one phase, with no wait between them: each thread keeps its users and items
    (two phases an epoch on two threads, whose diagonals come by parity). Every
    user's and every item's cells train in the order of ``shifts`` whatever
    ``n_threads``: the result is the same.
    """
    phases = []
    for position, shift in enumerate(shifts):
        shares = [_DIAGONALS[shift][t::n_threads] for t in range(n_threads)]
        if position and shift % n_threads == shifts[position - 1] % n_threads:
            phases[-1] = [np.concatenate(pair) for pair in zip(phases[-1], shares)]
        else:
            phases.append(shares)
    return phases


def _divisor_at_most(n, m):
    """The largest divisor of ``m`` that is at most ``n`` (and at least 1)."""
    return max(d for d in range(1, m + 1) if m % d == 0 and d <= max(n, 1))


class _Grid:
    """LIBMF's grid of users' and items' strata, over working copies of the tables
    whose rows are sorted by stratum.

    Parameters
    ----------
    counts : list of ndarray
        Summed weight of every user and item row: the strata get about equal sums.
    rng : numpy Generator
        Breaks the ties between rows of equal counts.
    """

    def __init__(self, counts, rng):
        self.rows, self.rank, self.strata = [], [], []
        for field_counts in counts:
            strata = _balanced_strata(np.asarray(field_counts), _STRATA, rng)
            rows = np.argsort(strata, kind="stable")
            rank = np.empty(len(rows), np.int32)
            rank[rows] = np.arange(len(rows), dtype=np.int32)
            self.rows.append(rows)
            self.rank.append(rank)
            self.strata.append(strata[rows])

    def rows_of(self, field, values):
        """``values`` of a field's table rows, in working order."""
        return np.ascontiguousarray(values[self.rows[field]])

    def gather(self, field, factors, biases):
        """Working copies (C-contiguous) of a field's tables."""
        return self.rows_of(field, factors), self.rows_of(field, biases)

    def scatter(self, field, factors, biases):
        """The working copies back in table order (new arrays)."""
        return factors[self.rank[field]], biases[self.rank[field]]

    def layout(self, rows, weight_scale, state):
        """The rows grouped by cell, shuffled within cells (see :func:`_to_cells`).

        Returns ``(users, items, y, weight, bounds, user_weight, item_weight)``:
        working rows (int32), targets and weights (float32, the weights over
        ``weight_scale``); cell ``c = S * user_stratum + item_stratum`` holds
        ``bounds[c]:bounds[c + 1]``; the summed weight of every working row.
        """
        idx, y, weight = rows
        return _to_cells(np.ascontiguousarray(idx[:, :2], dtype=np.int32),
                         np.asarray(y, dtype=np.float32),
                         np.asarray(weight / weight_scale, dtype=np.float32),
                         self.rank[0], self.rank[1], self.strata[0], self.strata[1],
                         _STRATA, state)


def _balanced_strata(counts, n_strata, rng):
    """Stratum (uint8) of every row: rows in a random order, then by count, dealt
    out to ``n_strata`` strata back and forth, so that the strata hold about equal
    sums of ``counts``."""
    rows = rng.permutation(len(counts))
    rows = rows[np.argsort(-counts[rows], kind="stable")]
    turn = np.arange(len(rows)) % (2 * n_strata)
    strata = np.empty(len(rows), np.uint8)
    strata[rows] = np.where(turn < n_strata, turn, 2 * n_strata - 1 - turn)
    return strata


def effective_n_threads():
    """Threads for the SGD cells: as many as OpenMP would use, scikit-learn's rule
    (physical cores, limited by ``OMP_NUM_THREADS`` and threadpoolctl).

    scikit-learn's helper is private: without it, joblib's count of the physical
    cores (which follows ``OMP_NUM_THREADS`` only through joblib's workers).
    """
    try:
        from sklearn.utils._openmp_helpers import _openmp_effective_n_threads
    except ImportError:  # pragma: no cover - every supported scikit-learn has it
        from joblib import cpu_count

        return cpu_count(only_physical_cores=True)
    return _openmp_effective_n_threads()


def _penalties(counts, alpha, row_alpha):
    """Per-row L2 ``alpha + row_alpha / n`` from the rows' summed weights ``counts``."""
    reg = np.full(len(counts), alpha, dtype=np.float64)
    if row_alpha:
        seen = counts > 0
        reg[seen] += row_alpha / counts[seen]
    return reg.astype(np.float32)
