"""Updating a fitted GMFRegressor with new users: partial_fit against a full refit.

Run from the repository root::

    SKGMF_DATA_HOME=../shared/data python benchmarks/bench_partial_fit.py

On MovieLens 100K's fold ``u1``: fits ``GMFRegressor`` (the defaults, or
``--params``) on ``u1.base`` without the users whose id is a multiple of 10
(the held-out users), then calls ``partial_fit`` on those users' ``u1.base``
ratings, one epoch per call, ``--calls`` times. After every call it prints one
row of a Markdown table:

- the held-out users' RMSE on ``u1.test``, against the model before any
  ``partial_fit`` (the fallback: an unknown user gets ``mu + b_i``) and a full
  refit on all of ``u1.base``;
- the other users' RMSE on ``u1.test``, and the mean absolute change of their
  predictions since the model before ``partial_fit``;
- the seconds of the update (all calls so far) against those of the full refit.

A last row folds the held-out users in instead (``partial_fit_users``: one ridge
regression per user, item tables, ``w`` and ``mu`` fixed), in NumPy, from their
ratings of the items the model knows (it learns no item).

Then the stream scenario: the held-out users' ``u1.base`` ratings arrive in
``--chunks`` consecutive chunks in timestamp order (each day's ratings), one
``partial_fit`` (or one ``partial_fit_users``, ratings of unknown items left out)
per chunk; after every chunk one row gives both groups' RMSE on ``u1.test``. A
model that serves everyone must keep the other users' RMSE where it was and bring
the newcomers' down.

``--scale N`` runs another scenario instead: the cost of one update of a large
model. ``make_ratings(162_541, 59_047, N)`` (ML-25M's users and items; N=25000000
is ML-25M's size) is fitted (``--params``, by default 2 epochs: the cost of an
update does not depend on how well the model is trained), then ``partial_fit``
and ``partial_fit_users`` each take ``--calls`` batches of 1,000 ratings, half of
them from 50 new users, half from known users. New ids sort after every known id
(no row moves) or, in a second round, before every one (every row moves: the
worst case). One row per method and case gives the median and the largest
seconds of one call.

The refit runs after a warm-up fit, so that neither pays TensorFlow's one-off
start-up. ``--learning-rates`` repeats the updates at other constant step sizes
(``learning_rate`` set between fit and ``partial_fit``; the model before it is
the same).
Nothing is written to disk.
"""
# License: BSD 3 clause

import argparse
import json
import time
import warnings

import numpy as np


def load_fold():
    from skgmf.datasets import _read_ratings, get_data_home, load_movielens

    home = get_data_home() / "ml-100k"
    if not (home / "u1.base").exists():
        load_movielens("ml-100k")
    return _read_ratings(home / "u1.base"), _read_ratings(home / "u1.test")


