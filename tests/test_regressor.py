"""GMFRegressor behaviour and contract on two-column (user, item) data."""
# License: BSD 3 clause

import pickle
import random
import subprocess
import sys

import joblib
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from skgmf import GMFRegressor

from .conftest import FAST_PARAMS


@pytest.fixture(scope="module")
def ratings(low_rank_ratings):
    X, y = low_rank_ratings
    return X[:4000], y[:4000]


@pytest.fixture(scope="module")
def fitted(ratings):
    X, y = ratings
    return GMFRegressor(**FAST_PARAMS).fit(X, y)


def numpy_gmf(est, X):
    """The GMF formula recomputed from the exported attributes (known ids only)."""
    u = np.searchsorted(est.users_, X[:, 0])
    i = np.searchsorted(est.items_, X[:, 1])
    y = (
        est.intercept_
        + est.user_bias_[u]
        + est.item_bias_[i]
        + (est.user_factors_[u] * est.item_factors_[i]) @ est.coef_
    )
    return np.clip(y, *est.rating_range_)


def test_predict_matches_numpy_gmf_formula(fitted, ratings):
    X, _ = ratings
    assert_allclose(fitted.predict(X), numpy_gmf(fitted, X), rtol=1e-5)


def test_predict_matches_keras_model(fitted, ratings):
    X, _ = ratings
    u = np.searchsorted(fitted.users_, X[:, 0])[:, None]
    i = np.searchsorted(fitted.items_, X[:, 1])[:, None]
    keras_pred = fitted.model_.predict([u, i], verbose=0)[:, 0]
    assert_allclose(fitted.predict(X), np.clip(keras_pred, *fitted.rating_range_), rtol=1e-5)


def test_fitted_attributes_have_documented_shapes(fitted, ratings):
    X, y = ratings
    n_users, n_items = len(np.unique(X[:, 0])), len(np.unique(X[:, 1]))
    assert fitted.user_factors_.shape == (n_users, 4)
    assert fitted.item_factors_.shape == (n_items, 4)
    assert fitted.user_bias_.shape == (n_users,)
    assert fitted.coef_.shape == (4,)
    assert_array_equal(fitted.users_, np.unique(X[:, 0]))
    assert fitted.n_iter_ == len(fitted.loss_curve_) == 2
    assert fitted.rating_range_ == (y.min(), y.max())
    assert fitted.validation_scores_ is None


def test_output_weights_keep_the_norm_of_a_vector_of_ones(fitted):
    assert_allclose(np.linalg.norm(fitted.coef_), np.sqrt(fitted.n_factors), rtol=1e-5)


def test_refit_with_same_random_state_gives_identical_predictions(fitted, ratings):
    X, y = ratings
    again = GMFRegressor(**FAST_PARAMS).fit(X, y)
    assert_allclose(again.predict(X), fitted.predict(X), rtol=1e-6, atol=1e-9)


def test_fit_does_not_depend_on_row_order(fitted, ratings):
    X, y = ratings
    order = np.random.default_rng(1).permutation(len(y))
    shuffled = GMFRegressor(**FAST_PARAMS).fit(X[order], y[order])
    assert_allclose(shuffled.predict(X), fitted.predict(X), rtol=1e-6)


def test_different_random_state_gives_different_model(fitted, ratings):
    X, y = ratings
    other = GMFRegressor(**{**FAST_PARAMS, "random_state": 1}).fit(X, y)
    assert not np.allclose(other.predict(X), fitted.predict(X))


def test_predict_is_invariant_to_row_order_and_subsets(fitted, ratings):
    X, _ = ratings
    full = fitted.predict(X)
    order = np.random.default_rng(2).permutation(len(X))
    # Equal up to rounding: BLAS picks its float32 kernels by the shape of the
    # product, so a slice may differ from the whole in the last bits.
    assert_allclose(fitted.predict(X[order]), full[order], rtol=1e-6, atol=1e-9)
    assert_allclose(fitted.predict(X[:7]), full[:7], rtol=1e-6, atol=1e-9)


