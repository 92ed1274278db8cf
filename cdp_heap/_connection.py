"""One CDP connection over trio-websocket: a reader task, concurrent commands, subscriptions.

This layer only moves messages and wakes tasks; every protocol decision is made by
:class:`~cdp_heap._protocol.CDPProtocol`. One reader task per connection receives each
message, asks the protocol what it is, and hands it on:

- a reply wakes the task awaiting that command;
- an event goes to every subscription of that method, each with its own bounded queue and
  full-queue policy (see :mod:`cdp_heap._queue`);
- a heap-snapshot chunk goes to the snapshot stream of the command that produces it.

When a queue with the ``"block"`` policy is full, the reader waits, so it stops reading the
socket: that is how a slow snapshot writer pushes back on the target instead of letting the
client's memory grow.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from typing import Any, Protocol

import attrs
import outcome
import trio
import trio_websocket

from ._errors import (
    CommandError,
    ConnectionClosed,
    MessageTooLarge,
    ProtocolError,
    TargetDetached,
)
from ._handles import PendingCommand as PendingCommand
from ._handles import SnapshotProgress as SnapshotProgress
from ._handles import Subscription as Subscription
from ._limits import DEFAULT_MAX_MESSAGE_SIZE as DEFAULT_MAX_MESSAGE_SIZE
from ._limits import MiB as MiB
from ._opening import connection_nursery, handshake, open_websocket
from ._protocol import (
    CHUNK_EVENT,
    CDPProtocol,
    EventReceived,
    Ignored,
    Incoming,
    ProtocolStatistics,
    ReplyReceived,
    SessionDetached,
    SnapshotChunkReceived,
    SnapshotProgressReceived,
)
from ._queue import BoundedQueue, Policy
from ._wire import Command, ErrorResponse, Event, JSONObject, encode

log = logging.getLogger("cdp_heap.connection")

_WS_MESSAGE_TOO_BIG = 1009


@attrs.frozen
class ConnectionStatistics:
    protocol: ProtocolStatistics
    subscriptions: int
    snapshot_streams: int
    messages_received: int
    bytes_received: int


@attrs.frozen(eq=False)
class _Route:
    """Where the reader puts the events of ``methods``: one subscription's queue."""

    methods: frozenset[str]
    queue: BoundedQueue[Event]


class Relay(Protocol):
    """Rewrites a connection's traffic (:class:`cdp_heap._workers.WorkerRelay`)."""

    def outgoing(self, command: Command) -> str: ...

    def incoming(self, text: str) -> str | None: ...


