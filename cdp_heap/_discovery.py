"""Finding targets through an inspector's HTTP endpoints (``/json/list``, ``/json/version``).

Node, Chrome and Deno all answer these on the inspector's host:port. The requests are plain
HTTP/1.1 GETs made with h11 (already a dependency, through wsproto), so discovery needs no
HTTP client library. ``Host`` is always sent as the address we connect to, which Chrome
requires (it refuses names other than IP addresses and ``localhost``).

The proxy finds its upstream with the same two pieces, so there is one GET client and one
target picker: :func:`http_get` (status and body, no interpretation) and
:func:`pick_target` (:func:`select_target` plus re-attaching after a restart).
"""

from __future__ import annotations

import json
import re
import ssl
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import attrs
import h11
import trio

from ._errors import DiscoveryError, InspectorUnreachable

#: The largest response body :func:`http_get` reads (``/json/protocol`` is ~1 MiB).
MAX_BODY = 64 * 1024 * 1024
#: Types of target that have a V8 heap: Node and Deno say "node", Chrome tabs "page".
_HEAP_TARGET_TYPES = ("node", "page", "iframe", "worker", "shared_worker", "service_worker")


@attrs.frozen
class TargetInfo:
    """One entry of ``/json/list``."""

    id: str
    type: str
    title: str
    url: str
    web_socket_debugger_url: str | None
    devtools_frontend_url: str | None = None
    description: str = ""
    #: The entry as the target sent it (for tools, like the proxy, that pass it on).
    raw: Mapping[str, Any] = attrs.field(factory=dict, eq=False, repr=False)

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> TargetInfo:
        try:
            return cls(
                id=str(obj["id"]),
                type=str(obj.get("type", "")),
                title=str(obj.get("title", "")),
                url=str(obj.get("url", "")),
                web_socket_debugger_url=obj.get("webSocketDebuggerUrl"),
                devtools_frontend_url=obj.get("devtoolsFrontendUrl"),
                description=str(obj.get("description", "")),
                raw=dict(obj),
            )
        except (KeyError, TypeError) as exc:
            raise DiscoveryError(f"malformed /json/list entry ({exc}): {obj!r:.200}") from None

    @classmethod
    def from_url(cls, url: str) -> TargetInfo:
        """A target known only by its WebSocket URL (``--url``)."""
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss") or not parts.netloc:
            raise DiscoveryError(f"not a ws:// or wss:// URL: {url!r}")
        target_id = parts.path.rstrip("/").rsplit("/", 1)[-1]
        return cls(id=target_id, type="", title=url, url="", web_socket_debugger_url=url)


@attrs.frozen
class VersionInfo:
    """``/json/version``: Node answers ``Browser`` and ``Protocol-Version`` only."""

    browser: str
    protocol_version: str
    v8_version: str | None = None
    web_socket_debugger_url: str | None = None
    raw: Mapping[str, Any] = attrs.field(factory=dict, eq=False, repr=False)

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> VersionInfo:
        return cls(
            browser=str(obj.get("Browser", "")),
            protocol_version=str(obj.get("Protocol-Version", "")),
            v8_version=obj.get("V8-Version"),
            web_socket_debugger_url=obj.get("webSocketDebuggerUrl"),
            raw=dict(obj),
        )


async def list_targets(
    host: str = "127.0.0.1",
    port: int = 9229,
    *,
    headers: Sequence[tuple[str, str]] = (),
    ssl_context: ssl.SSLContext | None = None,
) -> list[TargetInfo]:
    """The targets an inspector offers (``GET /json/list``)."""
    body = await http_get_json(host, port, "/json/list", headers=headers, ssl_context=ssl_context)
    if not isinstance(body, list):
        raise DiscoveryError(f"{host}:{port}/json/list did not answer a JSON list")
    return [TargetInfo.from_json(entry) for entry in body if isinstance(entry, dict)]


async def get_version(
    host: str = "127.0.0.1",
    port: int = 9229,
    *,
    headers: Sequence[tuple[str, str]] = (),
    ssl_context: ssl.SSLContext | None = None,
) -> VersionInfo:
    """What the inspector is (``GET /json/version``)."""
    body = await http_get_json(
        host, port, "/json/version", headers=headers, ssl_context=ssl_context
    )
    if not isinstance(body, dict):
        raise DiscoveryError(f"{host}:{port}/json/version did not answer a JSON object")
    return VersionInfo.from_json(body)


async def get_protocol(
    host: str = "127.0.0.1",
    port: int = 9229,
    *,
    headers: Sequence[tuple[str, str]] = (),
    ssl_context: ssl.SSLContext | None = None,
) -> Mapping[str, Any]:
    """The protocol description the target implements (``GET /json/protocol``)."""
    body = await http_get_json(
        host, port, "/json/protocol", headers=headers, ssl_context=ssl_context
    )
    if not isinstance(body, dict) or "domains" not in body:
        raise DiscoveryError(f"{host}:{port}/json/protocol did not answer a protocol description")
    return body


def select_target(targets: Iterable[TargetInfo], selector: str | None = None) -> TargetInfo:
    """Pick one target: by exact id, else by a regular expression searched in the title and
    url; without a selector, the only target that has a heap (a Node process, a tab).

    Raises :class:`DiscoveryError` naming the candidates when none or several match.
    """
    return pick_target(targets, selector)


