"""Choose and check the defaults of the per-rating SGD trainer (skgmf/_sgd.py).

Run from the repository root, with the MovieLens copies under ``--data``::

    # validation grid (a held-out tenth of u1.base / of ML-1M fold 1's training rows),
    # printing the validation RMSE every 5 epochs
    python benchmarks/tune_sgd.py grid ml-1m "alpha=[0.03,0.04];lr=[0.04]" --set n_epochs=25
    # test RMSE and fit seconds of the defaults (or --set ... / --accurate) on
    # ML-100K u1..u5 and the first 3 folds of ML-1M (KFold(5, shuffle=True, random_state=0))
    python benchmarks/tune_sgd.py test
    python benchmarks/tune_sgd.py test --accurate
    # cornac MF(k=10, max_iter=25, learning_rate=0.01, lambda_reg=0.02, use_bias=True)
    python benchmarks/tune_sgd.py cornac
    # import + first call in this process (NUMBA_CACHE_DIR=empty dir: cold compile)
    python benchmarks/tune_sgd.py startup

The test folds take no part in the choice: ``grid`` only sees validation data.
Fits train with the estimators' engine (``skgmf._sgd.train``: LIBMF's grid on the
threads it finds); ``--set shuffle='"blocks"'`` (or ``learn_w=True``) trains with
``sgd_fit``, the one-thread engine of the research options, instead.
"""
# License: BSD 3 clause

import argparse
import itertools
import json
import os
import sys
import time

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

# Chosen on validation (see the module docstring); w stays at ones (plain biased MF).
# The defaults depend on the number of ratings: default_params gives the
# estimator's "auto" settings.
ACCURATE = dict(n_factors=128, n_epochs=40, lr=0.04, lr_decay=0.3, alpha=0.05, beta=1.0,
                init_std=0.01)


def default_params(n_ratings):
    """The estimator's "auto" SGD settings for ``n_ratings``, in ``sgd_fit``'s names
    (``BaseGMF._auto`` is where they are chosen)."""
    from skgmf import GMFRegressor
    from skgmf._sgd import INVERSE_DECAY

    auto = GMFRegressor()._resolve_settings(n_ratings, 2)
    return dict(n_factors=auto["n_factors"], n_epochs=auto["max_iter"],
                lr=auto["learning_rate"], lr_decay=INVERSE_DECAY,
                alpha=auto["alpha"], beta=auto["row_alpha"], init_std=0.01)


def settings(n_ratings, accurate=False, overrides=()):
    return dict(ACCURATE if accurate else default_params(n_ratings), **dict(overrides))


def read_100k(data, name):
    return pd.read_csv(f"{data}/ml-100k/{name}", sep="\t",
                       names=["user", "item", "rating", "timestamp"])


def read_1m(data):
    df = pd.read_csv(f"{data}/ml-1m/ratings_notimestamp.csv")
    return df.rename(columns={"userId": "user", "movieId": "item"})


def folds(data, dataset, n_folds):
    if dataset == "ml-100k":
        for k in range(1, n_folds + 1):
            yield read_100k(data, f"u{k}.base"), read_100k(data, f"u{k}.test")
    else:
        from sklearn.model_selection import KFold

        df = read_1m(data)
        for f, (train, test) in enumerate(KFold(5, shuffle=True, random_state=0).split(df)):
            if f == n_folds:
                break
            yield df.iloc[train], df.iloc[test]


def validation_split(data, dataset, seed=0):
    """(fit, validation): a held-out tenth of u1.base or of ML-1M fold 1's training rows."""
    train = next(folds(data, dataset, 1))[0]
    perm = np.random.default_rng(seed).permutation(len(train))
    cut = len(train) // 10
    return train.iloc[perm[cut:]], train.iloc[perm[:cut]]


