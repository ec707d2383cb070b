"""A grid search on a 2-worker Dask LocalCluster against ``n_jobs=1``.

Run from the repository root (needs ``pip install "skgmf[distributed]"``)::

    SKGMF_DATA_HOME=../shared/data python benchmarks/bench_dask.py

``GridSearchCV(GMFRegressor(random_state=0), {"n_factors": [8, 16, 32, 64]})``
with defaults otherwise, on ML-100K with 3 shuffled folds (12 fits), each setting
in a fresh process (TensorFlow's start-up and the first fit's tracing count, in
every worker):

- ``n_jobs=1``, TensorFlow with its default thread pools (every core);
- ``joblib.parallel_backend("dask")`` on ``LocalCluster(n_workers=2,
  threads_per_worker=1)`` whose workers get ``TF_NUM_INTRAOP_THREADS=1`` and
  ``TF_NUM_INTEROP_THREADS=1``;
- the same cluster with TensorFlow's default thread pools in every worker.

Prints a Markdown table: the search's wall seconds (the cluster's start-up apart),
and the largest difference of ``mean_test_score`` from the ``n_jobs=1`` run.
"""
# License: BSD 3 clause

import json
import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

SEARCH = """
import json, sys, time, warnings
import joblib
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, KFold
from skgmf import GMFRegressor
from skgmf.datasets import load_movielens

warnings.simplefilter("ignore", ConvergenceWarning)  # passed on to the workers too
mode, tf_threads = sys.argv[1], sys.argv[2]
ratings = load_movielens("ml-100k")
X, y = ratings[["user", "item"]], ratings["rating"]
search = GridSearchCV(GMFRegressor(random_state=0), {"n_factors": [8, 16, 32, 64]},
                      cv=KFold(3, shuffle=True, random_state=0),
                      scoring="neg_root_mean_squared_error")
start_s = 0.0
if mode == "dask":
    from distributed import Client, LocalCluster
    env = {} if tf_threads == "default" else {
        "TF_NUM_INTRAOP_THREADS": tf_threads, "TF_NUM_INTEROP_THREADS": tf_threads}
    start = time.perf_counter()
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None,
                      env=env) as cluster, Client(cluster):
        start_s = time.perf_counter() - start
        start = time.perf_counter()
        with joblib.parallel_backend("dask"):
            search.fit(X, y)
        wall = time.perf_counter() - start
else:
    start = time.perf_counter()
    search.fit(X, y)
    wall = time.perf_counter() - start
print(json.dumps({"wall": wall, "start": start_s, "best": search.best_params_["n_factors"],
                  "scores": search.cv_results_["mean_test_score"].tolist()}))
"""

SETTINGS = [
    ("`n_jobs=1`", "local", "default"),
    ("Dask, 2 workers x 1 thread, TF threads 1", "dask", "1"),
    ("Dask, 2 workers x 1 thread, TF threads default", "dask", "default"),
]


def _run(mode, tf_threads):
    out = subprocess.run([sys.executable, "-c", SEARCH, mode, tf_threads],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    rows = [(name, _run(mode, tf_threads)) for name, mode, tf_threads in SETTINGS]
    reference = rows[0][1]
    print(f"{os.cpu_count()} cores; ML-100K, 4 n_factors x 3 folds, GMFRegressor defaults\n")
    print("| setting | search s | cluster start s | speed-up | best n_factors "
          "| max abs diff of mean_test_score |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, result in rows:
        diff = max(abs(a - b) for a, b in zip(result["scores"], reference["scores"]))
        print(f"| {name} | {result['wall']:.1f} | {result['start']:.1f} | "
              f"{reference['wall'] / result['wall']:.2f}x | {result['best']} | {diff:.1e} |")


if __name__ == "__main__":
    main()
