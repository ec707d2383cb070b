"""
Implicit feedback: GMFClassifier, sampled negatives and a user's top 10
=======================================================================

GMF was born for implicit feedback: "user watched movie", nothing more. Here every
MovieLens rating counts as an interaction, :class:`skgmf.GMFClassifier` learns
from them with 4 sampled negatives per interaction per epoch (as NCF does), and
each user's latest interaction is held out
(:class:`skgmf.model_selection.UserLeaveKOut` with ``strategy="last"``). The
held-out movie is ranked against 99 sampled unwatched movies
(:class:`skgmf.metrics.SampledRankingScorer`, the NCF protocol), and one user's
top 10 is printed with titles.
"""
# License: BSD 3 clause

import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from skgmf import GMFClassifier
from skgmf.datasets import load_movielens, load_movies, make_ratings
from skgmf.metrics import SampledRankingScorer
from skgmf.model_selection import UserLeaveKOut

fast = bool(os.environ.get("SKGMF_EXAMPLE_FAST"))

try:
    ratings = load_movielens("ml-100k")
    titles = load_movies("ml-100k")["title"]
except OSError as exc:
    print(f"MovieLens 100K unavailable ({exc}); using synthetic ratings.")
    ratings = make_ratings(943, 1682, 100_000, random_state=0)
    titles = pd.Series({i: f"movie {i}" for i in ratings["item"].unique()})

# %%
# Hold out every user's latest interaction
# ----------------------------------------
ratings = ratings.sort_values("timestamp", kind="stable")
X = ratings[["user", "item"]].to_numpy()
train, test = next(UserLeaveKOut(strategy="last").split(X))
print(f"{len(train)} training interactions, {len(test)} held out")

# %%
# Fit on positives only; negatives are sampled every epoch
# --------------------------------------------------------
clf = GMFClassifier(n_factors=32, n_negatives=4, max_iter=4 if fast else 20,
                    random_state=0)
clf.fit(X[train], np.ones(len(train)))
print(f"log loss per epoch: {np.round(clf.loss_curve_, 4)}")

scores = {}
for metric in ("hit_rate", "ndcg"):
    scorer = SampledRankingScorer(metric, k=10, n_negatives=99)
    scores[metric] = scorer(clf, X[test])
print(f"HR@10 {scores['hit_rate']:.3f}, NDCG@10 {scores['ndcg']:.3f} "
      "(random ranking: HR@10 0.100)")

# %%
# One user's top 10, with titles
# ------------------------------
user = X[test[0], 0]
items, logits = clf.recommend([user], k=10, return_scores=True)
held_out = X[test[0], 1]
print(f"user {user} watched last: {titles[held_out]}")
for rank, (item, logit) in enumerate(zip(items[0], logits[0]), start=1):
    mark = "  <- held out" if item == held_out else ""
    print(f"{rank:2d}. p={1 / (1 + np.exp(-logit)):.2f}  {titles[item]}{mark}")

fig, ax = plt.subplots()
ax.plot(range(1, clf.n_iter_ + 1), clf.loss_curve_, marker="o")
ax.set_xlabel("epoch")
ax.set_ylabel("training log loss (positives and sampled negatives)")
ax.set_title("GMFClassifier, 4 negatives per interaction")
plt.show()
