"""What the model has seen: (user, item) pairs, item popularity, rows' rating weights."""
# License: BSD 3 clause

from typing import NamedTuple

import numpy as np

from ._params import move_rows

# An update adding more pairs than this share of those stored rebuilds the pairs
# (a sort) instead of inserting them one user at a time.
_REBUILD_SHARE = 0.05


class Interactions(NamedTuple):
    """The interactions of every row trained on so far (immutable).

    ``seen`` is a boolean CSR matrix (user rows x item rows) of the pairs seen,
    each row's item columns sorted (``recommend`` leaves them out; the classifier
    never samples them as negatives). ``item_counts`` counts each item's
    interactions (every rating, or every positive label): its popularity.
    ``row_weights`` is, per user and item row, the summed weight of its ratings
    (the SGD engine's per-row penalty), or None for a model trained without it.
    """

    seen: object  # scipy.sparse.csr_matrix of bool
    item_counts: np.ndarray
    row_weights: tuple = None

    @classmethod
    def from_rows(cls, idx, counted, sizes, row_weights=None):
        """The interactions of the rows ``idx`` (-1: an id without a row).

        ``counted`` marks the rows that count for popularity.
        """
        users, items, counted = _known(idx, counted)
        seen = _csr_from_keys(distinct(users.astype(np.int64) * sizes[1] + items), sizes)
        counts = np.bincount(items[counted], minlength=sizes[1])
        return cls(seen, counts, row_weights)

    def updated(self, moves, sizes, idx, counted, *, count_seen=True, row_weights=None):
        """These interactions with rows moved (``moves``) and the rows ``idx`` added.

        ``moves`` gives the new row of every old user and item row (the
        vocabularies grew to ``sizes``). With ``count_seen=False`` pairs stored
        already do not count again for popularity. ``row_weights``, when given,
        are added to the moved ones (None for a field: nothing added). The cost
        grows with the update and the number of rows of the tables (and, when
        items are added or the update is large, with one linear pass over the
        stored pairs), never with a sort of all pairs so far.
        """
        from scipy import sparse

        indptr, indices = self.seen.indptr, self.seen.indices
        if sizes[1] != self.seen.shape[1]:
            # Increasing: the item columns of every user stay sorted.
            indices = moves[1].astype(indices.dtype)[indices]
        if sizes[0] != self.seen.shape[0]:
            lengths = np.zeros(sizes[0], dtype=np.int64)
            lengths[moves[0]] = np.diff(indptr)
            indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(indptr.dtype)
        users, items, counted = _known(idx, counted)
        keys = users.astype(np.int64) * sizes[1] + items
        new_keys, first = np.unique(keys, return_inverse=True)
        if len(new_keys) > _REBUILD_SHARE * len(indices):
            # A large update: one vectorised pass over the stored pairs, whose keys
            # are sorted; merged with the new ones (two sorted runs) in one sort.
            old_keys = _keys(indptr, indices, sizes[1])
            at = np.minimum(np.searchsorted(old_keys, new_keys), max(len(old_keys) - 1, 0))
            stored = (old_keys[at] == new_keys) if len(old_keys) else np.zeros(
                len(new_keys), dtype=bool)
            all_keys = np.concatenate([old_keys, new_keys[~stored]])
            all_keys.sort(kind="stable")
            seen = _csr_from_keys(all_keys, sizes)
        else:
            # A small one: looked up and inserted one user at a time.
            new_users, new_items = np.divmod(new_keys, sizes[1])
            # Sorted keys: the new pairs of a row are in order of item.
            at = _insert_positions(indptr, indices, new_users, new_items)
            stored = _stored_at(indptr, indices, at, new_users, new_items)
            new_users, new_items = new_users[~stored], new_items[~stored]
            indices = _insert(indices, at[~stored], new_items.astype(indices.dtype))
            added = np.bincount(new_users, minlength=sizes[0])
            indptr = indptr + np.concatenate([[0], np.cumsum(added)]).astype(indptr.dtype)
            seen = sparse.csr_matrix(
                (np.ones(len(indices), dtype=bool), indices, indptr),
                shape=(sizes[0], sizes[1]),
            )
        if not count_seen:
            counted = counted & ~stored[first]
        counts = move_rows(self.item_counts, moves[1], sizes[1])
        counts = counts + np.bincount(items[counted], minlength=sizes[1])
        weights = self.row_weights
        if weights is not None and row_weights is not None:
            weights = tuple(move_rows(w, m, n) + (0.0 if added is None else added)
                            for w, m, n, added in zip(weights, moves, sizes, row_weights))
        return Interactions(seen, counts, weights)

    def pairs(self, users=None):
        """The seen pairs as (user rows, item rows), sorted by user then item.

        Only those of the sorted, distinct user rows ``users`` when given: the
        cost is theirs, not that of every pair.
        """
        if users is None:
            indptr, items = self.seen.indptr, self.seen.indices
            return np.repeat(np.arange(len(indptr) - 1, dtype=np.int32),
                             np.diff(indptr)), items
        rows = self.seen[users]
        return np.repeat(users.astype(np.int32), np.diff(rows.indptr)), rows.indices


