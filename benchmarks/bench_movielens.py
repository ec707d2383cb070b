"""Benchmark GMFRegressor against Surprise, cornac, myFM and the seed notebook on MovieLens.

Run from the repository root (needs ``pip install -e ".[bench]"``)::

    SKGMF_DATA_HOME=../shared/data python benchmarks/bench_movielens.py --quick

Every model is fitted on the same folds: ML-100K's u1..u5 base/test splits, and for
every other data set ``KFold(5, shuffle=True, random_state=0)`` over
``load_movielens(name)`` (``--folds N`` keeps the first N of either). Every test row
is scored (users or items unseen in training fall back to each model's own default:
the global mean plus whatever bias is known) and every prediction is clipped to the
training ratings' range, [1, 5] on MovieLens.

Prints two Markdown tables -- a summary (RMSE and MAE: mean over folds; fit and
predict seconds: median over folds; peak resident memory of the process that ran
the model; fit and predict time relative to Surprise SVD in the same run) and the
per-fold figures -- and writes everything as JSON (by default under
``benchmarks/results/``, which git ignores).
Each (dataset, model) runs in its own process so that memory peaks are its own.
GMF processes first fit a tiny model once, so that TensorFlow's one-off graph
tracing is not charged to the first fold; that cost, the first fold's fit and the
median of the later folds are printed separately (what a fresh process sees).

The peers, each in its published or default configuration:

* ``Surprise SVD`` / ``Surprise BaselineOnly``: scikit-surprise defaults.
* ``cornac MF k=10`` / ``k=32``: ``cornac.models.MF(k, max_iter=25,
  learning_rate=0.01, lambda_reg=0.02, use_bias=True, seed=0)`` (cornac's README
  configuration); fit s counts ``Dataset.from_uir`` and ``fit`` (``fit_only_s`` is the
  fit alone). Predictions come from the learned arrays, checked on the first fold
  against cornac's own ``score``; an unknown user or item gets the global mean plus
  the known bias (as in Surprise), where cornac's ``rate`` would give an unknown
  item the bare global mean.
* ``myFM rank=10`` / ``rank=32``: ``myfm.MyFMRegressor(rank, random_seed=0)``, 200
  Gibbs sweeps on one-hot user and item features (the posterior mean of the last 195
  samples, myFM's default); fit s counts the one-hot encoding.
"""
# License: BSD 3 clause

import argparse
import json
import multiprocessing as mp
import os
import resource
import time
from pathlib import Path
from queue import Empty

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# "GMF accurate": a larger SGD model trained longer, the best of n_factors 32-256,
# alpha 0.04-0.05 and 25-60 epochs on a held-out tenth of ML-1M's first training
# fold and three of ML-100K's u1.base (for ML-100K it is the "auto" setting); the
# test folds reported here take no part in the choice. "GMF adam": solver="adam"
# with its own "auto" settings (benchmarks/tune_movielens.py).
SETTINGS = {
    "GMF defaults": {},
    "GMF accurate": dict(n_factors=128, alpha=0.05, max_iter=40),
    "GMF adam": dict(solver="adam"),
}

# cornac's README configuration of its MF (SGD with biases).
CORNAC_MF = dict(max_iter=25, learning_rate=0.01, lambda_reg=0.02, use_bias=True, seed=0)
CORNAC_K = {"cornac MF k=10": 10, "cornac MF k=32": 32}

MYFM_RANK = {"myFM rank=10": 10, "myFM rank=32": 32}
MYFM_SWEEPS = 200

MODELS = [
    "GMF defaults", "GMF accurate", "GMF adam", "Surprise SVD", "Surprise BaselineOnly", "seed notebook",
    *CORNAC_K, *MYFM_RANK,
]
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "movielens.json"


def folds(dataset, quick=False, n_folds=None):
    """Yield (train, test) DataFrames of the benchmark's folds.

    ``n_folds`` keeps the first folds (all 5 by default); ``quick`` means 2 folds of
    ML-100K and 1 of any other data set when ``n_folds`` is not given.
    """
    from sklearn.model_selection import KFold

    from skgmf.datasets import _read_ratings, get_data_home, load_movielens

    if n_folds is None:
        n_folds = (2 if dataset == "ml-100k" else 1) if quick else 5
    if dataset == "ml-100k":
        home = get_data_home() / "ml-100k"
        if not (home / "u1.base").exists():
            load_movielens("ml-100k")
        for k in range(1, min(n_folds, 5) + 1):
            yield _read_ratings(home / f"u{k}.base"), _read_ratings(home / f"u{k}.test")
    else:
        df = load_movielens(dataset)
        splits = KFold(5, shuffle=True, random_state=0).split(df)
        for n, (train, test) in enumerate(splits):
            if n == n_folds:
                break
            yield df.iloc[train], df.iloc[test]


