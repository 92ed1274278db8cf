"""Which clients enabled which domains: per-client reference counts and the replay cache.

Behind one shared upstream session, ``X.enable`` and ``X.disable`` are counted per client:
upstream ``disable`` is sent only when the last enabler leaves or disables, and never for
HeapProfiler (kept enabled so heap object ids stay comparable). A client enabling a domain
that is already enabled upstream gets the replay of what a fresh session would have been
told (:mod:`cdp_heap_proxy._replay`). No I/O, no trio: the router asks, this module answers.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import TypeAlias, TypeVar

from cdp_heap._wire import Event

from ._actions import ClientId
from ._replay import REPLAYED_DOMAINS, ReplayCache

DomainKey: TypeAlias = tuple[str | None, str]  # (sessionId, domain)

#: Enabled by the proxy when its upstream session opens, and never disabled upstream.
KEPT_ENABLED = "HeapProfiler"
_KEPT: DomainKey = (None, KEPT_ENABLED)

_Key = TypeVar("_Key")


def release_enabler(enablers: dict[_Key, set[ClientId]], key: _Key, client: ClientId) -> bool:
    """``client`` no longer enables ``key``: whether it was the last one (``key`` is then
    dropped from ``enablers``); ``False`` also if it never enabled it."""
    holders = enablers.get(key)
    if holders is None or client not in holders:
        return False
    holders.discard(client)
    if holders:
        return False
    del enablers[key]
    return True


class DomainTable:
    """The enablers of each domain of one upstream session."""

    def __init__(self) -> None:
        self._enablers: dict[DomainKey, set[ClientId]] = {}
        self._known: set[DomainKey] = {_KEPT}  # domains ever enabled: their events are routed
        self.replay = ReplayCache()

    def is_late(self, client: ClientId, key: DomainKey) -> bool:
        """Whether ``client`` enabling ``key`` needs a replay: others enabled it upstream
        already, so V8 will not announce its state again."""
        enablers = self._enablers.get(key, set())
        return (
            bool(enablers)
            and client not in enablers
            and key[0] is None
            and (key[1] in REPLAYED_DOMAINS)
        )

    def enable(self, client: ClientId, key: DomainKey) -> list[str]:
        """``client`` enables ``key``; returns the texts to replay to it first (see
        :meth:`is_late`)."""
        replay = self.replay.replay(key[1]) if self.is_late(client, key) else []
        enablers = self._enablers.setdefault(key, set())
        enablers.add(client)
        self._known.add(key)
        return replay

    def disable(self, client: ClientId, key: DomainKey) -> bool:
        """``client`` disables ``key``; whether to forward the ``disable`` upstream (it was
        the last enabler, and the domain is not the one the proxy keeps enabled)."""
        if not release_enabler(self._enablers, key, client) or key == _KEPT:
            return False
        self.forget(key)
        return True

    def release(self, client: ClientId, keys: Iterable[DomainKey]) -> list[DomainKey]:
        """``client`` left; the domains to disable upstream because it was their last
        enabler."""
        return [key for key in keys if self.disable(client, key)]

    def drop_session(self, session_id: str) -> list[tuple[DomainKey, set[ClientId]]]:
        """A child session detached: forget its domains; returns who had enabled what."""
        dropped = [(k, v) for k, v in self._enablers.items() if k[0] == session_id]
        for key, _ in dropped:
            del self._enablers[key]
        return dropped

    def forget(self, key: DomainKey) -> None:
        """``key`` is disabled upstream: V8 will announce everything again on enable."""
        if key[0] is None:
            self.replay.forget(key[1])

    def observe(self, event: Event, text: str) -> None:
        self.replay.observe(event, text)

    def is_only_enabler(self, client: ClientId, key: DomainKey) -> bool:
        return self._enablers.get(key) == {client}

    def receivers(self, key: DomainKey, everyone: Collection[ClientId]) -> Collection[ClientId]:
        """Who gets an event of ``key``: its enablers, or every client if no one ever enabled
        it through the proxy (``Inspector``, ``Target``, ...)."""
        if key in self._known:
            return self._enablers.get(key, ())
        return everyone

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(_key_name(k) for k in self._enablers))


def _key_name(key: DomainKey) -> str:
    session, domain = key
    return domain if session is None else f"{session}:{domain}"
