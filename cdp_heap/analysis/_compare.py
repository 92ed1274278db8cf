"""Summary by class and the Comparison of two snapshots, with Chrome DevTools' semantics.

DevTools' Comparison view (``HeapSnapshot.ts``, ``calculateDiffForClass``) matches objects by
node id *within a class*: an object of the target whose (class, id) is absent from the base is
*new*, one of the base absent from the target is *deleted*. Per class it shows the target's
count and self size, #new, #deleted, #delta (new - deleted), alloc size, freed size and size
delta (alloc - freed). This module computes the same numbers in numpy instead of a loop per
object: V8 gives every object of a snapshot its own id, so each object of the target has at
most one *partner* in the base, the object with its id (found by one sort of the base's ids
and a binary search per target object); it is the same object when the partner's class is
the same. Comparability, #new and #deleted all follow from that one partner array.

Ids only mean the same object when both snapshots were taken in one heap-profiler session; see
:func:`match_objects`, which every comparison runs first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import attrs
import numpy as np
import numpy.typing as npt

from ._classes import I32
from ._errors import IncomparableSnapshots
from ._sieve import load_comparison_graph
from ._snapshot import ObjectTable, load_devtools_graph
from ._view import HeapView, load_objects, view_objects

BoolArray = npt.NDArray[np.bool_]

SortKey = Literal[
    "delta", "size_delta", "new", "deleted", "alloc_size", "freed_size", "count", "self_size"
]
SORT_KEYS: tuple[SortKey, ...] = (
    "delta",
    "size_delta",
    "new",
    "deleted",
    "alloc_size",
    "freed_size",
    "count",
    "self_size",
)

#: Share of the ids present in both snapshots that name an object of another class or another
#: self size, above which the snapshots are refused. Within one session an id is one object for
#: life, so changes are rare (an array trimmed in place): measured 1 in 40,000 on Node 20.
#: Two runs of the same script number their startup heap alike, yet ~10 % of the shared ids
#: change; across a profiler reset in one process ~65 % do.
MISMATCH_LIMIT = 0.01
#: Below this many shared ids the check is not meaningful (tiny hand-made snapshots).
MIN_SHARED_IDS = 200


@attrs.frozen
class ClassDiff:
    """One row of the Comparison view (field names are the stable ``--json`` keys).

    ``key`` is DevTools' class key (see :class:`ClassSummary`); ``retained_size`` is the
    class's retained size in the target snapshot (0 when not computed or not there).
    """

    name: str
    key: str
    count: int
    self_size: int
    new: int
    deleted: int
    delta: int
    alloc_size: int
    freed_size: int
    size_delta: int
    retained_size: int = 0

    def to_json(self) -> dict[str, int | str]:
        return attrs.asdict(self)


@attrs.frozen
class Comparability:
    """How well the ids of two snapshots agree: shared ids, and how many changed class or size."""

    shared_ids: int
    class_mismatches: int
    size_mismatches: int

    @property
    def changed(self) -> int:
        return self.class_mismatches + self.size_mismatches

    @property
    def mismatch_share(self) -> float:
        return self.changed / self.shared_ids if self.shared_ids else 0.0

    @property
    def comparable(self) -> bool:
        return self.shared_ids < MIN_SHARED_IDS or self.mismatch_share <= MISMATCH_LIMIT


@attrs.frozen
class Comparison:
    """The result of comparing ``base`` with ``target``; ``classes`` has every class of both."""

    base: str
    target: str
    classes: tuple[ClassDiff, ...]
    comparability: Comparability

    def sorted(self, key: SortKey = "delta", top: int | None = None) -> list[ClassDiff]:
        """Rows by ``key`` descending (ties by name); the first ``top`` of them."""
        rows = sorted(self.classes, key=lambda row: (-getattr(row, key), row.name, row.key))
        return rows if top is None else rows[:top]

    def to_json(self, key: SortKey = "delta", top: int | None = None) -> dict[str, object]:
        """The stable ``cdp-heap diff --json`` document."""
        return {
            "base": self.base,
            "target": self.target,
            "classes": [row.to_json() for row in self.sorted(key, top)],
        }


def compare(base: ObjectTable, target: ObjectTable, *, check: bool = True) -> Comparison:
    """Compare two snapshots of one session, class by class.

    Raises :class:`IncomparableSnapshots` when ``check`` is on and the ids disagree (see
    :func:`match_objects`).
    """
    numbering = ClassNumbering()
    base_classes = numbering.of(base)[base.class_ids]
    target_classes = numbering.of(target)[target.class_ids]
    match = match_objects(base, base_classes, target, target_classes)
    if check:
        refuse_if_incomparable(match.comparability, base.path, target.path)
    new = ~match.same
    # A base object is still there when it is the same-class partner of a target object.
    kept = np.zeros(len(base.ids), dtype=bool)
    kept[match.partner[match.same]] = True
    deleted = ~kept
    comparability = match.comparability
    del match, kept
    names = numbering.names
    k = len(names)
    retained = np.zeros(k, dtype=np.int64)
    if target.class_retained is not None:
        retained[numbering.of(target)] = target.class_retained
    count = np.bincount(target_classes, minlength=k)
    present = (count > 0) | (np.bincount(base_classes, minlength=k) > 0)
    self_size = _sum_by(target_classes, target.self_sizes, k)
    new_count = np.bincount(target_classes[new], minlength=k)
    alloc = _sum_by(target_classes[new], target.self_sizes[new], k)
    deleted_count = np.bincount(base_classes[deleted], minlength=k)
    freed = _sum_by(base_classes[deleted], base.self_sizes[deleted], k)
    rows = tuple(
        ClassDiff(
            name=numbering.shown[i],
            key=name,
            count=int(count[i]),
            self_size=int(self_size[i]),
            new=int(new_count[i]),
            deleted=int(deleted_count[i]),
            delta=int(new_count[i]) - int(deleted_count[i]),
            alloc_size=int(alloc[i]),
            freed_size=int(freed[i]),
            size_delta=int(alloc[i]) - int(freed[i]),
            retained_size=int(retained[i]),
        )
        for i, name in enumerate(names)
        if present[i]
    )
    return Comparison(base.path, target.path, rows, comparability)


def compare_files(
    base: str | Path,
    target: str | Path,
    *,
    raw: bool = False,
    check: bool = True,
    retained: bool = True,
) -> Comparison:
    """DevTools' Comparison of two snapshot files, with the target's retained sizes.

    The target is read first: its plain-object interfaces name the base's objects too, as
    DevTools does, so one shape is one row. One graph is in memory at a time. Without
    ``retained`` the rows' ``retained_size`` is 0, and neither snapshot's whole graph is
    read: only the edges DevTools' class keys and shallow sizes need.
    """
    graph = load_devtools_graph(target) if retained else load_comparison_graph(target)
    view = HeapView(graph, raw=raw, sole=True)
    interfaces = view.interfaces
    target_table = view_objects(view, retained=retained)
    del view, graph  # one graph in memory at a time
    base_table = load_objects(base, raw=raw, interfaces=interfaces)
    return compare(base_table, target_table, check=check)


class ClassNumbering:
    """One class numbering for several snapshots (names matched by value, not by index).

    Numbers are given in order of first appearance, snapshot by snapshot.
    """

    def __init__(self) -> None:
        #: The class keys, and what to show for each.
        self.names: list[str] = []
        self.shown: list[str] = []
        self._index: dict[str, int] = {}

    def of(self, table: ObjectTable) -> I32:
        """Lookup from ``table``'s class ids to this numbering (index it with the class ids)."""
        lookup = np.empty(len(table.class_names), dtype=np.int32)
        shown = table.display_names or table.class_names
        for i, name in enumerate(table.class_names):
            found = self._index.get(name)
            if found is None:
                found = self._index[name] = len(self.names)
                self.names.append(name)
                self.shown.append(shown[i])
            lookup[i] = found
        return lookup


