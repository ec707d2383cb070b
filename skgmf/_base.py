"""Machinery shared by the GMF estimators: validation, ids, training, export, scoring."""
# License: BSD 3 clause

import warnings
from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from ._columns import check_context_columns, check_user_item_names, context_positions
from ._encoding import (
    check_ids_present,
    encode_ids,
    id_kind,
    lookup_ids,
    plain_value,
    stable_argsort,
    warn_unknown_ids,
)
from ._model import INIT_STD
from ._random import epoch_permutations, spawn_seeds
from ._recommend import RecommenderMixin

# Rows scored at once: bounds the memory of the gathered factors.
_PREDICT_CHUNK = 16384

# Training rows below which the "auto" SGD model is larger (see BaseGMF._auto).
_SMALL = 200_000

# partial_fit with solver="sgd" steps at no less than this share of learning_rate.
_MIN_UPDATE_SHARE = 0.05

# Standard deviation of the initial embeddings of solver="sgd", chosen on
# validation (benchmarks/tune_sgd.py: 0.01 beat Surprise's 0.1 on ML-1M).
_SGD_INIT_STD = 0.01

# predict warns when more than this share of the rows of a prediction of at least
# _FALLBACK_MIN_ROWS rows has an unknown user or item (handle_unknown="use_fallback").
_FALLBACK_SHARE = 0.05
_FALLBACK_MIN_ROWS = 1000

# Names of the first two columns of X, for messages.
_COLUMN_NAMES = ("users", "items")

# Learned state with a private name; public learned state ends with "_".
_PRIVATE_STATE = frozenset(
    {"_id_kinds", "_seen", "_item_counts", "_positive_index", "_keras_model",
     "_optimizer_state", "_fields", "_settings", "_row_counts"}
)


