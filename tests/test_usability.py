"""A new user's first hour: fallback warnings, early stopping, a loaded model's repr, data home."""
# License: BSD 3 clause

import os
import pickle
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose

from skgmf import GMFClassifier, GMFRegressor
from skgmf.datasets import get_data_home

from .conftest import FAST_PARAMS


@pytest.fixture(scope="module")
def sorted_split(low_rank_ratings):
    """An unshuffled split of ratings sorted by user: test users are mostly unknown."""
    X, y = low_rank_ratings
    order = np.argsort(X[:, 0], kind="stable")
    X, y = X[order], y[order]
    cut = int(0.8 * len(y))
    return (X[:cut], y[:cut]), (X[cut:], y[cut:])


@pytest.mark.parametrize("Estimator", [GMFRegressor, GMFClassifier])
def test_predictions_that_mostly_fall_back_warn(Estimator, sorted_split):
    (X_train, y_train), (X_test, _) = sorted_split
    y_train = y_train if Estimator is GMFRegressor else y_train > 3.5
    est = Estimator(**FAST_PARAMS).fit(X_train, y_train)
    with pytest.warns(UserWarning, match=r"% of the 4000 rows .* not seen in fit.*"
                                         r"shuffle=True.*handle_unknown='ignore'"):
        est.predict(X_test)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est.predict(X_test[:999])  # too few rows to tell
        est.predict(X_train)  # known ids
        est.set_params(handle_unknown="ignore").predict(X_test)  # deliberate cold start
    # "ignore" answers as "use_fallback" does.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert_allclose(est.set_params(handle_unknown="use_fallback").predict(X_test),
                        est.set_params(handle_unknown="ignore").predict(X_test))


def test_a_few_unknown_ids_do_not_warn(low_rank_ratings):
    X, y = low_rank_ratings
    est = GMFRegressor(**FAST_PARAMS).fit(X[:15000], y[:15000])
    X_test = X[15000:].copy()
    X_test[:100, 0] += 10_000  # 2% of the rows: new users
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est.predict(X_test)


def test_early_stopping_keeps_adam_state_of_the_restored_epoch(low_rank_ratings, monkeypatch):
    """The weights and the optimizer state that partial_fit continues from agree."""
    from skgmf import _adam

    X, y = low_rank_ratings
    states = []
    original = _adam._adam_state

    def recording(*args):
        state = original(*args)
        states.append(state)
        return state

    monkeypatch.setattr(_adam, "_adam_state", recording)
    # A validation score that peaks at epoch 2, then falls: stopped at epoch 4.
    scores = iter([0.1, 0.5, 0.4, 0.3, 0.2, 0.1])
    monkeypatch.setattr(GMFRegressor, "_validation_scorer",
                        lambda self, *a: lambda params: next(scores))
    est = GMFRegressor(**{**FAST_PARAMS, "max_iter": 6, "n_iter_no_change": 2},
                       early_stopping=True, solver="adam").fit(X, y)
    assert est.n_iter_ == 4
    # One snapshot per improving epoch (1 and 2); the state kept is epoch 2's.
    assert len(states) == 2
    assert est._optimizer_state is states[1]
    assert est._optimizer_state.step == states[1].step < 4 * 20


