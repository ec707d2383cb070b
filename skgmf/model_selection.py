"""Splits that recommender evaluations need, usable as scikit-learn's ``cv=``."""
# License: BSD 3 clause

import os
from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.model_selection import BaseCrossValidator, PredefinedSplit, train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import validate_params

__all__ = ["UserLeaveKOut", "movielens_100k_folds", "train_test_split_known"]


def _id_column(X, j):
    """Column ``j`` (0: users, 1: items) of ``X`` as a 1-d ndarray, with no missing id.

    ``X`` is an array-like or a DataFrame with at least the two columns user, item.
    """
    if not hasattr(X, "iloc"):
        X = np.asarray(X, dtype=object if not hasattr(X, "dtype") else None)
    if X.ndim != 2 or X.shape[1] < 2:
        raise ValueError(
            f"X must have at least 2 columns (user, item); got shape {X.shape}."
        )
    column = X.iloc[:, j].to_numpy() if hasattr(X, "iloc") else X[:, j]
    if pd.isna(column).any():
        field = ("users", "items")[j]
        raise ValueError(
            f"X contains missing ids (None or NaN) in column {j} ({field}); "
            "every rating needs a user and an item."
        )
    return column


def train_test_split_known(*arrays, test_size=0.2, random_state=None, shuffle=True):
    """Split at random, then keep only test rows whose user and item are in training.

    The seed notebook's split: :func:`sklearn.model_selection.train_test_split`,
    after which test rows with a user or an item that the training part lacks are
    dropped, so that every test rating can be predicted from learned factors.

    Parameters
    ----------
    *arrays : sequence of indexables with the same length
        The first is ``X``, whose first two columns are users and items, with no
        missing id; the others (``y``, sample weights) are split alongside.
    test_size : float or int, default=0.2
        As in :func:`~sklearn.model_selection.train_test_split`, before filtering.
    random_state : int, RandomState instance or None, default=None
        Controls the shuffling.
    shuffle : bool, default=True
        Shuffle before splitting.

    Returns
    -------
    splitting : list
        ``train, test`` pairs of every array, as ``train_test_split`` returns them;
        the test parts hold only rows with known users and items.

    Examples
    --------
    >>> from skgmf.model_selection import train_test_split_known
    >>> X = [[0, 0], [0, 1], [1, 0], [1, 1], [2, 2]]
    >>> X_train, X_test = train_test_split_known(X, test_size=2, shuffle=False)
    >>> len(X_train), X_test
    (3, [[1, 1]])
    """
    if not arrays:
        raise ValueError("At least one array (X) is required.")
    ids = [_id_column(arrays[0], j) for j in (0, 1)]
    # Split row numbers alongside, to find the ids of each part.
    *parts, train_rows, test_rows = train_test_split(
        *arrays, np.arange(len(ids[0])), test_size=test_size,
        random_state=random_state, shuffle=shuffle,
    )
    known = np.ones(len(test_rows), dtype=bool)
    for column in ids:
        known &= pd.Series(column[test_rows]).isin(column[train_rows]).to_numpy()
    rows = np.flatnonzero(known)
    for k in range(1, len(parts), 2):
        part = parts[k]
        if hasattr(part, "iloc"):
            parts[k] = part.iloc[rows]
        elif isinstance(part, list):
            parts[k] = [part[r] for r in rows]
        else:
            parts[k] = part[rows]
    return parts


