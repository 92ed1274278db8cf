"""Opening the WebSocket of :func:`cdp_heap.open_cdp`: TCP, TLS, the HTTP upgrade.

Every way this can fail is :class:`~cdp_heap.ConnectionFailed`. Two of them trio-websocket
(0.12) does not report at all, and would leave the caller waiting for ever:

- The peer closes the TCP connection before it has answered the upgrade (a target killed
  as we connect; a server that reads the request and hangs up). trio-websocket's reader
  task sees the end of the stream, records a closed WebSocket and ends, but the connect call
  waits for the *opening* handshake, which nothing will ever signal.
- The peer sends bytes that are not an HTTP response. The reader task then dies with
  h11's ``LocalProtocolError`` (wsproto asks it to answer with an HTTP rejection, which a
  client cannot send) instead of a handshake error.

So the stream is handed to trio-websocket through :class:`_WatchedStream`, which notes
the end of the stream, and the connect call races that end: whichever comes first decides.
No time limit is involved: a slow handshake takes its time, under the caller's cancel scope.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import h11
import trio
import trio_websocket
import wsproto.utilities

from ._errors import ConnectionFailed
from ._groups import single_exceptions
from ._limits import RECEIVE_BUFFER_SIZE


@asynccontextmanager
async def connection_nursery() -> AsyncIterator[trio.Nursery]:
    """The nursery of the connection's background tasks. None of them raises, so a group
    leaving it holds the caller's own exception: that is what the caller gets."""
    with single_exceptions():
        async with trio.open_nursery() as nursery:
            yield nursery


@asynccontextmanager
async def open_websocket(
    url: str,
    ssl_context: ssl.SSLContext | None,
    extra_headers: list[tuple[bytes, bytes]] | None,
    max_message_size: int,
) -> AsyncIterator[tuple[trio.Nursery, trio_websocket.WebSocketConnection]]:
    """The first phase of :func:`~cdp_heap.open_cdp`: the connection's nursery and an open
    WebSocket; a failure to get there is :class:`~cdp_heap.ConnectionFailed`.

    trio-websocket raises a rejected handshake (and an unparsable answer) from its reader
    task, into the nursery (and sometimes from the connect call as well), so it may surface
    only when the nursery exits, after the body. ``handshaken`` tells such a failure
    (translated) from one that the body raised (its own business).
    """
    handshaken = False
    try:
        async with connection_nursery() as nursery:
            ws = await _connect(nursery, url, ssl_context, extra_headers, max_message_size)
            handshaken = True
            yield nursery, ws
    except trio_websocket.ConnectionRejected as exc:
        if handshaken:
            raise
        raise ConnectionFailed(
            f"{url} refused the WebSocket handshake with HTTP {exc.status_code}"
            + _rejection_hint(exc.status_code)
        ) from None
    except (h11.LocalProtocolError, wsproto.utilities.LocalProtocolError):
        if handshaken:
            raise
        raise ConnectionFailed(
            f"the inspector at {_address(url)} answered the WebSocket handshake with "
            "an invalid HTTP response"
        ) from None


async def _connect(
    nursery: trio.Nursery,
    url: str,
    ssl_context: ssl.SSLContext | None,
    extra_headers: list[tuple[bytes, bytes]] | None,
    max_message_size: int,
) -> trio_websocket.WebSocketConnection:
    """TCP, TLS for ``wss://``, then the upgrade; :class:`~cdp_heap.ConnectionFailed` if
    that fails, except a rejection (see :func:`open_websocket`)."""
    try:
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss"):
            raise ValueError('WebSocket URL scheme must be "ws:" or "wss:"')
        if parts.hostname is None:
            raise ValueError(f"no host in {url!r}")
        secure = parts.scheme == "wss"
        port = parts.port or (443 if secure else 80)
        tcp = await trio.open_tcp_stream(parts.hostname, port)
        stream: trio.abc.Stream = tcp
        if secure:
            stream = await _tls(tcp, parts.hostname, ssl_context, url)
        host = parts.netloc.rpartition("@")[2]
        resource = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return await handshake(
            nursery,
            stream,
            host,
            resource,
            peer=f"the inspector at {_address(url)}",
            extra_headers=extra_headers,
            max_message_size=max_message_size,
        )
    except (trio_websocket.ConnectionRejected, ConnectionFailed):
        raise
    except (
        trio_websocket.HandshakeError,
        OSError,
        ValueError,
        trio.BrokenResourceError,
    ) as exc:
        reason = str(exc) or type(exc).__name__
        raise ConnectionFailed(f"cannot connect to {url}: {reason}") from None


