"""``cdp-heap track``: allocation tracking, live numbers on a terminal, snapshot with traces."""

from __future__ import annotations

import argparse
import sys
from collections import deque
from contextlib import suppress
from typing import TYPE_CHECKING, Any, TextIO

from .._errors import CDPHeapError
from ._common import (
    add_command,
    add_output_argument,
    add_timeout_argument,
    output_path,
    positive_float,
)
from ._progress import CaptureProgressBar, format_bytes
from ._snapshot import add_force_argument, open_checked_target
from ._target import TARGET_HELP, add_connection_arguments

if TYPE_CHECKING:
    from .._tracking import Tracker, TrackingSample

DESCRIPTION = """\
Track the target's heap objects for --duration seconds (or until Ctrl-C), like DevTools'
"Allocation instrumentation on timeline": on a terminal, stderr shows the live heap and
the allocation rate. Stopping takes a heap snapshot that records the stack of every
allocation made while tracking (trace_function_infos / trace_tree), saved to FILE: load it
in DevTools' Memory panel and pick "Allocation" view, or look at its allocation stacks.

Tracking costs the target more than 'cdp-heap sample' (every allocation's stack is
recorded) and the final snapshot pauses it like 'cdp-heap snapshot'.

Ctrl-C, or the end of --duration, stops tracking and saves the snapshot; the target is
never left tracking. The file appears only when complete."""

EPILOG = (
    TARGET_HELP
    + """

examples:
  cdp-heap track --port 9229 --duration 20 -o timeline.heapsnapshot
  cdp-heap track --pid 4242 -o timeline.heapsnapshot        # until Ctrl-C

prints the path of the saved snapshot on stdout."""
)


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "track",
        summary="track allocations over time; save a snapshot with allocation stacks",
        description=DESCRIPTION,
        epilog=EPILOG,
    )
    add_connection_arguments(parser, large="snapshot chunks")
    parser.add_argument(
        "--duration",
        type=positive_float,
        metavar="S",
        help="track for S seconds (default: until Ctrl-C)",
    )
    add_output_argument(parser, ".heapsnapshot")
    parser.add_argument(
        "--no-stacks",
        action="store_true",
        help="do not record allocation stacks (trackAllocations=false): cheaper for the "
        "target, but the snapshot cannot say which function allocated what",
    )
    parser.add_argument(
        "--no-progress",
        action="store_true",
        help="no live display or progress bar even on a terminal",
    )
    add_force_argument(parser)
    add_timeout_argument(parser)
    parser.set_defaults(run=run)


async def run(args: argparse.Namespace) -> int:
    from .._tracking import open_tracking
    from ._collect import collect_until_done

    path = output_path(args.output, ".heapsnapshot")
    show = not args.no_progress and sys.stderr.isatty()
    async with (
        open_checked_target(args) as (target, conn),
        open_tracking(conn, track_allocations=not args.no_stacks) as tracker,
    ):
        until = f"for {args.duration:g} s" if args.duration else "until Ctrl-C"
        notice = (
            f"tracking {target.title or target.url or target.id} {until}; "
            "Ctrl-C stops early and saves"
        )
        display = LiveDisplay(sys.stderr, tracker)
        reason = await collect_until_done(
            args.duration, conn, display.run if show else None, notice=notice
        )
        display.finish()
        print(summary(tracker.latest, reason), file=sys.stderr)
        bar = CaptureProgressBar(f"{path.name}:")
        try:
            saved = await tracker.save_snapshot(
                path, report_progress=show, on_progress=bar.update if show else None
            )
        finally:
            bar.finish()
    print(f"saved {path} ({format_bytes(saved.size)} in {saved.seconds:.1f} s)", file=sys.stderr)
    if not saved.allocation_traces:
        print(
            "cdp-heap: warning: the snapshot has no allocation stacks: another inspector "
            "session closed or disabled HeapProfiler while tracking, which stops V8's "
            "allocation tracker for the whole process",
            file=sys.stderr,
        )
    print(path, flush=True)
    return 0


def summary(sample: TrackingSample | None, reason: str) -> str:
    stopped = "" if reason == "duration" else f" ({reason})"
    if sample is None:
        return (
            f"tracking stopped{stopped}; the target sent no heap statistics (Node sends them "
            "every ~100 ms, Deno never does)"
        )
    return (
        f"tracking stopped{stopped}: heap {format_bytes(sample.live_size)} in "
        f"{sample.live_objects:,} objects; {format_bytes(sample.allocated_size)} allocated "
        "while tracking (still alive a tick later)"
    )


class LiveDisplay:
    """One line on a terminal: elapsed time, live heap, objects and allocation rate."""

    MIN_INTERVAL = 0.2
    RATE_WINDOW_MS = 1000.0

    def __init__(self, stream: TextIO, tracker: Tracker) -> None:
        self.stream = stream
        self.tracker = tracker
        self._history: deque[tuple[float, int]] = deque()
        self._drawn = False

    async def run(self) -> None:
        """Redraw on new samples, at most every ``MIN_INTERVAL`` s; returns (never raises)
        when tracking or the connection ends: the caller reports that."""
        import trio

        started = trio.current_time()
        with suppress(CDPHeapError):
            async with self.tracker.subscribe(policy="latest") as samples:
                async for sample in samples:
                    self.draw(sample, trio.current_time() - started)
                    await trio.sleep(self.MIN_INTERVAL)

    def rate(self, sample: TrackingSample) -> float:
        """Bytes allocated per second over about the last second."""
        history = self._history
        history.append((sample.timestamp, sample.allocated_size))
        while len(history) > 2 and sample.timestamp - history[1][0] >= self.RATE_WINDOW_MS:
            history.popleft()
        (t0, a0), (t1, a1) = history[0], history[-1]
        return (a1 - a0) / ((t1 - t0) / 1000) if t1 > t0 else 0.0

    def draw(self, sample: TrackingSample, elapsed: float) -> None:
        line = (
            f"tracking {elapsed:5.1f} s  heap {format_bytes(sample.live_size):>9}  "
            f"{sample.live_objects:>11,} objects  alloc {format_bytes(self.rate(sample))}/s"
        )
        self.stream.write("\r\x1b[K" + line)
        self.stream.flush()
        self._drawn = True

    def finish(self) -> None:
        if self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
