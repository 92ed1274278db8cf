"""``cdp-heap leak``: the Node.js guide's three-snapshot leak hunt, automated for CI."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import attrs

from .._errors import CDPHeapError
from ._common import UsageError, add_timeout_argument, positive_float, positive_int
from ._diff import load_analysis
from ._outputs import check_input_files, check_output_file, output_directory, write_text_atomically
from ._progress import plural

DESCRIPTION = """\
Find what leaks in a running Node.js process (or Chrome tab, or Deno), the way the Node.js
guide does it by hand, in one command:

  1. let the process settle (--settle S), and with --exercise run the workload once as a
     warm-up, so one-time initialisation is not mistaken for a leak;
  2. take snapshot 1;
  3. exercise the suspect code (--exercise "COMMAND", e.g. a load generator) or just wait
     (--interval S) while the process does its normal work;
  4. take snapshot 2, exercise or wait again, take snapshot 3 (--snapshots N in all).

All snapshots are taken in ONE inspector session, so V8's object ids are comparable. The
leak set is the objects allocated between snapshots 1 and 2 that still exist in every
later snapshot: they survived a whole further round of the workload. The report has:

  - the leaked classes ranked by what they cost (--sort: retained size by default), with
    the strings and numbers a leaked object keeps folded under it ("Holds");
  - for each top class, every retainer route: the leaked objects grouped by the shape of
    their shortest path from a GC root (array indices and keys folded), with the count and
    retained size of each, then the full path to one object (weak references never count);
  - the growing collections: the Maps, Sets, Arrays and objects whose element count rose
    from every snapshot to the next (matched by object id), with the path that holds them;
  - the strings stored many times over in the last snapshot.

Classes, sizes and retained sizes are Chrome DevTools' (as 'summary' and 'diff' show
them): constructors keyed by where they are defined (two of one name from different
scripts are two classes), plain objects by their properties ({a, b}, with the last
snapshot's names for all), internal arrays owned by one object counted in it, and the
edges from system objects into the program's not retaining (DevTools' rule). --raw-sizes
uses V8's own self sizes and the plain dominator rule (weak edges never retain, shortcuts
only from the root), which memlab and older DevTools show.

