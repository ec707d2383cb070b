"""Shared fixtures: Keras backend, quiet TensorFlow logs, data and fast settings."""
# License: BSD 3 clause

import os

# Before Keras or TensorFlow is first imported by any test.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Lets sklearn's check_array_api_input run (with the NumPy namespace) instead of skipping.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

# One set of tiny settings for every fast test.
FAST_PARAMS = dict(n_factors=4, max_iter=2, batch_size=1024, random_state=0)


def data_home():
    """``SKGMF_DATA_HOME`` as a Path, or None when unset."""
    value = os.environ.get("SKGMF_DATA_HOME")
    # Absolute: tests link to it from temporary folders.
    return Path(value).absolute() if value else None


def require_dataset(relative):
    """Path of a file under ``SKGMF_DATA_HOME``; skip (user machine) or fail (CI) without it."""
    home = data_home()
    path = home / relative if home else None
    if path is None or not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"CI needs {relative} under SKGMF_DATA_HOME={home}")
        pytest.skip(f"{relative} not found; set SKGMF_DATA_HOME to the MovieLens copies")
    return path


@pytest.fixture
def recorded_epochs(monkeypatch):
    """The rows ``(idx, y, sample_weight)`` of every epoch GMFClassifier trains on,
    appended as training draws them (negatives included)."""
    from skgmf import GMFClassifier

    drawn = []
    original = GMFClassifier._epochs

    def recording(self, *args, **kwargs):
        for epoch in original(self, *args, **kwargs):
            # (perm, rows), or the rows alone for the SGD engine (ordered=False).
            drawn.append(epoch[1] if kwargs.get("ordered", True) else epoch)
            yield epoch

    monkeypatch.setattr(GMFClassifier, "_epochs", recording)
    return drawn


@pytest.fixture(scope="session")
def ml100k():
    """MovieLens 100K ratings as a DataFrame with columns user, item, rating, timestamp."""
    path = require_dataset("ml-100k/u.data")
    return pd.read_csv(path, sep="\t", names=["user", "item", "rating", "timestamp"])


@pytest.fixture(scope="session")
def ml1m():
    """MovieLens 1M ratings as a DataFrame with columns user, item, rating."""
    from skgmf.datasets import load_movielens

    path = require_dataset("ml-1m")
    return load_movielens("ml-1m", data_home=path.parent, download=False)


@pytest.fixture(scope="session")
def low_rank_ratings():
    """Ratings with a planted rank-3 structure plus biases, on 1..5 (no skgmf code)."""
    rng = np.random.default_rng(0)
    n_users, n_items, n_ratings = 300, 200, 20_000
    P = rng.normal(0, 0.7, (n_users, 3))
    Q = rng.normal(0, 0.7, (n_items, 3))
    bu, bi = rng.normal(0, 0.3, n_users), rng.normal(0, 0.3, n_items)
    pairs = rng.choice(n_users * n_items, n_ratings, replace=False)
    u, i = pairs // n_items, pairs % n_items
    y = 3.5 + bu[u] + bi[i] + np.sum(P[u] * Q[i], axis=1) + rng.normal(0, 0.3, n_ratings)
    return np.column_stack([u, i]), np.clip(y, 1, 5)
