"""The proxy acknowledges what it reads at once (TCP_QUICKACK), so a peer's Nagle never
waits for a delayed ACK (docs/decisions.md D24, D36): through a trio stream (TLS) and through
the socket transport (plain TCP), read by its task or by the lane."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio
import trio.testing

from cdp_heap_proxy._sockets import QuickAckStream, SocketTransport

from .helpers import running_lane

QUICKACK = getattr(socket, "TCP_QUICKACK", None)
pytestmark = pytest.mark.skipif(QUICKACK is None, reason="TCP_QUICKACK is Linux-only")


def quickack(stream: trio.SocketStream) -> int:
    assert QUICKACK is not None
    value = stream.getsockopt(socket.IPPROTO_TCP, QUICKACK)
    assert isinstance(value, int)
    return value


async def test_every_read_switches_delayed_acks_off() -> None:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    client = await trio.open_tcp_stream("127.0.0.1", port)
    server = await listeners[0].accept()
    assert isinstance(server, trio.SocketStream)
    # Request/response traffic: Linux judges the connection interactive and delays ACKs.
    for _ in range(5):
        await client.send_all(b"ping")
        await server.receive_some(16)
        await server.send_all(b"pong")
        await client.receive_some(16)
    assert quickack(server) == 0
    await client.send_all(b"event")
    assert await server.receive_some(16) == b"event"
    assert quickack(server) == 0  # a plain read leaves the ACK delayed
    wrapped = QuickAckStream(server, server)
    await server.send_all(b"pong")
    await client.receive_some(16)
    await client.send_all(b"event")
    assert await wrapped.receive_some(16) == b"event"
    assert quickack(server) == 1  # acknowledged at once
    await client.aclose()
    assert await wrapped.receive_some(16) == b""
    await wrapped.aclose()
    await listeners[0].aclose()


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


async def test_the_socket_transport_acknowledges_every_read_too() -> None:
    assert QUICKACK is not None
    async with connection() as (client, server, raw):
        transport = SocketTransport(server)  # takes the socket over
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

            transport = SocketTransport(server, lane)
            assert transport.watch(on_read)
            for i in range(5):
                raw.setsockopt(socket.IPPROTO_TCP, QUICKACK, 0)  # delayed, as in traffic
                await client.send_all(b"m%d" % i)
                while len(seen) <= i:
                    await trio.testing.wait_all_tasks_blocked(cushion=0.005)
                assert raw.getsockopt(socket.IPPROTO_TCP, QUICKACK) == 1
            assert seen == [(b"m%d" % i, 0) for i in range(5)]
            transport.close()
