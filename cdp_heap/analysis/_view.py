"""A snapshot as Chrome DevTools' Memory panel shows it: the Summary view and its details.

:class:`HeapView` applies DevTools' rules (:mod:`._devtools`, :mod:`._interfaces`) to a
:class:`HeapSnapshot` once: shallow sizes, class keys and names, distances; dominators and
retained sizes when first asked for. :meth:`HeapView.summary` is DevTools' Summary view
(``aggregatesWithFilter``): per class the count, the smallest distance, the shallow size
and the retained size of the objects with a shallow size above 0.

A class's retained size is DevTools' ``maxRet``: the retained sizes of its objects that
no other object of the class dominates, summed (so nothing is counted twice). It is found
with one walk of the dominator tree numbering each subtree as an interval: an object is
inside another of its class exactly when its number falls in that one's interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import attrs
import numpy as np
import numpy.typing as npt

from ._classes import devtools_classes
from ._devtools import (
    I32,
    detached_nodes,
    devtools_distances,
    devtools_essential_edges,
    devtools_self_sizes,
)
from ._graph import Dominators, ShortestPaths, dominators, shortest_paths
from ._interfaces import (
    Interface,
    best_interfaces,
    infer_interfaces,
    match_interfaces,
    plain_shapes,
)
from ._reader import U32
from ._sieve import load_comparison_graph
from ._snapshot import HeapSnapshot, ObjectTable, load_devtools_graph
from ._tree import preorder_intervals


@attrs.frozen
class ClassSummary:
    """One row of the Summary view (field names are the stable ``--json`` keys).

    ``key`` is DevTools' class key: ``,NAME``, or ``SCRIPT,LINE,COLUMN,NAME`` for objects
    whose constructor has a location; ``name`` is what DevTools shows.
    """

    key: str
    name: str
    count: int
    distance: int
    self_size: int
    retained_size: int

    def to_json(self) -> dict[str, int | str]:
        return attrs.asdict(self)


@attrs.frozen
class ObjectSummary:
    """One object: what DevTools' Summary lists under a class."""

    id: int
    name: str
    distance: int
    self_size: int
    retained_size: int

    def to_json(self) -> dict[str, int | str]:
        return attrs.asdict(self)


SUMMARY_SORT_KEYS = ("retained", "shallow", "count", "distance")


