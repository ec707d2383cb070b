"""Choose GMFRegressor settings on validation data only: a held-out tenth of training.

Run from the repository root::

    SKGMF_DATA_HOME=../shared/data python benchmarks/tune_movielens.py --datasets ml-100k ml-1m

For each data set, the training part of the benchmark's first fold (ML-100K:
``u1.base``; ML-1M: fold 0 of ``KFold(5, shuffle=True, random_state=0)``) is split
90/10 at random; every setting of the grid is fitted on the 90 % and scored (RMSE)
on the 10 %. The test folds that ``bench_movielens.py`` reports never take part.
Prints one line per setting, then the best one per data set; the defaults of
``GMFRegressor`` and the "GMF tuned" settings of the benchmark come from such runs.
"""
# License: BSD 3 clause

import argparse
import itertools
import os
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

GRID = {
    "n_factors": [32, 64],
    "alpha": [0.1, 0.12, 0.14],
    "learning_rate": [0.05, 0.08],
    "max_iter": [10, 14],
}


def validation_split(dataset):
    """90 % / 10 % of the first benchmark fold's training ratings."""
    from sklearn.model_selection import train_test_split

    from bench_movielens import folds

    train, _ = next(folds(dataset, quick=True))
    X, y = train[["user", "item"]].to_numpy(), train["rating"].to_numpy(float)
    return train_test_split(X, y, test_size=0.1, random_state=1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["ml-100k", "ml-1m"])
    args = parser.parse_args()

    import warnings

    from sklearn.exceptions import ConvergenceWarning

    from skgmf import GMFRegressor

    warnings.simplefilter("ignore", ConvergenceWarning)
    for dataset in args.datasets:
        X_fit, X_val, y_fit, y_val = validation_split(dataset)
        scores = []
        for values in itertools.product(*GRID.values()):
            params = dict(zip(GRID, values))
            start = time.perf_counter()
            est = GMFRegressor(random_state=0, **params).fit(X_fit, y_fit)
            seconds = time.perf_counter() - start
            rmse = float(np.sqrt(np.mean((est.predict(X_val) - y_val) ** 2)))
            scores.append((rmse, params))
            print(f"{dataset} {params} validation RMSE {rmse:.4f} fit {seconds:.2f} s",
                  flush=True)
        rmse, params = min(scores, key=lambda s: s[0])
        print(f"best on {dataset}: {params} (validation RMSE {rmse:.4f})", flush=True)


if __name__ == "__main__":
    main()
