"""The proxy's trio shell: one port for HTTP discovery and WebSocket clients, one upstream.

``serve_proxy`` listens; each connection is wrapped in TLS if configured, its request head is
read with h11 (:mod:`cdp_heap_proxy._http`) and admitted or refused by the
:class:`~cdp_heap_proxy._security.Guard` (Host, Origin, token); plain requests get the
discovery documents (or a streamed snapshot, :mod:`cdp_heap_proxy._snapshot_endpoint`),
WebSocket upgrades become a :class:`~cdp_heap_proxy._websocket.ServerWebSocket`. Every message
and every connect/disconnect goes through the :class:`~cdp_heap_proxy._router.Router`, whose
actions are performed by :meth:`Proxy._perform` without ever waiting: a message for a client
is written into its socket at once (what the socket does not take waits in its bounded
:mod:`outbox <cdp_heap_proxy._outbox>`), a command for the target into the upstream socket,
by whichever task routed it.
"""

from __future__ import annotations

import logging
import ssl
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, assert_never

import attrs
import trio

from cdp_heap._limits import DEFAULT_MAX_MESSAGE_SIZE, MiB

from ._audit import AuditSink, audit_line
from ._http import (
    HTTPError,
    RequestHead,
    error_response,
    fetch_json,
    json_response,
    read_request_head,
)
from ._lane import SPIN, Lane, open_lane
from ._outbox import (
    CLOSE_NORMAL,
    DEFAULT_LIMIT_BYTES,
    ClientConn,
    ClientOutbox,
    FrameOutbox,
    Outbox,
)
from ._router import (
    Action,
    Audit,
    ClientId,
    CloseClient,
    CloseUpstream,
    ForgetClient,
    Router,
    SendToClient,
    SendUpstream,
)
from ._security import Guard, Refused, Role, is_loopback
from ._sessions import BrowserHub
from ._snapshot_endpoint import serve_snapshot
from ._sockets import transport_for
from ._target_list import find_browser, parse_endpoint, rewrite_list, rewrite_version
from ._targets import UpstreamSpec, find_target, rewrite_entry
from ._upstream import UpstreamLink
from ._websocket import Oversized, ServerHandshake, WebSocket, WebSocketClosed

log = logging.getLogger(__name__)

HEAD_TIMEOUT = 10.0
CLOSE_GRACE = 2.0
#: The default limit of one client-to-proxy message. Commands are small (an evaluate of a
#: large bundle is a few MB); what is large flows the other way (snapshot chunks, profiles,
#: limited by ``max_message_size``). The proxy holds a client's message a few times over
#: while routing it, so this limit sets its memory per client.
DEFAULT_MAX_CLIENT_MESSAGE_SIZE = 8 * MiB
#: What clients are told when the proxy stops (close reason and ``Inspector.detached``).
SHUTDOWN_REASON = "cdp-heap proxy is shutting down"


class InsecureListen(ValueError):
    """Listening beyond loopback without a token: anyone reaching the port could run code."""


@attrs.frozen
class ProxyConfig:
    upstream: UpstreamSpec
    listen_host: str = "127.0.0.1"
    listen_port: int = 9230
    #: The largest message accepted from the target (snapshot chunks, profiles).
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    #: The largest message accepted from a client; a larger one gets a CDP error.
    max_client_message_size: int = DEFAULT_MAX_CLIENT_MESSAGE_SIZE
    client_queue_bytes: int = DEFAULT_LIMIT_BYTES
    retry_interval: float = 0.2
    #: Tokens and their roles, allowed Host names and Origins. Default: no token, loopback.
    guard: Guard | None = None
    #: Serve https/wss with this (server-side) context.
    tls: ssl.SSLContext | None = None
    #: Where audit lines go (``None``: nowhere).
    audit: AuditSink | None = None
    #: Serve the upstream's whole browser (``cdp_heap_proxy._target_list.probe_upstream``): every
    #: target, the browser endpoint, a session per client (``cdp_heap_proxy._sessions``).
    browser: bool = False
    #: How long to poll for the next message before sleeping, while messages come close
    #: together (seconds; 0: never; ``cdp_heap_proxy._lane.SPIN``).
    spin: float = SPIN

    def effective_guard(self) -> Guard:
        return self.guard or Guard(listen_host=self.listen_host)


