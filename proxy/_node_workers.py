"""Node worker threads behind the proxy's one upstream session, per client. No I/O.

Node 20 attaches an inspector session to every worker thread once ``NodeWorker.enable`` is
sent, and carries each worker's CDP messages as strings: ``NodeWorker.sendMessageToWorker
{sessionId, message}`` to it, ``NodeWorker.receivedMessageFromWorker {sessionId, message}``
from it. Behind the proxy every client shares those worker sessions, so the messages
inside them are routed like top-level ones:

- the inner command's id is replaced by one from the proxy's own counter; the inner reply
  goes back to that client only, with its own id restored (two clients' inner id 1 never
  collide);
- an inner ``addHeapSnapshotChunk`` / ``reportHeapSnapshotProgress`` goes only to the
  client whose snapshot is the oldest one pending in that worker (a worker's thread runs
  its commands in order, so every chunk before a snapshot's reply is that snapshot's);
- other inner events go to the clients that have talked to that worker;
- a late ``NodeWorker.enable`` is told of the workers already attached (the
  ``attachedToWorker`` texts, replayed), as a fresh session would be;
- heap sampling, heap tracking and CPU profiling inside a worker belong to the client that
  started them there; another client's start or stop gets an inner error naming the owner;
- ``X.enable`` / ``X.disable`` inside a worker are counted per client and per worker, as
  :mod:`cdp_heap_proxy._domains` counts them at the top level: the worker is sent
  ``X.disable`` only when its last enabler disables or leaves, and never
  ``HeapProfiler.disable`` (kept enabled so heap object ids stay comparable); a disable that
  is not forwarded is answered by the proxy;
- breakpoints set inside a worker belong to the client that set them, and a pause there to
  the client that asked for it or whose breakpoint was hit (the top-level rules of
  :mod:`cdp_heap_proxy._ownership`);
- a client that leaves: its inner replies and snapshot chunks are dropped from then on, and
  what it did inside a worker is undone: what it started is stopped, a pause it holds (or
  that no remaining debugger client could resume) is resumed, its breakpoints are removed,
  and the domains it was the last to enable are disabled. A breakpoint whose setter left
  before the reply came is removed once the reply names it.

Worker sessions outlive ``NodeWorker.disable`` (Node keeps them; a new ``enable`` attaches
new ones), so those the proxy knows keep being routed and cleaned up, but are no longer
replayed to a late ``NodeWorker.enable``.
"""

from __future__ import annotations

import json
from collections import deque
from typing import Any

import attrs

from cdp_heap._protocol import SNAPSHOT_METHODS
from cdp_heap._wire import Command, Event, encode

from ._actions import ClientId
from ._domains import KEPT_ENABLED, release_enabler

# The pause requests are the top level's: one list of what makes a client hold a pause.
from ._ownership import ACTIVITIES, BREAKPOINT_SETTERS, PAUSE_REQUESTS, STARTS, STOPS

SEND = "NodeWorker.sendMessageToWorker"
RECEIVED = "NodeWorker.receivedMessageFromWorker"
ATTACHED = "NodeWorker.attachedToWorker"
DETACHED = "NodeWorker.detachedFromWorker"
_SNAPSHOT_EVENTS = frozenset(
    {"HeapProfiler.addHeapSnapshotChunk", "HeapProfiler.reportHeapSnapshotProgress"}
)
#: A worker session's message (session id, inner message text), sent by the proxy itself.
Inner = tuple[str, str]


@attrs.frozen
class _Route:
    client: ClientId | None  # None once it left, or for the proxy's own commands
    inner_id: int
    method: str


@attrs.define
class _Worker:
    attached: str  # the attachedToWorker text, for replay
    replayed: bool = True  # False once NodeWorker was disabled upstream
    users: set[ClientId] = attrs.Factory(set)
    routes: dict[int, _Route] = attrs.Factory(dict)  # by upstream inner id
    #: upstream inner ids of snapshot commands pending in this worker, oldest first
    snapshots: deque[int] = attrs.Factory(deque)
    owners: dict[str, ClientId] = attrs.Factory(dict)  # activity -> the client that started it
    enablers: dict[str, set[ClientId]] = attrs.Factory(dict)  # domain -> who enabled it
    breakpoints: dict[str, ClientId] = attrs.Factory(dict)  # breakpoint id -> its setter
    paused: bool = False
    pause_holder: ClientId | None = None

    def debugger_disabled(self) -> None:
        """Debugger is disabled in this worker: its pause and breakpoints are gone."""
        self.paused = False
        self.pause_holder = None
        self.breakpoints.clear()


@attrs.frozen
class Refusal:
    """Why a ``sendMessageToWorker`` is not forwarded (the client gets it as an error)."""

    message: str


