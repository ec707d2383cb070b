"""``python -m skgmf``: train and evaluate GMF on MovieLens 100K (or synthetic ratings)."""
# License: BSD 3 clause

import argparse
import os
import time

# This is a script, not library code: quiet TensorFlow's C++ start-up logs.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
from sklearn.metrics import mean_absolute_error, root_mean_squared_error
from sklearn.model_selection import train_test_split

from . import GMFRegressor
from .datasets import load_movielens, make_ratings


# argparse prints this as is: plain text, no reST markup.
DESCRIPTION = (
    "Train skgmf.GMFRegressor on 80% of MovieLens 100K and print its RMSE, MAE and "
    "R^2 on the other 20%, next to the RMSE of always predicting the training mean. "
    "The data is read from a local copy, else downloaded from GroupLens and "
    "checksummed; synthetic ratings are used when neither works."
)


def main(argv=None):
    """Run the command line; ``argv`` defaults to ``sys.argv[1:]``."""
    parser = argparse.ArgumentParser(prog="python -m skgmf", description=DESCRIPTION)
    parser.add_argument(
        "--data-home", default=None,
        help="folder of MovieLens copies (default: $SKGMF_DATA_HOME, else ~/skgmf_data)",
    )
    parser.add_argument(
        "--no-download", action="store_true",
        help="never download; use synthetic ratings when no local copy is found",
    )
    args = parser.parse_args(argv)
    try:
        ratings = load_movielens(
            "ml-100k", data_home=args.data_home, download=not args.no_download
        )
        source = "MovieLens 100K"
    except OSError as exc:
        print(f"MovieLens 100K unavailable ({exc}); using synthetic ratings instead.")
        ratings = make_ratings(943, 1682, 100_000, random_state=0)
        source = "synthetic ratings (skgmf.datasets.make_ratings)"
    X, y = ratings[["user", "item"]].to_numpy(), ratings["rating"].to_numpy(float)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)
    print(f"{source}: {len(y_train)} training and {len(y_test)} test ratings")
    est = GMFRegressor(random_state=0)
    start = time.perf_counter()
    est.fit(X_train, y_train)
    seconds = time.perf_counter() - start
    y_pred = est.predict(X_test)
    mean = y_train.mean()
    baseline_rmse = root_mean_squared_error(y_test, np.full_like(y_test, mean))
    print(f"{est!r} fitted in {seconds:.1f} s ({est.n_iter_} epochs)")
    print(f"test RMSE {root_mean_squared_error(y_test, y_pred):.4f} "
          f"(always predicting the training mean {mean:.2f} gives {baseline_rmse:.4f})")
    print(f"test MAE  {mean_absolute_error(y_test, y_pred):.4f}")
    print(f"test R^2  {est.score(X_test, y_test):.4f}")


if __name__ == "__main__":
    main()
