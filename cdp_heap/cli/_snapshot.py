"""``cdp-heap snapshot``: take heap snapshots and save them atomically."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ._common import (
    UsageError,
    add_command,
    add_output_argument,
    add_timeout_argument,
    output_path,
    positive_int,
)
from ._progress import CaptureProgressBar, format_bytes
from ._target import TARGET_HELP, add_connection_arguments, open_target

DESCRIPTION = """\
Take a heap snapshot of a Node.js process, a Chrome tab or a Deno process and save it to
FILE (a .heapsnapshot that Chrome DevTools' Memory panel loads). The file appears only
when the snapshot is complete: a failed or interrupted capture leaves nothing behind.

Taking a snapshot pauses the target's main thread and can temporarily double its heap.

Comparable snapshots: V8 numbers heap objects with ids that last only while the heap
profiler stays enabled in the target. Any inspector session that disables it, and every
session that closes, resets them. Snapshots taken by separate 'cdp-heap snapshot' runs
(separate sessions) therefore cannot be compared object for object: a diff shows tens of
thousands of unchanged objects as both deleted and new. Take the series in one session
with --count N --interval S (or use 'cdp-heap leak', or go through 'cdp-heap proxy',
which keeps one session open)."""

EPILOG = (
    TARGET_HELP
    + """

examples:
  cdp-heap snapshot -o app.heapsnapshot                   # inspector on 127.0.0.1:9229
  cdp-heap snapshot --pid 4242 -o app.heapsnapshot        # activate a running Node first
  cdp-heap snapshot --port 9229 --gc --count 3 --interval 30 -o app.heapsnapshot
      # writes app-1.heapsnapshot, app-2.heapsnapshot, app-3.heapsnapshot in one session

prints the path of each saved file on stdout."""
)


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "snapshot",
        summary="take a heap snapshot",
        description=DESCRIPTION,
        epilog=EPILOG,
    )
    add_connection_arguments(parser, large="snapshot chunks")
    add_output_argument(parser, ".heapsnapshot")
    parser.add_argument(
        "--gc", action="store_true", help="collect garbage in the target before each snapshot"
    )
    parser.add_argument(
        "--capture-numeric-values",
        action="store_true",
        help="include the values of numbers in the snapshot (captureNumericValue)",
    )
    parser.add_argument(
        "--expose-internals",
        action="store_true",
        help="include V8's internal objects and edges (exposeInternals)",
    )
    parser.add_argument(
        "--count",
        type=positive_int,
        default=1,
        metavar="N",
        help="take N snapshots in one inspector session, saved as FILE-1, FILE-2, ... "
        "(their object ids are comparable)",
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=0.0,
        metavar="S",
        help="seconds to wait between snapshots with --count (default 0)",
    )
    parser.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress display even on a terminal (V8 then skips its progress pass)",
    )
    add_timeout_argument(parser)
    parser.set_defaults(run=run)


def output_paths(output: Path | None, count: int) -> list[Path]:
    """FILE for one snapshot; FILE-1, FILE-2, ... (before the suffix) for a series."""
    output = output_path(output, ".heapsnapshot")
    if count == 1:
        return [output]
    suffix = "".join(output.suffixes[-1:]) or ""
    stem = output.name[: len(output.name) - len(suffix)] if suffix else output.name
    return [output.with_name(f"{stem}-{i}{suffix}") for i in range(1, count + 1)]


async def run(args: argparse.Namespace) -> int:
    import trio

    from .._capture import save_snapshot

    if args.interval < 0:
        raise UsageError("--interval must be >= 0")
    if args.interval and args.count == 1:
        raise UsageError("--interval only makes sense with --count N > 1")
    paths = output_paths(args.output, args.count)
    show_progress = not args.no_progress and sys.stderr.isatty()
    async with open_target(args) as (_, conn):  # one session: comparable object ids
        for index, path in enumerate(paths):
            if index:
                await trio.sleep(args.interval)
            bar = CaptureProgressBar(f"{path.name}:")
            try:
                saved = await save_snapshot(
                    conn,
                    path,
                    gc=args.gc,
                    report_progress=show_progress,
                    capture_numeric_value=args.capture_numeric_values or None,
                    expose_internals=args.expose_internals or None,
                    on_progress=bar.update if show_progress else None,
                )
            finally:
                bar.finish()
            print(
                f"saved {path} ({format_bytes(saved.size)} in {saved.seconds:.1f} s)",
                file=sys.stderr,
            )
            print(path, flush=True)
    return 0
