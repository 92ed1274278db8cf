"""Workloads and checks shared by the sampling and tracking tests (all against real Node)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio

import cdp_heap
from cdp_heap import CDPConnection, CommandError
from tests.targets import Target

#: A script with one known allocating function. ``allocateWidgets(n)`` allocates n small
#: objects and keeps them; with ``--busy`` it is also called every 10 ms (keeping the last
#: 50 batches), for the command-line tests, which cannot call it themselves; with
#: ``--progress FILE`` it writes its call count to FILE after each call.
WIDGETS_JS = """\
'use strict';
globalThis.kept = [];
globalThis.calls = 0;
function allocateWidgets(n) {
  globalThis.calls++;
  const out = [];
  for (let i = 0; i < n; i++) out.push({ widget: i, label: 'widget-' + i });
  globalThis.kept.push(out);
  return out.length;
}
globalThis.allocateWidgets = allocateWidgets;
globalThis.drop = () => { globalThis.kept = []; return 0; };
const progress = process.argv.indexOf('--progress');
if (process.argv.includes('--busy')) {
  setInterval(() => {
    allocateWidgets(2000);
    if (globalThis.kept.length > 50) globalThis.kept.shift();
    // Tests that cannot open a second inspector session learn the count from this file.
    if (progress > 0) require('fs').writeFileSync(process.argv[progress + 1], `${calls}`);
  }, 10);
} else {
  setInterval(() => {}, 1 << 30);
}
globalThis.ready = true;
console.error('script ready');
"""
#: 0-based line of ``function allocateWidgets`` (V8's call frames point at the function).
WIDGETS_LINE = WIDGETS_JS.splitlines().index("function allocateWidgets(n) {")


def many_sites_js(functions: int = 2000) -> str:
    """A script with ``functions`` distinct allocating functions; ``churnAll(rounds)`` calls
    each of them ``rounds`` times (what they allocate is garbage at once)."""
    lines = ["'use strict';", "const fns = [];"]
    for i in range(functions):
        lines.append(
            f"fns.push(function site_{i}() {{ const a = []; "
            f"for (let i = 0; i < 40; i++) a.push({{ i, s: 'x' + i }}); return a.length; }});"
        )
    lines.append(
        "globalThis.churnAll = (rounds) => { let n = 0; "
        "for (let r = 0; r < rounds; r++) for (const f of fns) n += f(); return n; };"
    )
    lines.append("setInterval(() => {}, 1 << 30);")
    lines.append("globalThis.ready = true;")
    lines.append("console.error('script ready');")
    return "\n".join(lines) + "\n"


def write_script(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text)
    return path


def start_script(
    node: Callable[..., Target], directory: Path, name: str, text: str, *args: str
) -> Target:
    """``node --inspect`` on ``text`` (one of the scripts above), once the script has run.

    Waiting matters: the inspector answers while Node is still starting, and allocation
    tracking begun then can crash Node 20 when it stops (scripts/node_tracking_crash.py).
    """
    return node(str(write_script(directory, name, text)), *args, ready=b"script ready")


async def evaluate(conn: CDPConnection, expression: str) -> Any:
    """``Runtime.evaluate`` returning the value; fails the test on a JavaScript exception.

    First waits, inside the target, until its script has defined ``globalThis.ready``: the
    inspector announces itself before the script has run.
    """
    await _evaluate(conn, _WAIT_READY)
    return await _evaluate(conn, expression)


_WAIT_READY = """new Promise((resolve) => {
  const check = () => (globalThis.ready ? resolve(true) : setImmediate(check));
  check();
})"""


async def _evaluate(conn: CDPConnection, expression: str) -> Any:
    params = {"expression": expression, "returnByValue": True, "awaitPromise": True}
    result = await conn.send("Runtime.evaluate", params)
    assert "exceptionDetails" not in result, result["exceptionDetails"]
    return result["result"].get("value")


async def wait_for_calls(ws_url: str, count: int) -> None:
    """Wait, inside the target, until ``allocateWidgets`` has run ``count`` more times."""
    async with cdp_heap.open_cdp(ws_url) as conn:
        await evaluate(
            conn,
            f"""new Promise((resolve) => {{
              const until = globalThis.calls + {count};
              const check = () => (globalThis.calls >= until ? resolve() : setTimeout(check, 1));
              check();
            }})""",
        )


async def is_sampling(ws_url: str) -> bool:
    """Whether the target's sampling heap profiler runs, asked on a fresh connection."""
    async with cdp_heap.open_cdp(ws_url) as conn:
        try:
            await cdp_heap.HeapProfiler(conn).get_sampling_profile()
        except CommandError:
            return False
        return True


def trace_function_names(snapshot: dict[str, Any]) -> set[str]:
    """Function names in a snapshot's allocation traces, resolved through ``strings``."""
    fields = snapshot["snapshot"]["meta"]["trace_function_info_fields"]
    infos = snapshot["trace_function_infos"]
    name = fields.index("name")
    step = len(fields)
    return {snapshot["strings"][infos[i + name]] for i in range(0, len(infos), step)}


async def has_allocation_tracker(conn: CDPConnection, directory: Path) -> bool:
    """Whether V8's allocation tracker runs: a plain snapshot has allocation traces only
    while it does. Asked on the *same* connection: closing any other session would stop
    the tracker (V8 stops it whenever a session disables HeapProfiler)."""
    path = directory / "probe.heapsnapshot"
    await cdp_heap.save_snapshot(conn, path)
    snapshot = await trio.to_thread.run_sync(lambda: json.loads(path.read_text()))
    path.unlink()
    return bool(snapshot["trace_function_infos"])


async def wait_for_count(path: Path, count: int) -> None:
    """Wait until the target has written a number >= ``count`` to ``path`` (see
    ``--progress`` in :data:`WIDGETS_JS`); polls, as there is no way to be told."""
    while True:
        try:
            text = await trio.Path(path).read_text()
        except FileNotFoundError:
            text = ""
        if text and int(text) >= count:
            return
        await trio.sleep(0.005)


def read_count(path: Path) -> int:
    return int(path.read_text() or 0) if path.exists() else 0
