"""Benchmark GMFRegressor against Surprise and the seed notebook's model on MovieLens.

Run from the repository root (needs ``pip install -e ".[bench]"``)::

    SKGMF_DATA_HOME=../shared/data python benchmarks/bench_movielens.py --quick

Prints a Markdown table (RMSE and MAE: mean over folds; fit and predict seconds:
median over folds; peak resident memory of the process that ran the model; fit and
predict time relative to Surprise SVD in the same run) and writes it as JSON.
Each (dataset, model) runs in its own process so that memory peaks are its own.
GMF processes first fit a tiny model once, so that TensorFlow's one-off graph
tracing is not charged to the first fold; that cost is printed separately.
"""
# License: BSD 3 clause

import argparse
import json
import multiprocessing as mp
import os
import resource
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# "GMF tuned": per data set the best of benchmarks/tune_movielens.py's grid (n_factors,
# alpha, learning_rate, max_iter), scored on a held-out tenth of the first fold's
# training ratings; the test folds reported here take no part in the choice.
TUNED = {
    "ml-100k": dict(n_factors=64, alpha=0.14, learning_rate=0.05, max_iter=10),
    "ml-1m": dict(n_factors=64, alpha=0.14, learning_rate=0.08, max_iter=14),
}


def folds(dataset, quick):
    """Yield (train, test) DataFrames of the benchmark's folds."""
    from sklearn.model_selection import KFold

    from skgmf.datasets import _read_ratings, get_data_home, load_movielens

    if dataset == "ml-100k":
        home = get_data_home() / "ml-100k"
        if not (home / "u1.base").exists():
            load_movielens("ml-100k")
        for k in range(1, 3 if quick else 6):
            yield _read_ratings(home / f"u{k}.base"), _read_ratings(home / f"u{k}.test")
    else:
        df = load_movielens(dataset)
        splits = KFold(5, shuffle=True, random_state=0).split(df)
        for n, (train, test) in enumerate(splits):
            if quick and n == 1:
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


def warm_up():
    """Import TensorFlow and trace the epoch graph: a one-off cost per process."""
    from skgmf import GMFRegressor
    from skgmf.datasets import make_ratings

    df = make_ratings(50, 40, 500, random_state=0)
    start = time.perf_counter()
    GMFRegressor(max_iter=1).fit(df[["user", "item"]], df["rating"])
    return time.perf_counter() - start


def run_model(name, dataset, quick):
    """Fit and evaluate one model on every fold; return its figures."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    # The defaults stop at max_iter with the loss still falling, by design.
    warnings.simplefilter("ignore", ConvergenceWarning)
    rows = []
    trace_s = warm_up() if name.startswith("GMF") else None
    for train, test in folds(dataset, quick):
        y_test = test["rating"].to_numpy(float)
        if name.startswith("GMF"):
            from skgmf import GMFRegressor

            params = TUNED[dataset] if name == "GMF tuned" else {}
            est = GMFRegressor(random_state=0, **params)
            start = time.perf_counter()
            est.fit(train[["user", "item"]].to_numpy(), train["rating"].to_numpy(float))
            fit_s = time.perf_counter() - start
            start = time.perf_counter()
            y_pred = est.predict(test[["user", "item"]].to_numpy())
            predict_s = time.perf_counter() - start
        elif name == "seed notebook":
            y_pred, fit_s, predict_s = seed_model_fit_predict(train, test)
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
            y_pred = np.array([p.est for p in algo.test(pairs)])
            predict_s = time.perf_counter() - start
        rows.append((
            np.sqrt(np.mean((y_pred - y_test) ** 2)),
            np.mean(np.abs(y_pred - y_test)),
            fit_s,
            predict_s,
        ))
    rows = np.array(rows)
    return {
        "dataset": dataset,
        "model": name,
        "folds": len(rows),
        "rmse": rows[:, 0].mean(),
        "mae": rows[:, 1].mean(),
        "fit_s": float(np.median(rows[:, 2])),
        "predict_s": float(np.median(rows[:, 3])),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "warm_up_s": trace_s,
    }


def _worker(args, queue):
    queue.put(run_model(*args))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 folds of ML-100K, 1 of ML-1M")
    parser.add_argument("--datasets", nargs="+", default=["ml-100k", "ml-1m"])
    parser.add_argument(
        "--models", nargs="+",
        default=["GMF defaults", "GMF tuned", "Surprise SVD", "Surprise BaselineOnly",
                 "seed notebook"],
    )
    parser.add_argument("--output", default="benchmarks/results/movielens.json")
    args = parser.parse_args()

    ctx = mp.get_context("spawn")
    results = []
    for dataset in args.datasets:
        for model in args.models:
            queue = ctx.Queue()
            proc = ctx.Process(target=_worker, args=((model, dataset, args.quick), queue))
            proc.start()
            results.append(queue.get())
            proc.join()
            print(f"done: {dataset} {model}", flush=True)
    for row in results:
        svd = next(r for r in results if r["dataset"] == row["dataset"]
                   and r["model"] == "Surprise SVD") if "Surprise SVD" in args.models else None
        row["fit_vs_svd"] = row["fit_s"] / svd["fit_s"] if svd else None
        row["predict_vs_svd"] = row["predict_s"] / svd["predict_s"] if svd else None

    print("\n| dataset | model | folds | RMSE | MAE | fit s | predict s | peak RSS MB "
          "| fit / SVD | predict / SVD |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        ratio = lambda x: "" if x is None else f"{x:.2f}"  # noqa: E731
        print(f"| {r['dataset']} | {r['model']} | {r['folds']} | {r['rmse']:.4f} "
              f"| {r['mae']:.4f} | {r['fit_s']:.2f} | {r['predict_s']:.3f} "
              f"| {r['peak_rss_mb']:.0f} | {ratio(r['fit_vs_svd'])} "
              f"| {ratio(r['predict_vs_svd'])} |")
    for r in results:
        if r["warm_up_s"] is not None:
            print(f"{r['dataset']} {r['model']}: first fit of the process (TensorFlow "
                  f"import and graph trace) {r['warm_up_s']:.2f} s, not in fit s")
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w") as f:
        json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
