"""The proxy's own loop over its sockets (cdp_heap_proxy._lane, docs/decisions.md D32).

Over real loopback TCP: messages a lane reads go to the connection's inline handler without
waking the task waiting for them; what needs that task (a control frame, the end, a handler
that is not ready, a handler that raised) reaches it in order, and the lane reads no more
until it waits again; the lane gives trio its thread back while messages keep coming. The
polling policy (poll after a short gap, sleep after a long one) is tested on a scripted
epoll and clock.
"""

from __future__ import annotations

import contextlib
import math
import socket
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
import trio
import trio.testing
from wsproto.frame_protocol import FrameProtocol

from cdp_heap_proxy._lane import BULK_BYTES, CROWD_WINDOW, SPIN_SOCKETS, Lane
from cdp_heap_proxy._sockets import SocketTransport
from cdp_heap_proxy._websocket import WebSocket, WebSocketClosed

from .helpers import running_lane
from .test_hot_path import StepCounter
from .test_transport import Peer, tcp_pair


def websocket(sock: socket.socket, lane: Lane) -> WebSocket:
    transport = SocketTransport(trio.SocketStream(trio.socket.from_stdlib_socket(sock)), lane)
    return WebSocket(transport, server=True, max_message_size=1 << 20)


def frames(*texts: str) -> bytes:
    client = FrameProtocol(client=True, extensions=[])
    return b"".join(bytes(client.send_data(text)) for text in texts)


class Reader:
    """A connection's task: takes from ``get_message`` what the lane did not hand over."""

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self.got: list[object] = []
        self.closed: WebSocketClosed | None = None
        self.task: trio.lowlevel.Task | None = None

    async def run(self) -> None:
        self.task = trio.lowlevel.current_task()
        try:
            while True:
                self.got.append(await self.ws.get_message())
        except WebSocketClosed as exc:
            self.closed = exc


async def settled() -> None:
    """Until the lane and every task wait for something new (what a test sent on loopback
    is in the socket when ``sendall`` returns, so it has been read and handled by then).

    With a cushion: the lane itself waits in ``wait_all_tasks_blocked`` (cushion 0) after
    each batch of reads, and trio wakes every waiter of the smallest cushion at once, so a
    waiter of cushion 0 here could run before the lane had read what was just sent."""
    await trio.testing.wait_all_tasks_blocked(cushion=0.005)


@asynccontextmanager
async def reading(
    lane: Lane,
    sock: socket.socket,
    handler: Callable[[str | bytes], None],
    ready: Callable[[], bool] = lambda: True,
) -> AsyncIterator[Reader]:
    """A connection on ``sock`` read by ``lane`` for its task (a :class:`Reader`), its
    messages handed to ``handler`` while ``ready()``; the task is waiting when it yields."""
    ws = websocket(sock, lane)
    ws.set_inline(handler, ready)
    reader = Reader(ws)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(reader.run)
        await settled()
        yield reader
        nursery.cancel_scope.cancel()


async def test_messages_go_to_the_handler_without_waking_the_waiting_task() -> None:
    ours, theirs = tcp_pair()
    handled: list[str | bytes] = []
    with trio.fail_after(10):
        async with running_lane() as lane:
            async with reading(lane, ours, handled.append) as reader:
                assert lane.statistics().watched == 1
                counter = StepCounter()
                trio.lowlevel.add_instrument(counter)
                try:
                    for i in range(100):  # one at a time: a read each
                        theirs.sendall(frames(f"m{i}"))
                        await settled()
                finally:
                    trio.lowlevel.remove_instrument(counter)
                assert handled == [f"m{i}" for i in range(100)]
                assert reader.got == []
                assert reader.task is not None
                assert counter.steps.get(reader.task, 0) == 0  # never woken for them
                assert lane.statistics().reads >= 100
            # The cancelled reader stopped the lane reading its socket.
            assert lane.statistics().watched == 0
    theirs.close()


