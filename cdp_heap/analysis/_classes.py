"""Class names of heap objects, as Chrome DevTools' Summary and Comparison views group them.

DevTools (``HeapSnapshot.ts``, ``calculateObjectNames``) names the class of a node after its
type: ``object`` and ``native`` nodes by their constructor name (the node's name, with an HTML
tag such as ``<div id="a">`` cut to ``<div>``), ``hidden`` nodes ``(system)``, ``code`` nodes
``(compiled code)``, ``closure`` nodes ``Function``, ``regexp`` nodes ``RegExp`` and everything
else ``(TYPE)``: ``(string)``, ``(array)``, ``(number)``, ``(concatenated string)``,
``(sliced string)``, ``(symbol)``, ``(bigint)``, ``(object shape)``, ``(synthetic)`` ...
Older DevTools called closures ``(closure)`` and regexps ``(regexp)``; we follow the current one.

The names are computed once per distinct string, never per node: the per-node result is an
``int32`` class-id array plus a list of names, so two snapshots are matched by class *name*
(string indices differ between files).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ._reader import U32

I32 = npt.NDArray[np.int32]

_FIXED_NAMES = {
    "hidden": "(system)",
    "code": "(compiled code)",
    "closure": "Function",
    "regexp": "RegExp",
}
_NAMED_TYPES = ("object", "native")


def class_name_of(node_type: str, node_name: str) -> str:
    """The DevTools class name of one node (the scalar rule the arrays follow)."""
    if node_type in _NAMED_TYPES:
        return _tag_class(node_name)
    return _FIXED_NAMES.get(node_type, f"({node_type})")


def _tag_class(name: str) -> str:
    """``<div id="x">`` → ``<div>``, ``Detached <div id="x">`` → ``Detached <div>``."""
    if name.startswith("<"):
        space = name.find(" ")
        return name[:space] + ">" if space != -1 else name
    if name.startswith("Detached <"):
        space = name.find(" ", 10)
        return name[:space] + ">" if space != -1 else name
    return name


def classify(
    types: U32, names: U32, node_types: list[str], strings: list[str]
) -> tuple[I32, list[str]]:
    """Class id of every node and the class names, ids indexing the names.

    ``types`` and ``names`` are the nodes' type and name columns. Vectorised: Python code runs
    once per node type and once per distinct constructor name.
    """
    class_names: list[str] = []
    index_of: dict[str, int] = {}

    def intern(name: str) -> int:
        found = index_of.get(name)
        if found is None:
            found = index_of[name] = len(class_names)
            class_names.append(name)
        return found

    # One gather for the fixed names (a class per node type), then the named types.
    per_type = np.array(
        [-1 if t in _NAMED_TYPES else intern(class_name_of(t, "")) for t in node_types] or [0],
        dtype=np.int32,
    )
    if len(types) and int(types.max()) >= len(per_type):
        raise ValueError("a node has a type missing from snapshot.meta")
    class_ids = per_type[types]
    # The named nodes a chunk at a time: their names, and those names' classes, are two
    # temporaries as large as the nodes (~100 MB at 14 M nodes) when made whole.
    parts = [slice(a, a + _NAME_CHUNK) for a in range(0, len(class_ids), _NAME_CHUNK)]
    used = np.zeros(len(strings), dtype=bool)
    for part in parts:
        name_indices = names[part][class_ids[part] < 0]
        if len(name_indices) and int(name_indices.max()) >= len(strings):
            raise ValueError("a node name points past the end of 'strings'")
        used[name_indices] = True
    if used.any():
        lookup = np.zeros(len(strings), dtype=np.int32)
        for string_index in np.flatnonzero(used).tolist():
            lookup[string_index] = intern(_tag_class(strings[string_index]))
        del used
        for part in parts:
            ids = class_ids[part]
            named = ids < 0
            ids[named] = lookup[names[part][named]]
    return class_ids, class_names


#: Nodes per step of :func:`classify`.
_NAME_CHUNK = 1 << 18


def devtools_classes(
    snapshot_types: U32,
    names: U32,
    node_types: list[str],
    strings: list[str],
    *,
    detached: npt.NDArray[np.bool_] | None,
    plain: npt.NDArray[np.int64],
    plain_class: I32,
    interface_names: list[str],
    location_node: npt.NDArray[np.int64],
    location: U32,
) -> tuple[I32, list[str], list[str]]:
    """DevTools' class of every node: per node a class id, and per class its key and name.

    On top of :func:`classify`: ``detached`` natives are named ``Detached <name>``; the
    ``plain`` objects whose ``plain_class`` is an interface (an index in
    ``interface_names``, -1 for none) are named after it; and an ``object`` node with a
    constructor location (``location_node``, rows of ``location``) is keyed ``script,line,
    column,name``, every other node ``,name`` (DevTools' ``classKeyInternal``), so two
    classes of one name from different scripts are two classes.
    """
    class_ids, class_names = classify(snapshot_types, names, node_types, strings)
    index_of = {name: i for i, name in enumerate(class_names)}

    def intern(name: str) -> int:
        found = index_of.get(name)
        if found is None:
            found = index_of[name] = len(class_names)
            class_names.append(name)
        return found

    if detached is not None and detached.any():
        nodes = np.flatnonzero(detached)
        used = np.unique(names[nodes])
        lookup = {int(i): intern(_tag_class("Detached " + strings[int(i)])) for i in used}
        class_ids[nodes] = [lookup[int(i)] for i in names[nodes].tolist()]
    if len(plain):
        named = plain_class >= 0
        table = np.array([intern(name) for name in interface_names] or [0], dtype=np.int32)
        class_ids[plain[named]] = table[plain_class[named]]
    # Keys: the class name, or for objects with a location the location and the name;
    # Python runs once per distinct (location, class), never per object.
    keys = [f",{name}" for name in class_names]
    key_names = list(class_names)
    if len(location_node) and "object" in node_types:
        object_type = node_types.index("object")
        first = len(keys)
        rows = located_classes(
            class_ids, location_node, location, snapshot_types, object_type, first
        )
        for script, line, column, cls in rows.tolist():
            keys.append(f"{script},{line},{column},{class_names[cls]}")
            key_names.append(class_names[cls])
    return class_ids, keys, key_names


def located_classes(
    class_ids: I32,
    location_node: npt.NDArray[np.int64],
    location: U32,
    types: U32,
    object_type: int,
    first: int,
) -> npt.NDArray[np.int64]:
    """Give each ``object`` node with a location its (script, line, column, class) group.

    :func:`location_groups` of the located objects (the rows of ``location`` whose
    ``location_node`` has type ``object_type``) and their classes, with each object's
    ``class_ids`` entry set to ``first`` + its group, in place; returns the groups' rows.
    The objects, their rows and their classes are taken a chunk of locations at a time:
    made whole, they were ~100 MB of temporaries at the 3.6 M located objects of a 1 GB
    snapshot, at the peak of ``diff``.
    """
    if not len(location_node):
        return np.zeros((0, 4), dtype=np.int64)
    parts = [slice(a, a + _GROUP_CHUNK) for a in range(0, len(location_node), _GROUP_CHUNK)]

    def objects(part: slice) -> tuple[npt.NDArray[np.int64], U32]:
        nodes = location_node[part]
        is_object = types[nodes] == object_type
        return nodes[is_object], location[part][is_object]

    # Radices: bounds of each column over every location (a superset keeps the order).
    radices = [int(location[:, i].max()) + 1 for i in range(3)]
    radices.append(int(class_ids.max(initial=0)) + 1)
    if int(np.prod(radices, dtype=object)) >= 2**63:
        nodes = np.concatenate([objects(part)[0] for part in parts])
        is_object = types[location_node] == object_type
        rows, group = location_groups(location[is_object], class_ids[nodes])
        class_ids[nodes] = group + first
        return rows

    def keys(part: slice) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        nodes, rows = objects(part)
        key = rows[:, 0].astype(np.int64)
        for column, radix in zip((rows[:, 1], rows[:, 2]), radices[1:3], strict=True):
            key *= radix
            key += column
        key *= radices[3]
        key += class_ids[nodes]
        return nodes, key

    distinct = np.unique(np.concatenate([np.unique(keys(part)[1]) for part in parts]))
    for part in parts:
        nodes, key = keys(part)
        group = np.searchsorted(distinct, key).astype(np.int32)
        group += first
        class_ids[nodes] = group
    rows = np.empty((len(distinct), 4), dtype=np.int64)
    for field in (3, 2, 1):  # the key's digits, last first
        rows[:, field] = distinct % radices[field]
        distinct //= radices[field]
    rows[:, 0] = distinct
    return rows


def location_groups(location: U32, classes: I32) -> tuple[npt.NDArray[np.int64], I32]:
    """The distinct ``(script, line, column, class)`` of located objects, sorted, and per
    object the index of its own among them.

    ``location`` has a row ``(script, line, column)`` per object, ``classes`` its class.
    The four fields are one int64 key when their ranges multiply below 2**63 (always, in
    practice: ~100 scripts, lines and columns below 10**5), made a chunk of objects at a
    time: the distinct keys of each chunk, then of those (a few thousand), then each
    object's by a binary search. Only the int32 result is object-sized: a four-key
    ``lexsort`` of int64 rows was 4x slower and ~250 MB at the 3.6 M located objects of a
    1 GB snapshot. Otherwise :func:`_location_groups_by_rows`.
    """
    if not len(classes):
        return np.zeros((0, 4), dtype=np.int64), np.zeros(0, dtype=np.int32)
    columns = [location[:, i] for i in range(3)] + [classes]
    radices = [int(c.max()) + 1 for c in columns]
    if int(np.prod(radices, dtype=object)) >= 2**63 or min(int(c.min()) for c in columns) < 0:
        return _location_groups_by_rows(location, classes)

    def keys(part: slice) -> npt.NDArray[np.int64]:
        key = columns[0][part].astype(np.int64)
        for column, radix in zip(columns[1:], radices[1:], strict=True):
            key *= radix
            key += column[part]
        return key

    parts = [slice(a, a + _GROUP_CHUNK) for a in range(0, len(classes), _GROUP_CHUNK)]
    distinct = np.unique(np.concatenate([np.unique(keys(part)) for part in parts]))
    group = np.empty(len(classes), dtype=np.int32)
    for part in parts:
        group[part] = np.searchsorted(distinct, keys(part))
    rows = np.empty((len(distinct), 4), dtype=np.int64)
    for field in (3, 2, 1):  # the key's digits, last first
        rows[:, field] = distinct % radices[field]
        distinct //= radices[field]
    rows[:, 0] = distinct
    return rows, group


#: Located objects per step of :func:`location_groups`.
_GROUP_CHUNK = 1 << 18


def _location_groups_by_rows(location: U32, classes: I32) -> tuple[npt.NDArray[np.int64], I32]:
    """:func:`location_groups` for any values: a lexsort of the rows (the plain version)."""
    rows = np.column_stack([location.astype(np.int64), classes])
    order = np.lexsort(rows.T[::-1])
    rows = rows[order]
    fresh = np.ones(len(rows), dtype=bool)
    fresh[1:] = np.any(rows[1:] != rows[:-1], axis=1)
    group = np.empty(len(rows), dtype=np.int32)
    group[order] = np.cumsum(fresh) - 1
    return rows[fresh], group
