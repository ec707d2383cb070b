"""Fixed costs and throughput of GMFRegressor: first-fit overhead, epoch cost, predict.

Run from the repository root::

    SKGMF_DATA_HOME=../shared/data python benchmarks/bench_speed.py

Prints a Markdown table:

- first-fit overhead: in a fresh process with TensorFlow already imported, the
  first fit on ML-100K ``u1.base`` minus an identical second fit (tracing the
  training graph and building Keras objects for the first time);
- seconds per epoch on ML-1M (800k ratings, defaults) and the fit's peak memory;
- predict throughput on 1M integer (user, item) pairs, best of 5.
"""
# License: BSD 3 clause

import json
import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

FIRST_FIT = """
import time, warnings
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from skgmf import GMFRegressor
from skgmf._backend import import_keras
from skgmf.datasets import _read_ratings, get_data_home
warnings.simplefilter("ignore", ConvergenceWarning)
import_keras()
train = _read_ratings(get_data_home() / "ml-100k" / "u1.base")
X, y = train[["user", "item"]].to_numpy(), train["rating"].to_numpy(float)
times = []
for _ in range(3):
    start = time.perf_counter()
    GMFRegressor(random_state=0).fit(X, y)
    times.append(time.perf_counter() - start)
print(times)
"""

THROUGHPUT = """
import resource, time, warnings
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import KFold
from skgmf import GMFRegressor
from skgmf.datasets import load_movielens
warnings.simplefilter("ignore", ConvergenceWarning)
df = load_movielens("ml-1m")
X, y = df[["user", "item"]].to_numpy(), df["rating"].to_numpy(float)
train, _ = next(KFold(5, shuffle=True, random_state=0).split(X))
X, y = X[train], y[train]
GMFRegressor(max_iter=1).fit(X[:1000], y[:1000])  # import and trace
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
start = time.perf_counter()
est = GMFRegressor(random_state=0).fit(X, y)
fit_s = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
pairs = X[np.random.default_rng(0).integers(0, len(X), 1_000_000)]
best = min(
    (lambda s: (est.predict(pairs), time.perf_counter() - s)[1])(time.perf_counter())
    for _ in range(5)
)
print([fit_s, est.n_iter_, peak, rss, 1e6 / best])
"""


TABLE_SIZES = """
import contextlib, io, statistics
import numpy as np
from skgmf._adam import train
from skgmf._model import INIT_STD
from skgmf._params import init_parameters
from skgmf._random import epoch_permutations
rng = np.random.default_rng(0)
# 500,000 ratings of 2,000 users and items, trained into tables of growing size
# (the internal training loop, as fit calls it, on parameters of that size).
idx = rng.integers(0, 2_000, (500_000, 2)).astype(np.int32)
y = rng.integers(1, 6, len(idx)).astype(np.float32)
w = np.ones(len(idx), np.float32)
times = []
for n_ids in (2_000, 3_000, 2_000, 200_000, 2_000_000):  # the first two trace
    params = init_parameters([n_ids, n_ids], 32, intercept=3.0, std=INIT_STD, seed=0,
                             coef="lecun_uniform")
    epochs = ((perm, (idx, y, w)) for perm in epoch_permutations(0, len(y)))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        train(params, epochs, loss="squared_error", alpha=0.1, learning_rate=0.01,
              batch_size=16384, max_iter=6, tol=0.0, n_iter_no_change=10, verbose=1)
    # verbose prints each epoch's seconds; the first epoch also takes the
    # tables' fresh memory, which grows with them: median of the others.
    seconds = [float(line.rsplit(", ", 1)[1][:-2]) for line in out.getvalue().splitlines()]
    times.append((n_ids, statistics.median(seconds[1:])))
print([list(t) for t in times[2:]])
"""


def run(code):
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    first, second, third = run(FIRST_FIT)
    fit_s, n_iter, peak, before, pairs_per_s = run(THROUGHPUT)
    print("| measure | value |")
    print("|---|---:|")
    print(f"| ML-100K u1.base: first fit, TensorFlow imported (s) | {first:.2f} |")
    print(f"| ML-100K u1.base: identical second / third fit (s) | {second:.2f} / {third:.2f} |")
    print(f"| first-fit overhead (s) | {first - min(second, third):.2f} |")
    print(f"| ML-1M fold 0 (800k ratings): fit (s), epochs | {fit_s:.2f}, {n_iter} |")
    print(f"| ML-1M: seconds per epoch | {fit_s / n_iter:.3f} |")
    print(f"| ML-1M: peak RSS before / after the fit (MB) | {before:.0f} / {peak:.0f} |")
    print(f"| predict, 1M integer pairs (M pairs/s) | {pairs_per_s / 1e6:.1f} |")
    for n_ids, seconds in run(TABLE_SIZES):
        print(f"| 500,000 ratings into tables of {n_ids:,} users and items: s per "
              f"epoch | {seconds:.3f} |")


if __name__ == "__main__":
    main()
