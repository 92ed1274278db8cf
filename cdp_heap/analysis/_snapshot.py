"""A parsed heap snapshot: typed node and edge columns, layouts taken from ``snapshot.meta``.

Field positions are looked up by name in ``meta.node_fields`` / ``meta.edge_fields``, never
assumed: Node 20 writes 7 node fields (``trace_node_id``, ``detachedness``), Chromium 6, older
V8 5. Nodes are numbered by *ordinal* (position in the node list); the file's ``to_node`` is an
offset into the flat nodes array (ordinal * node field count), which :func:`load_snapshot`
checks and converts to ordinals once, in place.

Three ways to load, for three memory budgets:

* :func:`load_snapshot` keeps the whole file's graph (nodes, edges, all strings);
* :func:`load_devtools_graph` the columns DevTools' rules, distances, dominators and
  retainer paths read, in the narrowest types, without the contents of string nodes;
* :func:`._sieve.load_comparison_graph` only the edges and strings a comparison's class
  keys and shallow sizes need.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
import numpy.typing as npt

from ._classes import I32, classify
from ._columns import EDGE_ROW
from ._errors import SnapshotFormatError
from ._fileindex import FileIndex
from ._reader import U32, RawSnapshot, read_snapshot

if TYPE_CHECKING:  # _devtools imports this module
    from ._devtools import OwnerLabels

I64 = npt.NDArray[np.int64]
#: Edge offsets (``HeapSnapshot.first_edge``): int64 in a whole graph; int32 in a sieved one
#: whenever its kept edges number below 2**31 (:func:`empty_edge_offsets`; 4 bytes a node
#: instead of 8). Arithmetic with int64 arrays promotes to int64; a binary search in it
#: goes through :func:`edge_sources`, which does not cast the offsets.
EdgeOffsets = npt.NDArray[np.int64] | npt.NDArray[np.int32]

#: Nodes per step of :meth:`HeapSnapshot._keep_sieved_edges`.
_SEARCH_STEP = 1 << 18
_REQUIRED_NODE_FIELDS = ("type", "name", "id", "self_size", "edge_count")
_REQUIRED_EDGE_FIELDS = ("type", "name_or_index", "to_node")


@attrs.frozen(eq=False)
class ObjectTable:
    """The objects of one snapshot as a comparison sees them: id, self size, class.

    Only *counted* objects are listed: like DevTools, nodes with a self size of 0 are left
    out. ``class_ids`` index ``class_names``. :meth:`HeapView.objects` makes DevTools' table
    (class keys, owned sizes).
    """

    path: str
    ids: U32
    self_sizes: U32
    class_ids: I32
    #: What a comparison matches classes by: DevTools' class keys (or plain names).
    class_names: list[str]
    #: What to show for each class (DevTools' names); None: ``class_names``.
    display_names: list[str] | None = None
    #: Each class's retained size in this snapshot, when computed.
    class_retained: npt.NDArray[np.int64] | None = None


class HeapSnapshot:
    """One snapshot with its graph. Columns are numpy views; nothing is a Python object per node.

    Attributes (N nodes, E edges): ``node_type``, ``node_name``, ``node_id``, ``self_size``
    (length N), ``first_edge`` (N + 1, edges of node ``n`` are ``first_edge[n]:first_edge[n+1]``),
    ``edge_type``, ``edge_name``, ``edge_to`` (length E, ``edge_to`` holds node ordinals),
    ``class_ids`` / ``class_names``, ``root`` (ordinal of the root node), and the type tables
    ``node_types`` / ``edge_types`` from the meta.
    """

    def __init__(self, raw: RawSnapshot, path: str, *, file_offsets: bool = True) -> None:
        """``file_offsets=False``: for a sieved graph, do not keep where each node's edges
        are in the file (``file_first_edge`` is then ``first_edge``; 8 bytes a node)."""
        self.path = path
        self._file_offsets = file_offsets
        self.file_size = raw.size
        self.strings = raw.strings
        self._index = raw.index
        self._string_kept = raw.string_kept
        self._fetched: dict[tuple[str, int], Any] = {}
        # One method per phase: the node columns (and their checks), the edge columns (and
        # theirs), then where constructors are; the class names by name alone on demand.
        self._read_nodes(raw)
        self._classes: tuple[I32, list[str]] | None = None
        self._read_edges(raw)
        self._read_locations(raw)

    def _read_nodes(self, raw: RawSnapshot) -> None:
        """The node columns, from the flat array or from the reader's split columns."""
        path = self.path
        node_fields = _field_list(raw.meta, "node_fields", _REQUIRED_NODE_FIELDS, path)
        self.node_types: list[str] = _type_list(raw.meta, "node_types", node_fields, path)
        nf = self.node_field_count = len(node_fields)
        #: The record layouts of the file (the edges' even when they were not read).
        self.node_fields = node_fields
        self.edge_fields = [str(f) for f in raw.meta.get("edge_fields") or ()]
        node_column = _column_getter(raw, "nodes", node_fields, path)
        self.node_type: U32 = node_column("type")
        self.node_name: U32 = node_column("name")
        self.node_id: U32 = node_column("id")
        self.self_size: U32 = node_column("self_size")
        #: V8's DOM link state per node (0 unknown, 1 attached, 2 detached), if the file has it.
        self.detachedness: U32 | None = None
        if "detachedness" in node_fields and (
            "nodes" not in raw.columns or "detachedness" in raw.columns["nodes"]
        ):
            self.detachedness = node_column("detachedness")
        self.node_count = len(self.node_id)
        if self.node_count == 0:
            raise SnapshotFormatError(f"{path}: the snapshot has no nodes")
        if int(self.node_type.max()) >= len(self.node_types):
            raise SnapshotFormatError(f"{path}: a node has a type missing from snapshot.meta")
        if int(self.node_name.max()) >= len(self.strings):
            raise SnapshotFormatError(f"{path}: a node name points past the end of 'strings'")
        if raw.root_index % nf or raw.root_index // nf >= self.node_count:
            raise SnapshotFormatError(f"{path}: snapshot.root_index is not a node")
        self.root = raw.root_index // nf
        self.edges_loaded = raw.edges is not None
        #: Only the edges some rules need were kept (see :mod:`._sieve`): no dominators.
        self.partial = False
        #: With a sieved graph: the owners of internals by direct edges, per internal the
        #: smallest and largest (:class:`._devtools.OwnerLabels`), found while reading.
        self.direct_owners: OwnerLabels | None = None
        #: With a sieved graph, once :func:`._devtools.devtools_self_sizes` has run: its
        #: result (read-only), which replaces ``direct_owners`` (half their size).
        self.owned_self_size: U32 | None = None
        #: A sieved graph's edge counts until :meth:`_keep_sieved_edges` sums them.
        self._edge_counts: U32 | None = None
        split = raw.columns.get("edges")
        if split is not None and EDGE_ROW in split and not self._file_offsets:
            # Sieved, the file's offsets not kept: no N-sized int64 array (see below).
            self._edge_counts = node_column("edge_count")
            # Taken out of ``raw``: freed once summed, not when the caller drops ``raw``.
            raw.columns["nodes"].pop("edge_count", None)
            self.first_edge: EdgeOffsets = np.zeros(1, dtype=np.int64)
            self.file_first_edge: EdgeOffsets = self.first_edge
            return
        # Without edges (read_snapshot(with_edges=False)) no node has any, and the edge
        # counts may not have been read: the zeros are calloc'ed pages that stay untouched.
        self.first_edge = np.zeros(self.node_count + 1, dtype=np.int64)
        if self.edges_loaded or "edge_count" in raw.columns.get("nodes", {}):
            # Copied, then summed in place in int64: a cumulative sum of the uint32 column
            # into an int64 ``out`` casts through buffers, 7x slower (0.4 s at 14 M nodes).
            self.first_edge[1:] = node_column("edge_count")
            np.cumsum(self.first_edge[1:], out=self.first_edge[1:])
        #: Where each node's edges are in the file: ``first_edge`` but for a sieved graph
        #: read with ``file_edges`` (its ``first_edge`` counts the kept edges only).
        self.file_first_edge = self.first_edge

    def _read_edges(self, raw: RawSnapshot) -> None:
        """The edge columns, checked against the nodes; ``edge_to`` becomes ordinals."""
        path = self.path
        if raw.edges is None:
            self.edge_types: list[str] = []
            empty: U32 = np.zeros(0, dtype=np.uint32)
            self.edge_type = self.edge_to = empty
            self.edge_name: U32 | None = empty
            self.edge_field_count = self._edge_name_field = 0
            return
        edge_fields = _field_list(raw.meta, "edge_fields", _REQUIRED_EDGE_FIELDS, path)
        self.edge_types = _type_list(raw.meta, "edge_types", edge_fields, path)
        self.edge_field_count = len(edge_fields)
        self._edge_name_field = edge_fields.index("name_or_index")
        edge_column = _column_getter(raw, "edges", edge_fields, path)
        self.edge_type = edge_column("type")
        self.edge_to = edge_column("to_node")
        split = raw.columns.get("edges")
        if split is not None and EDGE_ROW in split:
            self._keep_sieved_edges(split[EDGE_ROW], raw.edge_count)
        # Without names in memory, edge_label reads them back from the file.
        kept = split is None or "name_or_index" in split
        self.edge_name = edge_column("name_or_index") if kept else None
        edge_count = len(self.edge_to)
        if int(self.first_edge[-1]) != edge_count:
            raise SnapshotFormatError(
                f"{path}: the nodes' edge counts add up to {int(self.first_edge[-1])}, "
                f"but the file has {edge_count} edges"
            )
        nf = self.node_field_count
        if edge_count:
            if int(self.edge_to.max()) >= self.node_count * nf or np.any(self.edge_to % nf):
                raise SnapshotFormatError(f"{path}: an edge points to no node")
            if int(self.edge_type.max()) >= len(self.edge_types):
                raise SnapshotFormatError(f"{path}: an edge has an unknown type")
        self.edge_to //= np.uint32(nf)

    def _keep_sieved_edges(self, rows: U32, total: int) -> None:
        """Only some edges were kept (a reader's edge sieve): ``first_edge`` counts those.

        ``rows`` are the kept edges' indices in the file; the file's edge count is checked
        against the nodes' as for a whole graph. The file's offsets are summed a range of
        nodes at a time and kept (int64) only with ``file_offsets``; the kept offsets are
        :func:`empty_edge_offsets` (int32 unless 2**31 edges were kept).
        """
        counts = self._edge_counts
        self._edge_counts = None
        file_first = self.file_first_edge if self._file_offsets else None
        kept = empty_edge_offsets(self.node_count + 1, len(rows))
        kept[0] = 0
        offset = 0  # the file's first edge of the range's first node
        part: EdgeOffsets = np.empty(0, dtype=np.int64)
        for start in range(0, self.node_count, _SEARCH_STEP):
            stop = min(start + _SEARCH_STEP, self.node_count)
            if file_first is not None:
                part = file_first[start + 1 : stop + 1]
            else:
                part = np.empty(stop - start, dtype=np.int64)
                part[:] = counts[start:stop] if counts is not None else 0
                np.cumsum(part, out=part)
                part += offset
            # The kept edges of node n start where its first edge in the file would be
            # among them (here: where node n + 1's would, for kept[n + 1]).
            kept[start + 1 : stop + 1] = np.searchsorted(rows, part)
            offset = int(part[-1]) if len(part) else offset
        if offset != total:
            raise SnapshotFormatError(
                f"{self.path}: the nodes' edge counts add up to {offset}, "
                f"but the file has {total} edges"
            )
        self.first_edge = kept
        if file_first is None:
            self.file_first_edge = kept
        self.partial = True

    def _read_locations(self, raw: RawSnapshot) -> None:
        """``location_node``: node ordinals with a constructor location, sorted; and per
        row of ``location`` that node's ``(script id, line, column)``."""
        self.location_node: I64 = np.zeros(0, dtype=np.int64)
        self.location: U32 = np.zeros((0, 3), dtype=np.uint32)
        fields = raw.meta.get("location_fields")
        if raw.locations is None or not isinstance(fields, list) or not raw.locations.size:
            return
        wanted = ("object_index", "script_id", "line", "column")
        if any(f not in fields for f in wanted) or len(raw.locations) % len(fields):
            raise SnapshotFormatError(f"{self.path}: 'locations' does not match its fields")
        records = raw.locations.reshape(-1, len(fields))
        index = records[:, fields.index("object_index")]
        nf = self.node_field_count
        if np.any(index % nf) or int(index.max()) >= self.node_count * nf:
            raise SnapshotFormatError(f"{self.path}: a location points to no node")
        nodes = (index // nf).astype(np.int64)
        # DevTools keeps the last record of a node (a Map filled in file order). V8 writes
        # them in node order: then no sort (and no int64 order and sorted copy) is needed.
        order: I64 | None = None
        if np.any(nodes[1:] < nodes[:-1]):
            order = np.argsort(nodes, kind="stable")
            nodes = nodes[order]
        last = np.ones(len(nodes), dtype=bool)
        last[:-1] = nodes[1:] != nodes[:-1]
        self.location_node = nodes[last]
        del nodes
        rows = np.flatnonzero(last) if order is None else order[last]
        del order, last
        # A column at a time: a fancy index of whole rows, then of columns, was 0.4 s for
        # the 3.6 M records of a 1 GB snapshot; this is a tenth of that.
        self.location = np.empty((len(rows), 3), dtype=np.uint32)
        for column, name in enumerate(wanted[1:]):
            self.location[:, column] = records[:, fields.index(name)][rows]

    @property
    def class_ids(self) -> I32:
        """Class of every node by name alone (:func:`classify`), computed when first used."""
        return self._classify()[0]

    @property
    def class_names(self) -> list[str]:
        return self._classify()[1]

    def _classify(self) -> tuple[I32, list[str]]:
        if self._classes is None:
            self._classes = classify(self.node_type, self.node_name, self.node_types, self.strings)
        return self._classes

    @property
    def edge_count(self) -> int:
        return len(self.edge_to)

    @property
    def file_index(self) -> FileIndex | None:
        """Where the file's blocks are, to read single values back (see :class:`FileIndex`)."""
        return self._index

    def counted(self) -> npt.NDArray[np.bool_]:
        """Mask of the nodes with a self size above 0 (DevTools counts no others, natives
        included; :class:`HeapView` applies this after moving owned sizes)."""
        mask: npt.NDArray[np.bool_] = self.self_size > 0
        return mask

    def objects(self) -> ObjectTable:
        """The counted objects as a compact table (copies; the snapshot can then be dropped)."""
        mask = self.counted()
        return ObjectTable(
            path=self.path,
            ids=self.node_id[mask],
            self_sizes=self.self_size[mask],
            class_ids=self.class_ids[mask],
            class_names=self.class_names,
        )

    def drop_edge_names(self) -> None:
        """Forget the edge names and the strings only edges are named by; both are read
        back from the file when shown (:meth:`edge_label`, :meth:`prefetch`).

        For the graph work after DevTools' rules (the last readers of the names): on a
        120 MB Node 20 snapshot they are 16 MiB of column and 400 k strings (~25 MiB).
        The node names stay (the class names come from them).
        """
        if self.edge_name is None or self._index is None or "edges" not in self._index.blocks:
            return
        self.edge_name = None
        kept = self._string_kept
        if kept is None:
            return  # every string was read: nothing says which only edges use
        named = np.zeros(len(kept), dtype=bool)
        codes = [i for i, t in enumerate(self.node_types) if t not in _STRING_TYPES]
        for code in codes:
            names = self.node_name[self.node_type == code]
            named[names[names < len(kept)]] = True
        dropped = np.flatnonzero(kept & ~named)
        kept &= named
        strings = self.strings
        for index in dropped.tolist():
            strings[index] = ""

    def release(self) -> None:
        """Drop every column, edge and string: for a caller that took what it needs (the
        snapshot is unusable after). Arrays it holds elsewhere stay alive there."""
        for name, value in list(vars(self).items()):
            if isinstance(value, np.ndarray):
                setattr(self, name, value[:0].copy())
        self.strings = []
        self.direct_owners = None
        self._classes = None
        self._fetched = {}

    def node_name_of(self, ordinal: int) -> str:
        return self.string(int(self.node_name[ordinal]))

    def string(self, index: int) -> str:
        """String ``index``, read back from the file if a string filter dropped it."""
        kept = self._string_kept
        if kept is None or self._index is None or (index < len(kept) and kept[index]):
            return self.strings[index]
        return str(self._fetch("strings", index))

    def prefetch(self, edges: list[int], nodes: list[int]) -> None:
        """Read back, in one pass over the file, the names of ``edges`` and ``nodes``.

        For a snapshot whose strings were filtered (:func:`load_devtools_graph`), before
        labelling many of them (retainer paths): a lookup one at a time would parse one
        block of the file each.
        """
        if self._index is None:
            return
        if self.edge_name is None and edges:
            positions = [e * self.edge_field_count + self._edge_name_field for e in edges]
            for edge, value in zip(edges, self._index.numbers("edges", positions), strict=True):
                self._fetched["edges", edge] = value
        kept = self._string_kept
        if kept is None:
            return
        wanted = [int(self.node_name[n]) for n in nodes] + [
            self._edge_name(e) for e in edges if self._named_edge(e)
        ]
        wanted = [i for i in set(wanted) if not (i < len(kept) and kept[i])]
        wanted = [i for i in wanted if ("strings", i) not in self._fetched]
        for index, text in zip(wanted, self._index.strings(wanted), strict=True):
            self._fetched["strings", index] = text

    def _fetch(self, key: str, position: int) -> Any:
        found = self._fetched.get((key, position))
        if found is None:
            assert self._index is not None
            if key == "edges":
                number = position * self.edge_field_count + self._edge_name_field
                found = self._index.numbers("edges", [number])[0]
            else:
                found = self._index.strings([position])[0]
            self._fetched[key, position] = found
        return found

    def _edge_name(self, edge: int) -> int:
        if self.edge_name is not None:
            return int(self.edge_name[edge])
        return int(self._fetch("edges", edge))

    def _named_edge(self, edge: int) -> bool:
        return self.edge_types[int(self.edge_type[edge])] not in ("element", "hidden")

    def class_of(self, ordinal: int) -> str:
        return self.class_names[int(self.class_ids[ordinal])]

    def edge_label(self, edge: int) -> str:
        """How DevTools shows an edge: ``name`` for properties, ``[3]`` for elements."""
        kind = self.edge_types[int(self.edge_type[edge])]
        value = self._edge_name(edge)
        if kind in ("element", "hidden"):
            return f"[{value}]"
        name = self.string(value) if value < len(self.strings) else f"#{value}"
        if kind == "context":
            return f"context.{name}"
        return name


def empty_edge_offsets(length: int, edges: int) -> EdgeOffsets:
    """An uninitialised offsets array for a graph of ``edges`` edges: int32 when they fit
    (the offsets go up to ``edges``), int64 otherwise (see :data:`EdgeOffsets`)."""
    if edges <= _INT32_MAX:
        return np.empty(length, dtype=np.int32)
    return np.empty(length, dtype=np.int64)


_INT32_MAX = int(np.iinfo(np.int32).max)


def edge_sources(first_edge: EdgeOffsets, edges: npt.NDArray[np.integer[Any]]) -> I64:
    """The node each of ``edges`` leaves from: a binary search in ``first_edge``, with the
    edges in its type (given int64 edges, numpy would cast an int32 ``first_edge`` whole,
    a node-sized temporary per search)."""
    sources: I64 = np.searchsorted(first_edge, edges.astype(first_edge.dtype), side="right")
    sources -= 1
    return sources


def load_snapshot(path: str | Path) -> HeapSnapshot:
    """Read a snapshot with its full graph (for distances, dominators and retainer paths)."""
    raw = read_snapshot(path)
    return HeapSnapshot(raw, str(path))


def load_devtools_graph(path: str | Path) -> HeapSnapshot:
    """The whole graph in the columns DevTools' rules need, in the narrowest types.

    Every edge name stays, and every string but the contents of string nodes (read back
    from the file when shown, :meth:`HeapSnapshot.string`): no rule looks at them, and they
    are most of the strings. ``trace_node_id`` goes, and types are uint8: 10 bytes a node
    and 3 an edge less than the flat arrays of :func:`load_snapshot`.
    """
    raw = read_snapshot(path, columns=graph_columns(), string_filter=_rule_strings, edge_names=True)
    return HeapSnapshot(raw, str(path))


def graph_columns() -> dict[str, dict[str, npt.DTypeLike]]:
    """The node and edge columns DevTools' rules read, in the narrowest types."""
    return {
        "nodes": {**_OBJECT_COLUMNS, "edge_count": np.uint32, "detachedness": np.uint8},
        "edges": {"type": np.uint8, "name_or_index": np.uint32, "to_node": np.uint32},
    }


def load_graph(path: str | Path, *, locations: bool = True) -> HeapSnapshot:
    """Like :func:`load_snapshot`, in about half the memory, for distances and dominators.

    Only the columns those need are kept, in the narrowest types: no ``trace_node_id`` or
    ``detachedness``, edge names and all strings but the class names left in the file and
    read back on demand (:meth:`HeapSnapshot.edge_label`, :meth:`HeapSnapshot.string`).
    Without ``locations`` the constructor locations are not kept (a caller that does not
    key classes by them saves a text per located object: ~30 MiB on a 120 MB snapshot).
    """
    columns: dict[str, dict[str, npt.DTypeLike]] = {
        # uint8 types: V8 has ~8 edge types (the reader refuses bigger values).
        "nodes": {**_OBJECT_COLUMNS, "edge_count": np.uint32},
        "edges": {"type": np.uint8, "to_node": np.uint32},
    }
    raw = read_snapshot(path, string_filter=_class_name_strings, columns=columns)
    if not locations:
        raw = attrs.evolve(raw, locations=None)
    return HeapSnapshot(raw, str(path))


def load_objects(path: str | Path) -> ObjectTable:
    """Read only what a comparison needs; the edges are skipped while reading.

    The four node fields it uses are split into their own arrays while reading, like
    :func:`load_graph` does, instead of keeping the flat array of all of them.
    """
    columns: dict[str, dict[str, npt.DTypeLike]] = {"nodes": dict(_OBJECT_COLUMNS)}
    raw = read_snapshot(path, with_edges=False, string_filter=_class_name_strings, columns=columns)
    return HeapSnapshot(raw, str(path)).objects()


def load_nodes(path: str | Path) -> HeapSnapshot:
    """The nodes of :func:`load_objects` and their edge counts, no edges in memory.

    ``first_edge`` is filled, and :attr:`HeapSnapshot.file_index` locates the unparsed edges
    in the file, so that the edges of a few nodes can be read back.
    """
    columns: dict[str, dict[str, npt.DTypeLike]] = {
        "nodes": {**_OBJECT_COLUMNS, "edge_count": np.uint32}
    }
    raw = read_snapshot(path, with_edges=False, string_filter=_class_name_strings, columns=columns)
    return HeapSnapshot(raw, str(path))


#: Node fields a comparison needs, in the narrowest types (V8 has ~15 node types; the
#: reader refuses bigger values).
_OBJECT_COLUMNS: dict[str, npt.DTypeLike] = {
    "type": np.uint8,
    "name": np.uint32,
    "id": np.uint32,
    "self_size": np.uint32,
}


def _rule_strings(
    types: npt.NDArray[Any], names: npt.NDArray[Any], node_types: list[str]
) -> npt.NDArray[np.bool_]:
    """The names of every node but the string nodes (whose names are their contents); the
    reader adds the edges' names."""
    codes = [i for i, t in enumerate(node_types) if t not in _STRING_TYPES]
    named = np.zeros(len(types), dtype=bool)
    for code in codes:
        named |= types == code
    used = names[named]
    keep = np.zeros(int(used.max()) + 1 if len(used) else 0, dtype=bool)
    keep[used] = True
    return keep


_STRING_TYPES = ("string", "concatenated string", "sliced string")


def _class_name_strings(
    types: npt.NDArray[Any], names: npt.NDArray[Any], node_types: list[str]
) -> npt.NDArray[np.bool_]:
    """Keep only the strings that name ``object``/``native`` nodes (the class names)."""
    codes = [i for i, t in enumerate(node_types) if t in ("object", "native")]
    named = np.zeros(len(types), dtype=bool)
    for code in codes:  # one comparison per code: np.isin is slow on numpy 2
        named |= types == code
    used = names[named]
    keep = np.zeros(int(used.max()) + 1 if len(used) else 0, dtype=bool)
    keep[used] = True
    return keep


def _column_getter(
    raw: RawSnapshot, key: str, fields: list[str], path: str
) -> Callable[[str], npt.NDArray[Any]]:
    """Access to one field of ``nodes``/``edges``: a split column, or a strided view."""
    split = raw.columns.get(key)
    if split is not None:  # read as separate columns (load_devtools_graph)
        return split.__getitem__
    flat = raw.nodes if key == "nodes" else raw.edges
    assert flat is not None
    if len(flat) % len(fields):
        raise SnapshotFormatError(f"{path}: {key!r} is not a whole number of records")
    records = flat.reshape(-1, len(fields))

    def column(name: str) -> npt.NDArray[Any]:
        return records[:, fields.index(name)]

    return column


def _field_list(meta: dict[str, Any], key: str, required: tuple[str, ...], path: str) -> list[str]:
    fields = meta.get(key)
    if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
        raise SnapshotFormatError(f"{path}: not a V8 heap snapshot: no snapshot.meta.{key}")
    missing = [f for f in required if f not in fields]
    if missing:
        raise SnapshotFormatError(
            f"{path}: snapshot.meta.{key} lacks {', '.join(missing)}: not a V8 heap snapshot"
        )
    return list(fields)


def _type_list(meta: dict[str, Any], key: str, fields: list[str], path: str) -> list[str]:
    table = meta.get(key)
    position = fields.index("type")
    if (
        not isinstance(table, list)
        or len(table) <= position
        or not isinstance(table[position], list)
    ):
        raise SnapshotFormatError(f"{path}: not a V8 heap snapshot: no snapshot.meta.{key}")
    return [str(t) for t in table[position]]
