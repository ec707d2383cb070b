"""Negative sampling of unobserved (user, item) pairs, in NumPy."""
# License: BSD 3 clause

import numpy as np

# Rounds of redrawing items that hit an observed pair; what is left after them is
# kept (with millions of candidates per user this leaves a vanishing share).
_MAX_REDRAWS = 20


class NegativeSampler:
    """Draw items a user has not interacted with.

    Parameters
    ----------
    observed : ndarray of shape (n_pairs, 2), dtype=int
        Observed (user row, item row) pairs, which are never drawn (up to
        ``_MAX_REDRAWS`` rounds of redrawing).
    n_items : int
        Number of item rows.
    weights : ndarray of shape (n_items,) or None
        Unnormalised probability of drawing each item; None draws uniformly.
    """

    def __init__(self, observed, n_items, weights=None):
        self.n_items = n_items
        self._keys = np.unique(observed[:, 0].astype(np.int64) * n_items + observed[:, 1])
        if weights is None:
            self._cdf = None
        else:
            cdf = np.cumsum(weights, dtype=np.float64)
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
        return items