class BaseGMF(RecommenderMixin, BaseEstimator):
    """Fit, export and score; subclasses set the loss and the targets."""

    _parameter_constraints: dict = {
        "n_factors": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "solver": [StrOptions({"auto", "sgd", "adam"})],
        "alpha": [Interval(Real, 0, None, closed="left"), StrOptions({"auto"})],
        "row_alpha": [Interval(Real, 0, None, closed="left"), StrOptions({"auto"})],
        "learning_rate": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "batch_size": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "learning_rate_schedule": [StrOptions({"auto", "constant", "cosine", "inverse"})],
        "max_iter": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "context_features": [None, StrOptions({"remaining"}), "array-like"],
        "handle_unknown": [StrOptions({"use_fallback", "ignore", "error"})],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    # "squared_error" or "log_loss", see skgmf._training.
    _loss = "squared_error"

    # The solver of solver="auto" for a (user, item) model; context fields need
    # "adam" (the compiled SGD kernel knows two fields).
    _auto_solver = "sgd"

    # Values of the "auto" parameters per solver, chosen on held-out training data
    # (benchmarks/tune_sgd.py for "sgd", benchmarks/tune_movielens.py for "adam");
    # a callable takes the number of training rows. Below _SMALL ratings the SGD
    # model is larger and trains longer: cheap there, and it pays on validation.
    _auto = {
        "sgd": {
            "n_factors": lambda n: 128 if n < _SMALL else 32,
            "max_iter": lambda n: 40 if n < _SMALL else 20,
            "alpha": lambda n: 0.05 if n < _SMALL else 0.04,
            "learning_rate": lambda n: 0.04 if n < _SMALL else 0.05,
            "learning_rate_schedule": "inverse",
            "row_alpha": 1.0,
        },
        "adam": {
            "n_factors": 32,
            "max_iter": 10,
            "alpha": 0.13,
            "learning_rate": 0.08,
            "learning_rate_schedule": "cosine",
            "row_alpha": 0.0,
        },
    }

    def _resolve_settings(self, n_rows, n_fields):
        """The solver and the values of the "auto" parameters for this fit."""
        solver = self.solver
        if solver == "auto":
            solver = self._auto_solver if n_fields == 2 else "adam"
        if solver == "sgd" and n_fields != 2:
            raise ValueError(
                f"solver='sgd' trains (user, item) models; X has {n_fields - 2} context "
                "fields, which need solver='adam' (or solver='auto')."
            )
        settings = {"solver": solver}
        for name, default in self._auto[solver].items():
            value = getattr(self, name)
            if isinstance(value, str) and value == "auto":
                value = default(n_rows) if callable(default) else default
            settings[name] = value
        if solver == "adam":
            why = "" if self.solver == "adam" else " (context fields need it)"
            if settings["learning_rate_schedule"] == "inverse":
                raise ValueError(
                    f"learning_rate_schedule='inverse' is only used with solver='sgd'; "
                    f"the solver here is 'adam'{why}, which takes 'cosine' or 'constant'."
                )
            if settings["row_alpha"]:
                warnings.warn(
                    f"row_alpha={settings['row_alpha']} is only used with solver='sgd'; "
                    f"the solver here is 'adam'{why}, which ignores it.",
                    UserWarning,
                    stacklevel=5,
                )
                settings["row_alpha"] = 0.0
        return settings

    def _current_learning_rate(self, settings):
        """``learning_rate`` as set now (``set_params`` between ``partial_fit`` calls)."""
        if isinstance(self.learning_rate, str):  # "auto": the fit's
            return settings["learning_rate"]
        return self.learning_rate

    def _fitted_settings(self):
        """The settings of the fit (a pickle of an older version: the parameters)."""
        settings = self.__dict__.get("_settings")
        if settings is None:  # fitted with Adam, before "auto" values existed
            settings = {"solver": "adam", "alpha": self.alpha, "row_alpha": 0.0,
                        "learning_rate": self.learning_rate}
        return settings

    def _check_backend(self):
        """Keras must run on TensorFlow; called once the data is validated."""
        from ._model import import_keras

        keras = import_keras()
        if keras.config.backend() != "tensorflow":
            raise RuntimeError(
                f"{type(self).__name__} trains with the TensorFlow backend of Keras, "
                f"but KERAS_BACKEND is {keras.config.backend()!r}. Set "
                "KERAS_BACKEND=tensorflow before Keras is first imported."
            )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        return tags

    # -- validation ------------------------------------------------------------

    def _validate_X(self, X, *, reset, y="no_validation", y_numeric=False):
        """``X`` (and ``y``) validated as sklearn does, ids checked per column.

        Returns the columns the model uses: user, item, then the context columns
        that ``context_features`` selects (chosen in ``fit``, when ``reset``).
        """
        columns = list(X.columns) if isinstance(X, pd.DataFrame) else None
        y_name = None if isinstance(y, str) else getattr(y, "name", None)
        check_user_item_names(columns)
        X = _prepare_X(X)
        options = {} if isinstance(y, str) else {"y_numeric": y_numeric}
        validated = validate_data(
            self, X, y, reset=reset, dtype=None, ensure_all_finite=False, **options
        )
        X, y = (validated, None) if isinstance(y, str) else validated
        if reset:
            if X.shape[1] < 2:
                raise ValueError(
                    f"X has {X.shape[1]} column (n_features = {X.shape[1]}), but "
                    f"{type(self).__name__} needs at least 2: users in column 0 and "
                    "items in column 1."
                )
            context = context_positions(
                self.context_features, X.shape[1], columns, type(self).__name__
            )
            check_context_columns(X, context, y, columns, y_name)
            self._fields = [0, 1, *context]
        fields = getattr(self, "_fields", None)  # None: pickled before context_features
        if fields is not None and len(fields) < X.shape[1]:
            X = X[:, fields]
        for f in range(X.shape[1]):
            check_ids_present(X[:, f], _column_where(f))
        return X if y is None else (X, y)

    # -- hooks for subclasses ------------------------------------------------

    def _check_targets(self, y):
        """``y`` as given, or a one-line ValueError that names ``y``; before validate_data."""
        return _check_numeric_y(y)

    def _encode_targets(self, y, classes=None):
        """``y`` as float32 training targets; may set fitted attributes.

        ``classes`` is the classifier's ``partial_fit`` argument (None otherwise).
        """
        raise NotImplementedError

    def _update_targets(self, y, classes=None):
        """``y`` of a ``partial_fit`` on a fitted estimator as float32 targets.

        Returns the targets and a dict of fitted attributes to set once the epoch
        has succeeded.
        """
        raise NotImplementedError

    def _epochs(self, idx, y, sample_weight, seed, seen=None):
        """Yield ``(perm, (idx, y, sample_weight))`` for every epoch.

        ``seen`` is ``(pairs, item_counts)`` of every row so far in a
        ``partial_fit`` (the classifier samples negatives from it), None in ``fit``.
        """
        rows = (idx, y, sample_weight)
        for perm in epoch_permutations(seed, len(y)):
            yield perm, rows

    # Whether _epochs yields new rows every epoch (the classifier's negatives).
    _fresh_rows_each_epoch = False

    def _validation_score(self, idx, y, sample_weight):
        """Score (higher is better) of encoded validation rows, for early stopping."""
        raise NotImplementedError

    # -- persistence ---------------------------------------------------------

    def __getstate__(self):
        # The Keras model is left out: it is rebuilt from the NumPy tables on
        # demand (see model_), so loading needs neither TensorFlow nor Keras. So is
        # Adam's state (twice the size of the tables): a loaded or copied
        # estimator's partial_fit starts it afresh.
        state = dict(super().__getstate__())
        state.pop("_keras_model", None)
        state.pop("_optimizer_state", None)
        if "_seen" in state:
            # Plain arrays rather than a scipy matrix, which skops does not trust.
            seen = state["_seen"]
            state["_seen"] = {"indptr": seen.indptr, "indices": seen.indices}
        from . import __version__

        state["_skgmf_version"] = __version__
        return state

    def __setstate__(self, state):
        from . import __version__
        from .exceptions import InconsistentVersionWarning

        state = dict(state)
        version = state.pop("_skgmf_version", None)
        if version != __version__:
            warnings.warn(
                InconsistentVersionWarning(
                    estimator_name=type(self).__name__,
                    current_skgmf_version=__version__,
                    original_skgmf_version=version,
                ),
                stacklevel=2,
            )
        if "model_" in state:
            # Written before model_ became a property: the pickle held the model.
            state["_keras_model"] = state.pop("model_")
        if isinstance(state.get("_seen"), dict):
            state["_seen"] = _seen_matrix(state["_seen"], state["categories_"])
        if "solver" not in state:
            # Written before the solver parameter: trained with Adam, on every column.
            state.setdefault("solver", "adam")
            state.setdefault("row_alpha", 0.0)
            state.setdefault("context_features",
                             "remaining" if state.get("n_features_in_", 2) > 2 else None)
        super().__setstate__(state)

    def __dir__(self):
        # inspect.getmembers (sklearn's HTML repr of fitted attributes, in Jupyter)
        # reads every name dir() lists: leave model_ out until it is built, so that
        # showing a loaded model does not import TensorFlow.
        # BaseEstimator.__dir__ keeps the names hasattr allows (available_if),
        # which would read model_ too: the same filter, model_ left out first.
        if self.__dict__.get("_keras_model") is not None:
            return super().__dir__()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=FutureWarning)
            return [name for name in object.__dir__(self)
                    if name != "model_" and hasattr(self, name)]

    @property
    def model_(self):
        """The Keras GMF network, rebuilt from the NumPy tables when first needed."""
        model = self.__dict__.get("_keras_model")
        if model is None:
            check_is_fitted(self)
            from ._model import build_gmf_from_weights

            self._check_backend()
            model = build_gmf_from_weights(
                self.factors_, self.biases_, self.coef_, self.intercept_
            )
            # Two threads may both build it; every caller gets the one that is kept.
            model = self.__dict__.setdefault("_keras_model", model)
        return model

    # -- fit -----------------------------------------------------------------

    def __sklearn_is_fitted__(self):
        # n_iter_ is set last in fit: a fit that failed part-way is no fit.
        return hasattr(self, "n_iter_")

    def _forget_fit(self):
        """Drop every fitted attribute, so that a failed fit leaves none behind."""
        for name in list(vars(self)):
            if (name.endswith("_") and not name.startswith("__")) or name in _PRIVATE_STATE:
                delattr(self, name)

    def _fit(self, X, y, sample_weight, **options):
        self._forget_fit()
        try:
            return self._fit_new(X, y, sample_weight, **options)
        except BaseException:
            self._forget_fit()
            raise

    def _partial_fit(self, X, y, sample_weight, classes=None):
        """One epoch over the rows of ``X``: a first one as ``fit`` starts, or more."""
        if not self.__sklearn_is_fitted__():
            return self._fit(X, y, sample_weight, partial=True, classes=classes)
        return self._update(X, y, sample_weight, classes)

    def _validated_rows(self, X, y, sample_weight, *, reset):
        """``X``, ``y`` and float32 weights, validated; rows of weight zero dropped.

        Everything about the data is checked here, before TensorFlow is imported.
        """
        y = self._check_targets(y)
        X, y = self._validate_X(X, reset=reset, y=y, y_numeric=self._loss != "log_loss")
        sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float32)
        if np.any(sample_weight < 0):
            raise ValueError(
                f"sample_weight must be non-negative; got {float(sample_weight.min())} "
                f"in row {int(np.argmin(sample_weight))}."
            )
        keep = sample_weight > 0
        if not keep.any():
            raise ValueError("sample_weight must have at least one positive entry.")
        return X[keep], y[keep], sample_weight[keep]

    def _fit_new(self, X, y, sample_weight, *, partial=False, classes=None):
        # partial: the first partial_fit, one epoch at the constant learning rate
        # and no validation split (MLPRegressor's partial_fit ignores early
        # stopping too).
        X, y, sample_weight = self._validated_rows(X, y, sample_weight, reset=True)
        y = self._encode_targets(y, classes=classes)

        init_seed, shuffle_seed, split_seed = spawn_seeds(self._rng(), 3)
        encoded = [encode_ids(X[:, f], field=f) for f in range(X.shape[1])]
        self._id_kinds = [id_kind(ids) for ids, _ in encoded]
        categories = [ids for ids, _ in encoded]
        idx = np.column_stack([col_idx for _, col_idx in encoded]).astype(np.int32)
        # Sort rows by (ids, y, weight) so that fitting ignores the input row order.
        order = _canonical_order(idx, y, sample_weight, [len(ids) for ids in categories])
        idx, y, sample_weight = idx[order], y[order], sample_weight[order]
        all_idx, all_y = idx, y
        validation = None
        if self.early_stopping and not partial:
            train_rows, val_rows = self._split_validation(y, split_seed)
            validation = (idx[val_rows], y[val_rows], sample_weight[val_rows])
            idx, y, sample_weight = idx[train_rows], y[train_rows], sample_weight[train_rows]
            categories = _restrict_to_training(categories, idx, validation[0], all_idx)
        self.categories_ = categories
        self._seen, self._item_counts = self._interactions(
            all_idx, all_y, [len(ids) for ids in categories]
        )
        settings = self._resolve_settings(len(y), idx.shape[1])
        max_iter, schedule = settings["max_iter"], settings["learning_rate_schedule"]
        if partial:
            max_iter, schedule = 1, "constant"
        validate = None
        if validation is not None:

            def validate():
                if settings["solver"] == "adam":
                    self._export_weights()
                return self._validation_score(*validation)

        intercept = self._initial_intercept(y, sample_weight)
        sizes = [len(ids) for ids in self.categories_]
        if settings["solver"] == "sgd":
            from . import _sgd

            rng = np.random.default_rng(init_seed)
            n_factors = settings["n_factors"]
            # Set before training, which updates them in place: validate() reads them.
            self.factors_ = [rng.normal(0, _SGD_INIT_STD, (size, n_factors))
                             .astype(np.float32) for size in sizes]
            self.biases_ = [np.zeros(size, np.float32) for size in sizes]
            self.coef_ = np.ones(n_factors, np.float32)
            self.intercept_ = float(intercept)
            rates = _sgd.epoch_learning_rates(settings["learning_rate"], schedule, max_iter)
            # Weights in units of their mean: their scale does not scale the steps.
            settings["weight_scale"] = float(np.mean(sample_weight, dtype=np.float64))
            self._row_counts = _row_counts(idx, sample_weight / settings["weight_scale"],
                                           sizes)
            loss_curve, validation_scores, converged, kept = _sgd.train(
                self.factors_, self.biases_, self.coef_, self.intercept_,
                self._epochs(idx, y, sample_weight, shuffle_seed),
                fixed_rows=not self._fresh_rows_each_epoch,
                loss=self._loss, rates=rates, alpha=settings["alpha"],
                row_alpha=settings["row_alpha"], row_counts=self._row_counts,
                weight_scale=settings["weight_scale"], validate=validate, tol=self.tol,
                n_iter_no_change=self.n_iter_no_change, verbose=self.verbose,
                seed=shuffle_seed,
            )
            # partial_fit continues at the share of learning_rate the schedule reached
            # for the tables kept (at least _MIN_UPDATE_SHARE: a cosine ends near 0).
            settings["update_rate_factor"] = max(rates[kept] / rates[0], _MIN_UPDATE_SHARE)
            self._optimizer_state = None
        else:
            self._check_backend()
            from ._model import build_gmf
            from ._training import train

            self._keras_model = build_gmf(
                sizes, settings["n_factors"], intercept=intercept, seed=init_seed
            )
            loss_curve, validation_scores, converged, self._optimizer_state = train(
                self._keras_model,
                self._epochs(idx, y, sample_weight, shuffle_seed),
                loss=self._loss,
                alpha=settings["alpha"],
                learning_rate=settings["learning_rate"],
                batch_size=self._batch_size(self._rows_per_epoch(y)),
                max_iter=max_iter,
                schedule=schedule,
                tol=self.tol,
                n_iter_no_change=self.n_iter_no_change,
                validate=validate,
                verbose=self.verbose,
            )
            self._export_weights()
        self._settings = settings
        self.loss_curve_, self.validation_scores_ = loss_curve, validation_scores
        self.best_validation_score_ = max(validation_scores) if validation_scores else None
        # Last: it marks the fit as complete (see __sklearn_is_fitted__).
        self.n_iter_ = len(loss_curve)
        # A decaying schedule ends at max_iter by design; a constant one whose last
        # epoch still improved has not converged.
        if not converged and not partial and schedule == "constant":
            warnings.warn(
                f"{type(self).__name__}: max_iter={max_iter} epochs reached while "
                f"the {'validation score' if validation else 'training loss'} was "
                "still improving by more than tol; increase max_iter to train longer.",
                ConvergenceWarning,
            )
        return self

    def _update(self, X, y, sample_weight, classes):
        """One epoch of ``partial_fit`` on a fitted estimator, from its current weights.

        New ids get new rows (initialised as ``fit`` initialises them), inserted
        where the sorted vocabulary puts them; every per-row array moves with them.
        Nothing is changed unless the epoch succeeds.
        """
        X, y, sample_weight = self._validated_rows(X, y, sample_weight, reset=False)
        y, fitted_targets = self._update_targets(y, classes)
        categories, moves, columns = [], [], []
        for f, ids in enumerate(self.categories_):
            warn_unknown_ids(X[:, f], None, ids, self._fitted_kind(f), _column_where(f),
                             "they become new ids")
            ids, move, col = _extend_ids(ids, X[:, f], field=f)
            categories.append(ids)
            moves.append(move)
            columns.append(col)
        sizes = [len(ids) for ids in categories]
        idx = np.column_stack(columns).astype(np.int32, copy=False)
        order = _canonical_order(idx, y, sample_weight, sizes)
        idx, y, sample_weight = idx[order], y[order], sample_weight[order]
        seen, item_counts = self._interactions(idx, y, sizes, moves)

        init_seed, shuffle_seed, _ = spawn_seeds(self._rng(), 3)
        # Every call draws other new rows and row orders, also for an int random_state.
        rng = np.random.default_rng([init_seed, self.n_iter_])
        n_factors = len(self.coef_)
        settings = self._fitted_settings()
        std = _SGD_INIT_STD if settings["solver"] == "sgd" else INIT_STD
        factors = [
            _move_rows(table, move, size,
                       lambda n: rng.normal(0, std, (n, n_factors)).astype(np.float32))
            for table, move, size in zip(self.factors_, moves, sizes)
        ]
        biases = [_move_rows(table, move, size)
                  for table, move, size in zip(self.biases_, moves, sizes)]
        self._solve_new_rows(factors, biases, moves, idx, y, sample_weight)
        epochs = self._epochs(idx, y, sample_weight, [shuffle_seed, self.n_iter_],
                              seen=(seen, item_counts))

        if settings["solver"] == "sgd":
            from . import _sgd

            # Copies: the fitted tables stay as they are unless the epoch succeeds.
            factors = [np.array(table, copy=True) for table in factors]
            biases = [np.array(table, copy=True) for table in biases]
            # The per-row penalty counts every rating so far, not only this call's.
            counts = [
                _move_rows(c, move, size) + added for c, move, size, added in zip(
                    self._row_counts, moves, sizes,
                    _row_counts(idx, sample_weight / settings["weight_scale"], sizes))
            ]
            loss_curve, _, _, _ = _sgd.train(
                factors, biases, self.coef_, self.intercept_, epochs, loss=self._loss,
                fixed_rows=not self._fresh_rows_each_epoch,
                rates=[self._current_learning_rate(settings)
                       * settings["update_rate_factor"]],
                alpha=settings["alpha"], row_alpha=settings["row_alpha"],
                row_counts=counts, weight_scale=settings["weight_scale"], tol=self.tol,
                n_iter_no_change=self.n_iter_no_change, verbose=self.verbose,
                seed=shuffle_seed,
            )
            model, state = None, None
        else:
            self._check_backend()
            from ._model import build_gmf_from_weights
            from ._training import AdamState, train

            state = getattr(self, "_optimizer_state", None)
            if state is None:  # loaded or copied: Adam starts afresh
                state = AdamState.zeros(sizes, n_factors)
            else:
                state = state._replace(tables=[
                    tuple(_move_rows(m, move, size) for m in moments)
                    for moments, move, size in zip(state.tables, moves, sizes)
                ])
            # Training writes into the model: out of the cache until it succeeds, so
            # a failed epoch leaves model_ to be rebuilt from the unchanged tables.
            model = self.__dict__.pop("_keras_model", None)
            if model is None or sizes != [len(ids) for ids in self.categories_]:
                model = build_gmf_from_weights(factors, biases, self.coef_, self.intercept_)
            loss_curve, _, _, state = train(
                model,
                epochs,
                loss=self._loss,
                alpha=settings["alpha"],
                learning_rate=self._current_learning_rate(settings)
                * self._update_rate_factor,
                batch_size=self._batch_size(self._rows_per_epoch(y)),
                max_iter=1,
                schedule="constant",
                tol=self.tol,
                n_iter_no_change=self.n_iter_no_change,
                verbose=self.verbose,
                state=state,
            )
        self.categories_ = categories
        self._id_kinds = [id_kind(ids) for ids in categories]
        self._seen, self._item_counts = seen, item_counts
        for name, value in fitted_targets.items():
            setattr(self, name, value)
        if model is None:
            self.__dict__.pop("_keras_model", None)  # rebuilt from the tables
            self.factors_, self.biases_, self._row_counts = factors, biases, counts
        else:
            self._keras_model = model
            self._export_weights()
        self._optimizer_state = state
        self.loss_curve_ = [*self.loss_curve_, *loss_curve]
        self.n_iter_ += len(loss_curve)
        return self

    # partial_fit on a model fitted with solver="adam" steps at this share of
    # learning_rate (see partial_fit's docstring): Adam moves every coordinate a
    # batch touches by about the rate, whatever its gradient, and a fitted model
    # needs small steps. solver="sgd" steps in proportion to the gradient and
    # continues at the rate its schedule reached.
    _update_rate_factor = 0.1

    def _solve_new_rows(self, factors, biases, moves, idx, y, sample_weight):
        """Set the rows of ids new in a ``partial_fit`` in place (hook; random here)."""

    def _rows_per_epoch(self, y):
        """Training rows of one epoch (the classifier adds sampled negatives)."""
        return len(y)

    def _batch_size(self, n_rows):
        """``batch_size``, or for ``"auto"`` about ``30 * sqrt(n_rows)``.

        Rounded to a power of two within [256, 131072]: 8192 for ML-100K's 80,000
        training ratings, 32768 for ML-1M's 800,000, 131072 for 25 million. Chosen
        with the default learning rate and epochs on held-out training ratings of
        both (benchmarks/tune_movielens.py): small data sets want more, smaller
        steps per epoch; large ones a step cost spread over more ratings.
        """
        if self.batch_size != "auto":
            return self.batch_size
        return int(2 ** np.clip(np.round(np.log2(30 * np.sqrt(max(n_rows, 1)))), 8, 17))

    def _initial_intercept(self, y, sample_weight):
        return np.average(y, weights=sample_weight)

    def _positive_rows(self, y):
        """Rows that count as interactions for popularity (all, for ratings)."""
        return np.ones(len(y), dtype=bool)

    def _interactions(self, idx, y, sizes, moves=None, *, count_seen=True):
        """The (user, item) pairs seen and the items' popularity (interactions).

        Those of the rows ``idx``; with ``moves`` (the new row of every old user
        and item row, in ``partial_fit``) also the ones stored so far. With
        ``count_seen=False``, pairs stored already do not count again.
        """
        from scipy import sparse

        known = (idx[:, 0] >= 0) & (idx[:, 1] >= 0)
        users, items = idx[known, 0], idx[known, 1]
        counted = self._positive_rows(y)[known]
        if not count_seen and moves is not None:
            old_row = [np.full(size, -1, dtype=np.int64) for size in sizes]
            for f in range(2):
                old_row[f][moves[f]] = np.arange(len(moves[f]))
            u, i = old_row[0][users], old_row[1][items]
            old = (u >= 0) & (i >= 0)
            stored = np.zeros(len(users), dtype=bool)
            stored[old] = np.asarray(self._seen[u[old], i[old]]).ravel()
            counted = counted & ~stored
        counts = np.bincount(items[counted], minlength=sizes[1])
        if moves is not None:
            old = self._seen.tocoo()
            users = np.concatenate([moves[0][old.row], users])
            items = np.concatenate([moves[1][old.col], items])
            counts[moves[1]] += self._item_counts
        seen = sparse.csr_matrix(
            (np.ones(len(users), dtype=bool), (users, items)), shape=(sizes[0], sizes[1])
        )
        seen.sum_duplicates()
        return seen, counts

    def _rng(self):
        """``random_state``, but fresh OS entropy instead of NumPy's global state."""
        if self.random_state is None:
            return np.random.RandomState(np.random.SeedSequence().generate_state(1))
        return self.random_state

    def _split_validation(self, y, seed):
        """Training and validation rows: ``validation_fraction`` held out at random."""
        n_samples = len(y)
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
        from ._model import get_gmf_weights

        self.factors_, self.biases_, self.coef_, self.intercept_ = get_gmf_weights(
            self._keras_model
        )

    # -- scoring -------------------------------------------------------------

    def _encode_X(self, X):
        """Validated ``X`` as embedding rows, -1 for unknown ids (or raise)."""
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        idx = np.column_stack(
            [lookup_ids(ids, X[:, f], field=f) for f, ids in enumerate(self.categories_)]
        )
        self._warn_unknown(X, idx)
        if self.handle_unknown == "error" and (idx < 0).any():
            f = int(np.nonzero((idx < 0).any(axis=0))[0][0])
            unknown = X[idx[:, f] < 0, f].tolist()
            raise ValueError(
                f"Found {len(set(unknown))} unknown ids in column {f} "
                f"of X during predict, e.g. {unknown[0]!r}. Use "
                "handle_unknown='use_fallback' (or 'ignore', without warnings) to "
                "predict them from the known biases."
            )
        return idx

    def _warn_unknown(self, X, idx):
        """Warn about ids of another kind than fit's, or predictions that fall back.

        With ``handle_unknown="use_fallback"``, also when a column holds only
        unknown ids, or when more than ``_FALLBACK_SHARE`` of the rows of a
        prediction of at least ``_FALLBACK_MIN_ROWS`` rows fall back.
        """
        kinds = getattr(self, "_id_kinds", None) or [None] * len(self.categories_)
        loud = self.handle_unknown == "use_fallback"
        for f, fitted_kind in enumerate(kinds):
            warn_unknown_ids(
                X[:, f], idx[:, f] if loud else None,
                self.categories_[f], fitted_kind, _column_where(f),
                "its predictions fall back to the biases of the other columns",
            )
        if not loud or len(idx) < _FALLBACK_MIN_ROWS:
            return
        unknown = (idx[:, :2] < 0).any(axis=1)
        share = unknown.mean()
        if share > _FALLBACK_SHARE and not (idx[:, :2] < 0).all(axis=0).any():
            warnings.warn(
                f"{share:.1%} of the {len(idx)} rows ({int(unknown.sum())}) have a user "
                "or an item not seen in fit; their predictions fall back to the global "
                "mean plus the known bias. If this is a cross-validation, the split is "
                "likely unshuffled on data sorted by user (load_movielens keeps the "
                "file's order): use KFold(n_splits, shuffle=True, random_state=...). For "
                "a deliberate cold-start evaluation, set handle_unknown='ignore'.",
                UserWarning,
                stacklevel=3,
            )

    def _decision_idx(self, idx):
        """Raw model output of encoded rows, in chunks of bounded memory."""
        out = np.empty(len(idx), dtype=np.float64)
        fused = None
        if len(self.factors_) == 2 and len(idx) > sum(map(len, self.factors_)):
            # Many rows: fold w and the biases into the two tables once, so that
            # a score is one dot product, mu + [w p_u, b_u, 1] . [q_i, 1, b_i].
            user = np.column_stack([self.factors_[0] * self.coef_, self.biases_[0],
                                    np.ones(len(self.biases_[0]), np.float32)])
            item = np.column_stack([self.factors_[1],
                                    np.ones(len(self.biases_[1]), np.float32),
                                    self.biases_[1]])
            fused = (user, item)
        for start in range(0, len(idx), _PREDICT_CHUNK):
            rows = idx[start : start + _PREDICT_CHUNK]
            chunk = out[start : start + len(rows)]
            if fused is None:
                chunk[:] = self._decision_rows(rows)
                continue
            # Rows with an unknown id (usually few) take the masked formula.
            known = (rows >= 0).all(axis=1)
            if not known.all():
                chunk[~known] = self._decision_rows(rows[~known])
                rows = rows[known]
            chunk[known] = self.intercept_ + np.einsum(
                "ij,ij->i", fused[0][rows[:, 0]], fused[1][rows[:, 1]]
            )
        return out

    def _decision_rows(self, idx):
        """The model's formula in NumPy; index -1 (unknown) selects a zero row."""
        out = np.full(len(idx), self.intercept_, dtype=np.float64)
        vectors = []
        for f, (factors, biases) in enumerate(zip(self.factors_, self.biases_)):
            rows = idx[:, f]
            known = rows >= 0
            if known.all():  # the usual case: no masking passes
                out += biases[rows]
                vectors.append(factors[rows])
                continue
            rows = np.where(known, rows, 0)
            out += np.where(known, biases[rows], 0.0)
            vectors.append(factors[rows] * known[:, None])
        if len(vectors) == 1:  # mu + b + w^T v, as build_gmf computes it
            return out + vectors[0] @ self.coef_
        if len(vectors) == 2:
            # w^T (p * q) without the (n, k) product: one fused pass.
            return out + np.einsum("ij,ij,j->i", vectors[0], vectors[1], self.coef_,
                                   optimize=False)
        # Sum of pairwise products: ((sum v)^2 - sum v^2) / 2, the FM identity.
        total = np.sum(vectors, axis=0)
        interaction = (total**2 - np.sum(np.square(vectors), axis=0)) / 2
        return out + interaction @ self.coef_

    @property
    def users_(self):
        check_is_fitted(self)
        return self.categories_[0]

    @property
    def items_(self):
        check_is_fitted(self)
        return self.categories_[1]

    @property
    def user_factors_(self):
        check_is_fitted(self)
        return self.factors_[0]

    @property
    def item_factors_(self):
        check_is_fitted(self)
        return self.factors_[1]

    @property
    def user_bias_(self):
        check_is_fitted(self)
        return self.biases_[0]

    @property
    def item_bias_(self):
        check_is_fitted(self)
        return self.biases_[1]