--fail-on-growth N makes the command exit 1 when the leak set of any class has more than N
objects: run it in CI against a test instance of your service. --files analyses existing
snapshots instead: at least three of one session, oldest first; the order is checked
against the snapshots' own object ids (V8 numbers new objects upwards) and refused when it
is wrong, like snapshots from two sessions."""

EPILOG = """\
target: --pid PID (activates a Node process's inspector with SIGUSR1 first)
        | --port PORT | --host HOST:PORT | --url ws://...   (default 127.0.0.1:9229)
        --target ID|TITLE-REGEX picks one when the inspector lists several

examples:
  cdp-heap leak --pid 4242 --interval 30
  cdp-heap leak --port 9229 --gc --exercise "npx autocannon -d 10 http://127.0.0.1:3000/" \\
      --fail-on-growth 1000 --html leak-report.html -o snapshots/
  cdp-heap leak --files s1.heapsnapshot s2.heapsnapshot s3.heapsnapshot --top 5
  cdp-heap leak --files s1.heapsnapshot s2.heapsnapshot s3.heapsnapshot --sort count --routes 10
  cdp-heap leak --files s1.heapsnapshot s2.heapsnapshot s3.heapsnapshot --raw-sizes
  cdp-heap leak --files s*.heapsnapshot --json | jq '.groups[0].routes'

exit status: 0 done (and no class grew past --fail-on-growth), 1 a class grew past
--fail-on-growth, or the target, the exercise command or the analysis failed, 2 usage."""


def register(subparsers: Any) -> None:
    from ._snapshot import add_force_argument
    from ._target import add_connection_arguments

    parser: argparse.ArgumentParser = subparsers.add_parser(
        "leak",
        help="take snapshots in one session and report the objects that leak",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_connection_arguments(parser, large="snapshot chunks")
    parser.add_argument(
        "--snapshots",
        type=positive_int,
        default=3,
        metavar="N",
        help="how many snapshots to take, at least 3 (default 3; more make the leak set and "
        "the growing collections stricter)",
    )
    between = parser.add_mutually_exclusive_group()
    between.add_argument(
        "--interval",
        type=positive_float,
        metavar="S",
        help="between snapshots, wait S seconds (default 10 when no --exercise)",
    )
    between.add_argument(
        "--exercise",
        metavar="COMMAND",
        help="between snapshots, run this shell command and wait for it (it must exit 0)",
    )
    parser.add_argument(
        "--no-warmup",
        action="store_true",
        help="with --exercise: do not run the command once before snapshot 1",
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=0.0,
        metavar="S",
        help="wait S seconds before anything else (default 0)",
    )
    parser.add_argument(
        "--gc", action="store_true", help="collect garbage in the target before each snapshot"
    )
    parser.add_argument(
        "--fail-on-growth",
        type=int,
        metavar="N",
        help="exit 1 when more than N objects of one class leaked",
    )
    parser.add_argument("--html", type=Path, metavar="FILE", help="also write an HTML report")
    parser.add_argument(
        "-o",
        "--output-dir",
        type=Path,
        metavar="DIR",
        help="keep the snapshots in DIR (default: a temporary directory, removed afterwards)",
    )
    parser.add_argument(
        "--files",
        nargs="+",
        metavar="SNAPSHOT",
        help="analyse these snapshots (one session, oldest first) instead of taking new ones",
    )
    parser.add_argument(
        "--top", type=positive_int, default=10, metavar="N", help="classes to detail (default 10)"
    )
    parser.add_argument(
        "--sort",
        choices=LEAK_SORT_KEYS,
        default="retained",
        help="rank the classes by retained size (default; self size with --no-retained), "
        "leaked object count, or self size (shallow)",
    )
    parser.add_argument(
        "--routes",
        type=positive_int,
        default=5,
        metavar="N",
        help="retainer routes listed per class, biggest first (default 5)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--raw-sizes",
        action="store_true",
        help="V8's own self sizes and the plain dominator rule (memlab's, older DevTools'); "
        "the classes stay DevTools'",
    )
    # Deprecated: DevTools' rules were 'leak --devtools' before they became the default.
    # Accepted and ignored, so that scripts written then still run.
    parser.add_argument("--devtools", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--no-retained",
        action="store_true",
        help="skip retained sizes (the dominator tree is the slow part on huge heaps)",
    )
    add_force_argument(parser)
    add_timeout_argument(parser)
    parser.set_defaults(run=run)


async def run(args: argparse.Namespace) -> int:
    if args.settle < 0:
        raise UsageError("--settle must be >= 0")
    if args.files:
        if len(args.files) < MIN_SNAPSHOTS:
            raise UsageError(_too_few("--files", len(args.files)))
    elif args.snapshots < MIN_SNAPSHOTS:
        raise UsageError(_too_few("--snapshots", args.snapshots))
    # Every path is checked before the first snapshot: a report that cannot be written is
    # found now, not after minutes of capture and analysis.
    if args.html is not None:
        check_output_file(args.html, "--html")
    if args.files:
        files = [Path(f) for f in args.files]
        check_input_files(files)
        return await _report(files, args)
    if args.output_dir is not None:
        with output_directory(args.output_dir, "leak-1.heapsnapshot") as directory:
            paths = await _capture(args, directory)
        return await _report(paths, args)
    with tempfile.TemporaryDirectory(prefix="cdp-heap-leak-") as tmp:
        return await _report(await _capture(args, Path(tmp)), args, temporary=True)


#: The same as ``cdp_heap.analysis.MIN_SNAPSHOTS`` (building the parser imports no numpy).
MIN_SNAPSHOTS = 3
#: The same as ``cdp_heap.analysis.LEAK_SORT_KEYS`` (a test checks).
LEAK_SORT_KEYS = ("retained", "count", "shallow")


def _too_few(option: str, given: int) -> str:
    return (
        f"{option}: the leak set needs at least {MIN_SNAPSHOTS} snapshots of one session "
        f"(1: baseline, 2: after a round of the workload, 3: after another), got {given}; "
        "to compare two snapshots use 'cdp-heap diff'"
    )


async def _capture(args: argparse.Namespace, directory: Path) -> list[Path]:
    """Settle, warm up, then snapshot / exercise-or-wait alternately, all in one session."""
    import trio

    from .._capture import save_snapshot
    from ._snapshot import open_checked_target

    paths = [directory / f"leak-{i}.heapsnapshot" for i in range(1, args.snapshots + 1)]
    async with open_checked_target(args) as (_, conn):  # one session: comparable object ids
        await trio.sleep(args.settle)
        if args.exercise and not args.no_warmup:
            await _exercise(args.exercise, "warm-up")
        for index, path in enumerate(paths, start=1):
            if index > 1:
                if args.exercise:
                    await _exercise(args.exercise, f"round {index - 1}")
                else:
                    await trio.sleep(args.interval or 10.0)
            saved = await save_snapshot(conn, path, gc=args.gc)
            print(f"snapshot {index}/{len(paths)}: {path} ({saved.size} bytes)", file=sys.stderr)
    return paths


async def _exercise(command: str, label: str) -> None:
    import trio

    print(f"exercise ({label}): {command}", file=sys.stderr)
    result = await trio.run_process(command, shell=True, check=False)
    if result.returncode != 0:
        raise CDPHeapError(
            f"the --exercise command exited with status {result.returncode} ({label})"
        )


async def _report(paths: list[Path], args: argparse.Namespace, *, temporary: bool = False) -> int:
    analysis = load_analysis()
    report = analysis.find_leaks(
        paths,
        top=args.top,
        retained=not args.no_retained,
        sort=args.sort,
        routes=args.routes,
        raw=args.raw_sizes,
    )
    if temporary:
        # The snapshots are removed when the command ends: do not list paths that will
        # not exist by the time anyone reads the report.
        report = attrs.evolve(
            report,
            snapshots=tuple(
                f"{Path(p).name} (temporary, removed; -o DIR keeps them)" for p in report.snapshots
            ),
        )
    # The terminal report first: if the HTML cannot be written, the run is not lost.
    if args.json:
        print(json.dumps(report.to_json(args.top), indent=1), flush=True)
    else:
        print(analysis.leak_text(report, top=args.top), flush=True)
    if args.html is not None:
        await write_text_atomically(args.html, analysis.leak_html(report, top=args.top))
        print(f"HTML report: {args.html}", file=sys.stderr)
    limit = args.fail_on_growth
    if limit is not None:
        over = [g for g in report.groups if g.count > limit]
        if over:
            names = ", ".join(f"{g.name} (+{g.count})" for g in over[:5])
            print(
                f"cdp-heap: leak: {plural(len(over), 'class')} leaked more than "
                f"{plural(limit, 'object')}: {names}",
                file=sys.stderr,
            )
            return 1
    return 0
