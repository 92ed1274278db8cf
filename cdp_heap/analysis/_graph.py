"""Graph algorithms on a snapshot: distances and shortest retainer paths, dominators.

Which edges count follows DevTools' ``isEssentialEdge``: weak edges never hold an object, and
``shortcut`` edges only count from the root (they duplicate a real path elsewhere).

* :func:`shortest_paths` is a breadth-first search done a level at a time with numpy (no
  Python per node): first from the *user roots* (the non-synthetic children of the root, e.g.
  ``global``), then from the remaining (system) roots, like DevTools, so the first path to an
  object goes through the program's own globals when there is one. Its parent edges give the
  shortest retainer path of every object.
* :func:`dominators` is the iterative algorithm of Cooper, Harvey and Kennedy ("A Simple, Fast
  Dominance Algorithm", 2001), with no recursion anywhere (heaps have chains of millions of
  objects). It numbers nodes in the search order of :func:`shortest_paths` (a spanning-tree
  order: dominators come first) instead of a depth-first postorder, which would need a
  Python loop over every node. Objects with a single retainer, and objects whose retainers
  all hang below one of them through single-retainer objects (most of a V8 heap), get their
  dominator in vectorised steps; only the rest (~1 % of the nodes) go through the Python
  loop, and the few with huge retainer lists are intersected with numpy. Objects unreachable
  from the root are attached to the root, as DevTools does.
"""

from __future__ import annotations

import sys
from typing import TypeVar

import attrs
import numpy as np
import numpy.typing as npt

from ._snapshot import I64, EdgeOffsets, HeapSnapshot
from ._tree import subtree_sums

I32 = npt.NDArray[np.int32]
_Ints = TypeVar("_Ints", I32, I64)
BoolArray = npt.NDArray[np.bool_]


@attrs.frozen(eq=False)
class ShortestPaths:
    """Distance of every node from the roots (-1: unreachable) and the edge that reached it.

    ``order`` lists the reached nodes in the order the search reached them, the root first:
    each node comes after the node that reached it.
    """

    distance: I32
    parent_edge: I64
    order: I32
    #: Where each level of the search starts in ``order`` (then its length): a node's path
    #: from the roots runs through earlier levels only (:mod:`._tree`'s blocks).
    levels: I64 = attrs.field(factory=lambda: np.zeros(0, dtype=np.int64))

    def path_to(self, snapshot: HeapSnapshot, node: int, limit: int = 64) -> list[int]:
        """Edge indices from a root to ``node``, root side first (at most ``limit``)."""
        edges: list[int] = []
        while len(edges) < limit:
            edge = int(self.parent_edge[node])
            if edge < 0:
                break
            edges.append(edge)
            node = edge_source(snapshot, edge)
        edges.reverse()
        return edges


@attrs.frozen(eq=False)
class Dominators:
    """Immediate dominator (ordinal; the root's is itself) and retained size of every node.

    ``order`` lists the nodes dominators first (the root first, every node after its
    immediate dominator): walking it backwards visits the dominated before the dominator.
    """

    idom: I32
    retained_size: I64
    order: I32
    #: Blocks of ``order`` in which no node's dominator is in its own block (:mod:`._tree`).
    blocks: I64 = attrs.field(factory=lambda: np.zeros(0, dtype=np.int64))


def essential_edges(snapshot: HeapSnapshot) -> BoolArray:
    """Mask of the edges that retain: not weak, and shortcuts only out of the root."""
    mask: BoolArray = np.ones(snapshot.edge_count, dtype=bool)
    types = snapshot.edge_types
    if "weak" in types:
        mask &= snapshot.edge_type != types.index("weak")
    if "shortcut" in types:
        shortcut = snapshot.edge_type == types.index("shortcut")
        root_edges = slice(
            int(snapshot.first_edge[snapshot.root]), int(snapshot.first_edge[snapshot.root + 1])
        )
        shortcut[root_edges] = False
        mask &= ~shortcut
    return mask