def _row_counts(idx, sample_weight, sizes):
    """Summed sample weight of every row of the first two fields (float64)."""
    return [np.bincount(idx[:, f], weights=sample_weight, minlength=sizes[f])
            for f in range(2)]


def _move_rows(table, move, n_rows, new_rows=None):
    """``table`` with row ``r`` moved to row ``move[r]`` of ``n_rows`` rows.

    The other rows are ``new_rows(n)``, in order, or zeros when None. ``table``
    itself when no row was added.
    """
    if n_rows == len(table):
        return table
    out = np.zeros((n_rows, *table.shape[1:]), dtype=table.dtype)
    out[move] = table
    if new_rows is not None:
        added = np.ones(n_rows, dtype=bool)
        added[move] = False
        out[added] = new_rows(n_rows - len(table))
    return out


def _concatenate_ids(ids, values):
    """Known and new ids in one array, as they would be in one ``fit``.

    Arrays of one kind keep it (int32 and int64 ids are int64); others become an
    object array of Python values, so that ``1`` never turns into ``"1"`` and
    int64 ids beside uint64 ids never into floats.
    """
    if np.result_type(ids.dtype, values.dtype).kind == ids.dtype.kind == values.dtype.kind:
        return np.concatenate([ids, values])
    return np.concatenate([ids.astype(object), values.astype(object)])


