"""Limits that keep the proxy's memory bounded: a client message over the client limit gets
a CDP error on a connection that stays open, and costs the proxy no more than the limit."""

from __future__ import annotations

import json
import struct
import tracemalloc
from collections.abc import Callable

import trio

from cdp_heap._discovery import http_get_json
from tests.targets import Target

from .helpers import (
    MiB,
    call,
    open_raw,
    proxy_in_front,
    raw_websocket,
    read_text_frame,
    send_text_frame,
)

IDLE = "setInterval(() => {}, 1000)"
LIMIT = 1 * MiB
MESSAGE = 24 * MiB
SLICE = b"1" * (64 * 1024)


async def send_big_text(stream: trio.SocketStream, prefix: bytes, size: int) -> None:
    """One masked text frame of ``size`` bytes: ``prefix``, digits, ``"}}``. A zero mask
    key leaves the payload as it is, so it is sent in slices of one buffer."""
    suffix = b'"}}'
    await stream.send_all(struct.pack("!BBQ", 0x81, 0x80 | 127, size) + b"\0\0\0\0" + prefix)
    remaining = size - len(prefix) - len(suffix)
    while remaining > 0:
        piece = SLICE[: min(remaining, len(SLICE))]
        await stream.send_all(piece)
        remaining -= len(piece)
    await stream.send_all(suffix)


async def test_oversized_client_message_gets_an_error_and_costs_at_most_the_limit(
    node: Callable[..., Target],
) -> None:
    target = node(script=IDLE)
    with trio.fail_after(60):
        async with proxy_in_front(target.host, target.port, max_client_message_size=LIMIT) as proxy:
            path = "/" + proxy.websocket_url.rsplit("/", 1)[1]
            stream = await raw_websocket(proxy.port, path)
            prefix = b'{"id":7,"method":"Runtime.evaluate","params":{"expression":"'
            tracemalloc.start()
            try:
                await send_big_text(stream, prefix, MESSAGE)
                error = json.loads(await read_text_frame(stream))
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            assert error["id"] == 7 and error["error"]["code"] == -32600
            assert f"message of {MESSAGE} bytes" in error["error"]["message"]
            assert "--max-client-message-mb" in error["error"]["message"]
            # The 24 MiB message was dropped as it arrived: the proxy (this process) held
            # about the limit at most, not the message (trio-websocket held it ~8x over).
            assert peak < 2 * LIMIT, f"peak {peak / MiB:.1f} MiB"
            # The connection stays open and usable.
            small = b'{"id":8,"method":"Runtime.evaluate","params":{"expression":"1+1"}}'
            await send_text_frame(stream, small)
            reply = json.loads(await read_text_frame(stream))
            assert reply["id"] == 8 and reply["result"]["result"]["value"] == 2
            await stream.aclose()
            stats = await http_get_json("127.0.0.1", proxy.port, "/json/proxy/stats")
            assert stats["router"]["oversized_from_clients"] == 1
            # A message just under the limit is routed as usual.
            async with open_raw(proxy.websocket_url) as ws:
                expression = "'" + "x" * (LIMIT - 200) + "'.length"
                reply = await call(ws, 1, "Runtime.evaluate", expression=expression)
                assert reply["result"]["result"]["value"] == LIMIT - 200