class Proxy:
    """A running proxy; ``serve_proxy`` hands it to ``task_status.started``."""

    def __init__(self, config: ProxyConfig, lane: Lane | None = None) -> None:
        self.config = config
        #: Reads the plain TCP connections' sockets and routes what they bring, outside
        #: trio's run loop (cdp_heap_proxy._lane); ``None``: each connection's task does.
        self.lane = lane
        self.id = str(uuid.uuid4())
        self.port = config.listen_port
        #: The routing state of one target's session (idle in front of a whole browser:
        #: route every message through ``self._routing``, which is the one in use).
        self.router = Router()
        #: In front of a whole browser: every client's sessions (``ProxyConfig.browser``).
        self.hub = BrowserHub() if config.browser else None
        self._routing: Router | BrowserHub = self.hub or self.router
        find = find_browser if config.browser else find_target
        self.upstream = UpstreamLink(config.upstream, config.max_message_size, find, lane)
        self.guard = config.effective_guard()
        #: The clients the router routes to: added with the router's, dropped only when the
        #: router says so (:class:`~cdp_heap_proxy._actions.ForgetClient`).
        self._clients: dict[ClientId, ClientConn] = {}
        #: Connections whose task still runs (a forgotten client may still be flushing).
        self._open_connections = 0
        self._disconnects: deque[dict[str, Any]] = deque(maxlen=20)
        #: What :meth:`wait_until` waits for: each predicate is checked after every routed
        #: message, by the task that routed it, and only a waiter whose predicate holds is
        #: woken (waking every waiter to check its own was two task switches per round trip
        #: for the command's ``_report_upstream``, D30).
        self._waiters: list[tuple[Callable[[], bool], trio.Event]] = []
        #: Set (and replaced) each time the upstream session opens or ends.
        self._upstream_changed = trio.Event()
        #: Why the proxy is stopping, once :meth:`shut_down` began.
        self.stopping: str | None = None

    # -- observing ---------------------------------------------------------------------------

    def statistics(self) -> dict[str, Any]:
        """The router's statistics plus queue depths, as served at ``/json/proxy/stats``."""
        router = attrs.asdict(self._routing.statistics())
        clients = [
            {"id": cid, "label": conn.label, **attrs.asdict(conn.outbox.statistics())}
            for cid, conn in self._clients.items()
        ]
        return {
            "id": self.id,
            "router": router,
            "clients": clients,
            "upstream": self.upstream.describe(),
            "lane": None if self.lane is None else attrs.asdict(self.lane.statistics()),
            "recentDisconnects": list(self._disconnects),
        }

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Wait until ``predicate()`` is true; it is checked after every routed message
        (without waking this task until it holds; if it raises, this task is woken to raise
        it)."""
        while not predicate():
            waiter = (predicate, trio.Event())
            self._waiters.append(waiter)
            try:
                await waiter[1].wait()
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)

    async def wait_upstream(self, connected: bool) -> None:
        """Wait until the upstream session is open (``connected``) or closed: checked each
        time it opens or ends, not after every routed message as :meth:`wait_until` is."""
        while self._routing.upstream_connected != connected:
            await self._upstream_changed.wait()

    def _wake_waiters(self) -> None:
        """Wake the :meth:`wait_until` callers whose predicate holds now."""
        for waiter in list(self._waiters):
            predicate, event = waiter
            try:
                done = predicate()
            except Exception:
                done = True  # its own task raises it
            if done:
                self._waiters.remove(waiter)
                event.set()

    def unavailable(self) -> str | None:
        """Why a new client would be refused (stopping, no target), or ``None``."""
        if self.stopping is not None:
            return self.stopping
        if not self.upstream.connected:
            return self.upstream.last_error or "target not connected"
        return None

    async def shut_down(self, reason: str = SHUTDOWN_REASON, grace: float = CLOSE_GRACE) -> None:
        """Stop serving clients: refuse new ones, send every connected client
        ``Inspector.detached`` and a close (1001, ``reason``) after what is queued for it,
        and wait until they have gone, at most ``grace`` seconds. What the clients started
        (sampling, tracking, a pause) is undone upstream as if they had left. The listener
        and the upstream session end when the proxy's task is cancelled afterwards."""
        self.stopping = reason
        self._perform(self._routing.shut_down(reason))
        with trio.move_on_after(grace):
            await self.wait_until(lambda: not self._open_connections)

    @property
    def http_address(self) -> str:
        return f"{self.config.listen_host}:{self.port}"

    @property
    def secure(self) -> bool:
        return self.config.tls is not None

    @property
    def websocket_url(self) -> str:
        """The WebSocket URL, without a token (add ``/TOKEN`` after the port if one is
        needed)."""
        return f"{'wss' if self.secure else 'ws'}://{self.http_address}/{self.id}"

    # -- audit -------------------------------------------------------------------------------

    def audit(self, event: str, **fields: object) -> None:
        if self.config.audit is not None:
            self.config.audit(audit_line(event, **fields))

    def _audit_client(
        self, client: ClientId, conn: ClientConn, event: str, **fields: object
    ) -> None:
        self.audit(event, peer=conn.peer, role=conn.role.name, client=client, **fields)

    # -- routing -----------------------------------------------------------------------------

    def _perform(self, actions: list[Action]) -> None:
        """Carry out the router's actions, in order, without waiting."""
        overflowed: list[ClientId] = []
        for action in actions:
            # isinstance, not a ``match`` on class patterns: that costs ~0.4 µs more per
            # action, and every routed message is one (the first two kinds).
            if isinstance(action, SendToClient):
                conn = self._clients.get(action.client)
                if conn is not None and not conn.outbox.put_nowait(action.text):
                    overflowed.append(action.client)
            elif isinstance(action, SendUpstream):
                self.upstream.send_nowait(action.text)
            elif isinstance(action, CloseClient):
                conn = self._clients.get(action.client)
                if conn is not None:
                    conn.outbox.close_after_flush(action.code, action.reason)
            elif isinstance(action, ForgetClient):
                conn = self._clients.pop(action.client)
                self._disconnects.append({"label": conn.label, "reason": action.reason})
            elif isinstance(action, CloseUpstream):
                self.upstream.close(action.reason)
            elif isinstance(action, Audit):
                conn = self._clients[action.client]
                self._audit_client(action.client, conn, action.event, method=action.method)
            else:
                assert_never(action)
        if overflowed:
            for client in dict.fromkeys(overflowed):
                self._cut_off(client)
        if self._waiters:  # the command's upstream report, shutdown, tests
            self._wake_waiters()

    def _cut_off(self, client: ClientId) -> None:
        """A client overflowed its outbox: the router forgets it now; its send gets a grace
        period to finish what it was writing."""
        conn = self._clients.get(client)
        if conn is None:  # an earlier cut-off in the same batch already removed it
            return
        log.warning("%s: %s", conn.label, conn.outbox.close_reason)
        if conn.send_scope is not None:
            conn.send_scope.deadline = min(
                conn.send_scope.deadline, trio.current_time() + CLOSE_GRACE
            )
        self._perform(self._routing.remove_client(client, conn.outbox.close_reason))

    def _upstream_opened(self) -> None:
        self._perform(self._routing.upstream_opened())
        self._announce_upstream_change()

    def _upstream_message(self, message: str | bytes) -> None:
        self._perform(self._routing.upstream_message(message))

    def _upstream_lost(self, reason: str) -> None:
        self._perform(self._routing.upstream_lost(reason))
        self._announce_upstream_change()

    def _announce_upstream_change(self) -> None:
        self._upstream_changed.set()
        self._upstream_changed = trio.Event()

    # -- clients -----------------------------------------------------------------------------

    def text_outbox(self) -> Outbox:
        """An outbox for a client that takes its messages one by one (``POST /snapshot``)."""
        return Outbox(self.config.client_queue_bytes)

    def add_client(
        self,
        label: str,
        peer: str,
        role: Role,
        transport: str,
        outbox: ClientOutbox,
        agent: str | None = None,
    ) -> ClientConn:
        """Register a client with the router and the shell; audited as ``connect``. Call
        :meth:`remove_client` when its connection ends."""
        client = self._routing.add_client(label, role.policy)
        conn = ClientConn(client, label, peer, role, transport, outbox)
        self._clients[client] = conn
        self._open_connections += 1
        self._audit_client(client, conn, "connect", transport=transport, agent=agent)
        return conn

    def client_message(self, client: ClientId, message: str | bytes) -> None:
        self._perform(self._routing.client_message(client, message))

    def remove_client(self, conn: ClientConn, reason: str) -> None:
        """The client's connection ended: the router undoes what it started (unless it was
        already forgotten: cut off, or detached); audited as ``disconnect``."""
        if conn.outbox.close_code is not None and conn.outbox.close_reason:
            reason = conn.outbox.close_reason
        self._audit_client(conn.id, conn, "disconnect", reason=reason)
        self._open_connections -= 1
        self._perform(self._routing.remove_client(conn.id, reason))

    # -- connections -------------------------------------------------------------------------

    async def handle_connection(self, stream: trio.abc.Stream) -> None:
        """One accepted TCP connection, served so that nothing it does can end the proxy.

        Every way a client is known to fail is handled where it happens; this is the last
        line: an unexpected error is logged with its traceback and audited, the connection is
        closed, and every other client carries on (``trio.serve_listeners`` would otherwise
        let one connection's exception cancel the whole proxy).
        """
        peer = _peer(stream)
        tcp = stream if isinstance(stream, trio.SocketStream) else None
        try:
            await self._handle_connection(stream, peer, tcp)
        except Exception as exc:
            log.error("connection from %s failed", peer, exc_info=exc)
            self.audit("error", peer=peer, reason=f"{type(exc).__name__}: {exc}")
            await trio.aclose_forcefully(stream)

    async def _handle_connection(
        self, stream: trio.abc.Stream, peer: str, tcp: trio.SocketStream | None
    ) -> None:
        """TLS, then an HTTP request or a WebSocket upgrade."""
        if self.config.tls is not None:
            secure = trio.SSLStream(stream, self.config.tls, server_side=True)
            try:
                with trio.fail_after(HEAD_TIMEOUT):
                    await secure.do_handshake()
            except (trio.BrokenResourceError, trio.TooSlowError) as exc:
                reason = exc.__cause__ or "timed out"
                self.audit("refused", peer=peer, reason=f"TLS handshake failed: {reason}")
                await trio.aclose_forcefully(secure)
                return
            stream = secure
        try:
            with trio.fail_after(HEAD_TIMEOUT):
                head = await read_request_head(stream)
        except (HTTPError, trio.TooSlowError) as exc:
            await _send_and_close(stream, error_response(400, f"bad request: {exc}"))
            return
        except trio.BrokenResourceError:
            await trio.aclose_forcefully(stream)
            return
        if head is None:
            await trio.aclose_forcefully(stream)
            return
        try:
            role, path = self.guard.admit(
                host=head.header("host"),
                origin=head.header("origin"),
                path=head.path,
                authorization=head.header("authorization"),
                endpoints={"", "json", "snapshot", "devtools", self.id},
            )
        except Refused as refusal:
            self.audit(
                "refused",
                peer=peer,
                request=f"{head.method} {'upgrade' if head.is_websocket_upgrade else 'http'}",
                status=refusal.status,
                reason=refusal.message,
            )
            response = error_response(refusal.status, refusal.message, refusal.headers)
            await _send_and_close(stream, response)
            return
        if head.is_websocket_upgrade:
            await self._serve_websocket(stream, tcp, head, path, role, peer)
        elif path.rstrip("/") == "/snapshot" and not self.config.browser:
            await serve_snapshot(self, stream, head, role, peer)
        else:
            await _send_and_close(stream, await self._http_response(head, path, role))

    async def _http_response(self, head: RequestHead, path: str, role: Role) -> bytes:
        if head.method not in ("GET", "HEAD"):
            return error_response(
                405, f"{head.method} is not supported here", (("Allow", "GET, HEAD"),)
            )
        host = head.header("host") or self.http_address
        path = path.rstrip("/") or "/"
        spec = self.config.upstream
        try:
            if self.config.browser and path in ("/json", "/json/list", "/json/version"):
                document = await fetch_json(spec.host, spec.port, path)
                at = host + role.path_prefix
                if path == "/json/version":
                    return json_response(
                        200, rewrite_version(document, at, self.id, secure=self.secure)
                    )
                return json_response(200, rewrite_list(document, at, secure=self.secure))
            if path in ("/json", "/json/list"):
                entry = self.upstream.entry
                listed = rewrite_entry(
                    entry or {}, self.id, host + role.path_prefix, secure=self.secure
                )
                return json_response(200, [] if entry is None else [listed])
            if path == "/json/version":
                version = await fetch_json(spec.host, spec.port, "/json/version")
                if isinstance(version, dict):
                    version.pop("webSocketDebuggerUrl", None)  # never expose the browser
                return json_response(200, version)
            if path == "/json/protocol":
                return json_response(200, await fetch_json(spec.host, spec.port, "/json/protocol"))
        except (OSError, HTTPError) as exc:
            return error_response(502, f"upstream inspector {spec.address}: {exc}")
        if path == "/json/proxy/stats":
            return json_response(200, self.statistics())
        return error_response(404, f"no such endpoint: {path}")

    async def _serve_websocket(
        self,
        stream: trio.abc.Stream,
        tcp: trio.SocketStream | None,
        head: RequestHead,
        path: str,
        role: Role,
        peer: str,
    ) -> None:
        handshake = ServerHandshake(stream, head.raw)
        try:
            if not await handshake.check():
                return
            target = path.strip("/")
            home = parse_endpoint(path, self.id) if self.config.browser else None
            if home is not None:
                target = self.id
            if target != self.id:
                await handshake.reject(404, f"no target {target!r}; see /json/list\n".encode())
                return
            unavailable = self.unavailable()
            if unavailable is not None:
                await handshake.reject(503, f"{unavailable}; retry shortly\n".encode())
                return
            await handshake.accept()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return  # it left during the handshake
        ws = WebSocket(
            transport_for(stream, tcp, self.lane),
            server=True,
            max_message_size=self.config.max_client_message_size,
            received=handshake.received,
        )
        await self._serve_client(ws, head, peer, role, home)

    async def _serve_client(
        self,
        ws: WebSocket,
        head: RequestHead,
        peer: str,
        role: Role,
        home: tuple[str, str | None] | None = None,
    ) -> None:
        agent = head.header("user-agent")
        outbox = FrameOutbox(ws, self.config.client_queue_bytes)
        conn = self.add_client(_label(head, peer), peer, role, "websocket", outbox, agent)
        if home is not None and self.hub is not None:
            self._perform(self.hub.attach(conn.id, home[1]))  # its own session upstream
        reason = "client closed the connection"
        limit = self.config.max_client_message_size

        def route(message: str | bytes) -> None:
            self._perform(self._routing.client_message(conn.id, message))

        ws.set_inline(route, self.upstream.has_room)  # the loop below, from the lane
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._pump, ws, outbox, conn)
                try:
                    while True:
                        message = await ws.get_message()
                        if isinstance(message, Oversized):
                            actions = self._routing.client_message_too_large(
                                conn.id, message.size, message.prefix, limit
                            )
                            self._perform(actions)
                        else:
                            route(message)
                        await self.upstream.wait_room()
                except WebSocketClosed:
                    pass
                nursery.cancel_scope.cancel()
        finally:
            ws.close_transport()
            self.remove_client(conn, reason)

    async def _pump(self, ws: WebSocket, outbox: FrameOutbox, conn: ClientConn) -> None:
        """Write what the client's socket did not take at once, then close the WebSocket
        as the outbox says."""
        try:
            while await outbox.wait():
                with trio.CancelScope() as conn.send_scope:
                    await ws.flush()
                if conn.send_scope.cancelled_caught:
                    # It did not read for CLOSE_GRACE seconds after being cut off.
                    ws.close_transport()
                    return
            code = outbox.close_code or CLOSE_NORMAL
            with trio.move_on_after(CLOSE_GRACE):
                await ws.aclose(code, outbox.close_reason)
        except WebSocketClosed:
            pass
        ws.close_transport()


