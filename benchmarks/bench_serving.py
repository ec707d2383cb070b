"""Serving cost of a fitted GMFRegressor: load and predict in a fresh process.

Run from the repository root::

    SKGMF_DATA_HOME=../shared/data python benchmarks/bench_serving.py

Fits ``GMFRegressor(random_state=0)`` (the defaults) once on all of MovieLens 1M,
saves it, then for every way of loading starts fresh Python processes that load
the model and predict 100,000 (user, item) pairs drawn from the ratings, and
prints a Markdown table of the median wall time of the load (including the
imports it triggers) and of the predict, and the process's peak resident memory
(``VmHWM`` of ``/proc/self/status``, else ``ru_maxrss``, which on Linux a child
inherits from the parent that fitted the model). The ways of loading:

- ``pickle``: this version's pickle (NumPy tables only, no TensorFlow);
- ``skops``: ``skops.io.load`` with the estimator's type trusted (if skops is
  installed);
- ``pickle + model_``: as ``pickle``, then ``est.model_`` is touched, which
  imports TensorFlow and rebuilds the Keras network;
- ``pickle with the Keras model``: a pickle written as skgmf wrote them before
  the Keras model was left out of the state, so loading it unpickles the model
  (imports TensorFlow).

Every file is written to a temporary directory, removed at the end.
"""
# License: BSD 3 clause

import argparse
import copyreg
import io
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

CHILD = """
import json, pickle, resource, sys, time, warnings
mode, model_path, pairs_path = sys.argv[1:4]
warnings.simplefilter("ignore")  # the old-format pickle warns: no skgmf version
start = time.perf_counter()
if mode == "skops":
    import skops.io
    est = skops.io.load(model_path, trusted=["skgmf.GMFRegressor"])
else:
    with open(model_path, "rb") as f:
        est = pickle.load(f)
if mode == "pickle + model_":
    est.model_
load_s = time.perf_counter() - start
import numpy as np
X = np.load(pairs_path)
start = time.perf_counter()
y_pred = est.predict(X)
predict_s = time.perf_counter() - start
try:
    # The peak of this process's own memory map. ru_maxrss would do, but on
    # Linux a child starts with its parent's peak, which fitted the model.
    with open("/proc/self/status") as f:
        peak_kb = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
except OSError:
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({
    "load_s": load_s,
    "predict_s": predict_s,
    "peak_rss_mb": peak_kb / 1024,
    "tensorflow": "tensorflow" in sys.modules,
    "checksum": float(y_pred.sum()),
}))
"""

MODES = ["pickle", "skops", "pickle + model_", "pickle with the Keras model"]


def old_format_pickle(est):
    """``est`` pickled with its Keras model in the state, as before this version."""
    state = {k: v for k, v in vars(est).items() if k != "_keras_model"}
    state["model_"] = est.model_

    class OldPickler(pickle.Pickler):
        def reducer_override(self, obj):
            if obj is est:
                return copyreg.__newobj__, (type(est),), state
            return NotImplemented

    buffer = io.BytesIO()
    OldPickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(est)
    return buffer.getvalue()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="ml-1m")
    parser.add_argument("--n-pairs", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    from sklearn.exceptions import ConvergenceWarning

    from skgmf import GMFRegressor
    from skgmf.datasets import load_movielens

    df = load_movielens(args.dataset, download=False)
    X, y = df[["user", "item"]].to_numpy(), df["rating"].to_numpy(float)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = GMFRegressor(random_state=0).fit(X, y)
    fit_s = time.perf_counter() - start
    rows = np.random.default_rng(0).integers(0, len(X), args.n_pairs)
    expected = float(est.predict(X[rows]).sum())

    try:
        import skops.io
    except ImportError:
        skops = None
    with tempfile.TemporaryDirectory() as tmp:
        pairs_path = os.path.join(tmp, "pairs.npy")
        np.save(pairs_path, X[rows])
        paths = {
            "pickle": os.path.join(tmp, "gmf.pkl"),
            "skops": os.path.join(tmp, "gmf.skops"),
            "pickle with the Keras model": os.path.join(tmp, "gmf_old.pkl"),
        }
        paths["pickle + model_"] = paths["pickle"]
        with open(paths["pickle"], "wb") as f:
            pickle.dump(est, f, protocol=pickle.HIGHEST_PROTOCOL)
        with open(paths["pickle with the Keras model"], "wb") as f:
            f.write(old_format_pickle(est))
        modes = MODES
        if skops is None:
            modes = [m for m in MODES if m != "skops"]
        else:
            skops.io.dump(est, paths["skops"])
        sizes = {m: os.path.getsize(paths[m]) / 2**20 for m in modes}

        results = {}
        for mode in modes:
            runs = []
            for _ in range(args.repeats):
                out = subprocess.run(
                    [sys.executable, "-c", CHILD, mode, paths[mode], pairs_path],
                    check=True, capture_output=True, text=True,
                )
                runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
            if any(not np.isclose(r["checksum"], expected) for r in runs):
                raise RuntimeError(f"{mode}: predictions differ from the fitted model's")
            results[mode] = runs

    print(
        f"{args.dataset}: {len(X):,} ratings, GMFRegressor defaults "
        f"(n_factors={est.n_factors}), fit in {fit_s:.1f} s; fresh process, "
        f"predict {args.n_pairs:,} pairs; median of {args.repeats} runs.\n"
    )
    print("| load | file (MB) | TensorFlow imported | load (s) | predict (s) "
          "| load + predict (s) | peak RSS (MB) |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: |")
    for mode, runs in results.items():
        load = statistics.median(r["load_s"] for r in runs)
        predict = statistics.median(r["predict_s"] for r in runs)
        total = statistics.median(r["load_s"] + r["predict_s"] for r in runs)
        rss = statistics.median(r["peak_rss_mb"] for r in runs)
        tf = "yes" if all(r["tensorflow"] for r in runs) else (
            "no" if not any(r["tensorflow"] for r in runs) else "sometimes")
        print(f"| {mode} | {sizes[mode]:.1f} | {tf} | {load:.2f} | {predict:.3f} "
              f"| {total:.2f} | {rss:.0f} |")


if __name__ == "__main__":
    main()
