"""BaseGMF: the estimators' sklearn-facing orchestration (validate, encode, train, assign)."""
# License: BSD 3 clause

import warnings
from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from ._columns import (
    check_context_columns,
    check_numeric_y,
    check_user_item_names,
    column_where,
    context_positions,
    prepare_X,
)
from ._encoding import canonical_order, check_ids_present, plain_value, warn_unknown_ids
from ._interactions import Interactions, row_weights
from ._model import INIT_STD
from ._params import grow_parameters, init_parameters, move_rows
from ._random import epoch_permutations, spawn_seeds
from ._recommend import RecommenderMixin
from ._state import FittedState, flatten, residual_std_of, unflatten
from ._vocabulary import Vocabulary

# Training rows below which the "auto" SGD model is larger (see BaseGMF._auto).
_SMALL = 200_000

# partial_fit with solver="sgd" steps at no less than this share of learning_rate.
_MIN_UPDATE_SHARE = 0.05

# Standard deviation of the initial embeddings: of solver="sgd", chosen on
# validation (benchmarks/tune_sgd.py: 0.01 beat Surprise's 0.1 on ML-1M); of
# solver="adam", the one build_gmf draws from.
_INIT_STD = {"sgd": 0.01, "adam": INIT_STD}

# predict warns when more than this share of the rows of a prediction of at least
# _FALLBACK_MIN_ROWS rows has an unknown user or item (handle_unknown="use_fallback").
_FALLBACK_SHARE = 0.05
_FALLBACK_MIN_ROWS = 1000

