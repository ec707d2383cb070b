"""
A Pipeline with preprocessing, tuned by GridSearchCV with n_jobs
================================================================

Ratings usually arrive as a table with more columns than the model needs. A
:class:`~sklearn.compose.ColumnTransformer` picks the ``user`` and ``item``
columns, :class:`skgmf.GMFRegressor` follows it in a
:class:`~sklearn.pipeline.Pipeline`, and
:class:`~sklearn.model_selection.GridSearchCV` tunes the penalty and the latent
size in two worker processes. Each worker runs its own TensorFlow; on a small
machine set ``TF_NUM_INTRAOP_THREADS=1`` and ``TF_NUM_INTEROP_THREADS=1`` to
keep them from competing for cores (results do not depend on ``n_jobs``).
"""
# License: BSD 3 clause

import os

import matplotlib.pyplot as plt
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.model_selection import GridSearchCV, KFold, train_test_split
from sklearn.pipeline import Pipeline

from skgmf import GMFRegressor
from skgmf.datasets import load_movielens, make_ratings

fast = bool(os.environ.get("SKGMF_EXAMPLE_FAST"))

try:
    ratings = load_movielens("ml-100k")
except OSError as exc:
    print(f"MovieLens 100K unavailable ({exc}); using synthetic ratings.")
    ratings = make_ratings(943, 1682, 100_000, random_state=0)
print(ratings.head())
X, y = ratings.drop(columns="rating"), ratings["rating"]
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)

# %%
# The pipeline: keep the id columns, drop the timestamp, then GMF.
pipe = Pipeline([
    ("ids", ColumnTransformer([("ids", "passthrough", ["user", "item"])])),
    ("gmf", GMFRegressor(random_state=0, max_iter=6 if fast else 20)),
])
grid = {"gmf__alpha": [0.06, 0.12, 0.24], "gmf__n_factors": [16, 32]}
if fast:
    grid = {"gmf__alpha": [0.06, 0.24], "gmf__n_factors": [16]}
search = GridSearchCV(pipe, grid, cv=KFold(3, shuffle=True, random_state=0),
                      scoring="neg_root_mean_squared_error", n_jobs=2)
search.fit(X_train, y_train)
print(f"best parameters: {search.best_params_}")
rmse = -search.score(X_test, y_test)
print(f"held-out RMSE of the refitted best pipeline: {rmse:.4f}")

# %%
# Cross-validated RMSE of every combination.
results = pd.DataFrame(search.cv_results_)
labels = [f"alpha={p['gmf__alpha']}\nk={p['gmf__n_factors']}" for p in results["params"]]
fig, ax = plt.subplots(figsize=(7, 4))
ax.bar(labels, -results["mean_test_score"], yerr=results["std_test_score"], capsize=3)
ax.set_ylim(0.85, 1.0)
ax.set_ylabel("cross-validated RMSE")
ax.set_title("Pipeline(ColumnTransformer, GMFRegressor)")
fig.tight_layout()
plt.show()
