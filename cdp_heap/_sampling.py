"""Sampling heap profiles: a context manager that always stops sampling, and atomic saving.

V8's sampling heap profiler records a stack trace for about one allocation every
``interval`` bytes (32 KiB by default) and keeps, per call path, the bytes attributed to it.
It never pauses the target and at the default interval costs little enough for production
(+18 % on a loop that does nothing but allocate, the worst case; see ``docs/profiling.md``).
It answers "which functions allocate the memory?", where a heap snapshot answers "what
holds it?".

::

    async with open_sampling(conn, interval=16384) as sampler:
        await trio.sleep(30)
    profile = sampler.profile
    for site in profile.top_sites(10):
        print(site.self_size, site.name, site.location)
    await save_profile(profile, "app.heapprofile")

V8 has a single sampling profiler per isolate, shared by every inspector session. A second
``startSampling`` is not refused: it silently joins the running one, and the first
``stopSampling`` ends it for everybody. :func:`open_sampling` therefore checks first and
raises :class:`~cdp_heap.ProfilerBusy` rather than sharing. When a session closes, V8 stops
the sampling that session started, so a crashed client never leaves a target sampling.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path

import attrs
import trio

from ._atomic_file import AtomicWriter
from ._connection import CDPConnection
from ._errors import AlreadyStopped, CDPHeapError, CommandError, ProfilerBusy
from .heap_profiler import HeapProfiler, SamplingHeapProfile

#: How long leaving an :func:`open_sampling` block because of an error or a cancellation
#: waits (shielded) for the target to answer ``stopSampling``.
STOP_TIMEOUT = 10.0
_WRITE_BATCH = 4 * 1024 * 1024


class Sampler:
    """A running sampling session; see :func:`open_sampling`."""

    def __init__(self, profiler: HeapProfiler) -> None:
        self._profiler = profiler
        self._stop_sent = False
        #: The profile, once sampling has stopped (set when the ``async with`` block ends,
        #: or by :meth:`stop`). ``None`` if the stop did not get an answer.
        self.profile: SamplingHeapProfile | None = None
        #: ``trio.current_time()`` when the target started sampling.
        self.started_at = trio.current_time()
        self.stopped_at: float | None = None

    @property
    def stopped(self) -> bool:
        """Whether ``stopSampling`` was sent (the target stops on receiving it)."""
        return self._stop_sent

    async def get_profile(self) -> SamplingHeapProfile:
        """The profile collected so far; sampling goes on."""
        try:
            return await self._profiler.get_sampling_profile()
        except CommandError as exc:
            raise _stopped_elsewhere() from exc

    async def stop(self) -> SamplingHeapProfile:
        """Stop sampling and return the profile (also kept as :attr:`profile`).

        Calling it again returns the same profile. Cancellation: once the command is sent
        the target stops sampling whether or not its answer is awaited; a cancelled
        ``stop()`` just loses the profile, and calling it again raises
        :class:`~cdp_heap.AlreadyStopped`.
        """
        if self._stop_sent:
            if self.profile is None:
                raise AlreadyStopped("sampling was stopped, but its profile was not received")
            return self.profile
        self._stop_sent = True
        self.stopped_at = trio.current_time()
        try:
            self.profile = await self._profiler.stop_sampling()
        except CommandError as exc:
            raise _stopped_elsewhere() from exc
        return self.profile


@asynccontextmanager
async def open_sampling(
    connection: CDPConnection,
    *,
    interval: int | None = None,
    include_collected: bool = False,
    include_collected_by_major_gc: bool | None = None,
    include_collected_by_minor_gc: bool | None = None,
    session_id: str | None = None,
    check_busy: bool = True,
) -> AsyncIterator[Sampler]:
    """Sample the target's allocations while the block runs; the profile is then
    ``sampler.profile``.

    ``interval`` is the average number of bytes between samples (V8's default is 32768;
    smaller is more precise, costs the target more and makes bigger profiles).
    ``include_collected`` keeps the samples of objects the garbage collector has already
    freed (both ``includeObjectsCollectedByMajorGC`` and ``...MinorGC``; the two
    ``include_collected_by_*`` keywords set them one by one): the profile then shows
    everything allocated, not only what is still alive at the end.

    With ``check_busy`` (the default) the profiler is first asked for a profile: if one is
    running already (another client is sampling), :class:`~cdp_heap.ProfilerBusy` is raised
    and nothing is started. Between that check and the start another client could still
    slip in; V8 offers no atomic way to claim the profiler.

    On leaving the block normally, sampling is stopped and the profile received (it is one
    message that can be many MB; ``open_cdp(max_message_size=...)`` bounds it). If the block
    raises or is cancelled, sampling is still stopped, in a shielded scope bounded by
    :data:`STOP_TIMEOUT` seconds, the profile kept if it arrives, and the original exception
    propagates. If the connection is already closed there is nothing to do: V8 stops the
    sampling of a session when it closes.
    """
    if include_collected_by_major_gc is None:
        include_collected_by_major_gc = include_collected
    if include_collected_by_minor_gc is None:
        include_collected_by_minor_gc = include_collected
    profiler = HeapProfiler(connection, session_id=session_id)
    if check_busy:
        await _check_not_sampling(profiler)
    await profiler.start_sampling(
        sampling_interval=interval,
        include_objects_collected_by_major_gc=include_collected_by_major_gc or None,
        include_objects_collected_by_minor_gc=include_collected_by_minor_gc or None,
    )
    sampler = Sampler(profiler)
    try:
        yield sampler
    except BaseException:
        if not sampler.stopped and connection.closed is None:
            # The block's own exception is the one to report, not the stop's.
            deadline = trio.current_time() + STOP_TIMEOUT
            with trio.CancelScope(shield=True, deadline=deadline), suppress(CDPHeapError):
                await sampler.stop()
        raise
    if not sampler.stopped:
        await sampler.stop()


async def _check_not_sampling(profiler: HeapProfiler) -> None:
    try:
        await profiler.get_sampling_profile()
    except CommandError:
        return  # "V8 sampling heap profiler was not started": free to start
    raise ProfilerBusy(
        "the target's sampling heap profiler is already running: another client "
        "(DevTools' Memory panel, another cdp-heap) is sampling it; V8 has only one per "
        "process, so stop that one first"
    )


def _stopped_elsewhere() -> ProfilerBusy:
    return ProfilerBusy(
        "the target's sampling heap profiler was stopped by another client (another "
        "inspector session called stopSampling); the profile collected so far is lost"
    )


@attrs.frozen
class SavedProfile:
    path: Path
    size: int
    seconds: float


async def save_profile(profile: SamplingHeapProfile, path: str | os.PathLike[str]) -> SavedProfile:
    """Write ``profile`` as a ``.heapprofile`` (``{"head": ..., "samples": [...]}``, the JSON
    DevTools' Memory panel loads) to ``path`` atomically.

    The JSON is built in a worker thread. Raises :class:`~cdp_heap.CaptureError` if the file
    cannot be written; on any failure, and on cancellation, nothing is left at ``path``.
    """
    destination = Path(path)
    started = time.perf_counter()
    writer = AtomicWriter(destination)
    try:
        text = await trio.to_thread.run_sync(_encode, profile)
        for start in range(0, len(text), _WRITE_BATCH):
            await writer.write(text[start : start + _WRITE_BATCH])
        await writer.commit()
    finally:
        writer.discard()
    return SavedProfile(destination, writer.written, time.perf_counter() - started)


def load_profile(path: str | os.PathLike[str]) -> SamplingHeapProfile:
    """Read a ``.heapprofile`` file (as saved by :func:`save_profile` or DevTools)."""
    with open(path, encoding="utf-8") as file:
        return SamplingHeapProfile.from_json(json.load(file))


def _encode(profile: SamplingHeapProfile) -> str:
    return json.dumps(profile.to_json(), separators=(",", ":"))
