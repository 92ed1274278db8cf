"""``open_cdp``'s two phases over loopback: what fails while connecting is ConnectionFailed,
what the body raises comes out as itself. The peers that misbehave during the HTTP upgrade
(close, half an answer, garbage) are plain TCP servers in this process."""

from __future__ import annotations

import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial

import pytest
import trio
import trio.testing
import trio_websocket
from wsproto.utilities import generate_accept_token

from cdp_heap import ConnectionFailed, open_cdp, open_cdp_stream

Handler = Callable[[trio.SocketStream], Awaitable[None]]


@asynccontextmanager
async def websocket_server(reject_with: int | None = None) -> AsyncIterator[int]:
    """A WebSocket server on 127.0.0.1 that rejects every handshake with ``reject_with``,
    or accepts and answers nothing; yields its port."""

    async def handler(request: trio_websocket.WebSocketRequest) -> None:
        if reject_with is not None:
            await request.reject(reject_with)
            return
        ws = await request.accept()
        await ws.get_message()

    async with trio.open_nursery() as nursery:
        server = await nursery.start(trio_websocket.serve_websocket, handler, "127.0.0.1", 0, None)
        yield server.port
        nursery.cancel_scope.cancel()


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def test_nothing_listening_is_connection_failed() -> None:
    url = f"ws://127.0.0.1:{unused_port()}/x"
    with trio.fail_after(5), pytest.raises(ConnectionFailed, match=f"cannot connect to {url}"):
        async with open_cdp(url):
            pytest.fail("connected to nothing")


async def test_a_rejected_handshake_is_connection_failed_with_a_hint() -> None:
    async with websocket_server(reject_with=404) as port:
        url = f"ws://127.0.0.1:{port}/gone"
        with trio.fail_after(5), pytest.raises(ConnectionFailed, match=r"HTTP 404.*no such target"):
            async with open_cdp(url):
                pytest.fail("a rejected handshake connected")


async def test_the_bodys_own_rejection_is_not_translated() -> None:
    """Once connected, a ConnectionRejected is the body's (e.g. from another connection it
    opened by hand), and comes out unchanged."""
    async with websocket_server() as port:
        with trio.fail_after(5), pytest.raises(trio_websocket.ConnectionRejected):
            async with open_cdp(f"ws://127.0.0.1:{port}/x"):
                raise trio_websocket.ConnectionRejected(401, (), None)


@asynccontextmanager
async def tcp_server(handler: Handler) -> AsyncIterator[int]:
    """A TCP server on 127.0.0.1 that runs ``handler`` on each connection; yields its port."""
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, handler, 0, host="127.0.0.1"))
        yield listeners[0].socket.getsockname()[1]
        nursery.cancel_scope.cancel()


async def read_request(stream: trio.SocketStream) -> bytes:
    request = b""
    while not request.endswith(b"\r\n\r\n"):
        data = await stream.receive_some()
        assert data, "the client hung up before sending its whole request"
        request += data
    return request


async def close_after_reading(stream: trio.SocketStream) -> None:
    await read_request(stream)
    await stream.aclose()


async def close_before_reading(stream: trio.SocketStream) -> None:
    await stream.aclose()


async def half_an_answer(stream: trio.SocketStream) -> None:
    await read_request(stream)
    await stream.send_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n")
    await stream.aclose()


async def garbage(stream: trio.SocketStream) -> None:
    await read_request(stream)
    await stream.send_all(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
    await stream.aclose()


async def a_wrong_accept_token(stream: trio.SocketStream) -> None:
    await read_request(stream)
    await stream.send_all(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: bm90IHRoZSB0b2tlbg==\r\n\r\n"
    )
    await trio.sleep_forever()  # it is the client that must give up


CLOSED = "closed the connection during the WebSocket handshake"


@pytest.mark.parametrize(
    ("handler", "message"),
    [
        (close_after_reading, f"{CLOSED}$"),
        (close_before_reading, f"{CLOSED}$"),
        (half_an_answer, f"{CLOSED}, after an incomplete HTTP response$"),
        (garbage, "answered the WebSocket handshake with an invalid HTTP response$"),
        (a_wrong_accept_token, "answered the WebSocket handshake with an invalid HTTP response$"),
    ],
    ids=["close_after_reading", "close_before_reading", "half_an_answer", "garbage", "bad_accept"],
)
async def test_a_peer_that_fails_the_handshake_is_connection_failed(
    handler: Handler, message: str
) -> None:
    """trio-websocket 0.12 alone waits for ever on the first three (its reader task ends
    and nothing wakes the connect), and raises h11's LocalProtocolError on the others."""
    async with tcp_server(handler) as port:
        expected = re.escape(f"the inspector at 127.0.0.1:{port} ") + message
        with trio.fail_after(5), pytest.raises(ConnectionFailed, match=expected):
            async with open_cdp(f"ws://127.0.0.1:{port}/x"):
                pytest.fail("a failed handshake connected")


async def test_a_slow_handshake_is_waited_for() -> None:
    """Half an answer, then a pause in which the client has read it and waits: the rest
    completes the handshake. Only the end of the stream fails it, never time."""

    async def slow(stream: trio.SocketStream) -> None:
        request = await read_request(stream)
        key = re.search(rb"(?i)sec-websocket-key: *(\S+)", request)
        assert key is not None
        await stream.send_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n")
        await trio.testing.wait_all_tasks_blocked()
        await stream.send_all(
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: "
            + generate_accept_token(key.group(1))
            + b"\r\n\r\n"
        )
        await stream.receive_some()  # the client's close frame: hang up, no need to answer
        await stream.aclose()

    async with tcp_server(slow) as port:
        with trio.fail_after(5):
            async with open_cdp(f"ws://127.0.0.1:{port}/x") as connection:
                assert connection.closed is None


async def test_a_stream_that_ends_during_the_handshake_is_connection_failed() -> None:
    client, server = trio.testing.memory_stream_pair()
    await server.aclose()
    with trio.fail_after(5), pytest.raises(ConnectionFailed, match=f"^the peer {CLOSED}$"):
        async with open_cdp_stream(client):
            pytest.fail("a closed stream connected")
