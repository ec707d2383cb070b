"""Grid search on a dask.distributed cluster through joblib's dask backend."""
# License: BSD 3 clause

import os
import sys

import joblib
import pytest
from numpy.testing import assert_allclose
from sklearn.model_selection import GridSearchCV

from skgmf import GMFRegressor

distributed = pytest.importorskip(
    "distributed", reason="dask.distributed is not installed (pip install 'skgmf[distributed]')"
)

# One TensorFlow thread per worker thread, so that two workers do not oversubscribe
# the cores (TensorFlow reads these when it starts, in the worker process).
WORKER_ENV = {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
        env=WORKER_ENV,
    ) as cluster, distributed.Client(cluster) as client:
        yield client


def _search(X, y):
    return GridSearchCV(
        GMFRegressor(random_state=0, max_iter=2, batch_size=1024),
        {"n_factors": [2, 4]},
        cv=2,
        scoring="neg_root_mean_squared_error",
    ).fit(X, y)


def test_grid_search_on_dask_matches_n_jobs_1(client, low_rank_ratings):
    X, y = low_rank_ratings
    local = _search(X, y)
    with joblib.parallel_backend("dask"):
        remote = _search(X, y)
    # The fits ran in the workers (which imported the estimator to train), whose
    # environment holds the thread settings.
    assert any(client.run(lambda: "skgmf._sgd" in sys.modules).values())
    assert set(client.run(lambda: os.environ["TF_NUM_INTRAOP_THREADS"]).values()) == {"1"}
    assert remote.cv_results_["params"] == local.cv_results_["params"]
    # float32 kernels may sum in another order in another process.
    for key in ("mean_test_score", "split0_test_score", "split1_test_score"):
        assert_allclose(remote.cv_results_[key], local.cv_results_[key], rtol=1e-4)
    assert remote.best_params_ == local.best_params_
