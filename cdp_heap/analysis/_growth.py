"""Growing collections: the Map, Set, Array or object whose element count rose in every snapshot.

The leak set says *what* leaks (objects of a class); users then ask *where it accumulates*:
"the Map ``sessions`` grew 0 → 1,000 → 2,000". memlab answers it with its unbound-growth
analyses; this module does it in the same pass that reads the snapshots, one at a time.

Every object (node type ``object``) is a candidate; its element count in a snapshot is the
number of references it holds in that snapshot:

* Arrays: their element edges (V8 reports an array's elements on the array itself);
* plain objects and class instances: their property and element edges (so an object used
  as a dictionary counts its keys, and ``__proto__`` once: the edge names stay in the file);
* Maps and Sets: the slots of their hash table that hold an object (the table is replaced as
  it grows, the Map keeps its id): a slot holding a number (a small-integer key or value) is
  no object, so a Map with string keys and object values counts two per entry, one keyed by
  numbers with object values one.

Objects are matched across snapshots by id (one session: an id is one object for life), and
only those whose count rose from each snapshot to the next stay candidates (see
:class:`GrowthTracker` for how the earlier snapshots are read without their edges). The growing
collections of the last snapshot get their shortest path from a root and retained size there.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import numpy as np
import numpy.typing as npt

from ._compare import partners
from ._fileindex import FileIndex
from ._graph import Dominators, ShortestPaths
from ._routes import Naming, RetainerStep, describe
from ._snapshot import EdgeOffsets, HeapSnapshot

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


@attrs.frozen(eq=False)
class _Seen:
    """What an earlier snapshot (read without its edges) leaves for the final count."""

    index: FileIndex | None
    edge_fields: list[str]
    #: Candidate objects, in the same order in every snapshot: id, first edge, edge count.
    ids: U32
    first: I64
    edges: I64
    #: Per candidate: whether it is an Array (its count is its elements only).
    arrays: npt.NDArray[np.bool_]
    #: Maps and Sets that grew so far, with their exact counts (their tables' slots).
    hashed_ids: U32
    hashed_counts: I64

    def keep(self, objects: npt.NDArray[np.bool_], hashed: npt.NDArray[np.bool_]) -> _Seen:
        return attrs.evolve(
            self,
            ids=self.ids[objects],
            first=self.first[objects],
            edges=self.edges[objects],
            arrays=self.arrays[objects],
            hashed_ids=self.hashed_ids[hashed],
            hashed_counts=self.hashed_counts[hashed],
        )


class GrowthTracker:
    """Feed it the earlier snapshots oldest first (:meth:`observe`), then ask
    :meth:`collections` with the last one, read as a graph.

    Earlier snapshots are read without parsing their edges (the bulk of a file); their
    nodes' edge counts are enough to drop every object whose edge count did not rise, so
    only the few left have their edges read back from the file at the end, to be counted
    exactly. A Map's own edges do not grow (its table does), so Maps and Sets have their few
    edges read back at once: V8 heaps have tens to hundreds of them.
    """

    def __init__(self) -> None:
        self._seen: list[_Seen] = []

    def observe(self, snapshot: HeapSnapshot) -> None:
        """An earlier snapshot, its edges unread (:func:`._snapshot.load_nodes`) or only
        some kept (:func:`._sieve.load_comparison_graph`): they are read back from the file."""
        objects = np.flatnonzero(_node_mask(snapshot, "object") & (snapshot.self_size > 0))
        ids = snapshot.node_id[objects]
        first = snapshot.file_first_edge[objects].astype(np.int64)  # int64 read from a file
        edges = snapshot.file_first_edge[objects + 1] - first
        arrays = np.isin(snapshot.class_ids[objects], _class_codes(snapshot, ("Array",)))
        hashed = objects[np.isin(snapshot.class_ids[objects], _class_codes(snapshot, _HASHED))]
        hashed_counts = _read_table_slots(snapshot, hashed)
        hashed_ids = snapshot.node_id[hashed]
        if self._seen:
            previous = self._seen[-1]
            at = partners(previous.ids, ids)
            grew = at >= 0
            grew[grew] = edges[at[grew]] > previous.edges[grew]
            at_hashed = partners(previous.hashed_ids, hashed_ids)
            grew_hashed = at_hashed >= 0
            grew_hashed[grew_hashed] = (
                hashed_counts[at_hashed[grew_hashed]] > previous.hashed_counts[grew_hashed]
            )
            self._seen = [seen.keep(grew, grew_hashed) for seen in self._seen]
            rows, hashed_rows = at[grew], at_hashed[grew_hashed]
            ids, first, edges, arrays = ids[rows], first[rows], edges[rows], arrays[rows]
            hashed_ids, hashed_counts = hashed_ids[hashed_rows], hashed_counts[hashed_rows]
        self._seen.append(
            _Seen(
                snapshot.file_index,
                snapshot.edge_fields,
                ids,
                first,
                edges,
                arrays,
                hashed_ids,
                hashed_counts,
            )
        )

    def collections(
        self,
        last: HeapSnapshot,
        paths: ShortestPaths | None,
        doms: Dominators | None,
        top: int,
        naming: Naming | None = None,
    ) -> tuple[GrowingCollection, ...]:
        """The objects of ``last`` whose count rose in every snapshot, most retained first."""
        naming = naming or Naming.of_snapshot(last)
        if len(self._seen) < 2:
            return ()
        ids, history = self._objects(last)
        hashed_ids, hashed_history = self._hashed(last)
        ids = np.concatenate([ids, hashed_ids])
        history = np.concatenate([history, hashed_history])
        if not len(ids):
            return ()
        nodes = _ordinals(ids, last)
        growth = history[:, -1] - history[:, 0]
        retained = doms.retained_size[nodes] if doms is not None else None
        cost = retained if retained is not None else growth
        order = np.lexsort((-growth, -cost))[:top].tolist()
        routes: dict[int, list[int]] = {}
        if paths is not None:
            routes = {i: paths.path_to(last, int(nodes[i])) for i in order}
            on_paths = sorted({e for route in routes.values() for e in route})
            last.prefetch(on_paths, [int(last.edge_to[e]) for e in on_paths])
        return tuple(
            GrowingCollection(
                name=naming.of(int(nodes[i])),
                node_id=int(ids[i]),
                counts=tuple(int(c) for c in history[i]),
                retained_size=None if retained is None else int(retained[i]),
                path=describe(last, routes[i], naming) if i in routes else (),
            )
            for i in order
        )

    def _objects(self, last: HeapSnapshot) -> tuple[U32, I64]:
        """Candidates still growing in ``last``, counted exactly in every snapshot."""
        previous = self._seen[-1]
        ordinal = _ordinals(previous.ids, last)
        alive = ordinal >= 0
        found = ordinal[alive]
        grew = last.first_edge[found + 1] - last.first_edge[found] > previous.edges[alive]
        alive[alive] = grew & ~np.isin(last.class_ids[found], _class_codes(last, _HASHED))
        seen = [s.keep(alive, np.ones(len(s.hashed_ids), dtype=bool)) for s in self._seen]
        columns = [_read_counts(s, last.edge_types) for s in seen]
        columns.append(element_counts(last, ordinal[alive]))
        history = np.stack(columns, axis=1)
        rising = np.all(np.diff(history, axis=1) > 0, axis=1)
        return seen[-1].ids[rising], history[rising]

    def _hashed(self, last: HeapSnapshot) -> tuple[U32, I64]:
        """Maps and Sets that grew so far and again in ``last``."""
        previous = self._seen[-1]
        ordinal = _ordinals(previous.hashed_ids, last)
        alive = ordinal >= 0
        now = np.zeros(len(ordinal), dtype=np.int64)
        now[alive] = element_counts(last, ordinal[alive])
        alive &= now > previous.hashed_counts
        history = np.stack([*(s.hashed_counts for s in self._seen), now], axis=1)
        return previous.hashed_ids[alive], history[alive]


def _ordinals(ids: U32, snapshot: HeapSnapshot) -> I64:
    """Ordinal in ``snapshot`` of each of a few ``ids`` (-1: gone), sorting only the few."""
    hit = partners(snapshot.node_id, ids)
    ordinal: I64 = np.full(len(ids), -1, dtype=np.int64)
    nodes = np.flatnonzero(hit >= 0)
    ordinal[hit[nodes]] = nodes
    return ordinal


def _read_counts(seen: _Seen, edge_types: list[str]) -> I64:
    """Exact element counts of ``seen``'s candidates, their edges read back from the file."""
    counted: I64 = np.zeros(len(seen.ids), dtype=np.int64)
    if not len(seen.ids) or seen.index is None:
        return counted
    width = len(seen.edge_fields)
    type_field = seen.edge_fields.index("type")
    positions = [
        (first + e) * width + type_field
        for first, n in zip(seen.first.tolist(), seen.edges.tolist(), strict=True)
        for e in range(n)
    ]
    kinds = np.array(seen.index.numbers("edges", positions), dtype=np.int64)
    owner = np.repeat(np.arange(len(seen.ids)), seen.edges)
    element = _type_codes(edge_types, ("element",))
    named = _type_codes(edge_types, ("element", "property"))
    held = np.where(seen.arrays[owner], np.isin(kinds, element), np.isin(kinds, named))
    np.add.at(counted, owner[held], 1)
    return counted


