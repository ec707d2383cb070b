"""Fold-in of users: their GMF embeddings and biases by ridge regression (NumPy only)."""
# License: BSD 3 clause

import numpy as np

def solve_users(user_rows, item_vectors, targets, sample_weight, alpha, row_alpha=0.0):
    """The embedding and bias of every user, all other parameters fixed.

    With the item side, ``w`` and ``mu`` fixed, a rating's prediction
    ``mu + b_i + b_u + p_u . (w * q_i)`` is linear in ``(p_u, b_u)``, and the
    training objective restricted to one user's parameters (squared error plus the
    per-rating penalty, see :func:`skgmf._adam.train`) is a ridge regression:

    .. math:: \\min_{p, b} \\sum_r s_r \\big[(t_r - p^\\top v_r - b)^2
              + \\alpha (\\|p\\|^2 + b^2)\\big] + \\beta (\\|p\\|^2 + b^2)

    with :math:`v_r = w \\odot q_{i_r}` and :math:`t_r = y_r - \\mu - b_{i_r}`. Its
    solution is one linear system of ``n_factors + 1`` unknowns per user.

    Parameters
    ----------
    user_rows : ndarray of shape (n_samples,)
        Row of every rating's user.
    item_vectors : ndarray of shape (n_samples, n_factors)
        :math:`v_r`, the item's vector as the user's embedding meets it.
    targets : ndarray of shape (n_samples,)
        :math:`t_r`, the rating less the parts that do not depend on the user.
    sample_weight : ndarray of shape (n_samples,)
        Positive weights :math:`s_r`.
    alpha : float
        The penalty per rating; with 0 (and no ``row_alpha``), the minimum-norm
        least-squares solution.
    row_alpha : float, default=0.0
        :math:`\\beta`, the penalty per user of ``solver="sgd"`` (independent of
        the count of its ratings).

    Returns
    -------
    users : ndarray of shape (n_users,)
        The distinct user rows, sorted.
    factors : ndarray of shape (n_users, n_factors), dtype=float32
    biases : ndarray of shape (n_users,), dtype=float32
    """
    order = np.argsort(user_rows, kind="stable")
    users, starts = np.unique(user_rows[order], return_index=True)
    ends = np.append(starts[1:], len(order))
    features = np.column_stack([item_vectors[order], np.ones(len(order))]).astype(np.float64)
    weights = sample_weight[order].astype(np.float64)
    weighted_targets = weights * targets[order]
    identity = np.eye(features.shape[1])
    solution = np.empty((len(users), features.shape[1]))
    # One small system per user: its Gram matrix is one BLAS product of its rows.
    for u, (lo, hi) in enumerate(zip(starts.tolist(), ends.tolist())):
        rows = features[lo:hi]
        gram = (rows * weights[lo:hi, None]).T @ rows + (
            weights[lo:hi].sum() * alpha + row_alpha) * identity
        rhs = weighted_targets[lo:hi] @ rows
        if alpha > 0 or row_alpha > 0:  # positive definite
            solution[u] = np.linalg.solve(gram, rhs)
        else:
            solution[u] = np.linalg.lstsq(gram, rhs, rcond=None)[0]
    solution = solution.astype(np.float32)
    return users, solution[:, :-1], solution[:, -1]