def seed_model_fit_predict(train, test):
    """The seed notebook's GMF: 8 factors, no biases, Adam, MSE, batch 256, 20 epochs."""
    import keras

    users, items = np.unique(train["user"]), np.unique(train["item"])

    def encode(df):
        u = np.searchsorted(users, df["user"]).clip(0, len(users) - 1)
        i = np.searchsorted(items, df["item"]).clip(0, len(items) - 1)
        return [u[:, None].astype("int32"), i[:, None].astype("int32")]

    start = time.perf_counter()
    user_in = keras.Input((1,), dtype="int32")
    item_in = keras.Input((1,), dtype="int32")
    user = keras.layers.Flatten()(
        keras.layers.Embedding(len(users), 8, embeddings_regularizer=keras.regularizers.l2(0))(user_in)
    )
    item = keras.layers.Flatten()(
        keras.layers.Embedding(len(items), 8, embeddings_regularizer=keras.regularizers.l2(0))(item_in)
    )
    output = keras.layers.Dense(1, kernel_initializer="lecun_uniform")(
        keras.layers.Multiply()([user, item])
    )
    model = keras.Model([user_in, item_in], output)
    model.compile(optimizer="adam", loss="mse")
    model.fit(encode(train), train["rating"].to_numpy("float32"), batch_size=256,
              epochs=20, verbose=0)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    y_pred = model.predict(encode(test), batch_size=8192, verbose=0)[:, 0]
    return y_pred, fit_s, time.perf_counter() - start


def cornac_predict(model, users, items):
    """Predicted ratings of (user, item) pairs from a fitted cornac MF's arrays.

    The same formula as ``MF.score``: global mean + item bias (known item) + user
    bias and factor dot product (known user, known item). Unknown users and items fall
    back to the global mean plus the known bias.
    """
    uid, iid = model.uid_map, model.iid_map
    u = np.fromiter((uid.get(x, -1) for x in users.tolist()), np.int64, len(users))
    i = np.fromiter((iid.get(x, -1) for x in items.tolist()), np.int64, len(items))
    ku, ki = u >= 0, i >= 0
    both = ku & ki
    pred = np.full(len(u), float(model.global_mean))
    pred[ki] += model.i_biases[i[ki]]
    pred[ku] += model.u_biases[u[ku]]
    pred[both] += np.einsum("ij,ij->i", model.u_factors[u[both]], model.i_factors[i[both]])
    return pred


def check_cornac_predict(model, test, n_pairs=200):
    """Check ``cornac_predict`` against cornac's own ``score`` on known pairs."""
    known = test[test["user"].isin(list(model.uid_map)) & test["item"].isin(list(model.iid_map))]
    sample = known.sample(min(n_pairs, len(known)), random_state=0)
    users, items = sample["user"].to_numpy(), sample["item"].to_numpy()
    ours = cornac_predict(model, users, items)
    theirs = np.array([model.score(model.uid_map[u], model.iid_map[i])
                       for u, i in zip(users.tolist(), items.tolist())])
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)
    # An unknown user gets global mean + item bias, as in cornac's score.
    i = model.iid_map[items[0].item()]
    np.testing.assert_allclose(
        cornac_predict(model, np.array([-12345]), items[:1]),
        model.global_mean + model.i_biases[i], rtol=1e-5,
    )
    return len(sample)


def warm_up(params):
    """The one-off cost of a process's first fit: loading the compiled SGD kernel
    (solver="sgd"), or importing TensorFlow and tracing the epoch graph ("adam")."""
    from skgmf import GMFRegressor
    from skgmf.datasets import make_ratings

    df = make_ratings(50, 40, 500, random_state=0)
    start = time.perf_counter()
    GMFRegressor(**{**params, "max_iter": 1}).fit(df[["user", "item"]], df["rating"])
    return time.perf_counter() - start


