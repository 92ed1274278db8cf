"""A one-line progress display on a terminal (stderr); silent when stderr is not a tty."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from .._capture import CaptureProgress


def format_bytes(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    raise AssertionError("unreachable")


def plural(count: int, noun: str) -> str:
    """``1 sample``, ``2 samples``, ``1,234 samples``, ``2 classes``."""
    if count == 1:
        return f"1 {noun}"
    return f"{count:,} {noun}{'es' if noun.endswith(('s', 'x', 'ch', 'sh')) else 's'}"


class CaptureProgressBar:
    """Renders :class:`~cdp_heap.CaptureProgress` as ``label [####    ] 45% 12.3 MB 40 MB/s``.

    The percentage is V8's own (objects processed while it builds the snapshot, from
    progress events); while chunks arrive it shows bytes and the rate.
    """

    WIDTH = 24
    MIN_INTERVAL = 0.1

    def __init__(
        self,
        label: str,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty()
        self._clock = clock
        self._building_seen = clock()
        self._writing_since: float | None = None
        self._last_draw = 0.0
        self._phase = ""

    def update(self, progress: CaptureProgress) -> None:
        if not self.enabled:
            return
        now = self._clock()
        if progress.phase == "building":
            self._building_seen = now
        elif self._writing_since is None:
            # The rate is the transfer's: V8's graph building before the first chunk can
            # take most of a big capture and would make the disk look slow. The first
            # chunk arrived after the last building event (or, without progress events,
            # after the bar was made: then the build is in it, unavoidably).
            self._writing_since = self._building_seen
        # Redraw at most every MIN_INTERVAL, but always when the phase changes, so that a
        # short capture still shows that it went from building to writing.
        if progress.phase == self._phase and now - self._last_draw < self.MIN_INTERVAL:
            return
        self._last_draw = now
        self._phase = progress.phase
        if progress.phase == "building" and progress.total:
            fraction = progress.done / progress.total
            filled = int(fraction * self.WIDTH)
            bar = "#" * filled + " " * (self.WIDTH - filled)
            line = f"{self.label} building [{bar}] {fraction:4.0%}"
        else:
            since = self._writing_since if self._writing_since is not None else now
            rate = progress.bytes_written / max(now - since, 1e-3)
            line = (
                f"{self.label} writing {format_bytes(progress.bytes_written)} "
                f"at {format_bytes(rate)}/s"
            )
        self.stream.write("\r\x1b[K" + line)
        self.stream.flush()

    def finish(self) -> None:
        if self.enabled:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
