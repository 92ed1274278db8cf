"""The bytes under the proxy's WebSockets: a TCP socket read and written without detours.

Every message through the proxy is read from one socket and written to another, so what a
read or a write costs besides the system call is the proxy's latency. trio's streams make
every operation a scheduling point (a send that completes at once still yields to the run
loop, and a receive first tries, fails, waits, and tries again): at 1 client that was ~6
run-loop passes per round trip, most of the proxy's time (docs/decisions.md D29). A
:class:`SocketTransport` owns the plain TCP socket of a connection after its handshake and
is used the way the proxy needs:

- :meth:`~SocketTransport.receive` waits until the socket is readable, then reads once (one
  pass of the run loop per read, whatever the read holds);
- :meth:`~SocketTransport.watch` has the proxy's lane (:mod:`cdp_heap_proxy._lane`) read it
  instead, for a reader that waits, and hand over each read (docs/decisions.md D32);
- :meth:`~SocketTransport.try_send` writes at once, from any task, without waiting: the
  upstream reader writes a reply straight into its client's socket, a client's task its
  command into the upstream socket. What the socket does not take is written later by the
  connection's writer with :meth:`~SocketTransport.send_all`.

TLS connections keep their ``trio.SSLStream`` (:class:`StreamTransport`, which never
writes without waiting: everything goes through the writer).

``TCP_QUICKACK``: Node's inspector writes its socket without ``TCP_NODELAY``. When it sends
two small messages back to back (a ``Debugger.scriptParsed`` event, then the reply to the
``Runtime.evaluate`` that caused it), Nagle's algorithm holds the second until the first is
acknowledged, and Linux delays that acknowledgement by up to 40 ms on a connection that
looks interactive (delayed ACK). A direct client never sees it: the event goes to the
DevTools connection, the reply alone to the script's. Behind the proxy both travel on the
one upstream connection, so every reply waited ~40 ms for the proxy's delayed ACK while any
client had Debugger enabled (D24). So after each read of the upstream connection the
transport sets ``TCP_QUICKACK`` (``quickack=True``; the option is not sticky, the kernel may
fall back to delaying, so it is set on every read).

A client's connection is not quick-ACKed (D40): each such ACK is a packet of its own, and
at 20-50 clients they cost the proxy 6-10% of its CPU. A client that writes without
``TCP_NODELAY`` (every DevTools, Puppeteer, Playwright and Python client sets it) has the
ACK of its command ride on the reply, as it would on a direct connection to Node, which
does not quick-ACK either.

What the lane reads is acknowledged once it is routed: the ACK is a packet sent (~5-10 µs
on this project's VM), which before the routing delayed every message on its way; after it,
a write Node holds for the ACK waits for the routing of one message, tens of µs, not for
the 40 ms timer (D36).
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from typing import Protocol

import trio

from cdp_heap._limits import RECEIVE_BUFFER_SIZE

from ._lane import Lane

_QUICKACK = getattr(socket, "TCP_QUICKACK", None)
#: Most buffers one ``sendmsg`` takes (IOV_MAX; given more it fails with EMSGSIZE).
try:
    _IOV_MAX = max(16, os.sysconf("SC_IOV_MAX"))
except (AttributeError, ValueError, OSError):
    _IOV_MAX = 1024


class TransportBroken(Exception):
    """The connection can no longer be written (reset, closed)."""


class Transport(Protocol):
    """What a WebSocket needs of the connection under it."""

    async def receive(self) -> bytes:
        """The next bytes read; ``b""`` once the peer closed or the connection broke."""
        ...

    def try_send(self, buffers: list[bytes | memoryview]) -> int:
        """Write what the connection takes of ``buffers`` (in order) now, without waiting:
        how many bytes (maybe 0). Raises :class:`TransportBroken`. Never called while
        :meth:`send_all` runs."""
        ...

    async def send_all(self, buffers: list[bytes | memoryview]) -> None:
        """Write all of ``buffers``, waiting as needed; raises :class:`TransportBroken`."""
        ...

    def close(self) -> None:
        """Close the connection now (a task waiting on it wakes up)."""
        ...

    def watch(self, on_read: Callable[[bytes], None]) -> bool:
        """Have the proxy's :class:`~cdp_heap_proxy._lane.Lane` read the connection:
        ``on_read(data)`` is called from the lane's task with each read (``b""`` once the
        peer closed or the connection broke) until :meth:`unwatch`. ``False`` (and
        nothing happens) when this connection has no lane: read with :meth:`receive`."""
        ...

    def unwatch(self) -> None:
        """Stop the lane's reading (a no-op when it does not read)."""
        ...


def unsent_part(buffers: list[bytes | memoryview], sent: int) -> list[bytes | memoryview]:
    """What is left of ``buffers`` once their first ``sent`` bytes were written."""
    for i, buffer in enumerate(buffers):
        if sent < len(buffer):
            rest = buffers[i:]
            if sent:
                rest[0] = memoryview(buffer)[sent:]
            return rest
        sent -= len(buffer)
    return []


_buffers = threading.local()


def _read_buffer() -> memoryview:
    """The thread's read buffer. ``recv(256 KiB)`` would allocate (mmap), shrink (mremap)
    and free (munmap) a buffer that size on every read, three system calls per message;
    reading into one buffer and copying out what was read costs none. One per thread, not
    per connection: what is read is copied out before the next read (no ``await`` between),
    so every connection of a trio run can share it."""
    buffer: memoryview | None = getattr(_buffers, "buffer", None)
    if buffer is None:
        buffer = _buffers.buffer = memoryview(bytearray(RECEIVE_BUFFER_SIZE))
    return buffer


