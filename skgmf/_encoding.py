"""Encoding ids: sorted distinct ids of any hashable kind, id kinds, and the rows' canonical order."""
# License: BSD 3 clause

import warnings

import numpy as np
import pandas as pd


def plain_value(value):
    """A NumPy scalar as the Python value, for messages (``'a'``, not ``np.str_('a')``)."""
    return value.item() if isinstance(value, np.generic) else value


def _sort_key(value):
    """Order ids of mixed types deterministically: by type name, then value."""
    return (type(value).__name__, str(value))


def _check_hashable(values, field):
    """Raise a TypeError naming the first id that cannot be hashed."""
    if values.dtype != object:
        return
    for value in values:
        try:
            hash(value)
        except TypeError:
            raise TypeError(
                f"Ids in column {field} of X must be hashable scalars: an id "
                f"argument must be a string or a number, not {type(value).__name__!r}."
            ) from None


# pandas' inferred type of an object array -> the kind of ids it holds.
_KINDS = {
    "string": "string",
    "integer": "numeric",
    "floating": "numeric",
    "mixed-integer-float": "numeric",
    "decimal": "numeric",
    "boolean": "numeric",
}


def id_kind(values):
    """``"numeric"``, ``"string"`` or ``"mixed"``: what kind of ids ``values`` holds.

    ``None`` for an empty array. Used to warn when ``predict`` gets ids of
    another kind than ``fit`` (``"1"`` for ``1``), which can never match.
    """
    values = np.asarray(values)
    if len(values) == 0:
        return None
    if values.dtype.kind in "biuf":
        return "numeric"
    if values.dtype.kind in "US":
        return "string"
    return _KINDS.get(pd.api.types.infer_dtype(values, skipna=False), "mixed")


def _narrow(values):
    """An object array of only ints (or floats, bools) as that NumPy dtype.

    A DataFrame with an integer user column and a string item column becomes an
    object array; its integer ids stay integers this way.
    """
    if values.dtype != object or len(values) == 0:
        return values
    inferred = pd.api.types.infer_dtype(values, skipna=False)
    dtype = {"integer": np.int64, "floating": np.float64, "boolean": bool}.get(inferred)
    if dtype is None:
        return values
    try:
        return values.astype(dtype)
    except (OverflowError, TypeError, ValueError):  # ints beyond int64
        return values


# Integer ids spread over at most this many times as many values as there are
# rows (in encode_ids) or known ids (in Vocabulary) are indexed by a table over
# their range, not hashed.
_DENSE_RANGE_FACTOR = 4
_INT64_MAX = np.iinfo(np.int64).max


def stable_argsort(keys, n_keys):
    """``np.argsort(keys, kind="stable")`` as int32, for ids below ``n_keys``.

    NumPy's stable sort is a radix sort for 16-bit keys: linear in the rows when
    the ids fit in 16 bits.
    """
    if n_keys <= 1 << 16:
        keys = keys.astype(np.uint16)
    return np.argsort(keys, kind="stable").astype(np.int32)


def encode_ids(values, *, field=0):
    """Learn the vocabulary of one field and encode it.

    Parameters
    ----------
    values : ndarray of shape (n_samples,)
        Ids of one field (any hashable values, possibly of mixed types).
    field : int, default=0
        Column index of the field, used in error messages.

    Returns
    -------
    ids : ndarray of shape (n_ids,)
        The distinct ids, sorted; row ``r`` of an embedding table belongs to ``ids[r]``.
    idx : ndarray of shape (n_samples,), dtype=int32
        Row index of each value in ``ids``.
    """
    values = _narrow(np.asarray(values))
    _check_missing(values, field)
    if values.dtype.kind in "iu" and len(values):
        lo, hi = int(values.min()), int(values.max())
        if hi - lo <= _DENSE_RANGE_FACTOR * len(values) and hi <= _INT64_MAX:
            # Compact integer ids (the usual case): a table over their range
            # instead of a sort, linear in the number of rows. Offsets in int64:
            # narrow dtypes (int8) would wrap around.
            offset = values.astype(np.int64) - lo
            present = np.zeros(hi - lo + 1, dtype=bool)
            present[offset] = True
            rank = np.cumsum(present, dtype=np.int32) - 1
            ids = (np.flatnonzero(present) + lo).astype(values.dtype)
            return ids, rank[offset]
    if values.dtype.kind in "biuf":
        ids, idx = np.unique(values, return_inverse=True)
        return ids, idx.astype(np.int32, copy=False)
    _check_hashable(values, field)
    try:
        idx, ids = pd.factorize(values, sort=True)
    except TypeError:
        # Mixed types (say str and int) cannot be sorted together: factorize in
        # order of appearance, then reorder so the vocabulary does not depend on
        # the order of the rows.
        idx, ids = pd.factorize(values, sort=False)
        order = sorted(range(len(ids)), key=lambda r: _sort_key(ids[r]))
        rank = np.empty(len(order), dtype=np.intp)
        rank[order] = np.arange(len(order))
        ids, idx = ids[order], rank[idx]
    return np.asarray(ids, dtype=values.dtype), np.asarray(idx, dtype=np.int32)


