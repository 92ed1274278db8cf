"""The shortest pause for a local Node: the target writes its snapshot file itself.

Over the inspector protocol the target spends its pause escaping every chunk into a JSON
message (~6 s of extra CPU per GB on Node 20). When the target is a Node process on this
machine that can write the destination, ``v8.writeHeapSnapshot(FILE)`` through
``Runtime.evaluate`` writes the same snapshot straight to disk, and we then check, fsync
and rename it exactly as the streaming path does.

"Local" is proven, not guessed (:func:`choose_route`); every test failing means streaming:

1. the target is Node and has ``v8.writeHeapSnapshot`` (from the pre-flight's answer);
2. the connection goes to a loopback address, and the process with the PID the target
   reports holds the socket listening on that port *here* (``/proc/net/tcp*`` inode in
   ``/proc/PID/fd``): a proxy in between, a container with its own PID or network
   namespace, a port forward all fail this test;
3. it is in our mount namespace (``/proc/PID/ns/mnt``) with our root directory
   (``/proc/PID/root``, no chroot), so a path means the same file to both of us;
4. its file-system uid/gids (``/proc/PID/status``) may write the destination directory
   and search every directory above it (mode bits; ACLs are not consulted);
5. it runs as our user, or we may ``chown`` (root): the file must end up ours, mode 0600.

Files: a private directory ``.NAME.XXXXXX.partial`` (mode 0700, chowned to the target's
user when it is another) is made beside the destination and the target writes into it.
On success the file is checked (a JSON object, its size), chowned to us, set to 0600,
fsynced and renamed into place, and the directory removed. On any failure or
cancellation (Ctrl-C, SIGTERM) the directory and whatever is in it are removed at once:
if the target had not opened the file yet, its open then fails (``ENOENT``) and nothing
is created; if it had, it finishes writing into an unlinked file whose space the kernel
frees when the target closes it. Either way nothing is left once the command has exited.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import os
import stat
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import attrs
import trio

from ._activate import listens_on
from ._atomic_file import start_writeback
from ._capture import CaptureProgress, SavedSnapshot
from ._connection import CDPConnection
from ._errors import CaptureError
from ._groups import single_exceptions
from ._preflight import TargetMemory, Via

#: How often the file's size is polled while the target writes.
_PROGRESS_INTERVAL = 0.2
#: Start write-back once this much more has been written.
_WRITEBACK_BYTES = 8 * 1024 * 1024


@attrs.frozen
class CaptureRoute:
    """How a snapshot will be taken, and why (``reason`` is one readable clause)."""

    via: Via
    reason: str
    pid: int | None = None
    uid: int | None = None
    gid: int | None = None
    #: Evaluate with ``includeCommandLineAPI`` (for its ``require``): only where needed,
    #: since the console API's objects would otherwise appear in the snapshot.
    console_require: bool = False


def choose_route(memory: TargetMemory, url: str, destination: Path) -> CaptureRoute:
    """Whether the target can write ``destination`` itself (see the module docstring)."""
    if memory.runtime != "node" or not memory.can_write_snapshot:
        return CaptureRoute("stream", "the target is not Node.js with v8.writeHeapSnapshot")
    parts = urlsplit(url)
    try:
        loopback = (
            parts.hostname == "localhost" or ipaddress.ip_address(parts.hostname or "").is_loopback
        )
    except ValueError:
        loopback = False
    if not loopback or parts.port is None or memory.pid is None:
        return CaptureRoute("stream", "the target is reached over the network")
    pid, port = memory.pid, parts.port
    if not listens_on(pid, port):  # False, or None: not known to be ours
        return CaptureRoute(
            "stream",
            f"no process {pid} here holds port {port} (a proxy, a container or a port "
            "forward is in between)",
        )
    try:
        theirs, ours = os.readlink(f"/proc/{pid}/ns/mnt"), os.readlink("/proc/self/ns/mnt")
    except OSError:
        return CaptureRoute("stream", f"cannot see process {pid}'s mount namespace")
    if theirs != ours:
        return CaptureRoute("stream", f"process {pid} is in another mount namespace")
    try:
        chrooted = os.readlink(f"/proc/{pid}/root") != os.readlink("/proc/self/root")
    except OSError:
        chrooted = True
    if chrooted:
        return CaptureRoute("stream", f"process {pid} has another root directory (chroot)")
    identity = _identity(pid)
    if identity is None:
        return CaptureRoute("stream", f"cannot read process {pid}'s user")
    uid, gid, groups = identity
    directory = destination.parent.resolve()
    if not _may_write(directory, uid, gid, groups):
        return CaptureRoute("stream", f"process {pid} (uid {uid}) may not write {directory}")
    if uid != os.geteuid() and os.geteuid() != 0:
        return CaptureRoute(
            "stream", f"process {pid} runs as uid {uid} and cdp-heap may not chown its file"
        )
    reason = f"process {pid} is local and may write {directory}"
    return CaptureRoute("in-process", reason, pid, uid, gid, memory.needs_console_require)


def _identity(pid: int) -> tuple[int, int, frozenset[int]] | None:
    """The file-system uid, gid and supplementary groups of ``pid`` (what the kernel checks
    file permissions with)."""
    uid = gid = None
    groups: frozenset[int] = frozenset()
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        key, _, value = line.partition(":")
        if key == "Uid":
            uid = int(value.split()[3])
        elif key == "Gid":
            gid = int(value.split()[3])
        elif key == "Groups":
            groups = frozenset(int(g) for g in value.split())
    if uid is None or gid is None:
        return None
    return uid, gid, groups


def _may_write(directory: Path, uid: int, gid: int, groups: frozenset[int]) -> bool:
    """Whether that identity may create files in ``directory``: write and search on it,
    search on every directory above it; root only needs a writable file system."""
    try:
        if os.statvfs(directory).f_flag & os.ST_RDONLY:
            return False
        if uid == 0:
            return True
        for index, path in enumerate((directory, *directory.parents)):
            st = os.stat(path)
            need = (stat.S_IWOTH | stat.S_IXOTH) if index == 0 else stat.S_IXOTH
            if st.st_uid == uid:
                shift = 6
            elif st.st_gid == gid or st.st_gid in groups:
                shift = 3
            else:
                shift = 0
            if (st.st_mode >> shift) & need != need:
                return False
    except OSError:
        return False
    return True


class _Staging:
    """The private directory the target writes into, and the move into place."""

    def __init__(self, destination: Path, route: CaptureRoute) -> None:
        self.destination = destination
        try:
            self.directory = Path(
                tempfile.mkdtemp(
                    prefix=f".{destination.name}.",
                    suffix=".partial",
                    # Absolute: the target resolves relative paths against its own cwd.
                    dir=destination.parent.resolve(),
                )
            )
        except OSError as exc:
            raise CaptureError(f"cannot write {destination}: {exc.strerror}") from exc
        self.file = self.directory / "snapshot.heapsnapshot"
        self._done = False
        if route.uid is not None and route.uid != os.geteuid():
            try:
                os.chown(self.directory, route.uid, route.gid if route.gid is not None else -1)
            except OSError:
                self.discard()
                raise

    def size(self) -> int:
        try:
            return self.file.stat().st_size
        except OSError:
            return 0

    def commit(self) -> int:
        """Check, own, fsync and rename the file into place; its size. (Blocking.)"""
        try:
            fd = os.open(self.file, os.O_RDONLY)
        except FileNotFoundError:
            raise CaptureError(
                f"the target wrote no file for {self.destination}; nothing was saved"
            ) from None
        try:
            st = os.fstat(fd)
            head = os.pread(fd, 64, 0)
            tail = os.pread(fd, 64, max(0, st.st_size - 64))
            if not head.lstrip().startswith(b"{") or not tail.rstrip().endswith(b"}"):
                raise CaptureError(
                    f"what the target wrote for {self.destination} is not a complete JSON "
                    f"object ({st.st_size} bytes); nothing was saved"
                )
            if st.st_uid != os.geteuid():
                os.fchown(fd, os.geteuid(), os.getegid())
            os.fchmod(fd, 0o600)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(self.file, self.destination)
        self._done = True
        os.rmdir(self.directory)
        directory_fd = os.open(self.destination.parent, os.O_RDONLY)
        try:
            os.fsync(directory_fd)
        finally:
            os.close(directory_fd)
        return st.st_size

    def discard(self) -> None:
        """Remove the directory and anything the target put in it (idempotent). Loops
        because the target may create the file between our unlink and our rmdir."""
        if self._done:
            return
        for _ in range(100):
            try:
                for entry in os.listdir(self.directory):
                    (self.directory / entry).unlink(missing_ok=True)
                os.rmdir(self.directory)
            except FileNotFoundError:
                self._done = True
                return
            except OSError as exc:
                if exc.errno == errno.ENOTEMPTY:
                    continue
                raise
            self._done = True
            return


def write_snapshot_expression(
    path: Path, *, expose_internals: bool = False, capture_numeric_value: bool = False
) -> str:
    """``v8.writeHeapSnapshot(path, options)`` for ``Runtime.evaluate``, without needing
    ``require`` in scope (see :data:`~cdp_heap._preflight.TARGET_MEMORY_EXPRESSION`)."""
    options = json.dumps(
        {"exposeInternals": expose_internals, "exposeNumericValues": capture_numeric_value}
    )
    return (
        "((p) => (typeof p.getBuiltinModule === 'function' ? p.getBuiltinModule('v8') : "
        "p.mainModule && p.mainModule.require ? p.mainModule.require('v8') : require('v8'))"
        f".writeHeapSnapshot({json.dumps(str(path))}, {options}))(process)"
    )


async def save_snapshot_in_process(
    connection: CDPConnection,
    path: str | os.PathLike[str],
    route: CaptureRoute,
    *,
    gc: bool = False,
    capture_numeric_value: bool | None = None,
    expose_internals: bool | None = None,
    on_progress: Callable[[CaptureProgress], object] | None = None,
    session_id: str | None = None,
) -> SavedSnapshot:
    """Have the target write its heap snapshot to ``path`` (``route`` from
    :func:`choose_route`, ``via == "in-process"``), atomically.

    Object ids are the session's: ``v8.writeHeapSnapshot`` uses the isolate's one heap
    profiler, whose id map lives while HeapProfiler stays enabled, so these snapshots
    compare object for object with streamed ones of the same session.

    On failure or cancellation nothing is left at ``path`` or beside it (see the module
    docstring); the connection stays usable (the evaluate's late reply is ignored).
    """
    if route.via != "in-process":
        raise CaptureError(f"the target cannot write the snapshot itself: {route.reason}")
    destination = Path(path)
    started_at = time.perf_counter()
    if gc:
        await connection.send("HeapProfiler.collectGarbage", session_id=session_id)
    try:
        staging = _Staging(destination, route)
    except OSError as exc:
        raise CaptureError(f"cannot prepare {destination}: {exc.strerror}") from exc
    try:
        expression = write_snapshot_expression(
            staging.file,
            expose_internals=bool(expose_internals),
            capture_numeric_value=bool(capture_numeric_value),
        )
        params = {
            "expression": expression,
            "returnByValue": True,
            "includeCommandLineAPI": route.console_require,
        }
        with single_exceptions():
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_follow, staging, on_progress)
                reply = await connection.send("Runtime.evaluate", params, session_id=session_id)
                nursery.cancel_scope.cancel()
        details = reply.get("exceptionDetails")
        if details is not None:
            exception = details.get("exception", {}) if isinstance(details, dict) else {}
            text = str(exception.get("description") or details).splitlines()[0]
            raise CaptureError(f"the target could not write {destination}: {text}")
        try:
            size = await trio.to_thread.run_sync(staging.commit)
        except OSError as exc:
            raise CaptureError(f"cannot write {destination}: {exc.strerror}") from exc
    finally:
        staging.discard()
    if on_progress is not None:
        on_progress(CaptureProgress("writing", 0, 0, size))
    return SavedSnapshot(
        path=destination,
        size=size,
        chunks=0,
        seconds=time.perf_counter() - started_at,
        peak_buffer_bytes=0,
        via="in-process",
    )


async def _follow(
    staging: _Staging, on_progress: Callable[[CaptureProgress], object] | None
) -> None:
    """While the target writes: report its file's size as ``"writing"`` progress, and start
    the kernel's write-back of what it has written so far, so that the final ``fsync``
    waits for the tail only (as :class:`~cdp_heap._atomic_file.AtomicWriter` does)."""
    fd = -1
    started_to = 0
    try:
        while True:
            await trio.sleep(_PROGRESS_INTERVAL)
            size = staging.size()
            if on_progress is not None:
                on_progress(CaptureProgress("writing", 0, 0, size))
            if start_writeback is None or size - started_to < _WRITEBACK_BYTES:
                continue
            if fd < 0:
                try:
                    fd = os.open(staging.file, os.O_RDONLY)
                except OSError:
                    continue
            start_writeback(fd, started_to, size - started_to)
            started_to = size
    finally:
        if fd >= 0:
            os.close(fd)
