"""The memory pre-flight: will a heap snapshot fit in the target's memory?

The Node.js guide warns that a snapshot "is built in memory, so it can double the heap
size, resulting in filling up entire memory and then crashing the app". Measured on Node
20 it is worse than double (see docs/profiling.md, "What a snapshot costs the target"):
V8 builds the snapshot's graph and strings outside the JavaScript heap, and over the
inspector protocol the target also holds the JSON messages of the chunks it sends.

Before anything pauses the target we ask it, over CDP (so this works on a remote target
and through ``cdp-heap proxy``), what it knows about its memory: one ``Runtime.evaluate``
of :data:`TARGET_MEMORY_EXPRESSION`, which never throws and never needs ``require``:

- Node: ``process.memoryUsage()`` (heap in use, RSS), ``os.freemem()`` (the kernel's
  MemAvailable), ``process.constrainedMemory()`` (a cgroup limit) and
  ``process.availableMemory()`` where they exist. ``os`` is reached through
  ``process.getBuiltinModule`` (Node >= 20.16), else ``process.mainModule.require`` (a
  CommonJS main module), else the ``require`` of the inspector's command-line API (the
  expression is evaluated with ``includeCommandLineAPI``; Node's console API has
  ``require`` even when the main module is ESM).
- Deno: ``Deno.memoryUsage()`` and, only where the ``sys`` permission is already granted
  (asking would prompt on the target's terminal and stall it), ``Deno.systemMemoryInfo()``.
- Chrome: nothing about free memory is exposed to a page; the heap in use comes from
  ``Runtime.getHeapUsage``.

:func:`estimate_from_memory` turns that into a :class:`SnapshotCostEstimate`: the heap in
use times the measured cost factor for that heap size and capture path, against the
smallest headroom the target reported. It is pure (no I/O), so the proxy uses it too.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any, Literal

import attrs

from ._connection import CDPConnection
from ._errors import CaptureError, CommandError

Via = Literal["stream", "in-process"]
MB = 1_000_000

#: Peak growth of the target's RSS during a snapshot, divided by its heap in use, for the
#: first snapshot of a fresh Node 20 process (``scripts/bench_capture.py --cost``; objects
#: of scripts/leaky_app.js). The first snapshot is the expensive one: the memory V8 takes
#: for it (the object-id map, the snapshot graph, its strings) stays mapped afterwards and
#: later snapshots mostly reuse it, so this is the worst case, which is what a pre-flight
#: must assume. Between measured sizes the factor is interpolated on a log scale; beyond
#: them the nearest holds. docs/profiling.md has the table these come from.
COST_FACTORS: dict[Via, tuple[tuple[int, float], ...]] = {
    # The largest of the runs of 2026-12-01 at each size (docs/profiling.md).
    "stream": ((10 * MB, 8.5), (30 * MB, 8.4), (100 * MB, 8.2), (500 * MB, 8.5)),
    "in-process": ((10 * MB, 8.4), (30 * MB, 7.8), (100 * MB, 8.2), (500 * MB, 8.5)),
}
#: A ``process.constrainedMemory()`` at or above this means "no limit" (Node 20 returns
#: 2**64 - 1 when the cgroup says ``max``; later versions return 0).
_NO_LIMIT = 1 << 60

#: Evaluated in the target (``returnByValue``, ``includeCommandLineAPI``): a plain object
#: of whatever it can tell. It must never throw, pause or prompt.
TARGET_MEMORY_EXPRESSION = """(() => {
  const out = {runtime: "unknown"};
  const builtin = (name) => {
    try {
      if (typeof process === "object" && process) {
        if (typeof process.getBuiltinModule === "function") return process.getBuiltinModule(name);
        const main = process.mainModule;
        if (main && typeof main.require === "function") return main.require(name);
      }
      if (typeof require === "function") { out.consoleRequire = true; return require(name); }
    } catch (e) {}
    return undefined;
  };
  try {
    if (typeof Deno === "object" && Deno) {
      out.runtime = "deno";
      out.pid = Deno.pid;
      const m = Deno.memoryUsage();
      out.heapUsed = m.heapUsed; out.rss = m.rss;
      let granted = false;
      try {
        const query = {name: "sys", kind: "systemMemoryInfo"};
        granted = Deno.permissions.querySync(query).state === "granted";
      } catch (e) {}
      if (granted) {
        const s = Deno.systemMemoryInfo();
        out.free = s.available; out.total = s.total;
      }
    } else if (typeof process === "object" && process && process.release
               && process.release.name === "node") {
      out.runtime = "node";
      out.pid = process.pid;
      const m = process.memoryUsage();
      out.heapUsed = m.heapUsed; out.rss = m.rss;
      const os = builtin("os");
      if (os) { out.free = os.freemem(); out.total = os.totalmem(); }
      if (typeof process.constrainedMemory === "function") out.limit = process.constrainedMemory();
      if (typeof process.availableMemory === "function") out.available = process.availableMemory();
      const v8 = builtin("v8");
      out.writeHeapSnapshot = !!(v8 && typeof v8.writeHeapSnapshot === "function");
    } else if (typeof window === "object") {
      out.runtime = "browser";
    }
  } catch (e) { out.error = String(e); }
  return out;
})()"""


def _number(value: object) -> int | None:
    """A non-negative finite number as an int; anything else (absent, NaN, a string) None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not math.isfinite(value) or value < 0:
        return None
    return int(value)


