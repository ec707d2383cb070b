"""A GPU, when TensorFlow sees one, is used without code changes (skipped without)."""
# License: BSD 3 clause

import numpy as np
import pytest

from skgmf import GMFRegressor


@pytest.mark.gpu
def test_fit_on_gpu_matches_cpu_accuracy(low_rank_ratings):
    tf = pytest.importorskip("tensorflow")
    if not tf.config.list_physical_devices("GPU"):
        pytest.skip("no GPU visible to TensorFlow (CI has none); run on a GPU machine")
    X, y = low_rank_ratings
    train, test = slice(0, 16_000), slice(16_000, None)
    rmse = {}
    for device in ("/CPU:0", "/GPU:0"):
        with tf.device(device):
            est = GMFRegressor(n_factors=8, random_state=0).fit(X[train], y[train])
        rmse[device] = np.sqrt(np.mean((est.predict(X[test]) - y[test]) ** 2))
    # Same data, seeds and arithmetic; only the kernels' rounding differs.
    assert rmse["/GPU:0"] == pytest.approx(rmse["/CPU:0"], abs=0.01)
