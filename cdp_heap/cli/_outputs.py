"""Output paths, checked before anything starts and written so they appear whole or not at all.

A command that records for minutes, or takes three snapshots and analyses them, must not
find out at the end that it cannot write its result: every path a command will write is
checked first, by creating (and removing) the atomic writer's temporary file beside it,
which is exactly what the final write will do. What is written at the end (the leak
command's HTML report) goes through the same :class:`~cdp_heap._atomic_file.AtomicWriter`
as snapshots, so a full disk leaves no truncated file.
"""

from __future__ import annotations

import errno
import functools
import os
import select
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from .._errors import CaptureError, CDPHeapError
from ._common import UsageError

if TYPE_CHECKING:
    from .._atomic_file import AtomicWriter


def _atomic_writer() -> type[AtomicWriter]:
    # Imported when a command runs: the writer brings trio, which building the CLI's parsers
    # (``cdp-heap --help``) must not load (tests/test_imports.py).
    from .._atomic_file import AtomicWriter

    return AtomicWriter


def probe(path: Path) -> None:
    """Create and remove the temporary file that writing ``path`` will use.

    KI-protected: a Ctrl-C (or SIGTERM) landing between the two would leave the file
    behind; trio delivers it at the next checkpoint instead.
    """
    _protected_probe()(path)


@functools.cache
def _protected_probe() -> Callable[[Path], None]:
    import trio  # when a command runs, not when the parsers are built (see _atomic_writer)

    @trio.lowlevel.enable_ki_protection
    def discard(path: Path) -> None:
        _atomic_writer()(path).discard()

    return discard


def check_output_file(path: Path, option: str = "-o") -> None:
    """Fail now, not after the work, if ``path`` cannot be written.

    A directory is a usage error (exit 2); a missing or unwritable directory is a failure
    to write (exit 1), with the same message the write itself would give.
    """
    if path.is_dir():
        raise UsageError(f"{path} is a directory; {option} wants a file name")
    if not path.parent.is_dir():
        raise CaptureError(f"cannot write {path}: the directory does not exist; nothing was saved")
    probe(path)


async def write_text_atomically(path: Path, text: str) -> None:
    """``path`` holds ``text`` once this returns, and is untouched if it raises."""
    writer = _atomic_writer()(path, json_object=False)
    try:
        await writer.write(text)
        await writer.commit()
    finally:
        writer.discard()


@contextmanager
def output_directory(path: Path, probe_name: str) -> Iterator[Path]:
    """``path`` as a directory to write ``probe_name`` and its siblings into.

    Created (with its parents) if missing and checked writable before the block runs; the
    directories created here are removed again if the block fails and leaves them empty, so
    a failed run (a full disk, Ctrl-C) leaves no new empty directory behind.
    """
    if path.exists() and not path.is_dir():
        raise UsageError(f"{path} exists and is not a directory; -o wants a directory")
    created = [p for p in (path, *path.parents) if not p.exists()]  # deepest first
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _remove_empty(created)
        raise CaptureError(f"cannot create {path}: {describe(exc)}; nothing was saved") from exc
    try:
        probe(path / probe_name)
        yield path
    except BaseException:
        _remove_empty(created)
        raise


def check_input_files(paths: list[Path]) -> None:
    """Each of ``paths`` is a readable heap snapshot, else one line naming it (exit 1).

    Only the start of each file is read: what is wrong further in is the reader's to say.
    A sampling heap profile (``cdp-heap sample``'s ``.heapprofile``) is recognised by its
    first key, so the user hears what it is rather than a parse error.
    """
    for path in paths:
        if path.is_dir():
            raise CDPHeapError(f"cannot read {path}: it is a directory, not a heap snapshot")
        try:
            with path.open("rb") as file:
                start = file.read(64)
        except OSError as exc:
            raise CDPHeapError(f"cannot read {path}: {describe(exc)}") from exc
        if start.lstrip().startswith(b'{"head"'):
            raise CDPHeapError(
                f"{path} is a sampling heap profile (from 'cdp-heap sample'), not a heap "
                "snapshot: 'cdp-heap sample' prints its top allocation sites, DevTools' Memory "
                "panel loads it (Load profile); diff and leak read .heapsnapshot files"
            )


def stdout_closed() -> bool:
    """Whether stdout is a pipe whose reader has gone (``cdp-heap diff --json | head -1``)."""
    try:
        fd = sys.stdout.fileno()
        poller = select.poll()
    except (AttributeError, OSError, ValueError):  # no poll() (Windows), or no real stdout
        return True
    poller.register(fd, select.POLLOUT)
    return any(events & select.POLLERR for _, events in poller.poll(0))


def silence_stdout() -> None:
    """Point stdout at the null device, so that the interpreter's final flush of what is
    still buffered does not fail again on the closed pipe."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    finally:
        os.close(devnull)


def describe(exc: OSError) -> str:
    """What an ``OSError`` means to the user, without the ``[Errno N]``."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "the disk is full"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "permission denied"
    return exc.strerror or str(exc)


def _remove_empty(directories: list[Path]) -> None:
    for directory in directories:
        try:
            directory.rmdir()
        except OSError:  # not empty (or already gone): keep it and its parents
            return
