"""The numpy tree passes (``_tree``) against plain loops over the parent array."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdp_heap.analysis import _tree
from cdp_heap.analysis._tree import (
    depths,
    path_sums,
    preorder_intervals,
    subtree_sums,
    valid_blocks,
)


def random_parents(draw: st.DrawFn, shape: str) -> list[int]:
    n = draw(st.integers(min_value=1, max_value=300))
    parents = [0]
    for k in range(1, n):
        if shape == "chain":  # deep: one node a level, the small-level loop
            low = max(0, k - 2)
        elif shape == "star":  # wide: whole levels through np.add.at
            low = 0 if draw(st.booleans()) else max(0, k - 3)
            parents.append(draw(st.integers(min_value=low, max_value=min(low, k - 1))))
            continue
        else:
            low = 0
        parents.append(draw(st.integers(min_value=low, max_value=k - 1)))
    return parents


@st.composite
def trees(draw: st.DrawFn) -> tuple[list[int], list[int]]:
    shape = draw(st.sampled_from(["any", "chain", "star"]))
    parents = random_parents(draw, shape)
    values = draw(
        st.lists(
            st.integers(min_value=0, max_value=2**32 - 1),
            min_size=len(parents),
            max_size=len(parents),
        )
    )
    return parents, values


def breadth_first(parents: list[int]) -> tuple[list[int], list[int]]:
    """The tree renumbered in breadth-first order, and its levels' starts (then n): the
    blocks the dominator tree comes with."""
    n = len(parents)
    children: list[list[int]] = [[] for _ in range(n)]
    for k in range(1, n):
        children[parents[k]].append(k)
    order, levels, frontier = [0], [0], [0]
    while frontier:
        levels.append(len(order))
        frontier = [c for node in frontier for c in children[node]]
        order.extend(frontier)
    number = {node: i for i, node in enumerate(order)}
    renumbered = [number[parents[node]] for node in order]
    return renumbered, levels  # the last start appended is n's, the end


def reference_subtree_sums(parents: list[int], values: list[int]) -> list[int]:
    total = list(values)
    for k in range(len(parents) - 1, 0, -1):
        total[parents[k]] += total[k]
    return total


def reference_depths(parents: list[int]) -> list[int]:
    depth = [0] * len(parents)
    for k in range(1, len(parents)):
        depth[k] = depth[parents[k]] + 1
    return depth


def reference_intervals(parents: list[int]) -> tuple[list[int], list[int]]:
    """A depth-first preorder by an explicit stack, children by increasing number."""
    n = len(parents)
    children: list[list[int]] = [[] for _ in range(n)]
    for k in range(1, n):
        children[parents[k]].append(k)
    start, stop = [0] * n, [0] * n
    clock = 0
    stack: list[tuple[int, bool]] = [(0, False)]
    while stack:
        node, done = stack.pop()
        if done:
            stop[node] = clock
            continue
        start[node] = clock
        clock += 1
        stack.append((node, True))
        stack.extend((child, False) for child in reversed(children[node]))
    return start, stop


@settings(max_examples=150, deadline=None)
@given(trees())
def test_subtree_sums_and_depths_equal_the_loops(tree: tuple[list[int], list[int]]) -> None:
    parents, values = tree
    parent = np.array(parents, dtype=np.int32)
    got = subtree_sums(parent, np.array(values, dtype=np.int64))
    assert got.tolist() == reference_subtree_sums(parents, values)
    assert depths(parent).tolist() == reference_depths(parents)
    weights = np.array(values, dtype=np.int64)
    expected = [0] * len(parents)
    for k in range(1, len(parents)):
        expected[k] = expected[parents[k]] + values[k]
    assert path_sums(parent, weights).tolist() == expected


@settings(max_examples=150, deadline=None)
@given(trees())
def test_with_breadth_first_blocks(tree: tuple[list[int], list[int]]) -> None:
    """The blocks path (levels given, as the dominators give them) equals the loops."""
    parents, values = tree
    renumbered, levels = breadth_first(parents)
    parent = np.array(renumbered, dtype=np.int32)
    blocks = np.array(levels, dtype=np.int64)
    assert valid_blocks(parent, blocks)
    got = subtree_sums(parent, np.array(values, dtype=np.int64), blocks)
    assert got.tolist() == reference_subtree_sums(renumbered, values)
    start, stop = preorder_intervals(parent, blocks)
    assert (start.tolist(), stop.tolist()) == reference_intervals(renumbered)


def test_wide_levels_in_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    """A level wider than a piece is handled a piece at a time, in order: the same sums and
    intervals (pieces of 3 nodes, so every wide level is cut, siblings across the cuts)."""
    monkeypatch.setattr(_tree, "_PIECE", 3)
    monkeypatch.setattr(_tree, "_SMALL_LEVEL", 2)
    parents = [0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 3, 3, 3, 3, 3, 7, 7, 7, 8, 8, 8, 8]
    renumbered, levels = breadth_first(parents)
    parent = np.array(renumbered, dtype=np.int32)
    blocks = np.array(levels, dtype=np.int64)
    values = list(range(1, len(parents) + 1))
    got = subtree_sums(parent, np.array(values, dtype=np.int64), blocks)
    assert got.tolist() == reference_subtree_sums(renumbered, values)
    for given_blocks in (blocks, None):
        start, stop = preorder_intervals(parent, given_blocks)
        assert (start.tolist(), stop.tolist()) == reference_intervals(renumbered)


def test_wrong_blocks_are_not_used() -> None:
    """Blocks in which a node's parent is in its own block are found out and replaced."""
    parents = [0, 0, 1, 2, 0]
    parent = np.array(parents, dtype=np.int32)
    wrong = np.array([0, 1, 5], dtype=np.int64)  # one block for all: 2's parent is in it
    assert not valid_blocks(parent, wrong)
    values = [1, 2, 3, 4, 5]
    got = subtree_sums(parent, np.array(values, dtype=np.int64), wrong)
    assert got.tolist() == reference_subtree_sums(parents, values)


