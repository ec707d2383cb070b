"""Bad input fails early and clearly; ids keep their kind; silent fallbacks warn."""
# License: BSD 3 clause

import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from skgmf import GMFClassifier, GMFRegressor

from .conftest import FAST_PARAMS

X_GOOD = [[1, 10], [1, 11], [2, 10], [3, 12]]
Y_GOOD = [4.0, 3.0, 5.0, 2.0]

# (X, y, sample_weight, words the message must hold)
BAD_DATA = {
    "nan id": ([[1, 10], [np.nan, 11]], [4.0, 3.0], None, "Column 0 (users) of X holds missing"),
    "none id": ([[1, "a"], [2, None]], [4.0, 3.0], None, "Column 1 (items) of X holds missing"),
    "nan y": (X_GOOD, [4.0, np.nan, 5.0, 2.0], None, "y contains NaN"),
    "string y": (X_GOOD, ["a", "b", "c", "d"], None, "y must hold numeric ratings"),
    "empty X": ("np.empty((0, 2))", [], None, "0 sample"),
    "lengths": (X_GOOD, [4.0, 3.0], None, "inconsistent numbers of samples"),
    "negative weight": (X_GOOD, Y_GOOD, [1, -1, 1, 1], "sample_weight must be non-negative"),
    "one column": ([[1], [2]], [4.0, 3.0], None, "n_features = 1"),
    "1-D X": ([1, 2, 3], [4.0, 3.0, 5.0], None, "1-D array of 3 values"),
}


Y_LABELS = [1, 0, 1, 0]

# As BAD_DATA, for GMFClassifier; an optional fifth entry holds its parameters.
CLASSIFIER_BAD_DATA = {
    "nan id": ([[1, 10], [np.nan, 11]], [1, 0], None, "Column 0 (users) of X holds missing"),
    "none id": ([[1, "a"], [2, None]], [1, 0], None, "Column 1 (items) of X holds missing"),
    "none label": (X_GOOD, ["a", "b", None, "a"], None, "y holds missing labels"),
    "nan label": (X_GOOD, ["a", "b", np.nan, "a"], None, "y holds missing labels"),
    "nan y": (X_GOOD, [1.0, np.nan, 0.0, 1.0], None, "y holds missing labels"),
    "multiclass": (X_GOOD, [0, 1, 2, 0], None, "Only binary classification"),
    "continuous": (X_GOOD, [0.5, 1.5, 0.0, 1.0], None, "Unknown label type"),
    "one class": (X_GOOD, [1, 1, 1, 1], None, "only one class"),
    "pos_label needed": (X_GOOD, ["a", "b", "a", "b"], None, "set pos_label",
                         {"n_negatives": 1}),
    "unknown pos_label": (X_GOOD, Y_LABELS, None, "pos_label=2 is not a label",
                          {"pos_label": 2}),
    "empty X": ("np.empty((0, 2))", [], None, "0 sample"),
    "lengths": (X_GOOD, [1, 0], None, "inconsistent numbers of samples"),
    "negative weight": (X_GOOD, Y_LABELS, [1, -1, 1, 1], "sample_weight must be non-negative"),
    "one column": ([[1], [2]], [1, 0], None, "n_features = 1"),
    "1-D X": ([1, 2, 3], [1, 0, 1], None, "1-D array of 3 values"),
}


