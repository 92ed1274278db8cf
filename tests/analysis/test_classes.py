"""The grouping of located objects into DevTools' class keys (``_classes.location_groups``)
against the plain version (a lexsort of the rows) and a dict over tuples."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdp_heap.analysis import _classes
from cdp_heap.analysis._classes import _location_groups_by_rows, location_groups


@st.composite
def located(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    n = draw(st.integers(min_value=0, max_value=200))
    # Small ranges (the one-key path) or the whole uint32 range (its product overflows:
    # the rows path); few distinct values so that groups repeat.
    top = draw(st.sampled_from([3, 50, 2**32 - 1]))
    values = st.integers(min_value=0, max_value=top)
    pool = draw(st.lists(st.tuples(values, values, values), min_size=1, max_size=8))
    picks = draw(st.lists(st.integers(0, len(pool) - 1), min_size=n, max_size=n))
    classes = draw(st.lists(st.integers(0, 5 if top < 50 else 2**31 - 1), min_size=n, max_size=n))
    location = np.array([pool[p] for p in picks], dtype=np.uint32).reshape(n, 3)
    return location, np.array(classes, dtype=np.int32)


@settings(max_examples=300, deadline=None)
@given(located(), st.sampled_from([1, 7, 1 << 18]))
def test_location_groups_equal_the_plain_version(
    case: tuple[np.ndarray, np.ndarray], chunk: int
) -> None:
    location, classes = case
    with mock.patch.object(_classes, "_GROUP_CHUNK", chunk):  # several chunks, or one
        rows, group = location_groups(location, classes)
    plain_rows, plain_group = _location_groups_by_rows(location, classes)
    assert np.array_equal(rows, plain_rows)
    assert np.array_equal(group, plain_group)
    # And what they mean: the sorted distinct tuples, each object at its own.
    tuples = [(*map(int, loc), int(c)) for loc, c in zip(location, classes, strict=True)]
    distinct = sorted(set(tuples))
    assert [tuple(r) for r in rows.tolist()] == distinct
    assert [distinct[g] for g in group.tolist()] == tuples


@st.composite
def nodes(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    node_types = ["hidden", "array", "string", "object", "code", "closure", "native"]
    strings = draw(st.lists(st.sampled_from(["Foo", "<div id=1>", "<p>", "", "Bar"]), min_size=1))
    n = draw(st.integers(min_value=0, max_value=60))
    types = draw(st.lists(st.integers(0, len(node_types) - 1), min_size=n, max_size=n))
    names = draw(st.lists(st.integers(0, len(strings) - 1), min_size=n, max_size=n))
    return np.array(types, np.uint32), np.array(names, np.uint32), node_types, strings


@settings(max_examples=300, deadline=None)
@given(nodes(), st.sampled_from([1, 7, 1 << 18]))
def test_classify_follows_the_scalar_rule(
    case: tuple[np.ndarray, np.ndarray, list[str], list[str]], chunk: int
) -> None:
    """``classify`` a chunk of nodes at a time, or whole: each node's class is
    ``class_name_of`` its type and name, and the names are distinct."""
    types, names, node_types, strings = case
    with mock.patch.object(_classes, "_NAME_CHUNK", chunk):
        class_ids, class_names = _classes.classify(types, names, node_types, strings)
    expected = [
        _classes.class_name_of(node_types[t], strings[s])
        for t, s in zip(types.tolist(), names.tolist(), strict=True)
    ]
    assert [class_names[c] for c in class_ids.tolist()] == expected
    assert len(set(class_names)) == len(class_names)


def test_classify_refuses_a_name_past_the_strings() -> None:
    types = np.array([3, 3], dtype=np.uint32)  # objects: named by their strings
    with (
        mock.patch.object(_classes, "_NAME_CHUNK", 1),
        pytest.raises(ValueError, match="past the end of 'strings'"),
    ):
        _classes.classify(types, np.array([0, 5], np.uint32), ["hidden"] * 3 + ["object"], ["A"])


@st.composite
def located_nodes(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Nodes (types 0-2, type 1 the objects) with classes, and locations of some of them."""
    location, _ = draw(located())
    n = len(location) + draw(st.integers(min_value=1, max_value=20))
    types = np.array(draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)), np.uint32)
    top = draw(st.sampled_from([5, 2**31 - 1]))
    class_ids = np.array(draw(st.lists(st.integers(0, top), min_size=n, max_size=n)), np.int32)
    chosen = draw(st.permutations(range(n)))[: len(location)]
    return class_ids, np.array(sorted(chosen), dtype=np.int64), location, types


@settings(max_examples=300, deadline=None)
@given(located_nodes(), st.sampled_from([1, 7, 1 << 18]), st.integers(0, 100))
def test_located_classes_equal_grouping_the_objects_whole(
    case: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], chunk: int, first: int
) -> None:
    """``located_classes`` (a chunk of locations at a time) gives the objects' classes and
    the rows that ``location_groups`` of all the located objects at once gives."""
    class_ids, location_node, location, types = case
    is_object = types[location_node] == 1
    nodes = location_node[is_object]
    rows, group = location_groups(location[is_object], class_ids[nodes])
    expected = class_ids.copy()
    expected[nodes] = group + first
    with mock.patch.object(_classes, "_GROUP_CHUNK", chunk):
        got_rows = _classes.located_classes(class_ids, location_node, location, types, 1, first)
    assert np.array_equal(got_rows.reshape(-1, 4), rows.reshape(-1, 4))
    assert np.array_equal(class_ids, expected)
