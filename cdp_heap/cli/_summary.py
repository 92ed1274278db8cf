"""``cdp-heap summary``: Chrome DevTools' Summary view of one snapshot, with its details."""

from __future__ import annotations

import argparse
import json
import re
from typing import Any

from ._common import UsageError, add_command, positive_int
from ._diff import load_analysis

#: The --sort choices; the same as ``cdp_heap.analysis.SUMMARY_SORT_KEYS`` (a test checks),
#: repeated here so that building the parser does not import numpy.
SORT_KEYS = ("retained", "shallow", "count", "distance")

DESCRIPTION = """\
One heap snapshot class by class, like the Summary view of Chrome DevTools' Memory panel,
with DevTools' own numbers: per class (constructor) the Distance (the shortest path from a
global object, in edges), the Count of objects, the Shallow Size (their own size, with the
internal arrays each one alone owns counted in) and the Retained Size (what would be freed
with them: the objects they dominate, each counted once). Classes of one name from
different scripts are separate rows; plain objects are named by their properties, {a, b}.

--class NAME lists that class's largest objects; --retainers @ID shows what holds one
object, as DevTools' Retainers panel does; --duplicates lists the strings stored many times
over (memlab's string analysis: the cheapest memory win). --raw-sizes uses V8's own sizes
and the plain dominator rule instead (as memlab and older DevTools); see docs/analysis.md."""

EPILOG = """\
examples:
  cdp-heap summary app.heapsnapshot
  cdp-heap summary app.heapsnapshot --sort shallow --top 10 --filter '^(Map|Set)$'
  cdp-heap summary app.heapsnapshot --class Session
  cdp-heap summary app.heapsnapshot --retainers @12345 --depth 3
  cdp-heap summary app.heapsnapshot --duplicates --top 10
  cdp-heap summary app.heapsnapshot --json | jq '.classes[0]'

--json prints one object, a stable format:
  {"file": PATH, "total_size": N, "raw_sizes": BOOL,
   "classes": [{"key", "name", "count", "distance", "self_size", "retained_size"}, ...]}
with --class: {"file", "class", "objects": [{"id", "name", "distance", "self_size",
"retained_size"}, ...]}; with --retainers: {"file", "retainers": TREE}, each node of TREE
an object with "edge", "edge_type", "cycle", "more" and its own "retainers"; with
--duplicates: {"file", "duplicated_strings": [{"text", "count", "self_size", "wasted"}, ...]}.
Sizes are bytes. "key" is DevTools' class key: ",NAME", or "SCRIPT,LINE,COLUMN,NAME".

exit status: 0 done, 1 the file is missing or not a complete heap snapshot, or the class
or object is not in it, 2 usage error."""


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "summary",
        summary="one heap snapshot class by class (DevTools' Summary view)",
        description=DESCRIPTION,
        epilog=EPILOG,
    )
    parser.add_argument("file", metavar="FILE", help="the .heapsnapshot")
    parser.add_argument(
        "--sort",
        choices=SORT_KEYS,
        default="retained",
        help="order of the classes: largest first, distance nearest first (default: retained)",
    )
    parser.add_argument(
        "--top", type=positive_int, metavar="N", help="only the first N rows (default: 25)"
    )
    parser.add_argument(
        "--filter", metavar="REGEX", type=_regex, help="only classes whose name matches REGEX"
    )
    parser.add_argument("--json", action="store_true", help="print the stable JSON format")
    parser.add_argument(
        "--raw-sizes",
        action="store_true",
        help="V8's own sizes and the plain dominator rule (memlab's, older DevTools')",
    )
    detail = parser.add_mutually_exclusive_group()
    detail.add_argument("--class", dest="class_name", metavar="NAME", help="NAME's objects")
    detail.add_argument("--retainers", metavar="@ID", help="what retains the object @ID")
    detail.add_argument(
        "--duplicates",
        action="store_true",
        help="the strings stored many times over: copies, total size, bytes one copy saves",
    )
    parser.add_argument(
        "--depth",
        type=positive_int,
        default=4,
        metavar="N",
        help="levels of the --retainers tree (default: 4)",
    )
    parser.set_defaults(run=run)


def _regex(text: str) -> re.Pattern[str]:
    try:
        return re.compile(text)
    except re.error as exc:
        raise argparse.ArgumentTypeError(f"not a regular expression: {exc}") from None


def _object_id(text: str) -> int:
    match = re.fullmatch(r"@?(\d+)", text)
    if match is None:
        raise UsageError(f"--retainers wants an object id such as @12345, not {text!r}")
    return int(match.group(1))


async def run(args: argparse.Namespace) -> int:
    node_id = _object_id(args.retainers) if args.retainers is not None else None
    analysis = load_analysis()
    if args.duplicates:
        return _duplicates(analysis, args)
    view = analysis.load_view(args.file, raw=args.raw_sizes)
    if node_id is not None:
        return _retainers(analysis, view, args, node_id)
    if args.class_name is not None:
        return _class(analysis, view, args)
    rows = view.summary()
    if args.filter is not None:
        rows = [row for row in rows if args.filter.search(row.name)]
    rows = analysis.sort_summary(rows, args.sort)
    total = int(view.dominators().retained_size[view.snapshot.root])
    if args.json:
        document = {
            "file": args.file,
            "total_size": total,
            "raw_sizes": args.raw_sizes,
            "classes": [row.to_json() for row in rows[: args.top]],
        }
        print(json.dumps(document, indent=1))
        return 0
    shown = rows[: args.top or 25]
    print(f"Summary: {args.file} ({len(rows)} classes, {analysis.format_size(total)} in all)")
    if shown:
        print()
        print(analysis.summary_table(shown, total))
    if len(shown) < len(rows):
        print(f"... {len(rows) - len(shown)} more (--top N)")
    return 0


def _class(analysis: Any, view: Any, args: argparse.Namespace) -> int:
    classes = view.classes_matching(args.class_name)
    if not classes:
        raise analysis.AnalysisError(f"{args.file}: no class {args.class_name!r} in the snapshot")
    objects = view.largest(classes, args.top or 25)
    if args.json:
        document = {
            "file": args.file,
            "class": args.class_name,
            "objects": [obj.to_json() for obj in objects],
        }
        print(json.dumps(document, indent=1))
        return 0
    print(f"{args.class_name}: the {len(objects)} largest objects by retained size")
    print()
    print(analysis.objects_table(objects))
    return 0


def _duplicates(analysis: Any, args: argparse.Namespace) -> int:
    # Strings only: the nodes are enough (no edges, no DevTools view), and the texts of the
    # strings reported are read back from the file.
    rows = analysis.duplicated_strings(analysis.load_nodes(args.file), top=args.top or 25)
    if args.json:
        document = {"file": args.file, "duplicated_strings": [row.to_json() for row in rows]}
        print(json.dumps(document, indent=1))
        return 0
    print(f"Duplicated strings: {args.file}, most bytes one shared copy would save first")
    if rows:
        print()
        print(analysis.duplicates_table(rows))
    return 0


def _retainers(analysis: Any, view: Any, args: argparse.Namespace, node_id: int) -> int:
    node = view.node_of_id(node_id)
    if node is None:
        raise analysis.AnalysisError(f"{args.file}: no object @{node_id} in the snapshot")
    tree = analysis.retainer_tree(view, node, depth=args.depth)
    if args.json:
        print(json.dumps({"file": args.file, "retainers": tree.to_json()}, indent=1))
        return 0
    print("\n".join(tree.lines()))
    return 0
