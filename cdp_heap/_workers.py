"""A Node worker thread as the connection's target: its own heap, through its parent.

Every worker thread has a V8 isolate (a heap) of its own, which a connection to the Node
process does not see. Node 20 has no flattened ``Target`` sessions: its ``NodeWorker``
domain attaches to workers (``NodeWorker.enable`` announces each with
``NodeWorker.attachedToWorker``) and carries the worker's CDP messages as strings inside
``NodeWorker.sendMessageToWorker`` (to it) and ``NodeWorker.receivedMessageFromWorker``
(from it).

:func:`attach_worker` picks a worker and puts a :class:`WorkerRelay` on the connection: from
then on every top-level command goes to the worker, wrapped, and what the worker sends comes
back unwrapped, as if the connection were to the worker itself. Everything built on the
connection (snapshots, sampling, tracking) works on the worker unchanged. The relay works
on text, like the wire layer; no trio here but for :func:`attach_worker`.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

import attrs

from ._errors import DiscoveryError
from ._wire import Command, Event, encode

if TYPE_CHECKING:
    from ._connection import CDPConnection

__all__ = ["NoSuchWorker", "WorkerInfo", "WorkerRelay", "attach_worker", "pick_worker"]

_RECEIVED = '{"method":"NodeWorker.receivedMessageFromWorker"'
_DETACHED = '{"method":"NodeWorker.detachedFromWorker"'
_REPLY_ID = re.compile(r'^\{\s*"id"\s*:\s*(\d+)\s*[,}]')
_TITLE = re.compile(r"^\[worker (\d+)\]")
#: Ids of the wrapping commands: far above the connection's own counter, so a wrapper's
#: reply (from the parent) is never taken for the worker's reply to the wrapped command.
WRAPPER_IDS = 1_000_000_000


class NoSuchWorker(DiscoveryError):
    """No worker thread matches (or several do)."""


@attrs.frozen
class WorkerInfo:
    """A worker thread as Node announces it. ``thread_id`` is its ``threadId`` (what the
    app's code knows), read from the title ``[worker THREAD_ID] NAME``; Node's own
    ``workerId`` is an inspector counter that need not match it."""

    session_id: str
    thread_id: str
    title: str
    url: str

    @classmethod
    def from_json(cls, params: Any) -> WorkerInfo:
        info = params.get("workerInfo") or {}
        title = str(info.get("title", ""))
        numbered = _TITLE.match(title)
        thread_id = numbered.group(1) if numbered else str(info.get("workerId", ""))
        return cls(str(params.get("sessionId")), thread_id, title, str(info.get("url", "")))


def pick_worker(workers: list[WorkerInfo], select: str) -> WorkerInfo:
    """The worker whose thread id is ``select``, else the one whose title or url matches it
    as a regular expression. Raises :class:`NoSuchWorker`."""
    if not workers:
        raise NoSuchWorker("the target has no worker threads")
    by_id = [w for w in workers if w.thread_id == select]
    if by_id:
        return by_id[0]
    try:
        pattern = re.compile(select)
    except re.error as exc:
        raise NoSuchWorker(
            f"--worker {select!r}: not a worker id or a valid regex: {exc}"
        ) from None
    matches = [w for w in workers if pattern.search(w.title) or pattern.search(w.url)]
    listed = ", ".join(repr(w.title) for w in workers)
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise NoSuchWorker(f"no worker thread matches {select!r}; the workers: {listed}")
    raise NoSuchWorker(f"{len(matches)} worker threads match {select!r}: {listed}")


class WorkerRelay:
    """Wraps the connection's top-level commands for one worker session and unwraps what
    the worker sends. ``outgoing``/``incoming`` are the connection's two hooks."""

    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        self._next_wrapper = WRAPPER_IDS
        self.wrapped = 0
        self.unwrapped = 0

    def outgoing(self, command: Command) -> str:
        """The text to send for ``command``: wrapped for the worker if top-level."""
        if command.session_id is not None:
            return encode(command)
        inner = encode(command)
        self._next_wrapper += 1
        self.wrapped += 1
        params = {"sessionId": self.session_id, "message": inner}
        return encode(Command(self._next_wrapper, "NodeWorker.sendMessageToWorker", params))

    def incoming(self, text: str) -> str | None:
        """What the connection should see of ``text`` (``None``: nothing)."""
        if text.startswith(_RECEIVED):
            params = json.loads(text)["params"]
            if params.get("sessionId") != self.session_id:
                return None  # another worker's (attached by the same enable)
            self.unwrapped += 1
            message: str = params["message"]
            return message
        if text.startswith(_DETACHED):
            params = json.loads(text)["params"]
            if params.get("sessionId") == self.session_id:
                # As if the worker's own connection ended: every pending command fails.
                return encode(Event("Inspector.detached", {"reason": "worker thread exited"}))
            return None
        match = _REPLY_ID.match(text)
        if match is not None and int(match.group(1)) > WRAPPER_IDS:
            return None  # the parent's acknowledgement of a wrapper
        return text


async def attach_worker(connection: CDPConnection, select: str) -> WorkerInfo:
    """Attach to the worker thread ``select`` (its id, or a regex matched against its
    title and url) of the Node process on ``connection``, and make it the connection's
    target from here on. Raises :class:`NoSuchWorker`."""
    workers: list[WorkerInfo] = []
    async with connection.subscribe(["NodeWorker.attachedToWorker"], max_buffer=10_000) as events:
        # Node announces every running worker before it answers the enable.
        await connection.send("NodeWorker.enable", {"waitForDebuggerOnStart": False})
        for _ in range(events.statistics().queued_items):
            workers.append(WorkerInfo.from_json((await events.receive()).params))
    worker = pick_worker(workers, select)
    connection.relay = WorkerRelay(worker.session_id)
    return worker
