"""A late ``Debugger.enable`` through the proxy gets what a fresh direct session gets, also
after thousands of scripts V8 has since collected; the replay cache stays that size."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import trio
import trio_websocket

from tests.targets import Target

from .helpers import open_raw, proxy_in_front

IDLE = "setInterval(() => {}, 1000)"
EVALS = 3000


async def enable_debugger(ws: trio_websocket.WebSocketConnection) -> set[str]:
    """``Debugger.enable``; the ids of the scripts announced before its reply."""
    await ws.send_message(json.dumps({"id": 1, "method": "Debugger.enable"}))
    scripts: set[str] = set()
    while True:
        message: dict[str, Any] = json.loads(await ws.get_message())
        if message.get("id") == 1:
            assert "result" in message, message
            return scripts
        if message.get("method") == "Debugger.scriptParsed":
            scripts.add(message["params"]["scriptId"])


async def command(
    ws: trio_websocket.WebSocketConnection, id: int, method: str, **params: Any
) -> Any:
    await ws.send_message(json.dumps({"id": id, "method": method, "params": params}))
    while True:
        message = json.loads(await ws.get_message())
        if message.get("id") == id:
            return message


async def test_late_debugger_client_gets_what_a_direct_session_gets(
    node: Callable[..., Target],
) -> None:
    target = node(script=IDLE)
    with trio.fail_after(90):
        async with proxy_in_front(target.host, target.port) as proxy:
            async with open_raw(proxy.websocket_url) as first:
                before = await enable_debugger(first)
                loop = f"for (let i = 0; i < {EVALS}; i++) eval('1+' + i); 0"
                assert "result" in await command(first, 2, "Runtime.evaluate", expression=loop)
                assert "result" in await command(first, 3, "HeapProfiler.collectGarbage")
                async with open_raw(proxy.websocket_url) as late:
                    replayed = await enable_debugger(late)
                async with open_raw(target.ws_url) as direct:
                    fresh = await enable_debugger(direct)
                stats = proxy.router.statistics()
            # The eval()s' scripts are collected: neither gets them (a few differ by timing:
            # the scripts of the sessions' own evaluations).
            assert len(fresh) < len(before) + 20 < EVALS
            assert len(replayed ^ fresh) <= 6, (sorted(replayed - fresh), sorted(fresh - replayed))
            assert stats.replay_cache_scripts <= len(fresh) + 6
            assert stats.script_probes_in_flight == 0