def _extend_ids(ids, values, *, field):
    """The vocabulary ``ids`` grown by the ids of ``values`` it lacks, sorted as in fit.

    Returns
    -------
    ids : ndarray
        The grown vocabulary (``ids`` itself when nothing is new).
    move : ndarray of shape (len(ids),), dtype=int32
        The new row of every old row.
    idx : ndarray of shape (len(values),), dtype=int32
        The row of every value.
    """
    idx = lookup_ids(ids, values, field=field)
    new = idx < 0
    if not new.any():
        return ids, np.arange(len(ids), dtype=np.int32), idx
    # Encoded together, as one fit would encode them: mixed types sort as there.
    grown, rows = encode_ids(_concatenate_ids(ids, values[new]), field=field)
    move = rows[: len(ids)]
    idx[new] = rows[len(ids) :]
    idx[~new] = move[idx[~new]]
    return grown, move, idx


def _seen_matrix(arrays, categories):
    """The boolean CSR matrix of (user, item) pairs seen in fit, from its arrays."""
    from scipy import sparse

    indices = arrays["indices"]
    shape = (len(categories[0]), len(categories[1]))
    data = np.ones(len(indices), dtype=bool)
    return sparse.csr_matrix((data, indices, arrays["indptr"]), shape=shape)


def _column_name(f):
    return _COLUMN_NAMES[f] if f < len(_COLUMN_NAMES) else f"field {f}"


