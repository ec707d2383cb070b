"""The column contract of X: users, items and the context fields the user asks for."""
# License: BSD 3 clause

import warnings
from numbers import Integral

import numpy as np
import pandas as pd

from ._encoding import plain_value

# Column names read as users or items (lower case, without "_", "-" or spaces), to
# catch a DataFrame whose first two columns are the other way round.
USER_NAMES = frozenset({
    "user", "users", "userid", "uid", "customer", "customerid", "member", "memberid",
    "visitor", "visitorid", "reader", "readerid", "listener", "listenerid",
})
ITEM_NAMES = frozenset({
    "item", "items", "itemid", "iid", "movie", "movies", "movieid", "product",
    "productid", "book", "bookid", "isbn", "track", "trackid", "song", "songid",
    "artist", "artistid",
})

# A context column with at least this share of distinct values among at least
# _MIN_ROWS rows (under 4 rows per id on average) looks like a measurement (a
# timestamp, a price), not ids.
_DISTINCT_SHARE = 0.25
_MIN_ROWS = 20


def _normalised(name):
    return str(name).lower().replace("_", "").replace("-", "").replace(" ", "")


def check_user_item_names(columns):
    """Raise if the first two column names read as items then users.

    ``columns`` are a DataFrame's column names (None for an array).
    """
    if columns is None or len(columns) < 2:
        return
    first, second = _normalised(columns[0]), _normalised(columns[1])
    if first in ITEM_NAMES and second in USER_NAMES:
        raise ValueError(
            f"The first two columns of X are named {plain_value(columns[0])!r} and "
            f"{plain_value(columns[1])!r}: items, then users. The estimator reads users "
            f"from column 0 and items from column 1; reorder the columns, e.g. "
            f"X[[{plain_value(columns[1])!r}, {plain_value(columns[0])!r}]]."
        )


def _describe(columns, positions):
    """``"2 ('rating'), 3 ('timestamp')"``: columns by position and name."""
    if columns is None:
        return ", ".join(str(p) for p in positions)
    return ", ".join(f"{p} ({plain_value(columns[p])!r})" for p in positions)


def context_positions(context_features, n_columns, columns, estimator_name):
    """Positions of the context columns that ``context_features`` selects.

    Parameters
    ----------
    context_features : None, "remaining" or array-like of int or str
        The estimator's parameter.
    n_columns : int
        Number of columns of X.
    columns : sequence or None
        Column names of a DataFrame X, None for an array.
    estimator_name : str
        For messages.

    Returns
    -------
    positions : list of int
        Sorted positions (each >= 2) of the context columns.
    """
    extra = list(range(2, n_columns))
    if context_features is None:
        if extra:
            raise ValueError(
                f"X has {n_columns} columns (n_features = {n_columns}), but "
                f"{estimator_name} reads users from column 0 and items from column 1 "
                f"and uses no other column unless asked: columns {_describe(columns, extra)} "
                "would be ignored. Pass only the user and item columns (X[['user', "
                "'item']] of a ratings DataFrame; the rating must not be in X), or set "
                "context_features='remaining' (or a list of the context columns) to use "
                "them as context fields of ids."
            )
        return []
    if isinstance(context_features, str):  # "remaining", by the parameter constraints
        return extra
    selected = np.asarray(context_features)
    if selected.ndim != 1:
        raise ValueError(
            f"context_features must be 'remaining' or a 1-D list of column indices or "
            f"names, got an array of shape {selected.shape}."
        )
    positions = []
    for value in selected.tolist():
        if isinstance(value, bool) or not isinstance(value, (Integral, str)):
            raise TypeError(
                f"context_features holds {value!r}: it takes column indices (int) or "
                "column names (str)."
            )
        if isinstance(value, str):
            if columns is None:
                raise ValueError(
                    f"context_features names the column {value!r}, but X has no column "
                    "names; pass a DataFrame or column indices."
                )
            matches = [p for p, name in enumerate(columns) if name == value]
            if not matches:
                raise ValueError(
                    f"context_features names the column {value!r}, which X does not have; "
                    f"its columns are {[plain_value(c) for c in columns]}."
                )
            position = matches[0]
        else:
            position = int(value)
        if not 2 <= position < n_columns:
            raise ValueError(
                f"context_features selects column {value!r} (position {position}); "
                f"context columns come after the user and item columns 0 and 1, among "
                f"the {n_columns} columns of X."
            )
        positions.append(position)
    if len(set(positions)) != len(positions):
        raise ValueError(f"context_features selects a column twice: {selected.tolist()}.")
    return sorted(positions)