class SocketTransport:
    """A plain TCP socket, taken over from a ``trio.SocketStream`` (which is left empty),
    read by ``lane`` when one is given and :meth:`watch` is called; ``quickack``: every
    read is acknowledged at once (the upstream connection's, D24)."""

    def __init__(
        self, stream: trio.SocketStream, lane: Lane | None = None, *, quickack: bool = False
    ) -> None:
        fd = stream.socket.detach()
        #: The option set after each read (None: none is).
        self._quickack = _QUICKACK if quickack else None
        self._sock = socket.socket(fileno=fd)
        self._sock.setblocking(False)
        self._fd = fd  # what trio waits on (an int: no fileno() call per wait)
        self._buffer = _read_buffer()
        self._closed = False
        self._lane = lane
        self._on_read: Callable[[bytes], None] | None = None

    def watch(self, on_read: Callable[[bytes], None]) -> bool:
        if self._lane is None or self._closed:
            return False  # (closed: receive() says so at once)
        if self._on_read is None:
            self._on_read = on_read
            self._lane.watch(self._fd, self._lane_read)
        return True

    def unwatch(self) -> None:
        if self._on_read is not None:
            self._on_read = None
            assert self._lane is not None
            self._lane.unwatch(self._fd)

    def _lane_read(self) -> int:
        """The socket is readable (called by the lane): how many bytes were read."""
        on_read = self._on_read
        if on_read is None:
            return 0
        try:  # _read_now(), inlined: this runs for every message the proxy routes
            size = self._sock.recv_into(self._buffer)
        except BlockingIOError:
            return 0  # nothing after all; the lane asks again
        except OSError:
            size = 0
        on_read(bytes(self._buffer[:size]))
        if size and self._quickack is not None:
            self._acknowledge()  # after the routing: off the message's way (D36)
        return size

    async def receive(self) -> bytes:
        while not self._closed:
            try:
                await trio.lowlevel.wait_readable(self._fd)
            except trio.ClosedResourceError:
                return b""
            data = self._read_now()
            if data is not None:
                if data and self._quickack is not None:
                    self._acknowledge()
                return data
            # Woken, but another read got there first: wait again.
        return b""

    def _read_now(self) -> bytes | None:
        """One read: what it got (``b""``: the end, or the connection broke), ``None`` if
        nothing was there."""
        try:
            size = self._sock.recv_into(self._buffer)
        except BlockingIOError:
            return None
        except OSError:
            return b""
        return bytes(self._buffer[:size])

    def _acknowledge(self) -> None:
        """Acknowledge what was read now, not after the kernel's delayed-ACK timer (D24)."""
        assert self._quickack is not None
        # Not contextlib.suppress: it costs three calls per read.
        try:  # noqa: SIM105
            self._sock.setsockopt(socket.IPPROTO_TCP, self._quickack, 1)
        except OSError:
            pass  # closing (or closed by the routing): the next read says so

    def try_send(self, buffers: list[bytes | memoryview]) -> int:
        if self._closed:
            raise TransportBroken("connection closed")
        try:
            # One buffer: send() is a little cheaper than the scatter-gather sendmsg().
            if len(buffers) == 1:
                return self._sock.send(buffers[0])
            return self._sock.sendmsg(buffers if len(buffers) <= _IOV_MAX else buffers[:_IOV_MAX])
        except BlockingIOError:
            return 0
        except OSError as exc:
            raise TransportBroken(str(exc)) from None

    async def send_all(self, buffers: list[bytes | memoryview]) -> None:
        waited = False
        while buffers:
            buffers = unsent_part(buffers, self.try_send(buffers))
            if buffers:
                try:
                    await trio.lowlevel.wait_writable(self._sock)
                except trio.ClosedResourceError:
                    raise TransportBroken("connection closed") from None
                waited = True
        if not waited:
            await trio.lowlevel.checkpoint()  # every async call may yield (trio's rule)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.unwatch()
            trio.lowlevel.notify_closing(self._fd)
            self._sock.close()


class StreamTransport:
    """Any trio stream (a TLS one) over the TCP stream ``tcp``, if there is one: every
    write goes through :meth:`send_all`."""

    def __init__(self, stream: trio.abc.Stream, tcp: trio.SocketStream | None) -> None:
        self._stream = stream
        self._tcp = tcp

    async def receive(self) -> bytes:
        try:
            return bytes(await self._stream.receive_some(RECEIVE_BUFFER_SIZE))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return b""

    def try_send(self, buffers: list[bytes | memoryview]) -> int:
        return 0

    async def send_all(self, buffers: list[bytes | memoryview]) -> None:
        try:
            await self._stream.send_all(buffers[0] if len(buffers) == 1 else b"".join(buffers))
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise TransportBroken(str(exc)) from None

    def close(self) -> None:
        if self._tcp is not None:
            self._tcp.socket.close()  # wakes a task waiting on it

    def watch(self, on_read: Callable[[bytes], None]) -> bool:
        return False  # TLS is read by the connection's task

    def unwatch(self) -> None:
        pass


def transport_for(
    stream: trio.abc.Stream, tcp: trio.SocketStream | None, lane: Lane | None = None
) -> Transport:
    """The fastest transport for a client's ``stream``: the socket itself when ``stream`` is
    plain TCP (``tcp``), read by ``lane`` if given; not quick-ACKed (D40)."""
    if tcp is not None and stream is tcp:
        return SocketTransport(tcp, lane)
    return StreamTransport(stream, tcp)