class UserLeaveKOut(BaseCrossValidator):
    """Hold out ``n_test`` ratings of every user.

    Per-user leave-one-out (``n_test=1``) and leave-k-out, as recommender papers
    evaluate: each split's test set holds ``n_test`` ratings of each user, the
    training set all others. Users with at most ``n_test`` ratings stay entirely in
    training; if all users do, ``split`` raises a ValueError rather than yield empty
    test sets. Usable as ``cv=`` in scikit-learn's model selection tools.

    Parameters
    ----------
    n_test : int, default=1
        Ratings held out per user.
    n_splits : int, default=1
        Number of splits. With ``strategy="random"`` each split draws its held-out
        ratings afresh; with ``"last"`` only one split exists.
    strategy : {"random", "last"}, default="random"
        ``"last"`` holds out each user's last rows in the order of ``X``: sort the
        ratings by time first to hold out the latest ones (the NCF protocol).
    random_state : int, RandomState instance or None, default=None
        Seed of the random choice.

    Examples
    --------
    >>> from skgmf.model_selection import UserLeaveKOut
    >>> X = [["a", 1], ["a", 2], ["a", 3], ["b", 1], ["b", 3]]
    >>> for train, test in UserLeaveKOut(strategy="last").split(X):
    ...     print(train, test)
    [0 1 3] [2 4]
    """

    def __init__(self, n_test=1, *, n_splits=1, strategy="random", random_state=None):
        self.n_test = n_test
        self.n_splits = n_splits
        self.strategy = strategy
        self.random_state = random_state

    def _check(self):
        if not isinstance(self.n_test, Integral) or self.n_test < 1:
            raise ValueError(f"n_test must be a positive integer, got {self.n_test!r}.")
        if not isinstance(self.n_splits, Integral) or self.n_splits < 1:
            raise ValueError(
                f"n_splits must be a positive integer, got {self.n_splits!r}."
            )
        if self.strategy not in ("random", "last"):
            raise ValueError(
                f"strategy must be 'random' or 'last', got {self.strategy!r}."
            )
        if self.strategy == "last" and self.n_splits != 1:
            raise ValueError("strategy='last' gives a single split; set n_splits=1.")

    def get_n_splits(self, X=None, y=None, groups=None):
        """Number of splits.

        Parameters
        ----------
        X, y, groups : object
            Ignored.

        Returns
        -------
        n_splits : int
        """
        self._check()
        return self.n_splits

    def _iter_test_indices(self, X=None, y=None, groups=None):
        self._check()
        users = pd.factorize(_id_column(X, 0))[0]
        counts = np.bincount(users)
        # Position of every row among its user's rows, once rows are grouped by user.
        within = np.arange(len(users)) - np.repeat(np.cumsum(counts) - counts, counts)
        held_out = within >= np.repeat(counts - self.n_test, counts)  # the last n_test
        held_out &= np.repeat(counts > self.n_test, counts)
        if not held_out.any():
            raise ValueError(
                f"No user has more than n_test={self.n_test} ratings, so every test "
                "set would be empty."
            )
        rng = check_random_state(self.random_state)
        for _ in range(self.n_splits):
            if self.strategy == "last":
                order = np.argsort(users, kind="stable")  # keeps the order of X
            else:
                order = np.lexsort([rng.random_sample(len(users)), users])
            yield np.sort(order[held_out])

    def split(self, X, y=None, groups=None):
        """Generate train and test row indices.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_fields)
            Ratings' ids; users, none missing, in the first column.
        y, groups : object
            Ignored.

        Yields
        ------
        train : ndarray
            Training row indices.
        test : ndarray
            Test row indices.
        """
        yield from super().split(X, y, groups)


@validate_params(
    {"ratings": [pd.DataFrame], "data_home": [str, os.PathLike, None],
     "download": ["boolean"]},
    prefer_skip_nested_validation=True,
)
def movielens_100k_folds(ratings, *, data_home=None, download=True):
    """MovieLens 100K's predefined folds ``u1``..``u5`` as a ``cv=`` splitter.

    Parameters
    ----------
    ratings : pandas.DataFrame
        MovieLens 100K ratings with columns ``user`` and ``item``, in any row order,
        as :func:`skgmf.datasets.load_movielens` returns them.
    data_home : str or path-like, default=None
        As in :func:`skgmf.datasets.load_movielens`, which finds the fold files.
    download : bool, default=True
        Download MovieLens 100K if no local copy is found.

    Returns
    -------
    cv : sklearn.model_selection.PredefinedSplit
        Five splits; split ``k`` tests on the ratings of ``u{k+1}.test``.

    Examples
    --------
    >>> from skgmf.datasets import load_movielens
    >>> from skgmf.model_selection import movielens_100k_folds
    >>> ratings = load_movielens("ml-100k")  # doctest: +SKIP
    >>> movielens_100k_folds(ratings).get_n_splits()  # doctest: +SKIP
    5
    """
    from .datasets import _find_local, _read_ratings, get_data_home, load_movielens

    missing = {"user", "item"}.difference(ratings.columns)
    if missing:
        raise ValueError(
            f"ratings must have columns 'user' and 'item'; {sorted(missing)} missing "
            f"from {list(ratings.columns)}."
        )
    load_movielens("ml-100k", data_home=data_home, download=download)
    home = get_data_home(data_home)
    pairs = pd.MultiIndex.from_arrays([ratings["user"], ratings["item"]])
    test_fold = np.full(len(ratings), -1)
    for k in range(5):
        fold = _read_ratings(_find_local(home, "ml-100k", f"u{k + 1}.test"))
        test_fold[pairs.isin(pd.MultiIndex.from_arrays([fold["user"], fold["item"]]))] = k
    if (test_fold < 0).any():
        raise ValueError(
            f"{int((test_fold < 0).sum())} rows of ratings are in no u1..u5 test file: "
            "pass MovieLens 100K ratings."
        )
    return PredefinedSplit(test_fold)
