"""Growing collections: the Map, Set, Array or object whose element count rose in every snapshot.

The leak set says *what* leaks (objects of a class); users then ask *where it accumulates*:
"the Map ``sessions`` grew 0 → 1,000 → 2,000". memlab answers it with its unbound-growth
analyses; this module does it in the same pass that reads the snapshots, one at a time.

Every object (node type ``object``) is a candidate; its element count in a snapshot is the
number of references it holds in that snapshot:

* Arrays: their element edges (V8 reports an array's elements on the array itself);
* plain objects and class instances: their property and element edges (so an object used
  as a dictionary counts its keys, and ``__proto__`` once: the edge names stay in the file);
* Maps and Sets: the slots of their hash table (the table is replaced as it grows, the Map
  keeps its id). A slot holding a number (a small-integer key) is no object and is not
  counted, so a Map with string keys and object values counts two per entry.

Objects are matched across snapshots by id (one session: an id is one object for life), and
only those whose count rose from each snapshot to the next stay candidates, so after the second
snapshot only a handful of ids are carried. The growing collections of the last snapshot get
their shortest path from a root and retained size there.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import numpy as np
import numpy.typing as npt

from ._compare import partners
from ._graph import Dominators, ShortestPaths
from ._routes import RetainerStep, describe
from ._snapshot import HeapSnapshot

I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
U32 = npt.NDArray[np.uint32]

#: Classes whose elements live in a hash table they hold (their ``table``).
_HASHED = ("Map", "Set")


@attrs.frozen
class GrowingCollection:
    """One object whose element count grew from every snapshot to the next."""

    name: str
    node_id: int
    counts: tuple[int, ...]
    retained_size: int | None
    path: tuple[RetainerStep, ...]

    @property
    def growth(self) -> int:
        return self.counts[-1] - self.counts[0]

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "node_id": self.node_id,
            "counts": list(self.counts),
            "growth": self.growth,
            "retained_size": self.retained_size,
            "retainer_path": [attrs.asdict(step) for step in self.path],
        }


class GrowthTracker:
    """Feed it the snapshots oldest first (:meth:`observe`); then ask :meth:`collections`."""

    def __init__(self) -> None:
        self._ids: U32 | None = None
        self._history: list[I32] = []

    def observe(self, snapshot: HeapSnapshot) -> None:
        """Count the elements of every object and keep the ids that grew since last time."""
        ids, counts = element_counts(snapshot)
        if self._ids is None:
            self._ids, self._history = ids, [counts]
            return
        at = partners(self._ids, ids)
        grew = at >= 0
        grew[grew] = counts[at[grew]] > self._history[-1][grew]
        self._ids = self._ids[grew]
        self._history = [h[grew] for h in self._history] + [counts[at[grew]]]

    def collections(
        self,
        last: HeapSnapshot,
        paths: ShortestPaths | None,
        doms: Dominators | None,
        top: int,
    ) -> tuple[GrowingCollection, ...]:
        """The growing objects of ``last`` (the snapshot observed last), most retained first."""
        if self._ids is None or len(self._history) < 3 or not len(self._ids):
            return ()
        nodes = partners(self._ids, last.node_id).astype(np.int64)
        history = np.stack(self._history, axis=1)
        growth = history[:, -1].astype(np.int64) - history[:, 0]
        retained = doms.retained_size[nodes] if doms is not None else None
        cost = retained if retained is not None else growth
        order = np.lexsort((-growth, -cost))[:top].tolist()
        if paths is not None:
            routes = {i: paths.path_to(last, int(nodes[i])) for i in order}
            on_paths = sorted({e for route in routes.values() for e in route})
            last.prefetch(on_paths, [int(last.edge_to[e]) for e in on_paths])
        return tuple(
            GrowingCollection(
                name=last.class_of(int(nodes[i])),
                node_id=int(self._ids[i]),
                counts=tuple(int(c) for c in history[i]),
                retained_size=None if retained is None else int(retained[i]),
                path=describe(last, routes[i]) if paths is not None else (),
            )
            for i in order
        )


def element_counts(snapshot: HeapSnapshot) -> tuple[U32, I32]:
    """Ids and element counts of the snapshot's objects (node type ``object``)."""
    held = _edge_mask(snapshot, ("element", "property"))
    counts = _per_node(snapshot.first_edge, held)
    del held
    arrays = [i for i, name in enumerate(snapshot.class_names) if name == "Array"]
    if arrays:  # an array's count is its elements alone, without __proto__
        is_array = np.flatnonzero(snapshot.class_ids == arrays[0])
        elements = _edge_mask(snapshot, ("element",))
        counts[is_array] = _per_node(snapshot.first_edge, elements)[is_array]
        del elements
    _count_hash_tables(snapshot, counts)
    objects = _node_mask(snapshot, "object") & (snapshot.self_size > 0)
    return snapshot.node_id[objects], counts[objects]


