"""Allocation tracking against a real Node: samples, snapshot with traces, stopping."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import nullcontext
from pathlib import Path

import pytest
import trio

from cdp_heap import (
    AlreadyStopped,
    CDPHeapError,
    ConnectionClosed,
    HeapStatsUpdate,
    LastSeenObjectId,
    TrackingSample,
    open_cdp,
    open_tracking,
)
from cdp_heap._tracking import Tracker
from cdp_heap.heap_profiler import HeapProfiler, HeapProfilerEvent
from tests.targets import Target

from .helpers import evaluate, has_allocation_tracker, trace_function_names


async def test_snapshot_traces_name_the_allocating_function(
    widgets: Target, tmp_path: Path
) -> None:
    path = tmp_path / "t.heapsnapshot"
    with trio.fail_after(30):
        async with open_cdp(widgets.ws_url) as conn:
            async with open_tracking(conn) as tracker:
                first = await tracker.wait_sample()
                await evaluate(conn, "allocateWidgets(20000)")
                # Wait for a tick that saw the new objects (V8 reports every ~50-150 ms).
                sample = await tracker.wait_sample()
                while sample.allocated_size - first.allocated_size < 500_000:
                    sample = await tracker.wait_sample()
                assert sample.live_size > first.live_size
                saved = await tracker.save_snapshot(path)
                assert tracker.stopped and saved.allocation_traces
            assert not await has_allocation_tracker(conn, tmp_path)
    assert saved.size == path.stat().st_size
    snapshot = json.loads(path.read_text())
    assert "allocateWidgets" in trace_function_names(snapshot)
    assert snapshot["trace_tree"]


async def test_lossless_and_latest_subscribers(widgets: Target) -> None:
    """A "block" subscriber sees every update (its own fold gives the tracker's totals); a
    "latest" one that reads late gets only the newest sample."""
    with trio.fail_after(30):
        async with open_cdp(widgets.ws_url) as conn, open_tracking(conn) as tracker:
            async with (
                tracker.subscribe(policy="block") as every,
                tracker.subscribe(policy="latest") as newest,
            ):
                fragments: dict[int, int] = {}
                seen: list[TrackingSample] = []
                async for sample in every:
                    seen.append(sample)
                    fragments.update({index: size for index, _, size in sample.updates})
                    assert sample.live_size == sum(fragments.values())
                    if len(seen) == 5:
                        break
                while tracker.statistics().samples < 5:
                    await tracker.wait_sample()
                latest = await newest.__anext__()
                assert latest == tracker.latest
                assert latest.last_seen_object_id >= seen[-1].last_seen_object_id
            assert [s.last_seen_object_id for s in seen] == sorted(
                s.last_seen_object_id for s in seen
            )


@pytest.mark.parametrize("how", ["cancel", "error"])
async def test_leaving_early_stops_tracking(widgets: Target, tmp_path: Path, how: str) -> None:
    with trio.fail_after(30):
        async with open_cdp(widgets.ws_url) as conn:
            raises = pytest.raises(ValueError) if how == "error" else nullcontext()
            with trio.CancelScope() as scope, raises:
                async with open_tracking(conn) as tracker:
                    await tracker.wait_sample()
                    assert await has_allocation_tracker(conn, tmp_path)
                    if how == "cancel":
                        scope.cancel()
                        await trio.sleep_forever()
                    raise ValueError("boom")
            assert tracker.stopped
            assert not await has_allocation_tracker(conn, tmp_path)
            # The discarded snapshot did not break the connection.
            assert await evaluate(conn, "1 + 1") == 2


async def test_target_gone_mid_tracking(widgets: Target, tmp_path: Path) -> None:
    out = trio.Path(tmp_path / "out")
    await out.mkdir()
    path = out / "t.heapsnapshot"
    with trio.fail_after(30):
        async with open_cdp(widgets.ws_url) as conn:
            with pytest.raises(ConnectionClosed):
                async with open_tracking(conn) as tracker:
                    await tracker.wait_sample()
                    widgets.kill()
                    with pytest.raises(ConnectionClosed):
                        while True:
                            await tracker.wait_sample()
                    await tracker.save_snapshot(path)
    assert not list(await out.iterdir())


async def test_client_disconnects_mid_tracking(widgets: Target, tmp_path: Path) -> None:
    with trio.fail_after(30):
        async with (
            open_cdp(widgets.ws_url) as conn,
            open_tracking(conn) as tracker,
            tracker.subscribe() as samples,
        ):
            await tracker.wait_sample()
            await conn.aclose()
            with pytest.raises(ConnectionClosed):
                async for _ in samples:
                    pass
        async with open_cdp(widgets.ws_url) as fresh:
            assert not await has_allocation_tracker(fresh, tmp_path)


async def test_another_session_closing_loses_the_traces(widgets: Target, tmp_path: Path) -> None:
    """V8 stops the allocation tracker whenever any session disables HeapProfiler, which
    closing does: the saved snapshot says so rather than silently lacking its stacks."""
    with trio.fail_after(30):
        async with open_cdp(widgets.ws_url) as conn, open_tracking(conn) as tracker:
            await tracker.wait_sample()
            async with open_cdp(widgets.ws_url):
                pass
            saved = await tracker.save_snapshot(tmp_path / "t.heapsnapshot")
    assert not saved.allocation_traces
    assert json.loads(saved.path.read_text())["trace_function_infos"] == []


async def test_without_allocation_stacks(widgets: Target, tmp_path: Path) -> None:
    path = tmp_path / "t.heapsnapshot"
    with trio.fail_after(30):
        async with (
            open_cdp(widgets.ws_url) as conn,
            open_tracking(conn, track_allocations=False) as tracker,
        ):
            assert (await tracker.wait_sample()).live_objects > 0
            saved = await tracker.save_snapshot(path)
    assert saved.allocation_traces  # none were asked for: nothing is missing
    assert json.loads(path.read_text())["trace_function_infos"] == []


async def test_unwritable_destination_keeps_tracking(widgets: Target, tmp_path: Path) -> None:
    with trio.fail_after(30):
        async with open_cdp(widgets.ws_url) as conn, open_tracking(conn) as tracker:
            with pytest.raises(CDPHeapError, match="does not exist"):
                await tracker.save_snapshot(tmp_path / "missing" / "t.heapsnapshot")
            assert not tracker.stopped
            await tracker.save_snapshot(tmp_path / "t.heapsnapshot")
            with pytest.raises(AlreadyStopped, match="already stopped"):
                tracker.stop()
    assert (tmp_path / "t.heapsnapshot").stat().st_size > 0


async def test_fold_sums_fragments() -> None:
    """The fold, fed by hand: fragment 0 is the heap at the start, later ones are new."""
    events: list[HeapProfilerEvent] = [
        HeapStatsUpdate((0, 100, 5000)),
        LastSeenObjectId(201, 1000.0),
        HeapStatsUpdate((0, 90, 4500, 1, 10, 700)),
        LastSeenObjectId(221, 1050.0),
        LastSeenObjectId(221, 1100.0),  # nothing changed: no heapStatsUpdate
        HeapStatsUpdate((1, 4, 300, 2, 3, 100)),
        LastSeenObjectId(227, 1150.0),
    ]

    async def feed() -> AsyncIterator[HeapProfilerEvent]:
        for event in events:
            yield event

    tracker = Tracker(HeapProfiler(None))  # type: ignore[arg-type]
    async with tracker.subscribe(policy="block") as samples:
        await tracker._fold(feed())
        got = [s async for s in samples]
    assert [(s.live_objects, s.live_size, s.new_size, s.allocated_size) for s in got] == [
        (100, 5000, 0, 0),
        (100, 5200, 700, 700),
        (100, 5200, 0, 700),
        (97, 4900, 100, 800),
    ]
    assert got[3].updates == ((1, 4, 300), (2, 3, 100))
    with pytest.raises(AlreadyStopped, match="ended"):
        await tracker.wait_sample()
