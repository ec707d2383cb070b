"""Choose GMFClassifier settings for the NCF protocol on validation data only.

Run from the repository root::

    SKGMF_DATA_HOME=../shared/data python benchmarks/tune_ncf.py \\
        --grid '{"learning_rate": [0.01, 0.02], "learning_rate_schedule": ["constant", "cosine"]}'

From the NCF training interactions (every ML-1M rating but each user's held-out
latest, see ``bench_ncf.py``), one more interaction per user is held out at random
(the copy of ML-1M here has no timestamps to pick the second-latest one); each
setting is fitted on the rest and scored by HR@10 and NDCG@10 of the held-out item
among 99 items the user never rated (``SampledRankingScorer``). The NCF test items
take no part. ``n_factors=64, n_negatives=4, random_state=0`` throughout, as in the
benchmark's target.
"""
# License: BSD 3 clause

import argparse
import itertools
import json
import os
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main():
    from bench_ncf import load_protocol

    from skgmf import GMFClassifier
    from skgmf.datasets import get_data_home
    from skgmf.metrics import SampledRankingScorer
    from skgmf.model_selection import UserLeaveKOut

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", default="{}", help="JSON: parameter -> list of values")
    parser.add_argument("--splits", nargs="+", type=int, default=[0],
                        help="seeds of the held-out interactions (and of the 99 "
                             "sampled items): more than one averages over splits")
    args = parser.parse_args()
    grid = json.loads(args.grid) or {"learning_rate": [0.01]}

    train, _, _ = load_protocol(str(get_data_home()))
    X = train[["user", "item"]].to_numpy()
    splits = [next(UserLeaveKOut(random_state=seed).split(X)) for seed in args.splits]
    for values in itertools.product(*grid.values()):
        params = dict(zip(grid, values))
        scores = []
        for seed, (fit_rows, val_rows) in zip(args.splits, splits):
            est = GMFClassifier(n_factors=64, n_negatives=4, random_state=0, **params)
            start = time.perf_counter()
            est.fit(X[fit_rows], np.ones(len(fit_rows)))
            seconds = time.perf_counter() - start
            scores.append([
                SampledRankingScorer(metric, k=10, n_negatives=99, random_state=seed)(
                    est, X[val_rows])
                for metric in ("hit_rate", "ndcg")
            ])
            print(f"{params} split {seed}: validation HR@10 {scores[-1][0]:.4f} "
                  f"NDCG@10 {scores[-1][1]:.4f} fit {seconds:.1f} s", flush=True)
        if len(splits) > 1:
            hr, ndcg = np.mean(scores, axis=0)
            print(f"{params} mean of {len(splits)} splits: HR@10 {hr:.4f} "
                  f"NDCG@10 {ndcg:.4f}", flush=True)


if __name__ == "__main__":
    main()
