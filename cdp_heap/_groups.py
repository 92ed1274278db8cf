"""Keeping trio's exception groups an implementation detail.

``open_cdp`` runs its reader task in a nursery, and trio wraps every exception that leaves a
nursery in an ``ExceptionGroup``. The reader never raises, so a group that leaves
``open_cdp`` holds the one exception the caller's own code raised: callers should see that
exception, so that ``except CaptureError`` works as they expect.
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
    """Re-raise a group of one exception as that exception."""
    try:
        yield
    except BaseExceptionGroup as group:
        error = collapse(group)
        if error is group:
            raise
        raise error from error.__cause__
