"""Commands reach the target in the order the router produced them, whether a client's
task sends them itself or they wait for the upstream writer task."""

from __future__ import annotations

import trio
import trio.testing
from wsproto import WSConnection
from wsproto.connection import ConnectionType
from wsproto.events import AcceptConnection, Request, TextMessage

from cdp_heap_proxy._targets import UpstreamSpec
from cdp_heap_proxy._upstream import UpstreamLink
from cdp_heap_proxy._websocket import ClientWebSocket


async def test_direct_sends_never_overtake_queued_ones() -> None:
    proxy_end, target_end = trio.testing.memory_stream_pair()
    target = WSConnection(ConnectionType.SERVER)
    ws = ClientWebSocket(proxy_end, 1 << 20)
    received: list[str] = []
    everything = trio.Event()

    async def serve_target() -> None:
        while True:
            data = await target_end.receive_some(65536)
            target.receive_data(bytes(data))
            for event in target.events():
                if isinstance(event, Request):
                    await target_end.send_all(target.send(AcceptConnection()))
                elif isinstance(event, TextMessage):
                    received.append(event.data)
                    if len(received) == 58:
                        everything.set()

    link = UpstreamLink(UpstreamSpec("127.0.0.1", 1), 1 << 20)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve_target)
        await ws.connect("127.0.0.1:1", "/x")
        link._ws = ws  # the session as _run_session opens it
        nursery.start_soon(link._write, ws)
        # A queued command (a departed client's clean-up), then a client's own, at once:
        link.send_nowait("queued-1")
        await link.send(["direct-1"])  # must wait behind queued-1
        async with trio.open_nursery() as senders:
            for i in range(2, 30):
                link.send_nowait(f"queued-{i}")
                senders.start_soon(link.send, [f"direct-{i}"])
        with trio.fail_after(5):
            await everything.wait()
        nursery.cancel_scope.cancel()
    assert received[:2] == ["queued-1", "direct-1"]
    # Each queued command reaches the target before the direct one produced after it.
    for i in range(2, 30):
        assert received.index(f"queued-{i}") < received.index(f"direct-{i}")
    assert sorted(received) == sorted(
        [f"queued-{i}" for i in range(1, 30)] + [f"direct-{i}" for i in range(1, 30)]
    )
