"""The memory pre-flight: a snapshot that would not fit is refused before anything pauses the
target. A real Node whose own ``os.freemem`` / ``process.constrainedMemory`` report what the
test sets; the real CLI; the proxy in between; Chromium and Deno, which report too little."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio

import cdp_heap
from cdp_heap import SnapshotCostEstimate, SnapshotWouldNotFit, TargetMemory
from cdp_heap_proxy import Guard, MethodPolicy, Role
from tests.failures.helpers import cli_env, run_cli
from tests.proxy.helpers import http_request, proxy_in_front
from tests.targets import (
    DENO_APP,
    Chromium,
    Target,
    start_deno_app,
    start_inspected,
    start_node,
)

MB = 1_000_000

#: A Node app with a ~10 MB heap whose memory reports the test can shrink (``fake``), an
#: event-loop timer that records its longest stall and a count of major GCs (every heap
#: snapshot starts with one, so an unchanged count proves no snapshot was taken).
APP = r"""
const os = require('os');
const { PerformanceObserver, constants } = require('perf_hooks');
globalThis.keep = Array.from({length: 100000}, (_, i) => ({i, name: 'item' + i}));
const fake = globalThis.fake = {free: null, limit: null};
const realFree = os.freemem, realLimit = process.constrainedMemory;
os.freemem = () => fake.free ?? realFree();
process.constrainedMemory = () => fake.limit ?? realLimit.call(process);
const probe = globalThis.probe = {majorGCs: 0, stall: 0, last: performance.now()};
new PerformanceObserver((list) => {
  for (const e of list.getEntries())
    if (e.detail && e.detail.kind === constants.NODE_PERFORMANCE_GC_MAJOR) probe.majorGCs++;
}).observe({entryTypes: ['gc']});
setInterval(() => {
  const now = performance.now();
  probe.stall = Math.max(probe.stall, now - probe.last);
  probe.last = now;
}, 5);
"""


@pytest.fixture(scope="module")
def app() -> Iterator[Target]:
    target = start_node(script=APP)
    yield target
    target.kill()


async def evaluate(url: str, expression: str) -> Any:
    async with cdp_heap.open_cdp(url) as conn:
        reply = await conn.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
    assert "exceptionDetails" not in reply, reply
    return reply["result"].get("value")


def js(url: str, expression: str) -> Any:
    return trio.run(evaluate, url, expression)


def fake(url: str, *, free: int | None = None, limit: int | None = None) -> None:
    js(url, f"Object.assign(fake, {json.dumps({'free': free, 'limit': limit})})")


def reset_probe(url: str) -> None:
    js(url, "probe.stall = 0, probe.last = performance.now()")


def read_probe(url: str) -> dict[str, float]:
    """The probe after the GC observer has had a turn of the event loop (its entries are
    delivered asynchronously)."""
    value = js(
        url,
        "new Promise((r) => setImmediate(() => setImmediate(() => r({...probe}))))",
    )
    assert isinstance(value, dict)
    return value


# -- the estimate itself (no I/O) -----------------------------------------------------------


def test_refusal_names_the_numbers_and_the_container_limit() -> None:
    memory = TargetMemory(
        "node", heap_used=300 * MB, rss=2800 * MB, free=20_000 * MB, limit=4000 * MB
    )
    estimate = cdp_heap.estimate_from_memory(memory)
    assert estimate.fits is False and estimate.headroom == 1200 * MB
    assert estimate.refusal() == (
        "the snapshot may need ~2.5 GB (8.4x its 300 MB heap in use); the target has "
        "~1.2 GB free under its 4.0 GB container limit; nothing was paused; "
        "--force takes it anyway"
    )


def test_the_smallest_headroom_counts_and_no_limit_is_no_limit() -> None:
    # Node 20 reports 2**64 - 1 for "no cgroup limit".
    memory = TargetMemory.from_json(
        {"runtime": "node", "heapUsed": 10 * MB, "rss": 50 * MB, "free": 900 * MB,
         "available": 70 * MB, "limit": 2.0**64}
    )  # fmt: skip
    assert memory.limit is None
    estimate = cdp_heap.estimate_from_memory(memory)
    assert estimate.headroom == 70 * MB and estimate.fits is False
    assert "available (process.availableMemory)" in estimate.refusal()


def test_nothing_usable_is_neither_fit_nor_refusal() -> None:
    memory = TargetMemory.from_json({"runtime": "browser"}, {"usedSize": 3 * MB})
    estimate = cdp_heap.estimate_from_memory(memory)
    assert estimate.fits is None and memory.heap_used == 3 * MB
    assert estimate.notice().startswith("the browser does not report its free memory")
    assert TargetMemory.from_json("garbage").heap_used is None


def test_cost_factor_is_interpolated_between_measurements() -> None:
    low, high = cdp_heap.COST_FACTORS["stream"][0], cdp_heap.COST_FACTORS["stream"][1]
    middle = cdp_heap.cost_factor(int((low[0] * high[0]) ** 0.5))
    assert min(low[1], high[1]) <= middle <= max(low[1], high[1])
    assert cdp_heap.cost_factor(1) == low[1]
    assert cdp_heap.cost_factor(10**13) == cdp_heap.COST_FACTORS["stream"][-1][1]


# -- a real Node ----------------------------------------------------------------------------


async def test_library_estimate_of_a_real_node(app: Target) -> None:
    with trio.fail_after(30):
        async with cdp_heap.open_cdp(app.ws_url) as conn:
            await conn.send("Runtime.evaluate", {"expression": "fake.free = fake.limit = null"})
            estimate = await cdp_heap.estimate_snapshot_cost(conn)
            assert isinstance(estimate, SnapshotCostEstimate)
            memory = estimate.memory
            assert memory.runtime == "node" and memory.pid == app.pid
            assert memory.heap_used and 5 * MB < memory.heap_used < 100 * MB
            assert memory.free and memory.rss and memory.can_write_snapshot
            assert estimate.fits is True  # this machine has the room
            await conn.send("Runtime.evaluate", {"expression": "fake.free = 1000000"})
            with pytest.raises(SnapshotWouldNotFit, match="~1 MB available on its machine"):
                await cdp_heap.check_snapshot_fits(conn)


@pytest.mark.parametrize(
    ("setting", "wording"),
    [({"free": 30 * MB}, "available on its machine"), ({"limit": 60 * MB}, "container limit")],
    ids=["freemem", "constrainedMemory"],
)
def test_snapshot_refused_without_pausing_then_forced(
    app: Target, tmp_path: Path, setting: dict[str, int], wording: str
) -> None:
    fake(app.ws_url, **setting)
    out = tmp_path / "app.heapsnapshot"
    try:
        before = read_probe(app.ws_url)
        reset_probe(app.ws_url)
        refused = run_cli("snapshot", "--url", app.ws_url, "-o", str(out))
        left = list(tmp_path.iterdir())
        after = read_probe(app.ws_url)
        reset_probe(app.ws_url)
        forced = run_cli("snapshot", "--url", app.ws_url, "-o", str(out), "--force")
        taken = read_probe(app.ws_url)
    finally:
        fake(app.ws_url)
    assert refused.returncode == 1, refused.stderr
    line = refused.stderr.strip()
    assert "\n" not in line and line.startswith("cdp-heap: error: the snapshot may need ~")
    assert wording in line and line.endswith("nothing was paused; --force takes it anyway")
    assert refused.stdout == "" and left == []
    # Never paused: no snapshot's GC, and no stall like the one the real snapshot caused.
    assert after["majorGCs"] == before["majorGCs"]
    assert forced.returncode == 0, forced.stderr
    assert "taking it anyway (--force)" in forced.stderr and out.exists()
    assert taken["majorGCs"] > after["majorGCs"]
    assert after["stall"] < taken["stall"], (after, taken)


@pytest.mark.parametrize(
    "command",
    [
        ("leak", "--snapshots", "3", "--interval", "0.1"),
        ("track", "--duration", "0.1"),
    ],
    ids=["leak", "track"],
)
def test_leak_and_track_refuse_before_the_first_pause(
    app: Target, tmp_path: Path, command: tuple[str, ...]
) -> None:
    fake(app.ws_url, free=30 * MB)
    try:
        before = read_probe(app.ws_url)
        output = ["-o", str(tmp_path / ("x" if command[0] == "leak" else "t.heapsnapshot"))]
        result = run_cli(*command, "--url", app.ws_url, *output)
        after = read_probe(app.ws_url)
    finally:
        fake(app.ws_url)
    assert result.returncode == 1, result.stderr
    assert "the snapshot may need ~" in result.stderr and "--force" in result.stderr
    assert after["majorGCs"] == before["majorGCs"]
    assert not list(tmp_path.rglob("*.heapsnapshot"))


async def test_refused_through_the_proxy(app: Target, tmp_path: Path) -> None:
    await evaluate(app.ws_url, "fake.free = 30000000")
    try:
        with trio.fail_after(60):
            async with proxy_in_front(app.host, app.port) as proxy:
                out = str(tmp_path / "p.heapsnapshot")
                done = await trio.run_process(
                    [
                        sys.executable,
                        "-m",
                        "cdp_heap",
                        "snapshot",
                        "--port",
                        str(proxy.port),
                        "-o",
                        out,
                    ],
                    capture_stdout=True,
                    capture_stderr=True,
                    check=False,
                    env=cli_env(),
                )
    finally:
        await evaluate(app.ws_url, "fake.free = null")
    stderr = done.stderr.decode()
    assert done.returncode == 1, stderr
    assert "the snapshot may need ~" in stderr and "30 MB available on its machine" in stderr
    assert list(tmp_path.iterdir()) == []


async def test_post_snapshot_refused_with_507_then_forced(app: Target) -> None:
    await evaluate(app.ws_url, "fake.free = 30000000")
    try:
        gcs = "new Promise((r) => setImmediate(() => setImmediate(() => r(probe.majorGCs))))"
        before = await evaluate(app.ws_url, gcs)
        with trio.fail_after(60):
            async with proxy_in_front(app.host, app.port) as proxy:
                refused = await http_request(proxy.port, "POST", "/snapshot")
                after = await evaluate(app.ws_url, gcs)
                forced = await http_request(proxy.port, "POST", "/snapshot?force=1")
    finally:
        await evaluate(app.ws_url, "fake.free = null")
    assert refused.status == 507, refused.text
    assert refused.text.startswith("the snapshot may need ~")
    assert "~30 MB available on its machine" in refused.text
    assert refused.text.strip().endswith("nothing was paused; ?force=1 takes it anyway")
    assert after == before  # no snapshot's GC: never paused
    assert forced.status == 200 and json.loads(forced.body)["snapshot"]["node_count"] > 0


async def test_a_token_that_may_not_evaluate_gets_the_notice(app: Target, tmp_path: Path) -> None:
    token = "heap-only-0123456789abcdef"
    guard = Guard(roles=(Role("heap", token, MethodPolicy.parse("HeapProfiler.*")),))
    out = tmp_path / "t.heapsnapshot"
    with trio.fail_after(60):
        async with proxy_in_front(app.host, app.port, guard=guard) as proxy:
            where = ["--port", str(proxy.port), "--token", token]
            done = await trio.run_process(
                [sys.executable, "-m", "cdp_heap", "snapshot", *where, "-o", str(out)],
                capture_stdout=True,
                capture_stderr=True,
                check=False,
                env=cli_env(),
            )
    stderr = done.stderr.decode()
    assert done.returncode == 0, stderr
    assert "the target does not report its free memory" in stderr and out.exists()


# -- targets that report too little ---------------------------------------------------------


@pytest.mark.chromium
def test_chromium_proceeds_with_one_notice(chromium: Chromium, tmp_path: Path) -> None:
    out = tmp_path / "tab.heapsnapshot"
    result = run_cli(
        "snapshot", "--port", str(chromium.port), "--target", "^about:blank$", "-o", str(out)
    )
    assert result.returncode == 0, result.stderr
    notices = [line for line in result.stderr.splitlines() if "free memory" in line]
    assert notices == [
        "cdp-heap: the browser does not report its free memory, so cdp-heap cannot check "
        f"that the snapshot fits (it may need ~{notices[0].split('~')[1].split(')')[0]}); "
        "taking it anyway"
    ]
    assert out.stat().st_size > 0


@pytest.mark.deno
def test_deno_without_sys_permission_proceeds_with_one_notice(
    deno_path: str, tmp_path: Path
) -> None:
    target = start_deno_app(tmp_path)
    out = tmp_path / "deno.heapsnapshot"
    try:
        result = subprocess.run(
            [sys.executable, "-m", "cdp_heap", "snapshot", "--url", target.ws_url, "-o", str(out)],
            capture_output=True,
            text=True,
            env=cli_env(),
            timeout=60,
        )
    finally:
        target.kill()
    assert result.returncode == 0, result.stderr
    notices = [line for line in result.stderr.splitlines() if "free memory" in line]
    assert len(notices) == 1 and notices[0].startswith("cdp-heap: Deno does not report")
    assert "streamed" in result.stderr and out.stat().st_size > 0


@pytest.mark.deno
async def test_deno_with_sys_permission_reports_its_free_memory(
    deno_path: str, tmp_path: Path
) -> None:
    script = tmp_path / "sys.ts"
    script.write_text(DENO_APP)
    argv = [deno_path, "run", "--allow-sys", "--inspect=127.0.0.1:0", str(script)]
    target = start_inspected(argv, ready=b"deno ready")
    try:
        with trio.fail_after(30):
            async with cdp_heap.open_cdp(target.ws_url) as conn:
                estimate = await cdp_heap.estimate_snapshot_cost(conn)
    finally:
        target.kill()
    memory = estimate.memory
    assert memory.runtime == "deno" and memory.pid == target.pid
    assert memory.heap_used and memory.free and memory.total and memory.free < memory.total
    assert estimate.fits is True and estimate.headroom_text == "available on its machine"