def row_weights(idx, sample_weight, sizes):
    """Summed sample weight of every row of the first two fields (float64)."""
    return tuple(np.bincount(idx[:, f], weights=sample_weight, minlength=sizes[f])
                 for f in range(2))


def _known(idx, counted):
    known = (idx[:, 0] >= 0) & (idx[:, 1] >= 0)
    return idx[known, 0], idx[known, 1], counted[known]


def _keys(indptr, indices, n_items):
    """The sorted keys ``user * n_items + item`` of a CSR matrix's pairs."""
    users = np.repeat(np.arange(len(indptr) - 1, dtype=np.int64), np.diff(indptr))
    return users * n_items + indices


def distinct(keys):
    """The distinct keys, sorted: linear when they are sorted already (fit's rows
    are, in their canonical order), else a sort."""
    if len(keys) and np.all(keys[1:] >= keys[:-1]):
        return keys[np.r_[True, keys[1:] != keys[:-1]]]
    return np.unique(keys)


def _csr_from_keys(keys, sizes):
    """The boolean CSR matrix of the sorted, distinct keys ``user * n_items + item``."""
    from scipy import sparse

    users, items = np.divmod(keys, sizes[1])
    indptr = np.concatenate([[0], np.cumsum(np.bincount(users, minlength=sizes[0]))])
    index_dtype = np.int32 if max(len(keys), sizes[1]) < 2**31 else np.int64
    return sparse.csr_matrix(
        (np.ones(len(keys), dtype=bool), items.astype(index_dtype),
         indptr.astype(index_dtype)),
        shape=(sizes[0], sizes[1]),
    )


# Up to this many values, _insert copies the runs between them one by one.
_FEW = 10_000


def _insert(array, at, values):
    """``np.insert(array, at, values)`` for sorted ``at``: a few values into a long
    array cost a copy of it (np.insert builds and applies a mask as long as it)."""
    if len(values) > _FEW:
        return np.insert(array, at, values)
    out = np.empty(len(array) + len(values), dtype=array.dtype)
    out[at + np.arange(len(at))] = values
    bounds = [0, *at.tolist(), len(array)]
    for shift, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:])):
        out[lo + shift : hi + shift] = array[lo:hi]
    return out


def _insert_positions(indptr, indices, users, items):
    """Where each (user, item) pair goes among the stored ones (users sorted)."""
    at = np.empty(len(users), dtype=np.int64)
    if len(users) == 0:
        return at
    bounds = np.flatnonzero(np.diff(users)) + 1
    for lo, hi in zip([0, *bounds.tolist()], [*bounds.tolist(), len(users)]):
        u = int(users[lo])
        start, end = int(indptr[u]), int(indptr[u + 1])
        at[lo:hi] = start + np.searchsorted(indices[start:end], items[lo:hi])
    return at


def _stored_at(indptr, indices, at, users, items):
    """Whether each (user, item) pair is stored, ``at`` its insert position."""
    ends = indptr[users + 1]
    inside = at < ends
    found = np.zeros(len(users), dtype=bool)
    found[inside] = indices[at[inside]] == items[inside]
    return found
