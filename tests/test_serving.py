"""Saving and serving: pickle, joblib and skops files load and score without TensorFlow."""
# License: BSD 3 clause

import copy
import pickle
import subprocess
import sys
import textwrap
import threading
import warnings
import zipfile

import joblib
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import skgmf
from skgmf._params import decision_function
from skgmf import GMFClassifier, GMFRegressor, build_gmf
from skgmf.exceptions import InconsistentVersionWarning

from .conftest import FAST_PARAMS

# Runs in a fresh process: loads the estimator from a pickle, joblib and (if
# given) skops file, scores with each, and saves the results and whether
# TensorFlow or Keras got imported.
WORKER = """
import pickle, sys
import joblib

paths = pickle.load(open(sys.argv[1], "rb"))
inputs = pickle.load(open(paths["inputs"], "rb"))
loaders = {"pickle": lambda p: pickle.load(open(p, "rb")), "joblib": joblib.load}
if "skops" in paths:
    import skops.io

    loaders["skops"] = lambda p: skops.io.load(p, trusted=paths["trusted"])
results = {}
for name, load in loaders.items():
    est = load(paths[name])
    results[name] = [
        getattr(est, method)(*args, **kwargs) for method, args, kwargs in inputs
    ]
results["modules"] = sorted(
    m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras")
)
pickle.dump(results, open(sys.argv[2], "wb"))
"""


def scoring_calls(est, X, y):
    """(method, args, kwargs) of every NumPy scoring method of ``est``."""
    users, items = est.users_[:20], est.items_[:20]
    calls = [
        ("predict", (X,), {}),
        ("score", (X, y), {}),
        ("recommend", (users,), {"k": 5, "return_scores": True}),
        ("recommend", (users,), {"k": 3, "exclude_seen": False, "items": items}),
        ("similar_items", (items,), {"k": 4, "return_scores": True}),
    ]
    if isinstance(est, GMFClassifier):
        calls += [("predict_proba", (X,), {}), ("decision_function", (X,), {})]
    return calls


def assert_same_results(got, expected):
    """``got`` equals ``expected``: arrays of ids exactly, scores to float rounding."""
    if isinstance(expected, tuple):
        assert isinstance(got, tuple) and len(got) == len(expected)
        for g, e in zip(got, expected):
            assert_same_results(g, e)
    elif np.asarray(expected).dtype.kind in "fc":
        # atol: float32 dot products may round differently in another process
        # (BLAS kernels depend on memory alignment), which matters near zero.
        assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
    else:
        assert_array_equal(got, expected)


def raw_scores(est, X):
    """The model's output before clipping (regressor) or the logit (classifier)."""
    state, idx = est._encode_X(X)
    return decision_function(state.params, idx)


def model_output(model, est, X):
    """``model`` applied to the embedding rows of the ids in ``X``."""
    _, idx = est._encode_X(X)
    return model.predict([idx[:, f : f + 1] for f in range(idx.shape[1])], verbose=0)[:, 0]


@pytest.fixture(scope="module")
def ratings(low_rank_ratings):
    X, y = low_rank_ratings
    return X[:4000], y[:4000]


@pytest.fixture(scope="module")
def labelled(low_rank_ratings):
    """String ids and string labels: object arrays in the fitted state."""
    X, y = low_rank_ratings
    X = np.column_stack([np.char.add("u", X[:, 0].astype(str)),
                         np.char.add("i", X[:, 1].astype(str))]).astype(object)
    return X[:4000], np.where(y[:4000] >= 3.5, "liked", "other")


@pytest.fixture(scope="module")
def regressor(ratings):
    return GMFRegressor(**FAST_PARAMS).fit(*ratings)


@pytest.fixture(scope="module")
def classifier(labelled):
    return GMFClassifier(**FAST_PARAMS, pos_label="liked").fit(*labelled)


@pytest.fixture(scope="module")
def early_stopped(ratings):
    X, y = ratings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: training is short
        est = GMFRegressor(
            n_factors=8, max_iter=30, early_stopping=True, n_iter_no_change=2,
            batch_size=512, random_state=0,
        ).fit(X, y)
    assert len(est.validation_scores_) == est.n_iter_
    return est


