"""The fitted model as one immutable object, and its flat form for pickling."""
# License: BSD 3 clause

from typing import NamedTuple

import numpy as np

from ._interactions import Interactions
from ._params import GMFParameters
from ._vocabulary import Vocabulary

# The flat keys of a pickle, as attributes were named before the state was one
# object (skgmf 0.x): files of either layout load.
FLAT_KEYS = ("categories_", "_id_kinds", "factors_", "biases_", "coef_", "intercept_",
             "_seen", "_item_counts", "_row_counts", "rating_range_", "_residual_std")


class FittedState(NamedTuple):
    """Everything a fitted estimator serves from, assigned in one statement.

    ``fit``, ``partial_fit`` and ``partial_fit_users`` build a new one and assign
    it to the estimator at once: a ``predict`` running in another thread reads the
    old state or the new one, never a mix (new ids move rows).

    vocabularies : tuple of Vocabulary
        Per field, the ids and their rows.
    params : GMFParameters
        The tables, biases, ``w`` and ``mu`` (read-only arrays).
    interactions : Interactions
        The pairs seen, popularity and the rows' rating weights.
    rating_range : tuple of float or None
        The regressor's clipping range; None for the classifier.
    residual_std : float or None
        The regressor's root mean squared error over its last training epoch
        (of ``fit`` or ``partial_fit``, measured during the epoch): the spread of
        a rating around its prediction in ``recommend``'s relevance; None for the
        classifier.
    """

    vocabularies: tuple
    params: GMFParameters
    interactions: Interactions
    rating_range: tuple = None
    residual_std: float = None


def flatten(state):
    """``state`` as arrays and plain Python (what pickle and skops store)."""
    seen = state.interactions.seen
    flat = {
        "categories_": [v.ids for v in state.vocabularies],
        "_id_kinds": [v.kind for v in state.vocabularies],
        "factors_": list(state.params.factors),
        "biases_": list(state.params.biases),
        "coef_": state.params.coef,
        "intercept_": state.params.intercept,
        # Plain arrays rather than a scipy matrix, which skops does not trust.
        "_seen": {"indptr": seen.indptr, "indices": seen.indices},
        "_item_counts": state.interactions.item_counts,
        "_row_counts": (None if state.interactions.row_weights is None
                        else list(state.interactions.row_weights)),
    }
    if state.rating_range is not None:
        flat["rating_range_"] = state.rating_range
        flat["_residual_std"] = state.residual_std
    return flat


def unflatten(flat):
    """The state of the flat keys of ``flat`` (popped from it); None if unfitted.

    Keys that files of earlier versions lack get what those models would have had
    (the relevance spread: the RMSE of the last epoch in ``loss_curve_``).
    """
    from scipy import sparse

    values = {key: flat.pop(key) for key in FLAT_KEYS if key in flat}
    if "factors_" not in values:
        return None
    categories = values["categories_"]
    kinds = values.get("_id_kinds") or [None] * len(categories)
    vocabularies = tuple(Vocabulary(np.asarray(ids), kind)
                         for ids, kind in zip(categories, kinds))
    params = GMFParameters(tuple(values["factors_"]), tuple(values["biases_"]),
                           np.asarray(values["coef_"]), float(values["intercept_"]))
    sizes = [len(v) for v in vocabularies]
    seen = values.get("_seen")
    if isinstance(seen, dict):
        seen = sparse.csr_matrix(
            (np.ones(len(seen["indices"]), dtype=bool), seen["indices"], seen["indptr"]),
            shape=(sizes[0], sizes[1]),
        )
    counts = values.get("_row_counts")
    interactions = Interactions(seen, values.get("_item_counts"),
                                None if counts is None else tuple(counts))
    rating_range = values.get("rating_range_")
    residual_std = values.get("_residual_std")
    if rating_range is not None and residual_std is None:  # before recommend's relevance
        residual_std = residual_std_of(flat.get("loss_curve_"))
    return FittedState(vocabularies, params.frozen(), interactions,
                       None if rating_range is None else tuple(rating_range),
                       residual_std)


def residual_std_of(loss_curve):
    """The RMSE of a regressor's last epoch (its loss is the mean squared error).

    At least 1e-6 (a perfect fit), and 1.0 when unknown or not finite.
    """
    if not loss_curve or not np.isfinite(loss_curve[-1]):
        return 1.0
    return max(float(np.sqrt(loss_curve[-1])), 1e-6)
