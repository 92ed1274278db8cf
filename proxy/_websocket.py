"""The proxy's WebSockets: handshakes over wsproto, then messages in and out over a transport.

The handshakes (a client's upgrade request, the proxy's own to the target) are done with
wsproto on the trio stream. After them a :class:`WebSocket` speaks frames itself
(:mod:`cdp_heap_proxy._frames`) over a :class:`~cdp_heap_proxy._sockets.Transport`:

- reading: one read of the socket per pass of the run loop, every message parsed from it
  handed out in turn (when the read ends in a protocol error, the messages before it
  first, then the connection is failed with the error's close code); a message over the
  size limit costs no more memory than the limit and comes out as
  :class:`~cdp_heap_proxy._frames.Oversized` (the caller answers it with a CDP error on a
  connection that stays open);
- writing: :meth:`WebSocket.send_nowait` writes into the socket at once, from whichever task
  has the message (the upstream reader writes a reply straight to its client, a client's
  task its command straight upstream), and keeps what the socket does not take, in order,
  for :meth:`WebSocket.flush`, which the connection's writer task runs. Nothing waits on
  the way, so no task switch is paid per message (docs/decisions.md D29).

On a transport the proxy's :class:`~cdp_heap_proxy._lane.Lane` reads (plain TCP, Linux),
the lane reads while the connection's task waits in :meth:`WebSocket.get_message`, and
hands each message to the handler given to :meth:`WebSocket.set_inline` at once, in the
lane's task: the waiting task is not woken for it (D32). What needs the task (a control
frame, an oversized message, the end, or a message while the handler's ``ready()`` is
false) waits for it, in order, and the lane reads no more of the connection until the
task waits again.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable

import trio
from wsproto import WSConnection
from wsproto.connection import ConnectionType
from wsproto.events import (
    AcceptConnection,
    RejectConnection,
    RejectData,
    Request,
)
from wsproto.utilities import RemoteProtocolError

from ._frames import (
    CLOSE_NO_STATUS,
    OP_PONG,
    OP_TEXT,
    Close,
    FrameParser,
    Oversized,
    Ping,
    Pong,
    ProtocolError,
    encode_close,
    encode_frames,
    encode_text,
)
from ._sockets import Transport, TransportBroken, unsent_part

__all__ = ["Oversized", "WebSocket", "WebSocketClosed"]

CLOSE_ABNORMAL = 1006
#: Most bytes of queued frames handed to the socket in one write.
WRITE_BATCH_BYTES = 256 * 1024
#: Most frames handed to one ``sendmsg`` (Linux takes up to 1024 buffers).
_MAX_BUFFERS = 256
_HEAD_LIMIT = 64 * 1024


class WebSocketClosed(Exception):
    """The connection is closed (``code`` 1006 when it ended without a close frame)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"WebSocket closed ({code}: {reason})")
        self.code = code
        self.reason = reason


class HandshakeFailed(Exception):
    """The peer did not accept the WebSocket handshake."""


