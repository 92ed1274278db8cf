"""The streaming reader: same arrays as json.load, any block size, any layout, bad input."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from cdp_heap.analysis import SnapshotFormatError, load_objects, load_snapshot
from cdp_heap.analysis._reader import _Reader, read_snapshot
from tests.analysis.builder import Node, build, write
from tests.analysis.conftest import Pair

TRICKY = [
    'quote " and backslash \\ ',
    "brackets ] [ } { , : in a string",
    "new\nline and tab\t",
    "unicode é ü 漢字 and an emoji 🎉",
    "\u2028 separator",
    "",
    "x" * 5000,
]


def tricky_snapshot() -> list[Node]:
    nodes = [Node("synthetic", "", 1, 0, [("element", 1, 1)])]
    nodes.append(
        Node(
            "object", "Holder", 3, 16, [("property", name, 2 + i) for i, name in enumerate(TRICKY)]
        )
    )
    nodes += [Node("string", text, 5 + 2 * i, 24) for i, text in enumerate(TRICKY)]
    return nodes


@pytest.mark.parametrize("block_size", [1, 2, 7, 64, 1000, 1 << 20])
def test_any_block_size_reads_the_same(tmp_path: Path, block_size: int) -> None:
    path = write(tmp_path / "t.heapsnapshot", tricky_snapshot())
    expected = json.loads(path.read_text(encoding="utf-8"))
    raw = read_snapshot(path, block_size=block_size)
    assert raw.strings == expected["strings"]
    assert raw.nodes.tolist() == expected["nodes"]
    assert raw.edges is not None and raw.edges.tolist() == expected["edges"]
    assert raw.node_count == len(tricky_snapshot())


def test_real_node_snapshot_matches_json_load(pair: Pair) -> None:
    expected = json.loads(pair.base.read_text(encoding="utf-8"))
    for block_size in (4096, 1 << 23):
        raw = read_snapshot(pair.base, block_size=block_size)
        assert np.array_equal(raw.nodes, np.array(expected["nodes"], dtype=np.uint32))
        assert raw.edges is not None
        assert np.array_equal(raw.edges, np.array(expected["edges"], dtype=np.uint32))
        assert raw.strings == expected["strings"]
    assert len(expected["snapshot"]["meta"]["node_fields"]) == 7  # Node 20's layout


def test_to_node_becomes_an_ordinal(pair: Pair) -> None:
    expected = json.loads(pair.base.read_text(encoding="utf-8"))
    snapshot = load_snapshot(pair.base)
    fields = len(expected["snapshot"]["meta"]["node_fields"])
    to_node = np.array(expected["edges"][2::3])
    assert np.array_equal(snapshot.edge_to, to_node // fields)
    assert snapshot.node_count == expected["snapshot"]["node_count"]
    assert snapshot.edge_count == expected["snapshot"]["edge_count"]


@pytest.mark.parametrize("layout", ["node20", "chromium", "old"])
def test_layout_comes_from_meta(tmp_path: Path, layout: str) -> None:
    path = write(tmp_path / "t.heapsnapshot", tricky_snapshot(), layout)
    snapshot = load_snapshot(path)
    assert snapshot.node_field_count == {"node20": 7, "chromium": 6, "old": 5}[layout]
    assert snapshot.node_id.tolist() == [n.id for n in tricky_snapshot()]
    assert snapshot.class_of(1) == "Holder"
    assert [snapshot.edge_label(e) for e in range(1, 3)] == TRICKY[:2]
    assert snapshot.edge_to.tolist() == [1, *range(2, 2 + len(TRICKY))]


def _cut(text: str, fraction: float) -> str:
    return text[: int(len(text) * fraction)]


BAD_INPUTS = {
    "empty": ("", "empty file"),
    "whitespace": ("  \n", "only whitespace"),
    "not json": ("hello world", "does not start with a JSON object"),
    "json array": ("[1, 2, 3]", "does not start with a JSON object"),
    "other json": ('{"name": "package", "version": "1.0.0"}', "no 'snapshot'"),
    "no meta": ('{"snapshot": {}, "nodes": [], "edges": [], "strings": []}', "snapshot.meta"),
    "words in nodes": (
        build([Node("synthetic", "", 1, 0)]).replace('"nodes":[9', '"nodes":[true'),
        "other than numbers",
    ),
    "trailing data": (build([Node("synthetic", "", 1, 0)]) + "{}", "after the end"),
    "negative number": (
        build([Node("synthetic", "", 1, 0)]).replace('"nodes":[9', '"nodes":[-9'),
        "out of range",
    ),
    "number above uint32": (
        build([Node("synthetic", "", 1, 0)]).replace('"nodes":[9', '"nodes":[4294967296'),
        "out of range",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_one_clear_error(tmp_path: Path, case: str) -> None:
    text, message = BAD_INPUTS[case]
    path = tmp_path / "bad.heapsnapshot"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SnapshotFormatError, match=message) as info:
        load_snapshot(path)
    assert "\n" not in str(info.value)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("fraction", [0.0001, 0.01, 0.3, 0.6, 0.9, 0.999])
def test_truncated_snapshot_is_reported(pair: Pair, tmp_path: Path, fraction: float) -> None:
    path = tmp_path / "cut.heapsnapshot"
    path.write_text(_cut(pair.base.read_text(encoding="utf-8"), fraction), encoding="utf-8")
    with pytest.raises(SnapshotFormatError, match="truncated"):
        load_snapshot(path)
    with pytest.raises(SnapshotFormatError, match="truncated"):
        load_objects(path)


def test_last_byte_missing_is_reported(pair: Pair, tmp_path: Path) -> None:
    path = tmp_path / "cut.heapsnapshot"
    path.write_bytes(pair.base.read_bytes().rstrip()[:-1])
    with pytest.raises(SnapshotFormatError, match="truncated"):
        load_snapshot(path)


def test_a_bad_block_before_the_cut_is_the_error(pair: Pair, tmp_path: Path) -> None:
    """Blocks are parsed ahead in a thread, yet handled in file order: a non-number early
    in ``nodes`` is the error even when the file is also cut later in the same array, and
    a cut alone counts every number before it."""
    text = pair.base.read_text(encoding="utf-8")
    start = text.index('"nodes":[') + len('"nodes":[')
    stop = text.index("]", start)
    numbers = text[start:stop].split(",")
    assert len(numbers) > 200
    cut_at = len(numbers) - 20
    bad = list(numbers)
    bad[5] = "x"
    path = tmp_path / "bad.heapsnapshot"
    path.write_text(text[:start] + ",".join(bad[:cut_at]) + ",", encoding="utf-8")
    with pytest.raises(SnapshotFormatError, match="something other than numbers"):
        read_snapshot(path, block_size=64)
    path.write_text(text[:start] + ",".join(numbers[:cut_at]) + ",", encoding="utf-8")
    with pytest.raises(SnapshotFormatError, match=f"after {cut_at} numbers"):
        read_snapshot(path, block_size=64)


def _hold_the_parse_thread(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Hold the parse thread in its first block of ``nodes`` until the main thread has
    parsed a block itself (it must, to go on: the block it stores next is held). Returns
    the keys of the blocks the main thread parsed."""
    original = _Reader._parse_numbers
    stolen = threading.Event()
    by_main: list[str] = []

    def parse(reader: _Reader, text: bytes, key: str) -> npt.NDArray[np.int64]:
        if threading.current_thread() is threading.main_thread():
            by_main.append(key)
            stolen.set()
        elif key == "nodes" and not stolen.is_set():
            stolen.wait(timeout=60)  # a guard against a hang only: the test checks by_main
        return original(reader, text, key)

    monkeypatch.setattr(_Reader, "_parse_numbers", parse)
    return by_main


