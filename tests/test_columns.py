"""The column contract of X: no silent target leak, no users read as items."""
# License: BSD 3 clause

import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from skgmf import GMFClassifier, GMFRegressor

from .conftest import FAST_PARAMS


@pytest.fixture(scope="module")
def frame(low_rank_ratings):
    """A ratings DataFrame as a loader gives it: user, item, rating, timestamp, hour."""
    X, y = low_rank_ratings
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "user": X[:, 0], "item": X[:, 1], "rating": y,
        "timestamp": 880_000_000 + rng.permutation(len(y)) * 7,
        "hour": rng.integers(0, 24, len(y)),
    })


@pytest.mark.parametrize("Estimator", [GMFRegressor, GMFClassifier])
def test_more_than_two_columns_need_context_features(Estimator, frame):
    y = frame["rating"] if Estimator is GMFRegressor else (frame["rating"] > 3.5)
    with pytest.raises(ValueError, match=r"X has 5 columns.*2 \('rating'\), 3 "
                       r"\('timestamp'\), 4 \('hour'\).*context_features='remaining'"):
        Estimator(**FAST_PARAMS).fit(frame, y)
    with pytest.raises(ValueError, match="columns 2 would be ignored"):
        Estimator(**FAST_PARAMS).fit(frame[["user", "item", "hour"]].to_numpy(), y)


def test_the_whole_ratings_frame_is_no_silent_leak(frame):
    """The rating as a context field scored RMSE 0.054: now it is refused."""
    est = GMFRegressor(**FAST_PARAMS, context_features="remaining")
    with pytest.raises(ValueError, match=r"'rating'.*has the name of y"):
        est.fit(frame, frame["rating"])
    # Without a name, by its values.
    with pytest.raises(ValueError, match="Context column 2 of X equals y"):
        est.fit(frame[["user", "item", "rating"]].to_numpy(), frame["rating"].to_numpy())
    with pytest.raises(ValueError, match="equals y"):
        GMFClassifier(**FAST_PARAMS, context_features=[2]).fit(
            [[1, 1, 0], [2, 1, 1], [1, 2, 1]], [0, 1, 1])


def test_context_features_select_columns(frame):
    y = frame["rating"]
    by_name = GMFRegressor(**FAST_PARAMS, context_features=["hour"]).fit(frame.drop(columns="rating"), y)
    by_index = GMFRegressor(**FAST_PARAMS, context_features=[3]).fit(
        frame.drop(columns="rating").to_numpy(), y.to_numpy())
    alone = GMFRegressor(**FAST_PARAMS, context_features="remaining").fit(
        frame[["user", "item", "hour"]], y)
    assert len(by_name.categories_) == len(by_index.categories_) == 3
    assert by_name.n_features_in_ == 4
    X = frame.drop(columns="rating")
    assert_allclose(by_name.predict(X), alone.predict(frame[["user", "item", "hour"]]),
                    rtol=1e-5, atol=1e-6)
    assert_allclose(by_name.predict(X), by_index.predict(X.to_numpy()), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="does not have"):
        GMFRegressor(**FAST_PARAMS, context_features=["weekday"]).fit(X, y)
    with pytest.raises(ValueError, match="come after the user and item"):
        GMFRegressor(**FAST_PARAMS, context_features=[1]).fit(X, y)
    with pytest.raises(ValueError, match="no column names"):
        GMFRegressor(**FAST_PARAMS, context_features=["hour"]).fit(X.to_numpy(), y)


def test_measurement_like_context_columns_warn(frame):
    y = frame["rating"]
    with pytest.warns(UserWarning, match=r"'timestamp'.*20000 distinct values in 20000 rows"):
        GMFRegressor(**FAST_PARAMS, context_features=["timestamp"]).fit(
            frame[["user", "item", "timestamp"]], y)
    floats = frame[["user", "item"]].assign(price=frame["hour"] + 0.25)
    with pytest.warns(UserWarning, match="'price'.*non-integer numbers"):
        GMFRegressor(**FAST_PARAMS, context_features="remaining").fit(floats, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # ids: no warning
        GMFRegressor(**FAST_PARAMS, context_features="remaining").fit(
            frame[["user", "item", "hour"]], y)


@pytest.mark.parametrize("names", [("item", "user"), ("movieId", "userId"),
                                   ("item_id", "user_id")])
def test_columns_named_the_other_way_round_are_an_error(names, frame):
    X = frame[["item", "user"]].set_axis(list(names), axis=1)
    with pytest.raises(ValueError, match=f"named '{names[0]}' and '{names[1]}': items, "
                                         "then users"):
        GMFRegressor(**FAST_PARAMS).fit(X, frame["rating"])


def test_two_columns_in_order_fit_without_a_word(frame):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est = GMFRegressor(**FAST_PARAMS).fit(
            frame[["user", "item"]].set_axis(["userId", "movieId"], axis=1), frame["rating"])
    assert len(est.categories_) == 2
