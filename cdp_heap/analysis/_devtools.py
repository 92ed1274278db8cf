"""Chrome DevTools' rules for reading a V8 heap graph, as linear numpy passes.

V8 writes the heap as it is; DevTools' heap snapshot worker (``HeapSnapshot.ts``) reads it
with a few rules of its own before it shows a Summary, and ``cdp-heap`` follows them (``raw``
switches the size and dominator rules off, see docs/analysis.md):

* **Owned internals** (:func:`devtools_self_sizes`): an ``array`` or ``hidden`` node that one
  object alone reaches (through other arrays and hidden nodes, ignoring weak edges) is part
  of that object: its size moves into the owner's, and the node, now of size 0, is no longer
  counted. Skipped for snapshots without user roots (taken with "expose internals").
* **Page objects** (:func:`page_objects`) and **essential edges**
  (:func:`devtools_essential_edges`): for dominators, an edge retains unless it is weak, a
  self reference, a ``shortcut`` out of anything but the root, the table's half of a WeakMap
  entry (the key's half stays), or goes *from* an object that is not reachable from the
  global objects (and DOM trees) *to* one that is: the debugger and other system holders
  must not become the dominators of the page's objects.
* **Detached DOM** (:func:`detached_nodes`): native nodes V8 marks detached, and native
  nodes reachable from them through native nodes only (never from attached ones), are
  renamed ``Detached <name>``.
* **Distances** (:func:`devtools_distances`): breadth-first from the user roots (distance
  1), then from the root for the rest (from 100,000,000 on); weak edges, the descriptor-array
  slots of shared maps, the ``sloppy_function_map`` of native contexts and the first-seen
  half of each WeakMap entry are not followed. Unreachable nodes have distance -5.

Every function here is one or a few passes over the node or edge columns, a breadth-first
search a level at a time, or a fixpoint over the (few) array and hidden nodes; none copies
the graph.
"""

from __future__ import annotations

import itertools
import operator
import re
from collections.abc import Iterator

import attrs
import numpy as np
import numpy.typing as npt

from ._graph import node_chunks, out_edges, sorted_unique
from ._reader import U32
from ._snapshot import I64, HeapSnapshot, edge_sources
from ._strings import WEAKMAP_MARK

I32 = npt.NDArray[np.int32]
BoolArray = npt.NDArray[np.bool_]

#: DevTools' distance of the root when user roots exist (``baseSystemDistance``): objects
#: reached only through system roots get distances from here on.
BASE_SYSTEM_DISTANCE = 100_000_000
#: DevTools' distance of a node no path reaches (``noDistance``).
NO_DISTANCE = -5

_EPHEMERON = re.compile(
    r"^\d+(?P<part> / part of key \(.*? @\d+\) -> value \(.*? @\d+\) pair in WeakMap"
    r" \(table @(?P<table>\d+)\))$"
)


def type_mask(codes: U32, types: list[str], *names: str) -> BoolArray:
    """Mask of the entries of ``codes`` whose type (in ``types``) is one of ``names``."""
    mask = np.zeros(len(codes), dtype=bool)
    for name in names:
        if name in types:
            mask |= codes == types.index(name)
    return mask


def edge_names(snapshot: HeapSnapshot) -> U32:
    if snapshot.edge_name is None:
        raise ValueError("DevTools' rules need the edge names: load with load_snapshot")
    return snapshot.edge_name


def reach(snapshot: HeapSnapshot, starts: I64, passable: BoolArray, inside: BoolArray) -> BoolArray:
    """Nodes reachable from ``starts`` over ``passable`` edges, stepping only on ``inside``.

    The starts themselves are in the result whatever ``inside`` says.
    """
    seen = np.zeros(snapshot.node_count, dtype=bool)
    frontier = sorted_unique(starts.astype(np.int64))
    seen[frontier] = True
    while frontier.size:
        found = []
        # A slice of the frontier at a time: a level of the page can have millions of
        # edges, and each needs three int64 temporaries.
        for part in node_chunks(snapshot.first_edge, frontier):
            edges = out_edges(snapshot.first_edge, part)
            targets = snapshot.edge_to[edges[passable[edges]]].astype(np.int64)
            del edges
            targets = sorted_unique(targets[inside[targets] & ~seen[targets]])
            seen[targets] = True
            found.append(targets)
        frontier = np.concatenate(found) if len(found) > 1 else found[0]
        frontier.sort()
    return seen