def fit_predict(name, dataset, train, test, first_fold):
    """Fit one model on ``train``; return (predictions for ``test``, figures)."""
    extra = {}
    if name.startswith("GMF"):
        from skgmf import GMFRegressor

        params = SETTINGS[name]
        est = GMFRegressor(random_state=0, **params)
        start = time.perf_counter()
        est.fit(train[["user", "item"]].to_numpy(), train["rating"].to_numpy(float))
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        y_pred = est.predict(test[["user", "item"]].to_numpy())
        predict_s = time.perf_counter() - start
    elif name == "seed notebook":
        y_pred, fit_s, predict_s = seed_model_fit_predict(train, test)
    elif name in CORNAC_K:
        import cornac

        triples = list(zip(train["user"].tolist(), train["item"].tolist(),
                           train["rating"].tolist()))
        model = cornac.models.MF(k=CORNAC_K[name], **CORNAC_MF)
        start = time.perf_counter()
        train_set = cornac.data.Dataset.from_uir(triples, seed=0)
        mid = time.perf_counter()
        model.fit(train_set)
        end = time.perf_counter()
        fit_s, extra["fit_only_s"] = end - start, end - mid
        start = time.perf_counter()
        y_pred = cornac_predict(model, test["user"].to_numpy(), test["item"].to_numpy())
        predict_s = time.perf_counter() - start
        if first_fold:
            extra["checked_pairs"] = check_cornac_predict(model, test)
    elif name in MYFM_RANK:
        os.environ.setdefault("TQDM_DISABLE", "1")  # myFM's per-sweep progress bar
        import myfm
        from sklearn.preprocessing import OneHotEncoder

        cols = ["user", "item"]
        model = myfm.MyFMRegressor(rank=MYFM_RANK[name], random_seed=0)
        start = time.perf_counter()
        encoder = OneHotEncoder(handle_unknown="ignore").fit(train[cols])
        model.fit(encoder.transform(train[cols]).tocsr(), train["rating"].to_numpy(float),
                  n_iter=MYFM_SWEEPS)
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        y_pred = model.predict(encoder.transform(test[cols]).tocsr())
        predict_s = time.perf_counter() - start
    else:
        from surprise import SVD, BaselineOnly, Dataset, Reader

        algo = SVD() if name == "Surprise SVD" else BaselineOnly(verbose=False)
        reader = Reader(rating_scale=(train["rating"].min(), train["rating"].max()))
        trainset = Dataset.load_from_df(
            train[["user", "item", "rating"]], reader
        ).build_full_trainset()
        start = time.perf_counter()
        algo.fit(trainset)
        fit_s = time.perf_counter() - start
        pairs = list(zip(test["user"], test["item"], test["rating"]))
        start = time.perf_counter()
        # Surprise clips to rating_scale itself (clip=True).
        y_pred = np.array([p.est for p in algo.test(pairs)])
        predict_s = time.perf_counter() - start
    return np.asarray(y_pred, dtype=float), fit_s, predict_s, extra


