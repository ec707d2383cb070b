"""Machinery shared by the GMF estimators: ids, training, export, recommending."""
# License: BSD 3 clause

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from ._encoding import encode_ids, lookup_ids
from ._random import epoch_permutations, spawn_seeds

# Rows scored at once: bounds the memory of the gathered factors.
_PREDICT_CHUNK = 1 << 16
# Scores held at once by recommend / similar_items (users or items x candidates).
_SCORE_BLOCK = 1 << 22


class BaseGMF(BaseEstimator):
    """Fit, export, score and recommend; subclasses set the loss and the targets."""

    _parameter_constraints: dict = {
        "n_factors": [Interval(Integral, 1, None, closed="left")],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "handle_unknown": [StrOptions({"use_fallback", "error"})],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    # "squared_error" or "log_loss", see skgmf._training.
    _loss = "squared_error"

    def _check_params(self):
        """Checks that involve the environment rather than one parameter."""
        import keras

        if keras.config.backend() != "tensorflow":
            raise RuntimeError(
                f"{type(self).__name__} trains with the TensorFlow backend of Keras, "
                f"but KERAS_BACKEND is {keras.config.backend()!r}. Set "
                "KERAS_BACKEND=tensorflow before Keras is first imported."
            )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.categorical = True
        return tags

    # -- hooks for subclasses ------------------------------------------------

    def _encode_targets(self, y):
        """``y`` as float32 training targets; may set fitted attributes."""
        raise NotImplementedError

    def _epochs(self, idx, y, sample_weight, seed):
        """Yield ``(perm, (idx, y, sample_weight))`` for every epoch."""
        rows = (idx, y, sample_weight)
        for perm in epoch_permutations(seed, len(y)):
            yield perm, rows

    def _validation_score(self, idx, y, sample_weight):
        """Score (higher is better) of encoded validation rows, for early stopping."""
        raise NotImplementedError

    # -- fit -----------------------------------------------------------------

    def _fit(self, X, y, sample_weight):
        self._check_params()
        X, y = validate_data(self, X, y, dtype=None, y_numeric=self._loss != "log_loss")
        sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float32)
        if np.any(sample_weight < 0):
            raise ValueError("sample_weight must be non-negative.")
        keep = sample_weight > 0
        if not keep.any():
            raise ValueError("sample_weight must have at least one positive entry.")
        X, y, sample_weight = X[keep], y[keep], sample_weight[keep]
        y = self._encode_targets(y)

        init_seed, shuffle_seed, split_seed = spawn_seeds(self._rng(), 3)
        encoded = [encode_ids(X[:, f], field=f) for f in range(X.shape[1])]
        categories = [ids for ids, _ in encoded]
        idx = np.column_stack([col_idx for _, col_idx in encoded]).astype(np.int32)
        # Sort rows by (ids, y, weight) so that fitting ignores the input row order.
        order = np.lexsort([sample_weight, y, *idx.T[::-1]])
        idx, y, sample_weight = idx[order], y[order], sample_weight[order]
        all_idx, all_y = idx, y
        validation = None
        if self.early_stopping:
            train_rows, val_rows = self._split_validation(len(y), split_seed)
            validation = (idx[val_rows], y[val_rows], sample_weight[val_rows])
            idx, y, sample_weight = idx[train_rows], y[train_rows], sample_weight[train_rows]
            categories = _restrict_to_training(categories, idx, validation[0], all_idx)
        self.categories_ = categories
        self._remember_interactions(all_idx, all_y)

        from ._model import build_gmf
        from ._training import train

        self.model_ = build_gmf(
            [len(ids) for ids in self.categories_],
            self.n_factors,
            intercept=self._initial_intercept(y, sample_weight),
            seed=init_seed,
        )
        validate = None
        if validation is not None:

            def validate():
                self._export_weights()
                return self._validation_score(*validation)

        self.loss_curve_, self.validation_scores_ = train(
            self.model_,
            self._epochs(idx, y, sample_weight, shuffle_seed),
            loss=self._loss,
            alpha=self.alpha,
            learning_rate=self.learning_rate,
            batch_size=self.batch_size,
            max_iter=self.max_iter,
            tol=self.tol,
            n_iter_no_change=self.n_iter_no_change,
            validate=validate,
            verbose=self.verbose,
        )
        self.n_iter_ = len(self.loss_curve_)
        self.best_validation_score_ = (
            max(self.validation_scores_) if self.validation_scores_ else None
        )
        self._export_weights()
        return self

    def _initial_intercept(self, y, sample_weight):
        return np.average(y, weights=sample_weight)

    def _positive_rows(self, y):
        """Rows that count as interactions for popularity (all, for ratings)."""
        return np.ones(len(y), dtype=bool)

    def _remember_interactions(self, idx, y):
        """Store the (user, item) pairs seen in fit and the items' popularity."""
        from scipy import sparse

        if idx.shape[1] < 2:
            self._seen, self._item_counts = None, None
            return
        known = (idx[:, 0] >= 0) & (idx[:, 1] >= 0)
        shape = (len(self.categories_[0]), len(self.categories_[1]))
        pairs = idx[known, :2]
        seen = sparse.csr_matrix(
            (np.ones(len(pairs), dtype=bool), (pairs[:, 0], pairs[:, 1])), shape=shape
        )
        seen.sum_duplicates()
        self._seen = seen
        positive = known & self._positive_rows(y)
        self._item_counts = np.bincount(idx[positive, 1], minlength=shape[1])

    def _rng(self):
        """``random_state``, but fresh OS entropy instead of NumPy's global state."""
        if self.random_state is None:
            return np.random.RandomState(np.random.SeedSequence().generate_state(1))
        return self.random_state

    def _split_validation(self, n_samples, seed):
        """Training and validation rows: ``validation_fraction`` held out at random."""
        n_val = int(round(self.validation_fraction * n_samples))
        if n_val < 1 or n_val >= n_samples:
            raise ValueError(
                f"validation_fraction={self.validation_fraction} leaves an empty "
                f"training or validation set with n_samples = {n_samples}; "
                "use more samples or set early_stopping=False."
            )
        perm = np.random.default_rng(seed).permutation(n_samples)
        return np.sort(perm[n_val:]), np.sort(perm[:n_val])

    def _export_weights(self):
        """Copy the Keras weights into the NumPy arrays that scoring uses."""
        from ._model import field_name

        model = self.model_
        names = [field_name(f) for f in range(len(self.categories_))]
        self.factors_ = [
            model.get_layer(f"{name}_embedding").embeddings.numpy() for name in names
        ]
        self.biases_ = [
            model.get_layer(f"{name}_bias").embeddings.numpy()[:, 0] for name in names
        ]
        kernel, bias = model.get_layer("output").get_weights()
        self.coef_ = kernel[:, 0]
        self.intercept_ = float(bias[0])

    # -- scoring -------------------------------------------------------------

    def _encode_X(self, X):
        """Validated ``X`` as embedding rows, -1 for unknown ids (or raise)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=None)
        idx = np.column_stack(
            [lookup_ids(ids, X[:, f], field=f) for f, ids in enumerate(self.categories_)]
        )
        if self.handle_unknown == "error" and (idx < 0).any():
            f = int(np.nonzero((idx < 0).any(axis=0))[0][0])
            unknown = X[idx[:, f] < 0, f].tolist()
            raise ValueError(
                f"Found {len(set(unknown))} unknown ids in column {f} "
                f"of X during predict, e.g. {unknown[0]!r}. Use "
                "handle_unknown='use_fallback' to predict them from the known biases."
            )
        return idx

    def _decision_idx(self, idx):
        """Raw model output of encoded rows, in chunks of bounded memory."""
        out = np.empty(len(idx), dtype=np.float64)
        for start in range(0, len(idx), _PREDICT_CHUNK):
            rows = idx[start : start + _PREDICT_CHUNK]
            out[start : start + len(rows)] = self._decision_rows(rows)
        return out

    def _decision_rows(self, idx):
        """The model's formula in NumPy; index -1 (unknown) selects a zero row."""
        out = np.full(len(idx), self.intercept_, dtype=np.float64)
        vectors = []
        for f, (factors, biases) in enumerate(zip(self.factors_, self.biases_)):
            known = idx[:, f] >= 0
            rows = np.where(known, idx[:, f], 0)
            out += np.where(known, biases[rows], 0.0)
            vectors.append(factors[rows] * known[:, None])
        if len(vectors) == 1:
            interaction = vectors[0]
        elif len(vectors) == 2:
            interaction = vectors[0] * vectors[1]
        else:
            # Sum of pairwise products: ((sum v)^2 - sum v^2) / 2, the FM identity.
            total = np.sum(vectors, axis=0)
            interaction = (total**2 - np.sum(np.square(vectors), axis=0)) / 2
        return out + interaction @ self.coef_

    # -- recommending --------------------------------------------------------

    def _check_two_fields(self, what):
        check_is_fitted(self)
        if len(self.categories_) != 2:
            raise ValueError(
                f"{what} needs a model of exactly two fields (user, item); this one "
                f"was fitted on {len(self.categories_)} columns."
            )

    def recommend(self, users, k=10, *, exclude_seen=True, items=None,
                  return_scores=False):
        """Top-``k`` items for each user, by the model's score.

        Scores are computed for blocks of users against all candidate items, so
        the full user x item matrix is never held in memory.

        Parameters
        ----------
        users : array-like of shape (n_users,)
            User ids. Users not seen in ``fit`` get the most popular items (most
            interactions in ``fit``), with score NaN.
        k : int, default=10
            Number of items per user; at most the number of candidate items.
        exclude_seen : bool, default=True
            Leave out the items a user interacted with in ``fit``.
        items : array-like of shape (n_candidates,), default=None
            Candidate item ids (all must be known); by default every known item.
        return_scores : bool, default=False
            Also return the scores (predicted rating, or decision function).

        Returns
        -------
        recommended : ndarray of shape (n_users, k)
            Item ids, best first. A user with fewer than ``k`` eligible items gets
            them first, then slots of score ``-inf`` that recommend nothing.
        scores : ndarray of shape (n_users, k)
            Only if ``return_scores``.
        """
        self._check_two_fields("recommend")
        if not isinstance(k, Integral) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}.")
        users = np.asarray(users)
        if users.ndim != 1:
            raise ValueError(f"users must be one-dimensional, got shape {users.shape}.")
        user_rows = lookup_ids(self.categories_[0], users, field=0)
        if items is None:
            candidates = np.arange(len(self.categories_[1]))
        else:
            candidates = lookup_ids(self.categories_[1], np.asarray(items), field=1)
            if (candidates < 0).any():
                unknown = np.asarray(items)[candidates < 0]
                raise ValueError(
                    f"items holds {len(unknown)} ids not seen in fit, e.g. {unknown[0]!r}."
                )
        if k > len(candidates):
            raise ValueError(f"k={k} exceeds the {len(candidates)} candidate items.")

        item_vectors = self.factors_[1][candidates] * self.coef_
        item_bias = self.intercept_ + self.biases_[1][candidates]
        ids = np.empty((len(users), k), dtype=self.categories_[1].dtype)
        scores = np.full((len(users), k), np.nan)
        popular = candidates[np.argsort(-self._item_counts[candidates], kind="stable")]
        ids[user_rows < 0] = self.categories_[1][popular[:k]]
        known = np.flatnonzero(user_rows >= 0)
        block = max(1, _SCORE_BLOCK // len(candidates))
        for start in range(0, len(known), block):
            where = known[start : start + block]
            rows = user_rows[where]
            s = self.factors_[0][rows] @ item_vectors.T
            s += self.biases_[0][rows, None] + item_bias
            if exclude_seen:
                seen = self._seen[rows][:, candidates].tocoo()
                s[seen.row, seen.col] = -np.inf
            top, scores[where] = _top_k(s, k)
            ids[where] = self.categories_[1][candidates[top]]
        return (ids, scores) if return_scores else ids

    def similar_items(self, items, k=10, *, return_scores=False):
        """The ``k`` items most similar to each item, by cosine similarity.

        The similarity is the cosine of the items' vectors as the model uses
        them, :math:`w \\odot q_i` (the score is :math:`p_u^\\top (w \\odot q_i)`).

        Parameters
        ----------
        items : array-like of shape (n_items,)
            Item ids, all seen in ``fit``.
        k : int, default=10
            Number of similar items per item (the item itself is left out).
        return_scores : bool, default=False
            Also return the cosine similarities.

        Returns
        -------
        similar : ndarray of shape (n_items, k)
            Item ids, most similar first.
        scores : ndarray of shape (n_items, k)
            Only if ``return_scores``.
        """
        self._check_two_fields("similar_items")
        if not isinstance(k, Integral) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}.")
        items = np.asarray(items)
        rows = lookup_ids(self.categories_[1], items, field=1)
        if (rows < 0).any():
            raise ValueError(
                f"items holds {int((rows < 0).sum())} ids not seen in fit, e.g. "
                f"{items[rows < 0][0]!r}."
            )
        n_items = len(self.categories_[1])
        if k > n_items - 1:
            raise ValueError(f"k={k} exceeds the {n_items - 1} other items.")
        vectors = self.factors_[1] * self.coef_
        norms = np.linalg.norm(vectors, axis=1)
        unit = vectors / np.where(norms > 0, norms, 1.0)[:, None]
        ids = np.empty((len(items), k), dtype=self.categories_[1].dtype)
        scores = np.empty((len(items), k))
        block = max(1, _SCORE_BLOCK // n_items)
        for start in range(0, len(rows), block):
            r = rows[start : start + block]
            s = unit[r] @ unit.T
            s[np.arange(len(r)), r] = -np.inf
            top, scores[start : start + len(r)] = _top_k(s, k)
            ids[start : start + len(r)] = self.categories_[1][top]
        return (ids, scores) if return_scores else ids

    @property
    def users_(self):
        return self.categories_[0]

    @property
    def items_(self):
        return self.categories_[1]

    @property
    def user_factors_(self):
        return self.factors_[0]

    @property
    def item_factors_(self):
        return self.factors_[1]

    @property
    def user_bias_(self):
        return self.biases_[0]

    @property
    def item_bias_(self):
        return self.biases_[1]


def _top_k(scores, k):
    """Columns of the ``k`` largest scores of every row, best first, and the scores."""
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    top_scores = np.take_along_axis(scores, top, axis=1)
    order = np.argsort(-top_scores, axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1), np.take_along_axis(top_scores, order, axis=1)


def _restrict_to_training(categories, idx, *others):
    """Keep only the ids the training rows use; re-index all row sets in place.

    Ids seen only in the other rows (validation) get no embedding row: they become
    unknown (-1) there, as they would be for ``predict``.
    """
    restricted = []
    for f, ids in enumerate(categories):
        used, idx[:, f] = np.unique(idx[:, f], return_inverse=True)
        new_row = np.full(len(ids), -1, dtype=np.int32)
        new_row[used] = np.arange(len(used), dtype=np.int32)
        for other in others:
            other[:, f] = new_row[other[:, f]]
        restricted.append(ids[used])
    return restricted