def root_edges(snapshot: HeapSnapshot) -> I64:
    root = snapshot.root
    edges: I64 = np.arange(snapshot.first_edge[root], snapshot.first_edge[root + 1])
    return edges


def user_roots(snapshot: HeapSnapshot) -> I64:
    """DevTools' user roots: the root's children that are not synthetic, or the DOM trees."""
    children = snapshot.edge_to[root_edges(snapshot)].astype(np.int64)
    synthetic = type_mask(snapshot.node_type[children], snapshot.node_types, "synthetic")
    dom_trees = _named(snapshot, children, "(Document DOM trees)")
    roots: I64 = children[~synthetic | dom_trees]
    return roots


def string_index(snapshot: HeapSnapshot, text: str) -> int:
    """The index of ``text`` in the snapshot's strings, or -1 (V8 stores each string once)."""
    try:
        return snapshot.strings.index(text)
    except ValueError:
        return -1


def _named(snapshot: HeapSnapshot, nodes: I64, name: str) -> BoolArray:
    index = string_index(snapshot, name)
    if index < 0:
        return np.zeros(len(nodes), dtype=bool)
    named: BoolArray = snapshot.node_name[nodes] == index
    return named


def _named_nodes(snapshot: HeapSnapshot, node_type: str, name: str) -> I64:
    """Ordinals of the nodes of ``node_type`` called ``name``."""
    index = string_index(snapshot, name)
    if index < 0 or node_type not in snapshot.node_types:
        return np.zeros(0, dtype=np.int64)
    mask = snapshot.node_name == index
    mask &= snapshot.node_type == snapshot.node_types.index(node_type)
    nodes: I64 = np.flatnonzero(mask)
    return nodes


def page_objects(snapshot: HeapSnapshot) -> BoolArray:
    """DevTools' page-owned objects: reachable, over non-weak edges, from the root's
    ``shortcut`` children (the global objects) and from the ``(Document DOM trees)`` root."""
    edges = root_edges(snapshot)
    kinds = snapshot.edge_type[edges]
    children = snapshot.edge_to[edges].astype(np.int64)
    shortcut = type_mask(kinds, snapshot.edge_types, "shortcut")
    element = type_mask(kinds, snapshot.edge_types, "element")
    starts = children[shortcut | (element & _named(snapshot, children, "(Document DOM trees)"))]
    if not starts.size:
        return np.zeros(snapshot.node_count, dtype=bool)
    passable = ~type_mask(snapshot.edge_type, snapshot.edge_types, "weak")
    everywhere = np.ones(snapshot.node_count, dtype=bool)
    return reach(snapshot, starts, passable, everywhere)


def weakmap_table_edges(snapshot: HeapSnapshot) -> BoolArray:
    """The WeakMap table's half of each entry: internal edges named like an ephemeron whose
    source is the table named in the name (DevTools keeps only the key's half)."""
    edges, _, tables = ephemeron_edges(snapshot)
    sources = edge_sources(snapshot.first_edge, edges)
    hit = snapshot.node_id[sources].astype(np.int64) == tables
    mask = np.zeros(snapshot.edge_count, dtype=bool)
    mask[edges[hit]] = True
    return mask


def ephemeron_edges(snapshot: HeapSnapshot) -> tuple[I64, I64, I64]:
    """The halves of WeakMap entries: their edge indices (sorted), a number naming each
    entry (the two halves share it), and the table id their name gives.

    Only these few edges get per-edge arrays; the rest of the graph is one boolean pass.
    """
    found = _ephemeron_names(snapshot)
    none = np.zeros(0, dtype=np.int64)
    if not found:
        return none, none, none
    named = np.zeros(len(snapshot.strings), dtype=bool)
    named[list(found)] = True
    candidates = type_mask(snapshot.edge_type, snapshot.edge_types, "internal")
    candidates &= named[edge_names(snapshot)]
    edges: I64 = np.flatnonzero(candidates)
    entries: dict[str, int] = {}
    part = np.empty(len(edges), dtype=np.int64)
    table = np.empty(len(edges), dtype=np.int64)
    for row, index in enumerate(edge_names(snapshot)[edges].tolist()):
        entry, table[row] = found[index]
        part[row] = entries.setdefault(entry, len(entries))
    return edges, part, table


