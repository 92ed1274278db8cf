"""Heap snapshot analysis: summary by class, comparison, leak finding. No network.

Needs numpy (``pip install 'cdp-heap[analysis]'``); ``import cdp_heap`` does not import this
package. Typical use::

    from cdp_heap.analysis import compare, find_leaks, load_objects

    comparison = compare_files("before.heapsnapshot", "after.heapsnapshot")
    for row in comparison.sorted("delta", top=10):
        print(row.name, row.delta, row.retained_size)

    for row in load_view("after.heapsnapshot").summary()[:10]:  # DevTools' Summary
        print(row.name, row.count, row.self_size, row.retained_size)

    report = find_leaks(["s1.heapsnapshot", "s2.heapsnapshot", "s3.heapsnapshot"])

Modules: ``_reader`` (streaming file reader), ``_snapshot`` (typed columns), ``_classes``
(DevTools class names and keys), ``_devtools`` (DevTools' rules: owned sizes, essential
edges, detached DOM, distances), ``_interfaces`` (plain-object names), ``_view`` (DevTools'
Summary), ``_retainers`` (the Retainers panel), ``_compare`` (comparison, comparability),
``_changes`` (which rows of a comparison changed), ``_graph`` (retainer paths, dominators),
``_leaks`` (leak set, ranked), ``_routes`` (retainer routes), ``_dominated`` (sets in the
dominator tree), ``_growth`` (growing collections), ``_duplicates`` (duplicated strings),
``_render``/``_html`` (output).
"""

from ._changes import QuietRows, quiet_rows
from ._classes import class_name_of
from ._compare import (
    SORT_KEYS,
    ClassDiff,
    Comparability,
    Comparison,
    SortKey,
    compare,
    compare_files,
)
from ._duplicates import DuplicatedString, duplicated_strings
from ._errors import (
    AnalysisError,
    IncomparableSnapshots,
    SnapshotFormatError,
    SnapshotsOutOfOrder,
)
from ._graph import Dominators, ShortestPaths, dominators, shortest_paths
from ._growth import GrowingCollection
from ._html import leak_html
from ._interfaces import Interface
from ._leaks import LEAK_SORT_KEYS, HeldValues, LeakGroup, LeakReport, LeakSort, find_leaks
from ._render import diff_table, duplicates_table, format_size, leak_text
from ._retainers import Retainer, retainer_tree
from ._routes import RetainerStep, Route
from ._sieve import load_comparison_graph
from ._snapshot import HeapSnapshot, ObjectTable, load_nodes, load_snapshot
from ._tables import objects_table, summary_table
from ._view import (
    SUMMARY_SORT_KEYS,
    ClassSummary,
    HeapView,
    ObjectSummary,
    load_objects,
    load_view,
    sort_summary,
)

__all__ = [
    "LEAK_SORT_KEYS",
    "SORT_KEYS",
    "SUMMARY_SORT_KEYS",
    "AnalysisError",
    "ClassDiff",
    "ClassSummary",
    "Comparability",
    "Comparison",
    "Dominators",
    "DuplicatedString",
    "GrowingCollection",
    "HeapSnapshot",
    "HeapView",
    "HeldValues",
    "IncomparableSnapshots",
    "Interface",
    "LeakGroup",
    "LeakReport",
    "LeakSort",
    "ObjectSummary",
    "ObjectTable",
    "QuietRows",
    "Retainer",
    "RetainerStep",
    "Route",
    "ShortestPaths",
    "SnapshotFormatError",
    "SnapshotsOutOfOrder",
    "SortKey",
    "class_name_of",
    "compare",
    "compare_files",
    "diff_table",
    "dominators",
    "duplicated_strings",
    "duplicates_table",
    "find_leaks",
    "format_size",
    "leak_html",
    "leak_text",
    "load_comparison_graph",
    "load_nodes",
    "load_objects",
    "load_snapshot",
    "load_view",
    "objects_table",
    "quiet_rows",
    "retainer_tree",
    "shortest_paths",
    "sort_summary",
    "summary_table",
]
