"""A scripted CDP peer over in-memory streams, for trio-layer tests without sockets."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio
import trio.testing
import trio_websocket

from cdp_heap import CDPConnection, open_cdp_stream


class Peer:
    """The target's end: read the client's commands, send whatever text a test wants."""

    def __init__(self, ws: trio_websocket.WebSocketConnection) -> None:
        self.ws = ws

    async def command(self) -> dict[str, Any]:
        message = json.loads(await self.ws.get_message())
        assert isinstance(message, dict)
        return message

    async def send(self, message: dict[str, Any] | str) -> None:
        await self.ws.send_message(message if isinstance(message, str) else json.dumps(message))

    async def reply(self, command: dict[str, Any], result: dict[str, Any] | None = None) -> None:
        await self.send({"id": command["id"], "result": result or {}})

    async def event(self, method: str, **params: Any) -> None:
        await self.send({"method": method, "params": params})

    async def chunk(self, text: str) -> None:
        await self.event("HeapProfiler.addHeapSnapshotChunk", chunk=text)


@asynccontextmanager
async def connected(**options: Any) -> AsyncIterator[tuple[CDPConnection, Peer]]:
    """A CDPConnection wired to a Peer through an in-memory stream pair."""
    client_stream, server_stream = trio.testing.memory_stream_pair()
    peer_ready: trio.MemorySendChannel[Peer]
    peer_ready, peer_ready_receive = trio.open_memory_channel[Peer](1)
    async with trio.open_nursery() as nursery:

        async def serve() -> None:
            request = await trio_websocket.wrap_server_stream(
                nursery,
                server_stream,
                max_message_size=2**30,
            )
            await peer_ready.send(Peer(await request.accept()))

        nursery.start_soon(serve)
        async with open_cdp_stream(client_stream, **options) as connection:
            peer = await peer_ready_receive.receive()
            yield connection, peer
            await peer.ws.aclose()
        nursery.cancel_scope.cancel()
