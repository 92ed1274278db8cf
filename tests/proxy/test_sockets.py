"""The proxy acknowledges what it reads from the target at once (TCP_QUICKACK), so Node's
Nagle never waits for a delayed ACK (docs/decisions.md D24, D36), read by the connection's
task or by the lane; a client's connection is left to the kernel's delayed ACKs, as a
direct connection to Node is (D40)."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio
import trio.testing

from cdp_heap_proxy import _sockets
from cdp_heap_proxy._sockets import SocketTransport

from .helpers import running_lane

QUICKACK = getattr(socket, "TCP_QUICKACK", None)
pytestmark = pytest.mark.skipif(QUICKACK is None, reason="TCP_QUICKACK is Linux-only")


@asynccontextmanager
async def connection() -> AsyncIterator[tuple[trio.SocketStream, trio.SocketStream, socket.socket]]:
    """A loopback connection (client end, server end) and a duplicate of the server end's
    socket, to read its options beside whoever has taken the socket over."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    client = await trio.open_tcp_stream("127.0.0.1", port)
    server = await listeners[0].accept()
    assert isinstance(server, trio.SocketStream)
    raw = socket.socket(fileno=os.dup(server.socket.fileno()))
    try:
        yield client, server, raw
    finally:
        raw.close()
        await client.aclose()
        await listeners[0].aclose()


async def test_the_upstream_transport_acknowledges_every_read() -> None:
    assert QUICKACK is not None
    async with connection() as (client, server, raw):
        transport = SocketTransport(server, quickack=True)  # takes the socket over
        try:
            for _ in range(5):
                await client.send_all(b"ping")
                assert await transport.receive()
                assert transport.try_send([b"pong"]) == 4
                await client.receive_some(16)
            raw.setsockopt(socket.IPPROTO_TCP, QUICKACK, 0)  # as after a plain read
            await client.send_all(b"event")
            assert await transport.receive() == b"event"
            assert raw.getsockopt(socket.IPPROTO_TCP, QUICKACK) == 1
            await client.aclose()
            assert await transport.receive() == b""
        finally:
            transport.close()


async def test_a_read_by_the_lane_is_acknowledged_once_it_is_routed() -> None:
    """Not before: the ACK is a packet sent, which would delay the message on its way; but
    every read is acknowledged before the lane reads on (a write the peer holds for the
    ACK waits for one message's routing, not for the delayed-ACK timer)."""
    assert QUICKACK is not None
    seen: list[tuple[bytes, int]] = []  # what each callback got, and the option meanwhile
    with trio.fail_after(10):
        async with connection() as (client, server, raw), running_lane() as lane:

            def on_read(data: bytes) -> None:
                seen.append((data, raw.getsockopt(socket.IPPROTO_TCP, QUICKACK)))

            transport = SocketTransport(server, lane, quickack=True)
            assert transport.watch(on_read)
            for i in range(5):
                raw.setsockopt(socket.IPPROTO_TCP, QUICKACK, 0)  # delayed, as in traffic
                await client.send_all(b"m%d" % i)
                while len(seen) <= i:
                    await trio.testing.wait_all_tasks_blocked(cushion=0.005)
                assert raw.getsockopt(socket.IPPROTO_TCP, QUICKACK) == 1
            assert seen == [(b"m%d" % i, 0) for i in range(5)]
            transport.close()


async def test_a_clients_transport_leaves_the_acks_to_the_kernel() -> None:
    """What ``transport_for`` makes of a client's plain TCP connection: read by the task
    and by the lane, never switched to quick ACKs (each is a packet of its own, D40)."""
    assert QUICKACK is not None
    with trio.fail_after(10):
        async with connection() as (client, server, raw), running_lane() as lane:
            transport = _sockets.transport_for(server, server, lane)
            assert isinstance(transport, SocketTransport)
            for i in range(3):
                raw.setsockopt(socket.IPPROTO_TCP, QUICKACK, 0)  # delayed, as in traffic
                await client.send_all(b"t%d" % i)
                assert await transport.receive() == b"t%d" % i
                assert raw.getsockopt(socket.IPPROTO_TCP, QUICKACK) == 0
            seen: list[bytes] = []
            assert transport.watch(seen.append)
            raw.setsockopt(socket.IPPROTO_TCP, QUICKACK, 0)
            await client.send_all(b"lane")
            while not seen:
                await trio.testing.wait_all_tasks_blocked(cushion=0.005)
            assert seen == [b"lane"]
            assert raw.getsockopt(socket.IPPROTO_TCP, QUICKACK) == 0
            transport.close()
