"""partial_fit: one more epoch from the current weights; new ids get new rows."""
# License: BSD 3 clause

import pickle
import re
import subprocess
import sys
import textwrap
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning

from skgmf import GMFClassifier, GMFRegressor
from skgmf._params import decision_function
from skgmf._model import INIT_STD

from .conftest import FAST_PARAMS
from .test_serving import WORKER, assert_same_results, scoring_calls
from .test_validation import BAD_DATA, CLASSIFIER_BAD_DATA

# partial_fit steps at the constant learning rate: so does fit with these.
CONSTANT = {**FAST_PARAMS, "learning_rate_schedule": "constant"}
# Tests of Adam's state and of the Keras model that training writes into.
ADAM = {**FAST_PARAMS, "solver": "adam"}


def fit_quietly(est, X, y, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: the epochs are few
        return est.fit(X, y, **kwargs)


@pytest.fixture(scope="module")
def split(low_rank_ratings):
    """Old rows, and new rows: every tenth user's and those of three new items.

    Items 150 and above are in no new row, and most old users in none either.
    """
    X, y = low_rank_ratings
    held_out = (X[:, 0] % 10 == 0) | np.isin(X[:, 1], [3, 7, 11])
    new = held_out & (X[:, 1] < 150)
    return (X[~held_out], y[~held_out]), (X[new], y[new])


@pytest.fixture(scope="module")
def updated(split):
    """A regressor before (a copy) and after one partial_fit on the held-out rows."""
    (X_old, y_old), (X_new, y_new) = split
    est = GMFRegressor(**ADAM).fit(X_old, y_old)
    before = {name: pickle.loads(pickle.dumps(getattr(est, name)))
              for name in ("categories_", "factors_", "biases_", "coef_", "intercept_",
                           "_optimizer_state", "loss_curve_", "n_iter_")}
    before["_item_counts"] = est._state.interactions.item_counts
    before["predict"] = est.predict(np.concatenate([X_old, X_new]))
    est.partial_fit(X_new, y_new)
    return before, est


def rows_of(ids, values):
    return np.searchsorted(ids, values)


class TestFirstCall:
    @pytest.mark.parametrize("Estimator, params", [
        (GMFRegressor, {}),
        (GMFClassifier, {}),
        (GMFClassifier, {"n_negatives": 2}),
        (GMFRegressor, {"early_stopping": True}),  # ignored by partial_fit
    ])
    def test_equals_fit_with_one_epoch(self, Estimator, params, low_rank_ratings):
        X, y = low_rank_ratings
        if Estimator is GMFClassifier:
            y = np.ones(len(y)) if params.get("n_negatives") else (y >= 4).astype(int)
        got = Estimator(**CONSTANT, **params).partial_fit(X, y)
        expected = fit_quietly(
            Estimator(**{**CONSTANT, **params, "max_iter": 1, "early_stopping": False}),
            X, y,
        )
        assert got.n_iter_ == 1 and len(got.loss_curve_) == 1
        assert_allclose(got.loss_curve_, expected.loss_curve_, rtol=1e-6)
        assert got.validation_scores_ is None
        for f in range(2):
            assert_array_equal(got.categories_[f], expected.categories_[f])
            assert_allclose(got.factors_[f], expected.factors_[f], rtol=1e-5, atol=1e-7)
            assert_allclose(got.biases_[f], expected.biases_[f], rtol=1e-5, atol=1e-7)
        assert_allclose(got.coef_, expected.coef_, rtol=1e-6)
        assert_allclose(got.intercept_, expected.intercept_, rtol=1e-6)
        if Estimator is GMFClassifier:
            assert_array_equal(got.classes_, expected.classes_)

    def test_warns_no_convergence(self, low_rank_ratings):
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConvergenceWarning)
            GMFRegressor(**FAST_PARAMS).partial_fit(*low_rank_ratings)

    def test_keeps_adam_state_for_the_next_call(self, low_rank_ratings):
        X, y = low_rank_ratings
        est = GMFRegressor(**ADAM).partial_fit(X, y)
        n_batches = -(-len(y) // ADAM["batch_size"])
        assert est._optimizer_state.step == n_batches
        est.partial_fit(X[:1000], y[:1000])
        assert est._optimizer_state.step == n_batches + 1


class TestNewIds:
    def test_vocabulary_is_the_sorted_union(self, split, updated):
        (X_old, _), (X_new, _) = split
        _, est = updated
        for f in range(2):
            assert_array_equal(est.categories_[f],
                               np.unique(np.concatenate([X_old[:, f], X_new[:, f]])))
        assert est.factors_[0].shape == (len(est.users_), FAST_PARAMS["n_factors"])
        assert est.biases_[1].shape == (len(est.items_),)

    def test_rows_the_epoch_did_not_use_are_untouched(self, split, updated):
        """Lazy Adam and the penalty touch only the rows a batch uses."""
        (_, _), (X_new, _) = split
        before, est = updated
        for f in range(2):
            old_ids = before["categories_"][f]
            untouched = ~np.isin(old_ids, X_new[:, f])
            assert untouched.any() and (~untouched).any()
            moved = rows_of(est.categories_[f], old_ids)
            assert_array_equal(est.categories_[f][moved], old_ids)
            assert_array_equal(est.factors_[f][moved[untouched]],
                               before["factors_"][f][untouched])
            assert_array_equal(est.biases_[f][moved[untouched]],
                               before["biases_"][f][untouched])
            assert not np.allclose(est.factors_[f][moved[~untouched]],
                                   before["factors_"][f][~untouched])
            # Adam's moments moved with their rows.
            for got, old in zip(est._optimizer_state.tables[f],
                                before["_optimizer_state"].tables[f]):
                assert got.shape[0] == len(est.categories_[f])
                assert_array_equal(got[moved[untouched]], old[untouched])
        assert not np.allclose(est.coef_, before["coef_"])

    def test_new_users_predictions_leave_the_fallback(self, split, updated):
        (X_old, y_old), (X_new, y_new) = split
        before, est = updated
        fallback = before["predict"][len(X_old):]
        after = est.predict(X_new)
        assert np.mean(np.abs(after - fallback)) > 0.05
        # One epoch, started from the fallback's biases, moves towards the ratings.
        assert np.mean((after - y_new) ** 2) < np.mean((fallback - y_new) ** 2)
        # Known users' predictions move too (items and w are shared), but less.
        change_old = np.abs(est.predict(X_old) - before["predict"][: len(X_old)])
        assert np.mean(change_old) < np.mean(np.abs(after - fallback))

    def test_new_users_then_new_items_start_solved(self, split):
        """Regressor: a new user's row is the fold-in of its ratings of known items,
        a new item's that of its ratings by the users known or just solved."""
        from skgmf._fold_in import solve_users

        (X_old, y_old), (X_new, y_new) = split
        est = GMFRegressor(**{**FAST_PARAMS, "n_factors": 16}).fit(X_old, y_old)
        before = pickle.loads(pickle.dumps(est))
        est.set_params(learning_rate=1e-12)  # the epoch leaves the rows where they start
        est.partial_fit(X_new, y_new)
        new_user = ~np.isin(X_new[:, 0], before.users_)
        new_item = ~np.isin(X_new[:, 1], before.items_)
        penalties = before._settings["alpha"], before._settings["row_alpha"]
        rows = new_user & ~new_item
        item_rows = rows_of(before.items_, X_new[rows, 1])
        users, factors, bias = solve_users(
            X_new[rows, 0], before.item_factors_[item_rows] * before.coef_,
            y_new[rows] - before.intercept_ - before.item_bias_[item_rows],
            np.ones(rows.sum(), np.float32), *penalties,
        )
        solved = rows_of(est.users_, users)
        assert len(solved) == 30
        assert_allclose(est.user_factors_[solved], factors, rtol=1e-4, atol=1e-5)
        assert_allclose(est.user_bias_[solved], bias, rtol=1e-4, atol=1e-5)
        # New items from every rating they have (all their users are solved by now).
        user_rows = rows_of(est.users_, X_new[new_item, 0])
        items, factors, bias = solve_users(
            X_new[new_item, 1], est.user_factors_[user_rows] * est.coef_,
            y_new[new_item] - est.intercept_ - est.user_bias_[user_rows],
            np.ones(new_item.sum(), np.float32), *penalties,
        )
        solved = rows_of(est.items_, items)
        assert len(solved) == 3
        assert_allclose(est.item_factors_[solved], factors, rtol=1e-4, atol=1e-4)
        assert_allclose(est.item_bias_[solved], bias, rtol=1e-4, atol=1e-4)

    def test_classifier_new_rows_start_as_in_fit(self, split):
        (X_old, y_old), (X_new, y_new) = split
        est = GMFClassifier(**{**ADAM, "n_factors": 16, "n_negatives": 1})
        est.fit(X_old, np.ones(len(X_old)))
        est.set_params(learning_rate=1e-12)  # the epoch leaves the rows where they start
        est.partial_fit(X_new, np.ones(len(X_new)))
        new_users = np.isin(est.users_, X_new[:, 0]) & ~np.isin(est.users_, X_old[:, 0])
        factors = est.user_factors_[new_users]
        assert len(factors) == 30
        assert abs(factors.mean()) < 0.02
        assert abs(factors.std() - INIT_STD) < 0.015
        assert np.abs(est.user_bias_[new_users]).max() < 1e-6

    def test_later_calls_draw_other_new_rows(self, split):
        (X_old, y_old), (X_new, y_new) = split
        est = GMFClassifier(**{**FAST_PARAMS, "n_negatives": 1})
        est.fit(X_old, np.ones(len(X_old)))
        est.set_params(learning_rate=1e-12)
        first = X_new[X_new[:, 0] == 10]
        second = X_new[X_new[:, 0] == 20]
        est.partial_fit(first, np.ones(len(first)))
        est.partial_fit(second, np.ones(len(second)))
        rows = rows_of(est.users_, [10, 20])
        assert not np.allclose(est.user_factors_[rows[0]], est.user_factors_[rows[1]])

    def test_no_new_id_keeps_the_tables_and_the_keras_model_follows(self, split):
        (X_old, y_old), _ = split
        est = GMFRegressor(**ADAM).fit(X_old, y_old)
        model = est.model_
        est.partial_fit(X_old[:500], y_old[:500])
        assert est.factors_[0].shape[0] == len(np.unique(X_old[:, 0]))
        # model_ is derived from the parameters: built anew for the updated ones.
        assert est.model_ is not model and est.model_ is est.model_
        assert_array_equal(est.model_.get_layer("user_embedding").get_weights()[0],
                           est.user_factors_)

    def test_model_reflects_the_update(self, split, updated):
        (_, _), (X_new, _) = split
        _, est = updated
        state, idx = est._encode_X(X_new)
        assert (idx >= 0).all()
        keras_out = est.model_.predict([idx[:, :1], idx[:, 1:]], verbose=0)[:, 0]
        assert_allclose(keras_out, decision_function(state.params, idx), rtol=1e-5,
                        atol=1e-5)
        restored = pickle.loads(pickle.dumps(est))  # model_ rebuilt from the tables
        for got, expected in zip(restored.model_.get_weights(), est.model_.get_weights()):
            assert_array_equal(got, expected)

    def test_context_fields_grow_too(self):
        rng = np.random.default_rng(0)
        X = np.column_stack([rng.integers(0, 30, 600), rng.integers(0, 20, 600),
                             rng.integers(0, 3, 600)])
        y = rng.uniform(1, 5, 600)
        est = GMFRegressor(**FAST_PARAMS, context_features="remaining").fit(X, y)
        X_more = np.array([[1, 2, 5], [31, 2, 0], [2, 25, 4]])
        est.partial_fit(X_more, [3.0, 4.0, 2.0])
        assert_array_equal(est.categories_[2], [0, 1, 2, 4, 5])
        assert est.factors_[2].shape[0] == 5 and est.predict(X_more).shape == (3,)

    @pytest.mark.parametrize("first, second", [
        ([3, 1, 4], [1, 5, 9, 2]),
        (["b", "d"], ["a", "c", "d"]),
        (np.array([2, "x"], dtype=object), np.array(["a", 1, 7], dtype=object)),
        (np.array([2, 3]), np.array(["a", "b"], dtype=object)),
        (np.array([2**63 + 5], dtype=np.uint64), np.array([-1, 1])),
    ], ids=["int", "str", "mixed", "int-then-str", "uint64-then-int64"])
    def test_vocabulary_equals_one_fit(self, first, second):
        """Merged ids sort (and keep their types) as one fit on all rows does."""
        def rows(users):
            users = np.asarray(users)
            X = pd.DataFrame({"user": users, "item": np.arange(len(users)) % 2})
            return X, np.arange(len(users), dtype=float)

        est = GMFRegressor(**FAST_PARAMS).fit(*rows(first))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ids of another kind than fit's
            est.partial_fit(*rows(second))
            both = np.concatenate([np.asarray(first, dtype=object),
                                   np.asarray(second, dtype=object)])
            expected = GMFRegressor(**FAST_PARAMS).fit(*rows(both)).users_
        assert est.users_.tolist() == expected.tolist()
        assert [type(u) for u in est.users_.tolist()] == [type(u) for u in expected.tolist()]
        assert est.predict(rows(both)[0]).shape == (len(both),)

    def test_ids_of_another_kind_warn(self, split):
        (X_old, y_old), _ = split
        est = GMFRegressor(**FAST_PARAMS).fit(X_old, y_old)
        with pytest.warns(UserWarning, match="holds string ids, but numeric ids in fit"):
            est.partial_fit(np.array([["1", "2"]], dtype=object), [3.0])


class TestBookkeeping:
    def test_n_iter_and_loss_curve_grow(self, updated):
        before, est = updated
        assert est.n_iter_ == before["n_iter_"] + 1
        assert est.loss_curve_[:-1] == before["loss_curve_"]
        assert len(est.loss_curve_) == est.n_iter_ and est.loss_curve_[-1] > 0

    def test_rating_range_grows(self, split):
        (X_old, y_old), _ = split
        est = GMFRegressor(**FAST_PARAMS).fit(X_old, np.clip(y_old, 2, 4))
        est.partial_fit(X_old[:2], [1.0, 3.0])
        assert est.rating_range_ == (1.0, 4.0)
        assert est.predict([[X_old[0, 0], X_old[0, 1]]])[0] >= 1.0

    def test_recommend_excludes_the_new_interactions(self, split, updated):
        (X_old, _), (X_new, _) = split
        _, est = updated
        n_items = len(est.items_)
        for user in (10, 20, X_old[0, 0]):
            rated = set(X_new[X_new[:, 0] == user, 1]) | set(X_old[X_old[:, 0] == user, 1])
            recommended = est.recommend([user], k=n_items - len(rated))[0]
            assert rated and not rated & set(recommended.tolist())
            assert len(set(recommended.tolist())) == n_items - len(rated)

    def test_popularity_counts_every_call(self, split, updated):
        (X_old, _), (X_new, _) = split
        before, est = updated
        all_items = np.concatenate([X_old[:, 1], X_new[:, 1]])
        counts = pd.Series(all_items).value_counts()
        assert_array_equal(est._state.interactions.item_counts, counts.reindex(est.items_).to_numpy())
        # A new item everyone took becomes what an unknown user gets first.
        est2 = pickle.loads(pickle.dumps(est))
        X_hit = np.column_stack([np.arange(300), np.full(300, 999)])
        est2.partial_fit(X_hit, np.full(300, 5.0))
        assert est2.recommend([-5], k=1)[0, 0] == 999


@pytest.fixture(scope="module")
def positives(split):
    """The interactions (ratings of 3.5 and above) of the old and new rows."""
    (X_old, y_old), (X_new, y_new) = split
    return X_old[y_old >= 3.5], X_new[y_new >= 3.5]


class TestClassifier:
    def test_negatives_avoid_every_pair_seen(self, positives, recorded_epochs):
        X_old, X_new = positives
        est = GMFClassifier(**FAST_PARAMS, n_negatives=3).fit(X_old, np.ones(len(X_old)))
        drawn = recorded_epochs
        drawn.clear()  # only the update's epoch
        # Known users' new interactions too: the sampler must know them.
        X_more = np.concatenate([X_new, np.column_stack([X_old[:200, 0],
                                                         X_new[:200, 1]])])
        est.partial_fit(X_more, np.ones(len(X_more)))
        idx, y, _ = drawn[0]
        assert len(y) == 4 * len(X_more) and y.sum() == len(X_more)
        negatives = idx[y == 0]
        seen = {tuple(pair) for pair in np.concatenate([X_old, X_more]).tolist()}
        pairs = zip(est.users_[negatives[:, 0]].tolist(), est.items_[negatives[:, 1]].tolist())
        assert not seen & set(pairs)
        # Drawn from the whole catalogue, new items included.
        new_items = rows_of(est.items_, [3, 7, 11])
        assert np.isin(negatives[:, 1], new_items).any()
        assert "_sampler" not in vars(est)

    def test_classes_follow_the_first_call(self, split):
        (X_old, y_old), (X_new, y_new) = split
        labels = np.where(y_old >= 3.5, "liked", "other")
        est = GMFClassifier(**FAST_PARAMS, pos_label="liked")
        est.partial_fit(X_old[:50], np.full(50, "liked"), classes=["other", "liked"])
        assert_array_equal(est.classes_, ["liked", "other"])
        est.partial_fit(X_old, labels)  # classes may be left out later
        est.partial_fit(X_new[:10], np.full(10, "other"), classes=["liked", "other"])
        assert est.predict(X_new[:10]).dtype.kind == "U"
        with pytest.raises(ValueError, match=r"differs from classes_ = \['liked', 'other'\]"):
            est.partial_fit(X_new, np.full(len(X_new), "other"), classes=["a", "other"])
        with pytest.raises(ValueError, match="y holds labels not in classes_"):
            est.partial_fit(X_new[:3], ["liked", "meh", "other"])

    def test_first_call_classes_checked(self, split):
        (X_old, _), _ = split
        with pytest.raises(ValueError, match="y holds labels not in classes"):
            GMFClassifier(**FAST_PARAMS).partial_fit(X_old[:3], [0, 1, 2], classes=[0, 1])
        with pytest.raises(ValueError, match="Only binary classification"):
            GMFClassifier(**FAST_PARAMS).partial_fit(X_old[:3], [0, 1, 2],
                                                     classes=[0, 1, 2])
        # NCF positives: classes [0, 1] with only interactions in y.
        est = GMFClassifier(**FAST_PARAMS, n_negatives=1)
        est.partial_fit(X_old[:100], np.ones(100), classes=[0, 1])
        assert_array_equal(est.classes_, [0, 1])

    def test_positive_only_call_on_a_two_class_model(self, split):
        (X_old, y_old), (X_new, _) = split
        est = GMFClassifier(**FAST_PARAMS).fit(X_old, (y_old >= 3.5).astype(int))
        proba = est.predict_proba(X_new)[:, 1]
        for _ in range(3):
            est.partial_fit(X_new, np.ones(len(X_new), dtype=int))
        assert est.predict_proba(X_new)[:, 1].mean() > proba.mean()


class TestValidation:
    @pytest.mark.parametrize(
        "Estimator, cases",
        [(GMFRegressor, BAD_DATA), (GMFClassifier, CLASSIFIER_BAD_DATA)],
        ids=["GMFRegressor", "GMFClassifier"],
    )
    def test_bad_data_fails_before_tensorflow_is_imported(self, Estimator, cases):
        code = textwrap.dedent(f"""
            import sys
            import numpy as np
            from numpy import nan
            from skgmf import {Estimator.__name__} as Estimator
            cases = {cases!r}
            for name, (X, y, w, words, *params) in cases.items():
                X = eval(X) if isinstance(X, str) else X
                try:
                    Estimator(**(params[0] if params else {{}})).partial_fit(
                        X, y, sample_weight=w)
                except ValueError as exc:
                    assert words in str(exc), (name, str(exc))
                else:
                    raise AssertionError(name + " was accepted")
            print("tensorflow" in sys.modules, "keras" in sys.modules)
        """)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == ["False", "False"]

    def test_bad_data_on_a_fitted_estimator(self, split):
        (X_old, y_old), _ = split
        est = GMFRegressor(**FAST_PARAMS).fit(X_old, y_old)
        with pytest.raises(ValueError, match="X has 3 features, but GMFRegressor is "
                                             "expecting 2 features as input"):
            est.partial_fit(np.column_stack([X_old, X_old[:, :1]]), y_old)
        for name in ["nan id", "nan y", "string y", "negative weight", "lengths"]:
            X, y, w, words = BAD_DATA[name]
            with pytest.raises(ValueError, match=re.escape(words)):
                est.partial_fit(X, y, sample_weight=w)
        assert est.n_iter_ == FAST_PARAMS["max_iter"]

    @pytest.mark.parametrize("solver", ["sgd", "adam"])
    def test_a_failed_update_leaves_the_model_as_it_was(self, split, monkeypatch, solver):
        import skgmf._adam
        import skgmf._sgd

        (X_old, y_old), (X_new, y_new) = split
        est = GMFRegressor(**FAST_PARAMS, solver=solver).fit(X_old, y_old)
        expected = est.predict(X_new)
        users, model = est.users_, est.model_
        tables = [table.copy() for table in est.factors_]

        def broken(params, *args, **kwargs):
            # After writing into whatever it may write into: the fitted tables are
            # read-only, the grown ones this update's own.
            for table in params.factors:
                if table.flags.writeable:
                    table[:] = 0
                else:
                    with pytest.raises(ValueError, match="read-only"):
                        table[:] = 0
            raise RuntimeError("training failed")

        monkeypatch.setattr(skgmf._sgd if solver == "sgd" else skgmf._adam, "train",
                            broken)
        with pytest.raises(RuntimeError, match="training failed"):
            est.partial_fit(X_new, y_new)
        assert est.users_ is users and est.n_iter_ == FAST_PARAMS["max_iter"]
        assert_array_equal(est.predict(X_new), expected)
        for table, saved in zip(est.factors_, tables):
            assert_array_equal(table, saved)
        assert est.model_ is model  # the state it was built from is unchanged


class TestSaving:
    def test_loads_and_scores_without_tensorflow(self, split, updated, tmp_path):
        (X_old, y_old), (X_new, y_new) = split
        _, est = updated
        assert "_optimizer_state" not in est.__getstate__()
        calls = scoring_calls(est, X_new, y_new)
        paths = {"inputs": tmp_path / "inputs.pkl", "pickle": tmp_path / "est.pkl",
                 "joblib": tmp_path / "est.joblib"}
        paths["inputs"].write_bytes(pickle.dumps(calls))
        paths["pickle"].write_bytes(pickle.dumps(est))
        joblib.dump(est, paths["joblib"])
        (tmp_path / "paths.pkl").write_bytes(pickle.dumps(paths))
        (tmp_path / "worker.py").write_text(WORKER)
        subprocess.run([sys.executable, str(tmp_path / "worker.py"),
                        str(tmp_path / "paths.pkl"), str(tmp_path / "results.pkl")],
                       check=True)
        results = pickle.loads((tmp_path / "results.pkl").read_bytes())
        assert results.pop("modules") == []
        for loaded in results.values():
            for got, (method, args, kwargs) in zip(loaded, calls, strict=True):
                assert_same_results(got, getattr(est, method)(*args, **kwargs))

    def test_loaded_model_updates_with_a_fresh_adam_state(self, split, updated):
        (_, _), (X_new, y_new) = split
        _, est = updated
        restored = pickle.loads(pickle.dumps(est))
        assert not hasattr(restored, "_optimizer_state")
        restored.partial_fit(X_new, y_new)
        n_batches = -(-len(y_new) // FAST_PARAMS["batch_size"])
        assert restored._optimizer_state.step == n_batches
        assert restored.n_iter_ == est.n_iter_ + 1


class TestFoldIn:
    @pytest.fixture(scope="class")
    @classmethod
    def folded(cls, split):
        """A regressor before (a copy) and after partial_fit_users on known items."""
        (X_old, y_old), (X_new, y_new) = split
        est = GMFRegressor(**ADAM).fit(X_old, y_old)
        known = np.isin(X_new[:, 1], est.items_)
        before = pickle.loads(pickle.dumps(est))
        return before, est.partial_fit_users(X_new[known], y_new[known]), known

    def test_each_user_is_the_ridge_solution(self, split, folded):
        """Oracle: sklearn's Ridge on the user's rows, the penalty per rating."""
        from sklearn.linear_model import Ridge

        (_, _), (X_new, y_new) = split
        before, est, known = folded
        X_new, y_new = X_new[known], y_new[known]
        weights = np.random.default_rng(0).uniform(0.5, 2, len(y_new))
        est = pickle.loads(pickle.dumps(before)).partial_fit_users(X_new, y_new, weights)
        for user in [10, 20, 290]:
            mine = X_new[:, 0] == user
            items = rows_of(est.items_, X_new[mine, 1])
            features = np.column_stack([est.item_factors_[items] * est.coef_,
                                        np.ones(mine.sum())])
            targets = y_new[mine] - est.intercept_ - est.item_bias_[items]
            settings = est._settings
            ridge = Ridge(alpha=settings["alpha"] * weights[mine].sum() + settings["row_alpha"],
                          fit_intercept=False)
            ridge.fit(features, targets, sample_weight=weights[mine])
            row = rows_of(est.users_, user)
            assert_allclose(est.user_factors_[row], ridge.coef_[:-1], rtol=1e-4, atol=1e-5)
            assert_allclose(est.user_bias_[row], ridge.coef_[-1], rtol=1e-4, atol=1e-5)

    def test_nothing_else_moves(self, split, folded):
        (X_old, _), (X_new, y_new) = split
        before, est, known = folded
        assert_array_equal(est.users_, np.unique(np.concatenate([X_old[:, 0],
                                                                 X_new[known, 0]])))
        assert_array_equal(est.items_, before.items_)
        assert_array_equal(est.item_factors_, before.item_factors_)
        assert_array_equal(est.coef_, before.coef_)
        assert est.intercept_ == before.intercept_ and est.n_iter_ == before.n_iter_
        assert_array_equal(est.predict(X_old), before.predict(X_old))
        # The new users' ratings: better than the fallback mu + b_i.
        fallback, after = before.predict(X_new[known]), est.predict(X_new[known])
        y = y_new[known]
        assert np.mean((after - y) ** 2) < 0.8 * np.mean((fallback - y) ** 2)

    def test_bookkeeping_follows(self, split, folded):
        (_, _), (X_new, _) = split
        before, est, known = folded
        rated = set(X_new[known & (X_new[:, 0] == 10), 1].tolist())
        recommended = est.recommend([10], k=len(est.items_) - len(rated))[0]
        assert not rated & set(recommended.tolist())
        counts = est._state.interactions.item_counts
        assert counts.sum() == before._state.interactions.item_counts.sum() + known.sum()
        assert est._optimizer_state.tables[0][0].shape[0] == len(est.users_)
        state, idx = est._encode_X(X_new[known][:200])
        keras_out = est.model_.predict([idx[:, :1], idx[:, 1:]], verbose=0)[:, 0]
        assert_allclose(keras_out, decision_function(state.params, idx), rtol=1e-5,
                        atol=1e-5)
        est2 = pickle.loads(pickle.dumps(est))
        est2._optimizer_state = est._optimizer_state
        est2.partial_fit(X_new[:100], np.full(100, 3.0))  # the moved state fits

    def test_a_known_user_is_recomputed_from_the_rows_given(self, folded):
        _, folded_est, _ = folded
        est = pickle.loads(pickle.dumps(folded_est))
        user, item = est.users_[1], est.items_[0]
        est.partial_fit_users([[user, item], [user, est.items_[1]]], [5.0, 5.0])
        assert est.predict([[user, item]])[0] > folded_est.predict([[user, item]])[0]
        assert_array_equal(est.users_, folded_est.users_)  # no row added or lost
        others = est.users_ != user
        assert_array_equal(est.user_factors_[others], folded_est.user_factors_[others])

    def test_errors(self, split, folded):
        (X_old, y_old), _ = split
        _, est, _ = folded
        with pytest.raises(ValueError, match="none of the 1 rows of X has an item seen"):
            est.partial_fit_users([[1, 12345]], [3.0])
        with pytest.warns(UserWarning, match="1 of the 2 rows of X rate 1 items not seen"):
            est = pickle.loads(pickle.dumps(est))
            est.partial_fit_users([[1, 12345], [1, est.items_[0]]], [3.0, 4.0])
        with pytest.raises(ValueError, match="X has 3 features"):
            est.partial_fit_users([[1, 2, 3]], [3.0])
        three = GMFRegressor(**FAST_PARAMS, context_features="remaining").fit(
            np.column_stack([X_old, X_old[:, :1] % 3]), y_old)
        with pytest.raises(ValueError, match="exactly two fields"):
            three.partial_fit_users(np.column_stack([X_old, X_old[:, :1] % 3])[:5], y_old[:5])
        from sklearn.exceptions import NotFittedError

        with pytest.raises(NotFittedError):
            GMFRegressor().partial_fit_users(X_old[:5], y_old[:5])

    def test_needs_no_tensorflow(self, split, folded, tmp_path):
        (_, _), (X_new, y_new) = split
        before, est, known = folded
        (tmp_path / "est.pkl").write_bytes(pickle.dumps(before))
        np.save(tmp_path / "X.npy", X_new[known])
        np.save(tmp_path / "y.npy", y_new[known])
        code = textwrap.dedent(f"""
            import pickle, sys
            import numpy as np

            est = pickle.loads(open({str(tmp_path / "est.pkl")!r}, "rb").read())
            X = np.load({str(tmp_path / "X.npy")!r})
            est.partial_fit_users(X, np.load({str(tmp_path / "y.npy")!r}))
            np.save({str(tmp_path / "pred.npy")!r}, est.predict(X))
            assert "tensorflow" not in sys.modules and "keras" not in sys.modules
        """)
        subprocess.run([sys.executable, "-c", code], check=True)
        assert_allclose(np.load(tmp_path / "pred.npy"), est.predict(X_new[known]),
                        rtol=1e-6, atol=1e-6)


def test_fold_in_of_a_known_user_does_not_count_their_ratings_twice(low_rank_ratings):
    X, y = low_rank_ratings
    est = GMFRegressor(n_factors=4, max_iter=2, batch_size=1024, random_state=0).fit(X, y)
    counts = est._state.interactions.item_counts.copy()
    user = est.users_[0]
    rows = X[:, 0] == user
    est.partial_fit_users(X[rows], y[rows])
    np.testing.assert_array_equal(est._state.interactions.item_counts, counts)
    new_user = np.column_stack([np.full(3, 10_000), X[:3, 1]])
    est.partial_fit_users(new_user, y[:3])
    assert est._state.interactions.item_counts.sum() == counts.sum() + 3  # a new user's ratings do count