@pytest.fixture(scope="module")
def ncf_early_stopped(ratings):
    X, y = ratings
    positives = X[y >= 4]
    return GMFClassifier(
        **{**FAST_PARAMS, "max_iter": 3}, n_negatives=2, early_stopping=True,
        n_iter_no_change=1,
    ).fit(positives, np.ones(len(positives)))


ESTIMATORS = ["regressor", "classifier", "early_stopped", "ncf_early_stopped"]


def data_for(name, request):
    return request.getfixturevalue("labelled" if name == "classifier" else "ratings")


def skgmf_type(est):
    return f"{type(est).__module__}.{type(est).__qualname__}"


@pytest.mark.parametrize("name", ESTIMATORS)
def test_loads_and_scores_in_a_fresh_process_without_tensorflow(name, request, tmp_path):
    est = request.getfixturevalue(name)
    X, y = data_for(name, request)
    if isinstance(est, GMFClassifier) and est.n_negatives:
        y = np.ones(len(X))  # every row an interaction, as in fit
    calls = scoring_calls(est, X[:1000], y[:1000])
    paths = {
        "inputs": tmp_path / "inputs.pkl",
        "pickle": tmp_path / "est.pkl",
        "joblib": tmp_path / "est.joblib",
    }
    with open(paths["inputs"], "wb") as f:
        pickle.dump(calls, f)
    with open(paths["pickle"], "wb") as f:
        pickle.dump(est, f)
    joblib.dump(est, paths["joblib"])
    try:
        import skops.io
    except ImportError:
        pass
    else:
        paths["skops"] = tmp_path / "est.skops"
        skops.io.dump(est, paths["skops"])
        paths["trusted"] = [skgmf_type(est)]
    (tmp_path / "paths.pkl").write_bytes(pickle.dumps(paths))
    (tmp_path / "worker.py").write_text(WORKER)
    subprocess.run(
        [sys.executable, str(tmp_path / "worker.py"), str(tmp_path / "paths.pkl"),
         str(tmp_path / "results.pkl")],
        check=True,
    )
    results = pickle.loads((tmp_path / "results.pkl").read_bytes())
    assert results.pop("modules") == []
    assert set(results) == {"pickle", "joblib"} | ({"skops"} & set(paths))
    for loaded in results.values():
        for got, (method, args, kwargs) in zip(loaded, calls, strict=True):
            assert_same_results(got, getattr(est, method)(*args, **kwargs))


@pytest.mark.parametrize("name", ESTIMATORS)
def test_pickled_state_holds_no_keras_model(name, request):
    est = request.getfixturevalue(name)
    est.model_  # built (or kept by an Adam fit) and cached
    state = est.__getstate__()
    assert "_keras_model" in vars(est)
    assert "_keras_model" not in state and "model_" not in state
    assert state["_skgmf_version"] == skgmf.__version__
    assert b"keras" not in pickle.dumps(est)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_model_after_loading_is_the_trained_network(name, request):
    est = request.getfixturevalue(name)
    X, _ = data_for(name, request)
    restored = pickle.loads(pickle.dumps(est))
    assert "_keras_model" not in vars(restored)
    model = restored.model_
    assert restored.model_ is model  # built once
    reference = build_gmf([len(ids) for ids in est.categories_], est.coef_.shape[0])
    assert [(layer.name, type(layer)) for layer in model.layers] == [
        (layer.name, type(layer)) for layer in reference.layers
    ]
    for got, trained in zip(model.get_weights(), est.model_.get_weights()):
        assert_array_equal(got, trained)
    # Unknown ids (-1) have no embedding row: score the known rows only.
    X = X[:500][(est._encode_X(X[:500])[1] >= 0).all(axis=1)]
    assert_allclose(model_output(model, restored, X), raw_scores(est, X),
                    rtol=1e-5, atol=1e-6)


