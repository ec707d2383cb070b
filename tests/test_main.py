"""``python -m skgmf``: help text and the printed evaluation."""
# License: BSD 3 clause

import re
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from skgmf.__main__ import main

from .conftest import require_dataset

# The line that compares GMF with the constant-prediction baseline.
RMSE_LINE = re.compile(
    r"^test RMSE (?P<rmse>\d+\.\d{4}) \(always predicting the training mean "
    r"(?P<mean>\d+\.\d{2}) gives (?P<baseline>\d+\.\d{4})\)$",
    re.MULTILINE,
)


def run_without_convergence_warning(argv):
    """``main(argv)``, failing on a ConvergenceWarning.

    The defaults end training at max_iter; the command prints the number of epochs
    instead of sklearn's warning.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        main(argv)


def test_help_names_the_command_and_is_plain_text(capsys):
    with pytest.raises(SystemExit) as exc_info:
        main(["--help"])
    assert exc_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: python -m skgmf ")
    assert "__main__.py" not in out
    assert "``" not in out
    assert "--data-home" in out and "--no-download" in out


def test_ml100k_run_prints_the_mean_baseline_as_an_rmse(capsys):
    path = require_dataset("ml-100k/u.data")
    run_without_convergence_warning(["--data-home", str(path.parents[1]), "--no-download"])
    out = capsys.readouterr().out
    assert out.startswith("MovieLens 100K: 80000 training and 20000 test ratings")
    match = RMSE_LINE.search(out)
    assert match is not None, out
    assert re.search(r"fitted in \d+\.\d s \(\d+ epochs\)", out), out

    # The same split as the command, recomputed here.
    ratings = np.loadtxt(path, dtype=np.int64)
    X, y = ratings[:, :2], ratings[:, 2].astype(float)
    _, _, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)
    mean = y_train.mean()
    baseline = np.sqrt(np.mean((y_test - mean) ** 2))
    assert float(match["mean"]) == pytest.approx(mean, abs=0.005)
    assert float(match["baseline"]) == pytest.approx(baseline, abs=5e-5)
    # GMF beats always predicting the mean.
    assert float(match["rmse"]) < baseline


def test_without_data_falls_back_to_synthetic_ratings(tmp_path, capsys):
    run_without_convergence_warning(["--data-home", str(tmp_path), "--no-download"])
    out = capsys.readouterr().out
    assert out.startswith("MovieLens 100K unavailable")
    assert "synthetic ratings (skgmf.datasets.make_ratings): 80000 training" in out
    assert RMSE_LINE.search(out) is not None, out
    assert re.search(r"fitted in \d+\.\d s \(\d+ epochs\)", out), out
    assert list(tmp_path.iterdir()) == []
