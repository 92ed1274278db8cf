"""The proxy's own loop over its plain TCP sockets: a message in, routed and written out,
with no pass of trio's run loop on its way.

Through trio, every message read costs a task wake-up: trio's ``epoll_wait`` returns, the
task is rescheduled and resumed, and its next wait re-arms the socket's one-shot
registration (``epoll_ctl``); a round trip through the proxy had two of them on its path
(docs/decisions.md D30, D32).

A :class:`Lane` is a loop of the proxy's own, run as one trio task. It has an epoll set of
its own with the sockets whose reader is waiting for a message (:meth:`Lane.watch`),
registered once, not per read. trio waits on the lane's epoll descriptor like on any other;
when it is readable the lane's task reads every ready socket and hands what it read to the
socket's callback, which parses it and routes each message at once (:meth:`WebSocket.
set_inline <cdp_heap_proxy._websocket.WebSocket.set_inline>`). Then it lets trio run what
that woke, and waits in its own ``epoll_wait`` for the next message (at one client: the
target's reply to the command it just wrote), for at most :data:`HOLD` seconds. The
connection tasks are not woken for a plain message, and trio's pass comes after the write,
while the target works, not between the read and the write.

What a batch of reads routes to the target while it is busy with an earlier command waits
for the end of the batch and goes in one write (:meth:`Lane.after_batch`, used by
:class:`~cdp_heap_proxy._upstream.UpstreamLink`): the commands of several clients read in
one batch cost one system call, with no hop through the upstream writer task.

Waiting, the lane first polls without sleeping, for up to :data:`SPIN` seconds, when the
last message came within that time of the one before. On a VM a CPU that has gone idle is
slow to wake (the host has to schedule it again: ~30-50 µs on this project's VM), and a
relay adds two such wake-ups to every round trip; polling keeps the proxy's CPU awake
across the short gap before the reply. It costs CPU while messages flow that densely, and
only then (a pause longer than :data:`SPIN` ends it until messages come close together
again, and so does a batch of reads over :data:`BULK_BYTES`: snapshot chunks, and a
:data:`CROWD_WINDOW` in which more than :data:`SPIN_SOCKETS` sockets were read: many
clients in flight, D37); each poll gives way to any other thread that is ready to run on
that CPU.
``cdp-heap proxy --spin-us 0`` turns it off.

Holding trio's thread has a price, and it is bounded. The lane waits for the next message
only once every other task waits and trio has just looked at its own I/O and found nothing
(``trio.testing.wait_all_tasks_blocked``): what the routing woke (a writer with frames a
socket did not take, a waiter whose condition holds) runs first. While messages keep
coming the lane routes batch after batch and hands trio the thread once per :data:`HOLD`,
not after every batch (a pass of trio's run loop costs about as much as routing a
message; D36). Either way trio's own I/O (new connections, HTTP, TLS clients, a writer
waiting for room in a socket) and what the routing woke wait at most :data:`HOLD` seconds;
a deadline due or a callback queued by a signal or a thread ends a wait sooner. The
blocking wait is protected from ``KeyboardInterrupt``, which trio then delivers as usual
once it has the thread back.

Routing stays where it was: the callbacks call the same :class:`~cdp_heap_proxy._router.
Router` methods the connection tasks call, in the same thread, so the router is still fed
one message at a time and knows nothing of the lane. Anything that needs to wait (a close
handshake, a full upstream backlog, a protocol error) goes to the connection's own task,
which the lane then stops reading for until that task waits for a message again.

Linux only (``select.epoll``); elsewhere there is no lane and each connection's task reads
its own socket.
"""

from __future__ import annotations

import contextlib
import math
import os
import select
import time
from collections.abc import Callable

import attrs
import trio
import trio.testing

__all__ = [
    "BULK_BYTES",
    "CROWD_WINDOW",
    "HOLD",
    "SPIN_SOCKETS",
    "Lane",
    "LaneStatistics",
    "open_lane",
]