async def _tls(
    tcp: trio.SocketStream, hostname: str, ssl_context: ssl.SSLContext | None, url: str
) -> trio.SSLStream[trio.SocketStream]:
    """The TLS handshake first, here, so that a failed one (an untrusted certificate)
    raises; inside trio-websocket's reader task it would hang the connect."""
    stream = trio.SSLStream(
        tcp, ssl_context or ssl.create_default_context(), server_hostname=hostname
    )
    try:
        await stream.do_handshake()
    except trio.BrokenResourceError as exc:
        await trio.aclose_forcefully(stream)
        raise ConnectionFailed(f"cannot connect to {url}: TLS: {exc.__cause__ or exc}") from None
    return stream


async def handshake(
    nursery: trio.Nursery,
    stream: trio.abc.Stream,
    host: str,
    resource: str,
    *,
    peer: str,
    extra_headers: list[tuple[bytes, bytes]] | None = None,
    max_message_size: int,
) -> trio_websocket.WebSocketConnection:
    """The WebSocket upgrade over ``stream``, its reader task in ``nursery``;
    :class:`~cdp_heap.ConnectionFailed` naming ``peer`` if the stream ends first."""
    watched = _WatchedStream(stream)
    ws: trio_websocket.WebSocketConnection | None = None

    async def upgrade(race: trio.CancelScope) -> None:
        nonlocal ws
        # trio-websocket annotates socket streams only; any trio Stream works.
        ws = await trio_websocket.wrap_client_stream(
            nursery,
            watched,  # type: ignore[arg-type]
            host,
            resource,
            extra_headers=extra_headers,
            max_message_size=max_message_size,
            receive_buffer_size=RECEIVE_BUFFER_SIZE,
            message_queue_size=1,
        )
        race.cancel()

    async def end_of_stream(race: trio.CancelScope) -> None:
        await watched.ended.wait()
        race.cancel()

    try:
        async with trio.open_nursery() as racers:
            racers.start_soon(upgrade, racers.cancel_scope)
            racers.start_soon(end_of_stream, racers.cancel_scope)
    finally:
        if ws is None:
            await trio.aclose_forcefully(watched)
    # An answer followed at once by the end of the stream wakes both racers; the handshake
    # did complete, and the connection will report the close as it does any other.
    if ws is not None:
        return ws
    if watched.closed_by_us:
        # trio-websocket closes the stream on an answer it cannot parse.
        raise ConnectionFailed(
            f"{peer} answered the WebSocket handshake with an invalid HTTP response"
        )
    after = ", after an incomplete HTTP response" if watched.bytes_received else ""
    raise ConnectionFailed(f"{peer} closed the connection during the WebSocket handshake{after}")


class _WatchedStream(trio.abc.Stream):
    """``inner`` as it is, plus :attr:`ended`: set when the stream ends (the peer closed
    it, it broke, or trio-websocket closed it)."""

    def __init__(self, inner: trio.abc.Stream):
        self.inner = inner
        self.ended = trio.Event()
        self.bytes_received = 0
        self.closed_by_us = False

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        try:
            await self.inner.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self.ended.set()
            raise

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        try:
            data = await self.inner.receive_some(max_bytes)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self.ended.set()
            raise
        if not data:
            self.ended.set()
        self.bytes_received += len(data)
        return data

    async def aclose(self) -> None:
        if not self.ended.is_set():
            self.closed_by_us = True
            self.ended.set()
        await self.inner.aclose()


def _address(url: str) -> str:
    return urlsplit(url).netloc.rpartition("@")[2] or url


def _rejection_hint(status: int) -> str:
    if status == 403:
        return " (Chrome refuses clients it does not trust: start it with --remote-allow-origins)"
    if status in (401, 407):
        return " (the endpoint needs a token)"
    if status == 404:
        return " (no such target: it may have exited or been replaced; list targets again)"
    return ""
