"""The part of a graph DevTools' Comparison needs, sieved from the edges while reading.

A comparison needs, per object, DevTools' class key and shallow size, not retained sizes,
so not the whole graph. Of DevTools' rules only three look at edges, and each at few:

* owned internals (:func:`._devtools.devtools_self_sizes`): the edges into ``array`` and
  ``hidden`` nodes. Its first step (each internal's smallest and largest direct owner) is
  done on the edges as they stream by; only the edges *between* internals, which its
  fixpoint follows, are kept, and the root's edges (whether the snapshot has user roots);
* detached DOM (:func:`._devtools.detached_nodes`): the edges between ``native`` nodes;
* plain-object names (:mod:`._interfaces`): the ``property`` edges of plain objects.

:func:`load_comparison_graph` keeps exactly those (in file order, so every rule sees what it
would see in the whole graph) and of the strings only the node names of ``object``,
``native`` and ``synthetic`` nodes and the names of the kept property edges. Which objects
are *plain* (named ``Object``) depends on the index of the string ``Object``, and the
strings are the file's last part: a byte scan of the file's tail guesses it before the
edges are read (:func:`._strings.guess_string_index`), so only the plain objects' property
edges are kept while reading. The guess is checked once the strings are read; when there
is none, the property edges of every ``object`` node are kept and the others dropped at the
end, and a wrong guess (a file not laid out as V8 writes it) reads the file again that way.

On a 120 MB Node 20 snapshot (4.2 M edges, 815 k strings) this keeps 6.7 k edges and 3.2 k
strings, while reading too (without the guess: 1.6 M edges while reading, the objects'
properties); see docs/analysis.md, Measured.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ._devtools import OwnerLabels, string_index, type_mask
from ._errors import SnapshotFormatError
from ._reader import read_snapshot
from ._snapshot import HeapSnapshot, graph_columns
from ._strings import guess_string_index

BoolArray = npt.NDArray[np.bool_]

#: Bits of the sieve's per-node code (one byte a node).
_INTERNAL, _NATIVE, _PLAIN = np.uint8(1), np.uint8(2), np.uint8(4)


def load_comparison_graph(path: str | Path, *, file_edges: bool = False) -> HeapSnapshot:
    """The nodes, and the edges and strings DevTools' class keys and shallow sizes need.

    The result is *partial* (``HeapSnapshot.partial``): no distances or dominators.
    ``file_edges`` keeps where each node's edges are in the file
    (``HeapSnapshot.file_first_edge``, 8 bytes a node), to read some back (growth).
    """
    guess = guess_string_index(path, "Object")
    snapshot = _load(path, guess, file_edges)
    if snapshot.partial and guess is not None and string_index(snapshot, "Object") != guess:
        snapshot = _load(path, None, file_edges)  # not V8's layout: keep every object's
    return snapshot


def _load(path: str | Path, plain_name: int | None, file_edges: bool) -> HeapSnapshot:
    """:func:`load_comparison_graph` with ``plain_name`` the index of ``Object`` (None:
    unknown, every object's property edges are kept while reading)."""
    sieve = _ComparisonSieve(str(path), plain_name)
    raw = read_snapshot(
        path, columns=graph_columns(), edge_sieve=sieve.edges, string_filter=sieve.strings
    )
    snapshot = HeapSnapshot(raw, str(path), file_offsets=file_edges)
    del raw
    if snapshot.partial:
        snapshot.direct_owners = sieve.owners
        if plain_name is None:
            _drop_other_properties(snapshot)  # rewrites first_edge in place
    return snapshot


class _ComparisonSieve:
    """The reader's edge sieve and string filter for :func:`load_comparison_graph`."""

    def __init__(self, path: str, plain_name: int | None) -> None:
        self._path = path
        self._plain_name = plain_name
        #: The names of the kept property edges, filled from the front (see the reader's
        #: edge columns: one mapping, only the written pages resident).
        self._names: npt.NDArray[np.uint32] = np.empty(0, dtype=np.uint32)
        self._name_count = 0
        self.owners: OwnerLabels | None = None

    def edges(
        self, snapshot: dict[str, Any], nodes: dict[str, npt.NDArray[Any]]
    ) -> Callable[[npt.NDArray[np.int64], int], BoolArray] | None:
        meta = snapshot.get("meta")
        if not isinstance(meta, dict) or "edge_count" not in nodes or "type" not in nodes:
            return None
        try:
            node_fields = list(meta["node_fields"])
            node_types = [str(t) for t in meta["node_types"][node_fields.index("type")]]
            edge_fields = list(meta["edge_fields"])
            edge_types = [str(t) for t in meta["edge_types"][edge_fields.index("type")]]
            fields = [edge_fields.index(f) for f in ("type", "name_or_index", "to_node")]
        except (KeyError, TypeError, ValueError, IndexError):
            return None  # the snapshot's own checks will say what is wrong
        nf = len(node_fields)
        kinds = nodes["type"]
        n = len(kinds)
        root_index = snapshot.get("root_index", 0)
        root = root_index // nf if isinstance(root_index, int) and root_index >= 0 else 0
        # uint32 (V8 counts edges in uint32): half the memory of the snapshot's own.
        first_edge = np.zeros(n + 1, dtype=np.uint32)
        np.cumsum(nodes["edge_count"], out=first_edge[1:])
        # One code per node, one gather per edge end (five boolean gathers before).
        code = type_mask(kinds, node_types, "array", "hidden").view(np.uint8) * _INTERNAL
        code |= type_mask(kinds, node_types, "native").view(np.uint8) * _NATIVE
        obj = type_mask(kinds, node_types, "object")
        if self._plain_name is not None:
            obj &= nodes["name"] == self._plain_name  # the plain objects
        code |= obj.view(np.uint8) * _PLAIN
        del obj
        prop = edge_types.index("property") if "property" in edge_types else -1
        weak = edge_types.index("weak") if "weak" in edge_types else -1
        labels = self.owners = OwnerLabels.empty((code & _INTERNAL) != 0)
        type_field, name_field, to_field = fields
        limit = n * nf
        self._names = np.empty(int(first_edge[-1]), dtype=np.uint32)
        self._name_count = 0

        def keep(records: npt.NDArray[np.int64], first: int) -> BoolArray:
            to = records[:, to_field]
            if int(to.max()) >= limit:
                raise SnapshotFormatError(f"{self._path}: an edge points to no node")
            target, rest = np.divmod(to, nf)
            if rest.any():
                raise SnapshotFormatError(f"{self._path}: an edge points to no node")
            types = records[:, type_field]
            if int(types.max()) >= len(edge_types):
                raise SnapshotFormatError(f"{self._path}: an edge has an unknown type")
            # The block's edges are consecutive: their sources are a run of nodes, each
            # repeated for its edges in the block (a search per edge cost a third of a diff).
            end = first + len(records)
            # uint32 keys: a Python int would make numpy cast the whole array first.
            lo = int(np.searchsorted(first_edge, np.uint32(first), side="right")) - 1
            hi = int(np.searchsorted(first_edge, np.uint32(end - 1), side="right"))
            bounds = np.clip(first_edge[lo : hi + 1].astype(np.int64), first, end)
            source = np.repeat(np.arange(lo, hi, dtype=np.int64), np.diff(bounds))
            of, into = code[source], code[target]
            properties = ((of & _PLAIN) != 0) & (types == prop)
            names = records[properties, name_field]
            self._names[self._name_count : self._name_count + len(names)] = names
            self._name_count += len(names)
            # Edges into an internal from anything else (not weak): direct owners.
            direct = np.flatnonzero(((into & ~of & _INTERNAL) != 0) & (types != weak))
            labels.add(target[direct], source[direct].astype(np.int32))
            # Kept: between internals, between natives, the root's, the plain properties.
            both = of & into
            both &= _INTERNAL | _NATIVE
            mask: BoolArray = both != 0
            mask |= properties
            mask |= source == root
            return mask

        return keep

    def strings(
        self, types: npt.NDArray[Any], names: npt.NDArray[Any], node_types: list[str]
    ) -> BoolArray:
        """Keep the names of object, native and synthetic nodes and of the kept properties."""
        named = type_mask(types, node_types, "object", "native", "synthetic")
        properties = self._names[: self._name_count]
        size = max(int(names.max()) + 1 if len(names) else 0, int(properties.max(initial=0)) + 1)
        keep = np.zeros(size, dtype=bool)
        keep[names[named]] = True
        keep[properties] = True
        self._names = np.empty(0, dtype=np.uint32)
        return keep


def _drop_other_properties(snapshot: HeapSnapshot) -> None:
    """Keep the property edges of plain objects only, now that ``Object`` is known."""
    counts = np.diff(snapshot.first_edge)
    sources = np.repeat(np.arange(snapshot.node_count, dtype=np.int32), counts)
    del counts
    plain = type_mask(snapshot.node_type, snapshot.node_types, "object")
    plain &= snapshot.node_name == string_index(snapshot, "Object")
    internal = type_mask(snapshot.node_type, snapshot.node_types, "array", "hidden")
    native = type_mask(snapshot.node_type, snapshot.node_types, "native")
    to = snapshot.edge_to
    keep = (internal[sources] & internal[to]) | (sources == snapshot.root)
    keep |= native[sources] & native[to]
    keep |= plain[sources] & type_mask(snapshot.edge_type, snapshot.edge_types, "property")
    # Masks, not an index array: that would be 8 bytes a candidate edge, at the peak of diff.
    snapshot.edge_type = snapshot.edge_type[keep]
    snapshot.edge_to = snapshot.edge_to[keep]
    if snapshot.edge_name is not None:
        snapshot.edge_name = snapshot.edge_name[keep]
    snapshot.first_edge[0] = 0
    np.cumsum(
        np.bincount(sources[keep], minlength=snapshot.node_count), out=snapshot.first_edge[1:]
    )
