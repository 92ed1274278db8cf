"""One self-contained HTML file for a leak report: no script, no network, opens anywhere.

Sections: the leak set ranked by class with a small inline-SVG bar chart of each class's object
count across the snapshots (and the strings and numbers folded under it), every retainer route
of each top class with its count and retained size and the full path to one object, the growing
collections, the duplicated strings, and the Comparison table of the first and last snapshot
without the classes that did not change (equal new and deleted counts of the same size: the
churn of V8's native objects). Every string from the snapshot is HTML-escaped (object and
property names are program data).
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from ._changes import quiet_rows
from ._compare import ClassDiff
from ._leaks import LeakGroup, LeakReport
from ._render import DIFF_COLUMNS, format_cell, format_size, path_shape

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}
table{border-collapse:collapse;margin:8px 0}
th,td{padding:3px 10px;border-bottom:1px solid #ddd;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left}
th{background:#f3f3f3}
.path{font:12px/1.5 ui-monospace,monospace;background:#f8f8f8;padding:8px;margin:4px 0 16px}
.grow{fill:#c0392b}.flat{fill:#7f8c8d}.label{font:10px sans-serif;fill:#333}
.meta{color:#666}
td.text{text-align:left;white-space:normal;font:12px ui-monospace,monospace}
th.text{text-align:left}
"""


def leak_html(report: LeakReport, *, top: int = 10, comparison_rows: int = 30) -> str:
    """The whole report page."""
    groups = report.groups[:top]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>cdp-heap leak report</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>cdp-heap leak report</h1>",
        '<p class="meta">Snapshots: '
        + ", ".join(f"{i + 1}. {escape(p)}" for i, p in enumerate(report.snapshots))
        + "</p>",
        f"<p><strong>{report.leaked_objects}</strong> objects were allocated between snapshot 1 "
        f"and 2 and still exist in snapshot {len(report.snapshots)} (the leak set).</p>",
        f"<h2>Leak set by class, ranked by {_SORTS[report.sort]}</h2>",
        _leak_table(groups, len(report.snapshots)),
        "<h2>What holds the leaked objects: every route</h2>",
        *(_routes_block(group) for group in groups if group.path),
        *_collections_section(report),
        *_duplicates_section(report),
        *_comparison_section(report, comparison_rows),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


_SORTS = {"retained": "retained size", "count": "leaked objects", "shallow": "self size"}


def _leak_table(groups: Sequence[LeakGroup], snapshots: int) -> str:
    if not groups:
        return "<p>No leaked objects.</p>"
    head = (
        "<tr><th>Constructor</th><th>Leaked</th><th>Self size</th><th>Retained</th>"
        f"<th>Count in snapshots 1-{snapshots}</th><th>Growth</th><th class='text'>Holds</th></tr>"
    )
    rows = []
    for group in groups:
        retained = "" if group.retained_size is None else format_size(group.retained_size)
        rows.append(
            f"<tr><td>{escape(group.name)}</td><td>{group.count}</td>"
            f"<td>{format_size(group.self_size)}</td><td>{retained}</td>"
            f"<td>{' → '.join(str(c) for c in group.counts)}</td>"
            f"<td>{growth_svg(group.counts)}</td>"
            f'<td class="text">{escape(", ".join(f"{h.count} {h.name}" for h in group.holds))}</td>'
            "</tr>"
        )
    return f'<table id="leaks">{head}{"".join(rows)}</table>'


def growth_svg(counts: Sequence[int], width: int = 160, height: int = 44) -> str:
    """A bar per snapshot, scaled to the class's largest count; red when the count grew."""
    if not counts:
        return ""
    peak = max(max(counts), 1)
    gap = 4
    bar = (width - gap * (len(counts) + 1)) / len(counts)
    shapes = []
    for i, count in enumerate(counts):
        h = (height - 14) * count / peak
        x = gap + i * (bar + gap)
        grew = i > 0 and count > counts[i - 1]
        shapes.append(
            f'<rect class="{"grow" if grew else "flat"}" x="{x:.1f}" y="{height - 12 - h:.1f}"'
            f' width="{bar:.1f}" height="{h:.1f}"><title>snapshot {i + 1}: {count}</title></rect>'
            f'<text class="label" x="{x + bar / 2:.1f}" y="{height - 2}" text-anchor="middle">'
            f"{i + 1}</text>"
        )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="count per snapshot">{"".join(shapes)}</svg>'
    )


