"""What the router tells its trio shell to do, and what it reports about itself.

Plain frozen values with no behaviour, so that the router's tests can compare them and the
shell (:mod:`cdp_heap_proxy._server`) can perform them in order. :data:`Action` is a closed union:
the shell dispatches on it with ``isinstance`` and ``typing.assert_never``, so an action
without a handler is a type error.
"""

from __future__ import annotations

from typing import TypeAlias

import attrs

from cdp_heap._protocol import ProtocolStatistics

ClientId: TypeAlias = int


@attrs.frozen
class SendToClient:
    client: ClientId
    text: str


@attrs.frozen
class SendUpstream:
    text: str


@attrs.frozen
class CloseClient:
    """Close the client's WebSocket after what was queued for it has been sent."""

    client: ClientId
    code: int
    reason: str


@attrs.frozen
class ForgetClient:
    """The router has forgotten ``client`` (it left, was cut off, or the session ended):
    the shell drops it from its registry too. Its connection may still be flushing what
    was queued for it; nothing more is routed to it."""

    client: ClientId
    reason: str


@attrs.frozen
class CloseUpstream:
    """The target detached the upstream session: close it (then reconnect)."""

    reason: str


@attrs.frozen
class Audit:
    """Something the audit log records: a client ``start``-ed a snapshot, sampling or
    tracking (``method``), or was ``denied`` a method by its policy."""

    client: ClientId
    event: str
    method: str


Action: TypeAlias = SendToClient | SendUpstream | CloseClient | ForgetClient | CloseUpstream | Audit


@attrs.frozen
class RouterStatistics:
    clients: int
    pending_commands: int
    snapshots_in_flight: int
    snapshots_queued: int
    peak_snapshots_in_flight: int
    snapshots_completed: int
    enabled_domains: tuple[str, ...]
    owners: tuple[tuple[str, ClientId], ...]
    replay_cache_entries: int
    #: Scripts kept for a late ``Debugger.enable`` (collected ones are probed away), and the
    #: most it keeps.
    replay_cache_scripts: int
    replay_cache_script_limit: int
    script_probes_in_flight: int
    upstream_connected: bool
    malformed_from_clients: int
    malformed_from_upstream: int
    #: Client messages over the client message limit, answered with an error.
    oversized_from_clients: int
    #: Commands refused by a client's method policy.
    denied_by_policy: int
    #: Chunks of a departed client's (or the proxy's own) snapshot, dropped undecoded.
    discarded_chunks: int
    upstream: ProtocolStatistics | None
