"""Leak hunting on apps with known ground truth (``apps/leak_hunt.js``): routes, ranking,
folded primitives, growing collections, duplicated strings, and the checks on the input."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from cdp_heap.analysis import (
    IncomparableSnapshots,
    LeakGroup,
    LeakReport,
    SnapshotsOutOfOrder,
    find_leaks,
    leak_html,
    leak_text,
    load_nodes,
    load_snapshot,
)

Hunt = Callable[[str], list[Path]]

#: Self size of one ``Leaky`` / ``AaSmall`` / ``ZzBig`` / ``Holder`` on Node 20 (x64).
SMALL_OBJECT = 32


def group(report: LeakReport, name: str) -> LeakGroup:
    return next(g for g in report.groups if g.name == name)


@pytest.fixture(scope="module")
def routes_report(hunt: Hunt) -> LeakReport:
    return find_leaks(hunt("routes"))


def test_one_class_leaked_three_ways_has_three_routes(routes_report: LeakReport) -> None:
    leaky = group(routes_report, "Leaky")
    assert leaky.count == 600 and leaky.counts == (0, 600, 1200)
    shapes = [(route.count, route.shape) for route in leaky.routes]
    assert shapes == [
        (300, "global --[leakyArray]--> Array --[[i]]--> Leaky"),
        (
            200,
            "global --[holdInClosure]--> Function --[context]--> system / Context "
            "--[context.hidden]--> Array --[[i]]--> Leaky",
        ),
        (100, "global --[leakyMap]--> Map --[table]--> (array) --[[key]]--> Leaky"),
    ]
    for route in leaky.routes:
        # Each Leaky is its own top object: the route retains exactly its objects.
        assert route.self_size == route.retained_size == route.count * SMALL_OBJECT
    assert leaky.more_routes == 0 and leaky.unreachable == 0
    # The example path of each route is a real path to one object of it, with its ids.
    edges = [step.edge for step in leaky.routes[0].path]
    assert edges[1] == "leakyArray" and re.fullmatch(r"\[\d+\]", edges[2])
    assert leaky.routes[2].path[-1].node_class == "Leaky"


def test_routes_in_text_and_html(routes_report: LeakReport) -> None:
    text = leak_text(routes_report)
    assert "What holds Leaky: 3 routes" in text
    assert "  300 objects, 9.4 KiB: global --[leakyArray]--> Array --[[i]]--> Leaky" in text
    assert "  100 objects, 3.1 KiB: global --[leakyMap]--> Map" in text
    html = leak_html(routes_report)
    assert html.count('<table class="routes">') >= 1
    assert "<td>200</td><td>6.2 KiB</td>" in html and "context.hidden" in html


def test_growing_collections_by_id(hunt: Hunt) -> None:
    report = find_leaks(hunt("growth"))
    found = {c.path[-1].edge: c for c in report.collections}
    # The Map churn has 100 entries in every snapshot (all replaced each phase): not growing.
    assert sorted(found) == ["queue", "registry", "sessions"]
    # String keys and object values: two slots per entry, 100 entries per phase.
    assert found["sessions"].counts == (0, 200, 400, 600)
    assert found["sessions"].name == "Map"
    assert found["queue"].counts == (0, 50, 100, 150)
    assert found["queue"].name == "Array"
    # 40 properties per phase, and __proto__.
    assert found["registry"].counts == (1, 41, 81, 121)
    for collection in found.values():
        assert collection.path[0].node_class == "global"
        assert collection.retained_size is not None and collection.retained_size > 0
    # Most retained first.
    sizes = [c.retained_size or 0 for c in report.collections]
    assert sizes == sorted(sizes, reverse=True)
    assert "Growing collections" in leak_text(report)
    assert '<table id="collections">' in leak_html(report)


def test_collections_of_the_routes_app(routes_report: LeakReport) -> None:
    counts = {c.path[-1].edge: c.counts for c in routes_report.collections}
    # A Map keyed by objects with number values: one slot per entry.
    assert counts == {
        "leakyArray": (0, 300, 600),
        "context.hidden": (0, 200, 400),
        "leakyMap": (0, 100, 200),
    }


@pytest.mark.parametrize("sort", ["retained", "count", "shallow"])
def test_equal_counts_rank_the_costly_class_first(hunt: Hunt, sort: str) -> None:
    report = find_leaks(hunt("ties"), sort=sort)  # type: ignore[arg-type]
    names = [g.name for g in report.groups]
    big, small = group(report, "ZzBig"), group(report, "AaSmall")
    assert big.count == small.count == 500
    assert big.self_size == small.self_size == 500 * SMALL_OBJECT
    # Each ZzBig holds an Array (32 bytes) and its 1000 elements (8016 bytes).
    assert big.retained_size == 500 * (SMALL_OBJECT + SMALL_OBJECT + 8016)
    assert small.retained_size == 500 * SMALL_OBJECT
    # Equal count and self size: the retained size decides, never the name.
    assert names.index("ZzBig") < names.index("AaSmall")
    if sort == "retained":
        assert names[0] == "ZzBig"


def test_without_retained_sizes_the_ranking_is_by_self_size(hunt: Hunt) -> None:
    report = find_leaks(hunt("ties"), retained=False)
    assert report.sort == "shallow"
    assert all(g.retained_size is None for g in report.groups)
    sizes = [g.self_size for g in report.groups]
    assert sizes == sorted(sizes, reverse=True)


def test_primitives_fold_under_the_object_that_holds_them(hunt: Hunt) -> None:
    report = find_leaks(hunt("held"))
    holder = group(report, "Holder")
    assert holder.count == 400
    held = {h.name: h.count for h in holder.holds}
    assert held == {"(number)": 400, "(string)": 400}
    # The folded values are part of what the holders retain, not rows of their own.
    strings = next((g for g in report.groups if g.name == "(string)"), None)
    assert strings is None or strings.count < 400
    assert holder.retained_size is not None
    held_size = sum(h.self_size for h in holder.holds)
    assert holder.retained_size == holder.self_size + held_size
    assert report.groups[0].name == "Holder"
    assert "400 (number), 400 (string)" in leak_text(report)
    # Every leaked object is still counted once.
    assert report.leaked_objects == sum(
        g.count + sum(h.count for h in g.holds) for g in report.groups
    )


def test_duplicated_strings(hunt: Hunt) -> None:
    report = find_leaks(hunt("strings"))
    top = report.duplicates[0]
    assert top.text == "duplicated-" + "x" * 49
    # 777 copies, plus the flat string V8 made of the template ('duplicated-' + 'x'.repeat(49)).
    assert top.count == 778
    assert top.self_size == 778 * 80
    assert top.wasted == 777 * 80
    assert "'duplicated-xxx" in leak_text(report)
    assert '<table id="duplicates">' in leak_html(report)


def test_snapshots_out_of_order_are_refused(hunt: Hunt) -> None:
    s1, s2, s3 = hunt("routes")
    with pytest.raises(SnapshotsOutOfOrder, match=r"s1\.heapsnapshot was taken before"):
        find_leaks([s2, s1, s3])
    with pytest.raises(SnapshotsOutOfOrder, match="give the snapshots oldest first"):
        find_leaks([s3, s2, s1])  # newest first: it used to report "no leaks"


def test_snapshots_of_two_sessions_are_refused(hunt: Hunt) -> None:
    with pytest.raises(IncomparableSnapshots, match="cannot be compared"):
        find_leaks(hunt("sessions"))


def test_nodes_only_read_can_read_edges_back(hunt: Hunt) -> None:
    # Earlier snapshots are read without parsing their edges; the reader notes where the
    # edges' blocks are, so that a few can be read back exactly.
    path = hunt("routes")[0]
    full = load_snapshot(path)
    nodes = load_nodes(path)
    assert nodes.edge_count == 0 and nodes.first_edge.tolist() == full.first_edge.tolist()
    index = nodes.file_index
    assert index is not None
    width = len(nodes.edge_fields)
    picked = [0, 1, full.edge_count // 2, full.edge_count - 1]
    to_field = nodes.edge_fields.index("to_node")
    back = index.numbers("edges", [e * width + to_field for e in picked])
    assert [b // nodes.node_field_count for b in back] == full.edge_to[picked].tolist()


def test_devtools_rules_keep_the_routes_and_key_the_classes(hunt: Hunt) -> None:
    report = find_leaks(hunt("held"))
    holder = group(report, "Holder")
    # DevTools keys a class by its constructor's location: script id, line, column, name.
    assert re.fullmatch(r"\d+,\d+,\d+,Holder", holder.key)
    assert holder.count == 400
    assert {h.name: h.count for h in holder.holds} == {"(number)": 400, "(string)": 400}
    assert [route.count for route in holder.routes] == [400]
    routes = find_leaks(hunt("routes"))
    assert [route.count for route in group(routes, "Leaky").routes] == [300, 200, 100]


def test_two_classes_of_one_name_are_two_rows_with_devtools_keys(hunt: Hunt) -> None:
    files = hunt("twins")
    # The default and --raw-sizes: DevTools' class keys either way (raw changes sizes only).
    for raw in (False, True):
        keyed = [g for g in find_leaks(files, raw=raw).groups if g.name == "Twin"]
        assert sorted(g.count for g in keyed) == [30, 30]
    assert sorted(g.count for g in keyed) == [30, 30]
    assert len({g.key for g in keyed}) == 2
    assert all(re.fullmatch(r"\d+,\d+,\d+,Twin", g.key) for g in keyed)
    text = leak_text(find_leaks(files))
    assert all(f"Twin [{g.key}]" in text for g in keyed)