def run_model(name, dataset, quick, n_folds=None):
    """Fit and evaluate one model on every fold; return its figures."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    # The defaults stop at max_iter with the loss still falling, by design.
    warnings.simplefilter("ignore", ConvergenceWarning)
    per_fold = []
    trace_s = warm_up(SETTINGS[name]) if name.startswith("GMF") else None
    for fold, (train, test) in enumerate(folds(dataset, quick, n_folds), start=1):
        y_test = test["rating"].to_numpy(float)
        y_pred, fit_s, predict_s, extra = fit_predict(name, dataset, train, test, fold == 1)
        if y_pred.shape != y_test.shape or not np.isfinite(y_pred).all():
            raise RuntimeError(f"{name}: not every test row of fold {fold} was scored.")
        # Every model's predictions on the training ratings' scale, [1, 5].
        y_pred = np.clip(y_pred, train["rating"].min(), train["rating"].max())
        per_fold.append({
            "fold": fold,
            "n_test": len(y_test),
            "rmse": float(np.sqrt(np.mean((y_pred - y_test) ** 2))),
            "mae": float(np.mean(np.abs(y_pred - y_test))),
            "fit_s": fit_s,
            "predict_s": predict_s,
            **extra,
        })

    def median(key):
        values = [f[key] for f in per_fold if key in f]
        return float(np.median(values)) if values else None

    fits = [f["fit_s"] for f in per_fold]
    return {
        "dataset": dataset,
        "model": name,
        "folds": len(per_fold),
        "rmse": float(np.mean([f["rmse"] for f in per_fold])),
        "mae": float(np.mean([f["mae"] for f in per_fold])),
        "fit_s": median("fit_s"),
        "fit_only_s": median("fit_only_s"),
        "predict_s": median("predict_s"),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "warm_up_s": trace_s,
        "first_fold_fit_s": fits[0],
        "later_folds_fit_s": float(np.median(fits[1:])) if len(fits) > 1 else None,
        "per_fold": per_fold,
    }


def _worker(args, queue):
    try:
        queue.put(run_model(*args))
    except BaseException as exc:  # reported by the parent, which would wait forever
        queue.put(exc)
        raise


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="2 folds of ML-100K, 1 of ML-1M (unless --folds)")
    parser.add_argument("--folds", type=int, default=None, metavar="N",
                        help="run the first N folds of each data set (default: all 5)")
    parser.add_argument("--datasets", nargs="+", default=["ml-100k", "ml-1m"])
    parser.add_argument("--models", nargs="+", default=MODELS, choices=MODELS,
                        metavar="MODEL", help=f"any of {MODELS} (default: all)")
    parser.add_argument("--output", default=str(DEFAULT_OUTPUT),
                        help="JSON file of the results (default: %(default)s)")
    args = parser.parse_args()
    if args.folds is not None and not 1 <= args.folds <= 5:
        parser.error("--folds must be between 1 and 5")

    ctx = mp.get_context("spawn")
    results = []
    for dataset in args.datasets:
        for model in args.models:
            queue = ctx.Queue()
            proc = ctx.Process(target=_worker,
                               args=((model, dataset, args.quick, args.folds), queue))
            proc.start()
            result = None
            while result is None:
                try:
                    result = queue.get(timeout=5)
                except Empty:
                    if not proc.is_alive():  # died without a word (killed, crashed)
                        raise RuntimeError(f"{dataset} {model}: process exited with "
                                           f"code {proc.exitcode}") from None
            proc.join()
            if isinstance(result, BaseException):
                raise RuntimeError(f"{dataset} {model} failed") from result
            results.append(result)
            print(f"done: {dataset} {model}", flush=True)
    for row in results:
        svd = next((r for r in results if r["dataset"] == row["dataset"]
                    and r["model"] == "Surprise SVD"), None)
        row["fit_vs_svd"] = row["fit_s"] / svd["fit_s"] if svd else None
        row["predict_vs_svd"] = row["predict_s"] / svd["predict_s"] if svd else None

    def fmt(x, spec):
        return "" if x is None else format(x, spec)

    print("\n| dataset | model | folds | RMSE | MAE | fit s | predict s | peak RSS MB "
          "| fit / SVD | predict / SVD |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['dataset']} | {r['model']} | {r['folds']} | {r['rmse']:.4f} "
              f"| {r['mae']:.4f} | {r['fit_s']:.2f} | {r['predict_s']:.3f} "
              f"| {r['peak_rss_mb']:.0f} | {fmt(r['fit_vs_svd'], '.2f')} "
              f"| {fmt(r['predict_vs_svd'], '.2f')} |")

    print("\nPer fold (fit s of cornac: Dataset.from_uir + fit; fit only: fit alone):\n")
    print("| dataset | model | fold | RMSE | MAE | fit s | fit only s | predict s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        for f in r["per_fold"]:
            print(f"| {r['dataset']} | {r['model']} | {f['fold']} | {f['rmse']:.4f} "
                  f"| {f['mae']:.4f} | {f['fit_s']:.2f} | {fmt(f.get('fit_only_s'), '.2f')} "
                  f"| {f['predict_s']:.3f} |")

    print()
    for r in results:
        if r["warm_up_s"] is not None:
            folds_later = "fold 2" if r["folds"] == 2 else f"folds 2-{r['folds']} (median)"
            later = ("" if r["later_folds_fit_s"] is None else
                     f"; {folds_later} fit {r['later_folds_fit_s']:.2f} s")
            print(f"{r['dataset']} {r['model']} in a fresh process: first fit (tiny data: "
                  f"kernel load, or TensorFlow import and trace) {r['warm_up_s']:.2f} s, not in fit s; then "
                  f"fold 1 fit {r['first_fold_fit_s']:.2f} s{later}")
        if any("checked_pairs" in f for f in r["per_fold"]):
            n = next(f["checked_pairs"] for f in r["per_fold"] if "checked_pairs" in f)
            print(f"{r['dataset']} {r['model']}: vectorised predictions equal cornac's "
                  f"score() on {n} known pairs of fold 1")
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with open(output, "w") as f:
        json.dump(results, f, indent=2)
    print(f"\nwrote {output}")


if __name__ == "__main__":
    main()
