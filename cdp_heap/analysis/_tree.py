"""Sums over a rooted tree given as a parent array, in numpy passes instead of a Python loop.

The trees here are dominator trees in "numbers" (:func:`._graph.dominators`): node 0 is the
root (its own parent) and every other node's parent has a smaller number. A Python loop over
the nodes in that order is the textbook way to sum subtrees. The numbers come from a
breadth-first search, a level at a time, and a node's dominator lies on its search path:
it is in an earlier level. So the numbers fall into *blocks* (the levels) in which no node's
parent is in its own block, and a block is one numpy step:

* :func:`subtree_sums` adds each block's totals into their parents, last block first (one
  ``np.add.at`` per block; a small block, a long chain being one node a level, in a Python
  loop over its nodes);
* :func:`preorder_intervals` is each node's ``[start, stop)`` in a depth-first preorder that
  visits children by increasing number: the subtree sizes, then block by block from the
  root each node takes the next free place in its parent's interval (a cumulative sum over
  the block's siblings).

Blocks are checked before use (each block's parents all lie before it: one pass); without
them, or if they do not hold, :func:`tree_blocks` finds blocks from the parent array alone
(the depths, by pointer jumping: ``log2`` of the height in passes).
N-sized arrays are int32 where the values fit (heaps have fewer than 2**31 nodes); the sums
are int64.
"""

from __future__ import annotations

from itertools import pairwise
from typing import TypeVar

import numpy as np
import numpy.typing as npt

I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
_Sums = TypeVar("_Sums", npt.NDArray[np.int32], npt.NDArray[np.int64])

#: Below this many nodes a level is summed in a Python loop (a numpy call costs about as much
#: as a few dozen iterations).
_SMALL_LEVEL = 48
#: A level is handled this many nodes at a time (a heap's widest level can hold most of its
#: nodes, and each step's temporaries are several bytes a node): one after another, in
#: order, is still exact, since no node of a level is another's parent.
_PIECE = 1 << 16


def _pieces(bounds: list[int]) -> list[tuple[int, int]]:
    """``bounds`` (block starts, then the end) as ranges of at most :data:`_PIECE` nodes,
    each inside one block, in order."""
    pieces: list[tuple[int, int]] = []
    for a, b in pairwise(bounds):
        pieces.extend((start, min(start + _PIECE, b)) for start in range(a, b, _PIECE))
    return pieces


def path_sums(parent: I32, weight: I64 | I32) -> I64:
    """Per node, the sum of ``weight`` over the node and its ancestors, the root excluded
    (pointer jumping). ``parent[0] == 0`` is the root; every other ``parent[k] < k``."""
    n = len(parent)
    total = weight.astype(np.int64)
    if n == 0:
        return total
    total[0] = 0
    up = parent.astype(np.int32)  # ``total[k]`` covers the path from k up to, not with, up[k]
    active = np.flatnonzero(up != 0).astype(np.int32)
    while active.size:
        above = up[active]
        total[active] += total[above]
        up[active] = up[above]
        active = active[up[active] != 0]
    return total


def depths(parent: I32) -> I32:
    """Each node's depth (the root's is 0)."""
    depth: I32 = path_sums(parent, np.ones(len(parent), dtype=np.int32)).astype(np.int32)
    return depth


def valid_blocks(parent: I32, blocks: I64) -> bool:
    """Whether ``blocks`` (block starts, ascending from 0, then ``n``) split the nodes so
    that every node's parent is in an earlier block (the root, block 0, alone)."""
    n = len(parent)
    if len(blocks) < 2 or blocks[0] != 0 or blocks[-1] != n or (n and blocks[1] != 1):
        return False
    if bool(np.any(blocks[1:] < blocks[:-1])):
        return False
    return all(
        int(parent[a:b].max()) < a
        for a, b in zip(blocks[1:-1].tolist(), blocks[2:].tolist(), strict=True)
        if b > a
    )