def test_training_loss_decreases(ratings):
    X, y = ratings
    est = GMFRegressor(**{**FAST_PARAMS, "max_iter": 8}).fit(X, y)
    assert est.loss_curve_[-1] < est.loss_curve_[0]


def test_string_and_integer_ids_give_the_same_model(fitted, ratings):
    X, y = ratings
    # Zero-padded so that string order equals integer order (same embedding rows).
    X_str = np.char.add("id", np.char.zfill(X.astype(str), 4)).astype(object)
    est = GMFRegressor(**FAST_PARAMS).fit(X_str, y)
    assert_allclose(est.predict(X_str), fitted.predict(X), rtol=1e-5)
    assert est.users_[0] == "id" + str(X[:, 0].min()).zfill(4)


def test_mixed_id_types_in_one_column():
    X = np.array([[1, "a"], ["u2", "b"], [1, "b"], ["u2", 7]], dtype=object)
    est = GMFRegressor(**FAST_PARAMS).fit(X, [1.0, 2.0, 3.0, 4.0])
    assert set(est.users_) == {1, "u2"}
    assert est.predict(X).shape == (4,)


def test_dataframe_input_keeps_feature_names(ratings):
    X, y = ratings
    df = pd.DataFrame({"userId": X[:, 0], "movieId": X[:, 1].astype(str)})
    est = GMFRegressor(**FAST_PARAMS).fit(df, y)
    assert list(est.feature_names_in_) == ["userId", "movieId"]
    assert est.predict(df.head(3)).shape == (3,)


class TestUnknownIds:
    """Contract for ids not seen in fit (LensKit-style)."""

    def known_pair(self, fitted):
        return fitted.users_[0], fitted.items_[0]

    def test_known_pair_uses_factors(self, fitted):
        u, i = self.known_pair(fitted)
        assert_allclose(fitted.predict([[u, i]]), numpy_gmf(fitted, np.array([[u, i]])),
                        rtol=1e-5)

    def test_unknown_user_falls_back_to_mean_plus_item_bias(self, fitted):
        _, i = self.known_pair(fitted)
        expected = np.clip(fitted.intercept_ + fitted.item_bias_[0], *fitted.rating_range_)
        assert_allclose(fitted.predict([[-1, i]]), [expected], rtol=1e-6)

    def test_unknown_item_falls_back_to_mean_plus_user_bias(self, fitted):
        u, _ = self.known_pair(fitted)
        expected = np.clip(fitted.intercept_ + fitted.user_bias_[0], *fitted.rating_range_)
        assert_allclose(fitted.predict([[u, -1]]), [expected], rtol=1e-6)

    def test_both_unknown_give_global_mean(self, fitted):
        expected = np.clip(fitted.intercept_, *fitted.rating_range_)
        assert_allclose(fitted.predict([[-1, -1]]), [expected], rtol=1e-6)

    def test_handle_unknown_error_raises_and_names_the_column(self, fitted):
        est = pickle.loads(pickle.dumps(fitted)).set_params(handle_unknown="error")
        u, i = self.known_pair(fitted)
        est.predict([[u, i]])
        with pytest.raises(ValueError, match="1 unknown ids in column 1.*'never-seen'"):
            est.predict(np.array([[u, "never-seen"]], dtype=object))

    def test_empty_input_is_rejected(self, fitted):
        with pytest.raises(ValueError, match="0 sample"):
            fitted.predict(np.empty((0, 2)))


