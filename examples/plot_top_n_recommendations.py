"""
Top-N recommendations with movie titles, and similar movies
===========================================================

Once fitted, :class:`skgmf.GMFRegressor` ranks every movie a user has not rated by
predicted rating (:meth:`~skgmf.GMFRegressor.recommend`) and finds the movies
whose embeddings point the same way as a given one
(:meth:`~skgmf.GMFRegressor.similar_items`). Titles come from
:func:`skgmf.datasets.load_movies`.
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
items, scores = est.recommend([user], k=10, return_scores=True)
top = pd.DataFrame({"title": titles[items[0]].to_numpy(), "predicted": scores[0]})
print(top.to_string(index=False, float_format="%.2f"))

fig, ax = plt.subplots(figsize=(7, 4))
ax.barh(top["title"][::-1], top["predicted"][::-1])
ax.set_xlim(3, max(5.0, top["predicted"].max()) + 0.1)  # scores are not clipped
ax.set_xlabel("predicted rating")
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