def _routes_block(group: LeakGroup) -> str:
    rows = "".join(
        f"<tr><td>{route.count}</td>"
        f"<td>{'' if route.retained_size is None else format_size(route.retained_size)}</td>"
        f'<td class="text">{escape(route.shape)}</td></tr>'
        for route in group.routes
    )
    more = ""
    if group.more_routes:
        more = (
            f'<p class="meta">{group.more_routes} more routes hold '
            f"{group.more_routes_count} objects (--routes N).</p>"
        )
    example = group.routes[0].path if group.routes else group.path
    lines = ["(root)"] + [
        "&nbsp;&nbsp;" * i + escape(step.format()) for i, step in enumerate(example)
    ]
    count = len(group.routes) + group.more_routes
    return (
        f'<h3>{escape(group.name)} <span class="meta">({group.count} leaked, '
        f"{count} route{'s' if count != 1 else ''})</span></h3>"
        '<table class="routes"><tr><th>Objects</th><th>Retained</th>'
        '<th class="text">Route</th></tr>'
        f"{rows}</table>{more}"
        '<p class="meta">The first route, to one object (node ids as in DevTools):</p>'
        f'<div class="path">{"<br>".join(lines)}</div>'
    )


def _collections_section(report: LeakReport) -> list[str]:
    if not report.collections:
        return []
    rows = "".join(
        f"<tr><td>{escape(c.name)} @{c.node_id}</td>"
        f"<td>{' → '.join(str(n) for n in c.counts)}</td>"
        f"<td>{'' if c.retained_size is None else format_size(c.retained_size)}</td>"
        f"<td>{growth_svg(c.counts)}</td>"
        f'<td class="text">{escape(path_shape(c.path))}</td></tr>'
        for c in report.collections
    )
    return [
        "<h2>Growing collections</h2>",
        '<p class="meta">Objects whose element count rose from every snapshot to the next '
        "(matched by object id).</p>",
        '<table id="collections"><tr><th>Collection</th><th>Elements per snapshot</th>'
        f"<th>Retained</th><th>Growth</th><th class='text'>Held by</th></tr>{rows}</table>",
    ]


def _duplicates_section(report: LeakReport) -> list[str]:
    if not report.duplicates:
        return []
    rows = "".join(
        f'<tr><td class="text">{escape(repr(d.text))}</td><td>{d.count}</td>'
        f"<td>{format_size(d.self_size)}</td><td>{format_size(d.wasted)}</td></tr>"
        for d in report.duplicates
    )
    return [
        f"<h2>Duplicated strings in snapshot {len(report.snapshots)}</h2>",
        '<table id="duplicates"><tr><th class="text">String</th><th>Copies</th><th>Total size</th>'
        f"<th>Wasted</th></tr>{rows}</table>",
    ]


def _comparison_section(report: LeakReport, comparison_rows: int) -> list[str]:
    quiet = quiet_rows(report.comparison.sorted("delta"))
    hidden = (
        f"{quiet.grown} classes grew, {quiet.shrunk} shrank; hidden: {quiet.churned} that "
        f"churned (as many new as deleted, same size) and {quiet.unchanged} unchanged."
    )
    return [
        f"<h2>Comparison: snapshot 1 → snapshot {len(report.snapshots)}</h2>",
        f'<p class="meta">{hidden}</p>',
        _diff_table(quiet.shown[:comparison_rows]),
    ]


def _diff_table(rows: Sequence[ClassDiff]) -> str:
    head = (
        "<tr><th>Constructor</th>"
        + "".join(f"<th>{escape(title)}</th>" for _, title in DIFF_COLUMNS)
        + "</tr>"
    )
    body = "".join(
        f"<tr><td>{escape(row.name)}</td>"
        + "".join(
            f"<td>{escape(format_cell(key, getattr(row, key)))}</td>" for key, _ in DIFF_COLUMNS
        )
        + "</tr>"
        for row in rows
    )
    return f'<table id="comparison">{head}{body}</table>'