async def test_a_control_frame_and_what_follows_wait_for_the_task_in_order() -> None:
    ours, theirs = tcp_pair()
    handled: list[str | bytes] = []
    client = FrameProtocol(client=True, extensions=[])
    peer = Peer(theirs)
    with trio.fail_after(10):
        async with running_lane() as lane, reading(lane, ours, handled.append) as reader:
            data = bytes(client.send_data("a") + client.ping(b"hi") + client.send_data("b"))
            theirs.sendall(data + bytes(client.send_data("c")))
            await settled()
            assert handled == ["a"] and reader.got == ["b", "c"]
            assert (await peer.frames())[0][1] == b"hi"  # the task answered the ping
            # The task waits again: the lane hands messages over again.
            theirs.sendall(frames("d"))
            await settled()
            assert handled == ["a", "d"] and reader.got == ["b", "c"]
    theirs.close()


async def test_while_the_handler_is_not_ready_the_task_gets_the_messages() -> None:
    ours, theirs = tcp_pair()
    handled: list[str | bytes] = []
    ready = True
    with trio.fail_after(10):
        async with (
            running_lane() as lane,
            reading(lane, ours, handled.append, lambda: ready) as reader,
        ):
            theirs.sendall(frames("1"))
            await settled()
            assert handled == ["1"] and reader.got == []
            ready = False
            theirs.sendall(frames("2", "3"))
            await settled()
            assert handled == ["1"] and reader.got == ["2", "3"]
            ready = True
            theirs.sendall(frames("4"))
            await settled()
            assert handled == ["1", "4"] and reader.got == ["2", "3"]
    theirs.close()


async def test_what_the_handler_raises_the_task_raises_and_the_lane_serves_on() -> None:
    first, first_peer = tcp_pair()
    second, second_peer = tcp_pair()
    handled: list[str | bytes] = []

    def broken(message: str | bytes) -> None:
        raise LookupError(f"cannot route {message!r}")

    with trio.fail_after(10):
        async with running_lane() as lane, reading(lane, second, handled.append):
            failing = websocket(first, lane)
            failing.set_inline(broken, lambda: True)
            raised: list[BaseException] = []

            async def read_failing() -> None:
                with pytest.raises(LookupError, match="cannot route 'boom'") as caught:
                    await failing.get_message()
                raised.append(caught.value)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(read_failing)
                await settled()
                first_peer.sendall(frames("boom"))
            assert len(raised) == 1
            second_peer.sendall(frames("fine"))
            await settled()
            assert handled == ["fine"]
    first_peer.close()
    second_peer.close()


@pytest.mark.parametrize("how", ["peer closes", "close_transport"])
async def test_the_end_reaches_the_waiting_task(how: str) -> None:
    ours, theirs = tcp_pair()
    with trio.fail_after(10):
        async with running_lane() as lane, reading(lane, ours, lambda message: None) as reader:
            if how == "peer closes":
                theirs.close()
            else:
                reader.ws.close_transport()
            await settled()
            assert reader.closed is not None and reader.closed.code == 1006
            assert lane.statistics().watched == 0
    theirs.close()


