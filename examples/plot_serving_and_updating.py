"""
Saving, serving without TensorFlow, and adding new users
========================================================

Fits :class:`skgmf.GMFRegressor` on MovieLens 100K without every tenth user, saves
it with pickle and with skops, loads it in a fresh Python process that predicts and
recommends without importing TensorFlow, then brings the held-out users in two ways:
``partial_fit`` (an epoch of SGD on their ratings) and ``partial_fit_users`` (one
ridge regression per user, item tables fixed). The files go to a temporary folder,
removed at the end. Set ``SKGMF_EXAMPLE_FAST=1`` for tiny settings.
"""
# License: BSD 3 clause

import os
import pickle
import subprocess
import sys
import tempfile
import textwrap

import matplotlib.pyplot as plt
from sklearn.metrics import root_mean_squared_error
from sklearn.model_selection import train_test_split

from skgmf import GMFRegressor
from skgmf.datasets import load_movielens, make_ratings

fast = bool(os.environ.get("SKGMF_EXAMPLE_FAST"))
params = dict(max_iter=3) if fast else {}

try:
    ratings = load_movielens("ml-100k")
except OSError as exc:
    print(f"MovieLens 100K unavailable ({exc}); using synthetic ratings.")
    ratings = make_ratings(943, 1682, 100_000, random_state=0)

train, test = train_test_split(ratings, test_size=0.2, random_state=0)
new_user = train["user"] % 10 == 0
X_old, y_old = train.loc[~new_user, ["user", "item"]], train.loc[~new_user, "rating"]
X_new, y_new = train.loc[new_user, ["user", "item"]], train.loc[new_user, "rating"]
test_new = test[test["user"] % 10 == 0]

# The held-out users are unknown to the model on purpose (a cold-start evaluation):
# handle_unknown="ignore" lets their predictions fall back without a warning.
est = GMFRegressor(random_state=0, handle_unknown="ignore", **params).fit(X_old, y_old)

# %%
# Save with pickle and skops, then serve from a fresh process. Loading and
# predicting need NumPy only: the Keras network is rebuilt from the tables only if
# ``model_`` is read.
with tempfile.TemporaryDirectory() as folder:
    pickle_file = os.path.join(folder, "gmf.pkl")
    with open(pickle_file, "wb") as f:
        pickle.dump(est, f)
    try:
        import skops.io

        skops_file = os.path.join(folder, "gmf.skops")
        skops.io.dump(est, skops_file)
        print("skops types to review before loading:",
              skops.io.get_untrusted_types(file=skops_file))
    except ImportError:
        print("skops is not installed (pip install 'skgmf[serving]'); pickle only.")

    serve = textwrap.dedent(f"""
        import pickle, sys
        with open({pickle_file!r}, "rb") as f:
            est = pickle.load(f)
        print("prediction for user 1, item 1:", est.predict([[1, 1]]).round(3))
        print("top 5 for user 1:", est.recommend([1], k=5)[0])
        print("TensorFlow imported:", "tensorflow" in sys.modules)
    """)
    print(subprocess.run([sys.executable, "-c", serve], capture_output=True,
                         text=True, check=True).stdout)

# %%
# The held-out users are unknown: their predictions fall back to the global mean
# plus the item bias. ``partial_fit_users`` folds them in with the item side fixed
# (no TensorFlow, other users untouched); ``partial_fit`` solves their rows the same
# way, then runs an epoch of SGD on their ratings, which also moves the items they
# rated.
rmse = {"fallback": root_mean_squared_error(
    test_new["rating"], est.predict(test_new[["user", "item"]]))}
# partial_fit_users leaves out, with a warning, the ratings of items the model does
# not know (partial_fit learns new items): drop those few here.
known_items = X_new["item"].isin(est.items_)
folded = pickle.loads(pickle.dumps(est)).partial_fit_users(
    X_new[known_items], y_new[known_items])
rmse["partial_fit_users"] = root_mean_squared_error(
    test_new["rating"], folded.predict(test_new[["user", "item"]]))
updated = pickle.loads(pickle.dumps(est)).partial_fit(X_new, y_new)
rmse["partial_fit"] = root_mean_squared_error(
    test_new["rating"], updated.predict(test_new[["user", "item"]]))
for name, value in rmse.items():
    print(f"new users' test RMSE, {name}: {value:.4f}")

fig, ax = plt.subplots(figsize=(5, 3))
ax.bar(list(rmse), list(rmse.values()), color=["grey", "C0", "C1"])
ax.set_ylim(min(rmse.values()) - 0.05, max(rmse.values()) + 0.02)
ax.set_ylabel("test RMSE of the new users")
ax.set_title("Bringing in users unseen in fit")
fig.tight_layout()
plt.show()