@attrs.frozen
class TargetMemory:
    """What the target said about its memory (bytes); ``None`` where it said nothing."""

    #: ``"node"``, ``"deno"``, ``"browser"`` or ``"unknown"``.
    runtime: str
    heap_used: int | None = None
    rss: int | None = None
    #: The memory its machine has available (Node's ``os.freemem()``, MemAvailable).
    free: int | None = None
    total: int | None = None
    #: Its container's memory limit (``process.constrainedMemory()``), if it has one.
    limit: int | None = None
    #: ``process.availableMemory()``: free memory under the limit, as libuv computes it.
    available: int | None = None
    #: The target's process id, as the target sees it (its own PID namespace).
    pid: int | None = None
    #: Whether the target has ``v8.writeHeapSnapshot`` (Node only).
    can_write_snapshot: bool = False
    #: Whether reaching Node's built-in modules needs the console's ``require``
    #: (``includeCommandLineAPI``): an ESM main module on Node < 20.16.
    needs_console_require: bool = False

    @classmethod
    def from_json(cls, value: object, heap_usage: object = None) -> TargetMemory:
        """From :data:`TARGET_MEMORY_EXPRESSION`'s value and, optionally, the result of
        ``Runtime.getHeapUsage`` (used when the expression gave no heap size)."""
        data: dict[str, Any] = value if isinstance(value, dict) else {}
        heap_used = _number(data.get("heapUsed"))
        if heap_used is None and isinstance(heap_usage, dict):
            heap_used = _number(heap_usage.get("usedSize"))
        limit = _number(data.get("limit"))
        if limit is not None and (limit == 0 or limit >= _NO_LIMIT):
            limit = None
        runtime = data.get("runtime")
        return cls(
            runtime=runtime if isinstance(runtime, str) else "unknown",
            heap_used=heap_used,
            rss=_number(data.get("rss")),
            free=_number(data.get("free")),
            total=_number(data.get("total")),
            limit=limit,
            available=_number(data.get("available")),
            pid=_number(data.get("pid")),
            can_write_snapshot=data.get("writeHeapSnapshot") is True,
            needs_console_require=data.get("consoleRequire") is True,
        )


def cost_factor(heap_used: int, via: Via = "stream") -> float:
    """The measured peak +RSS / heapUsed of a snapshot at this heap size (interpolated)."""
    points = COST_FACTORS[via]
    if heap_used <= points[0][0]:
        return points[0][1]
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        if heap_used <= x1:
            t = (math.log(heap_used) - math.log(x0)) / (math.log(x1) - math.log(x0))
            return y0 + t * (y1 - y0)
    return points[-1][1]


def format_size(size: float) -> str:
    """``1.9 GB``, ``640 MB``: the precision a memory estimate deserves."""
    if size >= 1e9:
        return f"{size / 1e9:.1f} GB"
    return f"{size / 1e6:.0f} MB"


@attrs.frozen
class SnapshotCostEstimate:
    """What a snapshot may cost the target's memory, and whether that fits."""

    memory: TargetMemory
    via: Via
    #: Peak +RSS / heap in use assumed; ``None`` when the heap size is unknown.
    factor: float | None
    #: Bytes the snapshot may need on top of what the target uses now.
    needed: int | None
    #: The smallest headroom the target reported, and what it is ("free on its machine").
    headroom: int | None
    headroom_text: str | None

    @property
    def fits(self) -> bool | None:
        """True or False, or ``None`` when the target reported too little to tell."""
        if self.needed is None or self.headroom is None:
            return None
        return self.needed <= self.headroom

    def refusal(self) -> str:
        """The one-line refusal (only meaningful when :attr:`fits` is False)."""
        assert self.needed is not None and self.headroom is not None
        return (
            f"the snapshot may need ~{format_size(self.needed)} "
            f"({self.factor:.1f}x its {format_size(self.memory.heap_used or 0)} heap in use); "
            f"the target has ~{format_size(self.headroom)} {self.headroom_text}; "
            "nothing was paused; --force takes it anyway"
        )

    def notice(self) -> str:
        """The one-line notice when the target reported nothing usable."""
        what = {"node": "Node.js", "deno": "Deno", "browser": "the browser"}.get(
            self.memory.runtime, "the target"
        )
        need = f" (it may need ~{format_size(self.needed)})" if self.needed else ""
        return (
            f"{what} does not report its free memory, so cdp-heap cannot check that the "
            f"snapshot fits{need}; taking it anyway"
        )