class HeapView:
    """DevTools' reading of one snapshot (see the module docstring).

    ``raw``: V8's own self sizes and the plain dominator rule (weak edges never retain,
    shortcuts only from the root), for comparing with memlab or older DevTools.
    ``interfaces``: the plain-object interfaces to name objects by (DevTools uses the
    target's for both snapshots of a comparison); by default those of this snapshot.
    ``defer_interfaces``: the interfaces are not known yet (they are another snapshot's,
    read later): each plain objects' shape is a class of its own, named by a placeholder
    that :func:`resolve_shapes` replaces in the object table once they are (``shapes``).
    ``sole``: the view is the snapshot's only user, so DevTools' sizes are computed in the
    snapshot's own ``self_size`` column (V8's sizes are gone after; see
    :func:`devtools_self_sizes`), and ``raw`` sizes are that column, not a copy.
    """

    def __init__(
        self,
        snapshot: HeapSnapshot,
        *,
        raw: bool = False,
        interfaces: Sequence[Interface] | None = None,
        defer_interfaces: bool = False,
        sole: bool = False,
    ) -> None:
        self.snapshot = snapshot
        self.raw = raw
        self.self_size: U32 = (
            (snapshot.self_size if sole else snapshot.self_size.copy())
            if raw
            else devtools_self_sizes(snapshot, in_place=sole)
        )
        #: With ``defer_interfaces``: the property names of each plain-object shape.
        self.shapes: list[frozenset[str]] = []
        if defer_interfaces:
            self.interfaces: list[Interface] = []
            plain, plain_class, self.shapes = plain_shapes(snapshot)
            names = [_shape_placeholder(i) for i in range(len(self.shapes))]
        else:
            self.interfaces = list(infer_interfaces(snapshot) if interfaces is None else interfaces)
            plain, plain_class, names = match_interfaces(snapshot, self.interfaces)
        self.detached = detached_nodes(snapshot)
        self.class_ids, self.class_keys, self.class_names = devtools_classes(
            snapshot.node_type,
            snapshot.node_name,
            snapshot.node_types,
            snapshot.strings,
            detached=self.detached,
            plain=plain,
            plain_class=plain_class,
            interface_names=names,
            location_node=snapshot.location_node,
            location=snapshot.location,
        )
        #: The nodes DevTools lists: a shallow size above 0 (after the owned internals moved).
        self.counted: npt.NDArray[np.bool_] = self.self_size > 0
        self._distance: I32 | None = None
        self._names_released = False
        self._essential: npt.NDArray[np.bool_] | None = None
        self._paths: ShortestPaths | None = None
        self._dominators: Dominators | None = None

    @property
    def distance(self) -> I32:
        self._need_whole_graph()
        if self._distance is None:
            if self._names_released:
                raise ValueError("distances need the edge names: ask before releasing them")
            self._distance = devtools_distances(self.snapshot)
        return self._distance

    def essential_edges(self) -> npt.NDArray[np.bool_]:
        """The edges that retain (DevTools' rule, or the plain one with ``raw``); once."""
        self._need_whole_graph()
        if self._essential is None:
            self._essential = devtools_essential_edges(self.snapshot, raw=self.raw)
        return self._essential

    def release_edge_names(self, *, distances: bool = False) -> None:
        """Apply the rules that read edge names (the essential edges, and the distances
        with ``distances``), then let the snapshot drop them (:meth:`HeapSnapshot.
        drop_edge_names`): the dominator tree is the peak, and needs no names."""
        self.essential_edges()
        if distances:
            _ = self.distance
        self._names_released = True
        self.snapshot.drop_edge_names()

    def _need_whole_graph(self) -> None:
        if self.snapshot.partial:
            raise ValueError(
                f"{self.snapshot.path}: read for a comparison (load_comparison_graph); "
                "distances and dominators need the whole graph (load_devtools_graph)"
            )

    def shortest_paths(self) -> ShortestPaths:
        """Shortest retainer paths over the essential edges (computed once)."""
        if self._paths is None:
            self._paths = shortest_paths(self.snapshot, self.essential_edges())
        return self._paths

    def dominators(self) -> Dominators:
        """Immediate dominators and retained sizes (computed once)."""
        if self._dominators is None:
            self._dominators = dominators(
                self.snapshot, self.essential_edges(), self.shortest_paths(), self.self_size
            )
        return self._dominators

    def class_retained(self) -> npt.NDArray[np.int64]:
        """DevTools' retained size of every class (indexed like ``class_keys``)."""
        doms = self.dominators()
        tin, tout = _intervals(doms)
        # int32 wherever it fits and every temporary dropped at once: these are arrays of
        # the counted objects, and this step was the summary's peak.
        nodes = np.flatnonzero(self.counted).astype(np.int32)
        classes = self.class_ids[nodes]
        start = tin[nodes]
        del tin
        order = np.lexsort((start, classes))
        # One at a time, each old array freed as its sorted copy is made.
        nodes = nodes[order]
        classes = classes[order]
        start = start[order]
        del order
        covered = enclosed(classes, start, tout[nodes])
        del tout, start
        top = ~covered
        sums = np.bincount(
            classes[top],
            weights=doms.retained_size[nodes[top]].astype(np.float64),
            minlength=len(self.class_keys),
        )
        retained: npt.NDArray[np.int64] = np.rint(sums).astype(np.int64)
        return retained

    def summary(self, *, retained: bool = True) -> list[ClassSummary]:
        """DevTools' Summary: one row per class with counted objects, largest retained first."""
        k = len(self.class_keys)
        classes = self.class_ids[self.counted]
        count = np.bincount(classes, minlength=k)
        size = np.bincount(classes, weights=self.self_size[self.counted], minlength=k)
        distance = np.full(k, np.iinfo(np.int32).max, dtype=np.int64)
        np.minimum.at(distance, classes, self.distance[self.counted].astype(np.int64))
        kept = np.zeros(k, dtype=np.int64) if not retained else self.class_retained()
        rows = [
            ClassSummary(
                key=self.class_keys[c],
                name=self.class_names[c],
                count=int(count[c]),
                distance=int(distance[c]),
                self_size=round(float(size[c])),
                retained_size=int(kept[c]),
            )
            for c in np.flatnonzero(count).tolist()
        ]
        return sort_summary(rows, "retained")

    def objects(self) -> ObjectTable:
        """The counted objects as a compact table for a comparison (copies)."""
        mask = self.counted
        return ObjectTable(
            path=self.snapshot.path,
            ids=self.snapshot.node_id[mask],
            self_sizes=self.self_size[mask],
            class_ids=self.class_ids[mask],
            class_names=self.class_keys,
            display_names=self.class_names,
        )

    def take_objects(self) -> ObjectTable:
        """:meth:`objects`, releasing the view and its snapshot as the table is made, a
        column at a time, so that the graph and the table are never both in memory (the
        view is unusable after; a comparison's last use of it)."""
        mask, ids = self.counted, self.snapshot.node_id
        sizes, classes = self.self_size, self.class_ids
        self.snapshot.release()
        self._distance = self._essential = self._paths = self._dominators = None
        self.counted = self.detached = mask[:0].copy()
        self.self_size, self.class_ids = sizes[:0].copy(), classes[:0].copy()
        class_ids = classes[mask]
        del classes
        self_sizes = sizes[mask]
        del sizes
        return ObjectTable(
            path=self.snapshot.path,
            ids=ids[mask],
            self_sizes=self_sizes,
            class_ids=class_ids,
            class_names=self.class_keys,
            display_names=self.class_names,
        )

    def classes_matching(self, name: str) -> list[int]:
        """Class ids whose key or name is ``name``."""
        return [
            c
            for c, (key, shown) in enumerate(zip(self.class_keys, self.class_names, strict=True))
            if name in (key, shown)
        ]

    def largest(self, classes: Sequence[int], top: int) -> list[ObjectSummary]:
        """The ``top`` objects of ``classes`` with the largest retained sizes."""
        doms = self.dominators()
        nodes = np.flatnonzero(self.counted & np.isin(self.class_ids, list(classes)))
        order = np.lexsort((self.snapshot.node_id[nodes], -doms.retained_size[nodes]))
        return [self.object_summary(int(n)) for n in nodes[order[:top]].tolist()]

    def object_summary(self, node: int) -> ObjectSummary:
        return ObjectSummary(
            id=int(self.snapshot.node_id[node]),
            name=self.display_name(node),
            distance=int(self.distance[node]),
            self_size=int(self.self_size[node]),
            retained_size=int(self.dominators().retained_size[node]),
        )

    def display_name(self, node: int) -> str:
        """The node's class, and its own name when that says more (a string's text ...)."""
        shown = self.class_names[int(self.class_ids[node])]
        own = self.snapshot.node_name_of(node)
        if self.detached is not None and self.detached[node]:
            own = "Detached " + own
        if own and own != shown and not shown.startswith("{"):
            own = own if len(own) <= 60 else own[:57] + "..."
            return f"{shown} {own!r}"
        return shown

    def node_of_id(self, node_id: int) -> int | None:
        found = np.flatnonzero(self.snapshot.node_id == node_id)
        return int(found[0]) if found.size else None


