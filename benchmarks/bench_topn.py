"""Top-10 recommendation on ML-100K u1: GMFRegressor.recommend against popularity and cornac MF.

Run from the repository root (needs ``pip install -e ".[bench]"``)::

    SKGMF_DATA_HOME=../shared/data python benchmarks/bench_topn.py

The protocol: train on ``u1.base`` (with ``--validation``: on a random four fifths
of it, testing on the rest, where the default ranking was checked); every user with a ``u1.test`` rating >= 4 gets
k=10 items, none of which they rated in ``u1.base``; precision@10 is the number of
those items among the user's test items rated >= 4, over 10, averaged over these
users (``skgmf.metrics.precision_at_k``, checked against a direct count). Items that
appear only in ``u1.test`` count as relevant but no model can recommend them.

Models:

* ``GMF defaults``: ``GMFRegressor(random_state=0).recommend(users, k=10)``
  (``exclude_seen=True``, ``ranking="auto"``, which for the regressor is
  ``"relevance"``: an item's share of the training ratings times the normal
  probability that the user's rating of it clears the mean rating).
* ``GMF ranking="score"``: the same model's items with the highest predicted rating.
* ``most popular unseen``: the 10 most-rated training items the user has not rated
  (ties by item id).
* ``cornac MF k=10``: ``cornac.models.MF(k=10, max_iter=25, learning_rate=0.01,
  lambda_reg=0.02, use_bias=True, seed=0)``, every item scored from its learned
  arrays (checked against cornac's own ``score``), training items excluded.

Also printed: the median number of training ratings of the recommended items (how
far a model strays from the popular items) and the fit time. Prints a Markdown table
and writes it as JSON (by default under ``benchmarks/results/``, which git ignores).
"""
# License: BSD 3 clause

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

K = 10
THRESHOLD = 4
CORNAC_MF = dict(k=10, max_iter=25, learning_rate=0.01, lambda_reg=0.02, use_bias=True,
                 seed=0)
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "topn.json"


def load_u1():
    """ML-100K's u1.base and u1.test."""
    from skgmf.datasets import _read_ratings, get_data_home, load_movielens

    home = get_data_home() / "ml-100k"
    if not (home / "u1.base").exists():
        load_movielens("ml-100k")
    return _read_ratings(home / "u1.base"), _read_ratings(home / "u1.test")


def top_k(scores, k):
    """Column indices of each row's k highest scores, best first."""
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.lexsort((part, -np.take_along_axis(scores, part, axis=1)), axis=1)
    return np.take_along_axis(part, order, axis=1)


def recommend_gmf(train, users, ranking="auto"):
    from skgmf import GMFRegressor

    est = GMFRegressor(random_state=0)
    start = time.perf_counter()
    est.fit(train[["user", "item"]].to_numpy(), train["rating"].to_numpy(float))
    fit_s = time.perf_counter() - start
    return est.recommend(users, k=K, ranking=ranking), fit_s


def recommend_popular(train, users):
    counts = train["item"].value_counts()
    # Most ratings first, ties by item id.
    ranked = counts.index.to_numpy()[np.lexsort((counts.index.to_numpy(), -counts.to_numpy()))]
    seen = train.groupby("user")["item"].agg(set)
    start = time.perf_counter()
    recs = []
    for user in users:
        user_seen = seen.get(user, set())
        recs.append([item for item in ranked[: K + len(user_seen)] if item not in user_seen][:K])
    fit_s = time.perf_counter() - start
    return np.array(recs), fit_s


def cornac_scores(model, user_rows):
    """Scores of every known item for known users (rows of ``model.u_factors``)."""
    return (model.global_mean + model.i_biases[None, :] + model.u_biases[user_rows, None]
            + model.u_factors[user_rows] @ model.i_factors.T)


def recommend_cornac(train, users):
    import cornac

    triples = list(zip(train["user"].tolist(), train["item"].tolist(),
                       train["rating"].tolist()))
    model = cornac.models.MF(**CORNAC_MF)
    start = time.perf_counter()
    model.fit(cornac.data.Dataset.from_uir(triples, seed=0))
    fit_s = time.perf_counter() - start
    uid, iid = model.uid_map, model.iid_map
    if any(u not in uid for u in users.tolist()):
        raise ValueError("every evaluated user has training ratings in u1.base")
    rows = np.array([uid[u] for u in users.tolist()])
    scores = cornac_scores(model, rows).astype(np.float64)
    for r in range(3):  # the vectorised scores are cornac's own
        np.testing.assert_allclose(scores[r], model.score(rows[r]), rtol=1e-5, atol=1e-5)
    row_of_user = {u: r for r, u in enumerate(users.tolist())}
    seen = train[train["user"].isin(users)]
    scores[[row_of_user[u] for u in seen["user"].tolist()],
           [iid[i] for i in seen["item"].tolist()]] = -np.inf
    item_ids = np.empty(len(iid), dtype=np.int64)
    item_ids[list(iid.values())] = list(iid.keys())
    return item_ids[top_k(scores, K)], fit_s