def test_a_block_parsed_by_the_main_thread_keeps_its_place(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the parse thread is busy, the main thread parses the newest queued block: its
    numbers land where they belong."""
    by_main = _hold_the_parse_thread(monkeypatch)
    expected = json.loads(pair.base.read_text(encoding="utf-8"))
    raw = read_snapshot(pair.base, block_size=64)
    assert "nodes" in by_main
    assert np.array_equal(raw.nodes, np.array(expected["nodes"], dtype=np.uint32))
    assert raw.edges is not None
    assert np.array_equal(raw.edges, np.array(expected["edges"], dtype=np.uint32))


def test_the_first_bad_block_is_the_error_when_a_later_one_fails_first(
    pair: Pair, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The block the main thread parses out of turn fails before the held one is parsed,
    yet the error is the held block's: the first in the file."""
    text = pair.base.read_text(encoding="utf-8")
    start = text.index('"nodes":[') + len('"nodes":[')
    stop = text.index("]", start)
    numbers = text[start:stop].split(",")
    numbers[3] = "x"
    numbers[40:] = ["4294967296"] * (len(numbers) - 40)
    path = tmp_path / "bad.heapsnapshot"
    path.write_text(text[:start] + ",".join(numbers) + text[stop:], encoding="utf-8")
    by_main = _hold_the_parse_thread(monkeypatch)
    with pytest.raises(SnapshotFormatError, match="something other than numbers"):
        read_snapshot(path, block_size=64)
    assert "nodes" in by_main
    monkeypatch.undo()
    numbers[3] = "1"
    path.write_text(text[:start] + ",".join(numbers) + text[stop:], encoding="utf-8")
    with pytest.raises(SnapshotFormatError, match="out of range"):
        read_snapshot(path, block_size=64)
