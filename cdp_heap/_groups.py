"""Keeping trio's exception groups an implementation detail.

``open_cdp`` runs its reader task in a nursery, and trio wraps every exception that leaves a
nursery in an ``ExceptionGroup``. The reader never raises, so a group that leaves
``open_cdp`` holds the one exception the caller's own code raised: callers should see that
exception, so that ``except CaptureError`` works as they expect.

The one exception a background task can raise is ``KeyboardInterrupt``: trio raises Ctrl-C
in whatever code is running when it arrives, and that is often the reader, busy parsing a
snapshot chunk. The reader then ends, so the caller's pending command fails with
``ConnectionClosed``: two exceptions, but one event. The interrupt is what happened and the
rest its consequences, so a group holding a ``KeyboardInterrupt`` is re-raised as that.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


def collapse(error: BaseException) -> BaseException:
    """The single exception inside (nested) one-exception groups, else ``error`` itself."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


@contextmanager
def single_exceptions() -> Iterator[None]:
    """Re-raise a group of one exception as that exception, and any group that holds a
    ``KeyboardInterrupt`` as the interrupt."""
    try:
        yield
    except BaseExceptionGroup as group:
        interrupts, _ = group.split(KeyboardInterrupt)
        if interrupts is not None:
            raise _first(interrupts) from group
        error = collapse(group)
        if error is group:
            raise
        raise error from error.__cause__


def _first(error: BaseException) -> BaseException:
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error