#: The longest the lane waits in its own ``epoll_wait`` before it hands the waiting back to
#: trio (seconds): what trio's own I/O (accepts, HTTP, TLS clients) may wait meanwhile. A
#: round trip to a local target is ~0.1-0.3 ms, so a hold covers a few of them.
HOLD = 0.002
#: How long the lane polls for the next message before it sleeps (seconds), when the last
#: one came that soon after the one before (D32): on a VM, a CPU that went idle takes tens
#: of µs to wake, twice per round trip through the proxy. ``0``: never.
SPIN = 0.0005
#: A batch of reads over this many bytes is bulk (a snapshot's chunks, a large result): the
#: next wait does not poll. Polling helps small requests and replies; between a snapshot's
#: chunks (one every few ms, as fast as the target serializes) it only spends CPU (D36, D37).
BULK_BYTES = 64 * 1024
#: Polling pays while one or two conversations ping-pong through the proxy: the next
#: message is the answer to the last one, a round trip away, and the wake-up is on its
#: path. With more sockets than this read within one :data:`CROWD_WINDOW`, many clients are
#: in flight; the target and the clients keep the CPUs busy, and a polling proxy takes CPU
#: from them (D37). The next window's waits do not poll.
SPIN_SOCKETS = 3
CROWD_WINDOW = 0.02
_EPOLLIN = getattr(select, "EPOLLIN", 1)
#: Most ready sockets taken from one ``epoll_wait``.
_MAX_EVENTS = 256


@attrs.frozen
class LaneStatistics:
    """Served under ``lane`` at ``/json/proxy/stats``."""

    #: Sockets the lane reads now (their readers wait for a message).
    watched: int
    #: Times trio woke the lane, and times the lane gave trio its thread back.
    wakeups: int
    yields: int
    #: Reads done by the lane, and the batches they came in (the ready sockets of one
    #: ``epoll_wait``).
    reads: int
    batches: int
    #: Waits for the next message that found one while polling, and waits that slept.
    spun: int
    slept: int
    #: Windows in which more than :data:`SPIN_SOCKETS` sockets were read (their next
    #: window did not poll).
    crowded: int


