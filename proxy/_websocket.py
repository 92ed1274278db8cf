"""The proxy's WebSockets, over wsproto: messages in (bounded in size), messages out.

trio-websocket closes a connection whose message exceeds its limit (code 1009), after
buffering up to the limit several times over. A proxy wants less of both: a client's
message over ``--max-client-message-mb`` must cost no more memory than the limit and get a
CDP error, like any other refused command, on a connection that stays open. So the
proxy speaks WebSocket to its clients with wsproto directly: the message being received
is kept only while it fits (beyond that only its first bytes, to read its id), frames are
read as they arrive (wsproto hands out partial payloads), and several queued messages go
out in one write. The request head was already read by :mod:`cdp_heap_proxy._http`.

The upstream connection (:class:`ClientWebSocket`) is the same class from the client side:
its writer sends every command queued meanwhile in one write, and the reader hands the
router each message parsed from a read without a hop through another task (trio-websocket
has a reader task and a channel per connection: under load that hop, and one write per
message, were most of the proxy's time).
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable

import attrs
import trio
from wsproto import WSConnection
from wsproto.connection import ConnectionState, ConnectionType
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from cdp_heap._limits import RECEIVE_BUFFER_SIZE

#: What is kept of an oversized message: enough to read its ``"id"`` for the error reply.
OVERSIZED_PREFIX = 128
CLOSE_ABNORMAL = 1006


class WebSocketClosed(Exception):
    """The connection is closed (``code`` 1006 when it ended without a close frame)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"WebSocket closed ({code}: {reason})")
        self.code = code
        self.reason = reason


@attrs.frozen
class Oversized:
    """A message over the size limit, dropped as it arrived: ``size`` bytes, of which
    ``prefix`` (the first characters) was kept."""

    size: int
    prefix: str


class HandshakeFailed(Exception):
    """The peer did not accept the WebSocket handshake."""


class WebSocket:
    """Messages in and out of one WebSocket on ``stream``, after its handshake."""

    def __init__(
        self, stream: trio.abc.Stream, max_message_size: int, role: ConnectionType
    ) -> None:
        self._stream = stream
        self._ws = WSConnection(role)
        self._max = max_message_size
        self._send_lock = trio.StrictFIFOLock()
        self._peer_closed = trio.Event()
        #: Events parsed from what was read and not handled yet (one read can hold many
        #: messages).
        self._events: deque[Event] = deque()
        self._trailing = b""
        self.close_code: int | None = None
        self.close_reason = ""

    # -- messages ----------------------------------------------------------------------------

    async def get_message(self) -> str | bytes | Oversized:
        """The next message. Raises :class:`WebSocketClosed` when the connection ends."""
        texts: list[str] = []
        blobs: list[bytes] = []
        size = 0
        prefix: str | None = None  # set once the message is over the limit
        while True:
            while self._events:
                event = self._events.popleft()
                if isinstance(event, TextMessage | BytesMessage):
                    size += len(event.data)
                    if isinstance(event, TextMessage):
                        texts.append(event.data)
                    else:
                        blobs.append(bytes(event.data))
                    if prefix is None and size > self._max:
                        prefix = _prefix(texts)
                    if prefix is not None:
                        texts.clear()  # what is over the limit is dropped as it arrives
                        blobs.clear()
                    if event.message_finished:
                        if prefix is not None:
                            return Oversized(size, prefix)
                        return "".join(texts) if isinstance(event, TextMessage) else b"".join(blobs)
                elif isinstance(event, Ping):
                    await self._send(self._ws.send(event.response()))
                elif isinstance(event, CloseConnection):
                    await self._peer_closing(event)
            await self._receive()

    async def _receive(self) -> None:
        try:
            data = await self._stream.receive_some(RECEIVE_BUFFER_SIZE)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            data = b""
        if not data:
            self._peer_closed.set()
            raise WebSocketClosed(self.close_code or CLOSE_ABNORMAL, self.close_reason)
        self._ws.receive_data(bytes(data))
        try:
            self._events.extend(self._ws.events())
        except RemoteProtocolError as exc:
            raise WebSocketClosed(1002, f"protocol error: {exc}") from None

    async def _peer_closing(self, event: CloseConnection) -> None:
        if self.close_code is None:
            self.close_code, self.close_reason = event.code, event.reason or ""
        if self._ws.state is ConnectionState.REMOTE_CLOSING:
            with contextlib.suppress(WebSocketClosed):
                await self._send(self._ws.send(event.response()))
        self._peer_closed.set()
        raise WebSocketClosed(event.code, event.reason or "")

    async def send_messages(self, texts: list[str]) -> None:
        """Send ``texts`` as text messages, in one write."""
        await self.send_batch(lambda: texts)

    async def send_batch(self, take: Callable[[], list[str]]) -> None:
        """Send the text messages ``take()`` returns, in one write; ``take`` is called
        once the send lock is held (what it takes cannot be overtaken)."""
        async with self._send_lock:
            texts = take()
            try:
                frames = [self._ws.send(TextMessage(data=text)) for text in texts]
            except LocalProtocolError:
                raise WebSocketClosed(
                    self.close_code or CLOSE_ABNORMAL, self.close_reason
                ) from None
            del texts  # a large message is held once in ``frames``, not twice
            # b"".join copies even one frame, which is a whole message (up to 256 MiB).
            await self._write(frames[0] if len(frames) == 1 else b"".join(frames))

    @property
    def sending(self) -> bool:
        """Whether a write is in progress (or waiting for one to end)."""
        return self._send_lock.locked()

    async def _send(self, data: bytes) -> None:
        async with self._send_lock:
            await self._write(data)

    async def _write(self, data: bytes) -> None:
        try:
            await self._stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            raise WebSocketClosed(CLOSE_ABNORMAL, "connection lost") from None

    async def aclose(self, code: int, reason: str) -> None:
        """Send a close frame (unless the peer closed first) and wait for the peer's answer,
        which the task reading messages sees; the caller bounds the wait and then drops
        the connection."""
        await self._send_close(code, reason)
        await self._peer_closed.wait()

    async def close_and_drain(self, code: int, reason: str) -> None:
        """:meth:`aclose` for a connection no other task reads: read (and drop) messages
        until the peer's answer."""
        await self._send_close(code, reason)
        with contextlib.suppress(WebSocketClosed):
            while not self._peer_closed.is_set():
                await self.get_message()

    async def _send_close(self, code: int, reason: str) -> None:
        if self._ws.state is ConnectionState.OPEN:
            self.close_code, self.close_reason = code, reason
            await self._send(self._ws.send(CloseConnection(code=code, reason=reason)))