def test_loaded_model_in_a_notebook_repr_does_not_import_tensorflow(low_rank_ratings, tmp_path):
    X, y = low_rank_ratings
    path = tmp_path / "gmf.pkl"
    path.write_bytes(pickle.dumps(GMFRegressor(**FAST_PARAMS).fit(X, y)))
    code = textwrap.dedent(f"""
        import pickle, sys
        est = pickle.loads(open({str(path)!r}, "rb").read())
        import sklearn
        from sklearn.utils.fixes import parse_version

        html = est._repr_html_()
        # Fitted attributes are listed from scikit-learn 1.9 on.
        if parse_version(sklearn.__version__) >= parse_version("1.9"):
            assert "user_factors_" in html, html[:2000]
        print("tensorflow" in sys.modules, "model_" in dir(est))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["False", "False"]


def test_model_is_listed_once_built(low_rank_ratings):
    X, y = low_rank_ratings
    est = GMFRegressor(**FAST_PARAMS).fit(X, y)
    assert "model_" not in dir(est)  # solver="sgd" trains without Keras
    est.model_
    assert "model_" in dir(est)
    est = GMFRegressor(**FAST_PARAMS, solver="adam").fit(X, y)  # NumPy in and out
    assert "model_" not in dir(est)
    est.model_
    assert "model_" in dir(est)
    assert "model_" not in dir(pickle.loads(pickle.dumps(est)))


def test_relative_data_home_is_resolved_where_it_is_read(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SKGMF_DATA_HOME", "data")
    home = get_data_home()
    assert home.is_absolute() and home == tmp_path / "data"
    monkeypatch.chdir(os.sep)  # read later from elsewhere: still the same folder
    assert home == tmp_path / "data"
    assert get_data_home("rel").is_absolute()


def test_sgd_ignores_the_scale_of_sample_weight(low_rank_ratings):
    X, y = low_rank_ratings
    rng = np.random.default_rng(0)
    weights = rng.uniform(0.5, 2.0, len(y))
    ones = GMFRegressor(**FAST_PARAMS).fit(X, y, sample_weight=weights)
    fives = GMFRegressor(**FAST_PARAMS).fit(X, y, sample_weight=5 * weights)
    assert_allclose(fives.predict(X), ones.predict(X), rtol=1e-5, atol=1e-5)
    ones.partial_fit(X[:500], y[:500], sample_weight=weights[:500])
    fives.partial_fit(X[:500], y[:500], sample_weight=5 * weights[:500])
    assert_allclose(fives.predict(X), ones.predict(X), rtol=1e-5, atol=1e-5)


def test_a_pickle_from_before_the_solver_parameter_loads_as_adam(low_rank_ratings):
    from sklearn.base import clone

    X, y = low_rank_ratings
    est = GMFRegressor(**FAST_PARAMS, solver="adam", alpha=0.13, learning_rate=0.08)
    est.fit(X, y)
    state = est.__getstate__()
    for name in ("solver", "row_alpha", "context_features", "_settings"):
        del state[name]
    old = GMFRegressor.__new__(GMFRegressor)
    with pytest.warns(UserWarning):  # written by "another version"
        state["_skgmf_version"] = "0.0.9"
        old.__setstate__(state)
    assert old.get_params()["solver"] == "adam" and old.context_features is None
    assert_allclose(old.predict(X[:50]), est.predict(X[:50]))
    repr(old), clone(old)
    old.partial_fit(X[:100], y[:100])  # steps at a tenth of its learning_rate


def test_classifier_auto_values_are_its_own():
    est = GMFClassifier(alpha="auto", learning_rate="auto", max_iter="auto",
                        n_factors="auto")
    settings = est._resolve_settings(1000, 2)
    assert settings["solver"] == "sgd" and settings["alpha"] == 0.005
    assert settings["max_iter"] == 40 and settings["n_factors"] == 32
    settings = est.set_params(solver="adam")._resolve_settings(1000, 2)
    assert settings["alpha"] == 0.003 and settings["learning_rate"] == 0.01
    assert settings["max_iter"] == 15 and settings["n_factors"] == 32


def test_row_alpha_with_adam_warns_and_is_not_used(low_rank_ratings):
    X, y = low_rank_ratings
    with pytest.warns(UserWarning, match="row_alpha=2.0 is only used with solver='sgd'"):
        est = GMFRegressor(**FAST_PARAMS, solver="adam", row_alpha=2.0).fit(X, y)
    assert est._settings["row_alpha"] == 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        GMFRegressor(**FAST_PARAMS, solver="adam").fit(X, y)  # "auto": no word


def test_sgd_partial_fit_after_a_cosine_schedule_still_steps(low_rank_ratings):
    X, y = low_rank_ratings
    est = GMFRegressor(**FAST_PARAMS, learning_rate_schedule="cosine").fit(X, y)
    assert est._settings["update_rate_factor"] >= 0.05