MODELS = {
    "GMF defaults": recommend_gmf,
    'GMF ranking="score"': lambda train, users: recommend_gmf(train, users, "score"),
    "most popular unseen": recommend_popular,
    "cornac MF k=10": recommend_cornac,
}


def evaluate(recs, users, train, test):
    """precision@K of ``recs`` (n_users, K item ids) and the recommended items' popularity."""
    from skgmf.metrics import precision_at_k

    items = np.union1d(train["item"].unique(), test["item"].unique())
    col = {item: c for c, item in enumerate(items.tolist())}
    row = {user: r for r, user in enumerate(users.tolist())}
    relevant = test[test["rating"] >= THRESHOLD]
    y_true = np.zeros((len(users), len(items)), dtype=bool)
    y_true[[row[u] for u in relevant["user"].tolist()],
           [col[i] for i in relevant["item"].tolist()]] = True
    # Recommended items score K..1 by rank, the rest -inf: the top K are the list.
    y_score = np.full(y_true.shape, -np.inf)
    for r, rec in enumerate(recs.tolist()):
        for rank, item in enumerate(rec):
            if item in col:  # a padded slot (fill_value) names no item
                y_score[r, col[item]] = K - rank
    precision = precision_at_k(y_true, y_score, k=K)

    relevant_sets = relevant.groupby("user")["item"].agg(set)
    direct = np.mean([len(set(rec) & relevant_sets[u]) / K
                      for u, rec in zip(users.tolist(), recs.tolist())])
    if not np.isclose(precision, direct):
        raise AssertionError(f"precision_at_k {precision} != direct count {direct}")

    seen = set(zip(train["user"].tolist(), train["item"].tolist()))
    if any((u, i) in seen for u, rec in zip(users.tolist(), recs.tolist()) for i in rec):
        raise AssertionError("a recommended item was rated by the user in training")
    counts = train["item"].value_counts()
    n_train = counts.reindex(recs.ravel(), fill_value=0).to_numpy()
    return precision, float(np.median(n_train)), len(np.unique(recs))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS),
                        metavar="MODEL", help=f"any of {list(MODELS)} (default: all)")
    parser.add_argument("--output", default=str(DEFAULT_OUTPUT),
                        help="JSON file of the results (default: %(default)s)")
    parser.add_argument("--validation", action="store_true",
                        help="hold a random fifth of u1.base out as the test set "
                             "instead of u1.test (where the ranking was checked)")
    args = parser.parse_args()

    train, test = load_u1()
    if args.validation:
        held_out = np.random.default_rng(0).random(len(train)) < 0.2
        train, test = train[~held_out], train[held_out]
    users = np.sort(test.loc[test["rating"] >= THRESHOLD, "user"].unique())
    results = []
    for name in args.models:
        recs, fit_s = MODELS[name](train, users)
        precision, median_count, n_distinct = evaluate(recs, users, train, test)
        results.append({"model": name, "users": len(users), "precision_at_10": precision,
                        "median_train_ratings_of_recommended": median_count,
                        "distinct_items_recommended": n_distinct, "fit_s": fit_s})
        print(f"done: {name}", flush=True)

    where = "a held-out fifth of u1.base" if args.validation else "u1"
    print(f"\nML-100K {where}: {len(users)} users with a test rating >= {THRESHOLD}; "
          f"{K} items each, none rated in training.\n")
    print("| model | users | precision@10 | median train ratings of recommended items "
          "| distinct items recommended | fit s |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['model']} | {r['users']} | {r['precision_at_10']:.4f} "
              f"| {r['median_train_ratings_of_recommended']:.0f} "
              f"| {r['distinct_items_recommended']} | {r['fit_s']:.2f} |")
    print("\n(fit s of GMF: the first fit of the process, the compiled kernel's load "
          "included; of most popular unseen: building the lists; of cornac: "
          "Dataset.from_uir + fit)")
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with open(output, "w") as f:
        json.dump(results, f, indent=2)
    print(f"\nwrote {output}")


if __name__ == "__main__":
    main()