class ServerWebSocket(WebSocket):
    """The server side of one client's WebSocket on ``stream``."""

    def __init__(self, stream: trio.abc.Stream, max_message_size: int) -> None:
        super().__init__(stream, max_message_size, ConnectionType.SERVER)

    # -- handshake ---------------------------------------------------------------------------

    async def handshake(self, head: bytes) -> bool:
        """Read the upgrade request from ``head`` (the bytes already read); ``False`` if it
        is not a WebSocket handshake wsproto accepts (it was answered 400)."""
        self._trailing = head.partition(b"\r\n\r\n")[2]
        try:
            self._ws.receive_data(head)
            events = list(self._ws.events())
        except RemoteProtocolError as exc:
            await self._stream.send_all(self._ws.send(exc.event_hint or RejectConnection()))
            return False
        return any(isinstance(event, Request) for event in events)

    async def accept(self) -> None:
        await self._stream.send_all(self._ws.send(AcceptConnection()))
        # Frames a client sent right behind its request head were read with the head, and
        # wsproto's server side drops them: hand them over again.
        if self._trailing:
            self._ws.receive_data(self._trailing)
            self._events.extend(self._ws.events())

    async def reject(self, status: int, body: bytes) -> None:
        headers = [(b"content-type", b"text/plain; charset=utf-8")]
        data = self._ws.send(RejectConnection(status_code=status, headers=headers, has_body=True))
        data += self._ws.send(RejectData(data=body))
        await self._stream.send_all(data)


class ClientWebSocket(WebSocket):
    """The client side of a WebSocket on ``stream`` (the proxy's upstream connection)."""

    def __init__(self, stream: trio.abc.Stream, max_message_size: int) -> None:
        super().__init__(stream, max_message_size, ConnectionType.CLIENT)

    async def connect(self, host: str, path: str) -> None:
        """The handshake; :class:`HandshakeFailed` if the server refuses it."""
        await self._send(self._ws.send(Request(host=host, target=path)))
        while True:
            await self._receive()
            while self._events:
                event = self._events.popleft()
                if isinstance(event, AcceptConnection):
                    return
                if isinstance(event, RejectConnection):
                    raise HandshakeFailed(f"WebSocket handshake refused: HTTP {event.status_code}")


def _prefix(texts: list[str]) -> str:
    """The first characters of ``texts`` joined, without joining them all."""
    prefix = ""
    for text in texts:
        prefix += text[: OVERSIZED_PREFIX - len(prefix)]
        if len(prefix) >= OVERSIZED_PREFIX:
            break
    return prefix
