"""DevTools' names for plain objects: ``{a, b}`` by their properties ("interfaces").

A plain object (an ``object`` node named ``Object``) is shown by DevTools under the name of
the best *interface* it matches. Interfaces are inferred from the snapshot itself
(``inferInterfaceDefinitions``): each plain object proposes the list of its property names
in edge order (``__proto__`` left out, the name cut at about 120 characters), and the
proposals made by at least max(2, plain objects / 1000) objects become interfaces, most
common first. An object matches an interface whose properties it all has; the one with the
most properties wins, then the more common. Objects matching none stay ``Object``.

In a comparison both snapshots use the *target's* interfaces, so that one shape is one row.

Python runs once per plain object to build its proposal and once per distinct property set
to match it; everything per edge is numpy.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

import attrs
import numpy as np

from ._devtools import I32, edge_names, string_index, type_mask
from ._graph import out_edges
from ._snapshot import I64, HeapSnapshot

_MAX_NAME_LENGTH = 120
_MIN_COUNT = 2
_COUNT_DIVISOR = 1000
_NEEDS_QUOTES = re.compile(r"[,'\"{}]")


@attrs.frozen
class Interface:
    """A named set of properties (``name`` is ``{a, b}``, the properties in its order)."""

    name: str
    properties: tuple[str, ...]


def format_property(name: str) -> str:
    """How DevTools writes a property name inside ``{…}``: quoted when it holds ``,'"{}``."""
    if _NEEDS_QUOTES.search(name):
        return json.dumps(name, ensure_ascii=False)
    return name


def plain_objects(snapshot: HeapSnapshot) -> I64:
    """Ordinals of the plain JavaScript objects (``object`` nodes named ``Object``)."""
    objects = type_mask(snapshot.node_type, snapshot.node_types, "object")
    objects &= snapshot.node_name == string_index(snapshot, "Object")
    nodes: I64 = np.flatnonzero(objects)
    return nodes


def _properties(snapshot: HeapSnapshot, nodes: I64) -> tuple[list[int], list[int]]:
    """Property-edge name indices of ``nodes`` in edge order, and where each node's start."""
    edges = out_edges(snapshot.first_edge, nodes)
    counts = np.diff(snapshot.first_edge)[nodes]
    owner = np.repeat(np.arange(len(nodes)), counts)
    prop = type_mask(snapshot.edge_type[edges], snapshot.edge_types, "property")
    names = edge_names(snapshot)[edges[prop]]
    bounds = np.searchsorted(owner[prop], np.arange(len(nodes) + 1))
    return names.tolist(), bounds.tolist()


def infer_interfaces(snapshot: HeapSnapshot) -> list[Interface]:
    """The interfaces DevTools infers from ``snapshot``'s plain objects, most common first."""
    nodes = plain_objects(snapshot)
    names, bounds = _properties(snapshot, nodes)
    strings = snapshot.strings
    proto = {string_index(snapshot, "__proto__")}
    counts: dict[str, int] = {}
    found: dict[str, tuple[str, ...]] = {}
    formatted: dict[int, str] = {}
    for i in range(len(nodes)):
        text = "{"
        properties: list[str] = []
        for index in names[bounds[i] : bounds[i + 1]]:
            if index in proto:
                continue
            shown = formatted.get(index)
            if shown is None:
                shown = formatted[index] = format_property(strings[index])
            if len(text) > 1 and len(text) + len(shown) > _MAX_NAME_LENGTH:
                break
            if len(text) != 1:
                text += ", "
            text += shown
            properties.append(strings[index])
        if not properties:
            continue
        text += "}"
        if text in counts:
            counts[text] += 1
        else:
            counts[text] = 1
            found[text] = tuple(properties)
    least = max(_MIN_COUNT, len(nodes) / _COUNT_DIVISOR)
    ranked = sorted(counts, key=lambda text: -counts[text])  # stable: first seen first
    return [Interface(text, found[text]) for text in ranked if counts[text] >= least]


def match_interfaces(
    snapshot: HeapSnapshot, interfaces: Sequence[Interface]
) -> tuple[I64, I32, list[str]]:
    """The plain objects, the interface each matches (-1: none), and the interface names."""
    nodes = plain_objects(snapshot)
    if not interfaces or not len(nodes):
        return nodes, np.full(len(nodes), -1, dtype=np.int32), [i.name for i in interfaces]
    nodes, shape_of, shapes = plain_shapes(snapshot)
    best = np.array(best_interfaces(shapes, interfaces) or [-1], dtype=np.int32)
    matched: I32 = best[shape_of]
    return nodes, matched, [i.name for i in interfaces]


def plain_shapes(snapshot: HeapSnapshot) -> tuple[I64, I32, list[frozenset[str]]]:
    """The plain objects, the shape of each (an index), and the shapes: property names.

    A shape is all an object's match needs, so the objects of a snapshot read before the
    interfaces are known (a leak hunt's earlier snapshots) are matched later, shape by shape
    (:func:`best_interfaces`), in the other snapshot's strings.
    """
    nodes = plain_objects(snapshot)
    shape_of = np.empty(len(nodes), dtype=np.int32)
    names, bounds = _properties(snapshot, nodes)
    strings = snapshot.strings
    index_of: dict[frozenset[int], int] = {}
    shapes: list[frozenset[str]] = []
    for i in range(len(nodes)):
        shape = frozenset(names[bounds[i] : bounds[i + 1]])
        found = index_of.get(shape)
        if found is None:
            found = index_of[shape] = len(shapes)
            shapes.append(frozenset(strings[index] for index in shape))
        shape_of[i] = found
    return nodes, shape_of, shapes


def best_interfaces(shapes: Sequence[frozenset[str]], interfaces: Sequence[Interface]) -> list[int]:
    """Per shape, the interface DevTools names it by (an index in ``interfaces``, -1: none):
    of those whose properties it all has, the one with the most, then the more common."""
    ranked = sorted(range(len(interfaces)), key=lambda k: (-len(interfaces[k].properties), k))
    wanted = [(k, frozenset(interfaces[k].properties)) for k in ranked]
    return [next((k for k, props in wanted if props <= have), -1) for have in shapes]


def interfaces_to_json(interfaces: Sequence[Interface]) -> list[dict[str, object]]:
    return [{"name": i.name, "properties": list(i.properties)} for i in interfaces]
