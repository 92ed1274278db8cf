"""The cdp-heap multiplexing proxy: many CDP clients share one inspector session safely.

``cdp-heap proxy --upstream TARGET`` runs it; :func:`serve_proxy` is the library entry
point. See docs/proxy.md for what it does and why.
"""

from ._router import Router, RouterStatistics

__all__ = ["Router", "RouterStatistics"]
