"""The gallery examples run with tiny settings, hide no warning and cause none in skgmf."""
# License: BSD 3 clause

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import require_dataset

EXAMPLES = sorted((Path(__file__).parents[1] / "examples").glob("plot_*.py"))

# One example in the default suite; every example with -m slow.
FAST = {"plot_quickstart.py"}

# Runs the example given as argv[1] as __main__, under the interpreter's default
# warning filters (what a user sees), and exits with 3 after listing every warning
# that skgmf caused: one whose innermost frame of skgmf or of the example is
# skgmf's (skgmf warned, or a library warned about skgmf's call).
RUNNER = """
import os, runpy, sys, traceback, warnings

import skgmf

package = os.path.dirname(os.path.abspath(skgmf.__file__)) + os.sep
example = os.path.abspath(sys.argv[1])
caused, show = [], warnings.showwarning

def showwarning(message, category, filename, lineno, file=None, line=None):
    for frame in reversed(traceback.extract_stack()[:-1]):
        where = os.path.abspath(frame.filename)
        if where == example:
            break
        if where.startswith(package):
            caused.append(f"{where}:{frame.lineno}: {category.__name__}: {message}")
            break
    show(message, category, filename, lineno, file, line)

warnings.showwarning = showwarning
sys.argv = [example]
runpy.run_path(example, run_name="__main__")
if caused:
    print("Warnings caused by skgmf:", *caused, sep="\\n", file=sys.stderr)
    sys.exit(3)
"""


@pytest.mark.parametrize(
    "path",
    [p if p.name in FAST else pytest.param(p, marks=pytest.mark.slow) for p in EXAMPLES],
    ids=lambda p: p.stem,
)
def test_example_runs_without_a_warning_from_skgmf(path):
    # sphinx-gallery shows every warning in the rendered page, and a filter in the
    # example would hide one from the reader.
    source = path.read_text(encoding="utf-8")
    assert not re.search(r"filterwarnings|simplefilter|catch_warnings", source), (
        f"{path.name} filters warnings"
    )
    # A local copy, so that no example reaches the internet.
    home = require_dataset("ml-100k/u.data").parents[1]
    env = {**os.environ, "SKGMF_DATA_HOME": str(home), "SKGMF_EXAMPLE_FAST": "1",
           "MPLBACKEND": "Agg"}
    out = subprocess.run([sys.executable, "-c", RUNNER, str(path)], capture_output=True,
                         text=True, env=env, cwd=path.parent)
    assert out.returncode == 0, out.stderr[-5000:]
    # Workers (joblib, Dask) print their warnings to the same stderr.
    assert not re.search(r"skgmf[/\\][\w/\\]+\.py:\d+: \w*Warning", out.stderr), out.stderr
    assert "ConvergenceWarning" not in out.stderr, out.stderr
