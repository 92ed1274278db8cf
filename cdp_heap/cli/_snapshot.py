"""``cdp-heap snapshot``: take heap snapshots and save them atomically."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:  # the implementation is imported when the command runs (tests/test_imports.py)
    from .._capture import SavedSnapshot
    from .._connection import CDPConnection
    from .._discovery import TargetInfo
    from .._inprocess import CaptureRoute
    from .._preflight import TargetMemory

DESCRIPTION = """\
Take a heap snapshot of a Node.js process, a Chrome tab or a Deno process and save it to
FILE (a .heapsnapshot that Chrome DevTools' Memory panel loads). The file appears only
when the snapshot is complete: a failed or interrupted capture leaves nothing behind.

Taking a snapshot pauses the target's main thread, and V8 builds it in memory: the first
snapshot of a process can raise its memory use by ~8x its heap in use (measured; see
docs/profiling.md). So first cdp-heap asks the target for its heap in use and its headroom
(free memory, container limit) and refuses, exit 1 with the numbers and nothing paused,
when the snapshot would not fit; --force takes it anyway. A target that reports no free
memory (Chrome, Deno without --allow-sys) gets a notice and the snapshot.

The shortest pause: when the target is a Node process on this machine (same mount
namespace) that may write FILE's directory, the target writes the file itself
(v8.writeHeapSnapshot) instead of streaming it over the protocol, then cdp-heap checks,
fsyncs and renames it as usual (--via auto, the default; --via stream or --via in-process
to choose). The "saved" line and --json say which path was taken.

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
  cdp-heap snapshot --port 9229 --via stream --json -o app.heapsnapshot

prints the path of each saved file on stdout (with --json, one JSON object per file:
path, size, seconds, via, reason)."""
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
    parser.add_argument(
        "--via",
        choices=("auto", "stream", "in-process"),
        default="auto",
        help="stream the snapshot over the protocol, or have a local Node target write "
        "the file itself (shorter pause); auto (default) picks in-process where possible",
    )
    add_force_argument(parser)
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object per saved file on stdout"
    )
    add_timeout_argument(parser)
    parser.set_defaults(run=run)


def add_force_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--force",
        action="store_true",
        help="take the snapshot even when the target's memory looks too small for it",
    )


def notice(line: str) -> None:
    print(f"cdp-heap: {line}", file=sys.stderr, flush=True)


@asynccontextmanager
async def open_checked_target(
    args: argparse.Namespace,
) -> AsyncIterator[tuple[TargetInfo, CDPConnection]]:
    """:func:`open_target` and the memory pre-flight, for ``leak`` and ``track`` (which
    stream their snapshots): refuses before anything pauses the target, unless --force."""
    from .._preflight import check_snapshot_fits

    async with open_target(args) as (target, conn):
        await check_snapshot_fits(conn, force=args.force, on_notice=notice)
        yield target, conn


def route_for(args: argparse.Namespace, memory: TargetMemory, url: str, path: Path) -> CaptureRoute:
    """``--via``: what ``auto`` picks, or why ``in-process`` cannot be had."""
    from .._errors import CaptureError
    from .._inprocess import CaptureRoute, choose_route

    if args.via == "stream":
        return CaptureRoute("stream", "--via stream")
    route = choose_route(memory, url, path)
    if args.via == "in-process" and route.via != "in-process":
        raise CaptureError(f"--via in-process: {route.reason}; nothing was paused")
    return route


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

    from .._preflight import check_snapshot_fits, read_target_memory

    if args.interval < 0:
        raise UsageError("--interval must be >= 0")
    if args.interval and args.count == 1:
        raise UsageError("--interval only makes sense with --count N > 1")
    paths = output_paths(args.output, args.count)
    show_progress = not args.no_progress and sys.stderr.isatty()
    async with open_target(args) as (_, conn):  # one session: comparable object ids
        memory = await read_target_memory(conn)
        route = route_for(args, memory, conn.url, paths[0])
        await check_snapshot_fits(
            conn, via=route.via, force=args.force, on_notice=notice, memory=memory
        )
        for index, path in enumerate(paths):
            if index:
                await trio.sleep(args.interval)
            bar = CaptureProgressBar(f"{path.name}:")
            try:
                saved = await _take(conn, path, route, args, bar if show_progress else None)
            finally:
                bar.finish()
            how = "written by the target" if saved.via == "in-process" else "streamed"
            print(
                f"saved {path} ({format_bytes(saved.size)} in {saved.seconds:.1f} s, {how})",
                file=sys.stderr,
            )
            if args.json:
                line = {
                    "path": str(path),
                    "size": saved.size,
                    "seconds": round(saved.seconds, 3),
                    "via": saved.via,
                    "reason": route.reason,
                }
                print(json.dumps(line), flush=True)
            else:
                print(path, flush=True)
    return 0


async def _take(
    conn: CDPConnection,
    path: Path,
    route: CaptureRoute,
    args: argparse.Namespace,
    bar: CaptureProgressBar | None,
) -> SavedSnapshot:
    from .._capture import save_snapshot
    from .._inprocess import save_snapshot_in_process

    if route.via == "in-process":
        return await save_snapshot_in_process(
            conn,
            path,
            route,
            gc=args.gc,
            capture_numeric_value=args.capture_numeric_values or None,
            expose_internals=args.expose_internals or None,
            on_progress=bar.update if bar else None,
        )
    return await save_snapshot(
        conn,
        path,
        gc=args.gc,
        report_progress=bar is not None,
        capture_numeric_value=args.capture_numeric_values or None,
        expose_internals=args.expose_internals or None,
        on_progress=bar.update if bar else None,
    )
