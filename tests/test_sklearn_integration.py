"""GMFRegressor inside scikit-learn workflows, on MovieLens 100K."""
# License: BSD 3 clause

import numpy as np
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import make_pipeline

from skgmf import GMFRegressor

from .conftest import FAST_PARAMS


@pytest.fixture(scope="module")
def Xy(ml100k):
    return ml100k[["user", "item"]].to_numpy(), ml100k["rating"].to_numpy(float)


def test_cross_val_score_rmse_on_movielens(Xy):
    X, y = Xy
    scores = cross_val_score(
        GMFRegressor(**{**FAST_PARAMS, "max_iter": 5}),
        X, y, cv=KFold(5, shuffle=True, random_state=0),
        scoring="neg_root_mean_squared_error",
    )
    rmse = -scores
    assert rmse.shape == (5,)
    # Better than predicting the mean rating (RMSE about 1.13 on ML-100K).
    assert np.all(rmse < np.std(y))


def test_grid_search_over_n_factors_is_the_same_with_two_workers(Xy):
    X, y = Xy
    X, y = X[:30_000], y[:30_000]
    grid = {"n_factors": [2, 8, 16]}
    searches = [
        GridSearchCV(
            GMFRegressor(**{**FAST_PARAMS, "max_iter": 3}), grid, cv=3, n_jobs=n_jobs,
            scoring="neg_root_mean_squared_error",
        ).fit(X, y)
        for n_jobs in (1, 2)
    ]
    assert searches[0].best_params_ == searches[1].best_params_
    np.testing.assert_allclose(
        searches[0].cv_results_["mean_test_score"],
        searches[1].cv_results_["mean_test_score"],
        rtol=1e-6,
    )
    assert searches[0].best_estimator_.n_factors == searches[0].best_params_["n_factors"]


def test_pipeline_with_column_selection(ml100k):
    df = ml100k.head(20_000)
    pipe = make_pipeline(
        ColumnTransformer([("ids", "passthrough", ["user", "item"])]),
        GMFRegressor(**FAST_PARAMS),
    )
    pipe.fit(df[["user", "item", "timestamp"]], df["rating"])
    assert pipe.predict(df[["user", "item", "timestamp"]].head(5)).shape == (5,)
    assert np.isfinite(pipe.score(df[["user", "item", "timestamp"]], df["rating"]))


@pytest.mark.parametrize(
    "dataset, max_rmse",
    # Surprise's SVD gets about 0.94 and 0.87 on these splits.
    [("ml100k", 0.93), pytest.param("ml1m", 0.865, marks=pytest.mark.slow)],
)
def test_default_model_learns_interactions_on_movielens(dataset, max_rmse, request):
    """The factors must add accuracy over the biases alone, not collapse to zero."""
    df = request.getfixturevalue(dataset)
    X, y = df[["user", "item"]].to_numpy(), df["rating"].to_numpy(float)
    train, test = next(KFold(5, shuffle=True, random_state=0).split(X))
    est = GMFRegressor(random_state=0).fit(X[train], y[train])
    rmse = np.sqrt(np.mean((est.predict(X[test]) - y[test]) ** 2))
    u = np.searchsorted(est.users_, X[test, 0]).clip(0, len(est.users_) - 1)
    i = np.searchsorted(est.items_, X[test, 1]).clip(0, len(est.items_) - 1)
    known = (est.users_[u] == X[test, 0]) & (est.items_[i] == X[test, 1])
    biases_only = np.where(
        known, est.intercept_ + est.user_bias_[u] + est.item_bias_[i], est.predict(X[test])
    )
    rmse_biases = np.sqrt(np.mean((np.clip(biases_only, 1, 5) - y[test]) ** 2))
    assert rmse < rmse_biases - 0.01
    assert rmse < max_rmse