class Problem:
    """Training rows encoded to 0..n-1; test rows with unseen ids fall back to biases/mu."""

    def __init__(self, train, test):
        self.user_ids, self.users = np.unique(train["user"].to_numpy(), return_inverse=True)
        self.item_ids, self.items = np.unique(train["item"].to_numpy(), return_inverse=True)
        self.y = train["rating"].to_numpy(np.float32)
        self.test_users, self.known_users = self._lookup(self.user_ids, test["user"])
        self.test_items, self.known_items = self._lookup(self.item_ids, test["item"])
        self.y_test = test["rating"].to_numpy(float)

    @staticmethod
    def _lookup(ids, values):
        values = values.to_numpy()
        pos = np.searchsorted(ids, values).clip(0, len(ids) - 1)
        return pos, ids[pos] == values

    def rmse(self, P, Q, bu, bi, w, mu):
        u, i, ku, ki = self.test_users, self.test_items, self.known_users, self.known_items
        dot = np.einsum("nk,nk,k->n", P[u], Q[i], w, dtype=np.float64)
        pred = mu + np.where(ku, bu[u], 0) + np.where(ki, bi[i], 0) + np.where(ku & ki, dot, 0)
        pred = np.clip(pred, 1, 5)
        return float(np.sqrt(np.mean((pred - self.y_test) ** 2)))


def fit(train, test, *, n_factors, n_epochs, lr, lr_decay, alpha, beta, init_std, seed=0,
        shuffle="grid", learn_w=False, learn_mu=False, trace=False):
    """Fit on ``train``; return (test RMSE, end-to-end s, SGD s, RMSE every epoch).

    ``shuffle="grid"`` (the default) trains with the estimators' engine,
    ``skgmf._sgd.train`` (LIBMF's grid, on the threads it finds); the other orders
    (and ``learn_w``, ``learn_mu``) with ``sgd_fit``, on one thread.
    """
    from skgmf._sgd import init_tables, sgd_fit

    start = time.perf_counter()
    prob = Problem(train, test)
    P, Q, bu, bi, w = init_tables(len(prob.user_ids), len(prob.item_ids), n_factors,
                                  init_std=init_std, seed=seed)
    curve = []
    if shuffle == "grid" and not (learn_w or learn_mu):
        return _fit_grid(prob, (P, Q, bu, bi, w), start, curve, n_epochs=n_epochs, lr=lr,
                         lr_decay=lr_decay, alpha=alpha, beta=beta, seed=seed, trace=trace)

    def callback(epoch, P, Q, bu, bi, w, mu):
        curve.append(prob.rmse(P, Q, bu, bi, w, mu))

    start_sgd = time.perf_counter()
    mu, _ = sgd_fit(prob.users, prob.items, prob.y, P, Q, bu, bi, w, float(prob.y.mean()),
                    n_epochs=n_epochs, lr=lr, lr_decay=lr_decay, alpha=alpha, beta=beta,
                    seed=seed, shuffle=shuffle, learn_w=learn_w, learn_mu=learn_mu,
                    callback=callback if trace else None)
    end = time.perf_counter()
    return prob.rmse(P, Q, bu, bi, w, mu), end - start, end - start_sgd, curve


def _fit_grid(prob, tables, start, curve, *, n_epochs, lr, lr_decay, alpha, beta, seed,
              trace):
    """:func:`fit` with ``skgmf._sgd.train``, the estimators' engine."""
    from skgmf._params import GMFParameters
    from skgmf._sgd import learning_rates, train

    P, Q, bu, bi, w = tables
    params = GMFParameters([P, Q], [bu, bi], w, float(prob.y.mean()))
    idx = np.column_stack([prob.users, prob.items]).astype(np.int32)
    rows = (idx, prob.y, np.ones(len(prob.y), np.float32))

    def validate(p):
        curve.append(prob.rmse(*p.factors, *p.biases, p.coef, p.intercept))
        return -curve[-1]

    start_sgd = time.perf_counter()
    # n_iter_no_change past the last epoch: the whole curve, never an early stop.
    params = train(params, itertools.repeat(rows), loss="squared_error",
                   rates=learning_rates(lr, n_epochs, lr_decay), alpha=alpha,
                   row_alpha=beta, validate=validate if trace else None,
                   n_iter_no_change=n_epochs + 1, seed=seed)[0]
    end = time.perf_counter()
    # With validate, train keeps the best epoch's tables: the last epoch's RMSE is
    # the curve's end.
    rmse = curve[-1] if trace else prob.rmse(*params.factors, *params.biases,
                                             params.coef, params.intercept)
    return rmse, end - start, end - start_sgd, curve


def parse_settings(items):
    return {k: eval(v) for k, v in (item.split("=", 1) for item in items)}  # noqa: S307


def warm_up():
    from skgmf import GMFRegressor
    from skgmf._sgd import init_tables, sgd_fit

    tables = init_tables(3, 3, 4)
    sgd_fit([0, 1, 2], [2, 1, 0], [1.0, 2.0, 3.0], *tables, 2.0, n_epochs=1)
    GMFRegressor(max_iter=1).fit([[0, 2], [1, 1], [2, 0]], [1.0, 2.0, 3.0])