def edge_source(snapshot: HeapSnapshot, edge: int) -> int:
    """The node an edge leaves from (binary search in ``first_edge``)."""
    return int(np.searchsorted(snapshot.first_edge, edge, side="right")) - 1


def shortest_paths(snapshot: HeapSnapshot, essential: BoolArray | None = None) -> ShortestPaths:
    """Breadth-first search from the roots over the essential edges, a level at a time."""
    if essential is None:
        essential = essential_edges(snapshot)
    n = snapshot.node_count
    distance = np.full(n, -1, dtype=np.int32)
    parent_edge = np.full(n, -1, dtype=np.int64)
    root = snapshot.root
    distance[root] = 0
    root_edges = np.arange(snapshot.first_edge[root], snapshot.first_edge[root + 1])
    root_edges = root_edges[essential[root_edges]]
    children = snapshot.edge_to[root_edges].astype(np.int64)
    synthetic = snapshot.node_types.index("synthetic") if "synthetic" in snapshot.node_types else -1
    user = snapshot.node_type[children] != synthetic
    reached = [np.array([root], dtype=np.int32)]
    scratch = np.full(n, _NO_POSITION, dtype=np.int32)
    for selected in (user, ~user):
        frontier = _visit(snapshot, distance, parent_edge, root_edges[selected], 1, scratch)
        level = 1
        while frontier.size:
            reached.append(frontier.astype(np.int32))
            level += 1
            # A slice of the level at a time (its edges' int64 temporaries stay small); in
            # order, so a node still keeps the first edge of the level that reaches it.
            found = []
            for part in node_chunks(snapshot.first_edge, frontier):
                edges = out_edges(snapshot.first_edge, part)
                edges = edges[essential[edges]]
                found.append(_visit(snapshot, distance, parent_edge, edges, level, scratch))
                del edges
            frontier = np.concatenate(found) if len(found) > 1 else found[0]
            frontier.sort()
    order: I32 = np.concatenate(reached)
    levels = np.zeros(len(reached) + 1, dtype=np.int64)
    np.cumsum([len(part) for part in reached], out=levels[1:])
    return ShortestPaths(distance, parent_edge, order, levels)


def out_edges(first_edge: EdgeOffsets, nodes: I64) -> I64:
    """All edge indices of ``nodes``, node by node, without a Python loop."""
    starts = first_edge[nodes]
    counts = first_edge[nodes + 1] - starts
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    shift = np.repeat(starts - (np.cumsum(counts) - counts), counts)
    edges: I64 = shift + np.arange(total, dtype=np.int64)
    return edges


def node_chunks(first_edge: EdgeOffsets, nodes: I64, edges: int = 1 << 18) -> list[I64]:
    """``nodes`` (sorted) cut into runs of about ``edges`` edges each (at least one node)."""
    counts = np.cumsum(first_edge[nodes + 1] - first_edge[nodes])
    if not len(counts) or int(counts[-1]) <= edges:
        return [nodes]
    cuts = np.searchsorted(counts, np.arange(edges, int(counts[-1]), edges), side="right")
    return [part for part in np.split(nodes, np.unique(cuts)) if len(part)]


def _visit(
    snapshot: HeapSnapshot,
    distance: I32,
    parent_edge: I64,
    edges: I64,
    level: int,
    scratch: I32,
) -> I64:
    """Mark the unvisited targets of ``edges`` at ``level``; return them (the next frontier).

    A node reached by several edges keeps the first of them. ``scratch`` (N entries, all
    at the int32 maximum) finds that first edge with ``np.minimum.at``, which is ~15x faster
    than ``np.unique(..., return_index=True)``; it is restored before returning.
    """
    targets = snapshot.edge_to[edges].astype(np.int64)
    fresh = distance[targets] < 0
    targets, edges = targets[fresh], edges[fresh]
    position = np.arange(len(targets), dtype=np.int32)
    np.minimum.at(scratch, targets, position)
    first = scratch[targets] == position
    scratch[targets] = _NO_POSITION
    nodes: I64 = targets[first]
    distance[nodes] = level
    parent_edge[nodes] = edges[first]
    nodes.sort()
    return nodes


