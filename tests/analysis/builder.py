"""Hand-built heap snapshots for tests: a few nodes and edges written as a real file.

The layout is chosen by the caller (Node 20's 7 node fields, Chromium's 6, an old 5), so the
parser is tested on what ``snapshot.meta`` says rather than on one hard-coded layout.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import attrs

NODE_TYPES = [
    "hidden",
    "array",
    "string",
    "object",
    "code",
    "closure",
    "regexp",
    "number",
    "native",
    "synthetic",
    "concatenated string",
    "sliced string",
    "symbol",
    "bigint",
    "object shape",
]
EDGE_TYPES = ["context", "element", "property", "internal", "hidden", "shortcut", "weak"]
LAYOUTS = {
    "node20": ["type", "name", "id", "self_size", "edge_count", "trace_node_id", "detachedness"],
    "chromium": ["type", "name", "id", "self_size", "edge_count", "detachedness"],
    "old": ["type", "name", "id", "self_size", "edge_count"],
}


@attrs.define
class Node:
    type: str
    name: str
    id: int
    self_size: int
    edges: list[tuple[str, str | int, int]] = attrs.Factory(list)  # (type, name, to ordinal)


def build(nodes: Sequence[Node], layout: str = "node20", *, root_index: int | None = None) -> str:
    """The JSON text of a snapshot with ``nodes`` (ordinal = position; node 0 is the root)."""
    fields = LAYOUTS[layout]
    strings: list[str] = ["<dummy>"]
    index: dict[str, int] = {}

    def intern(text: str) -> int:
        if text not in index:
            index[text] = len(strings)
            strings.append(text)
        return index[text]

    flat_nodes: list[int] = []
    flat_edges: list[int] = []
    for node in nodes:
        values = {
            "type": NODE_TYPES.index(node.type),
            "name": intern(node.name),
            "id": node.id,
            "self_size": node.self_size,
            "edge_count": len(node.edges),
            "trace_node_id": 0,
            "detachedness": 0,
        }
        flat_nodes.extend(values[f] for f in fields)
        for kind, name, to in node.edges:
            name_value = name if isinstance(name, int) else intern(name)
            flat_edges.extend([EDGE_TYPES.index(kind), name_value, to * len(fields)])
    snapshot: dict[str, object] = {
        "meta": {
            "node_fields": fields,
            "node_types": [NODE_TYPES]
            + ["string", "number", "number", "number"]
            + ["number"] * (len(fields) - 5),
            "edge_fields": ["type", "name_or_index", "to_node"],
            "edge_types": [EDGE_TYPES, "string_or_number", "node"],
        },
        "node_count": len(nodes),
        "edge_count": len(flat_edges) // 3,
    }
    if root_index is not None:
        snapshot["root_index"] = root_index
    # V8's own shape: one record per line, one string per line.
    nf = len(fields)
    node_lines = ",\n".join(
        ",".join(map(str, flat_nodes[i : i + nf])) for i in range(0, len(flat_nodes), nf)
    )
    edge_lines = ",\n".join(
        ",".join(map(str, flat_edges[i : i + 3])) for i in range(0, len(flat_edges), 3)
    )
    string_lines = ",\n".join(json.dumps(s) for s in strings)
    return (
        '{"snapshot":' + json.dumps(snapshot, separators=(",", ":")) + ",\n"
        f'"nodes":[{node_lines}],\n"edges":[{edge_lines}],\n'
        '"trace_function_infos":[],\n"trace_tree":[],\n"samples":[],\n"locations":[],\n'
        f'"strings":[{string_lines}]}}\n'
    )


def write(path: Path, nodes: Sequence[Node], layout: str = "node20") -> Path:
    path.write_text(build(nodes, layout), encoding="utf-8")
    return path
