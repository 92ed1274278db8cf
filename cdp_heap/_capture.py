"""Heap snapshot capture: a stream of chunks with backpressure, and atomic saving to a file.

How a capture flows::

    target ──socket──▶ reader task ──BoundedQueue (bytes, "block")──▶ consumer ──▶ file

- The stream's queue is registered *before* the command is sent, so no chunk can arrive
  unclaimed. Every chunk before the command's reply belongs to it; the reply closes the
  queue; the consumer drains what is queued and then sees the end (or the command's error).
- The queue is bounded in bytes. When the consumer (the disk) is slower than the socket, the
  reader waits, so the client's memory stays flat whatever the snapshot size; V8 does not
  pause for the reader, so what waits is the target's outgoing buffer.
- Leaving the stream early (an error, a cancellation, a ``break``) abandons the command: the
  rest of its chunks are discarded by the connection as they arrive, its late reply is
  ignored, and the connection stays usable for the next command.

:func:`save_snapshot` writes through :class:`~cdp_heap._atomic_file.AtomicWriter`: a
temporary file in the destination's directory, checked (JSON object boundaries, byte
count), fsynced and renamed into place, so a failed or cancelled capture leaves nothing at
the destination.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Literal

import attrs
import trio

from ._atomic_file import AtomicWriter
from ._connection import CDPConnection, start_command
from ._handles import PendingCommand, SnapshotProgress
from ._limits import MiB
from ._queue import BoundedQueue, QueueStatistics
from ._wire import JSONObject

#: Room for ~16 Chromium chunks or ~160 Node chunks: enough to ride out a disk hiccup,
#: small next to the snapshot.
DEFAULT_MAX_BUFFER_BYTES = 16 * MiB
#: Most bytes handed to one write() call; many small chunks are joined into one write.
_WRITE_BATCH_BYTES = 4 * MiB
TAKE_SNAPSHOT = "HeapProfiler.takeHeapSnapshot"


@attrs.frozen
class SnapshotStreamStatistics:
    chunks: int
    #: Characters received so far (V8 writes ASCII, so this is the file size in bytes).
    chars: int
    #: The last progress event, if the capture asked for them.
    progress: SnapshotProgress | None
    buffer: QueueStatistics


class SnapshotStream:
    """The chunks of one heap snapshot, in order: ``async for chunk in stream``.

    Iteration ends after the target's reply to the snapshot command; it raises
    :class:`~cdp_heap.CommandError` if the target refused the command and
    :class:`~cdp_heap.ConnectionClosed` if the connection ended first.
    """

    def __init__(
        self, command: PendingCommand, queue: BoundedQueue[str | SnapshotProgress]
    ) -> None:
        self._command = command
        self._queue = queue
        self._chunks = 0
        self._chars = 0
        self._progress: SnapshotProgress | None = None
        self._progress_callback: Callable[[SnapshotProgress], object] | None = None
        self.result: JSONObject | None = None

    @property
    def command_id(self) -> int:
        return self._command.id

    @property
    def complete(self) -> bool:
        """Whether every chunk was received and the command succeeded."""
        return self.result is not None

    def on_progress(self, callback: Callable[[SnapshotProgress], object] | None) -> None:
        """Call ``callback`` (from the consuming task) for each progress event."""
        self._progress_callback = callback

    def __aiter__(self) -> AsyncIterator[str]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[str]:
        while True:
            chunk = await self.receive_some(1)
            if not chunk:
                return
            yield chunk

    async def receive_some(self, max_chars: int = _WRITE_BATCH_BYTES) -> str:
        """At least one chunk, joined with any others already queued, up to about
        ``max_chars``; ``""`` at the end of the snapshot."""
        parts: list[str] = []
        size = 0
        while size < max_chars:
            try:
                part = await self._queue.get() if not parts else self._queue.get_nowait()
            except trio.WouldBlock:
                break
            except trio.EndOfChannel:
                if not parts:
                    self.result = await self._command.wait()
                break
            if isinstance(part, SnapshotProgress):
                self._progress = part
                if self._progress_callback is not None:
                    self._progress_callback(part)
                continue
            parts.append(part)
            size += len(part)
        self._chunks += len(parts)
        self._chars += size
        return "".join(parts)

    def statistics(self) -> SnapshotStreamStatistics:
        return SnapshotStreamStatistics(
            chunks=self._chunks,
            chars=self._chars,
            progress=self._progress,
            buffer=self._queue.statistics(),
        )


@asynccontextmanager
async def open_snapshot_stream(
    connection: CDPConnection,
    *,
    method: str = TAKE_SNAPSHOT,
    params: JSONObject | None = None,
    max_buffer_bytes: int = DEFAULT_MAX_BUFFER_BYTES,
    session_id: str | None = None,
) -> AsyncIterator[SnapshotStream]:
    """Send a snapshot-producing command and stream its chunks (see the module docstring).

    Prefer :meth:`HeapProfiler.take_heap_snapshot`, which builds ``params`` from keywords.
    """
    queue: BoundedQueue[str | SnapshotProgress] = BoundedQueue(
        max_buffer_bytes, "block", name="heap snapshot stream"
    )
    command = await start_command(connection, method, params, session_id=session_id, sink=queue)
    stream = SnapshotStream(command, queue)
    try:
        yield stream
    finally:
        if not stream.complete:
            command.abandon()


CapturePhase = Literal["building", "writing"]


@attrs.frozen
class CaptureProgress:
    """Reported to :func:`save_snapshot`'s ``on_progress`` as the capture advances."""

    #: ``"building"`` while V8 walks the heap (only with ``report_progress``), then
    #: ``"writing"`` while chunks arrive.
    phase: CapturePhase
    #: Objects V8 has processed out of ``total`` (0 of 0 when progress was not requested).
    done: int
    total: int
    bytes_written: int


