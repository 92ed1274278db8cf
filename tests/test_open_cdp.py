"""``open_cdp``'s two phases over loopback: what fails while connecting is ConnectionFailed,
what the body raises comes out as itself."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio
import trio_websocket

from cdp_heap import ConnectionFailed, open_cdp


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
