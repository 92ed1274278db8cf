"""A per-client outbound queue bounded in bytes: a slow client is cut off, never waited for.

The router runs on the upstream reader's task, and the upstream reader must never wait for a
client: V8 keeps sending whether or not anyone reads (a snapshot is not paused for its
reader), so a stalled reader would pile the data up in the target's memory, and a stalled
client would hold every other client hostage. Each client therefore gets an outbox
that ``put_nowait`` fills without waiting; when it would exceed its byte limit the client
is closed with a reason saying so, and its queued messages are dropped.

A WebSocket client's outbox is a :class:`FrameOutbox`: a message is written into the
client's socket at once, by the task that routed it, and only what the socket does not
take waits (in the WebSocket, as frames) for the client's writer task. ``POST /snapshot``
turns messages into an HTTP body, so it takes them one by one from a text
:class:`Outbox`.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Protocol

import attrs
import trio

from ._actions import ClientId
from ._security import Role

if TYPE_CHECKING:
    from ._websocket import WebSocket

DEFAULT_LIMIT_BYTES = 32 * 1024 * 1024
CLOSE_TOO_SLOW = 1008  # policy violation: the client did not read what it asked for
CLOSE_NORMAL = 1000


@attrs.frozen
class OutboxStatistics:
    queued_messages: int
    queued_bytes: int
    peak_bytes: int
    limit_bytes: int
    closing: bool


class ClientOutbox(Protocol):
    """What the proxy needs of a client's outbox (:class:`Outbox`, :class:`FrameOutbox`)."""

    close_code: int | None
    close_reason: str

    def put_nowait(self, text: str) -> bool:
        """Queue ``text``; ``False`` (and the outbox closes itself) if it would overflow."""
        ...

    def close_after_flush(self, code: int, reason: str) -> None: ...

    def close_now(self, code: int, reason: str) -> None: ...

    def statistics(self) -> OutboxStatistics: ...


def _too_slow(queued: int, limit: int) -> str:
    return f"client too slow: {queued} bytes queued for it, limit {limit}"


class Outbox:
    """Messages waiting to be taken by one client's writer, and, at the end, how to
    close it."""

    def __init__(self, limit_bytes: int = DEFAULT_LIMIT_BYTES) -> None:
        self._queue: deque[str] = deque()
        self._bytes = 0
        self._peak = 0
        self._limit = limit_bytes
        self._wakeup = trio.Event()
        self.close_code: int | None = None
        self.close_reason: str = ""

    def put_nowait(self, text: str) -> bool:
        """Queue ``text``; ``False`` (and the outbox closes itself) if it would overflow."""
        if self.close_code is not None:
            return False
        size = len(text)
        if self._bytes + size > self._limit and self._queue:
            self.close_now(CLOSE_TOO_SLOW, _too_slow(self._bytes + size, self._limit))
            return False
        self._queue.append(text)
        self._bytes += size
        self._peak = max(self._peak, self._bytes)
        self._wakeup.set()
        return True

    def close_after_flush(self, code: int, reason: str) -> None:
        """Send what is queued, then close with ``code``/``reason``."""
        if self.close_code is None:
            self.close_code, self.close_reason = code, reason
            self._wakeup.set()

    def close_now(self, code: int, reason: str) -> None:
        """Drop what is queued and close with ``code``/``reason``."""
        self._queue.clear()
        self._bytes = 0
        self.close_code, self.close_reason = code, reason
        self._wakeup.set()

    async def get(self) -> str | None:
        """The next message to send; ``None`` once closed and flushed. Cancellation-safe:
        a cancelled ``get`` takes nothing off the queue."""
        while not self._queue:
            if self.close_code is not None:
                return None
            self._wakeup = trio.Event()
            await self._wakeup.wait()
        text = self._queue.popleft()
        self._bytes -= len(text)
        return text

    async def get_many(self, max_bytes: int) -> list[str] | None:
        """The next messages to send, at least one and, after the first, no more than
        ``max_bytes`` in all (one write for what queued up meanwhile); ``None`` once
        closed and flushed. Cancellation-safe like :meth:`get`."""
        first = await self.get()
        if first is None:
            return None
        texts, total = [first], len(first)
        while self._queue and total + len(self._queue[0]) <= max_bytes:
            text = self._queue.popleft()
            self._bytes -= len(text)
            total += len(text)
            texts.append(text)
        return texts

    def statistics(self) -> OutboxStatistics:
        return OutboxStatistics(
            queued_messages=len(self._queue),
            queued_bytes=self._bytes,
            peak_bytes=self._peak,
            limit_bytes=self._limit,
            closing=self.close_code is not None,
        )


class FrameOutbox:
    """A WebSocket client's outbox: messages go straight into ``ws``; what its socket
    does not take waits there, at most ``limit_bytes``. The client's writer task runs
    :meth:`wait` and then :meth:`WebSocket.flush <cdp_heap_proxy._websocket.WebSocket.flush>`
    until the outbox is closed and flushed."""

    def __init__(self, ws: WebSocket, limit_bytes: int = DEFAULT_LIMIT_BYTES) -> None:
        self._ws = ws
        self._limit = limit_bytes
        self._peak = 0
        self.close_code: int | None = None
        self.close_reason: str = ""

    def put_nowait(self, text: str) -> bool:
        if self.close_code is not None:
            return False
        queued = self._ws.unsent_bytes
        if queued and queued + len(text) > self._limit:
            self.close_now(CLOSE_TOO_SLOW, _too_slow(queued + len(text), self._limit))
            return False
        self._ws.send_nowait([text])  # wakes the writer if the socket did not take it all
        if self._ws.unsent_bytes > self._peak:
            self._peak = self._ws.unsent_bytes
        return True

    def close_after_flush(self, code: int, reason: str) -> None:
        if self.close_code is None:
            self.close_code, self.close_reason = code, reason
            self._ws.wake_writer()

    def close_now(self, code: int, reason: str) -> None:
        self._ws.discard_unsent()
        self.close_code, self.close_reason = code, reason
        self._ws.wake_writer()

    async def wait(self) -> bool:
        """Wait until there is something to write (``True``: the WebSocket's own frames,
        such as a pong, too) or the outbox is closed with nothing left to write
        (``False``)."""
        while not self._ws.unsent_bytes:
            if self.close_code is not None:
                return False
            await self._ws.wait_unsent()
        return True

    def statistics(self) -> OutboxStatistics:
        return OutboxStatistics(
            queued_messages=self._ws.unsent_frames,
            queued_bytes=self._ws.unsent_bytes,
            peak_bytes=self._peak,
            limit_bytes=self._limit,
            closing=self.close_code is not None,
        )


@attrs.define
class ClientConn:
    """A connected client as the shell sees it (the router knows it by ``id``): what the
    WebSocket handler and the ``POST /snapshot`` endpoint share with the proxy."""

    id: ClientId
    label: str
    peer: str
    role: Role
    transport: str  # "websocket" or "http"
    outbox: ClientOutbox
    #: The send in progress; a cut-off client's gets a deadline.
    send_scope: trio.CancelScope | None = None