class TestBadInput:
    @pytest.mark.parametrize("bad", [np.nan, np.inf])
    def test_non_finite_ids_are_rejected(self, bad):
        X = np.array([[1.0, 2.0], [bad, 3.0]])
        with pytest.raises(ValueError, match=r"Column 0 \(users\) of X holds (missing|infinite) ids"):
            GMFRegressor(**FAST_PARAMS).fit(X, [1.0, 2.0])

    def test_missing_object_ids_are_rejected(self):
        X = np.array([["a", "x"], [None, "y"]], dtype=object)
        with pytest.raises(ValueError, match="missing ids"):
            GMFRegressor(**FAST_PARAMS).fit(X, [1.0, 2.0])

    @pytest.mark.parametrize("bad", [np.nan, np.inf])
    def test_non_finite_y_is_rejected(self, bad):
        with pytest.raises(ValueError, match="Input y contains (NaN|infinity)"):
            GMFRegressor(**FAST_PARAMS).fit([[1, 2], [2, 3]], [1.0, bad])

    def test_non_numeric_y_is_rejected(self):
        with pytest.raises(ValueError):
            GMFRegressor(**FAST_PARAMS).fit([[1, 2], [2, 3]], ["good", "bad"])

    def test_inconsistent_lengths_are_rejected(self):
        with pytest.raises(ValueError, match="inconsistent numbers of samples"):
            GMFRegressor(**FAST_PARAMS).fit([[1, 2], [2, 3]], [1.0, 2.0, 3.0])

    def test_empty_fit_input_is_rejected(self):
        with pytest.raises(ValueError, match="0 sample"):
            GMFRegressor(**FAST_PARAMS).fit(np.empty((0, 2)), [])

    def test_one_dimensional_X_is_rejected(self):
        with pytest.raises(ValueError, match="1-D array of 3 values") as info:
            GMFRegressor(**FAST_PARAMS).fit([1, 2, 3], [1.0, 2.0, 3.0])
        # One line, without the array's values.
        assert "\n" not in str(info.value) and "[1 2 3]" not in str(info.value)

    def test_column_count_must_match_fit(self, fitted):
        with pytest.raises(ValueError, match="3 features"):
            fitted.predict([[1, 2, 3]])

    def test_unhashable_ids_are_rejected(self):
        X = np.array([[{"a": 1}, 1], [2, 1]], dtype=object)
        with pytest.raises(TypeError, match="hashable"):
            GMFRegressor(**FAST_PARAMS).fit(X, [1.0, 2.0])

    @pytest.mark.parametrize(
        "params", [{"n_factors": 0}, {"alpha": -1.0}, {"handle_unknown": "warn"},
                   {"context_features": "all"}]
    )
    def test_invalid_parameters_are_rejected(self, params):
        with pytest.raises(ValueError, match=next(iter(params))):
            GMFRegressor(**params).fit([[1, 2], [2, 3]], [1.0, 2.0])

    def test_negative_sample_weight_is_rejected(self):
        with pytest.raises(ValueError, match="non-negative"):
            GMFRegressor(**FAST_PARAMS).fit([[1, 2], [2, 3]], [1.0, 2.0], [1.0, -1.0])

    def test_diverging_fit_raises_clear_error(self, ratings):
        X, y = ratings
        with pytest.raises(ValueError, match="diverged"):
            GMFRegressor(**{**FAST_PARAMS, "learning_rate": 1e30}).fit(X, y * 1e30)

    def test_predict_before_fit_raises_not_fitted(self):
        with pytest.raises(NotFittedError):
            GMFRegressor().predict([[1, 2]])


def test_context_columns_join_as_pairwise_interactions(ratings):
    X, y = ratings
    context = (X[:, 0] + X[:, 1]) % 3
    X3 = np.column_stack([X, context])
    est = GMFRegressor(**FAST_PARAMS, context_features="remaining").fit(X3, y)
    assert len(est.factors_) == 3
    idx = [np.searchsorted(ids, X3[:, f])[:, None] for f, ids in enumerate(est.categories_)]
    keras_pred = est.model_.predict(idx, verbose=0)[:, 0]
    assert_allclose(est.predict(X3), np.clip(keras_pred, *est.rating_range_), rtol=1e-5)


def test_zero_weight_rows_are_ignored(fitted, ratings):
    X, y = ratings
    X2 = np.vstack([X, [[999_999, 888_888]]])
    y2 = np.append(y, 5.0)
    weight = np.append(np.ones(len(y)), 0.0)
    est = GMFRegressor(**FAST_PARAMS).fit(X2, y2, sample_weight=weight)
    assert 999_999 not in est.users_
    assert_allclose(est.predict(X), fitted.predict(X), rtol=1e-6)