_NO_POSITION = np.iinfo(np.int32).max


def range_owners(first: EdgeOffsets, start: int, stop: int) -> I64:
    """The owner of each entry ``start`` ... ``stop - 1`` of a CSR array whose rows start at
    ``first`` (an edge's source, a retainer's node): two binary searches and a repeat, where
    a search per entry costs ``log2 N`` steps each."""
    if stop <= start:
        return np.zeros(0, dtype=np.int64)
    low = int(np.searchsorted(first, start, side="right")) - 1
    high = int(np.searchsorted(first, stop - 1, side="right"))
    bounds = np.clip(first[low : high + 1], start, stop)
    owners: I64 = np.repeat(np.arange(low, high, dtype=np.int64), np.diff(bounds))
    return owners


def sorted_unique(values: _Ints) -> _Ints:
    """``np.unique`` by an in-place sort (numpy 2's ``unique`` is ~50x slower on ints)."""
    values.sort()
    keep = np.empty(len(values), dtype=bool)
    keep[:1] = True
    np.not_equal(values[1:], values[:-1], out=keep[1:])
    result: _Ints = values[keep]
    return result


def dominators(
    snapshot: HeapSnapshot,
    essential: BoolArray | None = None,
    paths: ShortestPaths | None = None,
    sizes: npt.NDArray[np.uint32] | None = None,
) -> Dominators:
    """Immediate dominators and retained sizes over the essential edges.

    ``paths`` (from :func:`shortest_paths` with the same ``essential``) saves a second search.
    ``sizes`` replaces the nodes' self sizes in the retained sizes (DevTools' owned sizes).
    """
    if essential is None:
        essential = essential_edges(snapshot)
    if paths is None:
        paths = shortest_paths(snapshot, essential)
    n = snapshot.node_count
    order, extra_roots, cut_off, blocks = _spanning_order(snapshot, essential, paths)
    if cut_off.size:
        # DevTools' search never enters these nodes, so their edges retain nothing.
        essential = essential.copy()
        essential[out_edges(snapshot.first_edge, cut_off.astype(np.int64))] = False
    # Work in "numbers": position in a spanning-tree order from the root (the root is 0,
    # every node after the node that reached it). Every dominator of a node lies on its
    # tree path, so dominators always have smaller numbers, which is all Cooper-Harvey-
    # Kennedy's intersection walk needs (it usually uses postorder; this order comes from
    # the vectorised search instead of a depth-first search in Python).
    number = np.empty(n, dtype=np.int32)
    number[order] = np.arange(n, dtype=np.int32)
    pred_first, pred_src = _retainers(snapshot, essential, number, number[extra_roots])
    del number
    idom_num = _cooper_harvey_kennedy(pred_first, pred_src, n)
    del pred_first, pred_src
    own = (snapshot.self_size if sizes is None else sizes)[order].astype(np.int64)
    retained_num = subtree_sums(idom_num, own, blocks)
    del own
    idom = np.empty(n, dtype=np.int32)
    idom[order] = order[idom_num]
    del idom_num
    retained = np.empty(n, dtype=np.int64)
    retained[order] = retained_num
    return Dominators(idom, retained, order, blocks)