def rmse(y_true, y_pred):
    return float(np.sqrt(np.mean((np.asarray(y_true) - y_pred) ** 2)))


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5, help="partial_fit calls (epochs)")
    parser.add_argument("--params", type=json.loads, default={},
                        help='GMFRegressor parameters as JSON, e.g. \'{"n_factors": 64}\'')
    parser.add_argument("--learning-rates", type=float, nargs="*", default=[],
                        help="also update at these constant learning rates")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--chunks", type=int, default=5, help="chunks of the stream")
    parser.add_argument("--scale", type=int, default=None,
                        help="time updates of a model fitted on this many ratings")
    args = parser.parse_args()
    if args.scale:
        return scale(args)

    import pickle

    from skgmf import GMFRegressor

    # The held-out users are unknown to the model before any update: a deliberate
    # cold-start evaluation, which the fallback warning would otherwise flag.
    params = {"handle_unknown": "ignore"}
    train, test = load_fold()
    columns = ["user", "item"]
    held_train = (train["user"] % 10 == 0).to_numpy()
    held_test = (test["user"] % 10 == 0).to_numpy()
    X_old, y_old = train.loc[~held_train, columns], train.loc[~held_train, "rating"]
    X_new, y_new = train.loc[held_train, columns], train.loc[held_train, "rating"]
    X_test, y_test = test[columns], test["rating"].to_numpy()
    params = {"random_state": args.seed, **params, **args.params}

    GMFRegressor(**params).fit(X_old, y_old)  # warm-up: TensorFlow and the trace
    base, base_s = timed(GMFRegressor(**params).fit, X_old, y_old)
    refit, refit_s = timed(GMFRegressor(**params).fit, train[columns], train["rating"])
    base_pred, refit_pred = base.predict(X_test), refit.predict(X_test)
    state = pickle.dumps(base)  # the model before partial_fit, for every rate
    adam = base._optimizer_state  # not pickled: kept in memory, as by one process

    def errors(pred):
        return rmse(y_test[held_test], pred[held_test]), rmse(y_test[~held_test],
                                                              pred[~held_test])

    n_users = train.loc[held_train, "user"].nunique()
    print(f"ML-100K u1: {held_train.sum()} u1.base ratings of {n_users} held-out "
          f"users, {held_test.sum()} u1.test ratings of theirs; "
          f"GMFRegressor({', '.join(f'{k}={v!r}' for k, v in params.items())}), "
          f"base fit {base_s:.2f} s\n")
    print("| model | learning rate | held-out users' RMSE | other users' RMSE "
          "| other users' mean abs. change | seconds |")
    print("| --- | --- | --- | --- | --- | --- |")
    held, other = errors(base_pred)
    print(f"| before partial_fit (fallback mu + b_i) | | {held:.4f} | {other:.4f} | 0 | |")
    rates = [base.learning_rate, *args.learning_rates]
    for rate in rates:
        est = pickle.loads(state)
        est._optimizer_state = adam
        est.set_params(learning_rate=rate)
        seconds = 0.0
        for call in range(1, args.calls + 1):
            _, s = timed(est.partial_fit, X_new, y_new)
            seconds += s
            pred = est.predict(X_test)
            held, other = errors(pred)
            change = np.mean(np.abs(pred[~held_test] - base_pred[~held_test]))
            print(f"| partial_fit x {call} | {rate} | {held:.4f} | {other:.4f} "
                  f"| {change:.4f} | {seconds:.2f} |")
    est = pickle.loads(state)
    known = np.isin(X_new["item"], base.items_)
    _, seconds = timed(est.partial_fit_users, X_new[known], y_new[known])
    pred = est.predict(X_test)
    held, other = errors(pred)
    change = np.mean(np.abs(pred[~held_test] - base_pred[~held_test]))
    print(f"| partial_fit_users (fold-in; {(~known).sum()} ratings of unknown items "
          f"left out) | | {held:.4f} | {other:.4f} | {change:.4f} | {seconds:.3f} |")
    held, other = errors(refit_pred)
    change = np.mean(np.abs(refit_pred[~held_test] - base_pred[~held_test]))
    print(f"| full refit on all of u1.base | {base._settings['learning_rate']:g} "
          f"({base._settings['learning_rate_schedule']}) | {held:.4f} | {other:.4f} "
          f"| {change:.4f} "
          f"| {refit_s:.2f} |")

    # The stream: the held-out users' ratings in chunks, in timestamp order.
    arriving = train[held_train].sort_values("timestamp", kind="stable")
    chunks = np.array_split(np.arange(len(arriving)), args.chunks)
    print(f"\nStream: {len(arriving)} ratings of the held-out users in {args.chunks} "
          "chunks by timestamp, one update per chunk\n")
    print("| update | after chunk | held-out users' RMSE | other users' RMSE | seconds |")
    print("| --- | --- | --- | --- | --- |")
    held, other = errors(base_pred)
    print(f"| none (fallback) | 0 | {held:.4f} | {other:.4f} | |")
    for method in ("partial_fit", "partial_fit_users"):
        est = pickle.loads(state)
        est._optimizer_state = adam
        for n, rows in enumerate(chunks, 1):
            chunk = arriving.iloc[rows]
            with warnings.catch_warnings():
                # partial_fit_users leaves out (and counts) unknown items: expected here.
                warnings.simplefilter("ignore", UserWarning)
                _, seconds = timed(getattr(est, method), chunk[columns], chunk["rating"])
            held, other = errors(est.predict(X_test))
            print(f"| {method} | {n} | {held:.4f} | {other:.4f} | {seconds:.2f} |")


def scale(args):
    """Seconds of one update of a model fitted on ``args.scale`` ratings."""
    from skgmf import GMFRegressor
    from skgmf.datasets import make_ratings

    n_users, n_items = 162_541, 59_047
    ratings = make_ratings(n_users, n_items, args.scale, random_state=args.seed)
    X, y = ratings[["user", "item"]].to_numpy(), ratings["rating"].to_numpy(float)
    del ratings
    params = {"random_state": args.seed, "max_iter": 2, **args.params}
    est, fit_s = timed(GMFRegressor(**params).fit, X, y)
    rng = np.random.default_rng(args.seed)
    print(f"make_ratings({n_users}, {n_items}, {args.scale}): GMFRegressor("
          f"{', '.join(f'{k}={v!r}' for k, v in params.items())}) fitted in {fit_s:.1f} s; "
          f"updates of 1,000 ratings, 500 of them by 50 new users\n")
    print("| method | new ids | median s per call | max s | calls |")
    print("| --- | --- | --- | --- | --- |")
    next_id = {"after": n_users, "before": -1}
    for method in ("partial_fit", "partial_fit_users"):
        for where in ("after", "before"):
            seconds = []
            for _ in range(args.calls):
                step = 1 if where == "after" else -1
                new_users = next_id[where] + step * np.arange(50)
                next_id[where] += step * 50
                users = np.r_[np.repeat(new_users, 10),
                              rng.choice(est.users_, 500)]
                items = rng.choice(est.items_, 1000)
                y_new = rng.integers(1, 6, 1000).astype(float)
                _, s = timed(getattr(est, method), np.column_stack([users, items]), y_new)
                seconds.append(s)
            print(f"| {method} | {where} every known id | {np.median(seconds):.3f} "
                  f"| {max(seconds):.3f} | {args.calls} |")


if __name__ == "__main__":
    main()