def test_early_stopping_keeps_best_validation_epoch(ratings):
    X, y = ratings
    est = GMFRegressor(
        n_factors=16, alpha=0.0, learning_rate=0.05, max_iter=50, early_stopping=True,
        n_iter_no_change=3, batch_size=512, random_state=0,
    ).fit(X, y)
    assert est.n_iter_ < 50
    assert len(est.validation_scores_) == est.n_iter_
    assert est.best_validation_score_ == max(est.validation_scores_)
    # The restored weights are the best epoch's, not the last one's.
    assert est.validation_scores_[-1] < est.best_validation_score_


def test_early_stopping_needs_enough_samples():
    with pytest.raises(ValueError, match="validation_fraction"):
        GMFRegressor(early_stopping=True, validation_fraction=0.1).fit([[1, 2]], [3.0])


def test_verbose_prints_one_line_per_epoch(ratings, capsys):
    X, y = ratings
    GMFRegressor(**{**FAST_PARAMS, "verbose": 1}).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(",")[0] for line in lines] == ["Epoch 1/2", "Epoch 2/2"]


def test_fit_leaves_global_random_state_alone(ratings):
    import tensorflow as tf

    X, y = ratings
    np_state, py_state = np.random.get_state(), random.getstate()
    tf_state = tf.random.get_global_generator().state.numpy()
    GMFRegressor(**{**FAST_PARAMS, "random_state": None}).fit(X, y)
    GMFRegressor(**FAST_PARAMS).fit(X, y)
    assert_array_equal(np.random.get_state()[1], np_state[1])
    assert random.getstate() == py_state
    assert_array_equal(tf.random.get_global_generator().state.numpy(), tf_state)


@pytest.mark.parametrize("dumps, loads", [(pickle.dumps, pickle.loads)])
def test_pickle_round_trip_gives_identical_predictions(fitted, ratings, dumps, loads):
    X, _ = ratings
    restored = loads(dumps(fitted))
    assert_allclose(restored.predict(X), fitted.predict(X), rtol=1e-6, atol=1e-9)
    assert_allclose(
        restored.model_.get_layer("output").get_weights()[0][:, 0], fitted.coef_
    )


def test_joblib_round_trip_in_a_fresh_process(fitted, ratings, tmp_path):
    X, _ = ratings
    joblib.dump(fitted, tmp_path / "est.joblib")
    np.save(tmp_path / "X.npy", X)
    code = (
        "import joblib, numpy as np, sys;"
        f"est = joblib.load({str(tmp_path / 'est.joblib')!r});"
        f"np.save({str(tmp_path / 'pred.npy')!r}, est.predict(np.load({str(tmp_path / 'X.npy')!r})))"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    assert_allclose(np.load(tmp_path / "pred.npy"), fitted.predict(X), rtol=1e-6, atol=1e-9)


def test_clone_is_unfitted_with_same_params(fitted):
    copy = clone(fitted)
    assert copy.get_params() == fitted.get_params()
    assert not hasattr(copy, "model_")


def test_import_does_not_import_tensorflow():
    code = "import sys, skgmf; print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.split() == ["False", "False"]


@pytest.mark.slow
class TestPlantedStructure:
    """On ratings with a known low-rank signal, GMF must clearly beat the mean."""

    # RMSE of GMF divided by the RMSE of predicting the training mean, at most.
    max_rmse_ratio = 0.75

    def test_beats_global_mean_baseline(self, low_rank_ratings):
        X, y = low_rank_ratings
        train, test = slice(0, 16_000), slice(16_000, None)
        est = GMFRegressor(n_factors=8, random_state=0).fit(X[train], y[train])
        rmse = np.sqrt(np.mean((est.predict(X[test]) - y[test]) ** 2))
        baseline = np.sqrt(np.mean((y[train].mean() - y[test]) ** 2))
        assert rmse < self.max_rmse_ratio * baseline
