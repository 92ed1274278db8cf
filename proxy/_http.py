"""Plain HTTP on the proxy's one port, with h11: read a request head, answer JSON, fetch JSON.

DevTools and ``chrome://inspect`` expect ``/json/list`` and the ``ws://`` URLs it hands out on
the same host:port, so the proxy reads each request head itself (:func:`read_request_head`);
plain requests are answered here, WebSocket upgrades go to :mod:`cdp_heap_proxy._websocket`
with the bytes already read. :func:`fetch_json` asks the upstream inspector for its ``/json/*``
documents with the library's own h11 GET.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

import attrs
import h11
import trio

from cdp_heap._discovery import http_get

MAX_HEAD_BYTES = 64 * 1024
_STATUSES = frozenset(s.value for s in HTTPStatus)


class HTTPError(Exception):
    """A request the proxy cannot read, or an upstream document it cannot fetch."""


@attrs.frozen
class RequestHead:
    method: str
    target: str  # path and query, as sent
    headers: tuple[tuple[str, str], ...]  # names lower-cased
    raw: bytes  # every byte read from the stream so far (head and anything after it)

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]

    @property
    def is_websocket_upgrade(self) -> bool:
        upgrade = (self.header("upgrade") or "").lower()
        return upgrade == "websocket"


async def read_request_head(stream: trio.abc.Stream) -> RequestHead | None:
    """Read one request head; ``None`` if the peer closed before sending one.

    Raises :class:`HTTPError` for a malformed or oversized head.
    """
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
    raw = bytearray()
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError as exc:
            raise HTTPError(f"bad request: {exc}") from None
        if isinstance(event, h11.Request):
            headers = tuple(
                (k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in event.headers
            )
            return RequestHead(
                event.method.decode("ascii"), event.target.decode("latin-1"), headers, bytes(raw)
            )
        if event is h11.NEED_DATA:
            data = await stream.receive_some(65536)
            if not data:
                return None
            raw += data
            conn.receive_data(bytes(data))
        else:
            raise HTTPError(f"unexpected HTTP event {event!r}")


def response_bytes(
    status: int,
    body: bytes,
    *,
    content_type: str = "application/json; charset=UTF-8",
    extra_headers: tuple[tuple[str, str], ...] = (),
) -> bytes:
    """A complete ``Connection: close`` response, as Node's and Chrome's inspectors send."""
    conn = h11.Connection(h11.SERVER)
    # h11 needs to have seen a request to produce a response.
    conn.receive_data(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    conn.next_event()
    headers = [
        ("Content-Type", content_type),
        ("Content-Length", str(len(body))),
        ("Cache-Control", "no-cache"),
        ("Connection", "close"),
        *extra_headers,
    ]
    reason = HTTPStatus(status).phrase.encode() if status in _STATUSES else b""
    out = conn.send(h11.Response(status_code=status, headers=headers, reason=reason)) or b""
    out += conn.send(h11.Data(data=body)) or b""
    out += conn.send(h11.EndOfMessage()) or b""
    return out


def json_response(status: int, document: Any) -> bytes:
    body = json.dumps(document, indent=2, ensure_ascii=False).encode() + b"\n"
    return response_bytes(status, body)


def error_response(
    status: int, message: str, extra_headers: tuple[tuple[str, str], ...] = ()
) -> bytes:
    return response_bytes(
        status,
        message.encode() + b"\n",
        content_type="text/plain; charset=UTF-8",
        extra_headers=extra_headers,
    )


async def fetch_json(host: str, port: int, path: str) -> Any:
    """GET ``path`` from an inspector at host:port and parse the JSON body.

    Sends ``Host: 127.0.0.1:PORT`` whatever ``host`` is: inspectors refuse other host names
    (their DNS-rebinding check). The GET itself is the library's one h11 client
    (:func:`cdp_heap.discovery.http_get`). Raises :class:`HTTPError` (or ``OSError``).
    """
    try:
        status, body = await http_get(host, port, path, host_header=f"127.0.0.1:{port}")
    except h11.RemoteProtocolError as exc:
        raise HTTPError(f"bad response from {host}:{port}{path}: {exc}") from None
    if status != 200:
        raise HTTPError(f"{host}:{port}{path} answered HTTP {status}")
    try:
        return json.loads(body)
    except ValueError as exc:
        raise HTTPError(f"{host}:{port}{path} did not answer JSON: {exc}") from None
