"""The fitted model is one immutable state, replaced at once by every update."""
# License: BSD 3 clause

import sys
import threading

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from skgmf import GMFRegressor
from skgmf._params import decision_function, score_block
from skgmf._state import FittedState

from .conftest import FAST_PARAMS


@pytest.fixture
def even_users(low_rank_ratings):
    """Ratings of the even users (fit) and of the odd ones (the updates)."""
    X, y = low_rank_ratings
    odd = X[:, 0] % 2 == 1
    return (X[~odd], y[~odd]), (X[odd], y[odd])


def test_predict_from_threads_sees_the_old_model_or_the_new_one(even_users):
    """Updates add odd users between even ones: every row moves. Pairs of known
    users and items no update touches must predict the same throughout."""
    (X_fit, y_fit), (X_new, y_new) = even_users
    est = GMFRegressor(**FAST_PARAMS).fit(X_fit, y_fit)
    updated_items = np.unique(X_new[:, 1])[:40]
    new = np.isin(X_new[:, 1], updated_items)
    X_new, y_new = X_new[new], y_new[new]
    untouched = ~np.isin(X_fit[:, 1], updated_items)
    X_read = X_fit[untouched][:3000]
    expected = est.predict(X_read)

    stop, failures = threading.Event(), []

    def read():
        while not stop.is_set():
            try:
                got = est.predict(X_read)
            except Exception as exc:  # rows of one model, tables of another  # noqa: BLE001
                failures.append(repr(exc))
                return
            # A mix of two models reads another user's factors: far off, not 1e-6.
            differ = ~np.isclose(got, expected, rtol=1e-6, atol=1e-6)
            if differ.any():
                failures.append(f"{int(differ.sum())} predictions differ")
                return

    readers = [threading.Thread(target=read) for _ in range(2)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often: more interleavings
    try:
        for reader in readers:
            reader.start()
        users = np.unique(X_new[:, 0])
        for chunk in np.array_split(users, 12):
            rows = np.isin(X_new[:, 0], chunk)
            if chunk[0] % 4 == 1:
                est.partial_fit(X_new[rows], y_new[rows])
            else:
                est.partial_fit_users(X_new[rows], y_new[rows])
    finally:
        stop.set()
        for reader in readers:
            reader.join()
        sys.setswitchinterval(interval)
    assert not failures, f"a prediction read a mix of two models: {failures[0]}"
    assert len(est.users_) == len(np.unique(np.r_[X_fit[:, 0], X_new[:, 0]]))
    assert_allclose(est.predict(X_read), expected, rtol=1e-6, atol=1e-6)


def test_an_update_replaces_the_state_and_leaves_the_old_one_intact(even_users):
    (X_fit, y_fit), (X_new, y_new) = even_users
    est = GMFRegressor(**FAST_PARAMS).fit(X_fit, y_fit)
    old = est._state
    saved = [np.array(table) for table in old.params.factors]
    assert isinstance(old, FittedState)
    est.partial_fit(X_new[:500], y_new[:500])
    assert est._state is not old
    for table, copy in zip(old.params.factors, saved):
        assert_array_equal(table, copy)
    for table in (*est._state.params.factors, *est._state.params.biases,
                  est._state.params.coef):
        with pytest.raises(ValueError, match="read-only"):
            table[0] = 0


def test_score_block_is_the_pair_formula(low_rank_ratings):
    est = GMFRegressor(**FAST_PARAMS).fit(*low_rank_ratings)
    params = est._state.params
    users, items = np.array([0, 5, 7]), np.array([1, 2, 3, 50])
    pairs = np.column_stack([np.repeat(users, len(items)), np.tile(items, len(users))])
    np.testing.assert_allclose(score_block(params, users, items).ravel(),
                               decision_function(params, pairs), rtol=1e-5, atol=1e-6)
