"""Docstring examples run, and public docstrings follow numpydoc."""
# License: BSD 3 clause

import doctest
import importlib
import importlib.util
import os
import warnings

import pytest

PUBLIC = [
    "skgmf.GMFRegressor",
    "skgmf.GMFRegressor.fit",
    "skgmf.GMFRegressor.predict",
    "skgmf.GMFRegressor.partial_fit",
    "skgmf.GMFRegressor.partial_fit_users",
    "skgmf.GMFClassifier.partial_fit",
    "skgmf.build_gmf",
    "skgmf.datasets.load_movielens",
    "skgmf.datasets.make_ratings",
    "skgmf.datasets.get_data_home",
    "skgmf.datasets.load_movies",
    "skgmf.model_selection.train_test_split_known",
    "skgmf.model_selection.UserLeaveKOut",
    "skgmf.model_selection.UserLeaveKOut.split",
    "skgmf.model_selection.movielens_100k_folds",
    "skgmf.exceptions.InconsistentVersionWarning",
]


@pytest.mark.parametrize("module", ["skgmf._regressor", "skgmf._classifier", "skgmf.metrics", "skgmf.datasets", "skgmf._model", "skgmf.model_selection", "skgmf.exceptions"])
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


@pytest.mark.parametrize("name", PUBLIC)
def test_public_docstrings_are_valid_numpydoc(name):
    validate = pytest.importorskip("numpydoc.validate")
    report = validate.validate(name)
    # Errors that concern content, not style choices sklearn also ignores.
    ignored = {"GL08", "ES01", "SA01", "EX01", "RT02", "PR01", "GL02", "SS05", "SS06"}
    errors = [(code, msg) for code, msg in report["errors"] if code not in ignored]
    assert errors == []


SOURCE = importlib.util.find_spec("skgmf").submodule_search_locations[0]


@pytest.mark.parametrize("name", sorted(n for n in os.listdir(SOURCE) if n.endswith(".py")))
def test_source_compiles_without_warnings(name):
    """No invalid escape sequence (``"\\Phi"`` in a docstring): a SyntaxWarning on
    Python 3.12+ the first time a user's Python compiles the module."""
    path = os.path.join(SOURCE, name)
    with open(path, encoding="utf-8") as file:
        source = file.read()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compile(source, path, "exec")
