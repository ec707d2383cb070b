"""sample_weight through scikit-learn's metadata routing (GridSearchCV, scorers)."""
# License: BSD 3 clause

import numpy as np
import pytest
import sklearn
from numpy.testing import assert_allclose
from sklearn.exceptions import UnsetMetadataPassedError
from sklearn.metrics import log_loss, make_scorer, mean_squared_error
from sklearn.model_selection import GridSearchCV, KFold

from skgmf import GMFClassifier, GMFRegressor

from .conftest import FAST_PARAMS

CV = KFold(2, shuffle=True, random_state=0)


@pytest.fixture(autouse=True)
def metadata_routing():
    with sklearn.config_context(enable_metadata_routing=True):
        yield


@pytest.fixture(scope="module")
def weighted_ratings(low_rank_ratings):
    """5000 ratings; a fifth of them weigh 5, the others 1."""
    X, y = low_rank_ratings
    X, y = X[:5000], y[:5000]
    weight = np.where(np.random.default_rng(0).random(len(y)) < 0.2, 5.0, 1.0)
    return X, y, weight


def weighted_search(estimator, grid, scoring):
    """A search that asks for the weights in ``estimator.fit`` and in ``scoring``."""
    return GridSearchCV(
        estimator.set_fit_request(sample_weight=True), grid, cv=CV,
        scoring=scoring.set_score_request(sample_weight=True),
    )


def test_grid_search_routes_sample_weight_to_fit_and_scorer(weighted_ratings):
    X, y, weight = weighted_ratings
    scoring = make_scorer(mean_squared_error, greater_is_better=False)
    search = weighted_search(GMFRegressor(**FAST_PARAMS), {"alpha": [0.0, 0.05]}, scoring)
    search.fit(X, y, sample_weight=weight)

    # The refit model is a direct fit with the same weights, and not one without.
    direct = GMFRegressor(**FAST_PARAMS, **search.best_params_).fit(X, y, sample_weight=weight)
    unweighted = GMFRegressor(**FAST_PARAMS, **search.best_params_).fit(X, y)
    got = search.best_estimator_.predict(X)
    assert_allclose(got, direct.predict(X), rtol=1e-5, atol=1e-6)
    assert np.abs(got - unweighted.predict(X)).max() > 1e-2

    # Every split's score is the weighted MSE of a fit on the weighted training rows.
    train, test = next(CV.split(X))
    for c, params in enumerate(search.cv_results_["params"]):
        est = GMFRegressor(**FAST_PARAMS, **params).fit(X[train], y[train],
                                                        sample_weight=weight[train])
        errors = (est.predict(X[test]) - y[test]) ** 2
        assert_allclose(search.cv_results_["split0_test_score"][c],
                        -np.average(errors, weights=weight[test]), rtol=1e-5)
        assert not np.isclose(-np.average(errors, weights=weight[test]), -errors.mean(),
                              rtol=1e-4)


def test_grid_search_routes_sample_weight_for_the_classifier(weighted_ratings):
    X, ratings, weight = weighted_ratings
    y = (ratings >= 3.5).astype(int)
    scoring = make_scorer(log_loss, greater_is_better=False, response_method="predict_proba")
    search = weighted_search(GMFClassifier(**FAST_PARAMS), {"alpha": [0.0]}, scoring)
    search.fit(X, y, sample_weight=weight)

    params = {**FAST_PARAMS, **search.best_params_}
    direct = GMFClassifier(**params).fit(X, y, sample_weight=weight)
    unweighted = GMFClassifier(**params).fit(X, y)
    got = search.best_estimator_.predict_proba(X)[:, 1]
    assert_allclose(got, direct.predict_proba(X)[:, 1], rtol=1e-5, atol=1e-6)
    assert np.abs(got - unweighted.predict_proba(X)[:, 1]).max() > 1e-2

    train, test = next(CV.split(X))
    est = GMFClassifier(**params).fit(X[train], y[train], sample_weight=weight[train])
    proba = est.predict_proba(X[test])
    assert_allclose(search.cv_results_["split0_test_score"][0],
                    -log_loss(y[test], proba, sample_weight=weight[test]), rtol=1e-5)


def test_weights_without_a_fit_request_are_refused_before_training(weighted_ratings):
    # Routing on: weights the estimator did not ask for are an error, not dropped.
    X, y, weight = weighted_ratings
    search = GridSearchCV(GMFRegressor(**FAST_PARAMS), {"alpha": [0.0]}, cv=CV)
    with pytest.raises(UnsetMetadataPassedError, match="sample_weight"):
        search.fit(X, y, sample_weight=weight)
