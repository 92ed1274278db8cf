"""The three-snapshot leak set, ranked by what it costs, with every route that holds it.

The technique of the Node.js guide and of memlab: snapshot 1 after warm-up, exercise, snapshot
2, exercise again, snapshot 3. Objects *allocated between snapshots 1 and 2* (in 2, not in 1)
that *still exist in every later snapshot* survived a whole further round of the workload:
that is the leak set. Caches that churn, request-scoped garbage and one-time initialisation
all drop out. With more than three snapshots the survivors must be in all of them.

:func:`find_leaks` runs in phases, each a function, so that what a phase needs is freed by
scope when it returns (the peak resident size is the budget of the whole design):

1. :func:`_scan` reads the snapshots oldest first, checks that they are in time order and of
   one session, narrows the leak set, feeds the growth tracker and compares the first with
   the last; only the last snapshot survives it, as a graph, with the leak set's ordinals.
2. :func:`_graph` computes the shortest retainer paths and the dominator tree of the last.
3. :func:`_rank` counts the leak set by class, folds leaked strings and numbers under the
   leaked object that dominates them, and ranks the classes by retained size (``sort``).
4. :func:`_routes_of` groups each top class's objects by retainer route (:mod:`._routes`).
5. The growing collections (:mod:`._growth`) and duplicated strings (:mod:`._duplicates`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

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
from ._dominated import MarkedTree
from ._duplicates import DuplicatedString, duplicated_strings
from ._errors import SnapshotsOutOfOrder
from ._graph import Dominators, ShortestPaths
from ._growth import GrowingCollection, GrowthTracker
from ._routes import UNREACHABLE, Naming, RetainerStep, Route, describe, group_routes
from ._sieve import load_comparison_graph
from ._snapshot import HeapSnapshot, ObjectTable, load_devtools_graph
from ._view import HeapView, resolve_shapes

I64 = npt.NDArray[np.int64]

LeakSort = Literal["retained", "count", "shallow"]
LEAK_SORT_KEYS: tuple[LeakSort, ...] = ("retained", "count", "shallow")
#: Classes of values that something else holds: folded under the leaked object dominating them.
PRIMITIVE_CLASSES = frozenset(
    {"(number)", "(string)", "(concatenated string)", "(sliced string)", "(bigint)"}
)
#: Fewest snapshots a leak set needs: before, after a round, after another round.
MIN_SNAPSHOTS = 3


@attrs.frozen
class HeldValues:
    """Leaked primitives of one class dominated by the leaked objects of a group."""

    name: str
    count: int
    self_size: int

    def to_json(self) -> dict[str, object]:
        return attrs.asdict(self)


@attrs.frozen
class LeakGroup:
    """Leaked objects of one class: how many, their sizes, routes, and a path to the nearest."""

    name: str
    count: int
    self_size: int
    retained_size: int | None
    counts: tuple[int, ...]
    path: tuple[RetainerStep, ...]
    distance: int
    routes: tuple[Route, ...] = ()
    #: Routes beyond those listed, and the objects they hold.
    more_routes: int = 0
    more_routes_count: int = 0
    #: Objects no path from a root reaches (held only by weak references).
    unreachable: int = 0
    holds: tuple[HeldValues, ...] = ()
    #: DevTools' class key the objects were matched by.
    key: str = ""

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "key": self.key or self.name,
            "count": self.count,
            "self_size": self.self_size,
            "retained_size": self.retained_size,
            "counts": list(self.counts),
            "distance": self.distance,
            "retainer_path": [attrs.asdict(step) for step in self.path],
            "routes": [route.to_json() for route in self.routes],
            "more_routes": self.more_routes,
            "more_routes_count": self.more_routes_count,
            "unreachable": self.unreachable,
            "holds": [held.to_json() for held in self.holds],
        }


@attrs.frozen
class LeakReport:
    """Result of :func:`find_leaks`: leak groups (ranked by ``sort``) and what goes with them."""

    snapshots: tuple[str, ...]
    groups: tuple[LeakGroup, ...]
    comparison: Comparison
    sort: LeakSort = "retained"
    collections: tuple[GrowingCollection, ...] = ()
    duplicates: tuple[DuplicatedString, ...] = ()

    @property
    def leaked_objects(self) -> int:
        """Objects in the leak set, folded primitives included."""
        return sum(g.count + sum(h.count for h in g.holds) for g in self.groups)

    def to_json(self, top: int | None = None) -> dict[str, object]:
        return {
            "snapshots": list(self.snapshots),
            "leaked_objects": self.leaked_objects,
            "sort": self.sort,
            "groups": [group.to_json() for group in self.groups[:top]],
            "collections": [c.to_json() for c in self.collections],
            "duplicated_strings": [d.to_json() for d in self.duplicates],
        }


def find_leaks(
    paths: Sequence[str | Path],
    *,
    top: int = 10,
    retained: bool = True,
    sort: LeakSort = "retained",
    routes: int = 5,
    collections: int = 10,
    duplicates: int = 5,
    raw: bool = False,
) -> LeakReport:
    """Analyse snapshots of one session (at least 3), oldest first.

    Classes, sizes and retainer rules are DevTools' (:class:`HeapView`: class keys, owned
    sizes, essential edges), as ``summary`` and ``diff`` show them; ``raw`` keeps DevTools'
    class keys but uses V8's own self sizes and the plain dominator rule. ``top`` groups get
    their retainer routes (at most ``routes`` each) and a path; the report lists up to
    ``collections`` growing collections and ``duplicates`` strings. With ``retained`` (the
    dominator tree of the last snapshot: the slow part on huge heaps) the groups get
    retained sizes, are ranked by them, and leaked primitives are folded under the object
    that holds them. Raises :class:`IncomparableSnapshots` if two consecutive snapshots do
    not share an id space, :class:`SnapshotsOutOfOrder` if they are not oldest first,
    ``ValueError`` for fewer than three.
    """
    if len(paths) < MIN_SNAPSHOTS:
        raise ValueError(f"find_leaks needs at least {MIN_SNAPSHOTS} snapshots, oldest first")
    tracker = GrowthTracker()
    leak_set = _scan(paths, tracker, raw=raw)
    last = leak_set.last
    paths_info, doms = _graph(leak_set, retained=retained)
    holder = _fold_primitives(leak_set, doms)
    groups = _rank(leak_set, holder, doms, sort)
    groups = _detail(leak_set, holder, groups[:top], paths_info, doms, routes) + groups[top:]
    return LeakReport(
        snapshots=tuple(str(p) for p in paths),
        groups=tuple(groups),
        comparison=leak_set.comparison,
        sort=sort if doms is not None or sort != "retained" else "shallow",
        collections=tracker.collections(last, paths_info, doms, collections, leak_set.naming),
        duplicates=duplicated_strings(last, top=duplicates),
    )


@attrs.frozen(eq=False)
class _LeakSet:
    """What :func:`_scan` leaves: the last snapshot and its leaked objects."""

    last: HeapSnapshot
    #: DevTools' reading of ``last``.
    view: HeapView
    #: Ordinals (in ``last``) and class numbers of the leaked objects.
    nodes: I64
    classes: I32
    #: What to show for each class number, and the key it stands for.
    names: list[str]
    keys: list[str]
    #: Per node of ``last``: the self size counted and the class shown.
    self_size: npt.NDArray[np.uint32]
    naming: Naming
    #: Per class (rows) and snapshot (columns): the class's object count.
    per_snapshot: I64
    comparison: Comparison


def _scan(paths: Sequence[str | Path], tracker: GrowthTracker, *, raw: bool) -> _LeakSet:
    """Read the snapshots oldest first, then narrow the leak set; only the last is a graph.

    DevTools names plain objects by the interfaces of the *target*, here the last snapshot,
    which is read last (its graph is the peak of the run). So the earlier snapshots are
    read before the interfaces are known (:func:`_read_earlier`: only the edges their class
    keys need), each plain object's shape a class of its own, and named once the last one
    is read (:func:`resolve_shapes`, a step per class): one parse per file, one graph in
    memory at a time, and the earlier snapshots are small object tables meanwhile.
    """
    earlier: list[tuple[ObjectTable, list[frozenset[str]]]] = []
    for path in paths[:-1]:
        table, shapes = _read_earlier(path, tracker, raw=raw)
        if earlier:  # before the last, biggest read: refused early
            _refuse_if_out_of_order(earlier[-1][0], table)
        earlier.append((table, shapes))
    view = HeapView(load_devtools_graph(paths[-1]), raw=raw)
    # The essential edges are the last rule that reads the edge names: drop them before
    # the tables are matched and the graph work starts (both are peaks of the run).
    view.release_edge_names()
    last = view.snapshot
    tables = [resolve_shapes(table, shapes, view.interfaces) for table, shapes in earlier]
    del earlier
    tables.append(view.objects())
    _refuse_if_out_of_order(tables[-2], tables[-1])
    numbering = ClassNumbering()
    first = tables[0]
    first_classes = numbering.of(first)[first.class_ids]
    counts = [np.bincount(first_classes)]
    previous, previous_classes = first, first_classes
    # The leak set so far: ids and classes of the objects allocated between snapshots 1 and
    # 2 that are in every snapshot since (None before snapshot 2).
    leaked: tuple[npt.NDArray[np.uint32], I32] | None = None
    for index in range(1, len(tables)):
        table = tables[index]
        tables[index] = first  # only the first and the previous stay
        classes = numbering.of(table)[table.class_ids]
        counts.append(np.bincount(classes))
        rows = _survivors(previous, previous_classes, table, classes, leaked)
        leaked = (table.ids[rows], classes[rows])
        previous, previous_classes = table, classes
    assert leaked is not None
    k = len(numbering.names)
    per_snapshot = np.stack([np.pad(c, (0, k - len(c))) for c in counts], axis=1)
    return _LeakSet(
        last=last,
        view=view,
        nodes=np.flatnonzero(view.counted)[rows],
        classes=previous_classes[rows],
        names=numbering.shown,
        keys=numbering.names,
        self_size=view.self_size,
        naming=Naming(view.class_ids, view.class_names),
        per_snapshot=per_snapshot,
        comparison=compare(first, previous, check=False),
    )


def _read_earlier(
    path: str | Path, tracker: GrowthTracker, *, raw: bool
) -> tuple[ObjectTable, list[frozenset[str]]]:
    """An earlier snapshot's objects, DevTools' class keys with plain objects by shape.

    Only the edges the keys and owned sizes need are read (:func:`load_comparison_graph`);
    the growth count reads the few edges it needs back from the file.
    """
    snapshot = load_comparison_graph(path, file_edges=True)
    tracker.observe(snapshot)
    snapshot.file_first_edge = snapshot.first_edge  # read back: not needed any more
    view = HeapView(snapshot, raw=raw, defer_interfaces=True)
    return view.objects(), view.shapes


def _survivors(
    previous: ObjectTable,
    previous_classes: I32,
    table: ObjectTable,
    classes: I32,
    leaked: tuple[npt.NDArray[np.uint32], I32] | None,
) -> I64:
    """Rows of ``table`` in the leak set: new since snapshot 1 (the second), or still there."""
    match = match_objects(previous, previous_classes, table, classes)
    refuse_if_incomparable(match.comparability, previous.path, table.path)
    if leaked is None:
        fresh: I64 = np.flatnonzero(~match.same)  # allocated since snapshot 1
        return fresh
    ids, leaked_classes = leaked
    partner = partners(table.ids, ids)
    found = partner >= 0
    found[found] = leaked_classes[partner[found]] == classes[found]
    rows: I64 = np.flatnonzero(found)
    return rows


def _refuse_if_out_of_order(earlier: ObjectTable, later: ObjectTable) -> None:
    """V8 numbers new heap objects upwards: a later snapshot's newest id is not below an earlier's.

    Only odd ids count: V8 gives heap objects odd ids, in allocation order of first sight
    (``HeapObjectsMap``), and embedder (native) and synthetic nodes even ids from hashes.
    """
    newest_earlier, newest_later = _newest_id(earlier), _newest_id(later)
    if newest_later < newest_earlier:
        raise SnapshotsOutOfOrder(
            f"{later.path} was taken before {earlier.path} (its newest object id is "
            f"{newest_later}, below {newest_earlier}): give the snapshots oldest first"
        )


def _newest_id(table: ObjectTable) -> int:
    odd = table.ids[(table.ids & 1) == 1]
    return int(odd.max()) if len(odd) else 0


def _graph(leak_set: _LeakSet, *, retained: bool) -> tuple[ShortestPaths, Dominators | None]:
    """Shortest paths and (with ``retained``) dominators of the last snapshot: the peak."""
    view = leak_set.view
    return view.shortest_paths(), view.dominators() if retained else None


def _rank(
    leak_set: _LeakSet, holder: I32, doms: Dominators | None, sort: LeakSort
) -> list[LeakGroup]:
    """One group per leaked class, primitives folded under their holders, ranked by ``sort``.

    ``holder``: per leaked object, the class it is folded under (-1: not folded).
    """
    names = leak_set.names
    k = len(names)
    sizes = leak_set.self_size[leak_set.nodes].astype(np.int64)
    labels = leak_set.classes.copy()
    folded = holder >= 0
    labels[folded] = holder[folded]  # dominated by its holder: adds nothing to its retained size
    count = np.bincount(leak_set.classes[~folded], minlength=k)
    self_size = np.bincount(leak_set.classes[~folded], weights=sizes[~folded], minlength=k)
    retained_sizes = None
    if doms is not None:
        tree = MarkedTree(doms, leak_set.last.root, leak_set.nodes, labels)
        retained_sizes = tree.retained_by_label(k)
    held: dict[int, list[HeldValues]] = {}
    pairs = np.stack([holder[folded], leak_set.classes[folded]], axis=1)
    if len(pairs):
        combos, inverse = np.unique(pairs, axis=0, return_inverse=True)
        n = np.bincount(inverse.reshape(-1))
        s = np.bincount(inverse.reshape(-1), weights=sizes[folded])
        for (owner, value), c, z in zip(combos.tolist(), n.tolist(), s.tolist(), strict=True):
            held.setdefault(owner, []).append(HeldValues(names[value], int(c), round(z)))
    present = [c for c in range(k) if count[c] or c in held]
    groups = [
        LeakGroup(
            name=names[c],
            count=int(count[c]),
            self_size=round(float(self_size[c])),
            retained_size=None if retained_sizes is None else int(retained_sizes[c]),
            counts=tuple(int(n) for n in leak_set.per_snapshot[c]),
            path=(),
            distance=-1,
            holds=tuple(sorted(held.get(c, []), key=lambda h: (-h.count, h.name))),
            key=leak_set.keys[c],
        )
        for c in present
    ]
    return sorted(groups, key=_sort_key(sort if retained_sizes is not None else _no_retained(sort)))


def _no_retained(sort: LeakSort) -> LeakSort:
    return "shallow" if sort == "retained" else sort


def _sort_key(sort: LeakSort) -> Callable[[LeakGroup], tuple[int, int, int, str]]:
    def key(group: LeakGroup) -> tuple[int, int, int, str]:
        cost = group.retained_size if group.retained_size is not None else group.self_size
        first = {"retained": cost, "count": group.count, "shallow": group.self_size}[sort]
        return (-first, -cost, -group.count, group.name)

    return key


def _fold_primitives(leak_set: _LeakSet, doms: Dominators | None) -> I32:
    """Per leaked object: the class of the leaked non-primitive dominating it, or -1.

    Only primitives (strings, numbers) are folded: their leak is explained by the object
    whose leak keeps them (a leaked ``RequestContext`` keeps its id string and timestamp).
    """
    holder = np.full(len(leak_set.nodes), -1, dtype=np.int32)
    if doms is None:
        return holder
    primitive_classes = [i for i, name in enumerate(leak_set.names) if name in PRIMITIVE_CLASSES]
    is_primitive = np.isin(leak_set.classes, primitive_classes)
    if not is_primitive.any() or is_primitive.all():
        return holder
    tree = MarkedTree(
        doms, leak_set.last.root, leak_set.nodes[~is_primitive], leak_set.classes[~is_primitive]
    )
    ancestor = tree.marked_ancestor(leak_set.nodes[is_primitive])
    holder[is_primitive] = tree.label_of(ancestor)  # the root is unmarked: -1
    return holder


def _detail(
    leak_set: _LeakSet,
    holder: I32,
    groups: list[LeakGroup],
    paths_info: ShortestPaths,
    doms: Dominators | None,
    routes: int,
) -> list[LeakGroup]:
    """The top groups with their routes and the path to their nearest member."""
    if not groups:
        return groups
    last = leak_set.last
    wanted = [leak_set.keys.index(g.key) for g in groups]
    in_group = np.isin(leak_set.classes, wanted) & (holder < 0)
    members = leak_set.nodes[in_group]
    member_classes = leak_set.classes[in_group]
    grouping = group_routes(last, paths_info, members, leak_set.naming)
    route_retained = _route_retained(last, doms, members, grouping.route_of, grouping.count)
    sizes = leak_set.self_size[members].astype(np.int64)
    tallies = [
        _tally(grouping.route_of[member_classes == c], sizes[member_classes == c], route_retained)
        for c in wanted
    ]
    # Only the listed routes and the nearest members get a described path: their edge and
    # node names are read back from the file in one pass.
    examples = {
        r: paths_info.path_to(last, int(members[grouping.example[r]]))
        for tally in tallies
        for r in tally.order[:routes]
    }
    nearest = {c: _nearest(members[member_classes == c], paths_info) for c in wanted}
    nearest_paths = {c: paths_info.path_to(last, node) for c, node in nearest.items()}
    on_paths = sorted({e for p in [*examples.values(), *nearest_paths.values()] for e in p})
    last.prefetch(on_paths, [int(last.edge_to[e]) for e in on_paths])
    detailed = []
    for group, c, tally in zip(groups, wanted, tallies, strict=True):
        listed = tuple(
            Route(
                count=tally.count[r],
                self_size=tally.self_size[r],
                retained_size=None if route_retained is None else int(route_retained[r]),
                shape=grouping.shape(last, r),
                path=describe(last, examples[r], leak_set.naming),
            )
            for r in tally.order[:routes]
        )
        detailed.append(
            attrs.evolve(
                group,
                path=describe(last, nearest_paths[c], leak_set.naming),
                distance=int(paths_info.distance[nearest[c]]),
                routes=listed,
                more_routes=max(0, len(tally.order) - routes),
                more_routes_count=sum(tally.count[r] for r in tally.order[routes:]),
                unreachable=tally.unreachable,
            )
        )
    return detailed


@attrs.frozen
class _Tally:
    """One class's routes: objects and self size per route, routes biggest first."""

    count: dict[int, int]
    self_size: dict[int, int]
    order: list[int]
    unreachable: int