def _column_where(f):
    """``"Column 0 (users) of X"``: column ``f`` of X, for messages."""
    return f"Column {f} ({_column_name(f)}) of X"


def _prepare_X(X):
    """Reject 1-D input in one line; keep the integer ids of a DataFrame integers."""
    if isinstance(X, pd.DataFrame):
        return _prepare_frame(X)
    if hasattr(X, "ndim"):
        ndim = X.ndim
    elif isinstance(X, (list, tuple)):
        # The first entry tells a list of ids from a list of rows, without copying
        # the whole list into an array.
        try:
            ndim = 1 if len(X) and np.ndim(X[0]) == 0 else None
        except (TypeError, ValueError):
            ndim = None
    else:
        ndim = None  # ragged, generators, ...: validate_data says what is wrong
    if ndim == 1:
        raise ValueError(
            f"Expected a 2-D X of (user, item) rows, got a 1-D array of "
            f"{len(X)} values. Reshape your data to one (user, item) row per rating."
        )
    return X


def _prepare_frame(X):
    """A DataFrame whose integer id columns survive the conversion to one array.

    Nullable ``Int64`` columns become NumPy integers (NA is a missing id). Integer
    columns beside float columns (or ``int64`` beside ``uint64``) would become
    floats in one NumPy array, which turns ``1`` into ``1.0`` and merges ids beyond
    2**53: they are passed as Python ints in an object array instead.
    """
    duplicated = X.columns[X.columns.duplicated()]
    if len(duplicated):
        raise ValueError(
            f"X has duplicate column names, e.g. {plain_value(duplicated[0])!r}; "
            "give every column its own name."
        )
    columns, dtypes = {}, []
    for f in range(X.shape[1]):  # by position: names may be anything
        dtype = X.dtypes.iloc[f]
        if pd.api.types.is_extension_array_dtype(dtype) and (
            pd.api.types.is_integer_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)
        ):
            column = X.iloc[:, f]
            if column.isna().any():
                raise ValueError(
                    f"{_column_where(f)} holds missing ids (NA); every user and item "
                    "needs an id."
                )
            dtype = dtype.numpy_dtype
            columns[f] = column.to_numpy(dtype=dtype)
        dtypes.append(dtype if isinstance(dtype, np.dtype) else np.dtype(object))
    try:
        common = np.result_type(*dtypes).kind
    except TypeError:
        # No common dtype (datetime64 beside int64), which check_array needs.
        return X.astype(object)
    if common == "f":
        for f, dtype in enumerate(dtypes):
            if dtype.kind in "iu":
                values = columns[f] if f in columns else X.iloc[:, f].to_numpy()
                columns[f] = values.astype(object)
    if not columns:
        return X
    X = X.copy(deep=False)
    for f, values in columns.items():
        X.isetitem(f, values)
    return X


def _check_numeric_y(y):
    """Ratings as numbers, or a one-line error that names ``y``."""
    if y is None:
        return y  # validate_data says that y is required
    try:
        values = np.asarray(y)
    except (TypeError, ValueError):
        return y  # ragged and the like: validate_data says what is wrong
    if values.dtype.kind in "biufc":
        return y  # complex: validate_data rejects it
    try:
        values.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"y must hold numeric ratings: {exc}.") from None
    return y


def _canonical_order(idx, y, sample_weight, sizes):
    """Rows in order of (ids, y, sample_weight): the same for any input row order.

    A least-significant-first radix sort on the ids (linear for tables of up to
    65536 rows); the full lexicographic sort only when some (id, id, ...) tuple
    repeats, so that y and the weight must break the tie.
    """
    order = np.arange(len(idx))
    for f in reversed(range(idx.shape[1])):
        order = order[stable_argsort(idx[order, f], sizes[f])]
    sorted_idx = idx[order]
    if len(order) > 1 and (sorted_idx[1:] == sorted_idx[:-1]).all(axis=1).any():
        return np.lexsort([sample_weight, y, *idx.T[::-1]])
    return order


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
