"""
Learning curve: training and validation loss per epoch
======================================================

How many epochs does GMF need before it overfits? With ``early_stopping=True``,
:class:`skgmf.GMFRegressor` holds out ``validation_fraction`` of the ratings and
records, per epoch, the training loss (``loss_curve_``) and the validation
:math:`R^2` (``validation_scores_``), and keeps the weights of the best epoch.
The plot shows both as mean squared errors.
"""
# License: BSD 3 clause

import os

import matplotlib.pyplot as plt
import numpy as np

from skgmf import GMFRegressor
from skgmf.datasets import load_movielens, make_ratings

fast = bool(os.environ.get("SKGMF_EXAMPLE_FAST"))

try:
    ratings = load_movielens("ml-100k")
except OSError as exc:
    print(f"MovieLens 100K unavailable ({exc}); using synthetic ratings.")
    ratings = make_ratings(943, 1682, 100_000, random_state=0)
X, y = ratings[["user", "item"]], ratings["rating"].to_numpy()

# %%
# A weakly penalised model, so that overfitting shows.
est = GMFRegressor(
    n_factors=64, alpha=0.03, max_iter=8 if fast else 40, early_stopping=True,
    validation_fraction=0.2, n_iter_no_change=40, random_state=0,
)
est.fit(X, y)
# R^2 = 1 - MSE / Var(y): the validation MSE, with the variance of all ratings as
# the (close) stand-in for that of the held-out ones.
validation_mse = (1 - np.array(est.validation_scores_)) * y.var()
best = int(np.argmax(est.validation_scores_)) + 1
print(f"epochs run: {est.n_iter_}, best validation epoch: {best}")
print(f"best validation R^2: {est.best_validation_score_:.4f}")

# %%
epochs = np.arange(1, est.n_iter_ + 1)
fig, ax = plt.subplots()
ax.plot(epochs, est.loss_curve_, marker="o", label="training MSE")
ax.plot(epochs, validation_mse, marker="s", label="validation MSE")
ax.axvline(best, color="grey", linestyle=":", label="best epoch (kept)")
ax.set_xlabel("epoch")
ax.set_ylabel("mean squared error")
ax.set_title("GMFRegressor on MovieLens 100K")
ax.legend()
plt.show()
