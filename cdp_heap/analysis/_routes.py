"""Retainer routes: leaked objects grouped by the shape of their path from the GC roots.

One path per class explains one holder. An app that keeps its leaked objects in a global array,
in a closure's context and in a Map has three holders, and fixing one leaves two leaking. So
every leaked object gets its shortest retainer path (the breadth-first tree of
:func:`._graph.shortest_paths`, weak edges never count), and objects whose paths have the same
*shape* are one route: the same edges (by type and name) through objects of the same classes,
with the parts that differ per object folded:

* array elements and hidden slots: ``[i]`` (``leakyArray[0]`` and ``leakyArray[7]`` are one
  route);
* named edges that are really keys: numeric names (a Map's hash-table slots, ``"68"``) and the
  names out of one object that holds many of the leaked paths at once (a plain object used as
  a dictionary, ``sessions["user-1"]``): ``[key]``.

Everything is vectorised over the members; only the few named edges left unfolded have their
names read back from the file (the graph keeps no edge names in memory).
"""

from __future__ import annotations

import attrs
import numpy as np
import numpy.typing as npt

from ._graph import ShortestPaths
from ._snapshot import HeapSnapshot
from ._snapshot import edge_sources as sources_of_edges

I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]

#: A named edge's source holding this many distinct edges on the members' paths is a
#: dictionary: its edge names are keys, folded.
DICTIONARY_FANOUT = 8
#: Longest path followed; deeper routes are cut at the root side (they are rare and long).
MAX_DEPTH = 64
#: Route number of members no path from a root reaches (held only by weak references).
UNREACHABLE = -1

_FOLDED_ELEMENT = -1
_FOLDED_KEY = -2


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
class Route:
    """Leaked objects of one class that are held the same way.

    ``shape`` is the folded path (``global --[leakyArray]--> Array --[[i]]--> Leaky``); ``path``
    is the full path to one of them, with node ids to find it in DevTools.
    """

    count: int
    self_size: int
    retained_size: int | None
    shape: str
    path: tuple[RetainerStep, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "count": self.count,
            "self_size": self.self_size,
            "retained_size": self.retained_size,
            "shape": self.shape,
            "retainer_path": [attrs.asdict(step) for step in self.path],
        }


@attrs.frozen(eq=False)
class Naming:
    """The class of every node a report shows: V8's names, or DevTools' (a ``HeapView``)."""

    class_ids: I32
    class_names: list[str]

    @classmethod
    def of_snapshot(cls, snapshot: HeapSnapshot) -> Naming:
        return cls(snapshot.class_ids, snapshot.class_names)

    def of(self, node: int) -> str:
        return self.class_names[int(self.class_ids[node])]


@attrs.frozen(eq=False)
class RouteGrouping:
    """Per member: its route number (``UNREACHABLE`` or ``0 .. count - 1``)."""

    route_of: I32
    count: int
    #: Per route: the first member (index into the members) on it.
    example: I64
    #: Per member: the edges of its path, root side first (-1 padded), and its length.
    steps: I64
    depth: I64
    #: The folded label of every edge on a path.
    labels: dict[int, str]
    naming: Naming

    def shape(self, snapshot: HeapSnapshot, route: int) -> str:
        """The folded path of ``route`` (built on demand: a class can have many routes)."""
        member = int(self.example[route])
        edges = self.steps[member, : self.depth[member]]
        return _shape(snapshot, edges, self.labels, self.naming)