@attrs.frozen(eq=False)
class Match:
    """Target objects against base objects (see :func:`match_objects`)."""

    #: Per target object: the base row with its id, or -1.
    partner: I32
    #: Per target object: a partner of the same class exists (the same object in both).
    same: BoolArray
    comparability: Comparability


def match_objects(
    base: ObjectTable, base_classes: I32, target: ObjectTable, target_classes: I32
) -> Match:
    """Pair each target object with the base object of the same id, and measure comparability.

    ``base_classes``/``target_classes`` are the tables' class ids in one numbering
    (:class:`ClassNumbering`). Comparability counts the ids present in both snapshots and
    those whose class or self size differs.
    """
    partner = partners(target.ids, base.ids)
    shared = partner >= 0
    same = np.zeros(len(partner), dtype=bool)
    same[shared] = base_classes[partner[shared]] == target_classes[shared]
    other_size = np.zeros(len(partner), dtype=bool)
    other_size[same] = base.self_sizes[partner[same]] != target.self_sizes[same]
    comparability = Comparability(
        shared_ids=int(np.count_nonzero(shared)),
        class_mismatches=int(np.count_nonzero(shared & ~same)),
        size_mismatches=int(np.count_nonzero(other_size)),
    )
    return Match(partner, same, comparability)


def partners(ids: npt.NDArray[np.uint32], base_ids: npt.NDArray[np.uint32]) -> I32:
    """For each of ``ids``, the position in ``base_ids`` of the same id, or -1.

    V8 numbers each object of a snapshot uniquely, so there is at most one. V8's ids are
    small (it counts them up, two at a time: ~99.99 % are below twice the object count), so
    the ids below :data:`_TABLE_SPAN` times the base's count are looked up in a table
    indexed by id (one scatter and one gather, no search: 4 bytes per table entry); the
    few others, or all of them when two base objects share an id below that bound, by one
    sort of those base ids (a radix sort: they are uint32) and a binary search per id, a
    chunk of ids at a time so that the temporaries stay small next to the tables
    (``np.intersect1d`` sorts both sides together and needs ~25 bytes an object). With a
    shared id, the found position is the first base object with it, as a search finds.
    """
    found: I32 = np.full(len(ids), -1, dtype=np.int32)
    if not len(base_ids):
        return found
    bound = min(int(base_ids.max()) + 1, _TABLE_SPAN * len(base_ids))
    table = np.full(bound, -1, dtype=np.int32)
    # A chunk at a time, so that the table is the only object-sized array built here.
    for start in range(0, len(base_ids), _CHUNK):
        chunk = base_ids[start : start + _CHUNK]
        rows = np.flatnonzero(chunk < bound).astype(np.int32)
        table[chunk[rows]] = rows + np.int32(start)
    unique = True
    for start in range(0, len(base_ids), _CHUNK):
        chunk = base_ids[start : start + _CHUNK]
        rows = np.flatnonzero(chunk < bound).astype(np.int32)
        if not np.array_equal(table[chunk[rows]], rows + np.int32(start)):
            unique = False
            break
    if unique:
        searched = np.flatnonzero(base_ids >= bound).astype(np.int32)
    else:  # an id twice (which one the scatter kept is not defined): search them all
        table, bound = table[:0], 0
        searched = np.arange(len(base_ids), dtype=np.int32)
    order = np.argsort(base_ids[searched], kind="stable").astype(np.int32)
    searched = searched[order]
    del order
    sorted_ids = base_ids[searched]
    last = len(sorted_ids) - 1
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        into = found[start : start + len(chunk)]
        small = chunk < bound
        into[small] = table[chunk[small]]
        if last < 0:
            continue
        rest = np.flatnonzero(~small)
        at = np.searchsorted(sorted_ids, chunk[rest])
        np.minimum(at, last, out=at)
        hit = sorted_ids[at] == chunk[rest]
        into[rest[hit]] = searched[at[hit]]
    return found