def estimate_from_memory(memory: TargetMemory, via: Via = "stream") -> SnapshotCostEstimate:
    """The estimate for ``memory`` (pure: the proxy uses it on a reply it routed)."""
    factor = needed = None
    if memory.heap_used:
        factor = cost_factor(memory.heap_used, via)
        needed = int(memory.heap_used * factor)
    bounds: list[tuple[int, str]] = []
    if memory.free is not None:
        bounds.append((memory.free, "available on its machine"))
    if memory.limit is not None and memory.rss is not None:
        bounds.append(
            (
                max(0, memory.limit - memory.rss),
                f"free under its {format_size(memory.limit)} container limit",
            )
        )
    if memory.available is not None:
        under = f" under its {format_size(memory.limit)} container limit" if memory.limit else ""
        bounds.append((memory.available, f"available{under} (process.availableMemory)"))
    headroom, text = min(bounds, key=lambda b: b[0]) if bounds else (None, None)
    return SnapshotCostEstimate(memory, via, factor, needed, headroom, text)


class SnapshotWouldNotFit(CaptureError):
    """The pre-flight found that the snapshot would not fit; nothing was paused."""

    def __init__(self, estimate: SnapshotCostEstimate) -> None:
        super().__init__(estimate.refusal())
        self.estimate = estimate


async def read_target_memory(
    connection: CDPConnection, *, session_id: str | None = None
) -> TargetMemory:
    """Ask the target what it knows about its memory (one or two cheap commands; nothing is
    paused). Raises the connection's errors; a target that answers nothing useful, or
    refuses the commands, gives a :class:`TargetMemory` of ``None``s."""
    params = {
        "expression": TARGET_MEMORY_EXPRESSION,
        "returnByValue": True,
        "includeCommandLineAPI": True,
        "silent": True,
    }
    value: object = None
    try:
        reply = await connection.send("Runtime.evaluate", params, session_id=session_id)
    except CommandError:  # no Runtime domain here, or a proxy's method policy refused it
        reply = {}
    result = reply.get("result")
    value = result.get("value") if isinstance(result, dict) else None
    memory = TargetMemory.from_json(value)
    if memory.heap_used is None:
        try:
            usage = await connection.send("Runtime.getHeapUsage", session_id=session_id)
        except CommandError:
            return memory
        memory = TargetMemory.from_json(value, usage)
    return memory


async def estimate_snapshot_cost(
    connection: CDPConnection, *, via: Via = "stream", session_id: str | None = None
) -> SnapshotCostEstimate:
    """What a heap snapshot taken now ``via`` either path may cost the target's memory.

    Tool builders gate their own captures with it::

        estimate = await cdp_heap.estimate_snapshot_cost(conn)
        if estimate.fits is False:
            raise SystemExit(estimate.refusal())
    """
    return estimate_from_memory(await read_target_memory(connection, session_id=session_id), via)


async def check_snapshot_fits(
    connection: CDPConnection,
    *,
    via: Via = "stream",
    force: bool = False,
    on_notice: Callable[[str], object] | None = None,
    memory: TargetMemory | None = None,
    session_id: str | None = None,
) -> SnapshotCostEstimate:
    """The pre-flight: raise :class:`SnapshotWouldNotFit` (nothing paused) when the snapshot
    would not fit, unless ``force``. ``on_notice`` gets one line when the target reported
    too little to tell, or when ``force`` overrides a refusal. ``memory`` reuses an answer
    already read with :func:`read_target_memory`."""
    if memory is None:
        memory = await read_target_memory(connection, session_id=session_id)
    estimate = estimate_from_memory(memory, via)
    fits = estimate.fits
    if fits is None and on_notice is not None:
        on_notice(estimate.notice())
    elif fits is False:
        if not force:
            raise SnapshotWouldNotFit(estimate)
        if on_notice is not None:
            on_notice(
                estimate.refusal().replace(
                    "nothing was paused; --force takes it anyway", "taking it anyway (--force)"
                )
            )
    return estimate