@settings(max_examples=150, deadline=None)
@given(trees())
def test_preorder_intervals_equal_a_depth_first_walk(tree: tuple[list[int], list[int]]) -> None:
    parents, _ = tree
    start, stop = preorder_intervals(np.array(parents, dtype=np.int32))
    assert (start.tolist(), stop.tolist()) == reference_intervals(parents)


def test_a_deep_chain_and_a_wide_level() -> None:
    """A chain of 20,000 (20,000 one-node levels) under a level of 5,000 leaves."""
    parents = [0, *range(20_000), *([20_000] * 5_000)]
    values = list(range(len(parents)))
    parent = np.array(parents, dtype=np.int32)
    got = subtree_sums(parent, np.array(values, dtype=np.int64))
    assert got.tolist() == reference_subtree_sums(parents, values)
    start, stop = preorder_intervals(parent)
    assert (start.tolist(), stop.tolist()) == reference_intervals(parents)


@st.composite
def classed_trees(draw: st.DrawFn) -> tuple[list[int], list[int]]:
    """A tree and a class per node (-1: not a member of any class)."""
    parents = random_parents(draw, draw(st.sampled_from(["any", "chain", "star"])))
    n = len(parents)
    classes = draw(st.lists(st.integers(min_value=-1, max_value=3), min_size=n, max_size=n))
    return parents, classes


@settings(max_examples=300, deadline=None)
@given(classed_trees(), st.sampled_from([1, 2, 7, 1 << 18]))
def test_enclosed_is_inside_another_of_its_class(
    case: tuple[list[int], list[int]], chunk: int
) -> None:
    """``_view.enclosed`` (a chunked running maximum, what ``class_retained`` sums by)
    against its definition: a node below another node of its class in the tree."""
    from unittest import mock

    from cdp_heap.analysis import _view

    parents, node_class = case
    start, stop = preorder_intervals(np.array(parents, dtype=np.int32))
    members = [v for v in range(len(parents)) if node_class[v] >= 0]
    members.sort(key=lambda v: (node_class[v], int(start[v])))
    classes = np.array([node_class[v] for v in members], dtype=np.int32)
    with mock.patch.object(_view, "_ENCLOSED_CHUNK", chunk):
        covered = _view.enclosed(classes, start[members], stop[members])

    def below_its_class(v: int) -> bool:
        u = v
        while u != 0:
            u = parents[u]
            if node_class[u] == node_class[v]:
                return True
        return False

    assert covered.tolist() == [below_its_class(v) for v in members]
