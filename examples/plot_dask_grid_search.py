"""
Grid search on a Dask cluster
=============================

A :class:`~sklearn.model_selection.GridSearchCV` over ``n_factors`` on MovieLens
100K whose fits run on a :mod:`dask.distributed` cluster, through joblib's
``"dask"`` backend: scikit-learn hands every (candidate, fold) fit to joblib, and
joblib sends it to a Dask worker. Here the cluster is a
:class:`~distributed.LocalCluster` of two worker processes on this machine; on a
real cluster only the :class:`~distributed.Client` line changes
(``Client("tcp://scheduler:8786")``, see "Scaling" in the user guide).

Every worker process runs its own TensorFlow, which by default starts as many
threads as the node has cores; the workers get ``TF_NUM_INTRAOP_THREADS`` and
``TF_NUM_INTEROP_THREADS`` equal to their own thread count, so that two workers do
not oversubscribe the cores. The results are those of ``n_jobs=1``.

Needs ``pip install "skgmf[distributed]"``.
"""
# License: BSD 3 clause

import os

import joblib
import matplotlib.pyplot as plt
import pandas as pd
from distributed import Client, LocalCluster
from sklearn.model_selection import GridSearchCV, KFold

from skgmf import GMFRegressor
from skgmf.datasets import load_movielens, make_ratings

fast = bool(os.environ.get("SKGMF_EXAMPLE_FAST"))

# One thread per worker process, and TensorFlow told so: it reads these variables
# when it starts in the worker.
threads_per_worker = 1
worker_env = {
    "TF_NUM_INTRAOP_THREADS": str(threads_per_worker),
    "TF_NUM_INTEROP_THREADS": str(threads_per_worker),
}

# %%
# The search
# ----------
# Dask starts every worker as a new Python process, which imports this script
# again (multiprocessing's "spawn"): what starts the cluster sits under the usual
# ``if __name__ == "__main__":`` guard. A notebook or an interactive session needs
# none.
if __name__ == "__main__":
    try:
        ratings = load_movielens("ml-100k")
    except OSError as exc:
        print(f"MovieLens 100K unavailable ({exc}); using synthetic ratings.")
        ratings = make_ratings(943, 1682, 100_000, random_state=0)
    X, y = ratings[["user", "item"]], ratings["rating"]

    search = GridSearchCV(
        GMFRegressor(random_state=0, max_iter=5 if fast else 10),
        {"n_factors": [4, 16, 64] if fast else [2, 4, 8, 16, 32, 64, 128]},
        cv=KFold(3, shuffle=True, random_state=0),
        scoring="neg_root_mean_squared_error",
    )
    with LocalCluster(n_workers=2, threads_per_worker=threads_per_worker,
                      dashboard_address=None, env=worker_env) as cluster, \
            Client(cluster) as client:
        print(f"{len(client.scheduler_info()['workers'])} workers")
        with joblib.parallel_backend("dask"):
            search.fit(X, y)

    results = pd.DataFrame(search.cv_results_)
    table = pd.DataFrame({
        "n_factors": results["param_n_factors"].astype(int),
        "RMSE": -results["mean_test_score"],
        "std": results["std_test_score"],
        "fit s": results["mean_fit_time"],
    })
    print(table.to_string(index=False, float_format="%.4f"))
    print(f"best n_factors: {search.best_params_['n_factors']}, "
          f"RMSE {-search.best_score_:.4f}")

# %%
# Plot
# ----
if __name__ == "__main__":
    fig, ax = plt.subplots()
    ax.errorbar(table["n_factors"], table["RMSE"], yerr=table["std"], marker="o",
                capsize=3)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("n_factors (latent size)")
    ax.set_ylabel("cross-validated RMSE (3 folds)")
    ax.set_title("GMFRegressor on MovieLens 100K, searched on 2 Dask workers")
    plt.show()