def _read_table_slots(snapshot: HeapSnapshot, hashed: I64) -> I64:
    """Slots of the hash tables of ``hashed`` (Maps, Sets), their few edges read back."""
    slots: I64 = np.zeros(len(hashed), dtype=np.int64)
    index = snapshot.file_index
    if not len(hashed) or index is None or "to_node" not in snapshot.edge_fields:
        return slots
    width = len(snapshot.edge_fields)
    to_field = snapshot.edge_fields.index("to_node")
    starts = snapshot.file_first_edge[hashed].tolist()
    stops = snapshot.file_first_edge[hashed + 1].tolist()
    edges = [
        (i, e) for i, (a, b) in enumerate(zip(starts, stops, strict=True)) for e in range(a, b)
    ]
    targets = index.numbers("edges", [e * width + to_field for _, e in edges])
    arrays = _type_codes(snapshot.node_types, ("array",))
    for (i, _), target in zip(edges, targets, strict=True):
        node = target // snapshot.node_field_count
        if int(snapshot.node_type[node]) in arrays:  # its table (the only array it holds)
            slots[i] += _table_slots(snapshot.file_first_edge, node)
    return slots


def _table_slots(first_edge: EdgeOffsets, table: int) -> int:
    """A hash table's references but its map: the entries' keys and values that are objects."""
    return max(0, int(first_edge[table + 1] - first_edge[table]) - 1)


