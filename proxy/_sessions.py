"""Many clients on one upstream *browser* connection, each in sessions of its own. No I/O.

In front of Chrome the proxy holds one WebSocket to the browser endpoint and gives every
client a *home* session on it: ``Target.attachToBrowserTarget`` for a client of the proxy's
browser endpoint (Puppeteer, Playwright), ``Target.attachToTarget {flatten: true}`` for a
client of a page endpoint (DevTools, ``cdp-heap``). What the client sends at its top level
goes out in its home session; what comes back in that session reaches it with the
``sessionId`` removed. Chrome keeps sessions apart itself (ids, enabled domains,
auto-attach, discovery are all per session), so the proxy's work is ownership:

- every session has one owner: the client whose home it is, or in whose session Chrome
  announced it (``Target.attachedToTarget``, from the client's ``attachToTarget`` or its
  auto-attach); its messages go to the owner only, and a client may send only in its home
  and in sessions it owns (the others get an error, as for an unknown session);
- the method policy applies in every session; ``Target.createTarget``,
  ``Target.closeTarget`` and ``Browser.close`` need a pattern other than ``*`` naming them
  (:func:`reserved_allowed`);
- ``HeapProfiler.takeHeapSnapshot`` / ``stopTrackingHeapObjects`` run one at a time *per
  target*, whichever client and session they come from; ``HeapProfiler.disable`` is
  answered by the proxy (V8 forgets every heap object id of the target on a disable);
- a client that leaves: the sessions it owns are detached (children first), the targets and
  browser contexts it created are closed, its home is detached (which ends its auto-attach
  and discovery), its queued snapshots are dropped.

The state lives in :class:`BrowserHub`, which has the same shape as :class:`cdp_heap_proxy.Router`
(``client_message``/``upstream_message`` in, :data:`~cdp_heap_proxy._actions.Action` lists out), so
the trio shell drives either.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

import attrs

from cdp_heap._protocol import SNAPSHOT_METHODS
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
    ForgetClient,
    SendToClient,
    SendUpstream,
)
from ._flat import leading, session_of, strip_session
from ._gate import SnapshotGates
from ._oversized import oversized_reply
from ._policy import ALLOW_ALL, MethodPolicy

__all__ = ["RESERVED", "BrowserHub", "BrowserStatistics", "reserved_allowed"]

#: Refused unless a client's policy names them with a pattern other than ``*``.
RESERVED = frozenset({"Target.createTarget", "Target.closeTarget", "Browser.close"})
CLOSE_GOING_AWAY = 1001
CLOSE_NO_TARGET = 1011
#: Replies that teach the hub something: what the client created or attached.
_WATCHED = frozenset(
    {"Target.createTarget", "Target.createBrowserContext", "Target.attachToTarget"}
)
_ATTACHED = "Target.attachedToTarget"
_DETACHED = "Target.detachedFromTarget"
_SMALL = 64 * 1024


def reserved_allowed(policy: MethodPolicy, method: str) -> bool:
    """Whether ``policy`` names ``method`` explicitly (``*`` alone grants all else)."""
    return any(p != "*" and fnmatchcase(method, p) for p in policy.patterns)


@attrs.frozen
class BrowserStatistics:
    clients: int
    #: Sessions the clients own, their homes included.
    sessions: int
    sessions_by_client: tuple[tuple[ClientId, int], ...]
    created_targets: int
    created_contexts: int
    snapshots_in_flight: int
    snapshots_queued: int
    snapshots_completed: int
    #: Upstream messages of sessions no client owns (a departed client's late replies).
    dropped: int
    denied_by_policy: int
    malformed_from_clients: int
    upstream_connected: bool


@attrs.define
class _Client:
    label: str
    policy: MethodPolicy
    target: str | None = None  # the page of a page-endpoint client; None: the browser
    home: str | None = None
    waiting: list[str] = attrs.Factory(list)  # messages sent before the home was attached
    sessions: dict[str, str] = attrs.Factory(dict)  # owned session -> its parent session
    created_targets: set[str] = attrs.Factory(set)
    created_contexts: set[str] = attrs.Factory(set)
    #: (session, id) -> (method, its targetId param) of commands whose replies teach something
    watched: dict[tuple[str, int], tuple[str, Any]] = attrs.Factory(dict)


class BrowserHub:
    """The session routing state of one upstream browser connection."""

    def __init__(self) -> None:
        self._clients: dict[ClientId, _Client] = {}
        self._next_client: ClientId = 1
        self._snapshots_completed = 0  # across upstream sessions
        self._dropped = 0
        self._denied = 0
        self._malformed = 0
        self._gates = SnapshotGates()
        self._reset(connected=False)

    def _reset(self, *, connected: bool) -> None:
        self._snapshots_completed += self._gates.completed
        self._connected = connected
        self._next_id = 1
        #: root command id -> the client being attached (None: it left meanwhile)
        self._homing: dict[int, ClientId | None] = {}
        self._owner: dict[str, ClientId] = {}  # session -> owner
        self._target_of: dict[str, str] = {}  # session -> its target id
        self._orphans: set[str] = set()  # sessions being detached after their owner left
        self._gates = SnapshotGates()

    # -- clients -----------------------------------------------------------------------------

    def add_client(self, label: str, policy: MethodPolicy = ALLOW_ALL) -> ClientId:
        client = self._next_client
        self._next_client += 1
        self._clients[client] = _Client(label, policy)
        return client

    def attach(self, client: ClientId, target: str | None) -> list[Action]:
        """Give ``client`` its home: the page ``target``, or the browser (``None``)."""
        state = self._clients[client]
        state.target = target
        if target is None:
            command, params = "Target.attachToBrowserTarget", {}
        else:
            command, params = "Target.attachToTarget", {"targetId": target, "flatten": True}
        self._homing[self._next_id] = client
        return [self._root(command, **params)]

    def has_client(self, client: ClientId) -> bool:
        return client in self._clients

    def client_label(self, client: ClientId) -> str:
        return f"client #{client} ({self._clients[client].label})"

    def refusal(self, client: ClientId, method: str) -> str | None:
        """Why ``client``'s policy refuses ``method`` (``None``: it allows it)."""
        policy = self._clients[client].policy
        if method in RESERVED and reserved_allowed(policy, method):
            return None
        if method in RESERVED and policy.allows(method):
            return f"needs an explicit --allow-methods pattern ({', '.join(sorted(RESERVED))})"
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
            msg_id = getattr(message, "id", None)
            what = "has no 'id'" if msg_id is None else "is not a command"
            return self._refuse(client, msg_id, INVALID_REQUEST, f"message {what}")
        if state.home is None:
            state.waiting.append(data)
            return []
        return self._command(client, state, message)

    def client_message_too_large(
        self, client: ClientId, size: int, prefix: str, limit: int
    ) -> list[Action]:
        """A message over ``limit`` was dropped as it arrived (``prefix``: its beginning):
        an error for the id read from there, as :class:`cdp_heap_proxy.Router` answers."""
        if client not in self._clients:
            return []
        self._malformed += 1
        return [SendToClient(client, oversized_reply(prefix, size, limit))]

    def remove_client(self, client: ClientId, reason: str = "client left") -> list[Action]:
        """``client`` left (or is cut off, for ``reason``): forget it
        (:class:`~cdp_heap_proxy._actions.ForgetClient`), detach its sessions, close what it
        created, detach its home. A client already forgotten gets no actions."""
        state = self._clients.pop(client, None)
        if state is None:
            return []
        for command_id, homed in self._homing.items():
            if homed == client:  # left before its home was attached: detach it on arrival
                self._homing[command_id] = None
        actions: list[Action] = [ForgetClient(client, reason)]
        if not self._connected:
            return actions
        for session, parent in reversed(list(state.sessions.items())):
            actions.append(self._in(parent, "Target.detachFromTarget", sessionId=session))
        for target in sorted(state.created_targets):
            actions.append(self._root("Target.closeTarget", targetId=target))
        for context in sorted(state.created_contexts):
            actions.append(self._root("Target.disposeBrowserContext", browserContextId=context))
        if state.home is not None:
            actions.append(self._root("Target.detachFromTarget", sessionId=state.home))
        for session in [*state.sessions, *([state.home] if state.home else [])]:
            self._owner.pop(session, None)
            self._orphans.add(session)
            actions += self._session_gone(session)
        self._gates.drop_client(client)
        return actions

    # -- upstream ----------------------------------------------------------------------------

    @property
    def upstream_connected(self) -> bool:
        return self._connected

    def upstream_opened(self) -> list[Action]:
        self._reset(connected=True)
        return []

    def upstream_lost(self, reason: str) -> list[Action]:
        """The browser connection is gone: detach and close every client."""
        actions: list[Action] = []
        close_reason = f"browser detached: {reason}"
        for client in self._clients:
            actions += self._detach(client, reason, close_reason)
            actions.append(ForgetClient(client, close_reason))
        self._clients.clear()
        self._reset(connected=False)
        return actions

    def shut_down(self, reason: str) -> list[Action]:
        actions: list[Action] = []
        for client in list(self._clients):
            actions += self._detach(client, reason, reason)
            actions += self.remove_client(client, reason)
        return actions

    def upstream_message(self, data: str | bytes) -> list[Action]:
        """One WebSocket message from the browser."""
        if not self._connected:
            return []
        text = data if isinstance(data, str) else data.decode()
        session = session_of(text)
        if session is None:
            return self._root_message(text)
        owner = self._owner.get(session)
        if owner is None:
            if session in self._orphans:
                self._observe_orphan(session, text)
            else:
                self._dropped += 1
            return []
        state = self._clients[owner]
        follow = self._observe(owner, state, session, text)
        if "*" not in state.policy.patterns:
            _, method = leading(text)
            if method is not None and not state.policy.allows_event(method):
                return follow
        if session == state.home:
            text = strip_session(text, session)
        return [SendToClient(owner, text), *follow]

    # -- statistics --------------------------------------------------------------------------

    def statistics(self) -> BrowserStatistics:
        by_client = tuple(
            (c, len(s.sessions) + (s.home is not None)) for c, s in self._clients.items()
        )
        return BrowserStatistics(
            clients=len(self._clients),
            sessions=sum(n for _, n in by_client),
            sessions_by_client=by_client,
            created_targets=sum(len(s.created_targets) for s in self._clients.values()),
            created_contexts=sum(len(s.created_contexts) for s in self._clients.values()),
            snapshots_in_flight=self._gates.in_flight,
            snapshots_queued=self._gates.queued,
            snapshots_completed=self._snapshots_completed + self._gates.completed,
            dropped=self._dropped,
            denied_by_policy=self._denied,
            malformed_from_clients=self._malformed,
            upstream_connected=self._connected,
        )

    # -- commands ----------------------------------------------------------------------------

    def _command(self, client: ClientId, state: _Client, command: Command) -> list[Action]:
        method = command.method
        session = state.home if command.session_id is None else command.session_id
        assert session is not None
        if session != state.home and session not in state.sessions:
            return self._error(client, command, f"no session {session!r} of this client")
        refusal = self.refusal(client, method)
        if refusal is not None:
            self._denied += 1
            return [Audit(client, "denied", method), *self._error(client, command, refusal)]
        if method == "HeapProfiler.disable":
            # Kept enabled: V8 clears the target's heap object ids on any disable.
            return [SendToClient(client, encode(Response(command.id, {}, command.session_id)))]
        if method in _WATCHED:
            state.watched[(session, command.id)] = (method, command.params.get("targetId"))
        upstream = encode(Command(command.id, method, command.params, session))
        if method in SNAPSHOT_METHODS:
            key = self._target_of.get(session, session)
            return [
                Audit(client, "start", method),
                *self._gates.submit(key, client, session, command.id, upstream),
            ]
        return [SendUpstream(upstream)]

    def _root(self, method: str, **params: Any) -> SendUpstream:
        """A command of the hub's own on the root session; its reply is read or dropped."""
        command_id = self._next_id
        self._next_id += 1
        return SendUpstream(encode(Command(command_id, method, params)))

    def _in(self, session: str, method: str, **params: Any) -> SendUpstream:
        """A command of the hub's own in ``session`` (its reply is dropped)."""
        command_id = self._next_id
        self._next_id += 1
        return SendUpstream(encode(Command(command_id, method, params, session)))

    def _session_gone(self, session: str) -> list[Action]:
        """``session`` is detached: forget its target; its snapshot ends (:mod:`._gate`)."""
        self._target_of.pop(session, None)
        return self._gates.session_gone(session)

    # -- what the upstream says --------------------------------------------------------------

    def _observe(self, client: ClientId, state: _Client, session: str, text: str) -> list[Action]:
        """Learn from a message in ``client``'s ``session``: new and gone child sessions,
        what its commands created, the end of a snapshot."""
        reply_id, method = leading(text)
        if reply_id is None and method is None and len(text) <= _SMALL:
            message = _decode(text)
            if isinstance(message, Response | ErrorResponse):
                reply_id = message.id
            elif isinstance(message, Event):
                method = message.method
        if method in (_ATTACHED, _DETACHED):
            return self._session_event(client, state, session, text)
        if reply_id is None:
            return []
        key = self._target_of.get(session, session)
        actions = self._gates.replied(key, client, session, reply_id)
        watched = state.watched.pop((session, reply_id), None)
        if watched is not None:
            reply = _decode(text)
            if isinstance(reply, Response):
                self._learn(state, session, *watched, reply.result)
        return actions

    def _learn(self, state: _Client, session: str, method: str, target: Any, result: Any) -> None:
        if method == "Target.createTarget" and isinstance(result.get("targetId"), str):
            state.created_targets.add(result["targetId"])
        elif method == "Target.createBrowserContext":
            if isinstance(result.get("browserContextId"), str):
                state.created_contexts.add(result["browserContextId"])
        elif method == "Target.attachToTarget" and isinstance(result.get("sessionId"), str):
            self._own(
                state, result["sessionId"], session, target if isinstance(target, str) else None
            )

    def _own(self, state: _Client, session: str, parent: str, target: str | None) -> None:
        owner = self._owner.get(parent)
        if owner is None:
            return
        state.sessions.setdefault(session, parent)
        self._owner[session] = owner
        if target is not None:
            self._target_of[session] = target

    def _session_event(
        self, client: ClientId, state: _Client, session: str, text: str
    ) -> list[Action]:
        event = _decode(text)
        if not isinstance(event, Event):
            return []
        child = event.params.get("sessionId")
        if not isinstance(child, str):
            return []
        if event.method == _ATTACHED:
            info = event.params.get("targetInfo") or {}
            target = info.get("targetId") if isinstance(info, dict) else None
            self._own(state, child, session, target if isinstance(target, str) else None)
            return []
        if state.sessions.pop(child, None) is None:
            return []
        self._owner.pop(child, None)
        # Its own children went with it.
        for grandchild in [s for s, p in state.sessions.items() if p == child]:
            state.sessions.pop(grandchild)
            self._owner.pop(grandchild, None)
        return self._session_gone(child)

    def _observe_orphan(self, session: str, text: str) -> None:
        _, method = leading(text)
        if method == _DETACHED:
            event = _decode(text)
            if isinstance(event, Event):
                self._orphans.discard(str(event.params.get("sessionId")))

    def _root_message(self, text: str) -> list[Action]:
        message = _decode(text)
        if isinstance(message, Response | ErrorResponse) and message.id in self._homing:
            client = self._homing.pop(message.id)
            if client is not None:
                return self._homed(client, message)
            session = message.result.get("sessionId") if isinstance(message, Response) else None
            if isinstance(session, str):
                return [self._root("Target.detachFromTarget", sessionId=session)]
            return []
        if isinstance(message, Event) and message.method == _DETACHED:
            session = message.params.get("sessionId")
            if not isinstance(session, str):
                return []
            self._orphans.discard(session)
            owner = self._owner.get(session)
            if owner is None or self._clients[owner].home != session:
                return []
            # The page of a page-endpoint client closed (or crashed): as when Node exits.
            reason = str(message.params.get("reason") or "target closed")
            close_reason = f"target detached: {reason}"
            actions = self._detach(owner, reason, close_reason)
            actions.append(ForgetClient(owner, close_reason))
            state = self._clients.pop(owner)
            for child in [*state.sessions, session]:
                self._owner.pop(child, None)
                actions += self._session_gone(child)
            return actions
        return []

    def _homed(self, client: ClientId, reply: Response | ErrorResponse) -> list[Action]:
        state = self._clients.get(client)
        if state is None:
            return []
        if isinstance(reply, ErrorResponse) or not isinstance(reply.result.get("sessionId"), str):
            what = "the browser" if state.target is None else f"target {state.target}"
            message = reply.message if isinstance(reply, ErrorResponse) else "no sessionId"
            del self._clients[client]
            why = f"cannot attach to {what}: {message}"
            return [CloseClient(client, CLOSE_NO_TARGET, why), ForgetClient(client, why)]
        home = reply.result["sessionId"]
        state.home = home
        self._owner[home] = client
        if state.target is not None:
            self._target_of[home] = state.target
        actions: list[Action] = []
        for text in state.waiting:
            actions += self.client_message(client, text)
        state.waiting.clear()
        return actions

    # -- errors ------------------------------------------------------------------------------

    def _detach(self, client: ClientId, reason: str, close_reason: str) -> list[Action]:
        actions: list[Action] = []
        if self._clients[client].policy.allows_event("Inspector.detached"):
            detached = encode(Event("Inspector.detached", {"reason": reason}))
            actions.append(SendToClient(client, detached))
        actions.append(CloseClient(client, CLOSE_GOING_AWAY, close_reason))
        return actions

    def _error(self, client: ClientId, command: Command, message: str) -> list[Action]:
        error = ErrorResponse(
            command.id, SERVER_ERROR, f"{command.method}: {message}", None, command.session_id
        )
        return [SendToClient(client, encode(error))]

    def _refuse(
        self, client: ClientId, msg_id: int | None, code: int, message: str
    ) -> list[Action]:
        self._malformed += 1
        return [SendToClient(client, encode(ErrorResponse(msg_id, code, message)))]


def _decode(text: str) -> Any:
    try:
        return decode(text)
    except MalformedMessage:
        return None