def _check_missing(values, field):
    if values.dtype == object and pd.isna(values).any():
        raise ValueError(
            f"Input X contains missing ids (None or NaN) in column {field}; "
            "every user and item needs an id."
        )


def check_ids_present(values, where):
    """Raise a ValueError if an id of ``values`` is missing (NaN, None, NaT) or infinite.

    ``where`` names the ids in the message, e.g. ``"Column 0 (users) of X"``.
    """
    if values.dtype.kind == "f":
        missing, infinite = np.isnan(values), np.isinf(values)
    elif values.dtype.kind in "mM":  # datetime64, timedelta64
        missing = np.isnat(values)
        infinite = np.zeros(len(values), dtype=bool)
    elif values.dtype == object:
        missing = pd.isna(values)
        infinite = pd.Series(values, dtype=object).isin([np.inf, -np.inf]).to_numpy()
    else:
        return
    if missing.any():
        raise ValueError(
            f"{where} holds missing ids (NaN, None or NaT) in {int(missing.sum())} rows, "
            f"first in row {int(np.argmax(missing))}; every user and item needs an id."
        )
    if infinite.any():
        raise ValueError(
            f"{where} holds infinite ids (inf) in {int(infinite.sum())} rows, first in "
            f"row {int(np.argmax(infinite))}."
        )


def warn_unknown_ids(values, idx, ids, fitted_kind, where, fallback):
    """Warn when ``values`` look like another kind of ids than fit's, or are all unknown.

    Both usually mean the ids were converted (``"1"`` for ``1``, ``1.0`` for ``1``)
    and every answer would silently be the fallback.

    Parameters
    ----------
    values : ndarray of shape (n_samples,)
        Ids given to ``predict``, ``recommend``, ...
    idx : ndarray of shape (n_samples,)
        Their rows in ``ids``, -1 where unknown; None to skip the all-unknown warning.
    ids : ndarray of shape (n_ids,)
        The vocabulary learned in ``fit``.
    fitted_kind : str or None
        :func:`id_kind` of the ids in ``fit``.
    where : str
        What holds the ids, for the message: ``"Column 0 (users) of X"``, ``"users"``.
    fallback : str
        What the unknown ids get instead, ending the all-unknown message.
    """
    kind = id_kind(values)
    if fitted_kind and kind and "mixed" not in (kind, fitted_kind) and kind != fitted_kind:
        warnings.warn(
            f"{where} holds {kind} ids, but {fitted_kind} ids in fit: "
            f"{plain_value(values[0])!r} never matches a fitted id such as "
            f"{plain_value(ids[0])!r}. Convert the ids as they were in fit.",
            UserWarning,
        )
    elif (
        idx is not None
        and len(idx)
        and (idx < 0).all()
        and len(pd.unique(values)) > 1  # one new user is no surprise
    ):
        warnings.warn(
            f"Every id in {where[:1].lower()}{where[1:]} is unknown (e.g. "
            f"{plain_value(values[0])!r}); {fallback}.",
            UserWarning,
        )


def canonical_order(idx, y, sample_weight, sizes):
    """Rows in order of (ids, y, sample_weight): the same for any input row order.

    A least-significant-first radix sort on the ids (linear for tables of up to
    65536 rows); the full lexicographic sort only when some (id, id, ...) tuple
    repeats, so that y and the weight must break the tie.
    """
    order = np.arange(len(idx))
    for f in reversed(range(idx.shape[1])):
        order = order[stable_argsort(idx[order, f], sizes[f])]
    sorted_idx = idx[order]
    if len(order) > 1 and (sorted_idx[1:] == sorted_idx[:-1]).all(axis=1).any():
        return np.lexsort([sample_weight, y, *idx.T[::-1]])
    return order
