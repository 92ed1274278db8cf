"""What a client started and must be undone when it leaves.

Heap sampling, heap tracking and CPU profiling have one owner each: the client that started
them; another client's start or stop is refused with a message naming the owner. A pause
belongs to the client that asked for it (``pause``, a step) or whose breakpoint was hit;
breakpoints belong to the client that set them. When a client leaves, :meth:`release`
says which commands undo what it owned. No I/O, no trio.
"""

from __future__ import annotations

from typing import Any

from cdp_heap._wire import ErrorResponse, Event, Response

from ._actions import ClientId

# activity -> (start method, stop method); the starter owns it until it stops it or leaves.
ACTIVITIES: dict[str, tuple[str, str]] = {
    "heap sampling": ("HeapProfiler.startSampling", "HeapProfiler.stopSampling"),
    "heap tracking": (
        "HeapProfiler.startTrackingHeapObjects",
        "HeapProfiler.stopTrackingHeapObjects",
    ),
    "CPU profiling": ("Profiler.start", "Profiler.stop"),
}
STARTS = {start: name for name, (start, _) in ACTIVITIES.items()}
STOPS = {stop: name for name, (_, stop) in ACTIVITIES.items()}
TRACKING_EVENTS = frozenset({"HeapProfiler.heapStatsUpdate", "HeapProfiler.lastSeenObjectId"})
PAUSE_REQUESTS = frozenset(
    {
        "Debugger.pause",
        "Debugger.stepInto",
        "Debugger.stepOver",
        "Debugger.stepOut",
        "Debugger.continueToLocation",
        "Debugger.resume",
    }
)
#: Commands whose reply the proxy reads (the breakpoint id it returns is the client's).
BREAKPOINT_SETTERS = frozenset(
    {
        "Debugger.setBreakpoint",
        "Debugger.setBreakpointByUrl",
        "Debugger.setBreakpointOnFunctionCall",
    }
)

#: An internal command: (method, params).
Undo = tuple[str, dict[str, Any]]


class Ownership:
    """Owners of activities, of the current pause and of breakpoints."""

    def __init__(self) -> None:
        self._owners: dict[str, ClientId] = {}
        self._pause_holder: ClientId | None = None
        self._breakpoints: dict[str, ClientId] = {}

    def record(self, client: ClientId, method: str) -> tuple[str, ClientId] | None:
        """``client`` sends ``method``: record what it starts, stops or pauses, and return
        ``None``; or, if another client owns the activity it starts or stops, record nothing
        and return ``(what, owner)`` for the refusal."""
        activity = STARTS.get(method) or STOPS.get(method)
        if activity is None:
            if method in PAUSE_REQUESTS:
                self._pause_holder = client
            return None
        owner = self._owners.get(activity)
        if owner is not None and owner != client:
            verb = "start" if method in STARTS else "stop"
            return f"cannot {verb} {activity}", owner
        if method in STARTS:
            self._owners[activity] = client
        else:
            self._owners.pop(activity, None)
        return None

    def replied(self, client: ClientId, method: str, reply: Response | ErrorResponse) -> None:
        """A reply reached ``client``: a failed start owns nothing; a breakpoint is its."""
        activity = STARTS.get(method)
        failed = isinstance(reply, ErrorResponse)
        if activity is not None and failed and self._owners.get(activity) == client:
            del self._owners[activity]
        if method in BREAKPOINT_SETTERS and isinstance(reply, Response):
            breakpoint_id = reply.result.get("breakpointId")
            if isinstance(breakpoint_id, str):
                self._breakpoints[breakpoint_id] = client

    def observe(self, event: Event) -> None:
        """Who holds a pause: the owner of the breakpoint that was hit, if only one."""
        if event.method == "Debugger.resumed":
            self._pause_holder = None
        elif event.method == "Debugger.paused":
            hit = event.params.get("hitBreakpoints") or []
            owners = {self._breakpoints.get(b) for b in hit} - {None}
            if len(owners) == 1:
                self._pause_holder = owners.pop()

    def tracking_owner(self) -> ClientId | None:
        return self._owners.get("heap tracking")

    def debugger_disabled(self) -> None:
        """Debugger was disabled upstream: pauses and breakpoints are gone."""
        self._pause_holder = None
        self._breakpoints.clear()

    def release(self, client: ClientId, *, paused: bool, last_debugger: bool) -> list[Undo]:
        """``client`` left: the commands that stop what it started, resume a pause it holds
        (or that no remaining debugger client could resume) and remove its breakpoints
        (unless Debugger is about to be disabled, which removes them anyway)."""
        undo: list[Undo] = []
        for name, owner in list(self._owners.items()):
            if owner == client:
                del self._owners[name]
                undo.append((ACTIVITIES[name][1], {}))
        if paused and (self._pause_holder == client or last_debugger):
            undo.append(("Debugger.resume", {}))
        if self._pause_holder == client:
            self._pause_holder = None
        for breakpoint_id, owner in list(self._breakpoints.items()):
            if owner == client:
                del self._breakpoints[breakpoint_id]
                if not last_debugger:
                    undo.append(("Debugger.removeBreakpoint", {"breakpointId": breakpoint_id}))
        return undo

    def owners(self) -> tuple[tuple[str, ClientId], ...]:
        return tuple(sorted(self._owners.items()))