def group_routes(
    snapshot: HeapSnapshot, paths: ShortestPaths, members: I64, naming: Naming | None = None
) -> RouteGrouping:
    """Number the distinct routes of ``members`` (node ordinals), classes by ``naming``."""
    naming = naming or Naming.of_snapshot(snapshot)
    depth = paths.distance[members].astype(np.int64)
    reachable = depth > 0
    depth = np.minimum(depth, MAX_DEPTH)
    steps = _path_edges(snapshot, paths, members, depth)  # (members, depth): root side first
    distinct = np.unique(steps[steps >= 0])
    labels = _fold(snapshot, distinct)
    label_of = dict(zip(distinct.tolist(), labels, strict=True))
    interned: dict[str, int] = {}
    label_codes = np.array([interned.setdefault(t, len(interned)) for t in labels], dtype=np.int64)
    # Per member, the number of its path prefix, extended one step at a time from the root;
    # each step's numbers are new (offset), so a path that ended keeps a number of its own.
    route = np.zeros(len(members), dtype=np.int64)
    offset = 1
    type_bits = max(1, len(snapshot.edge_types)).bit_length()
    class_bits = max(1, len(naming.class_names)).bit_length()
    for position in range(steps.shape[1]):
        active = np.flatnonzero(depth > position)
        edge = steps[active, position]
        # One int64 per step (edge type, folded label, target class), then one per
        # (prefix, step): two 1-D uniques, much faster than a unique over rows.
        step = label_codes[np.searchsorted(distinct, edge)]
        step = (step << type_bits) | snapshot.edge_type[edge].astype(np.int64)
        step = (step << class_bits) | naming.class_ids[snapshot.edge_to[edge]].astype(np.int64)
        _, step_number = np.unique(step, return_inverse=True)
        key = route[active] * (len(active) + 1) + step_number.reshape(-1)
        _, inverse = np.unique(key, return_inverse=True)
        route[active] = inverse.reshape(-1) + offset
        offset += len(active)
    keys = np.where(reachable, route, np.iinfo(np.int64).min)
    uniques, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    route_of = inverse.reshape(-1).astype(np.int32)
    has_unreachable = bool(len(uniques)) and uniques[0] == np.iinfo(np.int64).min
    if has_unreachable:
        route_of -= 1  # the unreachable key sorts first: it becomes -1
        first = first[1:]
    return RouteGrouping(
        route_of, len(first), first.astype(np.int64), steps, depth, label_of, naming
    )


def _path_edges(snapshot: HeapSnapshot, paths: ShortestPaths, members: I64, depth: I64) -> I64:
    """Edge indices of each member's shortest path, root side first, -1 padded."""
    width = int(depth.max()) if len(depth) else 0
    steps = np.full((len(members), max(width, 0)), -1, dtype=np.int64)
    current = members.copy()
    for back in range(width):
        walking = np.flatnonzero(depth > back)
        if not len(walking):
            break
        edge = paths.parent_edge[current[walking]]
        steps[walking, depth[walking] - 1 - back] = edge
        current[walking] = edge_sources(snapshot, edge)
    return steps


def _fold(snapshot: HeapSnapshot, edges: I64) -> list[str]:
    """The folded label of each edge (sorted, distinct), names read back only where kept."""
    kinds = [snapshot.edge_types[t] for t in snapshot.edge_type[edges].tolist()]
    named = np.array([k not in ("element", "hidden") for k in kinds], dtype=bool)
    dictionary = np.zeros(len(edges), dtype=bool)
    if named.any():
        sources = edge_sources(snapshot, edges[named])
        owners, counts = np.unique(sources, return_counts=True)
        big = owners[counts >= DICTIONARY_FANOUT]
        dictionary[np.flatnonzero(named)[np.isin(sources, big)]] = True
    kept = np.flatnonzero(named & ~dictionary)
    snapshot.prefetch(edges[kept].tolist(), [])
    labels = ["[i]" if not n else "[key]" for n in named.tolist()]
    for i in kept.tolist():
        label = snapshot.edge_label(int(edges[i]))
        bare = label.removeprefix("context.")
        labels[i] = "[key]" if bare.isdigit() else label
    return labels


def _shape(snapshot: HeapSnapshot, edges: I64, label_of: dict[int, str], naming: Naming) -> str:
    """``global --[leakyArray]--> Array --[[i]]--> Leaky``: from the root's child (the edge
    out of the root is a GC-root category number, not something in the program)."""
    if not len(edges):
        return "(root)"
    parts = [naming.of(int(snapshot.edge_to[edges[0]]))]
    for edge in edges[1:].tolist():
        parts.append(f"--[{label_of[edge]}]--> {naming.of(int(snapshot.edge_to[edge]))}")
    return " ".join(parts)


def edge_sources(snapshot: HeapSnapshot, edges: I64) -> I64:
    """The node each edge leaves from (a binary search in ``first_edge``)."""
    sources: I64 = sources_of_edges(snapshot.first_edge, edges)
    return sources


def describe(
    snapshot: HeapSnapshot, route: list[int], naming: Naming | None = None
) -> tuple[RetainerStep, ...]:
    """The steps of a path (edge indices, root side first), names read back from the file."""
    naming = naming or Naming.of_snapshot(snapshot)
    steps = []
    for edge in route:
        target = int(snapshot.edge_to[edge])
        name = snapshot.node_name_of(target)
        steps.append(
            RetainerStep(
                edge_type=snapshot.edge_types[int(snapshot.edge_type[edge])],
                edge=snapshot.edge_label(edge),
                node_class=naming.of(target),
                node_name=name if len(name) <= 80 else name[:77] + "...",
                node_id=int(snapshot.node_id[target]),
            )
        )
    return tuple(steps)
