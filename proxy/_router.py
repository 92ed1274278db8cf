"""Routing many CDP clients over one upstream session, as a state machine with no I/O.

The trio layer feeds :class:`Router` what happens (a client connects, sends text, leaves;
the upstream session opens, sends text, is lost) and performs the :data:`Action` values it
returns, in order. All routing state lives here so that the rules can be tested with no
sockets (``tests/proxy/test_router*.py``, including property-based interleavings).

The rules (docs/proxy.md describes them for users):

- Every client command gets a fresh upstream id from the one counter of the upstream
  :class:`~cdp_heap._protocol.CDPProtocol`; its reply goes back to that client only, with
  the client's own id. Malformed text, binary frames, commands without an id or with an id
  the client already has pending get a CDP error reply; other clients never notice.
- ``HeapProfiler.takeHeapSnapshot`` / ``stopTrackingHeapObjects`` run one at a time upstream
  (a snapshot can double the target's heap; two at once can kill it); later ones wait in
  order. Their chunk and progress events go only to the requester (the protocol layer
  attributes them to the command).
- ``X.enable`` / ``X.disable`` are reference-counted per client: upstream ``disable`` is sent
  only when the last enabler leaves, and never for HeapProfiler, which the proxy enables when
  the upstream session opens and keeps enabled so heap object ids stay comparable across
  clients and runs. A client enabling an already enabled domain first gets the replay of
  what a fresh session would have been told (:mod:`cdp_heap_proxy._domains`,
  :mod:`cdp_heap_proxy._replay`).
- Heap sampling, heap tracking and CPU profiling belong to the client that started them:
  another client's start or stop gets an error naming the owner; tracking events go to the
  owner only.
- Other events go to the clients that enabled the event's domain (to every client for
  domains no one ever enabled through the proxy, such as ``Inspector`` or ``Target``).
- A client that leaves: its pending replies are swallowed, its refcounts released (upstream
  ``disable`` when it was the last), its sampling/tracking/profiling stopped, a pause it holds
  resumed, its breakpoints removed, its queued snapshots dropped and its in-flight snapshot
  drained and discarded; what it did inside a Node worker is undone by the same rules
  (:mod:`cdp_heap_proxy._node_workers`).
- Upstream lost: every client gets ``Inspector.detached`` and a close; state is reset.

This module routes commands, replies, events and snapshots; who enabled what lives in
:mod:`cdp_heap_proxy._domains`, who owns an activity, a pause or a breakpoint in
:mod:`cdp_heap_proxy._ownership`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any

import attrs

from cdp_heap._errors import ConnectionClosed
from cdp_heap._protocol import (
    SNAPSHOT_METHODS,
    CDPProtocol,
    EventReceived,
    Ignored,
    ReplyReceived,
    SessionDetached,
    SnapshotChunkReceived,
    SnapshotProgressReceived,
)
from cdp_heap._wire import (
    INVALID_REQUEST,
    SERVER_ERROR,
    Command,
    ErrorResponse,
    Event,
    MalformedMessage,
    Response,
    decode,
    encode,
)

from ._actions import (
    Action,
    Audit,
    ClientId,
    CloseClient,
    CloseUpstream,
    ForgetClient,
    RouterStatistics,
    SendToClient,
    SendUpstream,
)
from ._chunks import PLAIN_REPLY, is_plain_chunk, with_id
from ._domains import KEPT_ENABLED, DomainKey, DomainTable
from ._node_workers import RECEIVED as WORKER_RECEIVED
from ._node_workers import SEND as WORKER_SEND
from ._node_workers import Refusal, WorkerSessions
from ._oversized import oversized_reply
from ._ownership import (
    BREAKPOINT_SETTERS,
    PAUSE_REQUESTS,
    STARTS,
    STOPS,
    TRACKING_EVENTS,
    Ownership,
)
from ._policy import ALLOW_ALL, MethodPolicy
from ._replay import MAX_SCRIPTS, PROBE_METHOD, probe_params

__all__ = [
    "Action",
    "Audit",
    "ClientId",
    "CloseClient",
    "CloseUpstream",
    "ForgetClient",
    "Router",
    "RouterStatistics",
    "SendToClient",
    "SendUpstream",
]

CLOSE_GOING_AWAY = 1001
_DEBUGGER: DomainKey = (None, "Debugger")
_NODE_WORKER: DomainKey = (None, "NodeWorker")
#: Commands that start something worth an audit line: a snapshot, sampling, tracking.
AUDITED = SNAPSHOT_METHODS | frozenset(STARTS)
#: Commands :meth:`Router._command` must look at; with ``X.enable`` and ``X.disable`` the
#: only ones that are not simply forwarded. Every other command (most of them) goes
#: straight to :meth:`Router._send_upstream` (docs/decisions.md D39).
_LOOKED_AT = AUDITED | frozenset(STOPS) | PAUSE_REQUESTS | {WORKER_SEND}
_TOGGLES = (".enable", ".disable")

#: Where the reply to one upstream command goes: the client that sent it (``None`` for the
#: proxy's own commands, whose replies are dropped) and the command as that client sent it.
#: A tuple, not a class: one is made for every command, and a tuple costs a hundredth.
_Route = tuple[ClientId | None, Command]


@attrs.define
class _Client:
    label: str
    policy: MethodPolicy
    pending: dict[int, int] = attrs.Factory(dict)  # client command id -> upstream id
    queued: set[int] = attrs.Factory(set)  # client ids of snapshot commands still queued
    enabled: set[DomainKey] = attrs.Factory(set)


def _domain(method: str) -> str:
    return method.partition(".")[0]


class Router:
    """The routing state of one upstream session shared by many clients."""

    def __init__(self) -> None:
        self._clients: dict[ClientId, _Client] = {}
        self._next_client: ClientId = 1
        self._malformed_from_clients = 0
        self._malformed_from_upstream = 0
        self._oversized_from_clients = 0
        self._peak_in_flight = 0
        self._snapshots_completed = 0
        self._fast_discarded_chunks = 0
        self._denied = 0
        self._reset_upstream(None)

    def _reset_upstream(self, protocol: CDPProtocol | None) -> None:
        self._protocol = protocol
        self._routes: dict[int, _Route] = {}
        self._domains = DomainTable()
        self._ownership = Ownership()
        self._workers = WorkerSessions()  # Node worker threads' sessions (_node_workers)
        self._snapshot_queue: deque[tuple[ClientId | None, Command]] = deque()
        self._in_flight: int | None = None
        #: Probes of cached scripts (upstream id -> script id), and the late clients'
        #: ``Debugger.enable`` held until they are answered (see :mod:`._replay`).
        self._probes: dict[int, str] = {}
        self._held_enables: list[tuple[ClientId, Command]] = []

    # -- clients -----------------------------------------------------------------------------

    def add_client(self, label: str, policy: MethodPolicy = ALLOW_ALL) -> ClientId:
        """Register a client; ``label`` (peer address, user agent) names it in errors;
        ``policy`` says which methods it may call and which events it hears."""
        client = self._next_client
        self._next_client += 1
        self._clients[client] = _Client(label, policy)
        return client

    def client_label(self, client: ClientId) -> str:
        return f"client #{client} ({self._clients[client].label})"

    def refusal(self, client: ClientId, method: str) -> str | None:
        """Why ``client``'s method policy refuses ``method`` (``None``: it allows it)."""
        policy = self._clients[client].policy
        if policy.allows(method):
            return None
        return f"not allowed by this client's method policy ({policy.describe()})"

    def client_message(self, client: ClientId, data: str | bytes) -> list[Action]:
        """One WebSocket message from ``client``."""
        state = self._clients.get(client)
        if state is None:
            return []
        if isinstance(data, bytes):
            return self._refuse(client, None, INVALID_REQUEST, "binary frames are not CDP")
        try:
            message = decode(data)
        except MalformedMessage as exc:
            return self._refuse(client, exc.id, exc.code, str(exc))
        if not isinstance(message, Command):
            if isinstance(message, Event):
                return self._refuse(client, None, INVALID_REQUEST, "message has no 'id'")
            return self._refuse(client, message.id, INVALID_REQUEST, "message is not a command")
        if message.id in state.pending or message.id in state.queued:
            return self._refuse(
                client, message.id, INVALID_REQUEST, f"id {message.id} is already pending"
            )
        method = message.method
        if not state.policy.allows(method):
            refusal = self.refusal(client, method)
            assert refusal is not None
            self._denied += 1
            return [Audit(client, "denied", method), *self._error(client, message, refusal)]
        if self._protocol is None:
            return self._error(client, message, "the target is not connected")
        if method not in _LOOKED_AT and not method.endswith(_TOGGLES):
            return [self._send_upstream(client, message, data)[1]]
        actions = self._command(client, state, message, data)
        if method in AUDITED:
            actions.insert(0, Audit(client, "start", method))
        return actions

    def client_message_too_large(
        self, client: ClientId, size: int, prefix: str, limit: int
    ) -> list[Action]:
        """A message of ``size`` bytes from ``client`` was over ``limit`` and dropped as it
        arrived; ``prefix`` is its beginning. It gets an error for the id read from there."""
        if client not in self._clients:
            return []
        self._oversized_from_clients += 1
        return [SendToClient(client, oversized_reply(prefix, size, limit))]

    def remove_client(self, client: ClientId, reason: str = "client left") -> list[Action]:
        """``client`` left (or is cut off, for ``reason``): forget everything about it
        (:class:`ForgetClient`) and undo what it started. A client already forgotten gets
        no actions, so the shell may call this whenever a connection ends."""
        state = self._clients.pop(client, None)
        if state is None:
            return []
        if self._protocol is None:
            return [ForgetClient(client, reason)]
        protocol = self._protocol
        for upstream_id in state.pending.values():
            self._routes.pop(upstream_id, None)
            protocol.abandon(upstream_id)  # late reply ignored, snapshot chunks discarded
        self._snapshot_queue = deque(e for e in self._snapshot_queue if e[0] != client)
        self._held_enables = [e for e in self._held_enables if e[0] != client]
        actions: list[Action] = [ForgetClient(client, reason)]
        undo = self._ownership.release(
            client,
            paused=self._domains.replay.paused,
            last_debugger=self._domains.is_only_enabler(client, _DEBUGGER),
        )
        for method, params in undo:
            actions += self._internal(method, **params)
        for session, message in self._workers.release(client):
            actions += self._internal(WORKER_SEND, sessionId=session, message=message)
        for key in self._domains.release(client, state.enabled):
            actions += self._disabled_upstream(key)
        return actions + self._pump_snapshots()

    # -- upstream ----------------------------------------------------------------------------

    def upstream_opened(self) -> list[Action]:
        """A new upstream session is open: enable HeapProfiler for the proxy's whole life."""
        self._reset_upstream(CDPProtocol())
        return self._internal(f"{KEPT_ENABLED}.enable")

    def upstream_lost(self, reason: str) -> list[Action]:
        """The upstream session is gone: detach and close every client, reset all state."""
        if self._protocol is not None:
            self._protocol.connection_lost(ConnectionClosed(reason))
        close_reason = f"target detached: {reason}"
        actions: list[Action] = []
        for client in self._clients:
            actions += self._detach(client, reason, close_reason)
            actions.append(ForgetClient(client, close_reason))
        self._clients.clear()
        self._reset_upstream(None)
        return actions

    def shut_down(self, reason: str) -> list[Action]:
        """The proxy is stopping: tell every client (``Inspector.detached``), close it with
        ``reason`` (code 1001) and undo what it started, as if it had left. The upstream
        session stays open until the shell closes it, so the undoing reaches the target."""
        actions: list[Action] = []
        for client in list(self._clients):
            actions += self._detach(client, reason, reason)
            actions += self.remove_client(client, reason)
        return actions

    def _detach(self, client: ClientId, reason: str, close_reason: str) -> list[Action]:
        actions: list[Action] = []
        if self._clients[client].policy.allows_event("Inspector.detached"):
            detached = encode(Event("Inspector.detached", {"reason": reason}))
            actions.append(SendToClient(client, detached))
        actions.append(CloseClient(client, CLOSE_GOING_AWAY, close_reason))
        return actions

    @property
    def upstream_connected(self) -> bool:
        return self._protocol is not None

    def upstream_message(self, text: str | bytes) -> list[Action]:
        """One WebSocket message from the upstream target."""
        if self._protocol is None:
            return []
        if isinstance(text, str) and self._in_flight is not None and is_plain_chunk(text):
            # Fast path for the bulk of a snapshot: no JSON decoding of ~100 KiB-1 MiB chunks.
            # Single flight makes the in-flight command the owner of every top-level chunk.
            route = self._routes.get(self._in_flight)
            if route is None or route[0] is None:
                self._fast_discarded_chunks += 1
                return []
            return [SendToClient(route[0], text)]
        if isinstance(text, str) and (match := PLAIN_REPLY.match(text)) is not None:
            actions = self._plain_reply(text, int(match.group(1)), match.end(1))
            if actions is not None:
                return actions
        try:
            item = self._protocol.receive(text)
        except MalformedMessage:
            self._malformed_from_upstream += 1
            return []
        if isinstance(item, ReplyReceived):
            return self._reply(item.command, item.reply)
        if isinstance(item, SnapshotChunkReceived | SnapshotProgressReceived):
            route = self._routes.get(item.command_id)
            if route is None or route[0] is None:
                return []
            return [SendToClient(route[0], text if isinstance(text, str) else text.decode())]
        if isinstance(item, EventReceived):
            return self._event(item.event, text if isinstance(text, str) else text.decode())
        if isinstance(item, SessionDetached):
            return self._detached(item)
        if isinstance(item, Ignored) and item.kind == "stale_reply" and item.id == self._in_flight:
            self._snapshot_done()  # the drained snapshot of a departed client ended
            return self._pump_snapshots()
        return []

    # -- statistics --------------------------------------------------------------------------

    def statistics(self) -> RouterStatistics:
        queued = len(self._snapshot_queue)
        return RouterStatistics(
            clients=len(self._clients),
            pending_commands=len(self._routes),
            snapshots_in_flight=int(self._in_flight is not None),
            snapshots_queued=queued,
            peak_snapshots_in_flight=self._peak_in_flight,
            snapshots_completed=self._snapshots_completed,
            enabled_domains=self._domains.names(),
            owners=self._ownership.owners(),
            replay_cache_entries=len(self._domains.replay),
            replay_cache_scripts=self._domains.replay.scripts,
            replay_cache_script_limit=MAX_SCRIPTS,
            script_probes_in_flight=len(self._probes),
            upstream_connected=self._protocol is not None,
            malformed_from_clients=self._malformed_from_clients,
            malformed_from_upstream=self._malformed_from_upstream,
            oversized_from_clients=self._oversized_from_clients,
            denied_by_policy=self._denied,
            discarded_chunks=self._fast_discarded_chunks
            + (0 if self._protocol is None else self._protocol.statistics().discarded_chunks),
            upstream=None if self._protocol is None else self._protocol.statistics(),
        )

    # -- commands ----------------------------------------------------------------------------

    def _command(
        self, client: ClientId, state: _Client, command: Command, text: str | None = None
    ) -> list[Action]:
        """``client``'s ``command`` (``text``: as it sent it, when it is to be forwarded as
        it is)."""
        method = command.method
        domain, _, name = method.partition(".")
        conflict = self._ownership.record(client, method)
        if conflict is not None:
            what, owner = conflict
            return self._error(
                client,
                command,
                f"{what}: it was started by {self.client_label(owner)}, "
                "which owns it until it stops it or disconnects",
            )
        if method in SNAPSHOT_METHODS:
            state.queued.add(command.id)
            self._snapshot_queue.append((client, command))
            return self._pump_snapshots()
        if method == WORKER_SEND:
            rewritten = self._workers.outgoing(client, command)
            if isinstance(rewritten, Command):
                return self._forward(client, rewritten)
            if isinstance(rewritten, Refusal):
                return self._error(client, command, rewritten.message)
            ack = self._reply_to(client, Response(command.id, {}, command.session_id))
            return [ack, SendToClient(client, rewritten.inner_reply)]
        key: DomainKey = (command.session_id, domain)
        if name == "enable":
            if key == _DEBUGGER and self._domains.is_late(client, key):
                # Replay only the scripts V8 still has: probe the cache first.
                state.queued.add(command.id)
                self._held_enables.append((client, command))
                probes = self._probe_scripts()
                return probes if self._probes else self._release_enables()
            return self._enable(client, state, command, key)
        if name == "disable":
            state.enabled.discard(key)
            if self._domains.disable(client, key):
                self._disabled(key)
                return self._forward(client, command, text)
            return [self._reply_to(client, Response(command.id, {}, command.session_id))]
        return self._forward(client, command, text)

    def _enable(
        self, client: ClientId, state: _Client, command: Command, key: DomainKey
    ) -> list[Action]:
        state.enabled.add(key)
        replay = self._domains.enable(client, key)
        if key == _NODE_WORKER and not self._domains.is_only_enabler(client, key):
            replay += self._workers.replay()  # the workers attached before it came
        return [SendToClient(client, t) for t in replay] + self._forward(client, command)

    def _probe_scripts(self) -> list[Action]:
        """Ask V8 which cached scripts it still has (the answers drop the collected)."""
        return self._send_probes(self._domains.replay.start_probe())

    def _send_probes(self, script_ids: list[str]) -> list[Action]:
        actions: list[Action] = []
        for script_id in script_ids:
            probe = Command(0, PROBE_METHOD, probe_params(script_id))
            upstream_id, action = self._send_upstream(None, probe)
            self._probes[upstream_id] = script_id
            actions.append(action)
        return actions

    def _release_enables(self) -> list[Action]:
        """The probes are answered: the held ``Debugger.enable``s get their replay."""
        actions: list[Action] = []
        held, self._held_enables = self._held_enables, []
        for client, command in held:
            state = self._clients[client]
            state.queued.discard(command.id)
            actions += self._enable(client, state, command, _DEBUGGER)
        return actions

    def _disabled_upstream(self, key: DomainKey) -> list[Action]:
        """Disable ``key`` upstream: its last enabler left."""
        self._disabled(key)
        return self._internal(f"{key[1]}.disable", session_id=key[0])

    def _disabled(self, key: DomainKey) -> None:
        if key == _DEBUGGER:
            self._ownership.debugger_disabled()
        elif key == _NODE_WORKER:
            self._workers.disabled()

    def _forward(
        self, client: ClientId | None, command: Command, text: str | None = None
    ) -> list[Action]:
        return [self._send_upstream(client, command, text)[1]]

    def _send_upstream(
        self, client: ClientId | None, command: Command, text: str | None = None
    ) -> tuple[int, SendUpstream]:
        """Send ``command`` upstream under a fresh id; ``text``, the client's own text of
        it, is sent with only the id changed where that can be done without parsing."""
        assert self._protocol is not None
        upstream = self._protocol.send_command(command.method, command.params, command.session_id)
        self._routes[upstream.id] = (client, command)
        if client is not None:
            self._clients[client].pending[command.id] = upstream.id
        spliced = None if text is None else with_id(text, command.id, upstream.id)
        return upstream.id, SendUpstream(encode(upstream) if spliced is None else spliced)

    def _internal(self, method: str, session_id: str | None = None, **params: Any) -> list[Action]:
        """A command of the proxy's own; its reply is dropped."""
        command = Command(0, method, params, session_id)
        if method in SNAPSHOT_METHODS:
            self._snapshot_queue.append((None, command))
            return []  # the caller pumps the queue
        return self._forward(None, command)

    # -- snapshots ---------------------------------------------------------------------------

    def _pump_snapshots(self) -> list[Action]:
        """Send the next queued snapshot command if none is in flight."""
        if self._in_flight is not None or not self._snapshot_queue or self._protocol is None:
            return []
        client, command = self._snapshot_queue.popleft()
        if client is not None:
            self._clients[client].queued.discard(command.id)
        self._in_flight, action = self._send_upstream(client, command)
        # Counted by the protocol layer, independently of ``_in_flight``: a check, not an echo.
        in_flight = self._protocol.statistics().snapshots_in_flight
        self._peak_in_flight = max(self._peak_in_flight, in_flight)
        return [action]

    def _snapshot_done(self) -> None:
        self._in_flight = None
        self._snapshots_completed += 1

    # -- replies and events ------------------------------------------------------------------

    def _plain_reply(self, text: str, upstream_id: int, id_end: int) -> list[Action] | None:
        """A client's successful reply, re-addressed without decoding it; ``None`` when the
        proxy itself needs what it says (its own commands, a snapshot's end, a breakpoint):
        then :meth:`_reply` takes it, decoded. What this skips of :meth:`_reply` is what
        only such replies, or failed ones, need."""
        route = self._routes.get(upstream_id)
        if route is None or upstream_id == self._in_flight:
            return None
        client, command = route
        if client is None or command.method in BREAKPOINT_SETTERS:
            return None
        state = self._clients.get(client)
        if state is None:
            return None
        assert self._protocol is not None
        self._protocol.take_pending(upstream_id)
        del self._routes[upstream_id]
        del state.pending[command.id]
        return [SendToClient(client, f'{{"id":{command.id}{text[id_end:]}')]

    def _reply(self, command: Command, reply: Response | ErrorResponse) -> list[Action]:
        """``reply`` to ``command`` goes to the client that sent it, with its own id."""
        route = self._routes.pop(command.id, None)
        actions: list[Action] = []
        script_id = self._probes.pop(command.id, None)
        if script_id is not None:
            actions += self._send_probes(self._domains.replay.probe_answered(script_id, reply))
            if not self._probes:
                actions += self._release_enables()
        if command.id == self._in_flight:
            self._snapshot_done()
            actions += self._pump_snapshots()
        if route is None:
            return actions
        client, sent = route
        state = None if client is None else self._clients.get(client)
        if client is None or state is None:
            return actions
        state.pending.pop(sent.id, None)
        self._ownership.replied(client, sent.method, reply)
        client_reply: Response | ErrorResponse
        if isinstance(reply, Response):
            client_reply = Response(sent.id, reply.result, reply.session_id)
        else:
            client_reply = ErrorResponse(
                sent.id, reply.code, reply.message, reply.data, reply.session_id
            )
        return [SendToClient(client, encode(client_reply)), *actions]

    def _event(self, event: Event, text: str) -> list[Action]:
        if event.method == WORKER_RECEIVED:
            routed = self._workers.incoming(event, text)
            actions: list[Action] = [SendToClient(c, t) for c, t in routed if c in self._clients]
            for session, message in self._workers.take_undo():
                actions += self._internal(WORKER_SEND, sessionId=session, message=message)
            return actions
        if event.method.startswith("NodeWorker."):
            self._workers.observe(event, text)
        self._domains.observe(event, text)
        self._ownership.observe(event)
        if self._domains.replay.needs_probe():
            return self._probe_scripts() + self._event_to_clients(event, text)
        return self._event_to_clients(event, text)

    def _event_to_clients(self, event: Event, text: str) -> list[Action]:
        tracker = self._ownership.tracking_owner()
        if event.method in TRACKING_EVENTS and tracker is not None:
            return [SendToClient(tracker, text)]
        key: DomainKey = (event.session_id, _domain(event.method))
        receivers = self._domains.receivers(key, self._clients)
        return self._deliver(receivers, event.method, text)

    def _deliver(self, clients: Iterable[ClientId], method: str, text: str) -> list[Action]:
        """``text`` (an event) to those of ``clients`` whose policy lets them hear it."""
        return [
            SendToClient(client, text)
            for client in clients
            if self._clients[client].policy.allows_event(method)
        ]

    def _detached(self, item: SessionDetached) -> list[Action]:
        if item.session_id is None:
            actions: list[Action] = [CloseUpstream(item.reason)]
            return actions + self.upstream_lost(item.reason)
        actions = []
        for command in item.failed:
            client, sent = self._routes.pop(command.id, (None, command))
            if client is not None and client in self._clients:
                self._clients[client].pending.pop(sent.id, None)
                error = ErrorResponse(sent.id, SERVER_ERROR, f"session detached: {item.reason}")
                actions.append(self._reply_to(client, error))
            if command.id == self._in_flight:
                self._snapshot_done()
        for key, enablers in self._domains.drop_session(item.session_id):
            for client in enablers:
                self._clients[client].enabled.discard(key)
        text = encode(item.event)
        delivered = self._deliver(self._clients, item.event.method, text)
        return actions + delivered + self._pump_snapshots()

    # -- errors ------------------------------------------------------------------------------

    def _reply_to(self, client: ClientId, reply: Response | ErrorResponse) -> SendToClient:
        return SendToClient(client, encode(reply))

    def _error(self, client: ClientId, command: Command, message: str) -> list[Action]:
        error = ErrorResponse(command.id, SERVER_ERROR, f"{command.method}: {message}")
        return [SendToClient(client, encode(error))]

    def _refuse(
        self, client: ClientId, msg_id: int | None, code: int, message: str
    ) -> list[Action]:
        self._malformed_from_clients += 1
        return [SendToClient(client, encode(ErrorResponse(msg_id, code, message)))]
