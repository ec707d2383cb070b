"""scikit-learn's estimator checks on GMFRegressor and GMFClassifier."""
# License: BSD 3 clause

from sklearn.utils.estimator_checks import parametrize_with_checks

from skgmf import GMFClassifier, GMFRegressor

from .conftest import FAST_PARAMS

# check name -> why no stochastic minibatch learner can pass it.
EXPECTED_FAILED_CHECKS = {
    "check_sample_weight_equivalence_on_dense_data": (
        "a weight of 2 and a duplicated row give different minibatches, so SGD "
        "follows a different path"
    ),
}


@parametrize_with_checks(
    [GMFRegressor(**FAST_PARAMS), GMFClassifier(**{**FAST_PARAMS, "max_iter": 5})],
    expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS,
    xfail_strict=True,
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
