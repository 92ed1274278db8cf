"""Helpers for the proxy's integration tests: a proxy in front of a real target, raw clients,
and a tiny heap-snapshot reader (node ids per class) for the object-id comparisons."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import trio_websocket

from proxy import Proxy, ProxyConfig, UpstreamSpec, open_proxy

MiB = 1024 * 1024


@asynccontextmanager
async def proxy_in_front(
    host: str, port: int, *, select: str | None = None, **config: Any
) -> AsyncIterator[Proxy]:
    """A proxy on a free port in front of the inspector at host:port, upstream connected."""
    spec = UpstreamSpec(host, port, select)
    async with open_proxy(ProxyConfig(spec, listen_port=0, **config)) as p:
        await p.wait_until(lambda: p.router.upstream_connected)
        yield p


@asynccontextmanager
async def open_raw(url: str) -> AsyncIterator[trio_websocket.WebSocketConnection]:
    """A bare WebSocket client, for sending what a well-behaved client library would not."""
    async with trio_websocket.open_websocket_url(url, max_message_size=256 * MiB) as ws:
        yield ws


async def call(ws: trio_websocket.WebSocketConnection, id: int, method: str, **params: Any) -> Any:
    """Send one command on a raw socket and return its reply, skipping events."""
    await ws.send_message(json.dumps({"id": id, "method": method, "params": params}))
    while True:
        message = json.loads(await ws.get_message())
        if message.get("id") == id:
            return message


def node_ids_by_class(path: Path) -> dict[str, set[int]]:
    """Heap object ids of every ``object``-type node, grouped by constructor name."""
    snapshot = json.loads(path.read_text())
    meta = snapshot["snapshot"]["meta"]
    fields: list[str] = meta["node_fields"]
    types: list[str] = meta["node_types"][0]
    width = len(fields)
    t, n, i = fields.index("type"), fields.index("name"), fields.index("id")
    nodes: list[int] = snapshot["nodes"]
    strings: list[str] = snapshot["strings"]
    by_class: dict[str, set[int]] = {}
    for base in range(0, len(nodes), width):
        if types[nodes[base + t]] == "object":
            by_class.setdefault(strings[nodes[base + n]], set()).add(nodes[base + i])
    return by_class


def diff_counts(a: Path, b: Path) -> dict[str, tuple[int, int]]:
    """Per class: (new, deleted) object ids from snapshot ``a`` to snapshot ``b``."""
    before, after = node_ids_by_class(a), node_ids_by_class(b)
    result = {}
    for name in before.keys() | after.keys():
        old, new = before.get(name, set()), after.get(name, set())
        if old != new:
            result[name] = (len(new - old), len(old - new))
    return result


def wait_for_global(name: str) -> str:
    """An expression (for ``awaitPromise``) that resolves once ``globalThis[name]`` exists:
    a target's script may still be starting when its inspector already answers."""
    check = f"globalThis[{name!r}] !== undefined ? resolve(true) : setTimeout(check, 5)"
    return f"new Promise(resolve => {{ const check = () => {check}; check(); }})"