@attrs.frozen
class Answer:
    """A ``sendMessageToWorker`` the proxy answers itself: the command is acknowledged and
    ``inner_reply`` (a ``receivedMessageFromWorker``) is the worker-level reply, an error
    (another client owns what it starts or stops) or a success (a ``disable`` that others
    still need)."""

    inner_reply: str


class WorkerSessions:
    """The worker sessions of one upstream Node session and who talks to each."""

    def __init__(self) -> None:
        self._workers: dict[str, _Worker] = {}
        self._next_id = 1
        self._undo: list[Inner] = []

    def observe(self, event: Event, text: str) -> None:
        """An upstream ``NodeWorker`` event (other than a worker's message)."""
        session = event.params.get("sessionId")
        if not isinstance(session, str):
            return
        if event.method == ATTACHED:
            self._workers[session] = _Worker(text)
        elif event.method == DETACHED:
            self._workers.pop(session, None)

    def replay(self) -> list[str]:
        """What a late ``NodeWorker.enable`` is told: every attached worker."""
        return [worker.attached for worker in self._workers.values() if worker.replayed]

    def disabled(self) -> None:
        """``NodeWorker.disable`` went upstream: the next ``enable`` attaches new sessions
        to the same workers, so the known ones are no longer announced."""
        for worker in self._workers.values():
            worker.replayed = False

    def outgoing(self, client: ClientId, command: Command) -> Command | Refusal | Answer:
        """``client``'s ``sendMessageToWorker`` with the inner id rewritten, or why not."""
        session = command.params.get("sessionId")
        worker = self._workers.get(session) if isinstance(session, str) else None
        if worker is None or not isinstance(session, str):
            return Refusal(f"no worker session {session!r} (NodeWorker.enable announces them)")
        try:
            inner = json.loads(command.params.get("message", ""))
        except (TypeError, ValueError):
            return Refusal("'message' is not a JSON CDP command")
        if not isinstance(inner, dict) or not isinstance(inner.get("id"), int):
            return Refusal("'message' is not a CDP command with an integer id")
        method = str(inner.get("method"))
        activity = STARTS.get(method) or STOPS.get(method)
        if activity is not None:
            owner = worker.owners.get(activity)
            if owner is not None and owner != client:
                verb = "start" if method in STARTS else "stop"
                why = f"cannot {verb} {activity} in this worker: client #{owner} started it"
                error = {"id": inner["id"], "error": {"code": -32000, "message": why}}
                return Answer(self._wrap_inner(session, error))
            if method in STARTS:
                worker.owners[activity] = client
            else:
                worker.owners.pop(activity, None)
        domain, _, name = method.partition(".")
        if name == "enable":
            worker.enablers.setdefault(domain, set()).add(client)
        elif name == "disable":
            if not self._disable(worker, client, domain):
                return Answer(self._wrap_inner(session, {"id": inner["id"], "result": {}}))
        elif method in PAUSE_REQUESTS:
            worker.pause_holder = client
        upstream_id = self._route(worker, client, inner["id"], method)
        worker.users.add(client)
        inner["id"] = upstream_id
        message = json.dumps(inner, separators=(",", ":"), ensure_ascii=False)
        return Command(command.id, SEND, {**command.params, "message": message}, command.session_id)

    @staticmethod
    def _disable(worker: _Worker, client: ClientId, domain: str) -> bool:
        """``client`` disables ``domain`` in ``worker``: whether the worker is sent it (it
        was the last enabler, and the domain is not the one the proxy keeps enabled)."""
        if not release_enabler(worker.enablers, domain, client) or domain == KEPT_ENABLED:
            return False
        if domain == "Debugger":
            worker.debugger_disabled()
        return True

    def incoming(self, event: Event, text: str) -> list[tuple[ClientId, str]]:
        """Who gets a ``receivedMessageFromWorker`` (``text``), and the text each gets."""
        session = event.params.get("sessionId")
        worker = self._workers.get(session) if isinstance(session, str) else None
        message = event.params.get("message")
        if worker is None or not isinstance(session, str) or not isinstance(message, str):
            return []
        inner: Any = json.loads(message)
        if not isinstance(inner, dict):
            return []
        if "id" in inner:
            route = worker.routes.pop(inner["id"], None)
            if worker.snapshots and worker.snapshots[0] == inner["id"]:
                worker.snapshots.popleft()
            if route is None:
                return []
            self._replied(session, worker, route, inner)
            if route.client is None:
                return []
            inner["id"] = route.inner_id
            return [(route.client, self._wrap(event, inner))]
        method = inner.get("method")
        if method in _SNAPSHOT_EVENTS:
            if not worker.snapshots:
                return []
            route = worker.routes.get(worker.snapshots[0])
            return [] if route is None or route.client is None else [(route.client, text)]
        if method == "Debugger.paused":
            params = inner.get("params")
            hit = params.get("hitBreakpoints") if isinstance(params, dict) else None
            owners = {worker.breakpoints.get(b) for b in hit or ()} - {None}
            worker.paused = True
            if len(owners) == 1:
                worker.pause_holder = owners.pop()
        elif method == "Debugger.resumed":
            worker.paused = False
            worker.pause_holder = None
        return [(client, text) for client in sorted(worker.users)]

    def _replied(self, session: str, worker: _Worker, route: _Route, inner: dict[str, Any]) -> None:
        """A breakpoint's reply: it is its setter's, or removed if the setter left."""
        result = inner.get("result")
        if route.method not in BREAKPOINT_SETTERS or not isinstance(result, dict):
            return
        breakpoint_id = result.get("breakpointId")
        if not isinstance(breakpoint_id, str):
            return
        if route.client is not None:
            worker.breakpoints[breakpoint_id] = route.client
        elif "Debugger" in worker.enablers:  # the proxy sets none: its setter left
            remove = self._own(worker, "Debugger.removeBreakpoint", breakpointId=breakpoint_id)
            self._undo.append((session, remove))

    def take_undo(self) -> list[Inner]:
        """Inner commands the proxy must send after :meth:`incoming` (a departed client's
        breakpoint, named by a late reply)."""
        undo, self._undo = self._undo, []
        return undo

    def release(self, client: ClientId) -> list[Inner]:
        """``client`` left: nothing more of any worker reaches it. Returns the inner
        commands (worker session, message text) that undo what it did in a worker."""
        undo: list[Inner] = []
        for session, worker in self._workers.items():
            undo += [(session, m) for m in self._release(worker, client)]
        return undo

    def _release(self, worker: _Worker, client: ClientId) -> list[str]:
        worker.users.discard(client)
        for upstream_id, route in list(worker.routes.items()):
            if route.client == client:
                worker.routes[upstream_id] = attrs.evolve(route, client=None)
        undo: list[str] = []
        for activity, owner in list(worker.owners.items()):
            if owner == client:
                del worker.owners[activity]
                undo.append(self._own(worker, ACTIVITIES[activity][1]))
        last_debugger = worker.enablers.get("Debugger") == {client}
        if worker.paused and (worker.pause_holder == client or last_debugger):
            undo.append(self._own(worker, "Debugger.resume"))
        if worker.pause_holder == client:
            worker.pause_holder = None
        for breakpoint_id, setter in list(worker.breakpoints.items()):
            if setter == client:
                del worker.breakpoints[breakpoint_id]
                if not last_debugger:  # else the disable below removes it
                    remove = self._own(
                        worker, "Debugger.removeBreakpoint", breakpointId=breakpoint_id
                    )
                    undo.append(remove)
        for domain in sorted(d for d, e in worker.enablers.items() if client in e):
            if self._disable(worker, client, domain):
                undo.append(self._own(worker, f"{domain}.disable"))
        return undo

    def _route(self, worker: _Worker, client: ClientId | None, inner_id: int, method: str) -> int:
        """A fresh upstream inner id for ``method``, its reply routed to ``client``."""
        upstream_id = self._next_id
        self._next_id += 1
        worker.routes[upstream_id] = _Route(client, inner_id, method)
        if method in SNAPSHOT_METHODS:
            worker.snapshots.append(upstream_id)  # its chunks go where its reply goes
        return upstream_id

    def _own(self, worker: _Worker, method: str, **params: Any) -> str:
        """The text of a command of the proxy's own in ``worker`` (its reply is dropped)."""
        upstream_id = self._route(worker, None, 0, method)
        command: dict[str, Any] = {"id": upstream_id, "method": method}
        if params:
            command["params"] = params
        return json.dumps(command, separators=(",", ":"))

    def pending(self) -> int:
        """Inner commands awaiting their reply (for statistics)."""
        return sum(len(w.routes) for w in self._workers.values())

    @staticmethod
    def _wrap(event: Event, inner: dict[str, Any]) -> str:
        message = json.dumps(inner, separators=(",", ":"), ensure_ascii=False)
        return encode(Event(RECEIVED, {**event.params, "message": message}, event.session_id))

    @staticmethod
    def _wrap_inner(session: str, inner: dict[str, Any]) -> str:
        """``inner``, a reply of the proxy's own, as the worker's message to the client."""
        message = json.dumps(inner, separators=(",", ":"), ensure_ascii=False)
        return encode(Event(RECEIVED, {"sessionId": session, "message": message}))
