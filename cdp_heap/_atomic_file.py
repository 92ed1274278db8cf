"""Files that appear complete or not at all: snapshots, tracking snapshots and profiles.

:class:`AtomicWriter` writes to a temporary file in the destination's directory (so the
final rename never crosses a file system), checks that what it wrote is one JSON object of
the expected size, fsyncs it and renames it into place. Until :meth:`AtomicWriter.commit`
returns, nothing exists at the destination; :meth:`AtomicWriter.discard` removes the
temporary file on every other path (an error, a cancellation, a full disk).

Writes run in a worker thread, so a slow disk never stalls the connection's reader; the
stream's bounded queue in front of the writer is what pushes back.

Durability without a stall at the end: a 1 GB snapshot left entirely to the final
``fsync`` would make the caller wait for the whole write-back after the last chunk (about
0.1 s per 200 MB on the project's VM). On Linux the writer asks the kernel to start
write-back of each written range as it goes (``sync_file_range(SYNC_FILE_RANGE_WRITE)``,
which does not wait), so the final ``fsync`` only waits for the last few megabytes. Where
that call does not exist, the final ``fsync`` does all of it.
"""

from __future__ import annotations

import errno
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import trio

from ._errors import CaptureError

#: Start write-back once this much has been written since the last time.
_WRITEBACK_BYTES = 8 * 1024 * 1024


class AtomicWriter:
    """A temporary file beside ``destination``, renamed into place by :meth:`commit`.

    Raises :class:`~cdp_heap.CaptureError` (with the ``OSError`` as its cause) when the
    temporary file cannot be created, so an unwritable destination fails before anything
    is asked of the target. ``json_object=False`` (an HTML report) skips the check that the
    content is one JSON object; the byte count is still checked.
    """

    def __init__(self, destination: Path, *, json_object: bool = True) -> None:
        self.destination = destination
        self._json_object = json_object
        self.written = 0
        self._first = b""
        self._tail = b""
        self._committed = False
        self._writeback_from = 0
        try:
            self._fd, temp_name = tempfile.mkstemp(
                prefix=f".{destination.name}.", suffix=".partial", dir=destination.parent
            )
        except OSError as exc:
            raise _write_error(destination, exc) from exc
        self._temp = Path(temp_name)

    async def write(self, text: str) -> None:
        """Append ``text`` (encoded as UTF-8) in a worker thread."""
        data = text.encode()
        if not self._first:
            self._first = data.lstrip()[:1]
        self._tail = (self._tail + data[-64:])[-64:]
        writeback: tuple[int, int] | None = None
        end = self.written + len(data)
        if end - self._writeback_from >= _WRITEBACK_BYTES:
            writeback = (self._writeback_from, end - self._writeback_from)
            self._writeback_from = end
        try:
            await trio.to_thread.run_sync(_write_all, self._fd, data, writeback)
        except OSError as exc:
            raise _write_error(self.destination, exc) from exc
        self.written = end

    async def commit(self) -> None:
        """Check the file, flush it to disk and move it to the destination."""
        if self._json_object and (self._first != b"{" or not self._tail.rstrip().endswith(b"}")):
            raise CaptureError(
                f"what was received for {self.destination} is not a complete JSON object "
                f"({self.written} bytes); nothing was saved"
            )
        try:
            size = os.fstat(self._fd).st_size
            if size != self.written:
                raise CaptureError(
                    f"{self._temp} holds {size} bytes but {self.written} were written"
                )
            await trio.to_thread.run_sync(os.fsync, self._fd)
            os.close(self._fd)
            self._fd = -1
            os.replace(self._temp, self.destination)
            self._committed = True
            await trio.to_thread.run_sync(_fsync_directory, self.destination.parent)
        except OSError as exc:
            raise _write_error(self.destination, exc) from exc

    def discard(self) -> None:
        """Remove the temporary file unless it was committed (idempotent)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if not self._committed:
            self._temp.unlink(missing_ok=True)


def _write_all(fd: int, data: bytes, writeback: tuple[int, int] | None) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    if writeback is not None and start_writeback is not None:
        start_writeback(fd, *writeback)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_error(destination: Path, exc: OSError) -> CaptureError:
    """The one-line error for an ``OSError`` while writing ``destination``."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        what = "the disk is full"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        what = "permission denied"
    elif exc.errno == errno.ENOENT:
        what = "the directory does not exist"
    else:
        what = exc.strerror or str(exc)
    return CaptureError(f"cannot write {destination}: {what}; nothing was saved")


def _linux_writeback() -> Callable[[int, int, int], None] | None:
    """``sync_file_range(fd, offset, length, SYNC_FILE_RANGE_WRITE)`` from the C library,
    or ``None`` where there is no such call. Errors are left to the final ``fsync``, which
    reports them: starting write-back early is only an optimisation."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes  # only here: it costs start-up time everywhere else

    try:
        function = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
    function.restype = ctypes.c_int
    sync_file_range_write = 2

    def start_writeback(fd: int, offset: int, length: int) -> None:
        function(fd, offset, length, sync_file_range_write)

    return start_writeback


#: Starts the kernel's write-back of a range of a file without waiting (``None`` where the
#: system has no such call); :mod:`._inprocess` uses it for the file the target writes.
start_writeback = _linux_writeback()
