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
``exposeInternals=1``, ``force=1`` (skip the memory pre-flight, which answers 507 with the
numbers when the snapshot would not fit in the target's memory: see _snapshot_preflight).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol
from urllib.parse import parse_qs

import h11
import trio

from cdp_heap._protocol import CHUNK_EVENT
from cdp_heap._wire import Command, ErrorResponse, Event, MalformedMessage, Response, decode, encode

from ._actions import ClientId
from ._chunks import plain_chunk_data
from ._http import RequestHead, error_response
from ._outbox import ClientConn, ClientOutbox, Outbox
from ._router import Router
from ._security import Role
from ._snapshot_preflight import refuse_if_too_big

_TRUE = ("1", "true", "yes")
GONE = "client went away"


class SnapshotHost(Protocol):
    """What the endpoint needs of the proxy (:class:`cdp_heap_proxy._server.Proxy` is one)."""

    @property
    def router(self) -> Router: ...

    def text_outbox(self) -> Outbox: ...

    def add_client(
        self,
        label: str,
        peer: str,
        role: Role,
        transport: str,
        outbox: ClientOutbox,
        agent: str | None = None,
    ) -> ClientConn: ...

    def client_message(self, client: ClientId, message: str | bytes) -> None: ...

    def remove_client(self, conn: ClientConn, reason: str) -> None: ...

    def unavailable(self) -> str | None: ...


async def serve_snapshot(
    proxy: SnapshotHost, stream: trio.abc.Stream, head: RequestHead, role: Role, peer: str
) -> None:
    """Answer one ``/snapshot`` request on ``stream`` (already admitted as ``role``)."""
    try:
        refusal = _refusal(proxy, head)
        if refusal is not None:
            await stream.send_all(refusal)
            return
        options = parse_qs(head.target.partition("?")[2])
        commands = _commands(options)
        agent = head.header("user-agent")
        label = f"{peer} POST /snapshot" + (f" {agent}" if agent else "")
        outbox = proxy.text_outbox()
        conn = proxy.add_client(label, peer, role, "http", outbox, agent)
        reason = GONE
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_watch_peer, stream, nursery.cancel_scope)
                refused = await refuse_if_too_big(proxy, stream, conn, outbox, options)
                refused = refused or await _send_commands(proxy, stream, conn, commands)
                reason = refused or await _respond(stream, head, conn, outbox, commands[-1].id)
                nursery.cancel_scope.cancel()
        finally:
            proxy.remove_client(conn, reason)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    finally:
        await trio.aclose_forcefully(stream)


def _refusal(proxy: SnapshotHost, head: RequestHead) -> bytes | None:
    if head.method != "POST":
        return error_response(
            405,
            f"{head.method} /snapshot is refused: use POST (a snapshot pauses the target and "
            "can double its heap; GETs are sent by links, images and prefetchers)",
            (("Allow", "POST"),),
        )
    unavailable = proxy.unavailable()
    if unavailable is not None:
        return error_response(503, f"{unavailable}; retry shortly")
    return None


async def _send_commands(
    proxy: SnapshotHost, stream: trio.abc.Stream, conn: ClientConn, commands: Sequence[Command]
) -> str | None:
    """Hand the commands to the router, as a WebSocket client would send them; if the
    router's method policy refuses one, answer 403 and say why the response ended."""
    for command in commands:
        refusal = proxy.router.refusal(conn.id, command.method)
        # Sent even when refused: the router counts and audits the refusal.
        proxy.client_message(conn.id, encode(command))
        if refusal is not None:
            await stream.send_all(error_response(403, f"{command.method} is {refusal}"))
            return f"refused: {command.method}"
    return None


def _commands(options: Mapping[str, list[str]]) -> list[Command]:
    def flag(name: str) -> bool:
        return any(v.lower() in _TRUE for v in options.get(name, ()))

    methods: list[tuple[str, dict[str, Any]]] = []
    if flag("gc"):
        methods.append(("HeapProfiler.collectGarbage", {}))
    params = {
        "reportProgress": False,
        "captureNumericValue": flag("captureNumericValue"),
        "exposeInternals": flag("exposeInternals"),
    }
    methods.append(("HeapProfiler.takeHeapSnapshot", params))
    return [Command(number, method, p) for number, (method, p) in enumerate(methods, 1)]


async def _watch_peer(stream: trio.abc.Stream, scope: trio.CancelScope) -> None:
    """Read (and ignore) what the client sends; when it closes, stop the response."""
    try:
        while await stream.receive_some(65536):
            pass
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    scope.cancel()


async def _respond(
    stream: trio.abc.Stream, head: RequestHead, conn: ClientConn, outbox: Outbox, last: int
) -> str:
    """Stream the snapshot from ``conn``'s ``outbox``; returns why the response ended."""
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

    def framed(event: h11.Response | h11.Data | h11.EndOfMessage) -> bytes:
        return writer.send(event) or b""

    while (text := await outbox.get()) is not None:
        chunk, reply = plain_chunk_data(text), None
        if chunk is None:
            chunk, reply = _chunk_or_reply(text)
        if chunk is not None:
            if not started:
                started = True
                if not await send(framed(_response_head())):
                    break
            if not await send(framed(h11.Data(data=chunk.encode()))):
                break
        elif isinstance(reply, ErrorResponse):
            if started:
                return f"failed mid-body: {reply.message}"  # no final chunk: incomplete body
            await send(error_response(502, f"snapshot failed: {reply.message}"))
            return f"failed: {reply.message}"
        elif isinstance(reply, Response) and reply.id == last:
            if not started:
                await send(framed(_response_head()))
            await send(framed(h11.EndOfMessage()))
            return "snapshot sent"
    if gone:
        return GONE + " mid-body"
    return conn.outbox.close_reason or "cut off"


def _chunk_or_reply(text: str) -> tuple[str | None, Response | ErrorResponse | None]:
    """A message in any other form than the compact chunk: decoded by the wire layer."""
    try:
        message = decode(text)
    except MalformedMessage:
        return None, None
    match message:
        case Event(method=method, params=params) if method == CHUNK_EVENT:
            chunk = params.get("chunk")
            return (chunk if isinstance(chunk, str) else None), None
        case Response() | ErrorResponse():
            return None, message
        case _:
            return None, None


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