def test_model_is_built_once_under_concurrent_access(regressor):
    restored = pickle.loads(pickle.dumps(regressor))
    models = []
    threads = [threading.Thread(target=lambda: models.append(restored.model_))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(model is restored.model_ for model in models)


def test_unfitted_estimator_has_no_model():
    est = GMFRegressor()
    assert not hasattr(est, "model_")
    assert not hasattr(pickle.loads(pickle.dumps(est)), "model_")


def test_deepcopy_predicts_the_same(regressor, ratings):
    X, _ = ratings
    assert_allclose(copy.deepcopy(regressor).predict(X), regressor.predict(X), rtol=1e-6)


def test_refit_after_loading_trains_a_new_model(regressor, ratings):
    restored = pickle.loads(pickle.dumps(regressor))
    restored.fit(*ratings)
    assert_allclose(restored.predict(ratings[0]), regressor.predict(ratings[0]),
                    rtol=1e-6)
    assert restored.model_ is vars(restored)["_keras_model"][1]


class TestVersionCheck:
    def test_file_of_another_version_warns(self, regressor, ratings, monkeypatch):
        monkeypatch.setattr(skgmf, "__version__", "0.0.1")
        data = pickle.dumps(regressor)
        monkeypatch.undo()
        with pytest.warns(InconsistentVersionWarning, match="from skgmf version 0.0.1 "):
            restored = pickle.loads(data)
        assert_allclose(restored.predict(ratings[0]), regressor.predict(ratings[0]),
                        rtol=1e-6)

    def test_warning_names_both_versions(self, regressor):
        state = regressor.__getstate__()
        state["_skgmf_version"] = "0.0.1"
        with pytest.warns(InconsistentVersionWarning) as record:
            GMFRegressor.__new__(GMFRegressor).__setstate__(state)
        warning = record[0].message
        assert warning.estimator_name == "GMFRegressor"
        assert warning.original_skgmf_version == "0.0.1"
        assert warning.current_skgmf_version == skgmf.__version__
        assert issubclass(InconsistentVersionWarning, UserWarning)

    def test_same_version_loads_silently(self, classifier):
        with warnings.catch_warnings():
            warnings.simplefilter("error", InconsistentVersionWarning)
            pickle.loads(pickle.dumps(classifier))
            copy.deepcopy(classifier)

    def test_pickle_holding_the_keras_model_still_loads(self, regressor, ratings):
        """A pickle written before model_ was left out held it under model_."""
        old_state = regressor.__getstate__()
        del old_state["_skgmf_version"]
        old_state["model_"] = regressor.model_
        restored = GMFRegressor.__new__(GMFRegressor)
        with pytest.warns(InconsistentVersionWarning, match="unknown skgmf version"):
            restored.__setstate__(old_state)
        # The parameters are the model's; the model itself is rebuilt from them.
        for got, expected in zip(restored.model_.get_weights(),
                                 regressor.model_.get_weights()):
            assert_array_equal(got, expected)
        assert_allclose(restored.predict(ratings[0]), regressor.predict(ratings[0]),
                        rtol=1e-6)
        assert_array_equal(restored.recommend(regressor.users_[:5]),
                           regressor.recommend(regressor.users_[:5]))


@pytest.mark.parametrize("cut", [0.0, 0.1, 0.5, 0.99])
def test_truncated_pickle_raises_pickle_errors(regressor, cut):
    """As the user guide says: pickle's own UnpicklingError or EOFError."""
    data = pickle.dumps(regressor)
    with pytest.raises((pickle.UnpicklingError, EOFError)):
        pickle.loads(data[: int(cut * len(data))])


class TestSkops:
    @pytest.fixture(autouse=True)
    def skops_io(self):
        return pytest.importorskip("skops.io")

    @pytest.mark.parametrize("name", ESTIMATORS)
    def test_round_trip_trusts_only_skgmf_types(self, name, request, tmp_path, skops_io):
        est = request.getfixturevalue(name)
        X, _ = data_for(name, request)
        path = tmp_path / "est.skops"
        skops_io.dump(est, path)
        untrusted = skops_io.get_untrusted_types(file=path)
        assert untrusted == [skgmf_type(est)]
        with pytest.raises(Exception, match="[Uu]ntrusted"):
            skops_io.load(path)
        restored = skops_io.load(path, trusted=untrusted)
        assert type(restored) is type(est)
        assert "_keras_model" not in vars(restored)
        assert_same_results(restored.predict(X), est.predict(X))
        assert_array_equal(restored.recommend(est.users_[:10], k=5),
                           est.recommend(est.users_[:10], k=5))
        assert_allclose(restored.model_.get_weights()[0], est.model_.get_weights()[0])
        assert restored.get_params() == est.get_params()

    def test_file_of_another_version_warns(self, regressor, tmp_path, monkeypatch,
                                           skops_io):
        monkeypatch.setattr(skgmf, "__version__", "0.0.1")
        skops_io.dump(regressor, tmp_path / "est.skops")
        monkeypatch.undo()
        with pytest.warns(InconsistentVersionWarning, match="0.0.1"):
            skops_io.load(tmp_path / "est.skops", trusted=[skgmf_type(regressor)])

    def test_truncated_file_is_a_bad_zip_file(self, regressor, tmp_path, skops_io):
        data = skops_io.dumps(regressor)
        (tmp_path / "cut.skops").write_bytes(data[: len(data) // 2])
        with pytest.raises(zipfile.BadZipFile):
            skops_io.load(tmp_path / "cut.skops", trusted=[skgmf_type(regressor)])


@pytest.mark.parametrize("name", ["regressor", "classifier"])
def test_keras_export_loads_with_the_same_outputs(name, request, tmp_path):
    import keras

    est = request.getfixturevalue(name)
    X, _ = data_for(name, request)
    restored = pickle.loads(pickle.dumps(est))
    restored.model_.save(tmp_path / "gmf.keras")
    loaded = keras.saving.load_model(tmp_path / "gmf.keras")
    X = X[:500][(est._encode_X(X[:500])[1] >= 0).all(axis=1)]
    assert_allclose(model_output(loaded, est, X), model_output(est.model_, est, X),
                    rtol=1e-6)
    assert_allclose(model_output(loaded, est, X), raw_scores(est, X), rtol=1e-5, atol=1e-6)


def test_model_access_after_loading_imports_tensorflow(regressor, tmp_path):
    """Scoring needs NumPy only; model_ builds the network, which needs TensorFlow."""
    joblib.dump(regressor, tmp_path / "gmf.joblib")
    code = textwrap.dedent(f"""
        import sys
        import joblib

        est = joblib.load({str(tmp_path / "gmf.joblib")!r})
        est.recommend(est.users_[:3], k=5)
        assert "tensorflow" not in sys.modules
        est.model_
        assert "tensorflow" in sys.modules
    """)
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("Estimator", [GMFRegressor, GMFClassifier])
def test_predict_and_recommend_from_threads_match_serial(Estimator, low_rank_ratings):
    from concurrent.futures import ThreadPoolExecutor

    X, y = low_rank_ratings
    y = y if Estimator is GMFRegressor else (y >= 4).astype(int)
    est = Estimator(n_factors=4, max_iter=2, batch_size=1024, random_state=0).fit(X, y)
    chunks = np.array_split(X, 8)
    users = [est.users_[i::8] for i in range(8)]
    serial = ([est.predict(c) for c in chunks], [est.recommend(u, k=5) for u in users])
    with ThreadPoolExecutor(max_workers=8) as pool:
        predicted = list(pool.map(est.predict, chunks))
        recommended = list(pool.map(lambda u: est.recommend(u, k=5), users))
    for a, b in zip(predicted, serial[0]):
        assert_allclose(a, b, rtol=1e-6, atol=1e-9)
    for a, b in zip(recommended, serial[1]):
        assert_array_equal(a, b)


def test_saved_files_name_the_public_class(regressor, tmp_path):
    """skops (and MLflow's skops_trusted_types) see skgmf.GMFRegressor, and a pickle
    that names the class by its private module still loads."""
    skops_io = pytest.importorskip("skops.io")
    path = tmp_path / "est.skops"
    skops_io.dump(regressor, path)
    assert skops_io.get_untrusted_types(file=path) == ["skgmf.GMFRegressor"]
    data = pickle.dumps(regressor)
    assert b"skgmf._regressor" not in data
    old = data.replace(b"\x8c\x05skgmf\x94\x8c\x0cGMFRegressor",
                       b"\x8c\x10skgmf._regressor\x94\x8c\x0cGMFRegressor")
    assert old != data
    X = np.array([[regressor.users_[0], regressor.items_[0]]])
    assert_allclose(pickle.loads(old).predict(X), regressor.predict(X))
