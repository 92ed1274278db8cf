"""Commands reach the target in the order the router produced them, whether the socket took
them at once, they waited (partly written) for the upstream writer task, or they waited
for the end of the lane's batch that routed them (one write for all of them)."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable

import pytest
import trio
from wsproto import WSConnection
from wsproto.connection import ConnectionType
from wsproto.events import AcceptConnection, Request, TextMessage

from cdp_heap_proxy._frames import FrameParser
from cdp_heap_proxy._lane import Lane
from cdp_heap_proxy._sockets import SocketTransport
from cdp_heap_proxy._targets import UpstreamSpec
from cdp_heap_proxy._upstream import UpstreamLink
from cdp_heap_proxy._websocket import WebSocket, client_handshake


class CountingTransport(SocketTransport):
    """Records each write handed to the socket: how many frames it carried."""

    def __init__(self, stream: trio.SocketStream) -> None:
        super().__init__(stream)
        self.writes: list[int] = []

    def try_send(self, buffers: list[bytes | memoryview]) -> int:
        self.writes.append(len(buffers))
        return super().try_send(buffers)


def in_batch(lane: Lane, sock: socket.socket, route: Callable[[], None]) -> None:
    """Run ``route`` as the lane runs a callback for a socket it read (``sock``, which
    it watches for this): inside a batch of reads, what the batch leaves done after it."""

    def read() -> int:
        route()
        return 0

    lane.watch(sock.fileno(), read)
    try:
        lane._dispatch([(sock.fileno(), 1)])
    finally:
        lane.unwatch(sock.fileno())


@pytest.mark.parametrize("via", ["tasks", "lane batches"])
async def test_commands_arrive_in_order_through_partial_writes(via: str) -> None:
    proxy_sock, target_sock = socket.socketpair()
    # A small send buffer, so that the socket takes only part of what is sent at once.
    proxy_sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    proxy_end = trio.SocketStream(trio.socket.from_stdlib_socket(proxy_sock))
    target_end = trio.SocketStream(trio.socket.from_stdlib_socket(target_sock))
    target = WSConnection(ConnectionType.SERVER)
    received: list[str] = []
    expected = [f"command-{i}-" + "x" * (i * 37 % 3000) for i in range(400)]
    everything = trio.Event()
    partial = ""

    async def serve_target() -> None:
        nonlocal partial
        while True:
            data = await target_end.receive_some(1000)  # slowly
            target.receive_data(bytes(data))
            for event in target.events():
                if isinstance(event, Request):
                    await target_end.send_all(target.send(AcceptConnection()))
                elif isinstance(event, TextMessage):  # wsproto hands out pieces
                    partial += event.data
                    if not event.message_finished:
                        continue
                    received.append(partial)
                    partial = ""
                    if len(received) == len(expected):
                        everything.set()

    lane = Lane()
    spare, _ = socket.socketpair()  # what the lane "read" when it routes a batch
    link = UpstreamLink(UpstreamSpec("127.0.0.1", 1), 1 << 20, lane=lane)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve_target)
        rest = await client_handshake(proxy_end, "127.0.0.1:1", "/x")
        ws = WebSocket(
            SocketTransport(proxy_end), server=False, max_message_size=1 << 20, received=rest
        )
        link._ws = ws  # the session as _run_session opens it
        nursery.start_soon(link._write, ws)
        most_waiting = 0
        if via == "tasks":
            for i, text in enumerate(expected):
                link.send_nowait(text)
                most_waiting = max(most_waiting, ws.unsent_frames)
                if i % 7 == 0:
                    await trio.lowlevel.checkpoint()  # the writer task runs in between
        else:
            for start in range(0, len(expected), 7):

                def route(batch: list[str] = expected[start : start + 7]) -> None:
                    for text in batch:
                        link.send_nowait(text)

                in_batch(lane, spare, route)
                most_waiting = max(most_waiting, ws.unsent_frames)
                await trio.lowlevel.checkpoint()  # the writer task runs in between
        with trio.fail_after(10):
            await everything.wait()
        nursery.cancel_scope.cancel()
    assert most_waiting > 1, "the socket took everything at once: the test proved nothing"
    assert received == expected
    assert link.backlog() == 0
    lane.close()
    spare.close()


async def test_commands_one_lane_batch_routes_while_the_target_is_busy_go_in_one_write() -> None:
    """The first command goes at once (the target is idle); the next ones, routed by one
    batch of the lane's reads while the target works on it, wait for the batch to end and
    go in one write, in order; the target's answer makes the next command go at once."""
    proxy_sock, target_sock = socket.socketpair()
    proxy_end = trio.SocketStream(trio.socket.from_stdlib_socket(proxy_sock))
    transport = CountingTransport(proxy_end)
    ws = WebSocket(transport, server=False, max_message_size=1 << 20)
    lane = Lane()
    spare, _ = socket.socketpair()
    link = UpstreamLink(UpstreamSpec("127.0.0.1", 1), 1 << 20, lane=lane)
    link._ws = ws
    link.send_nowait("first")
    assert transport.writes == [1]
    waiting: list[int] = []

    def route() -> None:
        for i in range(5):
            link.send_nowait(f"next-{i}")
        waiting.append(ws.unsent_frames)  # nothing written yet: the batch is not over

    in_batch(lane, spare, route)
    assert waiting == [5]
    assert transport.writes == [1, 5]  # one write with the five
    assert ws.unsent_frames == 0
    link._unanswered = False  # what the target's next message does (deliver)
    in_batch(lane, spare, lambda: link.send_nowait("after the answer"))
    assert transport.writes == [1, 5, 1]
    target = FrameParser(masked=True, max_message_size=1 << 20)  # the target's side
    target_sock.setblocking(False)
    with contextlib.suppress(BlockingIOError):
        while True:
            target.feed(target_sock.recv(65536))
    assert target.events() == ["first", *(f"next-{i}" for i in range(5)), "after the answer"]
    lane.close()
    for sock in (spare, target_sock):
        sock.close()
