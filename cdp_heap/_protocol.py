"""The client side of one CDP connection, as a state machine with no I/O.

:class:`CDPProtocol` turns commands into text (allocating ids) and incoming text into
*incoming items* that say what happened: a reply to a pending command, an event, a chunk of
a snapshot that a particular command produces, a detach. All the state a client needs to
keep — pending commands, abandoned commands whose late replies must be ignored, which
command a heap-snapshot chunk belongs to — lives here, so the trio layer above only moves
bytes and wakes tasks, and the proxy's router reuses the same rules.

Snapshot attribution. ``HeapProfiler.takeHeapSnapshot`` and
``HeapProfiler.stopTrackingHeapObjects`` stream the snapshot as ``addHeapSnapshotChunk``
events (and optional ``reportHeapSnapshotProgress`` events) *before* their reply. V8 runs a
session's commands one at a time, in order, so every chunk belongs to the oldest snapshot
command of that session still waiting for its reply. A chunk of an abandoned (cancelled)
command is discarded here, which keeps the connection usable after a cancelled capture.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Literal, TypeAlias

import attrs

from ._errors import ConnectionClosed, TargetDetached
from ._wire import (
    Command,
    ErrorResponse,
    Event,
    JSONObject,
    MalformedMessage,
    Response,
    decode,
)

SNAPSHOT_METHODS = frozenset(
    {"HeapProfiler.takeHeapSnapshot", "HeapProfiler.stopTrackingHeapObjects"}
)
CHUNK_EVENT = "HeapProfiler.addHeapSnapshotChunk"
PROGRESS_EVENT = "HeapProfiler.reportHeapSnapshotProgress"
_DETACH_EVENTS = frozenset({"Inspector.detached", "Target.detachedFromTarget"})


@attrs.frozen
class ReplyReceived:
    """The reply to ``command``, which is no longer pending."""

    command: Command
    reply: Response | ErrorResponse


@attrs.frozen
class EventReceived:
    event: Event


@attrs.frozen
class SnapshotChunkReceived:
    """One ``addHeapSnapshotChunk`` of the snapshot that command ``command_id`` produces."""

    command_id: int
    chunk: str


@attrs.frozen
class SnapshotProgressReceived:
    command_id: int
    done: int
    total: int
    finished: bool


@attrs.frozen
class SessionDetached:
    """The target detached ``session_id`` (``None``: the whole connection).

    ``failed`` are the commands that were pending on it; they will never be answered.
    """

    event: Event
    reason: str
    session_id: str | None
    failed: tuple[Command, ...]


IgnoredKind: TypeAlias = Literal["stale_reply", "discarded_chunk", "unknown_reply"]


@attrs.frozen
class Ignored:
    """A message that needs no action: a late reply to an abandoned command, a chunk of an
    abandoned snapshot, or (``unknown_reply``, a peer bug worth a warning) a reply to an id
    that was never sent."""

    kind: IgnoredKind
    id: int | None


Incoming: TypeAlias = (
    ReplyReceived
    | EventReceived
    | SnapshotChunkReceived
    | SnapshotProgressReceived
    | SessionDetached
    | Ignored
)


@attrs.frozen
class ProtocolStatistics:
    pending: int
    abandoned: int
    snapshots_in_flight: int
    stale_replies: int
    unknown_replies: int
    discarded_chunks: int


class CDPProtocol:
    """Client-side protocol state of one connection (see the module docstring)."""

    def __init__(self, *, first_id: int = 1) -> None:
        self._next_id = first_id
        self._pending: dict[int, Command] = {}
        self._abandoned: set[int] = set()
        # Per session: ids of snapshot-producing commands awaiting their reply, oldest first.
        self._snapshot_queues: dict[str | None, deque[int]] = {}
        self._closed: ConnectionClosed | None = None
        self._stale_replies = 0
        self._unknown_replies = 0
        self._discarded_chunks = 0

    # -- sending -----------------------------------------------------------------------------

    def send_command(
        self, method: str, params: JSONObject | None = None, session_id: str | None = None
    ) -> Command:
        """Register a new pending command and return it; ``encode(command)`` is its text.

        Raises the error the connection closed with, if it is closed.
        """
        if self._closed is not None:
            raise self._closed
        command = Command(self._next_id, method, params or {}, session_id)
        self._next_id += 1
        self._pending[command.id] = command
        if method in SNAPSHOT_METHODS:
            self._snapshot_queues.setdefault(session_id, deque()).append(command.id)
        return command

    def abandon(self, command_id: int) -> None:
        """Forget a pending command whose caller gave up (cancelled).

        Its late reply will be ignored and, for a snapshot command, so will the rest of its
        chunks. Abandoning a command that is no longer pending does nothing.
        """
        if self._pending.pop(command_id, None) is not None:
            self._abandoned.add(command_id)

    def is_pending(self, command_id: int) -> bool:
        return command_id in self._pending

    # -- receiving ---------------------------------------------------------------------------

    def receive(self, text: str | bytes) -> Incoming:
        """Classify one incoming message and update the state accordingly.

        Raises :class:`~cdp_heap.ProtocolError` if the text is not a CDP message.
        """
        message = decode(text)
        if isinstance(message, Event):
            return self._receive_event(message)
        if isinstance(message, Response | ErrorResponse) and message.id is not None:
            return self.receive_reply(message.id, message)
        if isinstance(message, ErrorResponse):
            # An error the peer could not attribute (e.g. it could not parse something).
            self._unknown_replies += 1
            return Ignored("unknown_reply", None)
        # A command from the target to the client: not part of CDP's client role.
        self._unknown_replies += 1
        return Ignored("unknown_reply", message.id)

    def receive_reply(self, msg_id: int, reply: Response | ErrorResponse) -> Incoming:
        """:meth:`receive` for a reply already decoded."""
        command = self.take_pending(msg_id)
        if command is not None:
            return ReplyReceived(command, reply)
        if msg_id in self._abandoned:
            self._abandoned.discard(msg_id)
            self._stale_replies += 1
            return Ignored("stale_reply", msg_id)
        self._unknown_replies += 1
        return Ignored("unknown_reply", msg_id)

    def take_pending(self, msg_id: int) -> Command | None:
        """The command ``msg_id`` was a reply to, no longer pending (``None``: it was not
        pending). :meth:`receive_reply` without the result, for a proxy that forwards the
        reply as it is and needs only the protocol's state kept."""
        if self._snapshot_queues:
            self._forget_snapshot(msg_id)
        return self._pending.pop(msg_id, None)

    def _forget_snapshot(self, msg_id: int) -> None:
        for session_id, queue in self._snapshot_queues.items():
            if msg_id in queue:
                queue.remove(msg_id)
                if not queue:
                    del self._snapshot_queues[session_id]
                return

    def _receive_event(self, event: Event) -> Incoming:
        if event.method in (CHUNK_EVENT, PROGRESS_EVENT):
            queue = self._snapshot_queues.get(event.session_id)
            if queue:
                owner = queue[0]
                if owner in self._abandoned:
                    self._discarded_chunks += event.method == CHUNK_EVENT
                    return Ignored("discarded_chunk", owner)
                return _snapshot_item(owner, event)
        if event.method in _DETACH_EVENTS:
            return self._detach(event)
        return EventReceived(event)

    def _detach(self, event: Event) -> SessionDetached:
        reason = str(event.params.get("reason", "target detached"))
        if event.method == "Target.detachedFromTarget":
            session_id: str | None = event.params.get("sessionId")
        else:
            session_id = event.session_id
        failed = tuple(c for c in self._pending.values() if c.session_id == session_id)
        for command in failed:
            del self._pending[command.id]
            self._forget_snapshot(command.id)
        if session_id is None:
            self._closed = TargetDetached(f"target detached: {reason}", reason=reason)
        return SessionDetached(event, reason, session_id, failed)

    # -- closing -----------------------------------------------------------------------------

    def connection_lost(self, error: ConnectionClosed) -> tuple[Command, ...]:
        """Record that the connection is gone; returns the commands that will never be
        answered. Later :meth:`send_command` calls raise ``error``."""
        if self._closed is None:
            self._closed = error
        failed = tuple(self._pending.values())
        self._pending.clear()
        self._abandoned.clear()
        self._snapshot_queues.clear()
        return failed

    @property
    def closed(self) -> ConnectionClosed | None:
        """The error the connection closed with, or ``None`` while it is open."""
        return self._closed

    def statistics(self) -> ProtocolStatistics:
        return ProtocolStatistics(
            pending=len(self._pending),
            abandoned=len(self._abandoned),
            snapshots_in_flight=sum(len(q) for q in self._snapshot_queues.values()),
            stale_replies=self._stale_replies,
            unknown_replies=self._unknown_replies,
            discarded_chunks=self._discarded_chunks,
        )


def _snapshot_item(owner: int, event: Event) -> Incoming:
    params: JSONObject = event.params
    if event.method == CHUNK_EVENT:
        return SnapshotChunkReceived(owner, _str(params, "chunk"))
    return SnapshotProgressReceived(
        owner, _int(params, "done"), _int(params, "total"), bool(params.get("finished", False))
    )


def _str(params: JSONObject, key: str) -> str:
    value: Any = params.get(key)
    if not isinstance(value, str):
        raise MalformedMessage(f"event parameter {key!r} must be a string")
    return value


def _int(params: JSONObject, key: str) -> int:
    value: Any = params.get(key)
    if not isinstance(value, int):
        raise MalformedMessage(f"event parameter {key!r} must be an integer")
    return value
