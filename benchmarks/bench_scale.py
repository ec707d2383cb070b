"""GMFRegressor at ML-25M's size on one machine: fit time and memory, recommend all users.

Run from the repository root::

    python benchmarks/bench_scale.py --sizes 1000000 5000000 25000000

Each size runs in a fresh process: ``make_ratings(162_541, 59_047, n_ratings)``
(ML-25M's users and items), then a default ``GMFRegressor`` fit, then
``recommend`` (top 10, seen items excluded) for every user. Prints a Markdown
table: fit seconds, seconds per epoch, the fit's own memory (peak resident memory
minus the memory with the data already loaded) and the recommend seconds.
"""
# License: BSD 3 clause

import argparse
import json
import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ONE_SIZE = """
import json, resource, sys, time, warnings
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from skgmf import GMFRegressor
from skgmf.datasets import make_ratings
warnings.simplefilter("ignore", ConvergenceWarning)


def rss_mb():
    with open("/proc/self/status") as f:
        fields = dict(line.split(":", 1) for line in f)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


GMFRegressor(max_iter=1).fit([[0, 0], [1, 1]], [1.0, 2.0])  # import and trace
n = int(sys.argv[1])
start = time.perf_counter()
df = make_ratings(162_541, 59_047, n, random_state=0)
X = df[["user", "item"]].to_numpy()
y = df["rating"].to_numpy()
del df
make_s = time.perf_counter() - start
with open("/proc/self/clear_refs", "w") as f:  # reset the peak (VmHWM) to now
    f.write("5")
data_mb, _ = rss_mb()
start = time.perf_counter()
est = GMFRegressor(random_state=0).fit(X, y)
fit_s = time.perf_counter() - start
_, peak_mb = rss_mb()
users = est.users_
start = time.perf_counter()
est.recommend(users, k=10)
recommend_s = time.perf_counter() - start
print(json.dumps(dict(n_ratings=n, n_users=len(users), n_items=len(est.items_),
                      make_s=make_s, fit_s=fit_s, epochs=est.n_iter_,
                      fit_mb=peak_mb - data_mb, data_mb=data_mb,
                      recommend_s=recommend_s)))
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=int,
                        default=[1_000_000, 5_000_000, 25_000_000])
    args = parser.parse_args()
    rows = []
    for n in args.sizes:
        out = subprocess.run([sys.executable, "-c", ONE_SIZE, str(n)],
                             capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(f"done: {n} ratings", flush=True)
    print("\n| ratings | users | items | make_ratings s | fit s | s per epoch "
          "| fit memory MB | data in memory MB | recommend all users s |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['n_ratings']:,} | {r['n_users']:,} | {r['n_items']:,} "
              f"| {r['make_s']:.1f} | {r['fit_s']:.1f} | {r['fit_s'] / r['epochs']:.2f} "
              f"| {r['fit_mb']:.0f} | {r['data_mb']:.0f} | {r['recommend_s']:.1f} |")


if __name__ == "__main__":
    main()