def enclosed(classes: I32, start: I32, stop: I32) -> npt.NDArray[np.bool_]:
    """Which intervals ``[start, stop)`` another one of their class encloses, given the
    intervals sorted by class, then start (nested or disjoint within a class, as
    dominator subtrees are): an interval is enclosed exactly when an earlier one of its
    class ends after its start. The running maximum of (class, end) as one int64 key is
    made a chunk at a time, its carry from the chunk before, so that no int64 array as
    long as the intervals exists (two of them were the top of ``class_retained``)."""
    n = len(classes)
    covered = np.zeros(n, dtype=bool)
    span = np.int64(max(int(stop.max(initial=0)), int(start.max(initial=0))) + 1)
    carry = np.int64(-1)
    for a in range(0, n, _ENCLOSED_CHUNK):
        b = min(a + _ENCLOSED_CHUNK, n)
        running = classes[a:b].astype(np.int64)
        running *= span
        running += stop[a:b]
        np.maximum.accumulate(running, out=running)
        np.maximum(running, carry, out=running)
        carry = running[-1]
        # Interval i is enclosed when the running key up to i - 1 is above its own.
        here = classes[a + 1 : b + 1].astype(np.int64)
        here *= span
        here += start[a + 1 : b + 1]
        covered[a + 1 : b + 1] = running[: len(here)] > here
    return covered


