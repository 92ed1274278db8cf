"""Summary and Comparison against ground truth built into real Node snapshots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdp_heap.analysis import (
    SORT_KEYS,
    IncomparableSnapshots,
    class_name_of,
    compare,
    load_objects,
    load_view,
)
from cdp_heap.analysis import _compare as compare_module
from cdp_heap.analysis._compare import partners
from cdp_heap.cli import build_parser
from tests.analysis.builder import NODE_TYPES, Node, write
from tests.analysis.conftest import FREED, LEAKED, Pair


@pytest.mark.parametrize(
    ("node_type", "name", "expected"),
    [
        ("object", "LeakyThing", "LeakyThing"),
        ("native", '<div id="a" class="b">', "<div>"),
        ("native", "Detached <div id='a'>", "Detached <div>"),
        ("hidden", "system / Context", "(system)"),
        ("code", "foo", "(compiled code)"),
        ("closure", "handler", "Function"),
        ("regexp", "/a+/", "RegExp"),
        ("string", "hello", "(string)"),
        ("concatenated string", "ab", "(concatenated string)"),
        ("number", "heap number", "(number)"),
        ("array", "", "(array)"),
        ("object shape", "system / Map", "(object shape)"),
    ],
)
def test_class_names_follow_devtools(node_type: str, name: str, expected: str) -> None:
    assert class_name_of(node_type, name) == expected


def by_name(rows: object) -> dict[str, object]:
    return {row.name: row for row in rows}  # type: ignore[attr-defined]


def test_diff_reports_exactly_what_the_app_did(pair: Pair) -> None:
    comparison = compare(load_objects(pair.base), load_objects(pair.target))
    rows = by_name(comparison.classes)
    leak, freed = rows["GroundTruthLeak"], rows["GroundTruthFreed"]
    assert (leak.new, leak.deleted, leak.delta, leak.count) == (LEAKED, 0, LEAKED, LEAKED)  # type: ignore[attr-defined]
    assert leak.alloc_size == leak.self_size == leak.size_delta > 0  # type: ignore[attr-defined]
    assert (freed.new, freed.deleted, freed.delta, freed.count) == (0, FREED, -FREED, 0)  # type: ignore[attr-defined]
    assert freed.freed_size == -freed.size_delta > 0  # type: ignore[attr-defined]
    # Objects the app did not touch: no noise.
    for name in ("Object", "Map", "(number)", "(symbol)"):
        assert (rows[name].new, rows[name].deleted) == (0, 0), name  # type: ignore[attr-defined]
    assert comparison.sorted("delta")[0].name == "GroundTruthLeak"
    assert comparison.sorted("deleted")[0].name == "GroundTruthFreed"


def test_diff_of_a_snapshot_with_itself_is_all_zeros(pair: Pair) -> None:
    table = load_objects(pair.target)
    comparison = compare(table, table)
    assert comparison.comparability.changed == 0
    summary = {row.key: row for row in load_view(pair.target).summary(retained=False)}
    for row in comparison.classes:
        assert (row.new, row.deleted, row.delta, row.alloc_size, row.freed_size) == (0,) * 5
        assert (row.count, row.self_size) == (summary[row.key].count, summary[row.key].self_size)


node_strategy = st.tuples(
    st.sampled_from(NODE_TYPES),
    st.sampled_from(["A", "B", "<p id=x>", "x"]),
    st.integers(0, 64),
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(node_strategy, min_size=1, max_size=30))
def test_property_diff_with_itself_is_zero(
    tmp_path: Path, specs: list[tuple[str, str, int]]
) -> None:
    nodes = [Node("synthetic", "", 1, 0)] + [
        Node(t, name, 3 + 2 * i, size) for i, (t, name, size) in enumerate(specs)
    ]
    table = load_objects(write(tmp_path / "p.heapsnapshot", nodes))
    comparison = compare(table, table)
    assert all(r.new == r.deleted == r.alloc_size == r.freed_size == 0 for r in comparison.classes)
    counted = [s for s in specs if s[2] > 0]  # DevTools counts no zero-size natives either
    assert sum(r.count for r in comparison.classes) == len(counted)
    assert sum(r.self_size for r in comparison.classes) == sum(s[2] for s in counted)


def test_snapshots_of_two_processes_are_refused(pair: Pair, other_process: Pair) -> None:
    with pytest.raises(IncomparableSnapshots, match="different processes") as info:
        compare(load_objects(pair.base), load_objects(other_process.target))
    message = str(info.value)
    assert "cdp-heap snapshot --count" in message and "cdp-heap leak" in message
    assert "proxy" in message and "\n" not in message


def test_snapshots_across_a_profiler_reset_are_refused(reset_pair: Pair) -> None:
    base, target = load_objects(reset_pair.base), load_objects(reset_pair.target)
    with pytest.raises(IncomparableSnapshots, match="inspector sessions"):
        compare(base, target)
    noisy = compare(base, target, check=False)
    assert noisy.comparability.mismatch_share > 0.3
    # What the refusal protects from: thousands of untouched objects as "new" and "deleted".
    assert sum(r.new for r in noisy.classes) > 10 * LEAKED


def test_cli_sort_keys_match_the_library(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["diff", "a", "b", "--sort", "no-such-key"])
    choices = capsys.readouterr().err.rpartition("(choose from ")[2].rstrip(")\n")
    assert tuple(choice.strip("'") for choice in choices.split(", ")) == SORT_KEYS


# Ids as V8 numbers them (odd, counted up: inside the id table), a few far above (outside
# it), and repeats (the table refuses them: every id is then searched).
_ids = st.lists(
    st.one_of(
        st.integers(0, 80),
        st.integers(2**32 - 40, 2**32 - 1),
        st.integers(0, 2**32 - 1),
    ),
    max_size=60,
)


@settings(max_examples=400, deadline=None)
@given(_ids, _ids, st.booleans())
def test_partners_are_the_first_base_object_with_the_id(
    target: list[int], base: list[int], unique: bool
) -> None:
    """The id table and the search for the ids beyond it find what a dict of each id's
    first base position finds, with repeated ids and ids near 2**32 too."""
    if unique:
        base = list(dict.fromkeys(base))
    first: dict[int, int] = {}
    for row, id_ in enumerate(base):
        first.setdefault(id_, row)
    found = partners(np.array(target, dtype=np.uint32), np.array(base, dtype=np.uint32))
    assert found.dtype == np.int32
    assert found.tolist() == [first.get(id_, -1) for id_ in target]


def test_partners_in_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ids looked up over several chunks, half of them in the table, half searched."""
    monkeypatch.setattr(compare_module, "_CHUNK", 7)
    base = np.array([1, 3, 5, 9, 7, 2**31, 11, 2**32 - 1, 13, 15], dtype=np.uint32)
    target = np.array([15, 2**31, 4, 1, 2**32 - 1, 3, 2**30, 13, 9, 9, 0, 11], dtype=np.uint32)
    expected = [9, 5, -1, 0, 7, 1, -1, 8, 3, 3, -1, 6]
    assert partners(target, base).tolist() == expected
