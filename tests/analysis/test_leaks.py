"""The three-snapshot leak set and its report, on real Node snapshots."""

from __future__ import annotations

from pathlib import Path

import pytest

from cdp_heap.analysis import find_leaks, leak_html, leak_text
from tests.analysis.conftest import LEAKY


@pytest.fixture(scope="module")
def report(triple: list[Path]):  # type: ignore[no-untyped-def]
    return find_leaks(triple)


def test_leak_set_is_what_survived(report) -> None:  # type: ignore[no-untyped-def]
    groups = {group.name: group for group in report.groups}
    leaky = groups["LeakyThing"]
    # Allocated between snapshots 1 and 2 and alive in 3: exactly the first round.
    assert leaky.count == LEAKY
    assert leaky.counts == (0, LEAKY, 2 * LEAKY)
    assert "TransientThing" not in groups  # made between 1 and 2, gone by 3
    assert groups["(string)"].count >= LEAKY  # the Map keys 'k0'...'k999'
    assert leaky.self_size > 0 and leaky.retained_size == leaky.self_size


def test_retainer_path_shows_what_holds_the_leak(report) -> None:  # type: ignore[no-untyped-def]
    leaky = next(g for g in report.groups if g.name == "LeakyThing")
    edges = [step.edge for step in leaky.path]
    classes = [step.node_class for step in leaky.path]
    assert "leakyCache" in edges
    assert classes[-1] == "LeakyThing" and "Map" in classes
    assert all(step.edge_type != "weak" for step in leaky.path)
    assert leaky.distance == len(leaky.path)
    text = leak_text(report)
    assert "What holds LeakyThing" in text and "--[leakyCache]--> Map" in text


def test_html_report_is_self_contained(report, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    html = leak_html(report)
    assert '<table id="leaks">' in html and '<table id="comparison">' in html
    assert "<svg" in html and "leakyCache" in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "<script" not in html


def test_two_snapshots_are_refused(triple: list[Path]) -> None:
    # Two snapshots would call everything new in the second "leaked": not a leak set.
    with pytest.raises(ValueError, match="at least 3 snapshots"):
        find_leaks(triple[:2], retained=False)