#: Intervals per step of :func:`enclosed`.
_ENCLOSED_CHUNK = 1 << 18


def sort_summary(rows: list[ClassSummary], key: str) -> list[ClassSummary]:
    """Rows by ``key`` (retained, shallow, count: largest first; distance: nearest first)."""
    if key == "distance":
        return sorted(rows, key=lambda r: (r.distance, -r.retained_size, r.key))
    field = {"retained": "retained_size", "shallow": "self_size", "count": "count"}[key]
    return sorted(rows, key=lambda r: (-getattr(r, field), r.key))


def _intervals(doms: Dominators) -> tuple[I32, I32]:
    """Each node's preorder interval ``[tin, tout)`` in the dominator tree.

    In numbers (positions in ``doms.order``, dominators first) the tree is a parent array
    with every parent before its children: :func:`._tree.preorder_intervals`' numpy passes.
    int32 throughout (heaps have fewer than 2**31 nodes): these are N-sized arrays.
    """
    order = doms.order
    n = len(order)
    number = np.empty(n, dtype=np.int32)
    number[order] = np.arange(n, dtype=np.int32)
    parent = number[doms.idom[order]]
    del number
    start, stop = preorder_intervals(parent, doms.blocks)
    del parent
    tin = np.empty(n, dtype=np.int32)
    tin[order] = start
    del start
    tout = np.empty(n, dtype=np.int32)
    tout[order] = stop
    return tin, tout


def load_view(path: str | Path, *, raw: bool = False) -> HeapView:
    """Read ``path`` with its whole graph and apply DevTools' rules."""
    return HeapView(load_devtools_graph(path), raw=raw)


def load_objects(
    path: str | Path,
    *,
    raw: bool = False,
    interfaces: Sequence[Interface] | None = None,
    retained: bool = False,
) -> ObjectTable:
    """The objects of ``path`` as DevTools' Comparison sees them (class keys, shallow sizes).

    ``retained`` also computes each class's retained size (the dominator tree: slower, and
    the whole graph); without it only the edges the rules need are read
    (:func:`load_comparison_graph`). The graph is dropped before returning.
    """
    graph = load_devtools_graph(path) if retained else load_comparison_graph(path)
    view = HeapView(graph, raw=raw, interfaces=interfaces, sole=True)
    del graph
    return view_objects(view, retained=retained)


def view_objects(view: HeapView, *, retained: bool = False) -> ObjectTable:
    """:meth:`HeapView.take_objects`, with each class's retained size if ``retained``
    (computed first, before the table exists). ``view`` is used up."""
    class_retained = view.class_retained() if retained else None
    table = view.take_objects()
    if class_retained is not None:
        table = attrs.evolve(table, class_retained=class_retained)
    return table


def _shape_placeholder(shape: int) -> str:
    # NUL never occurs in a class name DevTools shows; the closing one keeps "1" and "12" apart.
    return f"\0shape {shape}\0"


def resolve_shapes(
    table: ObjectTable, shapes: Sequence[frozenset[str]], interfaces: Sequence[Interface]
) -> ObjectTable:
    """``table`` (of a view with ``defer_interfaces``) with its plain-object shapes named by
    ``interfaces``: the class keys and names DevTools gives them (``Object`` for none).

    Python runs once per class; shapes that match one interface become one class key (a
    comparison matches classes by key).
    """
    best = best_interfaces(shapes, interfaces)
    final = [interfaces[k].name if k >= 0 else "Object" for k in best]

    def named(text: str) -> str:
        if text.endswith("\0"):
            start = text.rfind("\0", 0, len(text) - 1)
            shape = int(text[start + 1 : -1].removeprefix("shape "))
            return text[:start] + final[shape]
        return text

    shown = table.display_names or table.class_names
    return attrs.evolve(
        table,
        class_names=[named(key) for key in table.class_names],
        display_names=[named(name) for name in shown],
    )
