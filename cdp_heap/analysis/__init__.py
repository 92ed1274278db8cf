"""Heap snapshot analysis: summary by class, comparison, leak finding. No network.

Needs numpy (``pip install 'cdp-heap[analysis]'``); ``import cdp_heap`` does not import this
package. Typical use::

    from cdp_heap.analysis import compare, find_leaks, load_objects

    comparison = compare(load_objects("before.heapsnapshot"), load_objects("after.heapsnapshot"))
    for row in comparison.sorted("delta", top=10):
        print(row.name, row.delta)

    report = find_leaks(["s1.heapsnapshot", "s2.heapsnapshot", "s3.heapsnapshot"])

Modules: ``_reader`` (streaming file reader), ``_snapshot`` (typed columns), ``_classes``
(DevTools class names), ``_compare`` (summary, comparison, comparability), ``_graph``
(distances, retainer paths, dominators), ``_leaks`` (leak set, ranked), ``_routes`` (retainer
routes), ``_dominated`` (sets in the dominator tree), ``_growth`` (growing collections),
``_duplicates`` (duplicated strings), ``_render``/``_html`` (output).
"""

from ._changes import QuietRows, quiet_rows
from ._compare import (
    SORT_KEYS,
    ClassDiff,
    ClassSummary,
    Comparability,
    Comparison,
    SortKey,
    compare,
    summarize,
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
from ._leaks import LEAK_SORT_KEYS, HeldValues, LeakGroup, LeakReport, LeakSort, find_leaks
from ._render import diff_table, leak_text
from ._routes import RetainerStep, Route
from ._snapshot import HeapSnapshot, ObjectTable, load_nodes, load_objects, load_snapshot

__all__ = [
    "LEAK_SORT_KEYS",
    "SORT_KEYS",
    "AnalysisError",
    "ClassDiff",
    "ClassSummary",
    "Comparability",
    "Comparison",
    "Dominators",
    "DuplicatedString",
    "GrowingCollection",
    "HeapSnapshot",
    "HeldValues",
    "IncomparableSnapshots",
    "LeakGroup",
    "LeakReport",
    "LeakSort",
    "ObjectTable",
    "QuietRows",
    "RetainerStep",
    "Route",
    "ShortestPaths",
    "SnapshotFormatError",
    "SnapshotsOutOfOrder",
    "SortKey",
    "compare",
    "diff_table",
    "dominators",
    "duplicated_strings",
    "find_leaks",
    "leak_html",
    "leak_text",
    "load_nodes",
    "load_objects",
    "load_snapshot",
    "quiet_rows",
    "shortest_paths",
    "summarize",
]