class WebSocket:
    """Messages in and out of one open WebSocket on ``transport``.

    ``server``: this end is the server (the peer's frames are masked, ours are not).
    ``received``: bytes read with the handshake that belong to the frames.
    """

    def __init__(
        self,
        transport: Transport,
        *,
        server: bool,
        max_message_size: int,
        received: bytes = b"",
    ) -> None:
        self._transport = transport
        self._masked = not server
        self._parser = FrameParser(masked=server, max_message_size=max_message_size)
        self._received = received  # parsed by the first get_message()
        self._events: deque[str | bytes | Oversized | Ping | Pong | Close] = deque()
        #: Frames not yet written, in order. Only the first may be partly written already,
        #: and it is then a memoryview of its unwritten end (frames are bytes otherwise).
        self._unsent: deque[bytes | memoryview] = deque()
        self._unsent_bytes = 0
        #: Held while frames are being written by :meth:`flush` (by the writer task, or by
        #: the reader answering a close): meanwhile nothing is written at once.
        self._flushing = trio.StrictFIFOLock()
        self._writing = False  # the lock is held (read on every write: no method call)
        #: The connection's writer task waits here for unsent frames.
        self._writer = trio.lowlevel.ParkingLot()
        self._broken = False
        self._close_sent = False
        self._peer_closed = trio.Event()
        self.close_code: int | None = None
        self.close_reason = ""
        # Reading by the lane (set_inline): where messages go, and whether one may go now.
        self._inline: Callable[[str | bytes], None] | None = None
        self._inline_ready: Callable[[], bool] = _always
        #: The reader task waits here while the lane reads for it.
        self._arrived = trio.lowlevel.ParkingLot()
        self._eof = False  # the lane read the end
        self._inline_failed: Exception | None = None  # what the handler raised, for the task

    # -- reading ----------------------------------------------------------------------------

    def set_inline(self, handler: Callable[[str | bytes], None], ready: Callable[[], bool]) -> None:
        """While a task waits in :meth:`get_message`, let the lane (if the transport has one)
        hand each text or binary message to ``handler`` at once, from the lane's task, for as
        long as ``ready()`` holds; the rest :meth:`get_message` returns. ``handler`` must not
        wait; what it raises, :meth:`get_message` raises."""
        self._inline, self._inline_ready = handler, ready

    async def get_message(self) -> str | bytes | Oversized:
        """The next message. Raises :class:`WebSocketClosed` when the connection ends."""
        events = self._events
        while True:
            if self._inline_failed is not None:  # before what the lane queued after it
                failure, self._inline_failed = self._inline_failed, None
                raise failure
            while events:
                event = events.popleft()
                if type(event) is str or isinstance(event, bytes | Oversized):
                    return event
                if isinstance(event, Ping):
                    self._write_nowait(encode_frames(OP_PONG, [event.payload], masked=self._masked))
                elif isinstance(event, Close):
                    await self._peer_closing(event)
                # A Pong needs nothing.
            if self._parser.error is not None:  # after the messages read before it
                await self._fail(self._parser.error.code, self._parser.error.reason)
            if self._received:
                data, self._received = self._received, b""
            elif self._eof:
                data = b""
            elif self._transport.watch(self._lane_read):
                try:  # until the lane has something only this task can take
                    await self._arrived.park()
                finally:
                    self._transport.unwatch()
                continue
            else:
                data = await self._transport.receive()
            if not data:
                self._peer_closed.set()
                raise WebSocketClosed(self.close_code or CLOSE_ABNORMAL, self.close_reason)
            self._parser.feed(data)
            try:
                events.extend(self._parser.events())
            except ProtocolError as exc:
                await self._fail(exc.code, exc.reason)

    def _lane_read(self, data: bytes) -> None:
        """What the lane read while the reader task waits: messages to the inline handler
        while it is ready, the rest (and everything after it) queued for the task, which is
        then woken and the reading stops."""
        if data:
            self._parser.feed(data)
            try:
                parsed = self._parser.events()
            except ProtocolError as exc:
                parsed = []
                self._parser.error = exc
            events = self._events
            handler = self._inline
            for event in parsed:
                if (
                    not events
                    and handler is not None
                    and (type(event) is str or type(event) is bytes)
                    and self._inline_failed is None
                    and self._inline_ready()
                ):
                    try:
                        handler(event)
                    except Exception as exc:  # the reader task raises it, as if it had routed
                        self._inline_failed = exc
                else:
                    events.append(event)
            if not events and self._parser.error is None and self._inline_failed is None:
                return  # all handed over: keep reading
        else:
            self._eof = True
        self._transport.unwatch()
        self._arrived.unpark_all()

    async def _fail(self, code: int, reason: str) -> None:
        """The peer broke the protocol: close with ``code`` and stop reading."""
        with contextlib.suppress(WebSocketClosed):
            self._send_close(code, reason)
            with trio.move_on_after(1):
                await self.flush()
        self._peer_closed.set()
        raise WebSocketClosed(code, f"protocol error: {reason}")

    async def _peer_closing(self, event: Close) -> None:
        if self.close_code is None:
            self.close_code, self.close_reason = event.code, event.reason
        if not self._close_sent:  # answer it (echoing its code, as RFC 6455 asks)
            self._send_close(None if event.code == CLOSE_NO_STATUS else event.code, event.reason)
            with contextlib.suppress(WebSocketClosed), trio.move_on_after(1):
                await self.flush()
        self._peer_closed.set()
        raise WebSocketClosed(event.code, event.reason)

    # -- writing ----------------------------------------------------------------------------

    def send_nowait(self, texts: list[str], *, now: bool = True) -> None:
        """Write ``texts`` as text messages now, as far as the socket takes them; the rest
        waits, in order, for :meth:`flush`. Never waits. On a broken connection it drops
        them (the reader sees the end). ``now=False`` leaves them all to :meth:`flush`
        (which writes everything that waits in one system call)."""
        if self._close_sent:
            return
        if len(texts) == 1:  # what a routed message is: encoded without the lists
            frames = [encode_text(texts[0].encode(), masked=self._masked)]
        else:
            frames = encode_frames(OP_TEXT, [t.encode() for t in texts], masked=self._masked)
        self._write_nowait(frames, now=now)

    def send_later(self, text: str) -> None:
        """Queue ``text`` as a text message, neither written nor the writer woken: the
        caller has :meth:`send_unsent_nowait` called soon (the lane, once the batch of
        reads that routed it is routed), which writes everything that waits at once."""
        if not (self._close_sent or self._broken):
            self._queue([encode_text(text.encode(), masked=self._masked)])

    def send_unsent_nowait(self) -> None:
        """Write the frames that wait, in one system call, as far as the socket takes them
        now; what it does not take waits for the writer task (woken). A no-op while the
        writer is writing (it writes these too)."""
        unsent = self._unsent
        if self._broken or not unsent or self._writing:
            return
        batch = _take_batch(unsent)
        try:
            sent = self._transport.try_send(batch)
        except TransportBroken:
            self._broken = True
            return
        self._unsent_bytes -= sent
        rest = unsent_part(batch, sent)
        if rest:
            unsent.extendleft(reversed(rest))
        if unsent:
            self._writer.unpark_all()

    @property
    def unsent_bytes(self) -> int:
        """Bytes of frames sent but not yet taken by the socket."""
        return self._unsent_bytes

    @property
    def unsent_frames(self) -> int:
        return len(self._unsent)

    def discard_unsent(self) -> None:
        """Drop the frames not yet begun (a frame half written must be finished)."""
        started = self._unsent and isinstance(self._unsent[0], memoryview)
        head = self._unsent[0] if started else None
        self._unsent.clear()
        self._unsent_bytes = 0
        if head is not None:
            self._unsent.append(head)
            self._unsent_bytes = len(head)

    def _write_nowait(self, frames: list[bytes], *, now: bool = True) -> None:
        if self._broken:
            return
        rest: list[bytes | memoryview] = list(frames)
        # Order holds: nothing is written at once while anything waits to be written.
        if now and not self._unsent and not self._writing:
            try:
                sent = self._transport.try_send(rest)
            except TransportBroken:
                self._broken = True
                return
            if len(rest) == 1 and sent == len(rest[0]):
                return  # what nearly every write is: one frame, all taken
            # The socket's buffer is full: the rest waits for flush() (a frame cut short
            # comes back as a memoryview of its end).
            rest = unsent_part(rest, sent)
        if rest:
            self._queue(rest)
            self._writer.unpark_all()

    def _queue(self, frames: list[bytes | memoryview]) -> None:
        """Add ``frames`` to those waiting to be written."""
        for frame in frames:
            self._unsent.append(frame)
            self._unsent_bytes += len(frame)

    async def wait_unsent(self) -> None:
        """Wait until frames are left unsent (or :meth:`wake_writer` is called)."""
        if not self._unsent:
            await self._writer.park()

    def wake_writer(self) -> None:
        """Wake the task in :meth:`wait_unsent` (something else it waits for happened)."""
        self._writer.unpark_all()

    async def flush(self) -> None:
        """Write every unsent frame (a second caller waits for the first)."""
        if self._broken:
            raise WebSocketClosed(self.close_code or CLOSE_ABNORMAL, "connection lost")
        async with self._flushing:
            self._writing = True
            try:
                while self._unsent:
                    if self._broken:  # an earlier flush's write was cut short meanwhile
                        raise WebSocketClosed(self.close_code or CLOSE_ABNORMAL, "connection lost")
                    batch = _take_batch(self._unsent)
                    self._unsent_bytes -= sum(map(len, batch))
                    # What follows must go after this batch, even if this write is
                    # cancelled half way: the rest of a cut batch is lost, so the
                    # connection is too.
                    try:
                        await self._transport.send_all(batch)
                    except TransportBroken:
                        self._broken = True
                        raise WebSocketClosed(CLOSE_ABNORMAL, "connection lost") from None
                    except trio.Cancelled:
                        self._broken = True
                        raise
            finally:
                self._writing = False

    def _send_close(self, code: int | None, reason: str) -> None:
        """Queue a close frame (``code`` ``None``: one with no status)."""
        if not self._close_sent:
            self._close_sent = True
            if self.close_code is None and code is not None:
                self.close_code, self.close_reason = code, reason
            self._write_nowait([encode_close(code, reason, masked=self._masked)])

    async def aclose(self, code: int, reason: str) -> None:
        """Send a close frame after what is unsent (unless one was sent) and wait for the
        peer's answer, which the task reading messages sees; the caller bounds the wait
        and then drops the connection."""
        self._send_close(code, reason)
        await self.flush()
        await self._peer_closed.wait()

    async def close_and_drain(self, code: int, reason: str) -> None:
        """:meth:`aclose` for a connection no other task reads: read (and drop) messages
        until the peer's answer."""
        self._send_close(code, reason)
        with contextlib.suppress(WebSocketClosed):
            await self.flush()
            while not self._peer_closed.is_set():
                await self.get_message()

    def close_transport(self) -> None:
        """Drop the connection now (a task waiting for a message gets the end)."""
        self._broken = True
        self._transport.close()
        self._eof = True
        self._arrived.unpark_all()


