"""
The seed notebook, step by step, with the package
=================================================

skgmf grew from a notebook that split MovieLens (ml-latest-small, 2016) 80/20, kept
the test ratings of known users and items, and built GMF by hand: two
``Embedding`` layers of 8 latent features, ``Flatten``, ``Multiply`` and a
``Dense(1)`` output with LeCun-uniform init. This example takes the same steps
with :func:`skgmf.model_selection.train_test_split_known` and
:func:`skgmf.build_gmf`, prints the shapes the notebook printed, then trains and
evaluates :class:`skgmf.GMFRegressor` with the notebook's 8 factors.
"""
# License: BSD 3 clause

import os

import numpy as np

from skgmf import GMFRegressor, build_gmf
from skgmf.datasets import load_movielens, make_ratings
from skgmf.model_selection import train_test_split_known

fast = bool(os.environ.get("SKGMF_EXAMPLE_FAST"))

# %%
# 1. Data: the notebook's split
# -----------------------------
# 80/20 at random, then only test rows whose user and item were seen in training.
try:
    ratings = load_movielens("ml-latest-small-2016")
except OSError as exc:
    print(f"ml-latest-small-2016 unavailable ({exc}); using synthetic ratings.")
    ratings = make_ratings(671, 9066, 100_004, random_state=0)
X = ratings[["user", "item"]].to_numpy()
y = ratings["rating"].to_numpy()
X_train, X_test, y_train, y_test = train_test_split_known(X, y, random_state=0)
print(f"training data shape: {X_train.shape}, training labels: {y_train.size}")
print(f"test data shape: {X_test.shape}, test labels: {y_test.size}")

# %%
# 2. The GMF network, built by the package
# ----------------------------------------
# The notebook indexed embeddings by raw ids; here ids become embedding rows.
users, user_rows = np.unique(X_train[:, 0], return_inverse=True)
items, item_rows = np.unique(X_train[:, 1], return_inverse=True)
model = build_gmf([len(users), len(items)], n_factors=8, seed=0)
model.summary()

# %%
# 3. Embedding, Flatten, Multiply and Dense, one layer at a time
# --------------------------------------------------------------
user_output = model.get_layer("user_embedding")(user_rows[:, None])
item_output = model.get_layer("item_embedding")(item_rows[:, None])
print(f"user embedding output shape: {tuple(user_output.shape)}")  # (80003, 1, 8)
print(f"item embedding output shape: {tuple(item_output.shape)}")

user_latent = model.get_layer("user_latent")(user_output)
item_latent = model.get_layer("item_latent")(item_output)
print(f"flattened shape: {tuple(user_latent.shape)}")  # (80003, 8)

merge_output = model.get_layer("user_x_item")([user_latent, item_latent])
print(f"user x item output for the first row: {np.asarray(merge_output[0])}")
print(f"user x item shape: {tuple(merge_output.shape)}")

output = model.get_layer("output")(merge_output)
print(f"Dense(1) output shape: {tuple(output.shape)}")  # (80003, 1)

# %%
# 4. Train and evaluate
# ---------------------
# The estimator builds the same network (plus biases), trains it, and predicts.
est = GMFRegressor(n_factors=8, random_state=0, max_iter=3 if fast else 20)
est.fit(X_train, y_train)
rmse = np.sqrt(np.mean((est.predict(X_test) - y_test) ** 2))
print(f"test RMSE with 8 factors: {rmse:.4f} after {est.n_iter_} epochs")
