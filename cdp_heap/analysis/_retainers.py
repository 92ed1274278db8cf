"""The Retainers panel of DevTools: what holds an object, as a tree to a depth.

Like DevTools (``retainingEdgesFilter``), an object's retainers are the edges into it
except weak ones and those from the root node itself, nearest to a root first (by
DevTools' distance of the retaining object). Each retainer is expanded in turn, to
``depth`` levels, at most ``width`` retainers per object; an object already on the way
down is shown but not expanded again (cycles are common: a closure and its context).
"""

from __future__ import annotations

import attrs
import numpy as np

from ._devtools import NO_DISTANCE, type_mask
from ._snapshot import edge_sources
from ._view import HeapView, ObjectSummary


@attrs.frozen
class Retainer:
    """An object and, below it, what retains it (``edge`` is the edge from the retainer)."""

    node: ObjectSummary
    edge: str
    edge_type: str
    retainers: tuple[Retainer, ...]
    #: The object appears above on this branch (not expanded again).
    cycle: bool = False
    #: Retainers left out by ``width``.
    more: int = 0

    def to_json(self) -> dict[str, object]:
        return {
            **self.node.to_json(),
            "edge": self.edge,
            "edge_type": self.edge_type,
            "cycle": self.cycle,
            "more": self.more,
            "retainers": [r.to_json() for r in self.retainers],
        }

    def lines(self, indent: int = 0) -> list[str]:
        """The tree as text, one retainer per line, indented by level."""
        head = "  " * indent
        obj = self.node
        sizes = f"distance {obj.distance}, shallow {obj.self_size}, retained {obj.retained_size}"
        via = f"{self.edge} in " if self.edge else ""
        text = [f"{head}{via}{obj.name} @{obj.id}  ({sizes}){'  (cycle)' if self.cycle else ''}"]
        for retainer in self.retainers:
            text += retainer.lines(indent + 1)
        if self.more:
            text.append(f"{head}  … {self.more} more retainers")
        return text


def retainer_tree(view: HeapView, node: int, *, depth: int = 4, width: int = 8) -> Retainer:
    """What retains ``node`` (an ordinal), ``depth`` levels up."""
    return _expand(view, node, "", "", depth, width, (node,))


def _expand(
    view: HeapView, node: int, edge: str, kind: str, depth: int, width: int, path: tuple[int, ...]
) -> Retainer:
    if depth <= 0:
        return Retainer(view.object_summary(node), edge, kind, ())
    snapshot = view.snapshot
    edges = np.flatnonzero(snapshot.edge_to == node)
    sources = edge_sources(snapshot.first_edge, edges)
    shown = ~type_mask(snapshot.edge_type[edges], snapshot.edge_types, "weak", "invisible")
    shown &= sources != snapshot.root
    edges, sources = edges[shown], sources[shown]
    distance = view.distance[sources].astype(np.int64)
    distance[distance == NO_DISTANCE] = np.iinfo(np.int64).max
    order = np.lexsort((edges, distance))
    children = []
    for position in order[:width].tolist():
        source, via = int(sources[position]), int(edges[position])
        label = snapshot.edge_label(via)
        kind_of = snapshot.edge_types[int(snapshot.edge_type[via])]
        if source in path:
            children.append(Retainer(view.object_summary(source), label, kind_of, (), cycle=True))
            continue
        children.append(_expand(view, source, label, kind_of, depth - 1, width, (*path, source)))
    return Retainer(
        view.object_summary(node), edge, kind, tuple(children), more=max(0, len(order) - width)
    )