def _tally(route_of: I32, sizes: I64, route_retained: I64 | None) -> _Tally:
    reachable = route_of != UNREACHABLE
    ids, counts = np.unique(route_of[reachable], return_counts=True)
    total = np.bincount(
        np.searchsorted(ids, route_of[reachable]), weights=sizes[reachable], minlength=len(ids)
    )
    count = dict(zip(ids.tolist(), counts.tolist(), strict=True))
    self_size = {r: round(z) for r, z in zip(ids.tolist(), total.tolist(), strict=True)}

    def key(r: int) -> tuple[int, int, int]:
        biggest = int(route_retained[r]) if route_retained is not None else self_size[r]
        return (-biggest, -count[r], r)

    return _Tally(count, self_size, sorted(count, key=key), int(np.count_nonzero(~reachable)))


def _route_retained(
    last: HeapSnapshot, doms: Dominators | None, members: I64, route_of: I32, count: int
) -> I64 | None:
    """Retained size of each route: its members not dominated by another of the route."""
    if doms is None:
        return None
    reachable = route_of != UNREACHABLE
    tree = MarkedTree(doms, last.root, members[reachable], route_of[reachable])
    return tree.retained_by_label(count)


def _nearest(members: I64, paths: ShortestPaths) -> int:
    """The member closest to a root (unreachable ones last), lowest ordinal on ties."""
    distance = paths.distance[members].astype(np.int64)
    distance[distance < 0] = np.iinfo(np.int64).max
    return int(members[int(np.argmin(distance))])
