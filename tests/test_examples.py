"""The gallery examples run with tiny settings and print no warning of skgmf's."""
# License: BSD 3 clause

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import require_dataset

EXAMPLES = sorted((Path(__file__).parents[1] / "examples").glob("plot_*.py"))

# One example in the default suite; every example with -m slow.
FAST = {"plot_quickstart.py"}


@pytest.mark.parametrize(
    "path",
    [p if p.name in FAST else pytest.param(p, marks=pytest.mark.slow) for p in EXAMPLES],
    ids=lambda p: p.stem,
)
def test_example_runs_without_convergence_warning(path):
    # A local copy, so that no example reaches the internet.
    home = require_dataset("ml-100k/u.data").parents[1]
    env = {**os.environ, "SKGMF_DATA_HOME": str(home), "SKGMF_EXAMPLE_FAST": "1",
           "MPLBACKEND": "Agg"}
    out = subprocess.run([sys.executable, str(path)], capture_output=True, text=True,
                         env=env, cwd=path.parent)
    assert out.returncode == 0, out.stderr
    # sphinx-gallery shows warnings in the rendered output.
    assert "ConvergenceWarning" not in out.stderr, out.stderr
