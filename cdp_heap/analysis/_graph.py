"""Graph algorithms on a snapshot: distances and shortest retainer paths, dominators.

Which edges count follows DevTools' ``isEssentialEdge``: weak edges never hold an object, and
``shortcut`` edges only count from the root (they duplicate a real path elsewhere).

* :func:`shortest_paths` is a breadth-first search done a level at a time with numpy (no
  Python per node): first from the *user roots* (the non-synthetic children of the root, e.g.
  ``global``), then from the remaining (system) roots, like DevTools, so the first path to an
  object goes through the program's own globals when there is one. Its parent edges give the
  shortest retainer path of every object.
* :func:`dominators` is the iterative algorithm of Cooper, Harvey and Kennedy ("A Simple, Fast
  Dominance Algorithm", 2001) on a reverse postorder, with no recursion anywhere (heaps have
  chains of millions of objects). Objects with a single retainer, most of a V8 heap, get their
  dominator in one vectorised step; only the others go through the Python loop. Objects
  unreachable from the root are attached to the root, as DevTools does.
"""

from __future__ import annotations

import itertools

import attrs
import numpy as np
import numpy.typing as npt

from ._snapshot import I64, HeapSnapshot

I32 = npt.NDArray[np.int32]
BoolArray = npt.NDArray[np.bool_]


@attrs.frozen(eq=False)
class ShortestPaths:
    """Distance of every node from the roots (-1: unreachable) and the edge that reached it."""

    distance: I32
    parent_edge: I64

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
    """Immediate dominator (ordinal; the root's is itself) and retained size of every node."""

    idom: I64
    retained_size: I64


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
    for selected in (user, ~user):
        edges = root_edges[selected]
        _visit(snapshot, essential, distance, parent_edge, edges, 1)
        frontier = np.unique(snapshot.edge_to[edges].astype(np.int64))
        frontier = frontier[distance[frontier] == 1]
        level = 1
        while frontier.size:
            edges = _out_edges(snapshot.first_edge, frontier)
            edges = edges[essential[edges]]
            level += 1
            frontier = _visit(snapshot, essential, distance, parent_edge, edges, level)
    return ShortestPaths(distance, parent_edge)


def _out_edges(first_edge: I64, nodes: I64) -> I64:
    """All edge indices of ``nodes``, node by node, without a Python loop."""
    starts = first_edge[nodes]
    counts = first_edge[nodes + 1] - starts
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    shift = np.repeat(starts - (np.cumsum(counts) - counts), counts)
    edges: I64 = shift + np.arange(total, dtype=np.int64)
    return edges


def _visit(
    snapshot: HeapSnapshot,
    essential: BoolArray,
    distance: I32,
    parent_edge: I64,
    edges: I64,
    level: int,
) -> I64:
    """Mark the unvisited targets of ``edges`` at ``level``; return them (the next frontier)."""
    del essential
    targets = snapshot.edge_to[edges].astype(np.int64)
    fresh = distance[targets] < 0
    targets, edges = targets[fresh], edges[fresh]
    nodes, first = np.unique(targets, return_index=True)
    distance[nodes] = level
    parent_edge[nodes] = edges[first]
    return nodes


def dominators(snapshot: HeapSnapshot, essential: BoolArray | None = None) -> Dominators:
    """Immediate dominators and retained sizes over the essential edges."""
    if essential is None:
        essential = essential_edges(snapshot)
    n = snapshot.node_count
    root = snapshot.root
    # Edge-sized arrays are int32 (ordinals fit): they are most of the memory used here.
    sources = np.repeat(np.arange(n, dtype=np.int32), np.diff(snapshot.first_edge))[essential]
    targets = snapshot.edge_to[essential].astype(np.int32)
    first = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(sources, minlength=n), out=first[1:])
    postorder, extra_roots = _postorder(first, targets, root, n)
    # Renumber by postorder: the root is n - 1; a dominator always has a larger number.
    number = np.empty(n, dtype=np.int32)
    number[postorder] = np.arange(n, dtype=np.int32)
    pred_src = np.concatenate([number[sources], np.full(len(extra_roots), n - 1, np.int32)])
    del sources
    pred_dst = np.concatenate([number[targets], number[extra_roots]])
    del targets
    keep = pred_src != pred_dst
    pred_src, pred_dst = pred_src[keep], pred_dst[keep]
    order = np.argsort(pred_dst, kind="stable")
    pred_src, pred_dst = pred_src[order], pred_dst[order]
    pred_first = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(pred_dst, minlength=n), out=pred_first[1:])
    idom_po = _cooper_harvey_kennedy(pred_first, pred_src, n)
    idom = np.empty(n, dtype=np.int64)
    idom[postorder] = postorder[idom_po]
    sizes = snapshot.self_size[postorder].astype(np.int64)
    retained_po = _accumulate(sizes, idom_po)
    retained = np.empty(n, dtype=np.int64)
    retained[postorder] = retained_po
    return Dominators(idom, retained)


