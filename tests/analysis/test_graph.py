"""Distances, retainer paths and dominators on hand-built graphs whose answers are known."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdp_heap.analysis import _graph, dominators, load_snapshot, shortest_paths
from cdp_heap.analysis._graph import chain_ends, range_owners
from tests.analysis.builder import Node, write


def diamond(tmp_path: Path) -> Path:
    r"""
    root(0) -> A(1) -> B(2) -> D(4) -> E(5)
                  \--> C(3) --/
    plus a weak edge A -> F(6) and a strong edge E -> F; G(7) only weakly held by root.
    Dominators: A by root, B/C/D by A, E by D, F by E (the weak edge does not count),
    G unreachable (attached to the root, as DevTools does).
    """
    nodes = [
        Node("synthetic", "", 1, 0, [("shortcut", "global", 1), ("weak", "w", 7)]),
        Node(
            "object", "A", 3, 10, [("property", "b", 2), ("property", "c", 3), ("weak", "cache", 6)]
        ),
        Node("object", "B", 5, 20, [("property", "d", 4)]),
        Node("object", "C", 7, 30, [("property", "d", 4)]),
        Node("object", "D", 9, 40, [("element", 0, 5)]),
        Node("object", "E", 11, 50, [("internal", "f", 6)]),
        Node("object", "F", 13, 60),
        Node("object", "G", 15, 70),
    ]
    return write(tmp_path / "diamond.heapsnapshot", nodes)


def test_dominators_and_retained_sizes_of_a_known_graph(tmp_path: Path) -> None:
    snapshot = load_snapshot(diamond(tmp_path))
    doms = dominators(snapshot)
    assert doms.idom.tolist() == [0, 0, 1, 1, 1, 4, 5, 0]
    assert doms.retained_size.tolist() == [280, 210, 20, 30, 150, 110, 60, 70]


def test_distances_and_shortest_path_skip_weak_edges(tmp_path: Path) -> None:
    snapshot = load_snapshot(diamond(tmp_path))
    paths = shortest_paths(snapshot)
    assert paths.distance.tolist() == [0, 1, 2, 2, 3, 4, 5, -1]
    labels = [snapshot.edge_label(e) for e in paths.path_to(snapshot, 6)]
    assert labels == ["global", "b", "d", "[0]", "f"]


def naive_dominators(n: int, adj: dict[int, list[int]]) -> dict[int, int]:
    """By definition: d dominates v if v is unreachable from the root without d."""

    def reach(skip: int) -> set[int]:
        seen, stack = ({0}, [0]) if skip != 0 else (set(), [])
        while stack:
            for y in adj[stack.pop()]:
                if y != skip and y not in seen:
                    seen.add(y)
                    stack.append(y)
        return seen

    reachable = reach(-1)
    # As DevTools: unreachable nodes that nothing retains hang off the root, then so does
    # every node still unreachable (a cycle held only by itself), one by one, and the
    # edges of those last ones do not count.
    retained = {y for x in range(n) for y in adj[x] if y != x}
    adj[0] = [*adj[0], *(v for v in range(n) if v not in reachable and v not in retained)]
    reachable = reach(-1)
    rest = [v for v in range(n) if v not in reachable]
    for v in rest:
        adj[v] = []
    adj[0] = [*adj[0], *rest]
    reachable = reach(-1)
    doms = {v: {u for u in range(n) if v not in reach(u)} | {v} for v in reachable}
    idom = {0: 0}
    for v in reachable - {0}:
        strict = doms[v] - {v}
        idom[v] = next(d for d in strict if strict <= doms[d])
    return idom


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.data())
def test_property_dominators_match_the_definition(tmp_path: Path, data: st.DataObject) -> None:
    n = data.draw(st.integers(2, 10))
    edges = data.draw(
        st.lists(st.tuples(st.integers(0, n - 1), st.integers(1, n - 1)), max_size=3 * n)
    )
    adj: dict[int, list[int]] = {i: [] for i in range(n)}
    for a, b in edges:
        adj[a].append(b)
    nodes = [
        Node(
            "synthetic" if i == 0 else "object",
            f"C{i}",
            2 * i + 1,
            10 + i,
            [("property", f"p{j}", t) for j, t in enumerate(adj[i])],
        )
        for i in range(n)
    ]
    snapshot = load_snapshot(write(tmp_path / "g.heapsnapshot", nodes))
    # Chunks of 2 or 3 entries run every chunked step (the retainer lists, the pointer
    # jumping in place) across chunk boundaries; the default is one chunk here.
    chunk = data.draw(st.sampled_from([2, 3, _graph._CHUNK]))
    with mock.patch.object(_graph, "_CHUNK", chunk):
        doms = dominators(snapshot)
    expected = naive_dominators(n, {k: list(v) for k, v in adj.items()})
    assert {v: int(doms.idom[v]) for v in range(n)} == expected
    for v in range(n):  # retained size: own size plus the sizes of the dominated subtree
        subtree = [u for u in range(n) if _under(u, v, expected)]
        assert doms.retained_size[v] == sum(10 + u for u in subtree)


def _under(u: int, v: int, idom: dict[int, int]) -> bool:
    while True:
        if u == v:
            return True
        if u == 0:
            return False
        u = idom[u]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(min_value=0, max_value=6), min_size=1, max_size=40),
    st.data(),
)
def test_range_owners_equal_a_search_per_entry(counts: list[int], data: st.DataObject) -> None:
    """The owner of each entry of a range, by a repeat, equals a binary search per entry."""
    first = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=first[1:])
    total = int(first[-1])
    start = data.draw(st.integers(min_value=0, max_value=total))
    stop = data.draw(st.integers(min_value=start, max_value=total))
    expected = np.searchsorted(first, np.arange(start, stop), side="right") - 1
    assert range_owners(first, start, stop).tolist() == expected.tolist()


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_chain_ends_equal_following_each_chain(data: st.DataObject) -> None:
    """The in-place pointer jumping against walking every chain to its end."""
    n = data.draw(st.integers(1, 60))
    # Long chains (each node to one of the few before it) or any smaller node.
    reach_back = data.draw(st.sampled_from([1, 2, n]))
    head = [0] + [data.draw(st.integers(max(0, v - reach_back), v)) for v in range(1, n)]
    chunk = data.draw(st.sampled_from([1, 2, 3, 7, None]))
    expected = []
    for v in range(n):
        while head[v] != v:
            v = head[v]
        expected.append(v)
    got = chain_ends(np.array(head, dtype=np.int32), chunk)
    assert got.tolist() == expected
