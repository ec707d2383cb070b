"""The stopping rules every training engine follows (MLPRegressor's), in one place."""
# License: BSD 3 clause

import time

import numpy as np


class EpochMonitor:
    """Record each epoch's loss, decide when to stop, and tell the best epoch.

    MLPRegressor's rules: the monitored quantity is minus the training loss, or the
    validation score when ``validate`` is given; an improvement counts when it
    exceeds ``tol``; training stops after ``n_iter_no_change`` epochs without one.
    A loss that is not finite is an error.

    Parameters
    ----------
    max_iter : int
    tol : float
    n_iter_no_change : int
    validate : callable or None
        ``validate()`` scores the model as it is after an epoch (higher is better).
    verbose : int
        Print one line per epoch when > 0.

    Attributes
    ----------
    loss_curve : list of float
    scores : list of float or None
        Validation scores, when ``validate`` is given.
    best_epoch : int or None
        The epoch (from 0) of the best validation score; None without ``validate``.
    """

    def __init__(self, max_iter, *, tol, n_iter_no_change, validate=None, verbose=0):
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.validate = validate
        self.verbose = verbose
        self.loss_curve = []
        self.scores = [] if validate is not None else None
        self.best_epoch = None
        self._best = -np.inf
        self._no_improvement = 0
        self._start = time.perf_counter()

    def start_epoch(self):
        """Mark the start of an epoch, for the seconds that ``verbose`` prints."""
        self._start = time.perf_counter()

    def end_epoch(self, loss):
        """Record an epoch's mean training loss; return ``(is_best, stop)``.

        ``is_best``: the validation score is the best so far (the caller keeps the
        model's state); ``stop``: no improvement for ``n_iter_no_change`` epochs.
        """
        epoch = len(self.loss_curve)
        loss = float(loss)
        if not np.isfinite(loss):
            raise ValueError(
                f"Training diverged: the loss is {loss} at iteration {epoch + 1}. "
                "Lower learning_rate or scale y."
            )
        self.loss_curve.append(loss)
        current = -loss if self.validate is None else self.validate()
        if self.validate is not None:
            self.scores.append(current)
        if self.verbose:
            extra = "" if self.validate is None else f", validation score = {current:.6f}"
            print(f"Epoch {epoch + 1}/{self.max_iter}, loss = {loss:.6f}{extra}, "
                  f"{time.perf_counter() - self._start:.2f} s")
        self._no_improvement = 0 if current > self._best + self.tol else (
            self._no_improvement + 1)
        is_best = current > self._best
        if is_best:
            self._best = current
            if self.validate is not None:
                self.best_epoch = epoch
        stop = self._no_improvement >= self.n_iter_no_change
        if stop and self.verbose:
            print(f"No improvement for {self.n_iter_no_change} iterations; stopping.")
        return is_best and self.validate is not None, stop

    @property
    def converged(self):
        """False when ``max_iter`` ended training whose last epoch still improved."""
        return len(self.loss_curve) < self.max_iter or self._no_improvement > 0
