"""Questions about sets of nodes in the dominator tree: what a set retains, who explains whom.

A leak report asks the same question of many sets at once (every leaked class, every retainer
route of a class): the retained size of a set is the retained size of its *top* members, those
not dominated by another member of the same set. And it asks which leaked object dominates a
leaked string or number, to fold that primitive under the object whose leak explains it.

Both are answered by walking from each member up its dominator chain, all members at once in
numpy, until the walk meets a *marked* node (a member of any set) or the root; the work is
proportional to the members times the depth, not to the heap. A very deep chain (a linked
list of a million objects) switches to pointer jumping over the whole tree, O(N log depth)
once, after which every step of a walk goes straight to the next marked ancestor.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ._graph import Dominators

I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]

#: Label of unmarked nodes.
UNMARKED = -1
#: Dominator-chain steps walked member by member before switching to pointer jumping.
WALK_LIMIT = 512


class MarkedTree:
    """The dominator tree with some nodes marked by a label (a set number, >= 0).

    Membership is a binary search in the sorted marked nodes rather than a label per node:
    the walks touch members times depth nodes, and an array of N labels would sit on top
    of the dominator tree at the peak of the run.
    """

    def __init__(self, doms: Dominators, root: int, members: I64, labels: I32) -> None:
        self.idom = doms.idom
        self.retained = doms.retained_size
        self.root = root
        self.members = members
        self.labels = labels
        order = np.argsort(members, kind="stable")
        self._sorted = members[order]
        self._sorted_labels = labels[order]
        self._jump: I32 | None = None

    def label_of(self, nodes: I64) -> I32:
        """The label of each of ``nodes`` (``UNMARKED`` for nodes that are not members)."""
        result: I32 = np.full(len(nodes), UNMARKED, dtype=np.int32)
        if not len(self._sorted):
            return result
        at = np.minimum(np.searchsorted(self._sorted, nodes), len(self._sorted) - 1)
        hit = self._sorted[at] == nodes
        result[hit] = self._sorted_labels[at[hit]]
        return result

    def marked_ancestor(self, nodes: I64) -> I64:
        """For each node, its nearest strict ancestor that is marked, or the root."""
        result = np.empty(len(nodes), dtype=np.int64)
        walking = np.arange(len(nodes))
        current = self.idom[nodes].astype(np.int64)
        for _ in range(WALK_LIMIT):
            done = (current == self.root) | (self.label_of(current) != UNMARKED)
            result[walking[done]] = current[done]
            walking, current = walking[~done], self.idom[current[~done]].astype(np.int64)
            if not len(walking):
                return result
        result[walking] = self._jumps()[current]
        return result

    def _jumps(self) -> I32:
        """Per node: itself if marked or the root, else its nearest marked ancestor (or root)."""
        if self._jump is None:
            stop = np.zeros(len(self.idom), dtype=bool)
            stop[self.members] = True
            stop[self.root] = True
            jump = np.where(stop, np.arange(len(self.idom), dtype=np.int32), self.idom)
            while True:
                nxt = jump[jump]
                if np.array_equal(nxt, jump):
                    break
                jump = nxt
            self._jump = jump
        return self._jump

    def top_members(self) -> npt.NDArray[np.bool_]:
        """Per member: no other member with the same label dominates it."""
        top = np.ones(len(self.members), dtype=bool)
        walking = np.arange(len(self.members))
        current = self.marked_ancestor(self.members)
        while len(walking):
            at_root = current == self.root
            same = ~at_root & (self.label_of(current) == self.labels[walking])
            top[walking[same]] = False
            going = ~at_root & ~same
            walking = walking[going]
            current = self.marked_ancestor(current[going])
        return top

    def retained_by_label(self, count: int) -> I64:
        """Retained size of each set ``0 .. count - 1``: its top members' retained sizes."""
        top = self.top_members()
        sizes: I64 = np.zeros(count, dtype=np.int64)
        np.add.at(sizes, self.labels[top], self.retained[self.members[top]])
        return sizes