def _always() -> bool:
    return True


def _take_batch(unsent: deque[bytes | memoryview]) -> list[bytes | memoryview]:
    """The first frames of ``unsent``, taken out: what one write hands the socket."""
    batch: list[bytes | memoryview] = []
    size = 0
    while unsent and size < WRITE_BATCH_BYTES and len(batch) < _MAX_BUFFERS:
        frame = unsent.popleft()
        batch.append(frame)
        size += len(frame)
    return batch


# -- handshakes --------------------------------------------------------------------------------


class ServerHandshake:
    """A client's upgrade request, read by :mod:`cdp_heap_proxy._http` (``head``: the bytes
    read so far), answered on ``stream``."""

    def __init__(self, stream: trio.abc.Stream, head: bytes) -> None:
        self._stream = stream
        self._head = head
        self.received = head.partition(b"\r\n\r\n")[2]  # frames sent right behind it
        self._ws = WSConnection(ConnectionType.SERVER)

    async def check(self) -> bool:
        """Whether it is a WebSocket handshake wsproto accepts (if not, it was answered 400)."""
        try:
            self._ws.receive_data(self._head)
            events = list(self._ws.events())
        except RemoteProtocolError as exc:
            await self._stream.send_all(self._ws.send(exc.event_hint or RejectConnection()))
            return False
        return any(isinstance(event, Request) for event in events)

    async def accept(self) -> None:
        await self._stream.send_all(self._ws.send(AcceptConnection()))

    async def reject(self, status: int, body: bytes) -> None:
        headers = [(b"content-type", b"text/plain; charset=utf-8")]
        data = self._ws.send(RejectConnection(status_code=status, headers=headers, has_body=True))
        data += self._ws.send(RejectData(data=body))
        await self._stream.send_all(data)


