"""Sampling and allocation tracking on the two other V8 hosts: a Chromium tab and Deno."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import trio

import cdp_heap
from cdp_heap import open_cdp, open_sampling, open_tracking
from tests.targets import Chromium, start_deno

from .helpers import evaluate, trace_function_names

#: Defines the allocating function; ``sourceURL`` names the script in call frames.
WIDGETS = """
globalThis.kept = [];
function allocateWidgets(n) {
  const out = [];
  for (let i = 0; i < n; i++) out.push({ widget: i, label: 'widget-' + i });
  globalThis.kept.push(out);
  return out.length;
}
globalThis.allocateWidgets = allocateWidgets;
globalThis.ready = true;
//# sourceURL=widgets.js
"""


async def chromium_tab(chromium: Chromium) -> str:
    targets = await cdp_heap.list_targets("127.0.0.1", chromium.port)
    url = cdp_heap.select_target(targets, "^about:blank$").web_socket_debugger_url
    assert url is not None
    return url


@pytest.mark.chromium
async def test_chromium_sampling_names_the_allocating_function(chromium: Chromium) -> None:
    with trio.fail_after(30):
        async with open_cdp(await chromium_tab(chromium)) as conn:
            await conn.send("Runtime.evaluate", {"expression": WIDGETS})
            async with open_sampling(conn, interval=4096) as sampler:
                await evaluate(conn, "allocateWidgets(100000)")
            await evaluate(conn, "globalThis.kept = []")
    assert sampler.profile is not None
    (top,) = sampler.profile.top_sites(1)
    # The function is named; Chromium leaves the url of an evaluated script empty.
    assert top.function_name == "allocateWidgets"


@pytest.mark.chromium
async def test_chromium_tracking_snapshot_has_allocation_stacks(
    chromium: Chromium, tmp_path: Path
) -> None:
    with trio.fail_after(60):
        async with open_cdp(await chromium_tab(chromium)) as conn:
            await conn.send("Runtime.evaluate", {"expression": WIDGETS})
            async with open_tracking(conn) as tracker:
                await tracker.wait_sample()
                await evaluate(conn, "allocateWidgets(20000)")
                saved = await tracker.save_snapshot(tmp_path / "tab.heapsnapshot")
            await evaluate(conn, "globalThis.kept = []")
    assert saved.allocation_traces
    assert "allocateWidgets" in trace_function_names(json.loads(saved.path.read_text()))


@pytest.mark.deno
async def test_deno_sampling_and_tracking(deno_path: str, tmp_path: Path) -> None:
    script = tmp_path / "widgets.ts"
    script.write_text(WIDGETS + "console.error('deno ready');\nsetInterval(() => {}, 1 << 30);\n")
    target = start_deno(script, b"deno ready")
    try:
        with trio.fail_after(60):
            async with open_cdp(target.ws_url) as conn:
                async with open_sampling(conn, interval=4096) as sampler:
                    await evaluate(conn, "allocateWidgets(50000)")
                # Deno sends no heapStatsUpdate/lastSeenObjectId: no live samples to wait
                # for, but the final snapshot carries the allocation stacks.
                async with open_tracking(conn) as tracker:
                    await evaluate(conn, "allocateWidgets(20000)")
                    saved = await tracker.save_snapshot(tmp_path / "deno.heapsnapshot")
    finally:
        target.kill()
    assert sampler.profile is not None
    assert sampler.profile.top_sites(1)[0].function_name == "allocateWidgets"
    assert "allocateWidgets" in trace_function_names(json.loads(saved.path.read_text()))