def pick_target(
    targets: Iterable[TargetInfo],
    selector: str | None = None,
    *,
    previous: TargetInfo | None = None,
) -> TargetInfo:
    """:func:`select_target`, for a caller that re-attaches after the target restarted
    (the proxy): ``previous`` is the entry it was attached to.

    A selector that is an id still wins. When the id is gone (a restarted Node gets a new
    one) or there is no selector, the entry that looks like ``previous`` (the same url,
    else the same title) is taken if exactly one does; otherwise the rules of
    :func:`select_target` apply, except that a regex is not tried again (it chose
    ``previous`` the first time, and may now match a different process).
    """
    usable = [t for t in targets if t.web_socket_debugger_url]
    if selector is not None:
        exact = [t for t in usable if t.id == selector]
        if exact:
            return exact[0]
        if previous is None:
            return _exactly_one(_matching(usable, selector), usable, f"matching {selector!r}")
    if previous is not None:
        for same in (
            [t for t in usable if t.url == previous.url],
            [t for t in usable if t.title == previous.title],
        ):
            if len(same) == 1:
                return same[0]
    heaps = [t for t in usable if t.type in _HEAP_TARGET_TYPES] or usable
    preferred = [t for t in heaps if t.type in ("node", "page")] or heaps
    return _exactly_one(preferred, usable, "")


def _matching(usable: list[TargetInfo], selector: str) -> list[TargetInfo]:
    try:
        pattern = re.compile(selector)
    except re.error as exc:
        raise DiscoveryError(f"--target {selector!r} is neither an id nor a regex: {exc}") from None
    return [t for t in usable if pattern.search(t.title) or pattern.search(t.url)]


def _exactly_one(matches: list[TargetInfo], usable: list[TargetInfo], what: str) -> TargetInfo:
    if len(matches) == 1:
        return matches[0]
    listing = "; ".join(f"{t.id} ({t.type}: {t.title})" for t in usable) or "none"
    if not matches:
        raise DiscoveryError(f"no inspectable target {what}".rstrip() + f"; targets: {listing}")
    raise DiscoveryError(
        f"{len(matches)} targets {what}".rstrip()
        + f"; pick one with --target ID or a title regex: {listing}"
    )


async def http_get_json(
    host: str,
    port: int,
    path: str,
    *,
    headers: Sequence[tuple[str, str]] = (),
    ssl_context: ssl.SSLContext | None = None,
    host_header: str | None = None,
) -> Any:
    """GET ``path`` and parse the JSON body; :class:`DiscoveryError` on any failure
    (:class:`InspectorUnreachable` when nothing accepts the connection)."""
    where = f"{host}:{port}"
    try:
        status, body = await http_get(
            host, port, path, headers=headers, ssl_context=ssl_context, host_header=host_header
        )
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise InspectorUnreachable(
            f"cannot reach an inspector at {where}: {reason} "
            "(is the process running with --inspect, or use --pid to activate it?)"
        ) from None
    except (h11.RemoteProtocolError, trio.BrokenResourceError) as exc:
        raise DiscoveryError(f"{where} is not an inspector (bad HTTP answer: {exc})") from None
    if status in (401, 403, 502):  # a cdp-heap proxy says why (a token; its upstream)
        said = _one_line(body)
        raise DiscoveryError(
            f"{where}{path} answered HTTP {status}: {said}", status=status, detail=said
        )
    not_inspector = f"{where} is an HTTP server but not a V8 inspector"
    if status != 200:
        raise DiscoveryError(f"{not_inspector} ({path} answered HTTP {status})", status=status)
    try:
        return json.loads(body)
    except ValueError:
        raise DiscoveryError(f"{not_inspector} ({path} did not answer JSON)") from None


def _one_line(body: bytes, limit: int = 200) -> str:
    """An HTTP body as text on one line, shortened: for a message, not a bytes repr."""
    text = " ".join(body.decode("utf-8", "replace").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def http_get(
    host: str,
    port: int,
    path: str,
    *,
    headers: Sequence[tuple[str, str]] = (),
    ssl_context: ssl.SSLContext | None = None,
    host_header: str | None = None,
    max_body: int = MAX_BODY,
) -> tuple[int, bytes]:
    """One HTTP/1.1 ``GET`` over h11: the status and the body, whatever the status.

    ``Host`` is ``host:port`` unless ``host_header`` says otherwise (inspectors refuse
    names other than IP addresses and ``localhost``). Raises ``OSError`` when the
    connection fails, ``h11.RemoteProtocolError`` for a response that is not HTTP or a body
    over ``max_body`` bytes, and ``trio.BrokenResourceError`` when TLS fails.
    """
    stream: trio.abc.Stream = await trio.open_tcp_stream(host, port)
    async with stream:
        if ssl_context is not None:
            stream = trio.SSLStream(stream, ssl_context, server_hostname=host)
        conn = h11.Connection(h11.CLIENT)
        if host_header is None:
            host_header = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        request = h11.Request(
            method="GET",
            target=path,
            headers=[("Host", host_header), ("Accept", "application/json"), *headers],
        )
        await stream.send_all(conn.send(request) + conn.send(h11.EndOfMessage()))
        status = 0
        body = bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(bytes(await stream.receive_some(65536)))
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > max_body:
                    raise h11.RemoteProtocolError("response body too large")
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                return status, bytes(body)
