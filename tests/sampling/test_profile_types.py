"""The sampling profile's helpers, without a target: sites, totals, JSON, the table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cdp_heap import CaptureError, SamplingHeapProfile, load_profile, save_profile
from cdp_heap.cli._sample import format_sites


def frame(name: str, url: str = "app.js", line: int = 0, column: int = 0) -> dict[str, object]:
    return {
        "functionName": name,
        "scriptId": "1",
        "url": url,
        "lineNumber": line,
        "columnNumber": column,
    }


def node(id: int, call_frame: dict[str, object], size: int, *children: dict[str, object]):  # type: ignore[no-untyped-def]
    return {"id": id, "callFrame": call_frame, "selfSize": size, "children": list(children)}


PROFILE = {
    "head": node(
        1,
        frame("(root)", "", -1, -1),
        0,
        node(2, frame("handle", line=10), 100, node(4, frame("alloc", line=3, column=9), 1000)),
        node(3, frame("other", line=20), 0, node(5, frame("alloc", line=3, column=9), 500)),
        node(6, frame("(V8 API)", "", -1, -1), 50),
    ),
    "samples": [{"size": 100, "nodeId": 4, "ordinal": 1}],
}


def test_sites_aggregate_call_paths() -> None:
    profile = SamplingHeapProfile.from_json(PROFILE)
    sites = profile.allocation_sites()
    assert [(s.name, s.self_size, s.nodes) for s in sites] == [
        ("alloc", 1500, 2),
        ("handle", 100, 1),
        ("(V8 API)", 50, 1),
    ]
    assert sites[0].location == "app.js:4:10"  # 1-based
    assert sites[2].location == ""
    assert profile.total_size == 1650
    assert profile.top_sites(1) == sites[:1]
    assert [n.id for n in profile.nodes()] == [1, 2, 4, 3, 5, 6]


def test_json_round_trip_and_deep_trees(tmp_path: Path) -> None:
    profile = SamplingHeapProfile.from_json(PROFILE)
    assert profile.to_json() == PROFILE
    deep = head = node(0, frame("f0"), 1)
    for i in range(1, 5000):  # deeper than Python's recursion limit
        child = node(i, frame(f"f{i}"), 1)
        head["children"].append(child)
        head = child
    big = SamplingHeapProfile.from_json({"head": deep, "samples": []})
    assert big.total_size == 5000
    tree = big.to_json()["head"]
    for _ in range(4999):
        tree = tree["children"][0]
    assert tree["id"] == 4999


async def test_save_and_load(tmp_path: Path) -> None:
    profile = SamplingHeapProfile.from_json(PROFILE)
    saved = await save_profile(profile, tmp_path / "p.heapprofile")
    assert json.loads(saved.path.read_text()) == PROFILE
    assert load_profile(saved.path) == profile
    with pytest.raises(CaptureError, match="does not exist"):
        await save_profile(profile, tmp_path / "missing" / "p.heapprofile")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.heapprofile"]


def test_table_is_aligned() -> None:
    profile = SamplingHeapProfile.from_json(PROFILE)
    lines = format_sites(profile, profile.top_sites(10)).splitlines()
    assert lines == [
        "self size      %  function  location",
        "   1.5 KB  90.9%  alloc     app.js:4:10",
        "    100 B   6.1%  handle    app.js:11:1",
        "     50 B   3.0%  (V8 API)",
        "   1.6 KB         total",
    ]
