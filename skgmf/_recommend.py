"""Top-N recommendation and similar items from a fitted GMF's NumPy tables."""
# License: BSD 3 clause

from numbers import Integral, Real

import numpy as np

from ._encoding import check_ids_present, id_kind, plain_value, warn_unknown_ids
from ._params import linear_in, score_block

# Scores held at once by recommend / similar_items (users or items x candidates).
_SCORE_BLOCK = 1 << 22


class RecommenderMixin:
    """``recommend`` and ``similar_items`` for a fitted two-field GMF.

    Reads the fitted state once per call (its vocabularies, parameters and the
    interactions seen so far); NumPy only.
    """

    def _check_two_fields(self, what):
        """The fitted state, if the model has exactly two fields (user, item)."""
        state = self._fitted()
        if len(state.vocabularies) != 2:
            raise ValueError(
                f"{what} needs a model of exactly two fields (user, item); this one "
                f"was fitted on {len(state.vocabularies)} columns."
            )
        return state

    def _item_rows(self, state, items):
        """Rows of the item ids ``items``, which must all be known."""
        items = np.asarray(items)
        if items.ndim != 1:
            raise ValueError(f"items must be one-dimensional, got shape {items.shape}.")
        check_ids_present(items, "items")
        vocabulary = state.vocabularies[1]
        rows = vocabulary.rows(items, field=1)
        if (rows < 0).any():
            unknown = items[rows < 0]
            raise ValueError(
                f"items holds {len(unknown)} ids not seen in fit, e.g. "
                f"{plain_value(unknown[0])!r}"
                f"{_kind_hint(items, vocabulary.kind)}."
            )
        return rows

    # What recommend ranks by with ranking="auto" (see recommend).
    _auto_ranking = "score"

    def _relevance(self, state, scores, candidates):
        """The ranking="relevance" scores of a block of model outputs (hook)."""
        from scipy.special import expit

        return expit(scores.astype(np.float64))  # float32 rounds to 1 from a logit of 17

    def recommend(self, users, k=10, *, exclude_seen=True, items=None,
                  return_scores=False, fill_value=None, ranking="auto"):
        """Top-``k`` items for each user, by the model's score or relevance.

        Scores are computed for blocks of users against all candidate items, so
        the full user x item matrix is never held in memory.

        Parameters
        ----------
        users : array-like of shape (n_users,)
            User ids. Users not seen in ``fit`` get the most popular items (most
            interactions in ``fit``), with score NaN; a ``UserWarning`` says so when
            the ids are of another kind than in ``fit`` (``"1"`` for ``1``) or all
            unknown (two distinct ids or more: one new user is no surprise). A
            missing id (NaN, None) raises a ``ValueError``.
        k : int, default=10
            Number of items per user; at most the number of candidate items.
        exclude_seen : bool, default=True
            Leave out the items a user interacted with in ``fit``.
        items : array-like of shape (n_candidates,), default=None
            Candidate item ids (all must be known; a repeated id counts once); by
            default every known item.
        return_scores : bool, default=False
            Also return the scores that ``ranking`` ranks by.
        fill_value : object, default=None
            What fills the slots of a user with fewer than ``k`` eligible items
            (one who has seen nearly every candidate). It must not be a known item
            id, and for integer item ids it must be an integer that the returned
            dtype holds. None picks -1 for integer item ids (the largest
            ``uint64``, :math:`2^{64} - 1`, for unsigned ids beyond the ``int64``
            range), NaN for float ids and None for any other ids.
        ranking : {"auto", "score", "relevance"}, default="auto"
            What ranks the items:

            - ``"score"``: the model's output, the predicted rating (not clipped
              to ``rating_range_``) of a :class:`GMFRegressor`, or the
              interaction's logit for a :class:`GMFClassifier` (its
              ``decision_function``, or minus it when ``pos_label`` is
              ``classes_[0]``).
            - ``"relevance"``: the probability that the user's next rating is of
              the item and at least the mean rating, for a :class:`GMFRegressor`:
              the item's share of the ratings seen (the chance it is rated at all)
              times :math:`\\Phi((\\hat r_{ui} - \\mu) / \\sigma)`, the chance that
              its rating clears :math:`\\mu` (``intercept_``: the weighted mean
              rating with ``solver="sgd"``, learned with ``"adam"``) under Gaussian
              residuals of :math:`\\sigma`, the RMSE of the last training epoch
              (of ``fit`` or ``partial_fit``, measured during it). A
              rating model learns what a user thinks of the items they rate, not
              which items they rate: ranked by predicted rating alone, rarely
              rated items with a few high ratings come first. For a
              :class:`GMFClassifier`, the probability of an interaction.
            - ``"auto"``: ``"relevance"`` for a :class:`GMFRegressor`, ``"score"``
              for a :class:`GMFClassifier`.

            On MovieLens 100K's ``u1`` split, ``"relevance"`` hits the test items
            rated 4 or more with precision@10 0.249, ``"score"`` with 0.144, and
            the most-rated unseen items with 0.214 (``benchmarks/bench_topn.py``).

        Returns
        -------
        recommended : ndarray of shape (n_users, k)
            Item ids, best first. Integer ids come back as ``int64`` (``uint64`` for
            unsigned ids beyond the ``int64`` range), float ids as floats, other ids
            in an object array. A user with fewer than ``k`` eligible items gets them
            first, then ``fill_value`` (score ``-inf``): a padded slot never names an
            item the user has seen.
        scores : ndarray of shape (n_users, k)
            Only if ``return_scores``.
        """
        state = self._check_two_fields("recommend")
        if not isinstance(k, Integral) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}.")
        if not isinstance(ranking, str) or ranking not in ("auto", "score", "relevance"):
            raise ValueError(
                f"ranking must be 'auto', 'score' or 'relevance', got {ranking!r}."
            )
        if ranking == "auto":
            ranking = self._auto_ranking
        users = np.asarray(users)
        if users.ndim != 1:
            raise ValueError(f"users must be one-dimensional, got shape {users.shape}.")
        check_ids_present(users, "users")
        user_vocabulary, item_vocabulary = state.vocabularies
        user_rows = user_vocabulary.rows(users, field=0)
        warn_unknown_ids(
            users, user_rows, user_vocabulary.ids, user_vocabulary.kind, "users",
            "they get the most popular items, with score NaN",
        )
        if items is None:
            candidates = np.arange(len(item_vocabulary))
        else:
            candidates = np.unique(self._item_rows(state, items))  # repeats count once
        if k > len(candidates):
            raise ValueError(f"k={k} exceeds the {len(candidates)} candidate items.")
        item_ids, fill_value = _output_ids(item_vocabulary.ids, fill_value)
        fill_checked = False

        counts = state.interactions.item_counts
        popular = candidates[np.argsort(-counts[candidates], kind="stable")]
        bound = None
        if ranking == "relevance":
            bound = self._relevance_bound(state, candidates)
            if bound is not None:  # candidates by bound, highest first (see _top_block)
                order = np.argsort(-bound, kind="stable")
                candidates, bound = candidates[order], bound[order]
        item_terms = linear_in(state.params, 0, candidates)  # shared by every block
        ids = np.empty((len(users), k), dtype=item_ids.dtype)
        scores = np.full((len(users), k), np.nan)
        ids[user_rows < 0] = item_ids[popular[:k]]
        known = np.flatnonzero(user_rows >= 0)
        block = max(1, _SCORE_BLOCK // len(candidates))
        for start in range(0, len(known), block):
            where = known[start : start + block]
            top, top_scores = self._top_block(state, user_rows[where], candidates,
                                              item_terms, k, ranking, bound, exclude_seen)
            block_ids = item_ids[candidates[top]]
            padded = top_scores == -np.inf
            if padded.any():
                if not fill_checked:
                    _check_fill_is_no_item(item_vocabulary, fill_value)
                    fill_checked = True
                block_ids[padded] = fill_value
            ids[where], scores[where] = block_ids, top_scores
        return (ids, scores) if return_scores else ids

    def _relevance_bound(self, state, candidates):
        """An upper bound of every candidate's relevance for any user, or None."""
        return None

    def _top_block(self, state, rows, candidates, item_terms, k, ranking, bound,
                   exclude_seen):
        """The top ``k`` candidates of the users ``rows`` and their scores.

        With a ``bound`` on the relevance (candidates sorted by it, highest
        first), the most promising candidates are scored first: a user's k-th
        best relevance among them is a threshold that no candidate whose bound
        falls short of it can reach, so the user is done once every candidate
        whose bound reaches it is scored; the others go on with four times as
        many. Exact, and on popularity-skewed data a small share of the
        candidates.
        """
        def top_of_first(rows, n):
            terms = (item_terms[0][:n], item_terms[1][:n])
            s = score_block(state.params, rows, candidates[:n], terms)
            if ranking == "relevance":
                s = self._relevance(state, s, candidates[:n])
            if exclude_seen:
                seen = state.interactions.seen[rows][:, candidates[:n]].tocoo()
                s[seen.row, seen.col] = -np.inf
            return _top_k(s, k)

        total = len(candidates)
        n = min(total, max(8 * k, 256))
        if bound is None or n == total or bound[0] == bound[-1]:  # nothing to prune
            return top_of_first(rows, total)
        top = np.empty((len(rows), k), dtype=np.intp)
        top_scores = np.empty((len(rows), k))
        todo = np.arange(len(rows))
        while len(todo):
            t, ts = top_of_first(rows[todo], n)
            threshold = ts[:, -1]
            usable = np.isfinite(threshold) & (threshold > 0)
            reach = np.full(len(todo), total)
            reach[usable] = np.searchsorted(-bound, -threshold[usable], side="right")
            done = (reach <= n) | (n == total)
            top[todo[done]], top_scores[todo[done]] = t[done], ts[done]
            todo = todo[~done]
            n = total if 8 * n >= total else 4 * n  # past a half: all at once
        return top, top_scores

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
        state = self._check_two_fields("similar_items")
        if not isinstance(k, Integral) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}.")
        rows = self._item_rows(state, items)
        item_ids = state.vocabularies[1].ids
        n_items = len(item_ids)
        if k > n_items - 1:
            raise ValueError(f"k={k} exceeds the {n_items - 1} other items.")
        vectors = state.params.factors[1] * state.params.coef
        norms = np.linalg.norm(vectors, axis=1)
        unit = vectors / np.where(norms > 0, norms, 1.0)[:, None]
        ids = np.empty((len(items), k), dtype=item_ids.dtype)
        scores = np.empty((len(items), k))
        block = max(1, _SCORE_BLOCK // n_items)
        for start in range(0, len(rows), block):
            r = rows[start : start + block]
            s = unit[r] @ unit.T
            s[np.arange(len(r)), r] = -np.inf
            top, scores[start : start + len(r)] = _top_k(s, k)
            ids[start : start + len(r)] = item_ids[top]
        return (ids, scores) if return_scores else ids


def _kind_hint(values, fitted_kind):
    """`` (string ids, but numeric ids in fit)`` when the kinds differ, else ``""``."""
    kind = id_kind(values)
    if fitted_kind and kind and "mixed" not in (kind, fitted_kind) and kind != fitted_kind:
        return f" ({kind} ids, but {fitted_kind} ids in fit)"
    return ""


def _output_ids(item_ids, fill_value):
    """Item ids in the dtype ``recommend`` returns, and the checked padding value."""
    kind = item_ids.dtype.kind
    if kind in "iu":
        if kind == "u" and len(item_ids) and int(item_ids[-1]) > np.iinfo(np.int64).max:
            # Sorted ids: the last is the largest. int64 would turn it negative.
            dtype, default = np.dtype(np.uint64), int(np.iinfo(np.uint64).max)
        else:
            dtype, default = np.dtype(np.int64), -1
        item_ids = item_ids.astype(dtype, copy=False)
        if fill_value is None:
            return item_ids, default
        if not isinstance(fill_value, Integral) or isinstance(fill_value, (bool, np.bool_)):
            raise TypeError(
                f"fill_value must be an integer for integer item ids, got "
                f"{plain_value(fill_value)!r}."
            )
        info = np.iinfo(dtype)
        if not info.min <= fill_value <= info.max:
            raise ValueError(
                f"fill_value={plain_value(fill_value)!r} does not fit the {dtype} item ids "
                f"that recommend returns (from {info.min} to {info.max})."
            )
        return item_ids, dtype.type(fill_value)
    if kind == "f":
        if fill_value is None:
            return item_ids, np.nan
        if not isinstance(fill_value, Real) or isinstance(fill_value, (bool, np.bool_)):
            raise TypeError(
                f"fill_value must be a number for float item ids, got "
                f"{plain_value(fill_value)!r}."
            )
        return item_ids, fill_value
    return item_ids.astype(object), fill_value


def _check_fill_is_no_item(vocabulary, fill_value):
    """Raise if the padding value is a known item id (NaN and None never are)."""
    try:
        if fill_value is None or fill_value != fill_value or hash(fill_value) is None:
            return
    except TypeError:  # unhashable: no id
        return
    item_ids = vocabulary.ids
    if item_ids.dtype.kind in "iuf":
        # Numeric ids are sorted (np.unique in encode_ids).
        pos = np.searchsorted(item_ids, fill_value)
        known = pos < len(item_ids) and item_ids[pos] == fill_value
    else:
        known = vocabulary.rows(np.array([fill_value], dtype=object))[0] >= 0
    if known:
        raise ValueError(
            f"fill_value={plain_value(fill_value)!r} is a known item id; pass another "
            "fill_value."
        )


# Candidates are pre-selected against the k-th largest score of every
# _SAMPLE_STRIDE-th column when rows are at least this many times longer than k.
_SAMPLE_STRIDE = 16


def _top_k(scores, k):
    """Columns of the ``k`` largest scores of every row, best first, and the scores."""
    n_rows, n_cols = scores.shape
    if n_cols >= 4 * _SAMPLE_STRIDE * k:
        # The k-th largest score of a subset of the columns is at most the k-th
        # largest of the row: every score below it can be left out, and a row
        # keeps about k * _SAMPLE_STRIDE candidates instead of all its columns.
        sample = scores[:, ::_SAMPLE_STRIDE]
        m = sample.shape[1]
        threshold = np.partition(sample, m - k, axis=1)[:, m - k]
        keep = scores >= threshold[:, None]
        counts = keep.sum(axis=1)
        width = int(counts.max())
        if width <= n_cols // 4:
            rows, cols = np.nonzero(keep)
            starts = np.cumsum(counts) - counts
            slot = np.arange(len(rows)) - np.repeat(starts, counts)
            candidates = np.full((n_rows, width), -np.inf, dtype=scores.dtype)
            columns = np.zeros((n_rows, width), dtype=np.intp)
            candidates[rows, slot] = scores[rows, cols]
            columns[rows, slot] = cols
            top, top_scores = _top_k_exact(candidates, k)
            return np.take_along_axis(columns, top, axis=1), top_scores
    return _top_k_exact(scores, k)


def _top_k_exact(scores, k):
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    top_scores = np.take_along_axis(scores, top, axis=1)
    order = np.argsort(-top_scores, axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1), np.take_along_axis(top_scores, order, axis=1)
