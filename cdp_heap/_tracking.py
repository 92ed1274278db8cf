"""Allocation tracking (DevTools' "Allocation instrumentation on timeline").

While tracking, V8 numbers new heap objects and, every ~50 ms, reports which *fragments*
changed: a fragment is the set of objects first seen in one interval, and each
``heapStatsUpdate`` carries ``(fragment index, live objects, live bytes)`` triplets for the
fragments whose numbers changed, followed by one ``lastSeenObjectId``. With
``track_allocations`` V8 also records the stack of every allocation, so the snapshot that
stopping produces has ``trace_function_infos`` / ``trace_tree``: who allocated each object.

::

    async with open_tracking(conn) as tracker:
        async with tracker.subscribe(policy="latest") as samples:   # live display
            with trio.move_on_after(30):
                async for sample in samples:
                    print(sample.live_size, sample.allocated_size)
        saved = await tracker.save_snapshot("app.heapsnapshot")

The event fragments only make sense all together (a missed update leaves a fragment's
numbers stale), so the tracker reads them losslessly in a background task and folds them
into :class:`TrackingSample` values; subscribers then choose their own policy on those:
``"latest"`` for a display that only wants the newest totals, ``"block"`` (lossless, with
backpressure) or ``"fail"`` for a recording.

Tracking costs the target much more than sampling (V8 updates its object map every tick,
and with ``track_allocations`` records a stack per allocation: x63 on a loop that only
allocates); stopping it takes a full heap snapshot, which pauses the target like
``takeHeapSnapshot``.

V8 stops its (process-wide) allocation tracker whenever *any* inspector session closes or
disables HeapProfiler: another client coming and going while we track loses the stacks.
:class:`SavedTrackingSnapshot` reports it (``allocation_traces``).
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from pathlib import Path

import attrs
import trio

from ._atomic_file import AtomicWriter
from ._capture import (
    DEFAULT_MAX_BUFFER_BYTES,
    CaptureProgress,
    SavedSnapshot,
    SnapshotStream,
    save_stream,
)
from ._connection import CDPConnection
from ._errors import AlreadyStopped, CDPHeapError, CommandError, ConnectionClosed
from ._groups import single_exceptions
from ._queue import BoundedQueue, Policy
from .heap_profiler import HeapProfiler, HeapProfilerEvent, HeapStatsUpdate, LastSeenObjectId

#: How long leaving an :func:`open_tracking` block without having stopped waits (shielded)
#: to send ``stopTrackingHeapObjects``.
STOP_TIMEOUT = 10.0
#: Raw events the background task may fall behind by before it holds up the reader.
_EVENT_BUFFER = 10_000


@attrs.frozen
class TrackingSample:
    """The heap as of one ``lastSeenObjectId`` (one tick of V8's tracking timer)."""

    #: V8's wall clock, in milliseconds since the epoch.
    timestamp: float
    last_seen_object_id: int
    #: ``(fragment index, live objects, live bytes)`` of the fragments that changed since
    #: the previous sample: every ``heapStatsUpdate`` triplet, none left out.
    updates: tuple[tuple[int, int, int], ...]
    #: Objects V8 tracks that are alive now (fragment 0 holds those that existed when
    #: tracking started).
    live_objects: int
    #: Bytes of those objects.
    live_size: int
    #: Bytes of the fragments first reported in this sample: allocated since the previous
    #: one and still alive at its end.
    new_size: int
    #: The sum of ``new_size`` since tracking started. Its rate of change is the allocation
    #: rate (of objects that live at least one tick), even for a subscriber that skips
    #: samples.
    allocated_size: int


@attrs.frozen
class SavedTrackingSnapshot(SavedSnapshot):
    """A saved tracking snapshot. ``allocation_traces`` is ``False`` when its
    ``trace_function_infos`` came out empty although allocations were tracked: V8 stops
    its allocation tracker, for the whole process, whenever *any* inspector session closes
    or disables HeapProfiler (measured on Node 20), so another client that came and went
    while tracking took the stacks with it."""

    allocation_traces: bool = True


@attrs.frozen
class TrackingStatistics:
    samples: int
    events: int
    #: The newest sample, or ``None`` before the first tick.
    latest: TrackingSample | None
    subscribers: int


class Tracker:
    """A running allocation tracking session; see :func:`open_tracking`."""

    def __init__(self, profiler: HeapProfiler, track_allocations: bool = True) -> None:
        self._profiler = profiler
        self._track_allocations = track_allocations
        self._stop_sent = False
        self._fragments: dict[int, tuple[int, int]] = {}
        self._live_objects = 0
        self._live_size = 0
        self._allocated = 0
        self._pending: list[tuple[int, int, int]] = []
        self._samples = 0
        self._events = 0
        self._latest: TrackingSample | None = None
        self._outputs: list[BoundedQueue[TrackingSample]] = []
        self._new_sample = trio.Event()
        self._error: ConnectionClosed | None = None
        self._ended = False

    # -- reading --------------------------------------------------------------------------

    @property
    def latest(self) -> TrackingSample | None:
        """The newest sample (``None`` before V8's first tick, ~50 ms after the start)."""
        return self._latest

    @property
    def stopped(self) -> bool:
        """Whether ``stopTrackingHeapObjects`` was sent (the target stops on receiving it)."""
        return self._stop_sent

    async def wait_sample(self) -> TrackingSample:
        """Wait for the next sample. Raises the connection's error if it closes first, and
        :class:`~cdp_heap.AlreadyStopped` if tracking has ended."""
        seen = self._samples
        if not self._ended:
            await self._new_sample.wait()
        if self._samples == seen:
            raise self._end_error()
        assert self._latest is not None
        return self._latest

    @asynccontextmanager
    async def subscribe(
        self, *, policy: Policy = "latest", max_buffer: int | None = None
    ) -> AsyncIterator[AsyncIterator[TrackingSample]]:
        """The samples that arrive while the block runs, as an async iterator.

        ``policy="latest"`` (default, ``max_buffer`` 1) keeps only the newest: right for a
        display. ``"block"`` is lossless: when the consumer falls ``max_buffer`` (default
        1000) samples behind, the tracker stops reading the connection until it catches up
        (delaying every other reply on it). ``"fail"`` drops nothing silently: it raises
        :class:`~cdp_heap.SubscriptionOverflow` in the consumer instead.

        Iteration ends when tracking stops; it raises the connection's error if the
        connection closes.
        """
        if max_buffer is None:
            max_buffer = 1 if policy == "latest" else 1000
        queue: BoundedQueue[TrackingSample] = BoundedQueue(
            max_buffer, policy, name=f"tracking samples ({policy})"
        )
        if self._ended:
            queue.close()
        self._outputs.append(queue)

        async def iterate() -> AsyncIterator[TrackingSample]:
            while True:
                try:
                    yield await queue.get()
                except (trio.EndOfChannel, trio.ClosedResourceError):
                    if self._error is not None:
                        raise self._error from None
                    return

        try:
            yield iterate()
        finally:
            self._outputs.remove(queue)
            queue.abort()

    def statistics(self) -> TrackingStatistics:
        return TrackingStatistics(
            samples=self._samples,
            events=self._events,
            latest=self._latest,
            subscribers=len(self._outputs),
        )

    # -- stopping -------------------------------------------------------------------------

    def stop(
        self,
        *,
        report_progress: bool | None = None,
        capture_numeric_value: bool | None = None,
        expose_internals: bool | None = None,
        max_buffer_bytes: int = DEFAULT_MAX_BUFFER_BYTES,
    ) -> AbstractAsyncContextManager[SnapshotStream]:
        """Stop tracking: the target takes a heap snapshot with allocation traces (pausing
        like ``takeHeapSnapshot``), streamed as chunks. Prefer :meth:`save_snapshot`.

        Tracking stops on the target as soon as the command is sent, whatever happens to
        the stream; leaving it early discards the rest of the snapshot. Raises
        :class:`~cdp_heap.AlreadyStopped` if it was sent already.
        """
        if self._stop_sent:
            raise AlreadyStopped("tracking was already stopped")
        stream = self._profiler.stop_tracking_heap_objects(
            report_progress=report_progress,
            capture_numeric_value=capture_numeric_value,
            expose_internals=expose_internals,
            max_buffer_bytes=max_buffer_bytes,
        )
        return self._marking_stopped(stream)

    @asynccontextmanager
    async def _marking_stopped(
        self, stream: AbstractAsyncContextManager[SnapshotStream]
    ) -> AsyncIterator[SnapshotStream]:
        self._stop_sent = True  # even if sending fails: then the connection is gone too
        async with stream as opened:
            yield opened

    async def save_snapshot(
        self,
        path: str | os.PathLike[str],
        *,
        report_progress: bool = False,
        capture_numeric_value: bool | None = None,
        expose_internals: bool | None = None,
        on_progress: Callable[[CaptureProgress], object] | None = None,
        max_buffer_bytes: int = DEFAULT_MAX_BUFFER_BYTES,
    ) -> SavedTrackingSnapshot:
        """Stop tracking and write the snapshot, with its allocation traces, to ``path``
        with the same atomic, backpressured machinery as :func:`~cdp_heap.save_snapshot`.
        See :class:`SavedTrackingSnapshot` for when the traces can be missing.

        The temporary file is created first: if that fails (no such directory, no
        permission), :class:`~cdp_heap.CaptureError` is raised and tracking goes on. Once
        the stop is sent tracking has ended, and on any later failure or cancellation
        nothing is left at ``path``.
        """
        destination = Path(path)
        started_at = time.perf_counter()
        writer = _TraceCheckingWriter(destination)
        stream = self.stop(
            report_progress=report_progress or None,
            capture_numeric_value=capture_numeric_value,
            expose_internals=expose_internals,
            max_buffer_bytes=max_buffer_bytes,
        )
        saved = await save_stream(stream, writer, on_progress, started_at)
        return SavedTrackingSnapshot(
            **attrs.asdict(saved, recurse=False),
            allocation_traces=not (self._track_allocations and writer.no_traces),
        )

    async def _stop_discarding(self) -> None:
        """Stop tracking without keeping the snapshot: send the command, abandon the
        stream (the connection discards its chunks and reply)."""
        async with self.stop():
            pass

    # -- the background task ----------------------------------------------------------------

    async def _fold(self, events: AsyncIterator[HeapProfilerEvent]) -> None:
        try:
            async for event in events:
                self._events += 1
                if isinstance(event, HeapStatsUpdate):
                    self._pending.extend(event.fragments())
                elif isinstance(event, LastSeenObjectId):
                    await self._publish(self._sample(event))
        except ConnectionClosed as exc:
            self._error = exc
        finally:
            self._ended = True
            for queue in self._outputs:
                queue.close()
            self._wake_waiters()

    def _sample(self, event: LastSeenObjectId) -> TrackingSample:
        new_size = 0
        for index, count, size in self._pending:
            old_count, old_size = self._fragments.get(index, (0, 0))
            if index not in self._fragments and index > 0:
                new_size += size
            self._fragments[index] = (count, size)
            self._live_objects += count - old_count
            self._live_size += size - old_size
        self._allocated += new_size
        sample = TrackingSample(
            timestamp=event.timestamp,
            last_seen_object_id=event.last_seen_object_id,
            updates=tuple(self._pending),
            live_objects=self._live_objects,
            live_size=self._live_size,
            new_size=new_size,
            allocated_size=self._allocated,
        )
        self._pending = []
        return sample

    async def _publish(self, sample: TrackingSample) -> None:
        self._samples += 1
        self._latest = sample
        self._wake_waiters()
        for queue in tuple(self._outputs):
            await queue.put(sample)

    def _wake_waiters(self) -> None:
        event, self._new_sample = self._new_sample, trio.Event()
        event.set()

    def _end_error(self) -> CDPHeapError:
        if self._error is not None:
            return self._error
        return AlreadyStopped("tracking has ended")


class _TraceCheckingWriter(AtomicWriter):
    """Notices, as the chunks go by, a snapshot whose allocation traces are empty."""

    _EMPTY = '"trace_function_infos":[]'

    def __init__(self, destination: Path) -> None:
        super().__init__(destination)
        self.no_traces = False
        self._last = ""

    async def write(self, text: str) -> None:
        if not self.no_traces:
            self.no_traces = self._EMPTY in self._last + text[: len(self._EMPTY)] or (
                self._EMPTY in text
            )
            self._last = text[-len(self._EMPTY) :]
        await super().write(text)


@asynccontextmanager
async def open_tracking(
    connection: CDPConnection,
    *,
    track_allocations: bool = True,
    session_id: str | None = None,
) -> AsyncIterator[Tracker]:
    """Track heap objects (``startTrackingHeapObjects``) while the block runs.

    ``track_allocations`` (default on) records the stack of each allocation, so the final
    snapshot says which functions allocated what; without it the samples still show the
    heap over time, at a lower cost to the target.

    Stop with :meth:`Tracker.save_snapshot` (or :meth:`Tracker.stop` for the raw stream).
    If the block ends without that, normally, by an error or by cancellation, tracking is
    still stopped: ``stopTrackingHeapObjects`` is sent in a shielded scope bounded by
    :data:`STOP_TIMEOUT` seconds and its snapshot discarded as it arrives (the target
    still pays for building it). The block's exception, if any, propagates. If the
    connection has closed there is nothing to send: V8 stops a session's tracking when the
    session ends; subscribers then see the connection's error.
    """
    profiler = HeapProfiler(connection, session_id=session_id)
    tracker = Tracker(profiler, track_allocations)
    may_be_tracking = True
    # The nursery is an implementation detail: its only child never raises on purpose, so
    # callers get their own exception, not a group of one.
    with single_exceptions():
        async with (
            profiler.subscribe(
                HeapStatsUpdate, LastSeenObjectId, max_buffer=_EVENT_BUFFER, policy="block"
            ) as events,
            trio.open_nursery() as nursery,
        ):
            nursery.start_soon(tracker._fold, events)
            try:
                try:
                    await profiler.start_tracking_heap_objects(track_allocations)
                except CommandError:
                    may_be_tracking = False
                    raise
                yield tracker
            finally:
                if may_be_tracking and not tracker.stopped and connection.closed is None:
                    deadline = trio.current_time() + STOP_TIMEOUT
                    with (
                        trio.CancelScope(shield=True, deadline=deadline),
                        suppress(CDPHeapError),
                    ):
                        await tracker._stop_discarding()
                nursery.cancel_scope.cancel()