def element_counts(snapshot: HeapSnapshot, nodes: I64) -> I64:
    """Element counts of ``nodes`` of a snapshot read with its edges (see the module).

    Only the edges of those nodes (and of the tables of Maps among them) are looked at: the
    last snapshot's graph work is the peak of the run, nothing edge-sized is added to it.
    """
    counts: I64 = np.zeros(len(nodes), dtype=np.int64)
    if not len(nodes) or not snapshot.edge_count:
        return counts
    edges = _out_edges(snapshot.first_edge, nodes)
    owner = np.repeat(
        np.arange(len(nodes)), snapshot.first_edge[nodes + 1] - snapshot.first_edge[nodes]
    )
    kinds = snapshot.edge_type[edges]
    arrays = np.isin(snapshot.class_ids[nodes], _class_codes(snapshot, ("Array",)))
    element = np.isin(kinds, _type_codes(snapshot.edge_types, ("element",)))
    named = np.isin(kinds, _type_codes(snapshot.edge_types, ("element", "property")))
    held = np.where(arrays[owner], element, named)
    np.add.at(counts, owner[held], 1)
    hashed = np.isin(snapshot.class_ids[nodes], _class_codes(snapshot, _HASHED))
    if hashed.any():
        targets = snapshot.edge_to[edges].astype(np.int64)
        is_table = hashed[owner] & np.isin(
            snapshot.node_type[targets], _type_codes(snapshot.node_types, ("array",))
        )
        tables = targets[is_table]
        slots = np.maximum(snapshot.first_edge[tables + 1] - snapshot.first_edge[tables] - 1, 0)
        counts[hashed] = 0
        np.add.at(counts, owner[is_table], slots)
    return counts


def _class_codes(snapshot: HeapSnapshot, names: Sequence[str]) -> list[int]:
    return [i for i, name in enumerate(snapshot.class_names) if name in names]


def _out_edges(first_edge: EdgeOffsets, nodes: I64) -> I64:
    """All edge indices of ``nodes``, node by node."""
    starts = first_edge[nodes]
    lengths = first_edge[nodes + 1] - starts
    if not int(lengths.sum()):
        return np.zeros(0, dtype=np.int64)
    shift = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    edges: I64 = shift + np.arange(int(lengths.sum()), dtype=np.int64)
    return edges


def _type_codes(table: Sequence[str], names: Sequence[str]) -> list[int]:
    return [i for i, name in enumerate(table) if name in names]


def _node_mask(snapshot: HeapSnapshot, kind: str) -> npt.NDArray[np.bool_]:
    codes = _type_codes(snapshot.node_types, (kind,))
    if not codes:
        return np.zeros(snapshot.node_count, dtype=bool)
    mask: npt.NDArray[np.bool_] = snapshot.node_type == codes[0]
    return mask
