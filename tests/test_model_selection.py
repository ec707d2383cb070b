"""Splitters: the seed notebook's split, per-user leave-k-out, MovieLens 100K folds."""
# License: BSD 3 clause

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_array_equal
from sklearn.model_selection import cross_val_score

from skgmf import GMFRegressor
from skgmf.datasets import load_movielens
from skgmf.model_selection import (
    UserLeaveKOut,
    movielens_100k_folds,
    train_test_split_known,
)

from .conftest import FAST_PARAMS, require_dataset


def test_split_known_drops_test_rows_with_unseen_ids():
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1], [2, 2], [0, 3]])
    y = np.arange(6.0)
    X_train, X_test, y_train, y_test = train_test_split_known(
        X, y, test_size=3, shuffle=False
    )
    assert_array_equal(X_train, X[:3])
    # [1, 1] is known; [2, 2] has an unseen user, [0, 3] an unseen item.
    assert_array_equal(X_test, [[1, 1]])
    assert_array_equal(y_test, [3.0])


def test_split_known_keeps_dataframes_and_aligns_y():
    df = pd.DataFrame({"user": list("aabbc"), "item": list("xyxyz"), "r": range(5)})
    X_train, X_test, y_train, y_test = train_test_split_known(
        df[["user", "item"]], df["r"], test_size=0.4, random_state=0
    )
    assert isinstance(X_test, pd.DataFrame)
    assert_array_equal(X_test.index, y_test.index)
    assert set(X_test["user"]) <= set(X_train["user"])
    assert set(X_test["item"]) <= set(X_train["item"])


@pytest.mark.parametrize(
    "X",
    [pd.DataFrame({"user": [0, 1, 2, 3]}), np.zeros((4, 1)), np.arange(4), ["a", "b", "c"],
     pd.Series([0, 1, 2, 3])],
    ids=["dataframe", "array", "1-d array", "list", "series"],
)
def test_split_known_needs_user_and_item_columns(X):
    with pytest.raises(ValueError, match=r"X must have at least 2 columns \(user, item\); got"):
        train_test_split_known(X, test_size=2, shuffle=False)


@pytest.mark.parametrize("column, field", [(0, "users"), (1, "items")])
@pytest.mark.parametrize("missing", [None, np.nan])
def test_split_known_rejects_missing_ids(column, field, missing):
    X = pd.DataFrame({"user": list("aabbc"), "item": list("xyxyz")}, dtype=object)
    X.iloc[4, column] = missing
    with pytest.raises(ValueError, match=f"missing ids .* column {column} \\({field}\\)"):
        train_test_split_known(X, test_size=2, shuffle=False)


def test_seed_split_of_ml_latest_small_2016_has_80003_training_rows():
    """The seed notebook's 80/20 split gives 80,003 training rows on this snapshot."""
    home = require_dataset("ml-latest-small-2016/ratings.csv").parent.parent
    ratings = load_movielens("ml-latest-small-2016", data_home=home, download=False)
    assert len(ratings) == 100_004
    X_train, X_test, y_train, y_test = train_test_split_known(
        ratings[["user", "item"]].to_numpy(), ratings["rating"].to_numpy(), random_state=0
    )
    assert X_train.shape == (80_003, 2) and y_train.shape == (80_003,)
    # The notebook kept 19,259 of 20,001 test rows; which ones depends on the seed.
    assert 18_500 < len(X_test) < 20_001
    assert np.isin(X_test[:, 0], X_train[:, 0]).all()
    assert np.isin(X_test[:, 1], X_train[:, 1]).all()