class Lane:
    """One epoll set, read by :meth:`run` (a trio task) and its callbacks.

    ``hold``: :data:`HOLD`; ``spin``: :data:`SPIN`; ``clock``: seconds, for the two.
    """

    def __init__(
        self,
        hold: float = HOLD,
        spin: float = SPIN,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.hold = hold
        self.spin = spin
        self._clock = clock
        #: How long the last wait for a message took (seconds; inf: it ended without one).
        self._last_gap = math.inf
        self._epoll = select.epoll()
        self._callbacks: dict[int, Callable[[], int]] = {}
        self._wakeups = 0
        self._yields = 0
        self._reads = 0
        self._batches = 0
        self._spun = 0
        self._slept = 0
        #: The sockets read in this window, when it ends, and whether the last was crowded.
        self._recent: set[int] = set()
        self._window_end = -math.inf
        self._crowded = False
        self._crowded_windows = 0
        #: Set while the callbacks of one batch of reads run; then what they leave for
        #: :meth:`after_batch` runs.
        self.batching = False
        self._after_batch: list[Callable[[], None]] = []

    def watch(self, fd: int, on_readable: Callable[[], int]) -> None:
        """Call ``on_readable()`` from the lane's task while ``fd`` is readable (until
        :meth:`unwatch`); it returns how many bytes it read."""
        if fd not in self._callbacks:
            self._epoll.register(fd, _EPOLLIN)
        self._callbacks[fd] = on_readable

    def unwatch(self, fd: int) -> None:
        if self._callbacks.pop(fd, None) is not None:
            # Closed already: the kernel dropped it from the set (or the lane is closed).
            with contextlib.suppress(OSError, ValueError):
                self._epoll.unregister(fd)

    def after_batch(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` once the current batch of reads is routed (only while
        :attr:`batching`): e.g. one write of the commands the batch routed to the target,
        instead of one each. It must not raise."""
        self._after_batch.append(callback)

    def statistics(self) -> LaneStatistics:
        return LaneStatistics(
            len(self._callbacks),
            self._wakeups,
            self._yields,
            self._reads,
            self._batches,
            self._spun,
            self._slept,
            self._crowded_windows,
        )

    def close(self) -> None:
        self._callbacks.clear()
        self._epoll.close()

    async def run(self) -> None:
        """Serve the watched sockets until cancelled."""
        epoll, clock = self._epoll, self._clock
        fd = epoll.fileno()
        while True:
            await trio.lowlevel.wait_readable(fd)
            self._wakeups += 1
            last_yield = clock()
            events = epoll.poll(0, _MAX_EVENTS)
            while events:
                self._dispatch(events)
                if clock() - last_yield < self.hold:
                    # More has come, and trio had the thread within the hold: route it
                    # first (one trio pass per hold while messages keep coming, not one
                    # per batch of reads).
                    events = epoll.poll(0, _MAX_EVENTS)
                    if events:
                        continue
                # What the routing woke (a writer, a waiter) runs, and so does what trio's
                # own I/O brought: trio wakes this task only once every other task waits
                # and a look at its I/O found nothing. (The run queue's length alone does
                # not tell: the tasks of the batch this task runs in are not in it.)
                self._yields += 1
                await trio.testing.wait_all_tasks_blocked()
                last_yield = clock()
                events = epoll.poll(0, _MAX_EVENTS)
                if not events:
                    wait = min(self.hold, _trio_idle_for())
                    events = self.next_events(wait) if wait > 0 else []

    def next_events(self, wait: float) -> list[tuple[int, int]]:
        """The next ready sockets, within ``wait`` seconds (``[]``: none came). When the
        last wait was shorter than :attr:`spin` and the last window was not crowded, the
        lane polls for up to that long before it sleeps, giving way to any other runnable
        thread on its CPU as it polls."""
        epoll, clock = self._epoll, self._clock
        start = now = clock()
        if start >= self._window_end:
            self._crowded = len(self._recent) > SPIN_SOCKETS
            self._crowded_windows += self._crowded
            self._recent.clear()
            self._window_end = start + CROWD_WINDOW
        if self._last_gap < self.spin and not self._crowded:
            spin_until = start + min(wait, self.spin)
            while True:
                events = epoll.poll(0, _MAX_EVENTS)
                now = clock()
                if events:
                    self._spun += 1
                    self._last_gap = now - start
                    return events
                if now >= spin_until:
                    break
                os.sched_yield()
        left = wait - (now - start)
        events = []
        if left > 0:
            self._slept += 1
            events = _wait(epoll, left)
        self._last_gap = clock() - start if events else math.inf
        return events

    def _dispatch(self, events: list[tuple[int, int]]) -> None:
        callbacks, recent = self._callbacks, self._recent
        self._reads += len(events)
        self._batches += 1
        self.batching = True
        read = 0
        try:
            for fd, _ in events:
                recent.add(fd)
                callback = callbacks.get(fd)
                if callback is not None:  # an earlier callback may have unwatched it
                    read += callback()
        finally:
            if read > BULK_BYTES:
                self._last_gap = math.inf  # the next wait sleeps at once
            self.batching = False
            if self._after_batch:
                after, self._after_batch = self._after_batch, []
                for then in after:
                    then()


def _trio_idle_for() -> float:
    """How long trio has nothing to do that the lane would keep it from (seconds; 0: it
    has now): a deadline, a callback queued by a signal or a thread. What trio's I/O
    brings while the lane waits is not known here: :data:`HOLD` bounds that."""
    stats = trio.lowlevel.current_statistics()
    if stats.tasks_runnable or stats.run_sync_soon_queue_size:
        return 0.0
    return stats.seconds_to_next_deadline


@trio.lowlevel.enable_ki_protection
def _wait(epoll: select.epoll, timeout: float) -> list[tuple[int, int]]:
    """Block in the lane's ``epoll_wait``. Protected: a Ctrl-C meanwhile is handed to trio
    (as a callback queued for its run loop) instead of being raised in the middle of the
    routing, and the lane gives the thread back within :data:`HOLD`."""
    return epoll.poll(timeout, _MAX_EVENTS)


def open_lane(spin: float = SPIN) -> Lane | None:
    """A lane, where the platform has epoll."""
    return Lane(spin=spin) if hasattr(select, "epoll") else None