def tree_blocks(parent: I32, blocks: I64 | None = None) -> tuple[I64, I32 | None]:
    """``blocks`` if they hold, else blocks by depth: then with the permutation that puts
    the nodes in depth order (None when the numbers are already in block order)."""
    if blocks is not None and valid_blocks(parent, blocks):
        return blocks, None
    depth = depths(parent)
    by_depth = np.argsort(depth, kind="stable").astype(np.int32)
    counts = np.bincount(depth)
    del depth
    found = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=found[1:])
    return found, by_depth


def subtree_sums(parent: I32, values: _Sums, blocks: I64 | None = None) -> _Sums:
    """Per node, the sum of ``values`` over its subtree (``values`` is updated in place and
    returned). ``blocks``: see the module docstring (computed when None or wrong)."""
    n = len(parent)
    if n <= 1:
        return values
    bounds, permutation = tree_blocks(parent, blocks)
    view, parents = values.data, np.ascontiguousarray(parent).data
    for a, b in reversed(_pieces(bounds[1:].tolist())):
        nodes: I32 | slice = slice(a, b) if permutation is None else permutation[a:b]
        if b - a < _SMALL_LEVEL:
            for node in range(a, b) if permutation is None else permutation[a:b].tolist():
                view[parents[node]] += view[node]
        else:
            # A copy, not the view a slice gives: ufunc.at takes a per-element path, ~500x
            # slower, when its values share memory with its target (21 s of a 1 GB leak).
            piece = values[nodes].copy() if isinstance(nodes, slice) else values[nodes]
            np.add.at(values, parent[nodes], piece)
    return values


def preorder_intervals(parent: I32, blocks: I64 | None = None) -> tuple[I32, I32]:
    """Each node's preorder interval ``[start, stop)`` (children by increasing number; the
    root's is ``[0, n)``): a node's descendants are exactly the nodes whose start is in it.

    From the root down, a block at a time, each node takes the next free position in its
    parent's interval (after its earlier siblings' subtrees). Siblings have one depth, and
    the search's levels are ranges of numbers in order, so either way a node's earlier
    siblings are in earlier blocks or before it in its own. Only block-sized temporaries.
    """
    n = len(parent)
    if n == 0:
        empty = np.zeros(0, dtype=np.int32)
        return empty, empty.copy()
    bounds, permutation = tree_blocks(parent, blocks)
    size = subtree_sums(parent, np.ones(n, dtype=np.int32), bounds if permutation is None else None)
    start = np.zeros(n, dtype=np.int32)
    free = start + 1  # the next position free in each node's interval, once it is placed
    starts, frees = start.data, free.data
    sizes, parents = size.data, np.ascontiguousarray(parent).data
    for a, b in _pieces(bounds[1:].tolist()):
        if b - a < _SMALL_LEVEL:
            for node in range(a, b) if permutation is None else permutation[a:b].tolist():
                p = parents[node]
                here = frees[p]
                starts[node] = here
                frees[p] = here + sizes[node]
                frees[node] = here + 1
            continue
        nodes = np.arange(a, b, dtype=np.int32) if permutation is None else permutation[a:b]
        by_parent = np.argsort(parent[nodes], kind="stable")  # siblings adjacent, in order
        nodes = nodes[by_parent]
        del by_parent
        up = parent[nodes]
        sub = size[nodes]
        before = np.cumsum(sub, dtype=np.int64)
        before -= sub  # the sizes of the block's nodes before each one
        first = np.ones(len(nodes), dtype=bool)
        first[1:] = up[1:] != up[:-1]
        group = np.maximum.accumulate(np.where(first, np.arange(len(nodes)), 0))
        offset = before - before[group]  # the sizes of earlier siblings in the block
        placed = free[up] + offset.astype(np.int32)
        start[nodes] = placed
        # Each parent's free position moves past all its children in the block.
        last = np.ones(len(nodes), dtype=bool)
        last[:-1] = first[1:]
        free[up[last]] = placed[last] + sub[last]
        free[nodes] = placed + 1
    del free
    size += start
    return start, size  # the stops, in place
