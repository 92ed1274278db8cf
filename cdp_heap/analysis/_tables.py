"""Plain-text tables of the Summary view and of a class's objects (DevTools' columns)."""

from __future__ import annotations

from collections.abc import Sequence

from ._render import format_size
from ._view import ClassSummary, ObjectSummary

_NAME_WIDTH = 48


def _short(name: str) -> str:
    name = name.replace("\n", " ")
    return name if len(name) <= _NAME_WIDTH else name[: _NAME_WIDTH - 1] + "…"


def _percent(part: int, total: int) -> str:
    return f"{100 * part / total:.0f} %" if total else ""


def summary_table(rows: Sequence[ClassSummary], total: int) -> str:
    """DevTools' Summary columns: Constructor, Distance, Count, Shallow and Retained Size
    (each with its share of the heap's total, as DevTools shows)."""
    header = ["Constructor", "Distance", "Count", "Shallow Size", "", "Retained Size", ""]
    body = [
        [
            _short(row.name),
            _distance(row.distance),
            str(row.count),
            format_size(row.self_size),
            _percent(row.self_size, total),
            format_size(row.retained_size),
            _percent(row.retained_size, total),
        ]
        for row in rows
    ]
    return align([header, *body])


def objects_table(objects: Sequence[ObjectSummary]) -> str:
    header = ["Object", "Id", "Distance", "Shallow Size", "Retained Size"]
    body = [
        [
            _short(obj.name),
            f"@{obj.id}",
            _distance(obj.distance),
            format_size(obj.self_size),
            format_size(obj.retained_size),
        ]
        for obj in objects
    ]
    return align([header, *body])


def _distance(distance: int) -> str:
    """As DevTools: unreachable is a dash; reached only through system roots, a dash too."""
    return "-" if distance < 0 or distance >= 100_000_000 else str(distance)


def align(table: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines = []
    for row in table:
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