def _ephemeron_names(snapshot: HeapSnapshot) -> dict[int, tuple[str, int]]:
    """String index -> (entry, table id) of every string naming half of a WeakMap entry.

    A substring test (C speed) picks the candidates; only those see the regex.
    """
    found: dict[int, tuple[str, int]] = {}
    strings = snapshot.strings
    # The substring test in a C loop (map): a Python loop over 7 M strings took 1 s.
    marked = np.fromiter(
        map(operator.contains, strings, itertools.repeat(_EPHEMERON_MARK)),
        dtype=bool,
        count=len(strings),
    )
    for index in np.flatnonzero(marked).tolist():
        match = _EPHEMERON.match(strings[index])
        if match:
            found[index] = (match.group("part"), int(match.group("table")))
    return found


_EPHEMERON_MARK = WEAKMAP_MARK


def devtools_essential_edges(snapshot: HeapSnapshot, *, raw: bool = False) -> BoolArray:
    """Mask of the edges that retain, by DevTools' ``computeIsEssentialEdge``.

    ``raw``: only the plain rule (weak edges never retain, shortcuts only out of the root),
    as older DevTools and memlab have it.
    """
    types = snapshot.edge_types
    mask = ~type_mask(snapshot.edge_type, types, "weak")
    root = slice(
        int(snapshot.first_edge[snapshot.root]), int(snapshot.first_edge[snapshot.root + 1])
    )
    shortcut = type_mask(snapshot.edge_type, types, "shortcut")
    shortcut[root] = False
    mask &= ~shortcut
    del shortcut
    if raw:
        return mask
    mask &= ~weakmap_table_edges(snapshot)
    page = page_objects(snapshot)
    has_page = bool(page.any())
    # The rules that need each edge's source, a range of nodes at a time: a source array
    # is 4 bytes an edge, four times the mask.
    for _, edges, sources in source_chunks(snapshot):
        to = snapshot.edge_to[edges]
        part = mask[edges]
        part &= to != sources
        if has_page:
            into_page = page[to]
            into_page &= ~page[sources]
            into_page &= sources != snapshot.root  # the root's edges always retain
            part &= ~into_page
        mask[edges] = part
    return mask


def devtools_self_sizes(snapshot: HeapSnapshot, *, in_place: bool = False) -> U32:
    """Self sizes with each singly-owned ``array``/``hidden`` node moved into its owner.

    Owners are labelled by a fixpoint of the smallest and the largest owner ordinal that
    reaches each array/hidden node: a node has one owner exactly when the two agree. Only
    nodes whose labels changed propagate again, so the passes touch the internals only.

    ``in_place`` computes them in the snapshot's own ``self_size`` column (V8's sizes are
    then gone): for a caller that is the snapshot's only user, as a comparison's table is
    (4 bytes a node less at the peak of ``diff``: 56 MB at 14 M nodes).
    """
    if snapshot.owned_self_size is not None:
        return snapshot.owned_self_size
    sizes: U32 = snapshot.self_size if in_place else snapshot.self_size.copy()
    if not _has_user_roots(snapshot):
        return sizes
    internal = type_mask(snapshot.node_type, snapshot.node_types, "array", "hidden")
    strong = ~type_mask(snapshot.edge_type, snapshot.edge_types, "weak")
    sieved = snapshot.direct_owners is not None
    if snapshot.direct_owners is not None:  # (mypy narrows this, not ``sieved``)
        # Read with the first step done while streaming (:mod:`._sieve`); the kept edges
        # hold every edge between internals, which is all the fixpoint follows. Those
        # labels are the graph's only copy of that step, so they are replaced below by the
        # result, which a second view of the snapshot gets.
        labels = snapshot.direct_owners
    else:
        labels = direct_owners(snapshot, internal, strong)
    inner, low, high = labels.nodes, labels.low, labels.high
    changed: I64 = inner[high >= 0].astype(np.int64)
    while changed.size:
        edges = out_edges(snapshot.first_edge, changed)
        edges = edges[strong[edges]]
        targets = snapshot.edge_to[edges].astype(np.int64)
        into = internal[targets]
        edges, targets = edges[into], targets[into]
        starts = edge_sources(snapshot.first_edge, edges)
        # Both ends are internals: their rows in the labels.
        to, of = labels.rows(targets), labels.rows(starts)
        before_low, before_high = low[to], high[to]
        np.minimum.at(low, to, low[of])
        np.maximum.at(high, to, high[of])
        moved = (low[to] != before_low) | (high[to] != before_high)
        changed = sorted_unique(targets[moved])
    owned = (high >= 0) & (low == high)
    owner = low[owned]
    keep = ~type_mask(snapshot.node_type[owner], snapshot.node_types, "synthetic")
    keep &= owner != snapshot.root
    nodes = inner[owned][keep]
    owner = owner[keep]
    moved = sizes[nodes]
    sizes[nodes] = 0  # owners are never owned (their labels come from non-internals)
    # In place, in integers: a bincount would be two N-sized float64 temporaries.
    np.add.at(sizes, owner, moved)
    if sieved:
        # The labels freed before the class keys are built (the diff's peak); the result
        # is shared by every view of the snapshot, so it is made read-only.
        del labels, inner, low, high, owned, owner, nodes, moved
        snapshot.direct_owners = None
        sizes.flags.writeable = False
        snapshot.owned_self_size = sizes
    return sizes


