"""Plain-text rendering of comparisons and leak reports for the terminal.

Aligned columns, sizes in binary units (DevTools shows kB; we keep exact bytes in ``--json``).
"""

from __future__ import annotations

from collections.abc import Sequence

from ._compare import ClassDiff
from ._leaks import LeakGroup, LeakReport

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


def _align(table: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines = []
    for row in table:
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def leak_text(report: LeakReport, *, top: int = 10) -> str:
    """The leak set by class, then the retainer path of each of the top groups."""
    lines = [
        f"Leak set: {report.leaked_objects} objects allocated between snapshot 1 and 2 "
        f"that still exist in snapshot {len(report.snapshots)}"
        + (" and every one in between" if len(report.snapshots) > 3 else ""),
    ]
    if not report.groups:
        lines.append("No leaked objects: nothing allocated after snapshot 1 survived.")
        return "\n".join(lines)
    counts_title = "Count per snapshot"
    header = ["Constructor", "Leaked", "Self Size", "Retained", counts_title]
    body = [
        [
            _short(group.name),
            str(group.count),
            format_size(group.self_size),
            "" if group.retained_size is None else format_size(group.retained_size),
            " → ".join(str(c) for c in group.counts),
        ]
        for group in report.groups[:top]
    ]
    lines += ["", _align([header, *body])]
    if len(report.groups) > top:
        lines.append(f"... and {len(report.groups) - top} more classes (--top)")
    for group in report.groups[:top]:
        lines += ["", *retainer_text(group)]
    return "\n".join(lines)


def retainer_text(group: LeakGroup) -> list[str]:
    """``What holds NAME`` and the path from a root, one edge per line."""
    if not group.path:
        return [f"{group.name}: no retainer path from a root (held only by weak references?)"]
    lines = [f"What holds {group.name} (shortest path from a root, distance {group.distance}):"]
    lines.append("  (root)")
    lines += [f"  {'  ' * i}{step.format()}" for i, step in enumerate(group.path)]
    return lines
