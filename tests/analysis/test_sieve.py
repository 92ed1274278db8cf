"""The sieved graph of diff's table (`load_comparison_graph`) and its early guess of the
index of the string ``Object`` (which objects are plain), on hand-built snapshots: the
guess right, wrong (a file not laid out as V8 writes it) and absent give the objects of
the whole graph; and the reader's batch test of internal edge names against the one-name
function. DevTools' own numbers for real heaps: test_devtools_reference.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdp_heap.analysis import HeapView, load_comparison_graph, load_snapshot
from cdp_heap.analysis import _sieve as sieve_module
from cdp_heap.analysis._strings import (
    guess_string_index,
    internal_name_wanted,
    internal_names_wanted,
)
from tests.analysis.builder import Node, build


def _heap() -> list[Node]:
    """Plain objects of two shapes, a class with properties of its own, an array owned by
    one object, and a node named ``strings`` (an element like the key the scan looks for)."""
    nodes = [
        Node("synthetic", "", 1, 0, [("shortcut", "global", 1), ("element", 1, 2)]),
        Node("object", "global", 3, 40, [("property", "a", 3), ("property", "b", 4)]),
        Node("synthetic", "(GC roots)", 5, 0, [("element", 1, 10)]),
    ]
    shapes = [["x", "y"], ["x", "y"], ["x", "y"], ["payload"], ["payload"], ["payload"]]
    first = len(nodes) + 2
    nodes[1].edges += [("property", f"p{i}", first + i) for i in range(len(shapes))]
    nodes.append(Node("object", "Item", 7, 24, [("property", "x", 9), ("internal", "e", 10)]))
    nodes.append(Node("object", "strings", 9, 16, [("property", "y", 1)]))
    for i, props in enumerate(shapes):
        edges: list[tuple[str, str | int, int]] = [("property", p, 1) for p in props]
        nodes.append(Node("object", "Object", 11 + 2 * i, 16, edges))
    nodes.append(Node("array", "(object elements)", 41, 64))
    nodes.append(Node("array", "(object properties)", 43, 32))
    nodes[3].edges.append(("internal", "elements", len(nodes) - 2))
    return nodes


def _same_objects(path: Path) -> None:
    whole = HeapView(load_snapshot(path))
    sieved = HeapView(load_comparison_graph(path))
    assert sieved.snapshot.partial
    assert sieved.interfaces == whole.interfaces
    assert [i.name for i in sieved.interfaces] == ["{x, y}", "{payload}"]
    mine, theirs = sieved.objects(), whole.objects()
    assert np.array_equal(mine.ids, theirs.ids)
    assert np.array_equal(mine.self_sizes, theirs.self_sizes)
    keys = np.array(mine.class_names, dtype=object)[mine.class_ids]
    assert list(keys) == list(np.array(theirs.class_names, dtype=object)[theirs.class_ids])


def _reads(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The plain-object names each read of the file was made with."""
    calls: list[object] = []
    load = sieve_module._load

    def counted(path: str | Path, plain_name: int | None, file_edges: bool) -> object:
        calls.append(plain_name)
        return load(path, plain_name, file_edges)

    monkeypatch.setattr(sieve_module, "_load", counted)
    return calls


def test_the_guess_is_the_index_in_v8s_layout(tmp_path: Path) -> None:
    text = build(_heap())
    path = tmp_path / "s.heapsnapshot"
    path.write_text(text, encoding="utf-8")
    strings = load_snapshot(path).strings
    assert guess_string_index(path, "Object") == strings.index("Object")
    assert guess_string_index(path, "strings") == strings.index("strings")
    assert guess_string_index(path, "absent") is None


def test_a_right_guess_reads_the_file_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "s.heapsnapshot"
    path.write_text(build(_heap()), encoding="utf-8")
    reads = _reads(monkeypatch)
    _same_objects(path)
    assert reads == [load_snapshot(path).strings.index("Object")]


def test_two_strings_on_a_line_make_a_wrong_guess_that_is_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer may put strings on one line: the guess is then too small, the check
    after reading sees it, and the file is read again keeping every object's properties."""
    text = build(_heap())
    start = text.index('"strings":[')
    head, tail = text[:start], text[start:]
    path = tmp_path / "s.heapsnapshot"
    path.write_text(head + tail.replace(",\n", ",", 2), encoding="utf-8")
    guess = guess_string_index(path, "Object")
    assert guess is not None and guess != load_snapshot(path).strings.index("Object")
    reads = _reads(monkeypatch)
    _same_objects(path)
    assert reads == [guess, None]


def test_no_guess_keeps_every_objects_properties_while_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``Object`` escaped as V8 never writes it: the scan finds no line, one read."""
    text = build(_heap()).replace('\n"Object"', '\n"\\u004fbject"')
    path = tmp_path / "s.heapsnapshot"
    path.write_text(text, encoding="utf-8")
    assert guess_string_index(path, "Object") is None
    reads = _reads(monkeypatch)
    _same_objects(path)
    assert reads == [None]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.integers(min_value=0, max_value=99999).map(str),
            st.integers(min_value=0, max_value=5000).map(lambda v: str(v).zfill(5)),
            st.text(alphabet="0123456789٣ +x", max_size=6),
            st.sampled_from(
                [
                    "sloppy_function_map",
                    "1 / part of key (a @1) -> value (b @2) pair in WeakMap (table @3)",
                    "",
                ]
            ),
            st.text(max_size=8),
        ),
        max_size=60,
    )
)
def test_internal_names_wanted_equal_the_function(texts: list[str]) -> None:
    assert internal_names_wanted(texts) == [internal_name_wanted(t) for t in texts]