async def client_handshake(stream: trio.abc.Stream, host: str, path: str) -> bytes:
    """The proxy's handshake with the target on ``stream``; returns the bytes read after
    the response head (frames). :class:`HandshakeFailed` if the server refuses it or
    hangs up."""
    ws = WSConnection(ConnectionType.CLIENT)
    try:
        await stream.send_all(ws.send(Request(host=host, target=path)))
        received = b""
        while b"\r\n\r\n" not in received:
            if len(received) > _HEAD_LIMIT:
                raise HandshakeFailed("WebSocket handshake: response head too long")
            data = await stream.receive_some(_HEAD_LIMIT)
            if not data:
                raise HandshakeFailed("WebSocket handshake: connection closed")
            received += data
    except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
        raise HandshakeFailed(f"WebSocket handshake: {exc}") from None
    head, _, rest = received.partition(b"\r\n\r\n")
    try:
        ws.receive_data(head + b"\r\n\r\n")
        for event in ws.events():
            if isinstance(event, AcceptConnection):
                return rest
            if isinstance(event, RejectConnection):
                raise HandshakeFailed(f"WebSocket handshake refused: HTTP {event.status_code}")
    except RemoteProtocolError as exc:
        raise HandshakeFailed(f"WebSocket handshake: {exc}") from None
    raise HandshakeFailed("WebSocket handshake: no answer")