async def test_trio_gets_its_thread_back_while_messages_keep_coming() -> None:
    """A peer floods the lane's socket from a thread; meanwhile a deadline passes and a
    socket trio waits on is served (the lane would otherwise keep the thread for ever)."""
    ours, theirs = tcp_pair(small=False)
    other, other_peer = socket.socketpair()
    handled = 0
    stop = threading.Event()
    flowing = trio.Event()

    def count(message: str | bytes) -> None:
        nonlocal handled
        handled += 1
        if handled == 1000:
            flowing.set()

    def flood() -> None:
        # Never blocked for long in a send: once the reader is cancelled, the lane reads
        # no more, and a blocked sendall would never see ``stop``.
        data = memoryview(frames(*["x" * 20] * 50))
        theirs.settimeout(0.05)
        sent = 0
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                sent += theirs.send(data[sent:])
                sent %= len(data)

    with trio.fail_after(20):
        async with running_lane(hold=0.002) as lane, trio.open_nursery() as nursery:
            ws = websocket(ours, lane)
            ws.set_inline(count, lambda: True)
            nursery.start_soon(Reader(ws).run)
            nursery.start_soon(trio.to_thread.run_sync, flood)
            try:
                await flowing.wait()
                before = handled
                await trio.sleep(0.05)  # a deadline, while the flood goes on
                trio_other = trio.socket.from_stdlib_socket(other)
                other_peer.sendall(b"ping")
                assert await trio_other.recv(10) == b"ping"
                assert handled > before  # the flood was served meanwhile
                assert lane.statistics().yields > 0
            finally:
                stop.set()
            nursery.cancel_scope.cancel()
    for sock in (theirs, other, other_peer):
        sock.close()


# -- the polling policy, on a scripted epoll and clock ----------------------------------------


class ScriptedEpoll:
    """An epoll whose ``poll`` answers from a script: (how much the clock moves, events)."""

    def __init__(self, clock: list[float], script: list[tuple[float, list[tuple[int, int]]]]):
        self.clock = clock
        self.script = script
        self.timeouts: list[float] = []

    def poll(self, timeout: float = -1, maxevents: int = -1) -> list[tuple[int, int]]:
        self.timeouts.append(timeout)
        advance, events = self.script.pop(0) if self.script else (timeout, [])
        self.clock[0] += max(advance, 0.0)
        return events


def scripted_lane(
    script: list[tuple[float, list[tuple[int, int]]]], spin: float = 0.001
) -> tuple[Lane, ScriptedEpoll]:
    clock = [100.0]
    lane = Lane(spin=spin, clock=lambda: clock[0])
    lane.close()  # its real epoll: the scripted one stands in
    epoll = ScriptedEpoll(clock, script)
    lane._epoll = epoll  # type: ignore[assignment]
    return lane, epoll


READY = [(7, 1)]


def test_after_a_long_gap_it_sleeps_at_once() -> None:
    lane, epoll = scripted_lane([(0.0005, READY)])
    assert lane.next_events(0.002) == READY
    assert epoll.timeouts == [0.002]  # one blocking wait, no polling
    assert lane.statistics().slept == 1 and lane.statistics().spun == 0


def test_after_a_short_gap_it_polls_until_the_next_message() -> None:
    # The first wait sleeps and finds a message 0.2 ms later: a short gap.
    lane, epoll = scripted_lane([(0.0002, READY), (0.0001, []), (0.0001, []), (0.0001, READY)])
    lane.next_events(0.002)
    assert lane.next_events(0.002) == READY
    assert epoll.timeouts[1:] == [0, 0, 0]  # polled without sleeping
    assert lane.statistics().spun == 1


def test_polling_stops_after_spin_then_it_sleeps_and_a_silence_ends_polling() -> None:
    lane, epoll = scripted_lane([(0.0002, READY)] + [(0.0004, [])] * 3, spin=0.001)
    lane.next_events(0.002)  # a short gap: the next wait polls first
    assert lane.next_events(0.002) == []  # nothing within the 2 ms
    polls = [t for t in epoll.timeouts[1:] if t == 0]
    assert len(polls) == 3  # 1.2 ms of polling, past the 1 ms spin
    assert epoll.timeouts[-1] == pytest.approx(0.002 - 0.0012)  # then it slept the rest
    # Nothing came: the next wait sleeps at once.
    epoll.script = [(0.0001, READY)]
    epoll.timeouts.clear()
    assert lane.next_events(0.002) == READY
    assert epoll.timeouts == [0.002]


def test_no_spin_never_polls() -> None:
    lane, epoll = scripted_lane([(0.0001, READY)] * 5, spin=0.0)
    for _ in range(5):
        assert lane.next_events(0.002) == READY
    assert epoll.timeouts == [0.002] * 5
    assert lane.statistics().spun == 0


