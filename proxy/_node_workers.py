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
- a client that leaves: its inner replies and snapshot chunks are dropped from then on, and
  what it started inside a worker is stopped.
"""

from __future__ import annotations

import json
from collections import deque
from typing import Any

import attrs

from cdp_heap._protocol import SNAPSHOT_METHODS
from cdp_heap._wire import Command, Event, encode

from ._actions import ClientId
from ._ownership import ACTIVITIES, STARTS, STOPS

SEND = "NodeWorker.sendMessageToWorker"
RECEIVED = "NodeWorker.receivedMessageFromWorker"
ATTACHED = "NodeWorker.attachedToWorker"
DETACHED = "NodeWorker.detachedFromWorker"
_SNAPSHOT_EVENTS = frozenset(
    {"HeapProfiler.addHeapSnapshotChunk", "HeapProfiler.reportHeapSnapshotProgress"}
)


@attrs.define
class _Worker:
    attached: str  # the attachedToWorker text, for replay
    users: set[ClientId] = attrs.Factory(set)
    #: upstream inner id -> (client, its inner id); the client is None once it left
    routes: dict[int, tuple[ClientId | None, int]] = attrs.Factory(dict)
    #: upstream inner ids of snapshot commands pending in this worker, oldest first
    snapshots: deque[int] = attrs.Factory(deque)
    owners: dict[str, ClientId] = attrs.Factory(dict)  # activity -> the client that started it


@attrs.frozen
class Refusal:
    """Why a ``sendMessageToWorker`` is not forwarded; ``inner_error`` is the worker-level
    error reply to hand the client (inside a ``receivedMessageFromWorker``), if any."""

    message: str
    inner_error: str | None = None


class WorkerSessions:
    """The worker sessions of one upstream Node session and who talks to each."""

    def __init__(self) -> None:
        self._workers: dict[str, _Worker] = {}
        self._next_id = 1

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
        return [worker.attached for worker in self._workers.values()]

    def outgoing(self, client: ClientId, command: Command) -> Command | Refusal:
        """``client``'s ``sendMessageToWorker`` with the inner id rewritten, or why not."""
        session = command.params.get("sessionId")
        worker = self._workers.get(session) if isinstance(session, str) else None
        if worker is None:
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
                wrapped = Event(RECEIVED, {"sessionId": session, "message": json.dumps(error)})
                return Refusal(why, encode(wrapped))
            if method in STARTS:
                worker.owners[activity] = client
            else:
                worker.owners.pop(activity, None)
        upstream_id = self._next_id
        self._next_id += 1
        worker.routes[upstream_id] = (client, inner["id"])
        worker.users.add(client)
        if inner.get("method") in SNAPSHOT_METHODS:
            worker.snapshots.append(upstream_id)
        inner["id"] = upstream_id
        message = json.dumps(inner, separators=(",", ":"), ensure_ascii=False)
        return Command(command.id, SEND, {**command.params, "message": message}, command.session_id)

    def incoming(self, event: Event, text: str) -> list[tuple[ClientId, str]]:
        """Who gets a ``receivedMessageFromWorker`` (``text``), and the text each gets."""
        session = event.params.get("sessionId")
        worker = self._workers.get(session) if isinstance(session, str) else None
        message = event.params.get("message")
        if worker is None or not isinstance(message, str):
            return []
        inner: Any = json.loads(message)
        if not isinstance(inner, dict):
            return []
        if "id" in inner:
            route = worker.routes.pop(inner["id"], None)
            if worker.snapshots and worker.snapshots[0] == inner["id"]:
                worker.snapshots.popleft()
            owner = None if route is None else route[0]
            if route is None or owner is None:
                return []
            inner["id"] = route[1]
            return [(owner, self._wrap(event, inner))]
        if inner.get("method") in _SNAPSHOT_EVENTS:
            if not worker.snapshots:
                return []
            owner = worker.routes.get(worker.snapshots[0], (None, 0))[0]
            return [] if owner is None else [(owner, text)]
        return [(client, text) for client in sorted(worker.users)]

    def release(self, client: ClientId) -> list[tuple[str, str]]:
        """``client`` left: nothing more of any worker reaches it. Returns the inner
        commands (worker session, message text) that stop what it started in a worker."""
        undo: list[tuple[str, str]] = []
        for session, worker in self._workers.items():
            worker.users.discard(client)
            for upstream_id, (owner, inner_id) in list(worker.routes.items()):
                if owner == client:
                    worker.routes[upstream_id] = (None, inner_id)
            for activity, owner in list(worker.owners.items()):
                if owner != client:
                    continue
                del worker.owners[activity]
                stop = ACTIVITIES[activity][1]
                upstream_id = self._next_id
                self._next_id += 1
                worker.routes[upstream_id] = (None, 0)  # the proxy's own: reply dropped
                if stop in SNAPSHOT_METHODS:
                    worker.snapshots.append(upstream_id)  # its chunks are dropped too
                undo.append((session, json.dumps({"id": upstream_id, "method": stop})))
        return undo

    def pending(self) -> int:
        """Inner commands awaiting their reply (for statistics)."""
        return sum(len(w.routes) for w in self._workers.values())

    @staticmethod
    def _wrap(event: Event, inner: dict[str, Any]) -> str:
        message = json.dumps(inner, separators=(",", ":"), ensure_ascii=False)
        return encode(Event(RECEIVED, {**event.params, "message": message}, event.session_id))
