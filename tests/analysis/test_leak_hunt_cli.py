"""``cdp-heap leak`` and ``cdp-heap diff`` as a user runs them on the leak-hunt apps: refused
inputs, routes and collections in the outputs, --sort, the quiet diff, and the --help examples."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from cdp_heap import analysis
from cdp_heap.analysis import ClassDiff, quiet_rows
from cdp_heap.cli import _diff, _leak, main

Hunt = Callable[[str], list[Path]]


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cdp_heap", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def test_two_files_and_two_snapshots_are_refused_alike(hunt: Hunt) -> None:
    two = [str(p) for p in hunt("routes")[:2]]
    by_files = run_cli("leak", "--files", *two)
    by_count = run_cli("leak", "--snapshots", "2", "--port", "1")
    for result, option in ((by_files, "--files"), (by_count, "--snapshots")):
        assert result.returncode == 2, result.stderr
        assert f"{option}: the leak set needs at least 3 snapshots of one session" in result.stderr
        assert "got 2" in result.stderr and "cdp-heap diff" in result.stderr


def test_out_of_order_files_exit_1_with_the_reason(hunt: Hunt) -> None:
    s1, s2, s3 = (str(p) for p in hunt("routes"))
    result = run_cli("leak", "--files", s3, s2, s1)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "give the snapshots oldest first" in result.stderr
    assert result.stdout == ""


def test_two_sessions_exit_1(hunt: Hunt) -> None:
    result = run_cli("leak", "--files", *map(str, hunt("sessions")))
    assert result.returncode == 1 and "cannot be compared" in result.stderr


def test_json_has_routes_collections_and_strings(
    hunt: Hunt, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["leak", "--files", *map(str, hunt("routes")), "--json", "--routes", "2"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["sort"] == "retained"
    leaky = document["groups"][0]
    assert leaky["name"] == "Leaky"
    assert [route["count"] for route in leaky["routes"]] == [300, 200]
    assert (leaky["more_routes"], leaky["more_routes_count"]) == (1, 100)
    assert set(leaky["routes"][0]) == {
        "count",
        "self_size",
        "retained_size",
        "shape",
        "retainer_path",
    }
    collections = {c["retainer_path"][-1]["edge"]: c["counts"] for c in document["collections"]}
    assert collections["leakyArray"] == [0, 300, 600]
    assert all(
        set(d) == {"text", "count", "self_size", "wasted"} for d in document["duplicated_strings"]
    )


def test_sort_count_and_shallow(hunt: Hunt, capsys: pytest.CaptureFixture[str]) -> None:
    files = [str(p) for p in hunt("ties")]
    assert main(["leak", "--files", *files, "--sort", "count", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    counts = [g["count"] for g in document["groups"]]
    assert document["sort"] == "count" and counts == sorted(counts, reverse=True)
    names = [g["name"] for g in document["groups"]]
    assert names.index("ZzBig") < names.index("AaSmall")  # a tie: the costlier first
    assert main(["leak", "--files", *files, "--top", "1"]) == 0
    out = capsys.readouterr().out
    assert "Ranked by retained size:" in out and "What holds ZzBig: 1 route" in out


def test_html_report_has_every_part(hunt: Hunt, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    assert main(["leak", "--files", *map(str, hunt("routes")), "--html", str(page)]) == 0
    html = page.read_text()
    for part in ('id="leaks"', 'class="routes"', 'id="collections"', 'id="duplicates"'):
        assert part in html
    assert "3 routes" in html and "leakyMap" in html
    # The comparison leaves out the classes that only churned, and says so.
    assert re.search(r"\d+ classes grew, \d+ shrank; hidden: \d+ that churned", html)


def test_quiet_rows_split() -> None:
    def row(name: str, new: int, deleted: int, size_delta: int) -> ClassDiff:
        return ClassDiff(
            name=name,
            key=name,
            count=10,
            self_size=100,
            new=new,
            deleted=deleted,
            delta=new - deleted,
            alloc_size=0,
            freed_size=0,
            size_delta=size_delta,
        )

    rows = [
        row("Grew", 5, 1, 40),
        row("Shrank", 0, 3, -30),
        row("Churned", 4, 4, 0),
        row("Resized", 2, 2, 16),  # same count, other sizes: a real change
        row("Still", 0, 0, 0),
    ]
    quiet = quiet_rows(rows)
    assert [r.name for r in quiet.shown] == ["Grew", "Shrank", "Resized"]
    assert (quiet.grown, quiet.shrunk, quiet.churned, quiet.unchanged) == (2, 1, 1, 1)


def test_diff_hides_churn_and_counts_it(hunt: Hunt, capsys: pytest.CaptureFixture[str]) -> None:
    s1, s2 = (str(p) for p in hunt("routes")[:2])
    comparison = analysis.compare_files(s1, s2)
    quiet = quiet_rows(comparison.sorted())
    assert quiet.churned > 0  # Node's native objects get new ids in every snapshot
    assert main(["diff", s1, s2]) == 0
    out = capsys.readouterr().out
    assert f"{quiet.grown} classes grew, {quiet.shrunk} shrank, {quiet.churned} churned" in out
    hidden = quiet.churned + quiet.unchanged
    assert f"{hidden} classes that churned or did not change are hidden (--all)" in out
    churned = [
        r.name for r in comparison.classes if r.new and r.new == r.deleted and not r.size_delta
    ]
    table = out.split("\n\n", 1)[1]
    assert not any(line.startswith(name + " ") for name in churned for line in table.splitlines())
    assert main(["diff", s1, s2, "--all", "--top", "1000"]) == 0
    everything = capsys.readouterr().out
    assert all(re.search(rf"^{re.escape(n)} ", everything, re.M) for n in churned)


def test_sort_choices_match_the_analysis() -> None:
    assert _leak.LEAK_SORT_KEYS == analysis.LEAK_SORT_KEYS
    assert _diff.SORT_KEYS == analysis.SORT_KEYS


def test_help_examples_paste_and_run(hunt: Hunt, tmp_path: Path) -> None:
    help_text = run_cli("leak", "--help").stdout
    examples = [
        line.strip()
        for line in help_text.splitlines()
        if line.strip().startswith("cdp-heap leak --files")
    ]
    assert len(examples) >= 3
    for i, path in enumerate(hunt("routes"), start=1):
        (tmp_path / f"s{i}.heapsnapshot").symlink_to(path)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    for example in examples:
        result = subprocess.run(
            ["bash", "-o", "pipefail", "-c", example],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
        assert result.returncode == 0, (example, result.stderr)
        assert "Leaky" in result.stdout or '"count": 300' in result.stdout, example


def test_summary_duplicates(hunt: Hunt, capsys: pytest.CaptureFixture[str]) -> None:
    last = str(hunt("strings")[-1])
    assert main(["summary", last, "--duplicates", "--top", "2", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    top = document["duplicated_strings"][0]
    # 777 copies and the template's flat string (see apps/leak_hunt.js).
    assert (top["text"], top["count"], top["wasted"]) == ("duplicated-" + "x" * 49, 778, 777 * 80)
    assert len(document["duplicated_strings"]) == 2
    assert main(["summary", last, "--duplicates", "--top", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1].startswith("'duplicated-xxx") and " 778 " in lines[-1]
