"""Commands reach the target in the order the router produced them, whether the socket took
them at once or they waited (partly written) for the upstream writer task."""

from __future__ import annotations

import socket

import trio
from wsproto import WSConnection
from wsproto.connection import ConnectionType
from wsproto.events import AcceptConnection, Request, TextMessage

from cdp_heap_proxy._sockets import SocketTransport
from cdp_heap_proxy._targets import UpstreamSpec
from cdp_heap_proxy._upstream import UpstreamLink
from cdp_heap_proxy._websocket import WebSocket, client_handshake


async def test_commands_arrive_in_order_through_partial_writes() -> None:
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

    link = UpstreamLink(UpstreamSpec("127.0.0.1", 1), 1 << 20)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve_target)
        rest = await client_handshake(proxy_end, "127.0.0.1:1", "/x")
        ws = WebSocket(
            SocketTransport(proxy_end), server=False, max_message_size=1 << 20, received=rest
        )
        link._ws = ws  # the session as _run_session opens it
        nursery.start_soon(link._write, ws)
        most_waiting = 0
        for i, text in enumerate(expected):
            link.send_nowait(text)
            most_waiting = max(most_waiting, ws.unsent_frames)
            if i % 7 == 0:
                await trio.lowlevel.checkpoint()  # the writer task runs in between
        with trio.fail_after(10):
            await everything.wait()
        nursery.cancel_scope.cancel()
    assert most_waiting > 1, "the socket took everything at once: the test proved nothing"
    assert received == expected
    assert link.backlog() == 0
