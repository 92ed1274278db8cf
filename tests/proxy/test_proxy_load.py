"""Correctness under load (never timing): many clients with colliding ids, pipelined
commands, clients dropping their TCP connection mid-stream; every reply reaches the right
client with the right id and value, and the proxy's tables are empty afterwards."""

from __future__ import annotations

import json
from collections.abc import Callable

import trio

from tests.targets import Target

from .helpers import open_raw, proxy_in_front, raw_websocket, send_text_frame

IDLE = "globalThis.keep = Array.from({length: 50000}, (_, i) => ({i})); setInterval(() => {}, 1000)"
CLIENTS = 24
COMMANDS = 60
IN_FLIGHT = 8


async def well_behaved(url: str, client: int, replies: dict[int, list[tuple[int, int]]]) -> None:
    """Pipelines ``COMMANDS`` evaluates, ids 1..COMMANDS (the same ids as every other
    client), at most ``IN_FLIGHT`` outstanding; records (id, value) of every reply."""
    got = replies.setdefault(client, [])
    async with open_raw(url) as ws:
        sent = 0

        async def send_next() -> None:
            nonlocal sent
            sent += 1
            expression = f"{client} * 1000 + {sent}"
            message = {
                "id": sent,
                "method": "Runtime.evaluate",
                "params": {"expression": expression},
            }
            await ws.send_message(json.dumps(message))

        for _ in range(IN_FLIGHT):
            await send_next()
        while len(got) < COMMANDS:
            reply = json.loads(await ws.get_message())
            got.append((reply["id"], reply["result"]["result"]["value"]))
            if sent < COMMANDS:
                await send_next()


async def drops_mid_stream(port: int, path: str, snapshot: bool) -> None:
    """Sends commands (and maybe a snapshot), reads a little, drops the TCP connection."""
    stream = await raw_websocket(port, path)
    for i in range(1, 6):
        await send_text_frame(
            stream,
            json.dumps(
                {"id": i, "method": "Runtime.evaluate", "params": {"expression": "1"}}
            ).encode(),
        )
    if snapshot:
        await send_text_frame(stream, b'{"id":9,"method":"HeapProfiler.takeHeapSnapshot"}')
    await stream.receive_some(1)
    await stream.aclose()  # no close frame


async def test_many_clients_colliding_ids_and_abrupt_disconnects(
    node: Callable[..., Target],
) -> None:
    target = node(script=IDLE)
    replies: dict[int, list[tuple[int, int]]] = {}
    with trio.fail_after(120):
        async with proxy_in_front(target.host, target.port) as proxy:
            path = "/" + proxy.id
            async with trio.open_nursery() as nursery:
                for client in range(1, CLIENTS + 1):
                    nursery.start_soon(well_behaved, proxy.websocket_url, client, replies)
                for i in range(6):
                    nursery.start_soon(drops_mid_stream, proxy.port, path, i % 2 == 0)
            for client, got in replies.items():
                expected = [(i, client * 1000 + i) for i in range(1, COMMANDS + 1)]
                assert sorted(got) == expected, f"client {client}"
            # The dropped clients' snapshots were drained upstream; nothing is left.
            await proxy.wait_until(
                lambda: (
                    proxy.router.statistics().clients == 0
                    and proxy.router.statistics().pending_commands == 0
                    and proxy.router.statistics().snapshots_in_flight == 0
                )
            )
            stats = proxy.router.statistics()
            assert stats.snapshots_queued == 0 and stats.owners == ()
            assert stats.upstream is not None and stats.upstream.pending == 0
            assert proxy.statistics()["clients"] == []
            # And the proxy still works.
            async with open_raw(proxy.websocket_url) as ws:
                await ws.send_message(
                    '{"id":1,"method":"Runtime.evaluate","params":{"expression":"6*7"}}'
                )
                assert json.loads(await ws.get_message())["result"]["result"]["value"] == 42
    assert len(replies) == CLIENTS
