"""Plain-text rendering of comparisons and leak reports for the terminal.

Aligned columns, sizes in binary units (DevTools shows kB; we keep exact bytes in ``--json``).
"""

from __future__ import annotations

from collections.abc import Sequence

from ._compare import ClassDiff
from ._duplicates import DuplicatedString
from ._leaks import LeakGroup, LeakReport
from ._routes import RetainerStep

DIFF_COLUMNS = (
    ("new", "# New"),
    ("deleted", "# Deleted"),
    ("delta", "# Delta"),
    ("alloc_size", "Alloc. Size"),
    ("freed_size", "Freed Size"),
    ("size_delta", "Size Delta"),
    ("count", "Count"),
    ("self_size", "Self Size"),
)
_SIZE_COLUMNS = {"alloc_size", "freed_size", "size_delta", "self_size"}
_NAME_WIDTH = 48


def format_size(size: int, *, signed: bool = False) -> str:
    """``1536`` → ``1.5 KiB``; exact bytes below 1 KiB."""
    sign = "+" if signed and size > 0 else ("-" if size < 0 else "")
    value = float(abs(size))
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            text = f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
            return sign + text
        value /= 1024
    return sign + f"{value:.1f} TiB"  # pragma: no cover


def format_cell(key: str, value: int) -> str:
    signed = key in ("delta", "size_delta")
    if key in _SIZE_COLUMNS:
        return format_size(value, signed=signed)
    return f"{value:+d}" if signed and value else str(value)


def _short(name: str) -> str:
    name = name.replace("\n", " ")
    return name if len(name) <= _NAME_WIDTH else name[: _NAME_WIDTH - 1] + "…"


def diff_table(rows: Sequence[ClassDiff]) -> str:
    """The Comparison view as an aligned text table."""
    header = ["Constructor", *(title for _, title in DIFF_COLUMNS)]
    body = [
        [_short(row.name), *(format_cell(key, getattr(row, key)) for key, _ in DIFF_COLUMNS)]
        for row in rows
    ]
    return _align([header, *body])


def _align(table: list[list[str]], left: frozenset[int] = frozenset({0})) -> str:
    """Columns padded to one width; the ``left`` ones (text) left-aligned, numbers right."""
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines = []
    for row in table:
        cells = [
            cell.ljust(width) if i in left else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def leak_text(report: LeakReport, *, top: int = 10) -> str:
    """The leak set ranked by class, each top class's routes, growing collections, strings."""
    lines = [
        f"Leak set: {report.leaked_objects} objects allocated between snapshot 1 and 2 "
        f"that still exist in snapshot {len(report.snapshots)}"
        + (" and every one in between" if len(report.snapshots) > 3 else ""),
    ]
    if not report.groups:
        lines.append("No leaked objects: nothing allocated after snapshot 1 survived.")
    else:
        lines += ["", *leak_table(report, top)]
        for group in report.groups[:top]:
            lines += ["", *routes_text(group)]
    if report.collections:
        lines += ["", *collections_text(report)]
    if report.duplicates:
        lines += ["", *duplicates_text(report)]
    return "\n".join(lines)


def leak_table(report: LeakReport, top: int) -> list[str]:
    """The ranked classes; primitives folded under a holder are named in ``Holds``."""
    header = ["Constructor", "Leaked", "Self Size", "Retained", "Count per snapshot", "Holds"]
    shown = report.groups[:top]
    names = [group.name for group in shown]
    body = [
        [
            # Two classes of one name (DevTools' keys: constructors from two scripts) are
            # told apart by their key.
            _short(group.name if names.count(group.name) == 1 else f"{group.name} [{group.key}]"),
            str(group.count),
            format_size(group.self_size),
            "" if group.retained_size is None else format_size(group.retained_size),
            " → ".join(str(c) for c in group.counts),
            ", ".join(f"{held.count} {held.name}" for held in group.holds),
        ]
        for group in shown
    ]
    lines = [f"Ranked by {_SORT_TITLES[report.sort]}:", _align([header, *body], frozenset({0, 5}))]
    if len(report.groups) > top:
        lines.append(f"... and {len(report.groups) - top} more classes (--top)")
    return lines


_SORT_TITLES = {
    "retained": "retained size",
    "count": "leaked objects",
    "shallow": "self size",
}


def routes_text(group: LeakGroup) -> list[str]:
    """``What holds NAME``: every route with its count, then the path to the nearest one."""
    if not group.routes:
        return retainer_text(group)
    routes = len(group.routes) + group.more_routes
    lines = [f"What holds {group.name}: {routes} route{'s' if routes != 1 else ''}"]
    for route in group.routes:
        retained = "" if route.retained_size is None else f", {format_size(route.retained_size)}"
        lines.append(f"  {_objects(route.count)}{retained}: {route.shape}")
    if group.more_routes:
        more = _objects(group.more_routes_count)
        lines.append(f"  ... {group.more_routes} more routes hold {more} (--routes N)")
    if group.unreachable:
        lines.append(f"  {group.unreachable} objects: no path from a root (weak references only)")
    route = group.routes[0]
    lines.append("  the first, to one object (node ids as in DevTools):")
    lines.append("    (root)")
    lines += [f"    {'  ' * i}{step.format()}" for i, step in enumerate(route.path)]
    return lines


def _objects(count: int) -> str:
    return f"{count} object{'' if count == 1 else 's'}"


def retainer_text(group: LeakGroup) -> list[str]:
    """``What holds NAME`` and the path from a root, one edge per line."""
    if not group.path:
        return [f"{group.name}: no retainer path from a root (held only by weak references?)"]
    lines = [f"What holds {group.name} (shortest path from a root, distance {group.distance}):"]
    lines.append("  (root)")
    lines += [f"  {'  ' * i}{step.format()}" for i, step in enumerate(group.path)]
    return lines


def collections_text(report: LeakReport) -> list[str]:
    """The collections whose element count grew in every snapshot, most retained first."""
    header = ["Collection", "Elements per snapshot", "Retained", "Held by"]
    body = [
        [
            f"{_short(c.name)} @{c.node_id}",
            " → ".join(str(n) for n in c.counts),
            "" if c.retained_size is None else format_size(c.retained_size),
            path_shape(c.path),
        ]
        for c in report.collections
    ]
    title = "Growing collections (element count rose in every snapshot):"
    return [title, _align([header, *body], frozenset({0, 3}))]


def path_shape(path: Sequence[RetainerStep]) -> str:
    """A path on one line from the root's child: ``global --[sessions]--> Map``."""
    if not path:
        return "(root)"
    rest = (f"--[{step.edge}]--> {step.node_class}" for step in path[1:])
    return " ".join([path[0].node_class, *rest])


def duplicates_text(report: LeakReport) -> list[str]:
    """The strings stored many times over in the last snapshot."""
    return [
        f"Duplicated strings in snapshot {len(report.snapshots)} (one copy would do):",
        duplicates_table(report.duplicates),
    ]


def duplicates_table(rows: Sequence[DuplicatedString]) -> str:
    """Text, copies, total size and the bytes one shared copy would save."""
    header = ["String", "Copies", "Total Size", "Wasted"]
    body = [
        [_short(repr(d.text)), str(d.count), format_size(d.self_size), format_size(d.wasted)]
        for d in rows
    ]
    return _align([header, *body])