# Learned state with a private name; public learned state ends with "_".
_PRIVATE_STATE = frozenset(
    {"_state", "_keras_model", "_optimizer_state", "_fields", "_settings",
     "_positive_index"}
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

    # "squared_error" or "log_loss", see skgmf._adam and skgmf._sgd.
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
        from ._backend import check_backend

        check_backend(type(self).__name__)

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
        X = prepare_X(X)
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
            check_ids_present(X[:, f], column_where(f))
        return X if y is None else (X, y)

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

    # -- hooks for subclasses ------------------------------------------------

    def _check_targets(self, y):
        """``y`` as given, or a one-line ValueError that names ``y``; before validate_data."""
        return check_numeric_y(y)

    def _encode_targets(self, y, classes=None):
        """``y`` as float32 training targets; may set fitted attributes (``classes_``).

        ``classes`` is the classifier's ``partial_fit`` argument (None otherwise).
        """
        raise NotImplementedError

    def _update_targets(self, y, classes=None):
        """``y`` of a ``partial_fit`` on a fitted estimator as float32 targets."""
        raise NotImplementedError

    def _rating_range(self, y, previous=None):
        """The regressor's clipping range of the targets so far; None to score raw."""
        return None

    def _sampler(self, idx, y, n_items, interactions=None):
        """What draws the rows of the epochs besides ``idx`` (negatives), or None.

        ``interactions`` holds every pair so far in a ``partial_fit``; None in ``fit``.
        """
        return None

    def _epochs(self, idx, y, sample_weight, seed, sampler=None, ordered=True):
        """Yield ``(perm, (idx, y, sample_weight))`` for every epoch, or with
        ``ordered=False`` the rows alone (the SGD engine orders them itself)."""
        rows = (idx, y, sample_weight)
        if not ordered:
            while True:
                yield rows
        for perm in epoch_permutations(seed, len(y)):
            yield perm, rows

    # Whether _epochs yields new rows every epoch (the classifier's negatives).
    _fresh_rows_each_epoch = False

    def _validation_scorer(self, rows, seed, sampler, rating_range):
        """``score(params)`` of the held-out ``rows`` (higher is better)."""
        raise NotImplementedError

    def _solve_new_rows(self, params, moves, idx, y, sample_weight):
        """The parameters with the rows of ids new in a ``partial_fit`` set (hook)."""
        return params

    def _rows_per_epoch(self, y):
        """Training rows of one epoch (the classifier adds sampled negatives)."""
        return len(y)

    def _initial_intercept(self, y, sample_weight):
        return np.average(y, weights=sample_weight)

    def _positive_rows(self, y):
        """Rows that count as interactions for popularity (all, for ratings)."""
        return np.ones(len(y), dtype=bool)

    # -- persistence ---------------------------------------------------------

    def __getstate__(self):
        # The fitted state is flattened to arrays and plain Python (skops trusts
        # those). The Keras model is left out: it is rebuilt from the NumPy tables
        # on demand (see model_), so loading needs neither TensorFlow nor Keras. So
        # is Adam's state (twice the size of the tables): a loaded or copied
        # estimator's partial_fit starts it afresh.
        state = dict(super().__getstate__())
        state.pop("_keras_model", None)
        state.pop("_optimizer_state", None)
        fitted = state.pop("_state", None)
        if fitted is not None:
            state.update(flatten(fitted))
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
        model = state.pop("model_", None)  # before model_ became a property
        if model is not None and "factors_" not in state:
            from ._model import get_gmf_weights

            factors, biases, coef, intercept = get_gmf_weights(model)
            state.update(factors_=factors, biases_=biases, coef_=coef,
                         intercept_=intercept)
        fitted = unflatten(state)
        if fitted is not None:
            state["_state"] = fitted
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
        return [name for name in object.__dir__(self)
                if name != "model_" and hasattr(self, name)]

    @property
    def model_(self):
        """The Keras GMF network, built from the NumPy parameters when first read."""
        state = self._fitted()
        cached = self.__dict__.get("_keras_model")
        if cached is not None and cached[0] is state:
            return cached[1]
        from ._params import to_keras

        self._check_backend()
        built = (state, to_keras(state.params))
        # Two threads may both build it; every caller gets the one kept.
        cached = self.__dict__.setdefault("_keras_model", built)
        if cached[0] is not state:  # built before an update
            self.__dict__["_keras_model"] = cached = built
        return cached[1]

    # -- the fitted state ----------------------------------------------------

    def __sklearn_is_fitted__(self):
        # n_iter_ is set last in fit: a fit that failed part-way is no fit.
        return "_state" in self.__dict__ and hasattr(self, "n_iter_")

    def _fitted(self):
        """The fitted state (one object: read it once per call), or NotFittedError."""
        check_is_fitted(self)
        return self._state

    def _assign(self, state):
        """Make ``state`` the model, in one statement (readers see old or new)."""
        self._state = state
        self.__dict__.pop("_keras_model", None)  # built from the new state when read

    @property
    def categories_(self):
        return [v.ids for v in self._fitted().vocabularies]

    @property
    def factors_(self):
        return list(self._fitted().params.factors)

    @property
    def biases_(self):
        return list(self._fitted().params.biases)

    @property
    def coef_(self):
        return self._fitted().params.coef

    @property
    def intercept_(self):
        return self._fitted().params.intercept

    @property
    def users_(self):
        return self._fitted().vocabularies[0].ids

    @property
    def items_(self):
        return self._fitted().vocabularies[1].ids

    @property
    def user_factors_(self):
        return self._fitted().params.factors[0]

    @property
    def item_factors_(self):
        return self._fitted().params.factors[1]

    @property
    def user_bias_(self):
        return self._fitted().params.biases[0]

    @property
    def item_bias_(self):
        return self._fitted().params.biases[1]

    # -- fit -----------------------------------------------------------------

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

    def _fit_new(self, X, y, sample_weight, *, partial=False, classes=None):
        """ids -> rows -> parameters: validate, encode, split, train, assign.

        ``partial``: the first ``partial_fit``, one epoch at the constant learning
        rate and no validation split (MLPRegressor's ``partial_fit`` ignores early
        stopping too).
        """
        X, y, sample_weight = self._validated_rows(X, y, sample_weight, reset=True)
        y = self._encode_targets(y, classes=classes)
        init_seed, shuffle_seed, split_seed = spawn_seeds(self._rng(), 3)

        vocabularies, columns = zip(*(Vocabulary.fit(X[:, f], field=f)
                                      for f in range(X.shape[1])))
        idx = np.column_stack(columns).astype(np.int32)
        # Sorted by (ids, y, weight), so that fitting ignores the input row order.
        order = canonical_order(idx, y, sample_weight, [len(v) for v in vocabularies])
        idx, y, sample_weight = idx[order], y[order], sample_weight[order]
        all_idx, all_y, validation = idx, y, None
        if self.early_stopping and not partial:
            train_rows, val_rows = self._split_validation(y, split_seed)
            validation = (idx[val_rows], y[val_rows], sample_weight[val_rows])
            idx, y, sample_weight = idx[train_rows], y[train_rows], sample_weight[train_rows]
            # Ids only the validation rows have get no row: unknown there, as in predict.
            vocabularies = _restrict_to_training(vocabularies, idx, validation[0], all_idx)
        sizes = [len(v) for v in vocabularies]

        settings = self._resolve_settings(len(y), idx.shape[1])
        max_iter, schedule = settings["max_iter"], settings["learning_rate_schedule"]
        if partial:
            max_iter, schedule = 1, "constant"
        weights = None
        if settings["solver"] == "sgd":
            # Weights in units of their mean: their scale does not scale the steps.
            settings["weight_scale"] = float(np.mean(sample_weight, dtype=np.float64))
            weights = row_weights(idx, sample_weight / settings["weight_scale"], sizes)
        interactions = Interactions.from_rows(all_idx, self._positive_rows(all_y), sizes,
                                              weights)
        rating_range = self._rating_range(all_y)
        params = init_parameters(
            sizes, settings["n_factors"], intercept=self._initial_intercept(y, sample_weight),
            std=_INIT_STD[settings["solver"]], seed=init_seed,
            coef="ones" if settings["solver"] == "sgd" else "lecun_uniform",
        )
        sampler = self._sampler(idx, y, sizes[1])
        validate = None
        if validation is not None:
            validate = self._validation_scorer(validation, split_seed, sampler, rating_range)
        trained = self._train(
            params, idx, y, sample_weight, settings, interactions, sampler=sampler,
            seed=shuffle_seed, learning_rate=settings["learning_rate"],
            max_iter=max_iter, schedule=schedule, validate=validate,
        )
        params, loss_curve, scores, converged, optimizer_state, share = trained
        if settings["solver"] == "sgd":
            # partial_fit continues at the share of learning_rate the schedule
            # reached (at least _MIN_UPDATE_SHARE: a cosine ends near 0).
            settings["update_rate_factor"] = max(share, _MIN_UPDATE_SHARE)
        self._settings = settings
        self._optimizer_state = optimizer_state
        residual_std = None if rating_range is None else residual_std_of(loss_curve)
        self._assign(FittedState(tuple(vocabularies), params.frozen(), interactions,
                                 rating_range, residual_std))
        self.loss_curve_, self.validation_scores_ = loss_curve, scores
        self.best_validation_score_ = max(scores) if scores else None
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
        """One epoch of ``partial_fit`` on a fitted estimator, from its parameters.

        New ids get new rows (solved or drawn, see ``_solve_new_rows``), inserted
        where the sorted vocabulary puts them; the parameters, Adam's moments and
        the interactions move with them. The new state is assigned at once, only
        if the epoch succeeds.
        """
        X, y, sample_weight = self._validated_rows(X, y, sample_weight, reset=False)
        y = self._update_targets(y, classes)
        old = self._fitted()
        settings = self._fitted_settings()
        vocabularies, moves, columns = [], [], []
        for f, vocabulary in enumerate(old.vocabularies):
            warn_unknown_ids(X[:, f], None, vocabulary.ids, vocabulary.kind,
                             column_where(f), "they become new ids")
            vocabulary, move, rows = vocabulary.extend(X[:, f], field=f)
            vocabularies.append(vocabulary)
            moves.append(move)
            columns.append(rows)
        sizes = [len(v) for v in vocabularies]
        idx = np.column_stack(columns).astype(np.int32, copy=False)
        order = canonical_order(idx, y, sample_weight, sizes)
        idx, y, sample_weight = idx[order], y[order], sample_weight[order]
        interactions, optimizer_state = self._moved(old, moves, sizes, idx, y,
                                                    sample_weight)

        init_seed, shuffle_seed, _ = spawn_seeds(self._rng(), 3)
        # Every call draws other new rows and row orders, also for an int random_state.
        params = grow_parameters(old.params, moves, sizes,
                                 std=_INIT_STD[settings["solver"]],
                                 seed=[init_seed, self.n_iter_])
        params = self._solve_new_rows(params, moves, idx, y, sample_weight)
        factor = (settings["update_rate_factor"] if settings["solver"] == "sgd"
                  else self._update_rate_factor)
        trained = self._train(
            params, idx, y, sample_weight, settings, interactions,
            sampler=self._sampler(idx, y, sizes[1], interactions),
            seed=[shuffle_seed, self.n_iter_],
            learning_rate=self._current_learning_rate(settings) * factor,
            max_iter=1, schedule="constant", optimizer_state=optimizer_state,
        )
        params, loss_curve, _, _, optimizer_state, _ = trained
        rating_range = self._rating_range(y, old.rating_range)
        self._assign(old._replace(
            vocabularies=tuple(vocabularies), params=params.frozen(),
            interactions=interactions, rating_range=rating_range,
            residual_std=None if rating_range is None else residual_std_of(loss_curve),
        ))
        self._optimizer_state = optimizer_state
        self.loss_curve_ = [*self.loss_curve_, *loss_curve]
        self.n_iter_ += len(loss_curve)
        return self

    def _moved(self, old, moves, sizes, idx, y, sample_weight, *, fields=(0, 1),
               count_seen=True):
        """The interactions and Adam's state with the rows moved and ``idx`` added.

        The rows ``idx`` count in the SGD per-row weights of ``fields`` only
        (``partial_fit_users`` leaves the items' alone).
        """
        weights = None
        if old.interactions.row_weights is not None:  # solver="sgd"
            scale = self._fitted_settings()["weight_scale"]
            weights = [w if f in fields else None for f, w in
                       enumerate(row_weights(idx, sample_weight / scale, sizes))]
        interactions = old.interactions.updated(
            moves, sizes, idx, self._positive_rows(y), count_seen=count_seen,
            row_weights=weights,
        )
        optimizer_state = getattr(self, "_optimizer_state", None)
        if optimizer_state is not None:
            optimizer_state = optimizer_state._replace(tables=[
                tuple(move_rows(m, move, size) for m in moments)
                for moments, move, size in zip(optimizer_state.tables, moves, sizes)
            ])
        return interactions, optimizer_state

    # partial_fit on a model fitted with solver="adam" steps at this share of
    # learning_rate (see partial_fit's docstring): Adam moves every coordinate a
    # batch touches by about the rate, whatever its gradient, and a fitted model
    # needs small steps. solver="sgd" steps in proportion to the gradient and
    # continues at the rate its schedule reached.
    _update_rate_factor = 0.1

    def _train(self, params, idx, y, sample_weight, settings, interactions, *, sampler,
               seed, learning_rate, max_iter, schedule, validate=None,
               optimizer_state=None):
        """The one training call of ``fit`` and ``partial_fit``: the engine's epochs.

        Returns ``(params, loss_curve, validation_scores, converged,
        optimizer_state, share)``: the trained parameters (new arrays; ``params``
        is left as it is), Adam's state (None for SGD), and the share of
        ``learning_rate`` the schedule had reached at the epoch kept.
        """
        epochs = self._epochs(idx, y, sample_weight, seed, sampler,
                              ordered=settings["solver"] != "sgd")
        common = dict(loss=self._loss, alpha=settings["alpha"], tol=self.tol,
                      n_iter_no_change=self.n_iter_no_change, validate=validate,
                      verbose=self.verbose)
        if settings["solver"] == "sgd":
            from . import _sgd

            rates = _sgd.epoch_learning_rates(learning_rate, schedule, max_iter)
            params, loss_curve, scores, converged, kept = _sgd.train(
                params, epochs, rates=rates, row_alpha=settings["row_alpha"],
                row_counts=interactions.row_weights,
                weight_scale=settings["weight_scale"],
                fixed_rows=not self._fresh_rows_each_epoch, seed=seed, **common,
            )
            return params, loss_curve, scores, converged, None, rates[kept] / rates[0]
        self._check_backend()
        from ._adam import train

        params, loss_curve, scores, converged, optimizer_state = train(
            params, epochs, learning_rate=learning_rate,
            batch_size=self._batch_size(self._rows_per_epoch(y)), max_iter=max_iter,
            schedule=schedule, state=optimizer_state, **common,
        )
        return params, loss_curve, scores, converged, optimizer_state, 1.0

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

    # -- scoring -------------------------------------------------------------

    def _encode_X(self, X):
        """The fitted state and ``X`` as its rows, -1 for unknown ids (or raise)."""
        state = self._fitted()
        X = self._validate_X(X, reset=False)
        idx = np.column_stack(
            [v.rows(X[:, f], field=f) for f, v in enumerate(state.vocabularies)]
        )
        self._warn_unknown(X, idx, state)
        if self.handle_unknown == "error" and (idx < 0).any():
            f = int(np.nonzero((idx < 0).any(axis=0))[0][0])
            unknown = X[idx[:, f] < 0, f].tolist()
            raise ValueError(
                f"Found {len(set(unknown))} unknown ids in "
                f"{column_where(f)[0].lower()}{column_where(f)[1:]} during predict, e.g. "
                f"{plain_value(unknown[0])!r}. Use "
                "handle_unknown='use_fallback' (or 'ignore', without warnings) to "
                "predict them from the known biases."
            )
        return state, idx

    def _warn_unknown(self, X, idx, state):
        """Warn about ids of another kind than fit's, or predictions that fall back.

        With ``handle_unknown="use_fallback"``, also when a column holds only
        unknown ids, or when more than ``_FALLBACK_SHARE`` of the rows of a
        prediction of at least ``_FALLBACK_MIN_ROWS`` rows fall back.
        """
        loud = self.handle_unknown == "use_fallback"
        for f, vocabulary in enumerate(state.vocabularies):
            warn_unknown_ids(
                X[:, f], idx[:, f] if loud else None, vocabulary.ids, vocabulary.kind,
                column_where(f),
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


def _restrict_to_training(vocabularies, idx, *others):
    """Keep only the ids the training rows use; re-index all row sets in place.

    Ids seen only in the other rows (validation) get no embedding row: they become
    unknown (-1) there, as they would be for ``predict``.
    """
    restricted = []
    for f, vocabulary in enumerate(vocabularies):
        used, idx[:, f] = np.unique(idx[:, f], return_inverse=True)
        new_row = np.full(len(vocabulary), -1, dtype=np.int32)
        new_row[used] = np.arange(len(used), dtype=np.int32)
        for other in others:
            other[:, f] = new_row[other[:, f]]
        restricted.append(vocabulary.restricted(used))
    return restricted