@attrs.frozen(eq=False)
class OwnerLabels:
    """The owned-internals fixpoint's labels: for each ``array``/``hidden`` node (``nodes``,
    their ordinals in order) the smallest and the largest owner ordinal found so far
    (``n`` and -1 for none).

    One row per internal, not per node: 12 bytes an internal (a quarter of a Node heap's
    nodes) instead of 8 bytes a node, at the peak of ``diff``'s table.
    """

    nodes: I32
    low: I32
    high: I32

    @classmethod
    def empty(cls, internal: BoolArray) -> OwnerLabels:
        nodes = np.flatnonzero(internal).astype(np.int32)  # ordinals are below 2**31
        n = len(internal)
        return cls(nodes, np.full(len(nodes), n, np.int32), np.full(len(nodes), -1, np.int32))

    def rows(self, internals: npt.NDArray[np.integer]) -> I64:
        """The rows of ``internals`` (ordinals of internal nodes only)."""
        # In int32, the labels' type: a search with int64 keys would copy ``nodes`` each call.
        rows: I64 = np.searchsorted(self.nodes, internals.astype(np.int32))
        return rows

    def add(self, targets: npt.NDArray[np.integer], owners: I32) -> None:
        """Owners found for ``targets`` (internals): each label keeps its extreme."""
        at = self.rows(targets)
        np.minimum.at(self.low, at, owners)
        np.maximum.at(self.high, at, owners)


def direct_owners(snapshot: HeapSnapshot, internal: BoolArray, strong: BoolArray) -> OwnerLabels:
    """The fixpoint's first step: per internal the smallest and the largest non-internal
    node with a strong edge to it."""
    labels = OwnerLabels.empty(internal)
    # A range of nodes at a time: an array of every edge's source would be 4 bytes an edge.
    for _, edges, sources in source_chunks(snapshot):
        to = snapshot.edge_to[edges]
        hit = np.flatnonzero(strong[edges] & internal[to] & ~internal[sources])
        labels.add(to[hit], sources[hit].astype(np.int32))
    return labels


def source_chunks(
    snapshot: HeapSnapshot, step: int = 1 << 18
) -> Iterator[tuple[slice, slice, U32]]:
    """Ranges of nodes (``step`` at a time), the range of their edges, and each of those
    edges' source: the per-edge source array a few MiB at a time instead of whole."""
    first_edge = snapshot.first_edge
    for start in range(0, snapshot.node_count, step):
        nodes = slice(start, min(start + step, snapshot.node_count))
        edges = slice(int(first_edge[nodes.start]), int(first_edge[nodes.stop]))
        counts = np.diff(first_edge[nodes.start : nodes.stop + 1])
        sources = np.repeat(np.arange(nodes.start, nodes.stop, dtype=np.uint32), counts)
        yield nodes, edges, sources


def _has_user_roots(snapshot: HeapSnapshot) -> bool:
    return bool(user_roots(snapshot).size)


def detached_nodes(snapshot: HeapSnapshot) -> BoolArray | None:
    """Native nodes DevTools calls detached (renamed ``Detached …``), None without the field.

    V8's state is known for some natives; it spreads over edges that are not hidden or
    weak, through native nodes of unknown state only: attached first, then detached to
    what attached did not reach.
    """
    state = snapshot.detachedness
    if state is None:
        return None
    native = type_mask(snapshot.node_type, snapshot.node_types, "native")
    passable = ~type_mask(snapshot.edge_type, snapshot.edge_types, "hidden", "weak", "invisible")
    unknown = state == 0
    attached_starts = np.flatnonzero(native & (state == 1))
    attached = reach(snapshot, attached_starts, passable, native & unknown)
    detached_starts = np.flatnonzero(native & (state == 2))
    return reach(snapshot, detached_starts, passable, native & unknown & ~attached)