def _peer(stream: trio.abc.Stream) -> str:
    socket = getattr(stream, "socket", None)
    if socket is None:
        return "?"
    try:
        address = socket.getpeername()
    except OSError:
        return "?"
    host, port = address[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _label(head: RequestHead, peer: str) -> str:
    agent = head.header("user-agent")
    return f"{peer} {agent}" if agent else peer


async def _send_and_close(stream: trio.abc.Stream, data: bytes) -> None:
    try:
        with trio.move_on_after(HEAD_TIMEOUT):
            await stream.send_all(data)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    await trio.aclose_forcefully(stream)


async def serve_proxy(
    config: ProxyConfig, *, task_status: trio.TaskStatus[Proxy] = trio.TASK_STATUS_IGNORED
) -> None:
    """Run the proxy until cancelled; ``task_status.started`` gets the :class:`Proxy`
    (its ``port`` is the one bound, useful with ``listen_port=0``)."""
    if not is_loopback(config.listen_host) and not config.effective_guard().requires_token:
        raise InsecureListen(
            f"refusing to listen on {config.listen_host} without a token: anyone who can "
            "reach the port could run code in the target"
        )
    listeners = await trio.open_tcp_listeners(config.listen_port, host=config.listen_host)
    lane = open_lane(config.spin)
    proxy = Proxy(config, lane)
    proxy.port = listeners[0].socket.getsockname()[1]
    try:
        async with trio.open_nursery() as nursery:
            if lane is not None:
                nursery.start_soon(lane.run)
            nursery.start_soon(
                proxy.upstream.run,
                proxy._upstream_opened,
                proxy._upstream_message,
                proxy._upstream_lost,
                config.retry_interval,
            )
            await nursery.start(trio.serve_listeners, proxy.handle_connection, listeners)
            task_status.started(proxy)
    finally:
        if lane is not None:
            lane.close()


@asynccontextmanager
async def open_proxy(config: ProxyConfig) -> AsyncIterator[Proxy]:
    """Run a proxy for the duration of the block (tests, benchmarks, embedding)."""
    async with trio.open_nursery() as nursery:
        proxy: Proxy = await nursery.start(serve_proxy, config)
        try:
            yield proxy
        finally:
            nursery.cancel_scope.cancel()
