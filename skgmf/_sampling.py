"""Negative sampling of unobserved (user, item) pairs, in NumPy."""
# License: BSD 3 clause

import numpy as np

# Rounds of redrawing items that hit an observed pair, before the few rows left
# (users who have seen most items) draw from their unobserved items exactly.
_MAX_REDRAWS = 10

# Up to this many (user, item) cells, observed pairs are also kept as a dense
# boolean matrix (ML-1M: 22 million cells, 22 MB): a lookup is one gather instead
# of a binary search.
_DENSE_CELLS = 1 << 26


class NegativeSampler:
    """Draw items a user has not interacted with.

    Parameters
    ----------
    observed : ndarray of shape (n_pairs, 2), dtype=int
        Observed (user row, item row) pairs, which are never drawn (unless a user
        has observed every item with a positive weight).
    n_items : int
        Number of item rows.
    weights : ndarray of shape (n_items,) or None
        Unnormalised probability of drawing each item; None draws uniformly.
    """

    def __init__(self, observed, n_items, weights=None):
        from ._interactions import distinct

        self.n_items = n_items
        self.observed = observed
        self.weights = weights
        # Linear for pairs sorted by user then item (fit's rows, a CSR matrix's).
        self._keys = distinct(observed[:, 0].astype(np.int64) * n_items + observed[:, 1])
        n_users = int(observed[:, 0].max()) + 1 if len(observed) else 0
        self._dense = None
        if n_users * n_items <= _DENSE_CELLS:
            self._dense = np.zeros(n_users * n_items, dtype=bool)
            self._dense[self._keys] = True
        self._weights = None if weights is None else np.asarray(weights, dtype=np.float64)
        if weights is None:
            self._cdf = None
        else:
            cdf = np.cumsum(self._weights)
            self._cdf = cdf / cdf[-1]

    def _draw(self, rng, size):
        if self._cdf is None:
            return rng.integers(self.n_items, size=size)
        return np.searchsorted(self._cdf, rng.random(size), side="right").clip(
            0, self.n_items - 1
        )

    def is_observed(self, users, items):
        """Whether each (user row, item row) pair is observed."""
        keys = users.astype(np.int64) * self.n_items + items
        if self._dense is not None:
            inside = keys < len(self._dense)  # users without observed pairs
            return np.where(inside, self._dense[np.where(inside, keys, 0)], False)
        pos = np.searchsorted(self._keys, keys).clip(0, len(self._keys) - 1)
        return self._keys[pos] == keys

    def sample(self, users, rng):
        """One unobserved item row per entry of ``users``."""
        items = self._draw(rng, len(users))
        redo = np.flatnonzero(self.is_observed(users, items))
        for _ in range(_MAX_REDRAWS):
            if len(redo) == 0:
                break
            items[redo] = self._draw(rng, len(redo))
            redo = redo[self.is_observed(users[redo], items[redo])]
        for user in np.unique(users[redo]).tolist():  # Python ints: no overflow
            rows = redo[users[redo] == user]
            lo, hi = np.searchsorted(self._keys, [user * self.n_items,
                                                  (user + 1) * self.n_items])
            seen = self._keys[lo:hi] % self.n_items
            weights = np.ones(self.n_items) if self._weights is None else self._weights.copy()
            weights[seen] = 0
            if weights.sum() > 0:
                items[rows] = rng.choice(self.n_items, len(rows), p=weights / weights.sum())
        return items
