"""A whole browser through the proxy: which upstream it is, and its discovery documents.

In front of Chrome (the upstream's ``/json/version`` has a ``webSocketDebuggerUrl``) the
proxy serves every target: ``/json/list`` is the upstream's list at the time of the request
(targets appear and disappear as Chrome opens and closes them), each entry's URLs pointing
at the proxy's page endpoint ``/devtools/page/ID`` (the upstream id, which Chrome keeps for
a target's whole life), and ``/json/version`` names the proxy's browser endpoint
``/devtools/browser/PROXY_ID``. :func:`probe_upstream` decides the mode once, at start, so a
wrong ``--upstream`` is a usage error rather than an empty list served forever.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from ._http import HTTPError, fetch_json
from ._targets import Entry, UpstreamNotFound, UpstreamSpec

PAGE_PATH = "/devtools/page/"
BROWSER_PATH = "/devtools/browser/"


class WrongUpstream(ValueError):
    """``--upstream`` names something the upstream inspector does not have."""


async def probe_upstream(spec: UpstreamSpec) -> bool:
    """Whether to serve the whole browser (``True``) or one target (``False``).

    The whole browser when the upstream has a browser endpoint and no target was picked, or
    when ``spec.select`` is the browser's own id (``--upstream ws://HOST:PORT/devtools/
    browser/ID``). Raises :class:`WrongUpstream` for a browser id that is not this
    browser's, :class:`UpstreamNotFound` when the inspector cannot be reached.
    """
    try:
        version = await fetch_json(spec.host, spec.port, "/json/version")
    except (OSError, HTTPError) as exc:
        raise UpstreamNotFound(f"upstream inspector {spec.address} unreachable: {exc}") from None
    url = version.get("webSocketDebuggerUrl") if isinstance(version, dict) else None
    if not isinstance(url, str):
        return False
    browser_id = urlsplit(url).path.rpartition("/")[2]
    if spec.select is None or spec.select == browser_id:
        return True
    if spec.browser_path:
        raise WrongUpstream(
            f"{spec.address} is a browser whose endpoint is {url}, not .../{spec.select}"
        )
    return False


async def find_browser(spec: UpstreamSpec, previous: Entry | None = None) -> Entry:
    """The browser's endpoint as an entry (what :class:`~cdp_heap_proxy._upstream.UpstreamLink`
    connects to)."""
    try:
        version = await fetch_json(spec.host, spec.port, "/json/version")
    except (OSError, HTTPError) as exc:
        raise UpstreamNotFound(f"upstream inspector {spec.address} unreachable: {exc}") from None
    if not isinstance(version, dict) or not isinstance(version.get("webSocketDebuggerUrl"), str):
        raise UpstreamNotFound(f"{spec.address} has no browser endpoint in /json/version")
    return {
        "id": urlsplit(version["webSocketDebuggerUrl"]).path.rpartition("/")[2],
        "type": "browser",
        "title": version.get("Browser", "browser"),
        "webSocketDebuggerUrl": version["webSocketDebuggerUrl"],
    }


def rewrite_list(entries: Any, host: str, *, secure: bool = False) -> list[Entry]:
    """The upstream's ``/json/list`` with every URL at the proxy (``host`` is
    ``HOST:PORT[/TOKEN]`` as the client reached it)."""
    if not isinstance(entries, list):
        return []
    return [
        _rewrite(e, host, secure)
        for e in entries
        if isinstance(e, dict) and isinstance(e.get("id"), str)
    ]


def _rewrite(entry: Entry, host: str, secure: bool) -> Entry:
    scheme = "wss" if secure else "ws"
    ws = f"{host}{PAGE_PATH}{entry['id']}"
    rewritten = dict(entry)
    rewritten["webSocketDebuggerUrl"] = f"{scheme}://{ws}"
    frontend = f"devtools://devtools/bundled/inspector.html?{scheme}={ws}"
    rewritten["devtoolsFrontendUrl"] = frontend
    rewritten.pop("devtoolsFrontendUrlCompat", None)
    return rewritten


def rewrite_version(version: Any, host: str, proxy_id: str, *, secure: bool = False) -> Any:
    """The upstream's ``/json/version`` with the proxy's browser endpoint."""
    if not isinstance(version, dict):
        return version
    rewritten = dict(version)
    scheme = "wss" if secure else "ws"
    rewritten["webSocketDebuggerUrl"] = f"{scheme}://{host}{BROWSER_PATH}{proxy_id}"
    return rewritten


def parse_endpoint(path: str, proxy_id: str) -> tuple[str, str | None] | None:
    """``/devtools/browser/PROXY_ID`` -> ``("browser", None)``; ``/devtools/page/ID`` ->
    ``("page", ID)``; anything else ``None``."""
    path = "/" + path.strip("/")
    if path == f"{BROWSER_PATH}{proxy_id}":
        return "browser", None
    if path.startswith(PAGE_PATH):
        target = path[len(PAGE_PATH) :]
        if target and "/" not in target:
            return "page", target
    return None
