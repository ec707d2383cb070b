"""
Top-N recommendations with movie titles, and similar movies
===========================================================

Once fitted, :class:`skgmf.GMFRegressor` ranks every movie a user has not rated
(:meth:`~skgmf.GMFRegressor.recommend`): by default by relevance, the chance that
the user's next rating is of the movie and at least the mean rating (the movie's
share of the ratings times the chance its predicted rating is cleared), or with
``ranking="score"`` by predicted rating alone, which puts movies with a few
enthusiastic ratings first. It also finds the movies whose embeddings point the
same way as a given one (:meth:`~skgmf.GMFRegressor.similar_items`). Titles come
from :func:`skgmf.datasets.load_movies`.
"""
# License: BSD 3 clause

import os

import matplotlib.pyplot as plt
import pandas as pd

from skgmf import GMFRegressor
from skgmf.datasets import load_movielens, load_movies, make_ratings

fast = bool(os.environ.get("SKGMF_EXAMPLE_FAST"))

try:
    ratings = load_movielens("ml-100k")
    titles = load_movies("ml-100k")["title"]
except OSError as exc:
    print(f"MovieLens 100K unavailable ({exc}); using synthetic ratings.")
    ratings = make_ratings(943, 1682, 100_000, random_state=0)
    titles = pd.Series({i: f"movie {i}" for i in ratings["item"].unique()})

est = GMFRegressor(random_state=0, max_iter=6 if fast else 20)
est.fit(ratings[["user", "item"]], ratings["rating"])

# %%
# What user 1 liked most
# ----------------------
user = 1
liked = ratings[ratings["user"] == user].nlargest(5, "rating")
print(f"user {user}'s favourites:")
for item, rating in zip(liked["item"], liked["rating"]):
    print(f"  {rating:.0f}  {titles[item]}")

# %%
# Top 10 for user 1, among the movies they have not rated
# -------------------------------------------------------
# By relevance (the default), beside the predicted rating of each movie and the
# number of ratings it has; then by predicted rating alone.
counts = ratings["item"].value_counts()
items, relevance = est.recommend([user], k=10, return_scores=True)
top = pd.DataFrame({
    "title": titles[items[0]].to_numpy(),
    "relevance": relevance[0],
    "predicted": est.predict(pd.DataFrame({"user": user, "item": items[0]})),
    "ratings": counts[items[0]].to_numpy(),
})
print(top.to_string(index=False, float_format="%.4f"))

by_rating, predicted = est.recommend([user], k=10, return_scores=True, ranking="score")
print("\nby predicted rating alone:")
for item, score in zip(by_rating[0], predicted[0]):
    print(f"  {score:.2f}  ({counts[item]:4d} ratings)  {titles[item]}")

fig, ax = plt.subplots(figsize=(7, 4))
ax.barh(top["title"][::-1], top["relevance"][::-1])
ax.set_xlabel("relevance: P(next rating is this movie and at least the mean)")
ax.set_title(f"Top 10 for user {user}")
fig.tight_layout()
plt.show()

# %%
# Movies similar to the most rated one, by embedding
# --------------------------------------------------
movie = ratings["item"].value_counts().index[0]
similar, cosine = est.similar_items([movie], k=8, return_scores=True)
print(f"similar to {titles[movie]}:")
for item, c in zip(similar[0], cosine[0]):
    print(f"  {c:+.2f}  {titles[item]}")