class CDPConnection:
    """A connection to one CDP target. Create it with :func:`open_cdp`."""

    def __init__(self, ws: trio_websocket.WebSocketConnection, url: str, max_message_size: int):
        self.url = url
        self.max_message_size = max_message_size
        self._ws = ws
        self._protocol = CDPProtocol()
        self._pending: dict[int, PendingCommand] = {}
        self._routes: list[_Route] = []
        self._messages_received = 0
        self._bytes_received = 0
        self._reader_done = trio.Event()
        #: Rewrites what is sent and received (a Node worker as the target: cdp_heap._workers).
        self.relay: Relay | None = None

    # -- commands ----------------------------------------------------------------------------

    async def send(
        self, method: str, params: JSONObject | None = None, *, session_id: str | None = None
    ) -> JSONObject:
        """Send a command and wait for its result.

        Raises :class:`~cdp_heap.CommandError` if the target answers with an error, and the
        connection's error (:class:`~cdp_heap.ConnectionClosed` or a subclass) if the
        connection closes or the target detaches first.

        Cancellation: the command is forgotten; if the target answers later, the reply is
        ignored. (The target may still carry the command out: CDP has no way to cancel.)
        """
        pending = await self._start(method, params, session_id)
        return await pending.wait()

    async def _start(
        self,
        method: str,
        params: JSONObject | None,
        session_id: str | None,
        sink: BoundedQueue[str | SnapshotProgress] | None = None,
    ) -> PendingCommand:
        command = self._protocol.send_command(method, params, session_id)
        pending = self._pending[command.id] = PendingCommand(command, self._forget, sink)
        try:
            # Shielded: a frame cancelled half-way would corrupt the stream for everyone.
            # Commands are small, so this does not wait on a peer for long.
            with trio.CancelScope(shield=True):
                relay = self.relay
                await self._ws.send_message(
                    encode(command) if relay is None else relay.outgoing(command)
                )
        except trio_websocket.ConnectionClosed as exc:
            self._forget(command.id)
            raise self._closed_error(exc) from None
        except BaseException:
            self._forget(command.id)
            raise
        return pending

    def _forget(self, command_id: int) -> None:
        """The caller gave up on a command: a late reply (and late chunks) are ignored."""
        self._protocol.abandon(command_id)
        pending = self._pending.pop(command_id, None)
        if pending is not None and pending.sink is not None:
            pending.sink.abort()

    # -- events ------------------------------------------------------------------------------

    @asynccontextmanager
    async def subscribe(
        self, methods: Collection[str], *, max_buffer: int = 1000, policy: Policy = "fail"
    ) -> AsyncIterator[Subscription]:
        """Receive the events of ``methods`` (e.g. ``["HeapProfiler.heapStatsUpdate"]``)
        while the block is active.

        Subscribe *before* sending the command that causes the events. ``max_buffer`` events
        are queued at most; ``policy`` says what happens beyond (see :mod:`cdp_heap._queue`):
        ``"fail"`` (default) raises :class:`~cdp_heap.SubscriptionOverflow` in the consumer,
        ``"block"`` stops reading the socket until there is room (so it delays replies to
        every other command on this connection), ``"latest"`` keeps the newest events.
        """
        if isinstance(methods, str):
            raise TypeError("methods must be a collection of method names, not one string")
        name = f"subscription to {', '.join(sorted(methods))}"
        queue: BoundedQueue[Event] = BoundedQueue(max_buffer, policy, name=name)
        route = _Route(frozenset(methods), queue)
        if self.closed is not None:
            queue.close()
        self._routes.append(route)
        try:
            yield Subscription(route.methods, queue, lambda: self.closed)
        finally:
            self._routes.remove(route)
            queue.abort()

    # -- the reader --------------------------------------------------------------------------

    async def _reader(self) -> None:
        error = ConnectionClosed(f"connection to {self.url} closed")
        try:
            error = await self._read_until_closed()
        finally:
            self._shut_down(error)
            with trio.CancelScope(shield=True), trio.move_on_after(1):
                await self._ws.aclose()

    async def _read_until_closed(self) -> ConnectionClosed:
        """Dispatch messages until the connection ends; returns why it ended."""
        while True:
            try:
                text = await self._ws.get_message()
            except trio_websocket.ConnectionClosed as exc:
                return self._closed_error(exc)
            self._messages_received += 1
            self._bytes_received += len(text)
            if self.relay is not None and isinstance(text, str):
                relayed = self.relay.incoming(text)
                if relayed is None:
                    continue
                text = relayed
            try:
                item = self._protocol.receive(text)
            except ProtocolError as exc:
                error = ConnectionClosed(f"the target sent an invalid CDP message: {exc}")
                error.__cause__ = exc
                return error
            if isinstance(item, SessionDetached) and item.session_id is None:
                await self._dispatch_event(item.event)
                assert self._protocol.closed is not None
                return self._protocol.closed
            await self._dispatch(item)

    async def _dispatch(self, item: Incoming) -> None:
        if isinstance(item, ReplyReceived):
            pending = self._pending.pop(item.command.id, None)
            if pending is not None:
                pending.resolve(_outcome_of(item.command, item.reply))
        elif isinstance(item, SnapshotChunkReceived):
            await self._dispatch_snapshot_part(item.command_id, item.chunk, len(item.chunk))
        elif isinstance(item, SnapshotProgressReceived):
            progress = SnapshotProgress(item.done, item.total, item.finished)
            await self._dispatch_snapshot_part(item.command_id, progress, 0)
        elif isinstance(item, EventReceived):
            await self._dispatch_event(item.event)
        elif isinstance(item, SessionDetached):
            error = TargetDetached(f"session {item.session_id} detached: {item.reason}")
            for command in item.failed:
                pending = self._pending.pop(command.id, None)
                if pending is not None:
                    pending.resolve(outcome.Error(error))
            await self._dispatch_event(item.event)
        elif isinstance(item, Ignored) and item.kind == "unknown_reply":
            log.warning("ignoring a reply to id %r, which was never sent", item.id)

    async def _dispatch_snapshot_part(
        self, command_id: int, part: str | SnapshotProgress, cost: int
    ) -> None:
        pending = self._pending.get(command_id)
        if pending is not None and pending.sink is not None:
            await pending.sink.put(part, cost)
        elif isinstance(part, str):
            # A snapshot command sent with plain send(): its chunks are ordinary events.
            await self._dispatch_event(Event(CHUNK_EVENT, {"chunk": part}))

    async def _dispatch_event(self, event: Event) -> None:
        delivered = False
        for route in tuple(self._routes):
            if event.method in route.methods:
                delivered = True
                await route.queue.put(event)
        if not delivered and event.method == CHUNK_EVENT:
            log.warning("a heap snapshot chunk arrived with no snapshot stream or subscriber")

    def _shut_down(self, error: ConnectionClosed) -> None:
        for command in self._protocol.connection_lost(error):
            pending = self._pending.pop(command.id, None)
            if pending is not None:
                pending.resolve(outcome.Error(error))
        for pending in self._pending.values():
            pending.resolve(outcome.Error(error))
        self._pending.clear()
        for route in self._routes:
            route.queue.close()
        self._reader_done.set()

    def _closed_error(self, exc: trio_websocket.ConnectionClosed) -> ConnectionClosed:
        if self._protocol.closed is not None:
            return self._protocol.closed
        reason = exc.reason
        code = getattr(reason, "code", None)
        text = getattr(reason, "reason", None)
        if code == _WS_MESSAGE_TOO_BIG:
            return MessageTooLarge(
                f"the target sent a message larger than max_message_size="
                f"{self.max_message_size} bytes; raise it (open_cdp(max_message_size=...))",
                code=code,
                reason=text,
            )
        detail = f" (code {code}{': ' + text if text else ''})" if code else ""
        return ConnectionClosed(f"connection to {self.url} closed{detail}", code=code, reason=text)

    # -- state -------------------------------------------------------------------------------

    @property
    def closed(self) -> ConnectionClosed | None:
        """The error the connection ended with, or ``None`` while it is open."""
        return self._protocol.closed

    async def wait_closed(self) -> ConnectionClosed:
        """Wait until the connection has ended; returns the reason."""
        await self._reader_done.wait()
        error = self._protocol.closed
        assert error is not None
        return error

    def statistics(self) -> ConnectionStatistics:
        return ConnectionStatistics(
            protocol=self._protocol.statistics(),
            subscriptions=len(self._routes),
            snapshot_streams=sum(p.sink is not None for p in self._pending.values()),
            messages_received=self._messages_received,
            bytes_received=self._bytes_received,
        )

    async def aclose(self) -> None:
        """Close the connection; pending commands fail with :class:`ConnectionClosed`."""
        with trio.CancelScope(shield=True), trio.move_on_after(2):
            await self._ws.aclose()
            await self._reader_done.wait()