#: Ids looked up per numpy step in :func:`partners`.
_CHUNK = 1 << 18
#: The id table of :func:`partners` covers ids below this many times the base's object
#: count (V8's ids are odd numbers counted up from 1, so ~2x).
_TABLE_SPAN = 2


def refuse_if_incomparable(comparability: Comparability, base: str, target: str) -> None:
    """Raise :class:`IncomparableSnapshots` with the why and the how-to-fix."""
    if comparability.comparable:
        return
    raise IncomparableSnapshots(
        f"{base} and {target} cannot be compared object by object: "
        f"{comparability.changed} of the {comparability.shared_ids} object ids they share "
        f"({comparability.mismatch_share:.1%}) name objects of another class or size, so "
        "they come from different processes or from different inspector sessions (V8 "
        "renumbers objects when a session disables the heap profiler). Take all snapshots in "
        "one session: 'cdp-heap snapshot --count N', 'cdp-heap leak', or through 'cdp-heap proxy'"
    )


def _sum_by(classes: I32, sizes: npt.NDArray[np.uint32], k: int) -> npt.NDArray[np.int64]:
    """Per-class sum of sizes, exact (float64 weights are exact below 2**53)."""
    sums = np.bincount(classes, weights=sizes, minlength=k)
    return np.rint(sums).astype(np.int64)
