"""The cdp-heap multiplexing proxy: many CDP clients share one inspector session safely.

``cdp-heap proxy --upstream TARGET`` runs it; :func:`serve_proxy` is the library entry
point. See docs/proxy.md for what it does and why.
"""

from ._router import Router, RouterStatistics
from ._server import Proxy, ProxyConfig, open_proxy, serve_proxy
from ._targets import UpstreamSpec

__all__ = [
    "Proxy",
    "ProxyConfig",
    "Router",
    "RouterStatistics",
    "UpstreamSpec",
    "open_proxy",
    "serve_proxy",
]