class TestUserLeaveKOut:
    X = np.array([["a", 1], ["b", 1], ["a", 2], ["a", 3], ["b", 3], ["c", 1]], dtype=object)

    def test_last_holds_out_each_users_last_rows(self):
        (train, test), = UserLeaveKOut(strategy="last").split(self.X)
        # a's last row is 3, b's is 4; c has a single rating and stays in training.
        assert_array_equal(test, [3, 4])
        assert_array_equal(train, [0, 1, 2, 5])

    def test_random_holds_out_n_test_rows_per_eligible_user(self):
        cv = UserLeaveKOut(n_test=2, n_splits=20, random_state=0)
        seen = set()
        for train, test in cv.split(self.X):
            assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(6))
            # Only user a has more than 2 ratings.
            assert len(test) == 2 and set(self.X[test, 0]) == {"a"}
            seen.add(tuple(test))
        assert seen == {(0, 2), (0, 3), (2, 3)}

    def test_random_state_makes_splits_reproducible(self):
        a = [t for _, t in UserLeaveKOut(n_splits=3, random_state=1).split(self.X)]
        b = [t for _, t in UserLeaveKOut(n_splits=3, random_state=1).split(self.X)]
        assert all(np.array_equal(x, y) for x, y in zip(a, b))

    @pytest.mark.parametrize(
        "params, match",
        [
            (dict(n_test=0), "n_test"),
            (dict(n_splits=0), "n_splits"),
            (dict(strategy="oldest"), "strategy"),
            (dict(strategy="last", n_splits=2), "single split"),
        ],
    )
    def test_invalid_parameters(self, params, match):
        with pytest.raises(ValueError, match=match):
            UserLeaveKOut(**params).get_n_splits()

    def test_one_column_X_is_rejected(self):
        with pytest.raises(ValueError, match="2 columns"):
            next(UserLeaveKOut().split(np.zeros((4, 1))))

    @pytest.mark.parametrize(
        "X",
        [
            np.array([[1.0, 1], [np.nan, 2], [1.0, 3], [2.0, 1]]),
            pd.DataFrame({"user": ["a", None, "a", "b"], "item": [1, 2, 3, 1]}),
        ],
        ids=["nan", "none"],
    )
    def test_missing_user_ids_are_rejected(self, X):
        with pytest.raises(ValueError, match=r"missing ids .* column 0 \(users\)"):
            next(UserLeaveKOut().split(X))

    def test_one_column_dataframe_is_rejected(self):
        with pytest.raises(ValueError, match="2 columns"):
            next(UserLeaveKOut().split(pd.DataFrame({"user": list("aabb")})))

    def test_no_user_with_more_than_n_test_ratings_is_an_error(self):
        # Every user has at most 3 ratings: all test sets would be empty.
        with pytest.raises(ValueError, match="No user has more than n_test=3"):
            next(UserLeaveKOut(n_test=3).split(self.X))

    def test_works_as_cv_in_cross_val_score(self, low_rank_ratings):
        X, y = low_rank_ratings
        cv = UserLeaveKOut(n_test=5, n_splits=2, random_state=0)
        scores = cross_val_score(GMFRegressor(**FAST_PARAMS), X, y, cv=cv)
        assert scores.shape == (2,) and np.isfinite(scores).all()


def test_movielens_100k_folds_match_the_u_test_files(ml100k):
    home = require_dataset("ml-100k/u1.test").parent.parent
    shuffled = ml100k.sample(frac=1, random_state=0)
    cv = movielens_100k_folds(shuffled, data_home=home, download=False)
    assert cv.get_n_splits() == 5
    for k, (train, test) in enumerate(cv.split()):
        expected = pd.read_csv(
            home / "ml-100k" / f"u{k + 1}.test", sep="\t", names=["user", "item", "r", "t"]
        )
        got = shuffled.iloc[test]
        assert len(train) == 80_000
        assert sorted(zip(got["user"], got["item"])) == sorted(
            zip(expected["user"], expected["item"])
        )


def test_movielens_100k_folds_reject_other_ratings(ml100k):
    home = require_dataset("ml-100k/u1.test").parent.parent
    other = pd.DataFrame({"user": [10_000], "item": [1]})
    with pytest.raises(ValueError, match="in no u1..u5 test file"):
        movielens_100k_folds(other, data_home=home, download=False)


def test_movielens_100k_folds_need_user_and_item_columns(tmp_path):
    ratings = pd.DataFrame({"userId": [1], "item": [1]})
    with pytest.raises(ValueError, match=r"columns 'user' and 'item'; \['user'\] missing"):
        movielens_100k_folds(ratings, data_home=tmp_path, download=False)
