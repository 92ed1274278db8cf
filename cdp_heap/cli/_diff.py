"""``cdp-heap diff``: Chrome DevTools' Comparison view in the terminal, or as stable JSON."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from types import ModuleType
from typing import Any

from .._errors import CDPHeapError
from ._common import positive_int
from ._outputs import check_input_files

#: The --sort choices; the same as ``cdp_heap.analysis.SORT_KEYS`` (a test checks), repeated
#: here so that building the parser does not import numpy.
SORT_KEYS = (
    "delta",
    "size_delta",
    "new",
    "deleted",
    "alloc_size",
    "freed_size",
    "count",
    "self_size",
)

DESCRIPTION = """\
Compare two heap snapshots of one process class by class, like the Comparison view of
Chrome DevTools' Memory panel: objects are matched by V8 object id within a class; per
class you get # New (in TARGET, not in BASE), # Deleted (in BASE, not in TARGET), # Delta,
the Alloc. Size of the new and the Freed Size of the deleted objects, the Size Delta, and
the Count, Self Size and Retained Size in TARGET. Classes are DevTools' classes:
constructors (two of one name from different scripts are two rows), plain objects by
their properties ({a, b}, with TARGET's names for both), and groups such as (string),
(array), (compiled code), (system), Function for the rest. Sizes are DevTools' shallow
sizes (internal arrays owned by one object counted in it); --raw-sizes uses V8's own.

Both snapshots must come from one inspector session: V8 renumbers objects whenever a
session disables the heap profiler, and another process numbers its own. cdp-heap checks
this (the share of shared ids whose object changed class or size) and refuses such pairs,
rather than print noise. Take comparable snapshots with 'cdp-heap snapshot --count N',
'cdp-heap leak -o DIR', or through 'cdp-heap proxy'."""

EPILOG = """\
The table lists the classes that grew or shrank. Classes that only churned (as many new
as deleted objects of the same total size: V8 renumbers native objects in every snapshot)
and unchanged ones are hidden, and counted in the header; --all lists them too.

examples:
  cdp-heap diff app-1.heapsnapshot app-2.heapsnapshot
  cdp-heap diff app-1.heapsnapshot app-2.heapsnapshot --all
  cdp-heap diff app-1.heapsnapshot app-2.heapsnapshot --sort size_delta --top 10
  cdp-heap diff app-1.heapsnapshot app-2.heapsnapshot --json | jq '.classes[0]'

--json prints one object, a stable format:
  {"base": PATH, "target": PATH,
   "classes": [{"name", "key", "count", "self_size", "new", "deleted", "delta",
                "alloc_size", "freed_size", "size_delta", "retained_size"}, ...]}
with every class of either snapshot (sizes in bytes), sorted by --sort, descending;
"key" is DevTools' class key (",NAME" or "SCRIPT,LINE,COLUMN,NAME"), "count",
"self_size" and "retained_size" are TARGET's.

exit status: 0 done, 1 a file is missing, not a complete heap snapshot, or the two
snapshots are not comparable, 2 usage error."""


def load_analysis() -> ModuleType:
    """``cdp_heap.analysis``, or a one-line error saying how to install numpy."""
    try:
        from .. import analysis
    except ModuleNotFoundError as exc:
        if exc.name == "numpy":
            raise CDPHeapError(
                "snapshot analysis needs numpy: pip install 'cdp-heap[analysis]'"
            ) from None
        raise
    from ..analysis._memory import fix_mmap_threshold

    fix_mmap_threshold()  # the analysis peaks ~25 % lower (see the module)
    return analysis


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "diff",
        help="compare two heap snapshots class by class (DevTools' Comparison view)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("base", metavar="BASE", help="the older .heapsnapshot")
    parser.add_argument("target", metavar="TARGET", help="the newer .heapsnapshot")
    parser.add_argument("--json", action="store_true", help="print the stable JSON format")
    parser.add_argument(
        "--top",
        type=positive_int,
        metavar="N",
        help="only the first N classes (default: 25 in the table, all with --json)",
    )
    parser.add_argument(
        "--sort",
        choices=SORT_KEYS,
        default="delta",
        help="order of the classes, largest first (default: delta)",
    )
    parser.add_argument(
        "--all",
        action="store_true",
        help="in the table, also list the classes that churned (as many new as deleted "
        "objects, same size) or did not change",
    )
    parser.add_argument(
        "--raw-sizes",
        action="store_true",
        help="V8's own sizes and the plain dominator rule (memlab's, older DevTools')",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Synchronous: the CLI runs it without trio (see ``cli._run_offline``)."""
    check_input_files([Path(args.base), Path(args.target)])  # a missing file is one line
    analysis = load_analysis()
    # The table shows no retained sizes: only --json pays for the dominator tree.
    comparison = analysis.compare_files(
        args.base, args.target, raw=args.raw_sizes, retained=args.json
    )
    if args.json:
        print(json.dumps(comparison.to_json(args.sort, args.top), indent=1))
        return 0
    rows = comparison.sorted(args.sort)
    quiet = analysis.quiet_rows(rows)
    listed = rows if args.all else quiet.shown
    shown = listed[: args.top or 25]
    print(f"Comparison: {args.base} -> {args.target}")
    hidden = quiet.churned + quiet.unchanged
    print(
        f"{quiet.grown} classes grew, {quiet.shrunk} shrank, {quiet.churned} churned (as many "
        f"new as deleted, same size), {quiet.unchanged} unchanged: "
        f"{sum(r.new for r in rows)} new, {sum(r.deleted for r in rows)} deleted objects "
        f"(sorted by {args.sort})"
    )
    if shown:
        print()
        print(analysis.diff_table(shown))
    if len(shown) < len(listed):
        print(f"... {len(listed) - len(shown)} more (--top N)")
    if hidden and not args.all:
        print(f"{hidden} classes that churned or did not change are hidden (--all)")
    return 0
