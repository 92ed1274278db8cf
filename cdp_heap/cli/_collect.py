"""Collecting for a while: until ``--duration`` ends, Ctrl-C, or the connection drops."""

from __future__ import annotations

import math
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Literal

import trio

from .._connection import CDPConnection
from ._signals import terminated

EndReason = Literal["duration", "interrupted", "terminated"]


async def collect_until_done(
    duration: float | None,
    connection: CDPConnection,
    meanwhile: Callable[[], Awaitable[object]] | None = None,
    *,
    notice: str | None = None,
) -> EndReason:
    """Wait ``duration`` seconds (forever if ``None``) or until SIGINT (Ctrl-C) or SIGTERM.

    Ctrl-C (and SIGTERM, which the CLI turns into SIGINT: see ``_signals``) is caught
    here, so it ends the collection early and the caller still stops the target and saves;
    once this returns, Ctrl-C interrupts as usual again. Raises the
    connection's error if the connection closes meanwhile. ``meanwhile`` (e.g. a live
    display) runs alongside and is cancelled at the end; it must not raise. ``notice`` (a
    line telling the user that Ctrl-C saves) goes to stderr once that is true: a signal
    sent after it appears is caught here.
    """
    reason: EndReason = "duration"
    closed = None
    with trio.open_signal_receiver(signal.SIGINT) as signals:
        if notice is not None:
            print(notice, file=sys.stderr, flush=True)
        async with trio.open_nursery() as nursery:

            async def on_signal() -> None:
                nonlocal reason
                async for _ in signals:
                    reason = "terminated" if terminated() else "interrupted"
                    nursery.cancel_scope.cancel()

            async def on_close() -> None:
                nonlocal closed
                closed = await connection.wait_closed()
                nursery.cancel_scope.cancel()

            nursery.start_soon(on_signal)
            nursery.start_soon(on_close)
            if meanwhile is not None:
                nursery.start_soon(meanwhile)
            await trio.sleep(math.inf if duration is None else duration)
            nursery.cancel_scope.cancel()
    if closed is not None:
        raise closed
    return reason
