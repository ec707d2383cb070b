"""Id vocabularies: encode_ids and Vocabulary (no Keras import)."""
# License: BSD 3 clause

from types import SimpleNamespace

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from skgmf import _vocabulary
from skgmf._encoding import encode_ids
from skgmf._vocabulary import Vocabulary


def lookup_ids(ids, values):
    return Vocabulary(ids).rows(values)


def test_encode_sorts_integer_ids():
    ids, idx = encode_ids(np.array([30, 10, 20, 10]))
    assert_array_equal(ids, [10, 20, 30])
    assert_array_equal(idx, [2, 0, 1, 0])
    assert idx.dtype == np.int32


def test_encode_strings_and_lookup_unknown():
    ids, idx = encode_ids(np.array(["b", "a", "b"], dtype=object))
    assert list(ids) == ["a", "b"]
    assert_array_equal(lookup_ids(ids, np.array(["b", "zzz", "a"], dtype=object)), [1, -1, 0])


def test_mixed_types_get_an_order_independent_vocabulary():
    values = np.array([3, "x", 1, "a"], dtype=object)
    ids1, _ = encode_ids(values)
    ids2, _ = encode_ids(values[::-1])
    assert list(ids1) == list(ids2) == [1, 3, "a", "x"]


def test_lookup_matches_float_and_int_ids():
    ids, _ = encode_ids(np.array([1.0, 2.0]))
    assert_array_equal(lookup_ids(ids, np.array([2, 1, 5])), [1, 0, -1])


def test_unhashable_id_raises_type_error():
    with pytest.raises(TypeError, match="column 1 .* not 'list'"):
        encode_ids(np.array([[1], "a"], dtype=object), field=1)


def test_missing_id_raises_value_error():
    with pytest.raises(ValueError, match="missing ids"):
        lookup_ids(np.array(["a"], dtype=object), np.array([None], dtype=object))




@pytest.mark.parametrize(
    "values",
    [np.arange(-100, 101, dtype=np.int8), np.array([2**63, 2**63 + 1, 2**63 + 5], np.uint64),
     np.array([5, -3, 5, 7], dtype=np.int16)],
)
def test_compact_integer_ids_of_any_width_encode_and_look_up(values):
    ids, idx = encode_ids(values)
    assert_array_equal(ids, np.unique(values))
    assert_array_equal(ids[idx], values)
    assert_array_equal(lookup_ids(ids, values), idx)
    assert lookup_ids(ids, values[:1] * 0 + values.max())[0] == len(ids) - 1


@pytest.mark.parametrize("ids, as_objects", [
    (np.arange(0, 3000, 7), False), (np.array(["a", "b", "c"], object), False),
    (np.array([1, 10**12, 2**40]), False),
    # Integer ids that arrive as Python ints (a DataFrame of int and str columns).
    (np.arange(0, 3000, 7), True), (np.array([1, 10**12, 2**40]), True),
], ids=["dense", "strings", "hashed", "dense-objects", "hashed-objects"])
def test_lookup_is_built_once(ids, as_objects, monkeypatch):
    """Looking ids up builds no table or index: that happens once, in the constructor."""
    vocabulary = Vocabulary(ids)
    expected = vocabulary.rows(ids[::-1])
    if as_objects:
        ids = ids.astype(object)

    def no_index(*args, **kwargs):
        raise AssertionError("a lookup built an index")

    table = vocabulary._table
    monkeypatch.setattr(_vocabulary, "pd", SimpleNamespace(Index=no_index))
    assert_array_equal(vocabulary.rows(ids[::-1]), expected)
    assert vocabulary._table is table
    assert_array_equal(expected, np.arange(len(ids))[::-1])
    assert vocabulary.rows(ids[:1])[0] == 0


def test_extend_sorts_as_fit_and_returns_the_row_moves():
    vocabulary, rows = Vocabulary.fit(np.array([30, 10, 20]))
    grown, move, new_rows = vocabulary.extend(np.array([25, 10, 5, 25]))
    assert_array_equal(grown.ids, [5, 10, 20, 25, 30])
    assert_array_equal(move, [1, 2, 4])  # 10, 20, 30 moved
    assert_array_equal(grown.ids[move], vocabulary.ids)
    assert_array_equal(new_rows, [3, 1, 0, 3])
    assert_array_equal(vocabulary.ids, [10, 20, 30])  # immutable: a new vocabulary
    same, move, _ = grown.extend(np.array([5, 30]))
    assert same is grown
    assert_array_equal(move, np.arange(5))


def test_vocabulary_ids_are_read_only():
    vocabulary, _ = Vocabulary.fit(np.array(["b", "a"], dtype=object))
    with pytest.raises(ValueError, match="read-only"):
        vocabulary.ids[0] = "z"