def _spanning_order(
    snapshot: HeapSnapshot, essential: BoolArray, paths: ShortestPaths
) -> tuple[I32, I32, I32, I64]:
    """The search order of ``paths``, then the nodes it did not reach, and the extra roots.

    Like DevTools (``calculateDominatorsAndRetainedSizes``): the unreached nodes no edge
    retains at all hang off the root and are searched from; what they do not reach either
    (cycles retained only by one another) hangs off the root node by node, and DevTools'
    Lengauer-Tarjan never counts their edges (they are numbered after everything they
    could retain). Returns the order, the extra roots, those last nodes ("cut off") and
    the search's levels in the order (the unreached are levels of their own after it; the
    cut-off nodes hang off the root, one level). V8 heaps have a handful.
    """
    seen = paths.distance >= 0
    if bool(seen.all()):
        none = np.zeros(0, dtype=np.int32)
        return paths.order, none, none, paths.levels
    seen = seen.copy()
    retained = np.zeros(snapshot.node_count, dtype=bool)
    for start in range(0, len(essential), _CHUNK):
        stop = min(start + _CHUNK, len(essential))
        picked = np.flatnonzero(essential[start:stop])
        targets = snapshot.edge_to[picked + start].astype(np.int64)
        sources = range_owners(snapshot.first_edge, start, stop)[picked]
        retained[targets[targets != sources]] = True
    orphans = np.flatnonzero(~seen & ~retained)
    parts = [paths.order]
    seen[orphans] = True
    frontier = orphans.astype(np.int64)
    while frontier.size:
        parts.append(frontier.astype(np.int32))
        edges = out_edges(snapshot.first_edge, frontier)
        targets = sorted_unique(snapshot.edge_to[edges[essential[edges]]].astype(np.int64))
        frontier = targets[~seen[targets]]
        seen[frontier] = True
    rest = np.flatnonzero(~seen).astype(np.int32)
    parts.append(rest)
    extra = np.concatenate([orphans.astype(np.int32), rest])
    sizes = [len(part) for part in parts[1:]]
    levels = np.concatenate([paths.levels, paths.levels[-1:] + np.cumsum(sizes)])
    return np.concatenate(parts), extra, rest, levels