def _postorder(first: I64, targets: I32, root: int, n: int) -> tuple[I64, I64]:
    """Iterative depth-first postorder from the root, then from every node not yet reached.

    Returns the nodes in postorder (the root last) and the nodes that started a search of
    their own (they get the root as an extra retainer, as in DevTools).
    """
    first_list = _view(first)
    target_list = _view(targets)
    visited = bytearray(n)
    result = np.empty(n, dtype=np.int64)
    order = _view(result)
    done = 0
    extra: list[int] = []
    for start in itertools.chain((root,), range(n)):
        if visited[start]:
            continue
        if start != root:
            extra.append(start)
        visited[start] = 1
        stack_node = [start]
        stack_edge = [first_list[start]]
        while stack_node:
            node = stack_node[-1]
            edge = stack_edge[-1]
            end = first_list[node + 1]
            while edge < end:
                child = target_list[edge]
                edge += 1
                if not visited[child]:
                    visited[child] = 1
                    stack_edge[-1] = edge
                    stack_node.append(child)
                    stack_edge.append(first_list[child])
                    break
            else:
                if node != root:
                    order[done] = node
                    done += 1
                stack_node.pop()
                stack_edge.pop()
    # The root comes last even when other searches ran after its own.
    order[done] = root
    return result, np.array(extra, dtype=np.int64)


def _cooper_harvey_kennedy(pred_first: I64, pred_src: I32, n: int) -> I64:
    """Immediate dominators in postorder numbering (the root is ``n - 1``)."""
    root = n - 1
    idom = np.full(n, -1, dtype=np.int64)
    idom[root] = root
    pred_count = np.diff(pred_first)
    single = np.flatnonzero(pred_count == 1)
    idom[single] = pred_src[pred_first[single]]
    multi = np.flatnonzero(pred_count > 1)
    multi = np.ascontiguousarray(multi[multi != root][::-1])  # reverse postorder
    # memoryviews: Python ints on access, 8 bytes per entry instead of a list's ~36.
    doms = _view(idom)
    firsts = _view(pred_first)
    preds = _view(pred_src)
    # The first pass sees only retainers numbered above the node (processed before it in
    # reverse postorder, or set up front), whose dominator chains are complete; later passes
    # see all retainers. Every dominator then stays numbered above its node, so the walks end.
    first_pass = True
    changed = True
    while changed:
        changed = False
        for node in _view(multi):
            new = -1
            for i in range(firsts[node], firsts[node + 1]):
                pred = preds[i]
                if first_pass and pred < node:
                    continue
                if new < 0:
                    new = pred
                    continue
                a, b = pred, new
                while a != b:
                    if a < b:
                        a = doms[a]
                    else:
                        b = doms[b]
                new = a
            if doms[node] != new:
                doms[node] = new
                changed = True
        first_pass = False
    return idom


def _view(array: I64 | I32) -> memoryview:
    """Element access with Python ints and no copy (the array must be contiguous)."""
    return np.ascontiguousarray(array).data


def _accumulate(sizes: I64, idom: I64) -> I64:
    """Retained sizes: each node's size added to its dominators', children first."""
    result = sizes.copy()
    retained = _view(result)
    parents = _view(np.ascontiguousarray(idom))
    for node in range(len(result) - 1):
        retained[parents[node]] += retained[node]
    return result
