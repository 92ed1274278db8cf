"""The three-snapshot leak set, grouped by class, with what retains it.

The technique of the Node.js guide and of memlab: snapshot 1 after warm-up, exercise, snapshot
2, exercise again, snapshot 3. Objects *allocated between snapshots 1 and 2* (in 2, not in 1)
that *still exist in every later snapshot* survived a whole further round of the workload:
that is the leak set. Caches that churn, request-scoped garbage and one-time initialisation
all drop out. With more than three snapshots the survivors must be in all of them.

For the biggest groups the report gives the shortest retainer path from a root (weak edges
skipped) to one leaked object, so the user sees *what holds* the leak, and the retained size
of the group (objects of the class not dominated by another leaked object of the class).
Only the last snapshot is kept as a full graph; the others are compact object tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import attrs
import numpy as np
import numpy.typing as npt

from ._classes import I32
from ._compare import (
    ClassNumbering,
    Comparison,
    compare,
    match_objects,
    partners,
    refuse_if_incomparable,
)
from ._graph import Dominators, ShortestPaths
from ._interfaces import infer_interfaces
from ._snapshot import HeapSnapshot, ObjectTable, load_devtools_graph
from ._view import HeapView, load_objects


@attrs.frozen
class RetainerStep:
    """One edge of a retainer path and the node it leads to."""

    edge_type: str
    edge: str
    node_class: str
    node_name: str
    node_id: int

    def format(self) -> str:
        name = self.node_name if self.node_name and self.node_name != self.node_class else ""
        shown = f"{self.node_class} {name!r}" if name else self.node_class
        return f"--[{self.edge}]--> {shown} @{self.node_id}"


@attrs.frozen
class LeakGroup:
    """Leaked objects of one class: how many, their sizes, and a path to one of them."""

    name: str
    count: int
    self_size: int
    retained_size: int | None
    counts: tuple[int, ...]
    path: tuple[RetainerStep, ...]
    distance: int

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "count": self.count,
            "self_size": self.self_size,
            "retained_size": self.retained_size,
            "counts": list(self.counts),
            "distance": self.distance,
            "retainer_path": [attrs.asdict(step) for step in self.path],
        }


@attrs.frozen
class LeakReport:
    """Result of :func:`find_leaks`: leak groups (biggest first) and first-vs-last comparison."""

    snapshots: tuple[str, ...]
    groups: tuple[LeakGroup, ...]
    comparison: Comparison
    growth: dict[str, tuple[int, ...]]

    @property
    def leaked_objects(self) -> int:
        return sum(group.count for group in self.groups)

    def to_json(self, top: int | None = None) -> dict[str, object]:
        return {
            "snapshots": list(self.snapshots),
            "leaked_objects": self.leaked_objects,
            "groups": [group.to_json() for group in self.groups[:top]],
        }


def find_leaks(paths: Sequence[str | Path], *, top: int = 10, retained: bool = True) -> LeakReport:
    """Analyse snapshots of one session (at least 2, usually 3), oldest first.

    ``top`` groups get a retainer path (and, with ``retained``, a retained size: the
    dominator tree of the last snapshot is the slow part on huge heaps). Raises
    :class:`IncomparableSnapshots` if any two consecutive snapshots do not share an id space.
    """
    if len(paths) < 2:
        raise ValueError("find_leaks needs at least two snapshots")
    # The last snapshot's plain-object interfaces name the objects of every snapshot (as
    # DevTools' Comparison uses the target's), so that one shape is one class throughout:
    # read it once for them, first. Keeping its graph instead would hold two graphs while
    # the others are read (each read builds one for DevTools' sizes); one more parse of the
    # last file keeps the peak at one graph. The others become (class, id, size) tables,
    # and only two of those are kept at a time: the first (compared with the last at the
    # end) and the one before the snapshot being read (to check that their ids agree).
    interfaces = infer_interfaces(load_devtools_graph(paths[-1]))
    numbering = ClassNumbering()
    per_snapshot: list[npt.NDArray[np.int64]] = []
    first = load_objects(paths[0], interfaces=interfaces)
    first_classes = numbering.of(first)[first.class_ids]
    per_snapshot.append(np.bincount(first_classes))
    previous, previous_classes = first, first_classes
    # The leak set so far: ids and classes of the objects of ``previous`` allocated between
    # snapshots 1 and 2 that are in every snapshot since (None before snapshot 2).
    leaked: tuple[npt.NDArray[np.uint32], I32] | None = None
    last_view: HeapView | None = None
    for index in range(1, len(paths)):
        if index < len(paths) - 1:
            table = load_objects(paths[index], interfaces=interfaces)
        else:
            last_view = HeapView(load_devtools_graph(paths[index]), interfaces=interfaces)
            table = last_view.objects()
        classes = numbering.of(table)[table.class_ids]
        per_snapshot.append(np.bincount(classes))
        match = match_objects(previous, previous_classes, table, classes)
        refuse_if_incomparable(match.comparability, previous.path, table.path)
        if leaked is None:
            rows = np.flatnonzero(~match.same)  # allocated since snapshot 1
        else:
            rows = _still_there(leaked, table, classes)
        del match
        leaked = (table.ids[rows], classes[rows])
        previous, previous_classes = table, classes
        del table, classes
    assert leaked is not None and last_view is not None
    last = last_view.snapshot
    comparison = compare(first, previous, check=False)
    # Only the last table is needed now: free the others before the graph work, the peak
    # of the run.
    del first, first_classes
    names = numbering.shown
    k = len(names)
    leaked_rows = rows
    leaked_classes = previous_classes[leaked_rows]
    count = np.bincount(leaked_classes, minlength=k)
    size = np.bincount(leaked_classes, weights=previous.self_sizes[leaked_rows], minlength=k)
    per_snapshot = [np.pad(p, (0, k - len(p))) for p in per_snapshot]
    order = sorted(np.flatnonzero(count).tolist(), key=lambda c: (-int(count[c]), names[c]))
    del previous, previous_classes, leaked
    leaked_nodes = np.flatnonzero(last_view.counted)[leaked_rows]
    members = {c: leaked_nodes[leaked_classes == c] for c in order[:top]}
    del leaked_nodes, leaked_classes
    paths_info = last_view.shortest_paths() if order else None
    nearest: dict[int, int] = {}
    routes: dict[int, list[int]] = {}
    if paths_info is not None:
        for c, group in members.items():
            nearest[c] = _nearest(group, paths_info)
            routes[c] = paths_info.path_to(last, nearest[c])
        on_paths = sorted({e for route in routes.values() for e in route})
        last.prefetch(on_paths, [int(last.edge_to[e]) for e in on_paths])
    doms = last_view.dominators() if paths_info and retained else None
    groups = []
    for c in order:
        path: tuple[RetainerStep, ...] = ()
        distance = -1
        group_retained = None
        if c in nearest and paths_info is not None:
            distance = int(paths_info.distance[nearest[c]])
            path = _describe(last_view, routes[c])
            if doms is not None:
                group_retained = _group_retained(last, doms, members[c])
        groups.append(
            LeakGroup(
                name=names[c],
                count=int(count[c]),
                self_size=round(float(size[c])),
                retained_size=group_retained,
                counts=tuple(int(p[c]) for p in per_snapshot),
                path=path,
                distance=distance,
            )
        )
    growth = {names[c]: tuple(int(p[c]) for p in per_snapshot) for c in order[:top]}
    return LeakReport(
        snapshots=tuple(str(p) for p in paths),
        groups=tuple(groups),
        comparison=comparison,
        growth=growth,
    )


def _still_there(
    leaked: tuple[npt.NDArray[np.uint32], I32], table: ObjectTable, classes: I32
) -> npt.NDArray[np.int64]:
    """Rows of ``table`` holding a leaked object: one of the ``leaked`` ids, of its class."""
    ids, leaked_classes = leaked
    partner = partners(table.ids, ids)
    found = partner >= 0
    found[found] = leaked_classes[partner[found]] == classes[found]
    rows: npt.NDArray[np.int64] = np.flatnonzero(found)
    return rows


def _nearest(members: npt.NDArray[np.int64], paths: ShortestPaths) -> int:
    """The member closest to a root (unreachable ones last), lowest ordinal on ties."""
    distance = paths.distance[members].astype(np.int64)
    distance[distance < 0] = np.iinfo(np.int64).max
    return int(members[int(np.argmin(distance))])


def _describe(view: HeapView, route: list[int]) -> tuple[RetainerStep, ...]:
    snapshot = view.snapshot
    steps = []
    for edge in route:
        target = int(snapshot.edge_to[edge])
        name = snapshot.node_name_of(target)
        steps.append(
            RetainerStep(
                edge_type=snapshot.edge_types[int(snapshot.edge_type[edge])],
                edge=snapshot.edge_label(edge),
                node_class=view.class_names[int(view.class_ids[target])],
                node_name=name if len(name) <= 80 else name[:77] + "...",
                node_id=int(snapshot.node_id[target]),
            )
        )
    return tuple(steps)


def _group_retained(
    snapshot: HeapSnapshot, doms: Dominators, members: npt.NDArray[np.int64]
) -> int:
    """Retained size of a set: its members not dominated by another member, summed.

    Each member walks up its dominator chain, all at once in numpy, until it meets another
    member (covered) or the root; the work is proportional to the members, not to the heap.
    A very deep chain falls back to pointer jumping over the whole tree, O(N log depth).
    """
    inside = np.zeros(snapshot.node_count, dtype=bool)
    inside[members] = True
    covered = np.zeros(len(members), dtype=bool)
    walking = np.arange(len(members))
    current = doms.idom[members]
    for _ in range(_WALK_LIMIT):
        at_root = current == snapshot.root
        hit = inside[current] & ~at_root
        covered[walking[hit]] = True
        going = ~hit & ~at_root
        walking, current = walking[going], doms.idom[current[going]]
        if not len(walking):
            return int(doms.retained_size[members[~covered]].sum())
    ancestor = doms.idom.copy()
    reached = inside[ancestor]
    reached[snapshot.root] = False
    while True:
        nxt = ancestor[ancestor]
        if np.array_equal(nxt, ancestor):
            break
        reached |= reached[ancestor]
        ancestor = nxt
    tops = members[~reached[members]]
    return int(doms.retained_size[tops].sum())


#: Dominator-chain steps walked member by member before switching to pointer jumping.
_WALK_LIMIT = 512