def check_context_columns(X, positions, y, columns, y_name):
    """Reject a context column that is the target; warn about columns that look numeric.

    ``X`` is the validated array, ``positions`` the context columns, ``y`` the
    target (None in ``predict``), ``columns`` the DataFrame's names (or None) and
    ``y_name`` the name of a Series ``y`` (or None).
    """
    # X whose every column equals y (scikit-learn's checks round blobs into ids
    # and labels alike) has no one column to point at as the leak.
    all_y = bool(positions) and y is not None and all(
        _equal_values(X[:, p], y) for p in range(X.shape[1])
    )
    for p in positions:
        name = None if columns is None else columns[p]
        where = f"Context column {_describe(columns, [p])} of X"
        if y_name is not None and name is not None and str(name) == str(y_name):
            raise ValueError(
                f"{where} has the name of y ({plain_value(y_name)!r}): the target must not "
                "be a feature. Leave it out of X and of context_features."
            )
        values = X[:, p]
        if y is not None and len(y) >= 2 and not all_y and _equal_values(values, y):
            raise ValueError(
                f"{where} equals y: the target must not be a feature. Leave it out of "
                "X and of context_features."
            )
        reason = _looks_numeric(values)
        if reason:
            warnings.warn(
                f"{where} {reason}; every distinct value becomes an id of its own with an "
                "embedding row, learned from the rows that share it. Bin it (e.g. "
                "hour of day) or leave it out of context_features if it is a measurement.",
                UserWarning,
                stacklevel=4,
            )


def _equal_values(values, y):
    try:
        a = np.asarray(values, dtype=np.float64)
        b = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return a.shape == b.shape and bool(np.all(a == b))


def _looks_numeric(values):
    """Why a context column looks like a measurement rather than ids, or ``""``."""
    try:
        floats = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        floats = None
    if (floats is not None and np.asarray(values).dtype.kind in "fO"
            and np.isfinite(floats).all() and (floats != np.round(floats)).any()):
        return "holds non-integer numbers"
    n = len(values)
    if n >= _MIN_ROWS and len(pd.unique(values)) >= _DISTINCT_SHARE * n:
        return f"holds {len(pd.unique(values))} distinct values in {n} rows"
    return ""


# Names of the fields of the first two columns of X (the Keras model's inputs
# too); further columns are context fields.
FIELD_NAMES = ("user", "item")


def column_where(f):
    """``"Column 0 (users) of X"``: column ``f`` of X, for messages."""
    name = f"{FIELD_NAMES[f]}s" if f < len(FIELD_NAMES) else f"field {f}"
    return f"Column {f} ({name}) of X"


def prepare_X(X):
    """Reject 1-D input in one line; keep the integer ids of a DataFrame integers."""
    if isinstance(X, pd.DataFrame):
        return _prepare_frame(X)
    if hasattr(X, "ndim"):
        ndim = X.ndim
    elif isinstance(X, (list, tuple)):
        # The first entry tells a list of ids from a list of rows, without copying
        # the whole list into an array.
        try:
            ndim = 1 if len(X) and np.ndim(X[0]) == 0 else None
        except (TypeError, ValueError):
            ndim = None
    else:
        ndim = None  # ragged, generators, ...: validate_data says what is wrong
    if ndim == 1:
        raise ValueError(
            f"Expected a 2-D X of (user, item) rows, got a 1-D array of "
            f"{len(X)} values. Reshape your data to one (user, item) row per rating."
        )
    return X


def _prepare_frame(X):
    """A DataFrame whose integer id columns survive the conversion to one array.

    Nullable ``Int64`` columns become NumPy integers (NA is a missing id). Integer
    columns beside float columns (or ``int64`` beside ``uint64``) would become
    floats in one NumPy array, which turns ``1`` into ``1.0`` and merges ids beyond
    2**53: they are passed as Python ints in an object array instead.
    """
    duplicated = X.columns[X.columns.duplicated()]
    if len(duplicated):
        raise ValueError(
            f"X has duplicate column names, e.g. {plain_value(duplicated[0])!r}; "
            "give every column its own name."
        )
    columns, dtypes = {}, []
    for f in range(X.shape[1]):  # by position: names may be anything
        dtype = X.dtypes.iloc[f]
        if pd.api.types.is_extension_array_dtype(dtype) and (
            pd.api.types.is_integer_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)
        ):
            column = X.iloc[:, f]
            if column.isna().any():
                raise ValueError(
                    f"{column_where(f)} holds missing ids (NA); every user and item "
                    "needs an id."
                )
            dtype = dtype.numpy_dtype
            columns[f] = column.to_numpy(dtype=dtype)
        dtypes.append(dtype if isinstance(dtype, np.dtype) else np.dtype(object))
    try:
        common = np.result_type(*dtypes).kind
    except TypeError:
        # No common dtype (datetime64 beside int64), which check_array needs.
        return X.astype(object)
    if common == "f":
        for f, dtype in enumerate(dtypes):
            if dtype.kind in "iu":
                values = columns[f] if f in columns else X.iloc[:, f].to_numpy()
                columns[f] = values.astype(object)
    if not columns:
        return X
    X = X.copy(deep=False)
    for f, values in columns.items():
        X.isetitem(f, values)
    return X


def check_numeric_y(y):
    """Ratings as numbers, or a one-line error that names ``y``."""
    if y is None:
        return y  # validate_data says that y is required
    try:
        values = np.asarray(y)
    except (TypeError, ValueError):
        return y  # ragged and the like: validate_data says what is wrong
    if values.dtype.kind in "biufc":
        return y  # complex: validate_data rejects it
    try:
        values.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"y must hold numeric ratings: {exc}.") from None
    return y
