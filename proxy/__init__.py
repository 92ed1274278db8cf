"""The cdp-heap multiplexing proxy: many CDP clients share one inspector session safely.

``cdp-heap proxy --upstream TARGET`` runs it; :func:`serve_proxy` is the library entry
point. See docs/proxy.md for what it does and why.

The proxy is built on cdp_heap's sans-IO core (the same wire format, protocol rules and
limits as the client) and on its discovery (one GET client, one target picker), so it
imports those private modules by name; tests/test_imports.py allows exactly these:

Friend of: cdp_heap._errors, cdp_heap._wire, cdp_heap._protocol, cdp_heap._limits
Friend of: cdp_heap._discovery, cdp_heap._preflight
"""

from ._policy import MethodPolicy
from ._router import Router, RouterStatistics
from ._security import NO_TOKEN, Guard, Role, check_token, generate_token, is_loopback
from ._server import InsecureListen, Proxy, ProxyConfig, open_proxy, serve_proxy
from ._sessions import BrowserHub, BrowserStatistics
from ._target_list import WrongUpstream, probe_upstream
from ._targets import UpstreamNotFound, UpstreamSpec

__all__ = [
    "NO_TOKEN",
    "BrowserHub",
    "BrowserStatistics",
    "Guard",
    "InsecureListen",
    "MethodPolicy",
    "Proxy",
    "ProxyConfig",
    "Role",
    "Router",
    "RouterStatistics",
    "UpstreamNotFound",
    "UpstreamSpec",
    "WrongUpstream",
    "check_token",
    "generate_token",
    "is_loopback",
    "open_proxy",
    "probe_upstream",
    "serve_proxy",
]