def _count_hash_tables(snapshot: HeapSnapshot, counts: I32) -> None:
    """A Map's or Set's count: the slots of its table (internal edges to non-hidden nodes)."""
    wanted = [i for i, name in enumerate(snapshot.class_names) if name in _HASHED]
    if not wanted or not snapshot.edge_count:
        return
    hashed = np.flatnonzero(np.isin(snapshot.class_ids, wanted) & _node_mask(snapshot, "object"))
    if not len(hashed):
        return
    edges = _out_edges(snapshot.first_edge, hashed)
    internal = _type_codes(snapshot.edge_types, ("internal",))
    arrays = _type_codes(snapshot.node_types, ("array",))
    targets = snapshot.edge_to[edges].astype(np.int64)
    is_table = np.isin(snapshot.edge_type[edges], internal) & np.isin(
        snapshot.node_type[targets], arrays
    )
    owners = np.repeat(hashed, snapshot.first_edge[hashed + 1] - snapshot.first_edge[hashed])
    tables, owners = targets[is_table], owners[is_table]
    slot_edges = _out_edges(snapshot.first_edge, tables)
    hidden = _type_codes(snapshot.node_types, ("hidden",))
    slot = np.isin(snapshot.edge_type[slot_edges], internal) & ~np.isin(
        snapshot.node_type[snapshot.edge_to[slot_edges]], hidden
    )
    per_table = snapshot.first_edge[tables + 1] - snapshot.first_edge[tables]
    table_of_edge = np.repeat(np.arange(len(tables)), per_table)
    slots = np.bincount(table_of_edge[slot], minlength=len(tables))
    counts[hashed] = 0
    np.add.at(counts, owners, slots.astype(np.int32))


def _out_edges(first_edge: I64, nodes: I64) -> I64:
    """All edge indices of ``nodes``, node by node."""
    starts = first_edge[nodes]
    lengths = first_edge[nodes + 1] - starts
    if not int(lengths.sum()):
        return np.zeros(0, dtype=np.int64)
    shift = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    edges: I64 = shift + np.arange(int(lengths.sum()), dtype=np.int64)
    return edges


def _per_node(first_edge: I64, mask: npt.NDArray[np.bool_]) -> I32:
    """Per node, how many of its edges ``mask`` selects (no edge-sized temporary)."""
    n = len(first_edge) - 1
    counts = np.zeros(n, dtype=np.int32)
    starts = first_edge[:-1]
    has = np.flatnonzero(first_edge[1:] > starts)
    if len(has):
        counts[has] = np.add.reduceat(mask, starts[has], dtype=np.int32)
    return counts


def _type_codes(table: Sequence[str], names: Sequence[str]) -> list[int]:
    return [i for i, name in enumerate(table) if name in names]


def _edge_mask(snapshot: HeapSnapshot, kinds: Sequence[str]) -> npt.NDArray[np.bool_]:
    mask = np.zeros(snapshot.edge_count, dtype=bool)
    for code in _type_codes(snapshot.edge_types, kinds):
        mask |= snapshot.edge_type == code
    return mask


def _node_mask(snapshot: HeapSnapshot, kind: str) -> npt.NDArray[np.bool_]:
    codes = _type_codes(snapshot.node_types, (kind,))
    if not codes:
        return np.zeros(snapshot.node_count, dtype=bool)
    mask: npt.NDArray[np.bool_] = snapshot.node_type == codes[0]
    return mask
