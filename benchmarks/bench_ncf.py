"""The NCF evaluation protocol on MovieLens 1M: HR@10 and NDCG@10 of GMFClassifier.

Run from the repository root::

    SKGMF_DATA_HOME=../shared/data python benchmarks/bench_ncf.py

Trains on every ML-1M rating except each user's held-out latest one (all ratings
count as interactions), ranks the held-out movie among the NCF authors' 99
negatives of that user, and prints HR@10, NDCG@10 and fit seconds per latent
size as a Markdown table (also written as JSON), with item popularity as a
sanity row (Rendle et al. 2020 report 0.4535 / 0.2543 for it). Needs
``ml-1m/`` and ``ncf-ml-1m/`` under ``SKGMF_DATA_HOME`` (see the data README).
"""
# License: BSD 3 clause

import argparse
import json
import os
import time

import numpy as np
import pandas as pd

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# GMFClassifier's own defaults (chosen by tune_ncf.py on validation interactions,
# never on the NCF test items) with NCF's 4 negatives per interaction.
PARAMS = dict(n_negatives=4)


def load_protocol(data_home):
    """Training interactions, held-out test pairs and the 99 negatives per user."""
    from skgmf.datasets import load_movielens

    ratings = load_movielens("ml-1m", data_home=data_home, download=False)
    folder = os.path.join(data_home, "ncf-ml-1m")
    test = pd.read_csv(os.path.join(folder, "test_latest_ml1m_ids.csv"))
    test = test.rename(columns={"userId": "user", "movieId": "item"})
    negatives = pd.read_csv(os.path.join(folder, "test_negatives_ml1m_ids.csv"))
    negatives = negatives.set_index("userId").loc[test["user"]].to_numpy()
    held_out = ratings.merge(test[["user", "item"]], how="left", indicator=True)
    train = ratings[(held_out["_merge"] == "left_only").to_numpy()]
    return train, test, negatives


def evaluate(scores):
    """HR@10 and NDCG@10 with the held-out item in column 0 of ``scores``."""
    from skgmf.metrics import hit_rate_at_k, ndcg_at_k

    relevance = np.zeros(scores.shape, dtype=bool)
    relevance[:, 0] = True
    return hit_rate_at_k(relevance, scores, k=10), ndcg_at_k(relevance, scores, k=10)


def main():
    from skgmf import GMFClassifier
    from skgmf.datasets import get_data_home

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--factors", nargs="+", type=int, default=[8, 16, 32, 64])
    parser.add_argument("--params", default="{}",
                        help="JSON of GMFClassifier parameters overriding the defaults")
    parser.add_argument("--output", default="benchmarks/results/ncf.json")
    args = parser.parse_args()

    train, test, negatives = load_protocol(str(get_data_home()))
    candidates = np.column_stack([test["item"].to_numpy(), negatives])
    users = np.repeat(test["user"].to_numpy(), candidates.shape[1])
    pairs = np.column_stack([users, candidates.ravel()])
    print(f"{len(train)} training interactions, {len(test)} test users")

    counts = train["item"].value_counts()
    popularity = counts.reindex(candidates.ravel(), fill_value=0).to_numpy(float)
    hr, ndcg = evaluate(popularity.reshape(candidates.shape))
    results = [dict(model="item popularity", n_factors=None, hr10=hr, ndcg10=ndcg,
                    fit_s=None)]
    params = {**PARAMS, **json.loads(args.params)}
    X = train[["user", "item"]].to_numpy()
    for n_factors in args.factors:
        est = GMFClassifier(n_factors=n_factors, random_state=0, **params)
        start = time.perf_counter()
        est.fit(X, np.ones(len(X)))
        fit_s = time.perf_counter() - start
        hr, ndcg = evaluate(est.decision_function(pairs).reshape(candidates.shape))
        results.append(dict(model="GMFClassifier", n_factors=n_factors, hr10=hr,
                            ndcg10=ndcg, fit_s=fit_s, params=params))
        print(f"n_factors={n_factors}: HR@10 {hr:.4f} NDCG@10 {ndcg:.4f} "
              f"fit {fit_s:.1f} s", flush=True)

    print(f"\nparameters: {params}\n")
    print("| model | n_factors | HR@10 | NDCG@10 | fit s |")
    print("|---|---:|---:|---:|---:|")
    for r in results:
        fit = "" if r["fit_s"] is None else f"{r['fit_s']:.1f}"
        print(f"| {r['model']} | {r['n_factors'] or ''} | {r['hr10']:.4f} "
              f"| {r['ndcg10']:.4f} | {fit} |")
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w") as f:
        json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