def test_the_wait_is_bounded_by_what_is_left() -> None:
    lane, epoll = scripted_lane([])
    assert lane.next_events(0.0007) == []
    assert epoll.timeouts == [0.0007]
    assert math.isinf(lane._last_gap)


async def test_while_messages_keep_coming_trio_gets_the_thread_once_per_hold() -> None:
    """Batch after batch ready at once: the lane routes them without a pass of trio's run
    loop between each two, and hands trio the thread again once a hold has passed."""
    step = 2**-14  # ~0.06 ms between batches (binary fractions: exact clock sums)
    batches = 80
    lane, epoll = scripted_lane([(step, READY)] * batches)
    lane.hold = 32 * step
    readable, other = socket.socketpair()  # stands in for the lane's epoll descriptor
    other.send(b"x")
    epoll.fileno = readable.fileno  # type: ignore[attr-defined]
    yields_seen: list[int] = []

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:

            def on_readable() -> int:
                yields_seen.append(lane.statistics().yields)
                if len(yields_seen) == batches:
                    nursery.cancel_scope.cancel()
                return 1

            lane._callbacks[7] = on_readable
            nursery.start_soon(lane.run)
    assert lane.statistics().batches == batches
    # A yield after every 32 batches (a hold), not after each.
    assert yields_seen == [n // 32 for n in range(batches)]
    readable.close()
    other.close()


def test_after_a_bulk_batch_it_sleeps_at_once() -> None:
    """Polling is for small requests and replies: a batch of reads over BULK_BYTES (a
    snapshot's chunks) leaves the next wait to sleep, however short the last gap was."""
    lane, epoll = scripted_lane([(0.0002, READY)], spin=0.001)
    lane.next_events(0.002)  # a short gap: the next wait would poll first
    sizes = iter([BULK_BYTES + 1, 100])
    lane._callbacks[7] = lambda: next(sizes)
    lane._dispatch(READY)  # one read of a chunk
    epoll.script = [(0.0002, READY)]
    epoll.timeouts.clear()
    assert lane.next_events(0.002) == READY
    assert epoll.timeouts == [0.002]  # slept at once
    lane._dispatch(READY)  # a small read: the short gap polls again
    epoll.script = [(0.0001, []), (0.0001, READY)]
    epoll.timeouts.clear()
    assert lane.next_events(0.002) == READY
    assert epoll.timeouts == [0, 0]


def test_after_a_crowded_window_it_sleeps_at_once_until_a_quiet_one() -> None:
    """Polling is for one or two conversations: once more than SPIN_SOCKETS sockets were
    read within a CROWD_WINDOW (many clients in flight), the next window's waits sleep at
    once, however short the last gap; a window with few sockets brings polling back."""
    lane, epoll = scripted_lane([(0.0002, READY)], spin=0.001)
    lane.next_events(0.002)  # a short gap; this wait opened a window
    many = [(fd, 1) for fd in range(10, 11 + SPIN_SOCKETS)]
    lane._dispatch(many)  # SPIN_SOCKETS + 1 sockets read in this window
    epoll.clock[0] += CROWD_WINDOW
    epoll.script = [(0.0002, READY)]
    epoll.timeouts.clear()
    assert lane.next_events(0.002) == READY
    assert epoll.timeouts == [0.002]  # slept at once: the window was crowded
    assert lane.statistics().crowded == 1
    lane._dispatch(many[:SPIN_SOCKETS])  # as many as a quiet window may have
    epoll.clock[0] += CROWD_WINDOW
    epoll.script = [(0.0001, []), (0.0001, READY)]
    epoll.timeouts.clear()
    assert lane.next_events(0.002) == READY
    assert epoll.timeouts == [0, 0]  # polled again
    assert lane.statistics().crowded == 1