@pytest.mark.parametrize(
    "Estimator, cases",
    [(GMFRegressor, BAD_DATA), (GMFClassifier, CLASSIFIER_BAD_DATA)],
    ids=["GMFRegressor", "GMFClassifier"],
)
def test_bad_data_fails_before_tensorflow_is_imported(Estimator, cases):
    """Every bad input raises a one-line ValueError and imports no TensorFlow."""
    code = textwrap.dedent(f"""
        import sys
        import numpy as np
        from numpy import nan
        from skgmf import {Estimator.__name__} as Estimator
        cases = {cases!r}
        for name, (X, y, w, words, *params) in cases.items():
            X = eval(X) if isinstance(X, str) else X
            try:
                Estimator(**(params[0] if params else {{}})).fit(X, y, sample_weight=w)
            except ValueError as exc:
                message = str(exc)
                assert words in message, (name, message)
                assert name == "lengths" or "\\n" not in message, (name, message)
            else:
                raise AssertionError(name + " was accepted")
        print("tensorflow" in sys.modules, "keras" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]


def test_nullable_integer_ids_stay_integers():
    X = pd.DataFrame({"user": pd.array([1, 2, 3, 1], dtype="Int64"),
                      "item": pd.array([7, 8, 7, 9], dtype="UInt32")})
    est = GMFRegressor(**FAST_PARAMS).fit(X, Y_GOOD)
    assert est.users_.dtype.kind == "i" and est.users_.tolist() == [1, 2, 3]
    assert est.items_.dtype.kind in "iu" and est.items_.tolist() == [7, 8, 9]
    with pytest.raises(ValueError, match=r"Column 0 \(users\) of X holds missing ids \(NA\)"):
        with_missing = X.copy()
        with_missing.loc[2, "user"] = pd.NA
        GMFRegressor().fit(with_missing, Y_GOOD)


def test_integer_ids_beside_string_ids_stay_integers():
    X = pd.DataFrame({"user": [1, 2, 3, 1], "item": ["a", "b", "a", "c"]})
    est = GMFRegressor(**FAST_PARAMS).fit(X, Y_GOOD)
    assert est.users_.dtype.kind == "i"
    assert est.items_.tolist() == ["a", "b", "c"]


@pytest.fixture(scope="module")
def fitted(low_rank_ratings):
    X, y = low_rank_ratings
    return GMFRegressor(**FAST_PARAMS).fit(X, y)


def test_ids_of_another_kind_warn(fitted, low_rank_ratings):
    X, _ = low_rank_ratings
    with pytest.warns(UserWarning, match=r"Column 0 \(users\) of X holds string ids, "
                      "but numeric ids in fit"):
        pred = fitted.predict(X[:20].astype(str))
    # What the warning is about: every row fell back to the global mean.
    assert_allclose(pred, np.clip(fitted.intercept_, *fitted.rating_range_))


def test_a_column_of_only_unknown_ids_warns(fitted, low_rank_ratings):
    X, _ = low_rank_ratings
    shifted = X[:20] + [10_000, 0]
    with pytest.warns(UserWarning, match=r"Every id in column 0 \(users\) of X is unknown"):
        fitted.predict(shifted)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fitted.predict(X[:20])  # known ids: silent
        fitted.predict([[10_000, X[0, 1]], [10_000, X[1, 1]]])  # one new user: silent
        fitted.predict(X[:20].astype(float))  # 1.0 matches 1: silent


def test_fitted_attributes_before_fit_raise_not_fitted():
    est = GMFRegressor()
    for name in ["users_", "items_", "user_factors_", "item_factors_", "user_bias_",
                 "item_bias_"]:
        with pytest.raises(NotFittedError):
            getattr(est, name)
    assert not hasattr(est, "users_")


@pytest.mark.parametrize("Estimator", [GMFRegressor, GMFClassifier])
def test_max_iter_on_improving_training_warns_only_for_a_constant_rate(
        Estimator, low_rank_ratings):
    X, y = low_rank_ratings
    if Estimator is GMFClassifier:
        y = (y > 3.5).astype(int)
    constant = {**FAST_PARAMS, "learning_rate_schedule": "constant"}
    with pytest.warns(ConvergenceWarning, match="max_iter=2"):
        Estimator(**constant).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # The cosine schedule decays to 0 at max_iter: reaching it is the plan.
        Estimator(**FAST_PARAMS).fit(X, y)
        Estimator(**{**FAST_PARAMS, "early_stopping": True}).fit(X, y)
        # Stopped by n_iter_no_change: converged as far as tol can tell.
        est = Estimator(**{**constant, "max_iter": 5}, tol=1e9,
                        n_iter_no_change=1).fit(X, y)
    assert est.n_iter_ == 2


@pytest.mark.parametrize("n_rows", [1000, 1_000_000])
def test_early_stopping_can_stop_before_max_iter_at_the_defaults(n_rows):
    for est in (GMFRegressor(), GMFRegressor(solver="adam"), GMFClassifier()):
        max_iter = est._resolve_settings(n_rows, 2)["max_iter"]
        assert est.n_iter_no_change < max_iter


@pytest.mark.parametrize("Estimator", [GMFRegressor, GMFClassifier])
def test_tags_declare_categorical_and_string_input(Estimator):
    tags = Estimator().__sklearn_tags__()
    assert tags.input_tags.categorical and tags.input_tags.string


def test_tensorflow_start_up_lines_are_hidden_and_settings_restored():
    code = textwrap.dedent("""
        import os
        from skgmf import GMFRegressor
        GMFRegressor(n_factors=2, max_iter=1).fit([[1, 1], [2, 2]], [1.0, 2.0])
        print("TF_CPP_MIN_LOG_LEVEL" in os.environ)
    """)
    env = {k: v for k, v in __import__("os").environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True,
                         text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False"]  # the user's environment is left as it was
    for line in ("oneDNN", "cuda", "cuInit", "absl"):
        assert line not in out.stderr, out.stderr


def test_first_fits_in_several_threads_leave_stderr_working():
    """Concurrent first fits redirect file descriptor 2 one at a time, and restore it."""
    code = textwrap.dedent("""
        import os
        import threading
        from skgmf import GMFRegressor
        barrier = threading.Barrier(4)
        def fit():
            barrier.wait()
            GMFRegressor(n_factors=2, max_iter=1).fit([[1, 1], [2, 2]], [1.0, 2.0])
        threads = [threading.Thread(target=fit) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        os.write(2, b"VISIBLE\\n")
        print("TF_CPP_MIN_LOG_LEVEL" in os.environ)
    """)
    env = {k: v for k, v in __import__("os").environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    # A race: without the lock, five runs in six lost stderr; three runs catch it.
    for _ in range(3):
        out = subprocess.run([sys.executable, "-W", "ignore", "-c", code],
                             capture_output=True, text=True, env=env)
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == ["False"]
        assert "VISIBLE" in out.stderr


def test_a_failed_first_fit_leaves_the_estimator_unfitted():
    est = GMFRegressor(**FAST_PARAMS)
    with pytest.raises(ValueError, match="missing ids"):
        est.fit([[1, 10], [2, np.nan]], [4.0, 3.0])
    with pytest.raises(ValueError, match="n_features = 1"):
        est.fit([[1], [2]], [4.0, 3.0])
    for name in ["users_", "items_", "user_factors_"]:
        with pytest.raises(NotFittedError):
            getattr(est, name)
    with pytest.raises(NotFittedError):
        est.predict(X_GOOD)


def test_a_failed_refit_does_not_keep_half_of_the_old_model():
    est = GMFRegressor(**FAST_PARAMS, context_features="remaining").fit(X_GOOD, Y_GOOD)
    X3 = [[1, 10, "a"], [1, 11, None], [2, 10, "b"], [3, 12, "a"]]
    with pytest.raises(ValueError, match=r"Column 2 \(field 2\) of X holds missing"):
        est.fit(X3, Y_GOOD)
    # Not the 2-column model answering 3-column X while ignoring column 2.
    with pytest.raises(NotFittedError):
        est.predict([[1, 10, "a"], [2, 11, "b"]])
    with pytest.raises(NotFittedError):
        est.predict(X_GOOD)
    assert est.fit(X_GOOD, Y_GOOD).predict(X_GOOD).shape == (4,)


@pytest.mark.parametrize("Estimator", [GMFRegressor, GMFClassifier])
def test_a_fit_that_fails_in_training_leaves_the_estimator_unfitted(Estimator, monkeypatch):
    import skgmf._adam
    import skgmf._sgd

    def broken(*args, **kwargs):
        raise RuntimeError("training failed")

    monkeypatch.setattr(skgmf._adam, "train", broken)
    monkeypatch.setattr(skgmf._sgd, "train", broken)
    est = Estimator(**FAST_PARAMS)
    with pytest.raises(RuntimeError, match="training failed"):
        est.fit(X_GOOD, [1, 0, 1, 0])
    with pytest.raises(NotFittedError):
        est.predict(X_GOOD)
    assert not hasattr(est, "categories_") and not hasattr(est, "n_features_in_")


def test_duplicate_column_names_are_named():
    # Nullable columns used to fail with "truth value of a Series is ambiguous".
    X = pd.DataFrame({"a": pd.array([1, 2, 3, 1], dtype="Int64"),
                      "b": pd.array([7, 8, 7, 9], dtype="Int64")})
    X.columns = ["id", "id"]
    with pytest.raises(ValueError, match="X has duplicate column names, e.g. 'id'"):
        GMFRegressor(**FAST_PARAMS).fit(X, Y_GOOD)


@pytest.mark.parametrize("kind", ["datetime frame", "datetime array", "timedelta array"])
def test_nat_ids_are_missing_ids(kind):
    days = pd.to_datetime(["2020-01-01", "2020-01-02", None, "2020-01-03"])
    X = {
        "datetime frame": pd.DataFrame({"user": days, "item": [1, 2, 3, 4]}),
        "datetime array": np.column_stack([days.to_numpy()] * 2),
        "timedelta array": np.column_stack([(days - days[0]).to_numpy()] * 2),
    }[kind]
    with pytest.raises(ValueError, match=r"Column 0 \(users\) of X holds missing ids"):
        GMFRegressor(**FAST_PARAMS).fit(X, Y_GOOD)


def test_datetime_ids_beside_integer_ids():
    days = pd.to_datetime(["2020-01-01", "2020-01-02", "2020-01-02", "2020-01-03"])
    X = pd.DataFrame({"user": days, "item": [1, 2, 3, 4]})
    est = GMFRegressor(**FAST_PARAMS).fit(X, Y_GOOD)
    assert len(est.users_) == 3 and est.items_.tolist() == [1, 2, 3, 4]
    assert np.isfinite(est.predict(X)).all()


def test_a_list_of_rows_is_not_copied_to_learn_its_shape(monkeypatch):
    from skgmf import _columns

    X = [[1, 10]] * 1000
    calls = []
    original = np.asarray
    monkeypatch.setattr(np, "asarray", lambda *a, **k: calls.append(a) or original(*a, **k))
    assert _columns.prepare_X(X) is X
    assert not calls
    monkeypatch.undo()
    with pytest.raises(ValueError, match="1-D array of 3 values"):
        _columns.prepare_X(["a", "b", "c"])


def test_integer_ids_beside_float_ids_stay_integers():
    # One float column used to make every column float: 2**60 + 1 and 2**60 + 2
    # became the same id.
    items = [2**60 + 1, 2**60 + 2, 2**60 + 3, 2**60 + 1]
    X = pd.DataFrame({"user": [1, 2, 3, 1], "item": items, "hour": [0.5, 1.5, 0.5, 2.5]})
    est = GMFRegressor(**FAST_PARAMS, context_features=["hour"])
    with pytest.warns(UserWarning, match="'hour'.*non-integer numbers"):
        est.fit(X, Y_GOOD)
    assert est.users_.dtype.kind == "i" and est.users_.tolist() == [1, 2, 3]
    assert est.items_.tolist() == sorted(set(items))
    assert_allclose(est.predict(X), est.predict(X.iloc[::-1])[::-1], rtol=1e-6)


def test_int64_ids_beside_uint64_ids_stay_distinct():
    items = np.array([7, 2**63 + 1, 2**63 + 5, 2**63 + 9], dtype=np.uint64)
    X = pd.DataFrame({"user": [0, 0, 0, 1], "item": items})
    est = GMFRegressor(**FAST_PARAMS).fit(X, Y_GOOD)
    assert est.items_.tolist() == [7, 2**63 + 1, 2**63 + 5, 2**63 + 9]
    assert sorted(est.recommend([1], k=3)[0].tolist()) == [7, 2**63 + 1, 2**63 + 5]