async def start_command(
    connection: CDPConnection,
    method: str,
    params: JSONObject | None = None,
    *,
    session_id: str | None = None,
    sink: BoundedQueue[str | SnapshotProgress] | None = None,
) -> PendingCommand:
    """Send a command and return it pending, with ``sink`` to receive its snapshot chunks:
    the first half of :meth:`CDPConnection.send`, for :mod:`cdp_heap._capture`, which
    must register where the chunks go before the command is on the wire."""
    return await connection._start(method, params, session_id, sink)


def _outcome_of(command: Command, reply: Any) -> outcome.Outcome[JSONObject]:
    if isinstance(reply, ErrorResponse):
        return outcome.Error(CommandError(command.method, reply.code, reply.message, reply.data))
    return outcome.Value(reply.result)


@asynccontextmanager
async def open_cdp(
    url: str,
    *,
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    extra_headers: list[tuple[bytes, bytes]] | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> AsyncIterator[CDPConnection]:
    """Connect to a target's ``webSocketDebuggerUrl`` (``ws://`` or ``wss://``).

    ``ssl_context`` verifies a ``wss://`` server (default: the system's trusted CAs, or
    ``SSL_CERT_FILE``); pass one that trusts a self-signed certificate if need be.

    Messages larger than ``max_message_size`` bytes close the connection with
    :class:`~cdp_heap.MessageTooLarge` rather than being dropped. No ``Origin`` header is
    sent (Chrome refuses foreign origins).

    On exit the connection is closed; commands still pending fail with
    :class:`~cdp_heap.ConnectionClosed`. Exceptions from the body propagate unchanged
    (not wrapped in an exception group).
    """
    async with (
        open_websocket(url, ssl_context, extra_headers, max_message_size) as (nursery, ws),
        _run(nursery, ws, url, max_message_size) as connection,
    ):
        yield connection


@asynccontextmanager
async def open_cdp_stream(
    stream: trio.abc.Stream,
    *,
    host: str = "localhost",
    resource: str = "/",
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
) -> AsyncIterator[CDPConnection]:
    """Like :func:`open_cdp`, over an already connected byte stream (a pipe, an SSH
    channel, or an in-memory stream in tests)."""
    async with connection_nursery() as nursery:
        ws = await handshake(
            nursery, stream, host, resource, peer="the peer", max_message_size=max_message_size
        )
        async with _run(nursery, ws, f"ws://{host}{resource}", max_message_size) as connection:
            yield connection


@asynccontextmanager
async def _run(
    nursery: trio.Nursery,
    ws: trio_websocket.WebSocketConnection,
    url: str,
    max_message_size: int,
) -> AsyncIterator[CDPConnection]:
    connection = CDPConnection(ws, url, max_message_size)
    nursery.start_soon(connection._reader)
    try:
        yield connection
    finally:
        await connection.aclose()
        nursery.cancel_scope.cancel()