def cmd_grid(args):
    grid = {k: eval(v) for k, v in (kv.split("=", 1) for kv in args.grid.split(";"))}  # noqa: S307
    train, valid = validation_split(args.data, args.dataset)
    base = settings(len(train), overrides=parse_settings(args.set))
    warm_up()
    for values in itertools.product(*grid.values()):
        params = dict(base, **dict(zip(grid, values)))
        rmse, _, sgd_s, curve = fit(train, valid, trace=True, **params)
        best = int(np.argmin(curve))
        print(json.dumps(params), f"valid={rmse:.4f} best={curve[best]:.4f}@{best + 1} "
              f"sgd_s={sgd_s:.2f} every5:", " ".join(f"{c:.4f}" for c in curve[4::5]),
              flush=True)


def cmd_test(args):
    warm_up()
    for dataset, n_folds in (("ml-100k", 5), ("ml-1m", 3)):
        rows = []
        for train, test in folds(args.data, dataset, n_folds):
            params = settings(len(train), args.accurate, parse_settings(args.set))
            rows.append(fit(train, test, **params))
        print(json.dumps(params))
        rmse, total, sgd = (np.array(col) for col in list(zip(*rows))[:3])
        print(f"{dataset}: RMSE per fold {np.round(rmse, 4).tolist()} mean {rmse.mean():.4f}; "
              f"end-to-end fit s median {np.median(total):.3f}, sgd_fit s median "
              f"{np.median(sgd):.3f} (per fold {np.round(total, 3).tolist()})", flush=True)


def cmd_cornac(args):
    import cornac
    from cornac.data import Dataset

    for dataset, n_folds in (("ml-100k", 5), ("ml-1m", 3)):
        rmses, times = [], []
        for train, test in folds(args.data, dataset, n_folds):
            start = time.perf_counter()
            ds = Dataset.from_uir(list(zip(train["user"], train["item"], train["rating"])),
                                  seed=0)
            model = cornac.models.MF(k=10, max_iter=25, learning_rate=0.01, lambda_reg=0.02,
                                     use_bias=True, seed=0, verbose=False)
            model.fit(ds)
            times.append(time.perf_counter() - start)
            uid, iid = ds.uid_map, ds.iid_map
            pred = np.array([
                model.score(uid[u], iid[i]) if u in uid and i in iid
                else model.default_score()
                for u, i in zip(test["user"], test["item"])
            ])
            pred = np.clip(pred, 1, 5)
            rmses.append(float(np.sqrt(np.mean((pred - test["rating"].to_numpy()) ** 2))))
        print(f"cornac MF {dataset}: RMSE per fold {np.round(rmses, 4).tolist()} mean "
              f"{np.mean(rmses):.4f}; from_uir+fit s median {np.median(times):.3f}", flush=True)


def cmd_startup(args):
    start = time.perf_counter()
    import skgmf._sgd  # noqa: F401

    imported = time.perf_counter() - start
    train, test = next(folds(args.data, "ml-1m", 1))
    first = fit(train, test, **settings(len(train)))
    second = fit(train, test, **settings(len(train)))
    print(f"NUMBA_CACHE_DIR={os.environ.get('NUMBA_CACHE_DIR')}: import {imported:.3f} s; "
          f"ML-1M fold 1 end-to-end fit, first call {first[1]:.3f} s, second {second[1]:.3f} s "
          f"(first-call overhead {first[1] - second[1]:.3f} s)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["grid", "test", "cornac", "startup"])
    parser.add_argument("dataset", nargs="?", choices=["ml-100k", "ml-1m"])
    parser.add_argument("grid", nargs="?", help='e.g. "alpha=[0.03,0.04];lr=[0.04]"')
    parser.add_argument("--set", nargs="*", default=[], help="overrides, e.g. n_epochs=40")
    parser.add_argument("--accurate", action="store_true")
    parser.add_argument("--data", default=os.environ.get("SKGMF_DATA_HOME", "../shared/data"))
    args = parser.parse_args()
    {"grid": cmd_grid, "test": cmd_test, "cornac": cmd_cornac, "startup": cmd_startup}[
        args.command](args)


if __name__ == "__main__":
    main()
