"""
Grid search over the latent size
================================

How many latent factors does MovieLens 100K support? A
:class:`~sklearn.model_selection.GridSearchCV` over ``n_factors`` on the five
predefined folds ``u1``..``u5`` (:func:`skgmf.model_selection.movielens_100k_folds`)
answers it, and the plot shows the cross-validated RMSE against the latent size.
"""
# License: BSD 3 clause

import os

import matplotlib.pyplot as plt
import pandas as pd
from sklearn.model_selection import GridSearchCV, KFold

from skgmf import GMFRegressor
from skgmf.datasets import load_movielens, make_ratings
from skgmf.model_selection import movielens_100k_folds

fast = bool(os.environ.get("SKGMF_EXAMPLE_FAST"))

try:
    ratings = load_movielens("ml-100k")
    cv = movielens_100k_folds(ratings)
except OSError as exc:
    print(f"MovieLens 100K unavailable ({exc}); using synthetic ratings.")
    ratings = make_ratings(943, 1682, 100_000, random_state=0)
    cv = KFold(5, shuffle=True, random_state=0)
X, y = ratings[["user", "item"]], ratings["rating"]

# %%
# Search
# ------
n_factors = [4, 16, 64] if fast else [2, 4, 8, 16, 32, 64, 128]
search = GridSearchCV(
    GMFRegressor(random_state=0, max_iter=6 if fast else 20),
    {"n_factors": n_factors},
    cv=cv,
    scoring="neg_root_mean_squared_error",
)
search.fit(X, y)
results = pd.DataFrame(search.cv_results_)
table = pd.DataFrame({
    "n_factors": results["param_n_factors"].astype(int),
    "RMSE": -results["mean_test_score"],
    "std": results["std_test_score"],
    "fit s": results["mean_fit_time"],
})
print(table.to_string(index=False, float_format="%.4f"))
print(f"best: {search.best_params_}, RMSE {-search.best_score_:.4f}")

# %%
# Plot
# ----
fig, ax = plt.subplots()
ax.errorbar(table["n_factors"], table["RMSE"], yerr=table["std"], marker="o", capsize=3)
ax.set_xscale("log", base=2)
ax.set_xlabel("n_factors (latent size)")
ax.set_ylabel("cross-validated RMSE (u1..u5)")
ax.set_title("GMFRegressor on MovieLens 100K")
plt.show()
