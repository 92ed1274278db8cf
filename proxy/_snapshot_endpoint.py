"""``POST /snapshot``: a heap snapshot as an HTTP response body, for ``curl``.

People who would otherwise run the Node.js guide's bash script can ask the proxy:
``curl -fsS -X POST -H "Authorization: Bearer $TOKEN" http://127.0.0.1:9230/snapshot -o
app.heapsnapshot``. The request becomes a client of the router like any WebSocket client, so
it is single-flight with every other snapshot (it waits its turn), its chunks are streamed
as they arrive (chunked transfer encoding, nothing buffered beyond the client's bounded
outbox), and a client that goes away mid-body is treated like a departed WebSocket client:
its snapshot is drained upstream and discarded.

The status line is sent with the first chunk, so errors before it (policy, target gone)
get a proper HTTP error; a failure after it ends the connection without the final
zero-length chunk, which every HTTP client reports as an incomplete body. ``GET`` is
refused (405): a snapshot pauses the target and can double its heap, and GETs are what
links, image tags and prefetchers send.

Query options: ``gc=1`` (collect garbage first), ``captureNumericValue=1``,
``exposeInternals=1``.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import h11
import trio

from ._http import RequestHead, error_response
from ._security import Role

if TYPE_CHECKING:
    from ._server import ClientConn, Proxy

CHUNK_EVENT = "HeapProfiler.addHeapSnapshotChunk"
_TRUE = ("1", "true", "yes")
GONE = "client went away"


async def serve_snapshot(
    proxy: Proxy, stream: trio.abc.Stream, head: RequestHead, role: Role, peer: str
) -> None:
    """Answer one ``/snapshot`` request on ``stream`` (already admitted as ``role``)."""
    try:
        refusal = _refusal(proxy, head, role, peer)
        if refusal is not None:
            await stream.send_all(refusal)
            return
        options = parse_qs(head.target.partition("?")[2])
        commands = _commands(options)
        agent = head.header("user-agent")
        label = f"{peer} POST /snapshot" + (f" {agent}" if agent else "")
        client = proxy.add_client(label, peer, role, "http", agent)
        reason = GONE
        try:
            conn = proxy.client_conn(client)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_watch_peer, stream, nursery.cancel_scope)
                for number, (method, params) in enumerate(commands, 1):
                    text = json.dumps({"id": number, "method": method, "params": params})
                    proxy.client_message(client, text)
                reason = await _respond(stream, head, conn, len(commands))
                nursery.cancel_scope.cancel()
        finally:
            proxy.remove_client(client, reason)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    finally:
        await trio.aclose_forcefully(stream)


def _refusal(proxy: Proxy, head: RequestHead, role: Role, peer: str) -> bytes | None:
    if head.method != "POST":
        return error_response(
            405,
            f"{head.method} /snapshot is refused: use POST (a snapshot pauses the target and "
            "can double its heap; GETs are sent by links, images and prefetchers)",
            (("Allow", "POST"),),
        )
    for method, _ in _commands(parse_qs(head.target.partition("?")[2])):
        if not role.policy.allows(method):
            proxy.audit("denied", peer=peer, role=role.name, method=method, transport="http")
            return error_response(
                403, f"{method} is not allowed by this token's policy ({role.policy.describe()})"
            )
    unavailable = proxy.unavailable()
    if unavailable is not None:
        return error_response(503, f"{unavailable}; retry shortly")
    return None


def _commands(options: dict[str, list[str]]) -> list[tuple[str, dict[str, Any]]]:
    def flag(name: str) -> bool:
        return any(v.lower() in _TRUE for v in options.get(name, ()))

    commands: list[tuple[str, dict[str, Any]]] = []
    if flag("gc"):
        commands.append(("HeapProfiler.collectGarbage", {}))
    params = {
        "reportProgress": False,
        "captureNumericValue": flag("captureNumericValue"),
        "exposeInternals": flag("exposeInternals"),
    }
    commands.append(("HeapProfiler.takeHeapSnapshot", params))
    return commands


async def _watch_peer(stream: trio.abc.Stream, scope: trio.CancelScope) -> None:
    """Read (and ignore) what the client sends; when it closes, stop the response."""
    try:
        while await stream.receive_some(65536):
            pass
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    scope.cancel()


async def _respond(stream: trio.abc.Stream, head: RequestHead, conn: ClientConn, last: int) -> str:
    """Stream the snapshot from ``conn``'s outbox; returns why the response ended."""
    writer = h11.Connection(h11.SERVER)
    writer.receive_data(head.raw)
    writer.next_event()  # the request
    started = False

    gone = False

    async def send(data: bytes) -> bool:
        """Send ``data``; False once the client has gone or the router cut it off.

        The send happens in the nursery of ``serve_snapshot``, so a broken pipe is turned
        into a return value here rather than escaping as an exception group.
        """
        nonlocal gone
        try:
            with trio.CancelScope() as conn.send_scope:
                await stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            gone = True
            return False
        return not conn.send_scope.cancelled_caught

    def framed(event: Any) -> bytes:
        return writer.send(event) or b""

    while (text := await conn.outbox.get()) is not None:
        message = json.loads(text)
        if message.get("method") == CHUNK_EVENT:
            if not started:
                started = True
                if not await send(framed(_response_head())):
                    break
            if not await send(framed(h11.Data(data=message["params"]["chunk"].encode()))):
                break
        elif "id" in message and "error" in message:
            error = message["error"].get("message", "error")
            if started:
                return f"failed mid-body: {error}"  # no final chunk: an incomplete body
            await send(error_response(502, f"snapshot failed: {error}"))
            return f"failed: {error}"
        elif message.get("id") == last:
            if not started:
                await send(framed(_response_head()))
            await send(framed(h11.EndOfMessage()))
            return "snapshot sent"
    if gone:
        return GONE + " mid-body"
    return conn.outbox.close_reason or "cut off"


def _response_head() -> h11.Response:
    name = time.strftime("Heap-%Y%m%dT%H%M%S.heapsnapshot")
    return h11.Response(
        status_code=200,
        reason=b"OK",
        headers=[
            ("Content-Type", "application/json; charset=UTF-8"),
            ("Content-Disposition", f'attachment; filename="{name}"'),
            ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff"),
            ("Connection", "close"),
        ],
    )
