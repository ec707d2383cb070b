"""
Quick start: fit, predict, score and cross-validate GMF on MovieLens 100K
=========================================================================

Loads MovieLens 100K (a local copy under ``SKGMF_DATA_HOME``, else the official
archive, else synthetic ratings), fits :class:`skgmf.GMFRegressor`, and plots the
training loss per epoch. Set ``SKGMF_EXAMPLE_FAST=1`` for tiny settings.
"""
# License: BSD 3 clause

import os

import matplotlib.pyplot as plt
from sklearn.model_selection import KFold, cross_val_score, train_test_split

from skgmf import GMFRegressor
from skgmf.datasets import load_movielens, make_ratings

fast = bool(os.environ.get("SKGMF_EXAMPLE_FAST"))
params = dict(max_iter=3) if fast else {}

try:
    ratings = load_movielens("ml-100k")
except OSError as exc:
    print(f"MovieLens 100K unavailable ({exc}); using synthetic ratings.")
    ratings = make_ratings(943, 1682, 100_000, random_state=0)

X, y = ratings[["user", "item"]], ratings["rating"]
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)

# %%
# Fit, predict and score (R^2, like any scikit-learn regressor).
est = GMFRegressor(random_state=0, **params).fit(X_train, y_train)
print("first predictions:", est.predict(X_test.head()).round(2))
print(f"test R^2: {est.score(X_test, y_test):.3f}")

# %%
# Cross-validated RMSE.
scores = cross_val_score(
    GMFRegressor(random_state=0, **params), X, y,
    cv=KFold(3 if fast else 5, shuffle=True, random_state=0),
    scoring="neg_root_mean_squared_error",
)
print(f"cross-validated RMSE: {-scores.mean():.4f} +/- {scores.std():.4f}")

# %%
# Training loss per epoch.
fig, ax = plt.subplots()
ax.plot(range(1, est.n_iter_ + 1), est.loss_curve_, marker="o")
ax.set_xlabel("epoch")
ax.set_ylabel("training MSE")
ax.set_title("GMFRegressor on MovieLens 100K")
plt.show()