@attrs.frozen
class SavedSnapshot:
    path: Path
    size: int
    chunks: int
    seconds: float
    #: Most bytes the stream's buffer held at once (bounded by ``max_buffer_bytes``).
    peak_buffer_bytes: int
    #: ``"stream"``: received over the protocol; ``"in-process"``: written by the target.
    via: str = attrs.field(default="stream", kw_only=True)


async def save_snapshot(
    connection: CDPConnection,
    path: str | os.PathLike[str],
    *,
    gc: bool = False,
    report_progress: bool = False,
    capture_numeric_value: bool | None = None,
    expose_internals: bool | None = None,
    on_progress: Callable[[CaptureProgress], object] | None = None,
    max_buffer_bytes: int = DEFAULT_MAX_BUFFER_BYTES,
    session_id: str | None = None,
    method: str = TAKE_SNAPSHOT,
) -> SavedSnapshot:
    """Take a heap snapshot and write it to ``path`` atomically.

    ``gc`` runs ``HeapProfiler.collectGarbage`` first (V8 also collects garbage as part of
    every snapshot; an explicit one first also clears weak references and finalizers'
    leftovers). ``report_progress`` asks V8 for progress events (an extra heap pass in the
    target); ``on_progress`` is called as the capture advances either way.

    Raises :class:`~cdp_heap.CaptureError` if the file cannot be written (e.g. a full disk)
    or the snapshot is incomplete, and the connection's errors if it ends; in every failure,
    and on cancellation, nothing is left at ``path`` and, if the connection is still open,
    it remains usable.
    """
    destination = Path(path)
    started_at = time.perf_counter()
    params = {
        key: value
        for key, value in (
            ("reportProgress", report_progress or None),
            ("captureNumericValue", capture_numeric_value),
            ("exposeInternals", expose_internals),
        )
        if value is not None
    }
    if gc:
        await connection.send("HeapProfiler.collectGarbage", session_id=session_id)
    writer = AtomicWriter(destination)
    stream = open_snapshot_stream(
        connection,
        method=method,
        params=params,
        max_buffer_bytes=max_buffer_bytes,
        session_id=session_id,
    )
    return await save_stream(stream, writer, on_progress, started_at)


async def save_stream(
    stream: AbstractAsyncContextManager[SnapshotStream],
    writer: AtomicWriter,
    on_progress: Callable[[CaptureProgress], object] | None,
    started_at: float,
) -> SavedSnapshot:
    """Open ``stream``, write all of it through ``writer`` and commit the file; on any
    failure or cancellation the temporary file is removed. Shared by :func:`save_snapshot`
    and allocation tracking's final snapshot; ``started_at`` is the ``perf_counter()`` the
    returned ``seconds`` count from."""
    try:
        async with stream as opened:
            statistics = await _write_stream(opened, writer, on_progress)
        await writer.commit()
    finally:
        writer.discard()
    return SavedSnapshot(
        path=writer.destination,
        size=writer.written,
        chunks=statistics.chunks,
        seconds=time.perf_counter() - started_at,
        peak_buffer_bytes=statistics.buffer.peak_cost,
    )


async def _write_stream(
    stream: SnapshotStream,
    writer: AtomicWriter,
    on_progress: Callable[[CaptureProgress], object] | None,
) -> SnapshotStreamStatistics:
    """Write every chunk of ``stream`` to ``writer`` (not committed); the stream's final
    statistics."""
    if on_progress is not None:
        stream.on_progress(
            lambda p: on_progress(CaptureProgress("building", p.done, p.total, writer.written))
        )
    while data := await stream.receive_some():
        await writer.write(data)
        if on_progress is not None:
            progress = stream.statistics().progress
            done, total = (progress.done, progress.total) if progress else (0, 0)
            on_progress(CaptureProgress("writing", done, total, writer.written))
    return stream.statistics()