def devtools_distances(snapshot: HeapSnapshot) -> I32:
    """DevTools' distance of every node (see the module docstring)."""
    n = snapshot.node_count
    distance = np.full(n, NO_DISTANCE, dtype=np.int32)
    follow = _followed_edges(snapshot)
    # Each WeakMap entry's two halves: an edge is followed once the other half's source
    # has a distance no larger than its own (DevTools follows the second one it meets).
    halves, part, _ = ephemeron_edges(snapshot)
    partner_source = np.full(len(halves), -1, dtype=np.int64)
    if halves.size:
        order = np.argsort(part, kind="stable")
        grouped = part[order]
        pair = np.flatnonzero(grouped[1:] == grouped[:-1])
        sources = edge_sources(snapshot.first_edge, halves)
        partner_source[order[pair]] = sources[order[pair + 1]]
        partner_source[order[pair + 1]] = sources[order[pair]]
    is_half = np.zeros(snapshot.edge_count, dtype=bool)
    is_half[halves] = True
    weakmap = _WeakMapHalves(is_half, halves, partner_source)
    roots = user_roots(snapshot)
    if roots.size:
        distance[roots] = 1
        _bfs(snapshot, distance, sorted_unique(roots.copy()), follow, weakmap)
        distance[snapshot.root] = BASE_SYSTEM_DISTANCE
    else:
        distance[snapshot.root] = 0
    _bfs(snapshot, distance, np.array([snapshot.root]), follow, weakmap)
    return distance


@attrs.frozen(eq=False)
class _WeakMapHalves:
    """The WeakMap halves for the distance search: a mask over the edges, the halves'
    indices (sorted) and, per half, the other half's source (-1: none)."""

    mask: BoolArray
    edges: I64
    partner_source: I64


def _bfs(
    snapshot: HeapSnapshot,
    distance: I32,
    frontier: I64,
    follow: BoolArray,
    weakmap: _WeakMapHalves,
) -> None:
    while frontier.size:
        level = int(distance[frontier[0]])
        edges = out_edges(snapshot.first_edge, frontier)
        edges = edges[follow[edges]]
        targets = snapshot.edge_to[edges].astype(np.int64)
        fresh = distance[targets] == NO_DISTANCE
        edges, targets = edges[fresh], targets[fresh]
        half = weakmap.mask[edges]
        if half.any():
            other = weakmap.partner_source[np.searchsorted(weakmap.edges, edges[half])]
            ok = other >= 0
            ok[ok] = (distance[other[ok]] != NO_DISTANCE) & (distance[other[ok]] <= level)
            keep = ~half
            keep[half] = ok
            targets = targets[keep]
        frontier = sorted_unique(targets)
        distance[frontier] = level + 1


def _followed_edges(snapshot: HeapSnapshot) -> BoolArray:
    """Edges DevTools' distance search may follow (WeakMap halves are decided later)."""
    follow = ~type_mask(snapshot.edge_type, snapshot.edge_types, "weak")
    names = edge_names(snapshot)
    # The sloppy_function_map of a native context.
    contexts = _named_nodes(snapshot, "hidden", "system / NativeContext")
    sloppy = string_index(snapshot, "sloppy_function_map")
    if contexts.size and sloppy >= 0:
        edges = out_edges(snapshot.first_edge, contexts)
        named = type_mask(snapshot.edge_type[edges], snapshot.edge_types, "element", "hidden")
        hit = ~named & (names[edges] == sloppy)
        follow[edges[hit]] = False
    # Descriptor arrays: keep slots 0, 1 and every index not 1 modulo 3.
    descriptors = _named_nodes(snapshot, "array", "(map descriptors)")
    if descriptors.size:
        edges = out_edges(snapshot.first_edge, descriptors)
        indices = _edge_numbers(snapshot, edges)
        skip = (indices >= 2) & (indices % 3 == 1)
        follow[edges[skip]] = False
    return follow


def _edge_numbers(snapshot: HeapSnapshot, edges: I64) -> I64:
    """``parseInt`` of each edge's name: the index of element/hidden edges, the leading
    digits of a string name, or -1 (NaN) when there are none."""
    names = edge_names(snapshot)[edges].astype(np.int64)
    indexed = type_mask(snapshot.edge_type[edges], snapshot.edge_types, "element", "hidden")
    result = np.where(indexed, names, -1)
    for position in np.flatnonzero(~indexed).tolist():
        match = re.match(r"\s*([+-]?\d+)", snapshot.strings[int(names[position])])
        if match:
            result[position] = int(match.group(1))
    return result
