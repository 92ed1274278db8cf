"""The proxy's one upstream WebSocket session: find the target, connect, reconnect.

Moves bytes only; every decision is the router's. The reader feeds each upstream message
to the router and never waits for a client (see :mod:`cdp_heap_proxy._outbox`), so V8 is
read as fast as it sends. Commands are written into the upstream socket at once by the task
that routed them (:meth:`UpstreamLink.send_nowait`); what the socket does not take waits for
the writer task. While the target has not answered since the last write it is busy with
it, so commands sent meanwhile wait for the writer task, which writes them all at once:
under load (many clients) one system call carries many commands instead of one each, and a
command waits no longer than the target would have kept it waiting anyway.

Client readers wait (:meth:`UpstreamLink.wait_room`) while more than ``UPSTREAM_BACKLOG``
commands wait, which pushes back on clients that flood commands, while the proxy's own few
commands (a departed client's clean-up) can always be sent without waiting.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from ._frames import Oversized
from ._lane import Lane
from ._sockets import SocketTransport
from ._targets import Entry, UpstreamNotFound, UpstreamSpec, find_target, websocket_path
from ._websocket import (
    CLOSE_ABNORMAL,
    HandshakeFailed,
    WebSocket,
    WebSocketClosed,
    client_handshake,
)

log = logging.getLogger(__name__)

UPSTREAM_BACKLOG = 256
CLOSE_NORMAL = 1000


class UpstreamLink:
    """State of the upstream connection, shared with the HTTP and client handlers."""

    def __init__(
        self,
        spec: UpstreamSpec,
        max_message_size: int,
        find: Callable[[UpstreamSpec, Entry | None], Awaitable[Entry]] = find_target,
        lane: Lane | None = None,
    ) -> None:
        self.spec = spec
        self._lane = lane  # reads the session's socket (cdp_heap_proxy._lane)
        self._find = find  # the target's entry, or the browser's (cdp_heap_proxy._target_list)
        self.max_message_size = max_message_size
        self.entry: Entry | None = None  # the upstream /json/list entry while connected
        self.last_entry: Entry | None = None
        self.connects = 0
        self.last_error: str | None = None
        #: The open session's WebSocket (which keeps what its socket did not take yet).
        self._ws: WebSocket | None = None
        #: Something was written since the target last sent anything.
        self._unanswered = False
        #: Commands wait for the end of the lane's batch (:meth:`_uncork` is due).
        self._corked = False
        self._room = trio.lowlevel.ParkingLot()
        self._reading: trio.CancelScope | None = None
        #: :meth:`close` was called for the session being read (its scope's
        #: ``cancel_called``, without a look at trio's clock per message).
        self._closing = False
        self._close_reason = ""

    @property
    def connected(self) -> bool:
        return self._ws is not None

    def close(self, reason: str) -> None:
        """End the current session (the reader stops at its next message; the session is
        closed and :meth:`run` connects again)."""
        if self._reading is not None:
            self._close_reason = reason
            self._closing = True
            self._reading.cancel()

    def send_nowait(self, text: str) -> None:
        """Write ``text`` upstream now, from the caller's task; what the socket does not
        take waits for the writer task (dropped when no session is open). While the
        target has not answered the last write, it waits: routed by the lane, for the end
        of the lane's batch (one write for all the batch routed), else for the writer."""
        ws = self._ws
        if ws is None:
            return
        lane = self._lane
        if self._unanswered and lane is not None and lane.batching:
            if not self._corked:
                self._corked = True
                lane.after_batch(self._uncork)
            ws.send_later(text)
        else:
            # Either way the writer is woken if anything is left for it.
            ws.send_nowait([text], now=not self._unanswered)
        self._unanswered = True

    def _uncork(self) -> None:
        self._corked = False
        if self._ws is not None:
            self._ws.send_unsent_nowait()

    def has_room(self) -> bool:
        """Whether a client's next command may be routed without :meth:`wait_room`."""
        return self._ws is None or self._ws.unsent_frames <= UPSTREAM_BACKLOG

    async def wait_room(self) -> None:
        """Wait while more than ``UPSTREAM_BACKLOG`` commands wait to be written."""
        while not self.has_room():
            await self._room.park()

    def backlog(self) -> int:
        return 0 if self._ws is None else self._ws.unsent_frames

    async def run(
        self,
        on_open: Callable[[], None],
        on_message: Callable[[str | bytes], None],
        on_lost: Callable[[str], None],
        retry_interval: float,
    ) -> None:
        """Connect, run, reconnect, forever.

        ``on_open`` is called when a session opens, ``on_message`` for each message,
        ``on_lost`` when an open session ends (also after :meth:`close`). Cancellation
        closes the session.
        """
        while True:
            try:
                entry = await self._find(self.spec, self.last_entry)
            except UpstreamNotFound as exc:
                self.last_error = str(exc)
                await trio.sleep(retry_interval)  # polling the target's /json/list
                continue
            reason = await self._run_session(entry, on_open, on_message, on_lost)
            log.info("upstream session ended: %s", reason)

    async def _run_session(
        self,
        entry: Entry,
        on_open: Callable[[], None],
        on_message: Callable[[str | bytes], None],
        on_lost: Callable[[str], None],
    ) -> str:
        reason = "target closed"
        try:
            tcp = await trio.open_tcp_stream(self.spec.host, self.spec.port)
        except OSError as exc:
            self.last_error = f"cannot connect to {self.spec.address}: {exc}"
            return self.last_error
        try:
            # Inspectors refuse Host names other than an IP address or localhost.
            received = await client_handshake(
                tcp, f"127.0.0.1:{self.spec.port}", websocket_path(entry)
            )
        except HandshakeFailed as exc:
            self.last_error = f"cannot connect to {self.spec.address}: {exc}"
            await trio.aclose_forcefully(tcp)
            return self.last_error
        ws = WebSocket(
            SocketTransport(tcp, self._lane, quickack=True),  # Node's Nagle (D24)
            server=False,
            max_message_size=self.max_message_size,
            received=received,
        )

        def deliver(message: str | bytes) -> None:
            self._unanswered = False
            on_message(message)

        def reading() -> bool:
            return self._reading is not None and not self._closing

        ws.set_inline(deliver, reading)  # what the loop below does, from the lane
        async with trio.open_nursery() as nursery:
            self._ws, self.entry, self.last_entry = ws, entry, entry
            self._unanswered = False
            self.connects += 1
            self.last_error = None
            nursery.start_soon(self._write, ws)
            try:
                with trio.CancelScope() as self._reading:
                    on_open()
                    while True:
                        message = await ws.get_message()
                        if isinstance(message, Oversized):
                            self.close(
                                f"the target sent a message of {message.size} bytes, over "
                                f"the limit of {self.max_message_size}"
                            )
                            continue
                        deliver(message)
                if self._reading.cancelled_caught:
                    reason = self._close_reason
            except WebSocketClosed as exc:
                reason = _close_text(exc.code, exc.reason)
            finally:
                self._reading, self._closing = None, False
                self._ws, self.entry = None, None
                self._room.unpark_all()
                on_lost(reason)
                nursery.cancel_scope.cancel()
                shielded = trio.CancelScope(shield=True)
                with shielded, trio.move_on_after(1), contextlib.suppress(WebSocketClosed):
                    await ws.close_and_drain(CLOSE_NORMAL, "")
                ws.close_transport()
        return reason

    async def _write(self, ws: WebSocket) -> None:
        """Write what the socket did not take when it was sent, in order; whatever waits
        meanwhile goes out in the same write (under load, one write carries many clients'
        commands)."""
        try:
            while True:
                await ws.wait_unsent()
                await ws.flush()
                if ws.unsent_frames <= UPSTREAM_BACKLOG // 2:
                    self._room.unpark_all()
        except WebSocketClosed:
            pass  # the reader sees the close and ends the session

    def describe(self) -> dict[str, Any]:
        entry = self.entry or self.last_entry or {}
        return {
            "address": self.spec.address,
            "connected": self.connected,
            "targetId": entry.get("id"),
            "title": entry.get("title"),
            "connects": self.connects,
            "lastError": self.last_error,
            "backlog": self.backlog(),
        }


def _close_text(code: int, reason: str) -> str:
    if code == CLOSE_ABNORMAL:
        return "target closed"
    text = f"connection closed (code {code}"
    return text + (f": {reason})" if reason else ")")
