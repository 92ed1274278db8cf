"""SIGTERM is Ctrl-C: one path for both, so every command cleans up the same way.

CI time-outs, ``docker stop`` and ``systemctl stop`` send SIGTERM, whose default action
kills the process outright: a capture's temporary file stays behind and nothing is said.
While a command runs, :func:`sigterm_as_interrupt` makes SIGTERM do exactly what SIGINT
does at that moment, by calling whatever handler SIGINT has then:

- trio's own Ctrl-C handler (the usual case): ``KeyboardInterrupt`` is raised in the
  running code, or at the next checkpoint inside trio's protected sections, and unwinds
  through every ``finally`` and ``async with`` (temporary files removed, sampling and
  tracking stopped on the target, the connection closed);
- a ``trio.open_signal_receiver(SIGINT)`` that a command opened to end a collection early
  (``sample``, ``track``): SIGTERM then ends the collection and the command saves what it
  has, as on Ctrl-C. :func:`terminated` tells the two signals apart afterwards.

When SIGINT is ignored (a background job of a non-interactive shell), trio installs no
Ctrl-C handler, and raising ``KeyboardInterrupt`` from a signal handler at an arbitrary
point can corrupt trio's own state. SIGTERM then cancels the command instead
(:func:`cancelled_by_sigterm`, the same unwinding, at the next checkpoint), and
``KeyboardInterrupt`` is raised once the command has unwound.

Doing it by delegation, rather than with a receiver of its own that cancels the run, keeps
one behaviour for both signals everywhere, including inside long synchronous code (the
leak analysis), where a cancellation would wait for the next checkpoint.

The exit code and message differ: 143 and "cdp-heap: terminated" (128 + SIGTERM), where
Ctrl-C gives 130 and "cdp-heap: interrupted".
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

#: 128 + the signal's number, as shells report a process killed by it.
EXIT_INTERRUPTED = 128 + signal.SIGINT
EXIT_TERMINATED = 128 + signal.SIGTERM

_received = False
#: Cancels the running command when SIGINT has no handler to delegate to.
_cancel: Callable[[], object] | None = None


def terminated() -> bool:
    """Whether SIGTERM arrived while :func:`sigterm_as_interrupt` was in effect."""
    return _received


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    global _received
    _received = True
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler):
        handler(signal.SIGINT, frame)
    elif _cancel is not None:
        _cancel()
    else:  # not inside trio: nothing to corrupt
        raise KeyboardInterrupt


@contextmanager
def cancelled_by_sigterm() -> Iterator[None]:
    """Inside ``trio.run``: SIGTERM cancels the block when SIGINT is ignored (see above);
    the block then raises ``KeyboardInterrupt``, as trio's Ctrl-C handler would have."""
    global _cancel
    import trio  # here: a command that runs without trio (``diff``) does not load it

    token = trio.lowlevel.current_trio_token()
    with trio.CancelScope() as scope:
        # run_sync_soon is safe to call from a signal handler; cancel() is not.
        _cancel = lambda: token.run_sync_soon(scope.cancel, idempotent=True)  # noqa: E731
        try:
            yield
        finally:
            _cancel = None
    if scope.cancelled_caught:
        raise KeyboardInterrupt


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM behaves as SIGINT inside the block (main thread only; elsewhere a no-op,
    since only the main thread may set signal handlers)."""
    global _received
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _received = False
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
