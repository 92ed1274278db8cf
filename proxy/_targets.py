"""Which upstream target the proxy fronts, and how its discovery entry looks through the proxy.

The proxy gives its target a stable id of its own: a Node process that restarts gets a new
inspector UUID, but DevTools windows and scripts keep the proxy's URL and simply reconnect.
:func:`find_target` picks the upstream entry (again after every restart);
:func:`rewrite_entry` turns an upstream ``/json/list`` entry into the proxy's.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import attrs

from cdp_heap._discovery import TargetInfo, pick_target
from cdp_heap._errors import DiscoveryError

from ._http import HTTPError, fetch_json

Entry = dict[str, Any]


class UpstreamNotFound(HTTPError):
    """The upstream inspector is unreachable or lists no matching target."""


@attrs.frozen
class UpstreamSpec:
    """Where the upstream inspector is: ``host:port`` and, optionally, which of its targets
    (an id, or a regular expression matched against title and url)."""

    host: str
    port: int
    select: str | None = None
    #: ``select`` came from a ``ws://HOST:PORT/devtools/browser/ID`` URL.
    browser_path: bool = False

    @classmethod
    def parse(cls, text: str, select: str | None = None) -> UpstreamSpec:
        """``PORT``, ``HOST:PORT``, ``http://HOST:PORT`` or a ``ws://HOST:PORT/ID`` URL."""
        if text.isdigit():
            return cls("127.0.0.1", int(text), select)
        if "://" in text:
            parts = urlsplit(text)
            if parts.hostname is None or parts.port is None:
                raise ValueError(f"{text!r}: expected a URL with a host and a port")
            path_id = parts.path.rstrip("/").rpartition("/")[2]
            if parts.scheme in ("ws", "wss") and path_id and select is None:
                select = path_id
                browser = parts.path.startswith("/devtools/browser/")
                return cls(parts.hostname, parts.port, select, browser)
            return cls(parts.hostname, parts.port, select)
        host, sep, port = text.rpartition(":")
        if not sep or not port.isdigit():
            raise ValueError(f"{text!r}: expected PORT, HOST:PORT or ws://HOST:PORT/ID")
        return cls(host.strip("[]") or "127.0.0.1", int(port), select)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


async def find_target(spec: UpstreamSpec, previous: Entry | None = None) -> Entry:
    """The upstream ``/json/list`` entry to attach to, picked by the library's one target
    picker (:func:`cdp_heap._discovery.pick_target`): the entry whose id is the selector,
    or whose title or url matches it as a regular expression; after a restart (``previous``
    is the entry attached to before) the one that looks like it; else the only debuggable
    one. Raises :class:`UpstreamNotFound`.
    """
    try:
        entries = await fetch_json(spec.host, spec.port, "/json/list")
    except (OSError, HTTPError) as exc:
        raise UpstreamNotFound(f"upstream inspector {spec.address} unreachable: {exc}") from None
    if not isinstance(entries, list):
        raise UpstreamNotFound(f"{spec.address}/json/list is not a list")
    try:
        targets = [TargetInfo.from_json(e) for e in entries if isinstance(e, dict)]
        before = None if previous is None else TargetInfo.from_json(previous)
        chosen = pick_target(targets, spec.select, previous=before)
    except DiscoveryError as exc:
        raise UpstreamNotFound(f"{spec.address}: {exc}") from None
    return dict(chosen.raw)


def websocket_path(entry: Entry) -> str:
    """The path of an entry's ``webSocketDebuggerUrl`` (what to connect to upstream)."""
    return urlsplit(str(entry["webSocketDebuggerUrl"])).path or "/"


def rewrite_entry(entry: Entry, proxy_id: str, host: str, *, secure: bool = False) -> Entry:
    """The upstream entry as the proxy lists it: its id, and every URL pointing at the proxy.

    ``host`` is ``HOST:PORT`` as the client reached the proxy (the request's Host header).
    Node formats the frontend URLs as
    ``devtools://devtools/bundled/js_app.html?experiments=true&v8only=true&ws=HOST:PORT/ID``;
    Chrome page targets get the full (not ``v8only``) frontend.
    """
    ws_param = f"{'wss' if secure else 'ws'}={host}/{proxy_id}"
    rewritten = dict(entry)
    rewritten["id"] = proxy_id
    rewritten["webSocketDebuggerUrl"] = f"{'wss' if secure else 'ws'}://{host}/{proxy_id}"
    if entry.get("type") == "page":
        rewritten["devtoolsFrontendUrl"] = f"devtools://devtools/bundled/inspector.html?{ws_param}"
        rewritten["devtoolsFrontendUrlCompat"] = rewritten["devtoolsFrontendUrl"]
    else:
        query = f"experiments=true&v8only=true&{ws_param}"
        rewritten["devtoolsFrontendUrl"] = f"devtools://devtools/bundled/js_app.html?{query}"
        rewritten["devtoolsFrontendUrlCompat"] = (
            f"devtools://devtools/bundled/inspector.html?{query}"
        )
    return rewritten
