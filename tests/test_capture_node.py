"""Snapshot capture against a real `node --inspect`: the semantics and the faults."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trio

import cdp_heap
from cdp_heap import CaptureError, CaptureProgress, ConnectionClosed, HeapProfiler
from tests.targets import Target, start_leaky_app


def load(path: Path) -> dict[str, object]:
    with path.open() as f:
        snapshot = json.load(f)
    assert isinstance(snapshot, dict)
    return snapshot


def ids_of_class(snapshot: dict[str, Any], name: str) -> set[int]:
    """Node ids of the objects whose constructor is ``name`` (read from snapshot.meta)."""
    fields: list[str] = snapshot["snapshot"]["meta"]["node_fields"]
    width, name_at, id_at = len(fields), fields.index("name"), fields.index("id")
    strings: list[str] = snapshot["strings"]
    nodes: list[int] = snapshot["nodes"]
    if name not in strings:
        return set()
    index = strings.index(name)
    return {nodes[i + id_at] for i in range(0, len(nodes), width) if nodes[i + name_at] == index}


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".partial"))


@pytest.fixture
def big_app() -> Iterator[Target]:
    """A Node process whose snapshot is ~35 MB: long enough to act in the middle of it."""
    target = start_leaky_app("--heap-mb", "10")
    yield target
    target.kill()


async def test_snapshot_is_saved_complete_and_atomically(leaky_app: Target, tmp_path: Path) -> None:
    path = tmp_path / "app.heapsnapshot"
    seen: list[CaptureProgress] = []
    with trio.fail_after(30):
        async with cdp_heap.open_cdp(leaky_app.ws_url) as conn:
            saved = await cdp_heap.save_snapshot(
                conn, path, gc=True, report_progress=True, on_progress=seen.append
            )
    snapshot = load(path)
    assert saved.size == path.stat().st_size and saved.chunks > 1
    assert "trace_node_id" in snapshot["snapshot"]["meta"]["node_fields"]  # type: ignore[index]
    assert {p.phase for p in seen} == {"building", "writing"}
    assert seen[-1].bytes_written == saved.size
    assert leftovers(tmp_path) == []


async def test_object_ids_are_comparable_within_one_session_only(
    leaky_app: Target, tmp_path: Path
) -> None:
    with trio.fail_after(60):
        async with cdp_heap.open_cdp(leaky_app.ws_url) as conn:
            await HeapProfiler(conn).enable()
            await conn.send("Runtime.evaluate", {"expression": "leak(100)"})
            await cdp_heap.save_snapshot(conn, tmp_path / "a")
            await conn.send("Runtime.evaluate", {"expression": "leak(1234)"})
            await cdp_heap.save_snapshot(conn, tmp_path / "b")
        async with cdp_heap.open_cdp(leaky_app.ws_url) as conn:
            await cdp_heap.save_snapshot(conn, tmp_path / "c")
    a, b, c = (ids_of_class(load(tmp_path / n), "RequestContext") for n in "abc")
    assert len(b - a) == 1234 and not a - b  # one session: exactly the new objects differ
    assert len(c) == len(b) and c != b  # new session: same objects, renumbered


async def test_target_killed_mid_snapshot(big_app: Target, tmp_path: Path) -> None:
    path = tmp_path / "dead.heapsnapshot"

    def kill_once_writing(progress: CaptureProgress) -> None:
        if progress.bytes_written > 0:
            big_app.proc.kill()

    with trio.fail_after(60):
        async with cdp_heap.open_cdp(big_app.ws_url) as conn:
            with pytest.raises((ConnectionClosed, CaptureError)) as info:
                await cdp_heap.save_snapshot(conn, path, on_progress=kill_once_writing)
    assert "closed" in str(info.value) or "not a complete" in str(info.value)
    assert not path.exists() and leftovers(tmp_path) == []


async def test_cancel_mid_snapshot_then_snapshot_again_on_the_same_connection(
    big_app: Target, tmp_path: Path
) -> None:
    first, second = tmp_path / "first.heapsnapshot", tmp_path / "second.heapsnapshot"
    with trio.fail_after(90):
        async with cdp_heap.open_cdp(big_app.ws_url) as conn:
            with trio.CancelScope() as scope:

                def cancel_once_writing(progress: CaptureProgress) -> None:
                    if progress.bytes_written > 0:
                        scope.cancel()

                await cdp_heap.save_snapshot(conn, first, on_progress=cancel_once_writing)
            assert scope.cancelled_caught
            assert not first.exists() and leftovers(tmp_path) == []
            saved = await cdp_heap.save_snapshot(conn, second)
            stats = conn.statistics().protocol
    assert load(second)["snapshot"]["node_count"] > 0  # type: ignore[index]
    assert saved.size == second.stat().st_size
    # The rest of the first snapshot was discarded, not mixed into the second.
    assert stats.discarded_chunks > 0 and stats.stale_replies == 1 and stats.pending == 0


async def test_slow_consumer_keeps_the_buffer_bounded(big_app: Target) -> None:
    bound = 1024 * 1024
    received = 0
    with trio.fail_after(120):
        async with cdp_heap.open_cdp(big_app.ws_url) as conn:
            async with HeapProfiler(conn).take_heap_snapshot(max_buffer_bytes=bound) as stream:
                async for chunk in stream:
                    if not received:
                        # A consumer that stalls (a slow disk) until the reader has had to
                        # wait for it: how slow "slow" must be depends on how fast the
                        # target writes, so wait for the condition itself. The stream's
                        # statistics are the only outside view of a waiting reader, hence
                        # polling them rather than an Event.
                        while stream.statistics().buffer.producer_waits == 0:  # noqa: ASYNC110
                            await trio.sleep(0.01)
                    received += len(chunk)
                stats = stream.statistics()
    assert stream.complete and received == stats.chars > 10 * bound
    largest_chunk = 100 * 1024
    # Full (the reader waited only once the next chunk would not fit), and never over.
    assert bound - largest_chunk < stats.buffer.peak_cost <= bound + largest_chunk


async def test_unwritable_destination_fails_before_asking_the_target(
    leaky_app: Target, tmp_path: Path
) -> None:
    with trio.fail_after(30):
        async with cdp_heap.open_cdp(leaky_app.ws_url) as conn:
            with pytest.raises(CaptureError, match="directory does not exist"):
                await cdp_heap.save_snapshot(conn, tmp_path / "missing" / "x.heapsnapshot")
            assert conn.statistics().messages_received == 0


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """Mounts a tiny tmpfs (root only): a real full disk or read-only file system."""
    mounted: list[Path] = []

    def mount(options: str) -> Path:
        where = tmp_path / f"disk{len(mounted)}"
        where.mkdir()
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True
        )
        if result.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {result.stderr.decode().strip()}")
        mounted.append(where)
        return where

    yield mount
    for where in mounted:
        subprocess.run(["umount", str(where)], check=False)


async def test_full_disk_leaves_nothing_and_connection_usable(
    leaky_app: Target, small_disk: Callable[[str], Path], tmp_path: Path
) -> None:
    disk = small_disk("size=1m")
    with trio.fail_after(60):
        async with cdp_heap.open_cdp(leaky_app.ws_url) as conn:
            with pytest.raises(CaptureError, match="disk is full"):
                await cdp_heap.save_snapshot(conn, disk / "app.heapsnapshot")
            assert list(disk.iterdir()) == []
            saved = await cdp_heap.save_snapshot(conn, tmp_path / "ok.heapsnapshot")
    assert load(saved.path)["snapshot"]["node_count"] > 0  # type: ignore[index]


async def test_read_only_file_system(leaky_app: Target, small_disk: Callable[[str], Path]) -> None:
    disk = small_disk("size=1m,ro")
    with trio.fail_after(30):
        async with cdp_heap.open_cdp(leaky_app.ws_url) as conn:
            with pytest.raises(CaptureError, match="permission denied"):
                await cdp_heap.save_snapshot(conn, disk / "app.heapsnapshot")


async def test_command_error_from_the_target_is_typed(leaky_app: Target) -> None:
    with trio.fail_after(10):
        async with cdp_heap.open_cdp(leaky_app.ws_url) as conn:
            with pytest.raises(cdp_heap.CommandError) as info:
                await HeapProfiler(conn).get_object_by_heap_object_id("999999999")
            assert info.value.method == "HeapProfiler.getObjectByHeapObjectId"
