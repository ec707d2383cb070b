"""Id <-> row of one field: the ids, their kind, and a lookup built once."""
# License: BSD 3 clause

import numpy as np
import pandas as pd

from ._encoding import (
    _DENSE_RANGE_FACTOR,
    _INT64_MAX,
    _check_hashable,
    _check_missing,
    _narrow,
    encode_ids,
    id_kind,
)


class Vocabulary:
    """The ids of one field; row ``r`` of the field's tables belongs to ``ids[r]``.

    The ids are sorted as :func:`~skgmf._encoding.encode_ids` sorts them (a fit
    and a fit followed by ``partial_fit`` calls give the same vocabulary). The
    lookup (a table over the range of compact integer ids, else a hash index) is
    built once: looking up one id costs O(1), not O(n_ids). Integer ids that
    arrive as Python objects (a DataFrame of int and string columns) are looked
    up as integers; other values of another kind than the ids (floats for
    integer ids) use a hash index built on first use and kept. Immutable:
    :meth:`extend` returns a new vocabulary.

    Parameters
    ----------
    ids : ndarray of shape (n_ids,)
        Distinct ids, sorted.
    kind : str or None, default=None
        :func:`~skgmf._encoding.id_kind` of the ids as fit saw them; None
        computes it from ``ids``.
    """

    __slots__ = ("ids", "kind", "_table", "_low", "_index")

    def __init__(self, ids, kind=None):
        ids = np.asarray(ids)
        ids.flags.writeable = False
        self.ids = ids
        self.kind = id_kind(ids) if kind is None else kind
        self._table = self._index = None
        self._low = 0
        if (ids.dtype.kind in "iu" and len(ids) and int(ids[-1]) <= _INT64_MAX
                and int(ids[-1]) - int(ids[0]) <= _DENSE_RANGE_FACTOR * len(ids) + 1024):
            self._low = lo = int(ids[0])
            span = int(ids[-1]) - lo + 1
            self._table = np.full(span + 1, -1, dtype=np.int32)  # last slot: unknown
            self._table[ids.astype(np.int64) - lo] = np.arange(len(ids), dtype=np.int32)
        else:
            self._index = pd.Index(ids)
            self._index.get_indexer(ids[:1])  # builds the hash table now

    @classmethod
    def fit(cls, values, *, field=0):
        """The vocabulary of ``values`` and the row of every value."""
        ids, rows = encode_ids(values, field=field)
        return cls(ids), rows

    def __len__(self):
        return len(self.ids)

    def rows(self, values, *, field=0):
        """The row of every id of ``values``; -1 where unknown (int32)."""
        values = _narrow(np.asarray(values))
        _check_missing(values, field)
        if self._table is not None and values.dtype.kind in "iu" and len(values):
            if values.dtype.kind == "u" and int(values.max()) > _INT64_MAX:
                values = values.astype(object)  # beyond the table: hashed below
            else:
                offset = values.astype(np.int64, copy=False) - self._low
                span = len(self._table) - 1
                outside = (offset < 0) | (offset >= span)
                return self._table[np.where(outside, span, offset)]
        _check_hashable(values, field)
        return self._hash_index().get_indexer(values).astype(np.int32, copy=False)

    def _hash_index(self):
        """The hash index of the ids: built in the constructor, or on first use."""
        if self._index is None:
            # Kept once built; two threads may both build it (the same index).
            self._index = pd.Index(self.ids)
        return self._index

    def extend(self, values, *, field=0):
        """This vocabulary grown by the ids of ``values`` it lacks, sorted as in fit.

        Returns
        -------
        vocabulary : Vocabulary
            The grown vocabulary (``self`` when nothing is new).
        move : ndarray of shape (len(self),), dtype=int32
            The new row of every old row (increasing: old rows keep their order).
        rows : ndarray of shape (len(values),), dtype=int32
            The row of every value in the grown vocabulary.
        """
        rows = self.rows(values, field=field)
        new = rows < 0
        if not new.any():
            return self, np.arange(len(self), dtype=np.int32), rows
        # Encoded together, as one fit would encode them: mixed types sort as there.
        grown, grown_rows = encode_ids(_concatenate_ids(self.ids, values[new]),
                                       field=field)
        move = grown_rows[: len(self)]
        rows[new] = grown_rows[len(self) :]
        rows[~new] = move[rows[~new]]
        return Vocabulary(grown), move, rows

    def restricted(self, used):
        """The vocabulary of the rows ``used`` (sorted), e.g. those training uses."""
        return Vocabulary(self.ids[used], self.kind)


def _concatenate_ids(ids, values):
    """Known and new ids in one array, as they would be in one ``fit``.

    Arrays of one kind keep it (int32 and int64 ids are int64); others become an
    object array of Python values, so that ``1`` never turns into ``"1"`` and
    int64 ids beside uint64 ids never into floats.
    """
    if np.result_type(ids.dtype, values.dtype).kind == ids.dtype.kind == values.dtype.kind:
        return np.concatenate([ids, values])
    return np.concatenate([ids.astype(object), values.astype(object)])