def _retainers(
    snapshot: HeapSnapshot, essential: BoolArray, number: I32, extra_roots: I32
) -> tuple[I64, I32]:
    """Distinct retainers of every node, in numbers: CSR ``pred_first`` (N + 1), ``pred_src``.

    Each edge becomes one uint64 key ``target << 32 | source`` sorted in place, which orders
    the retainers of a node by number and makes duplicates adjacent, at 8 bytes an edge and
    no index array (an argsort would add 8 bytes an edge and a gather pass). Everything after
    the sort works in place or a chunk at a time: the keys are the biggest array of the
    whole analysis, and a second array of their size would be the peak of the run.
    """
    n = len(number)
    total = int(np.count_nonzero(essential)) + len(extra_roots)
    keys = np.empty(total, dtype=np.uint64)
    filled = 0
    for start in range(0, len(essential), _CHUNK):
        stop = min(start + _CHUNK, len(essential))
        picked = np.flatnonzero(essential[start:stop])
        part = keys[filled : filled + len(picked)]
        part[:] = number[snapshot.edge_to[picked + start]]
        part <<= np.uint64(32)
        sources = range_owners(snapshot.first_edge, start, stop)[picked]
        part |= number[sources].view(np.uint32)
        filled += len(picked)
    if len(extra_roots):  # the root (number 0) retains them
        keys[filled:] = extra_roots.astype(np.uint64) << np.uint64(32)
    keys.sort()
    low = 0 if sys.byteorder == "little" else 1  # the source half of a key viewed as 2 uint32
    # Drop duplicates (two edges from one retainer) and self-references (they retain
    # nothing), moving the kept keys to the front; writes never pass the chunk being read.
    kept = 0
    previous = None
    for start in range(0, len(keys), _CHUNK):
        part = keys[start : start + _CHUNK]
        keep = np.empty(len(part), dtype=bool)
        keep[0] = previous is None or part[0] != previous
        np.not_equal(part[1:], part[:-1], out=keep[1:])
        halves = part.view(np.uint32).reshape(-1, 2)
        keep &= halves[:, 0] != halves[:, 1]
        previous = part[-1]
        distinct = part[keep]
        keys[kept : kept + len(distinct)] = distinct
        kept += len(distinct)
    del part, halves  # views of the keys: none may be alive at a resize
    try:  # realloc: the buffer beyond ``kept`` goes back to the system
        keys.resize(kept)
    except ValueError:  # a reference numpy cannot rule out (a tracer's, say)
        keys = keys[:kept].copy()
    # Keys are sorted by target: count each node's keys (a chunk's targets are a run of
    # nodes), then a cumulative sum; a binary search per node cost a third of this step.
    pred_first: I64 = np.zeros(n + 1, dtype=np.int64)
    for start in range(0, kept, _CHUNK):
        targets = (keys[start : start + _CHUNK] >> np.uint64(32)).astype(np.int64)
        lowest = int(targets[0])
        targets -= lowest
        counts = np.bincount(targets)
        pred_first[lowest + 1 : lowest + 1 + len(counts)] += counts
    np.cumsum(pred_first, out=pred_first)
    # The sources, moved in place to the front of the keys' buffer, which then shrinks to
    # them: a separate array would be alive beside the keys, the peak of a dominator tree.
    sources_view = keys.view(np.uint32)
    for start in range(0, kept, _CHUNK):
        stop = min(start + _CHUNK, kept)
        sources_view[start:stop] = sources_view[2 * start + low : 2 * stop + low : 2]
    del sources_view
    try:
        keys.resize((kept + 1) // 2)
    except ValueError:
        keys = keys[: (kept + 1) // 2].copy()
    pred_src: I32 = keys.view(np.int32)[:kept]
    return pred_first, pred_src


def _cooper_harvey_kennedy(pred_first: I64, pred_src: I32, n: int) -> I32:
    """Immediate dominators in numbers (the root is 0, dominators have smaller numbers).

    Most nodes are settled without the Python loop: a node with one retainer is dominated by
    it, and so is a node all of whose retainers are that retainer or hang below it through
    single-retainer objects only (an array element also referenced by the array's backing
    store, a string held by one object ...). Those answers are exact whatever the rest of the
    tree turns out to be, so the iteration only visits the remaining nodes.
    """
    idom = np.full(n, -1, dtype=np.int32)
    idom[0] = 0
    # N-sized temporaries in bool and int32 only (an int64 one is 8 bytes a node): this
    # is the peak of a whole analysis, the retainer lists being alive.
    has_preds = pred_first[1:] > pred_first[:-1]
    has_preds[0] = False
    # The smallest-numbered retainer (clipped where there is none, then -1).
    first_pred = pred_src.take(pred_first[:-1], mode="clip") if len(pred_src) else idom.copy()
    first_pred[~has_preds] = -1
    single = np.empty(n, dtype=bool)
    for start in range(0, n, _CHUNK):
        counts = np.diff(pred_first[start : start + _CHUNK + 1])
        np.equal(counts, 1, out=single[start : start + len(counts)])
    single[0] = False
    idom[single] = first_pred[single]
    multi = has_preds & ~single
    del single, has_preds  # before _hard_nodes' temporaries
    hard = _hard_nodes(pred_first, pred_src, idom, first_pred, multi)
    easy = multi & ~hard
    idom[easy] = first_pred[easy]
    del first_pred, multi, easy
    todo = np.flatnonzero(hard).astype(np.int64)  # increasing numbers
    del hard
    if todo.size:
        _iterate(idom, pred_first, pred_src, todo)
    return idom


#: Edges or retainer entries handled per numpy step where a step's temporaries would
#: otherwise be several times the size of an edge array. Small enough that they stay below
#: the mmap threshold :mod:`._memory` sets and are reused rather than fresh pages.
_CHUNK = 1 << 16


def _hard_nodes(
    pred_first: I64, pred_src: I32, idom: I32, first_pred: I32, multi: BoolArray
) -> BoolArray:
    """Nodes with several retainers whose dominator the shortcut cannot settle.

    Node ``v`` is settled when each retainer ``q`` is ``c`` (its smallest-numbered retainer),
    or the single retainer of ``q`` is ``c``, or ``q``'s chain of single-retainer objects
    leads to ``c``: then every path to ``v`` passes ``c``, and ``c`` is its dominator.
    """
    n = len(idom)
    # head: where a node's chain of single-retainer ancestors ends.
    head = np.arange(n, dtype=np.int32)
    np.copyto(head, idom, where=idom >= 0)
    chain_ends(head)
    hard = np.zeros(n, dtype=bool)
    total = len(pred_src)
    for start in range(0, total, _CHUNK):
        stop = min(start + _CHUNK, total)
        owner = range_owners(pred_first, start, stop)
        wanted = multi[owner]
        owner = owner[wanted]
        q = pred_src[start:stop][wanted]
        c = first_pred[owner]
        ok = (q == c) | (head[q] == c) | (idom[q] == c)
        hard[owner[~ok]] = True
    return hard


def chain_ends(head: I32, chunk: int | None = None) -> I32:
    """Each entry of ``head`` replaced by the end of its chain, in place, and returned.

    ``head`` points each node to a smaller one or to itself (a chain's end). Pointer
    jumping in place, ``chunk`` entries at a time (default :data:`_CHUNK`): this runs at
    the peak of a whole analysis, where a jumped copy was a second N-sized array (56 MB on
    a 1 GB heap). A chunk may read entries already jumped this round: they are still on the
    chain, further up, and the rounds go on until nothing moves, so every entry ends at its
    chain's end all the same.
    """
    step = _CHUNK if chunk is None else chunk
    moved = True
    while moved:
        moved = False
        for start in range(0, len(head), step):
            part = head[start : start + step]
            jumped = head[part]
            if not moved and not np.array_equal(jumped, part):
                moved = True
            part[...] = jumped
    return head


#: Nodes with more retainers than this are intersected with numpy rather than one at a time
#: (a few hidden V8 objects, maps and the global have hundreds of thousands of retainers).
_MANY = 64


def _iterate(idom: I32, pred_first: I64, pred_src: I32, todo: I64) -> None:
    """Cooper-Harvey-Kennedy's fixed point over the ``todo`` nodes, in place."""
    # memoryviews: Python ints on access, no copy, 4 or 8 bytes per entry instead of a list's.
    doms = _view(idom)
    firsts = _view(pred_first)
    preds = _view(pred_src)
    nodes = _view(todo)
    # The first pass sees only retainers numbered below the node (settled up front, or
    # processed before it), whose dominator chains are complete; later passes see all
    # retainers. Every dominator then stays numbered below its node, so the walks end.
    first_pass = True
    changed = True
    while changed:
        changed = False
        for node in nodes:
            start, stop = firsts[node], firsts[node + 1]
            if stop - start > _MANY:
                retainers = pred_src[start:stop]
                if first_pass:
                    retainers = retainers[retainers < node]
                new = _common_dominator(idom, retainers)
            else:
                new = -1
                for i in range(start, stop):
                    pred = preds[i]
                    if first_pass and pred > node:
                        continue
                    if new < 0:
                        new = pred
                        continue
                    a, b = pred, new
                    while a != b:
                        if a > b:
                            a = doms[a]
                        else:
                            b = doms[b]
                    new = a
            if doms[node] != new:
                doms[node] = new
                changed = True
        first_pass = False


def _common_dominator(idom: I32, nodes: I32) -> int:
    """The nearest common ancestor of ``nodes`` in the tree ``idom``, all walks at once.

    The answer is an ancestor of the smallest number, so every other node can step up to
    its dominator without passing it; repeat until one node is left.
    """
    current = sorted_unique(nodes.copy())
    while len(current) > 1:
        current[1:] = idom[current[1:]]
        current = sorted_unique(current)
    return int(current[0])


def _view(array: I64 | I32) -> memoryview:
    """Element access with Python ints and no copy (the array must be contiguous)."""
    return np.ascontiguousarray(array).data
