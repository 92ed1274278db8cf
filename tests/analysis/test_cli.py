"""``cdp-heap diff`` and ``cdp-heap leak`` end to end: output, exit codes, HTML in Chromium,
and a live leak hunt on a real Node process."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from cdp_heap.cli import main
from tests.analysis.conftest import FREED, LEAKED, LEAKY, Pair
from tests.targets import CHROMIUM_FLAGS, LEAKY_APP, Target, start_node

JSON_KEYS = {
    "name",
    "key",
    "count",
    "self_size",
    "new",
    "deleted",
    "delta",
    "alloc_size",
    "freed_size",
    "size_delta",
    "retained_size",
}


def test_diff_json_is_the_documented_format(pair: Pair, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diff", str(pair.base), str(pair.target), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert set(document) == {"base", "target", "classes"}
    assert (document["base"], document["target"]) == (str(pair.base), str(pair.target))
    assert all(set(row) == JSON_KEYS for row in document["classes"])
    first = document["classes"][0]
    assert (first["name"], first["new"], first["deleted"]) == ("GroundTruthLeak", LEAKED, 0)
    freed = next(r for r in document["classes"] if r["name"] == "GroundTruthFreed")
    assert (freed["delta"], freed["count"]) == (-FREED, 0)


def test_diff_json_top_and_sort(pair: Pair, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            ["diff", str(pair.base), str(pair.target), "--json", "--top", "2", "--sort", "deleted"]
        )
        == 0
    )
    rows = json.loads(capsys.readouterr().out)["classes"]
    assert len(rows) == 2 and rows[0]["name"] == "GroundTruthFreed"


def test_diff_table(pair: Pair, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diff", str(pair.base), str(pair.target), "--top", "3"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("Constructor"))
    assert "# New" in header and "Size Delta" in header
    leak_line = next(line for line in lines if line.startswith("GroundTruthLeak"))
    assert f"+{LEAKED}" in leak_line
    assert len(header) == len(leak_line.rstrip()) or len(leak_line) <= len(header)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cdp_heap", *args], capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("content", ["", "{not json", '{"snapshot":{"meta":{}}, "nodes":[1,2'])
def test_bad_file_is_one_error_line_and_exit_1(pair: Pair, tmp_path: Path, content: str) -> None:
    bad = tmp_path / "bad.heapsnapshot"
    bad.write_text(content)
    result = run_cli("diff", str(pair.base), str(bad))
    assert result.returncode == 1
    assert result.stderr.startswith("cdp-heap: error: ") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_missing_file_exit_1(tmp_path: Path) -> None:
    result = run_cli("diff", str(tmp_path / "nope"), str(tmp_path / "nope2"))
    assert result.returncode == 1 and "No such file" in result.stderr


def test_incomparable_pair_exit_1(reset_pair: Pair) -> None:
    result = run_cli("diff", str(reset_pair.base), str(reset_pair.target))
    assert result.returncode == 1
    assert "cannot be compared" in result.stderr and "one session" in result.stderr


def test_help_explains_with_an_example() -> None:
    for command, needle in (("diff", "cdp-heap diff app-1"), ("leak", "--fail-on-growth")):
        result = run_cli(command, "--help")
        assert result.returncode == 0 and needle in result.stdout
        assert "one" in result.stdout and "session" in result.stdout


def test_leak_files_fail_on_growth(triple: list[Path], capsys: pytest.CaptureFixture[str]) -> None:
    files = [str(p) for p in triple]
    assert main(["leak", "--files", *files, "--fail-on-growth", str(LEAKY)]) == 0
    assert "LeakyThing" in capsys.readouterr().out
    assert main(["leak", "--files", *files, "--fail-on-growth", str(LEAKY - 1)]) == 1
    assert "LeakyThing (+1000)" in capsys.readouterr().err


def test_leak_json(triple: list[Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["leak", "--files", *map(str, triple), "--json", "--top", "3"]) == 0
    document = json.loads(capsys.readouterr().out)
    leaky = next(g for g in document["groups"] if g["name"] == "LeakyThing")
    assert leaky["count"] == LEAKY
    assert any(step["edge"] == "leakyCache" for step in leaky["retainer_path"])


@pytest.mark.chromium
def test_html_report_renders_in_chromium(triple: list[Path], tmp_path: Path) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    report = tmp_path / "report.html"
    assert main(["leak", "--files", *map(str, triple), "--html", str(report)]) == 0
    with tempfile.TemporaryDirectory() as profile:
        flags = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}"]
        dom = subprocess.run(
            [*flags, "--dump-dom", report.as_uri()], capture_output=True, text=True, timeout=120
        )
        shot = tmp_path / "report.png"
        subprocess.run(
            [*flags, f"--screenshot={shot}", "--window-size=1200,900", report.as_uri()],
            capture_output=True,
            timeout=120,
            check=True,
        )
    assert '<table id="leaks">' in dom.stdout and "<td>LeakyThing</td>" in dom.stdout
    assert '<table id="comparison">' in dom.stdout and "<svg" in dom.stdout
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000


@pytest.fixture
def leaking_app() -> Target:
    target = start_node(str(LEAKY_APP), "--leak-per-second", "400", ready=b" ready")
    yield target  # type: ignore[misc]
    target.kill()


def test_live_leak_in_one_session(
    leaking_app: Target, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    html = tmp_path / "leak.html"
    code = main(
        [
            "leak",
            "--port",
            str(leaking_app.port),
            "--interval",
            "0.5",
            "--gc",
            "-o",
            str(tmp_path / "snaps"),
            "--html",
            str(html),
            "--fail-on-growth",
            "10",
            "--timeout",
            "120",
        ]
    )
    captured = capsys.readouterr()
    assert code == 1  # RequestContext grows by ~200 per interval
    assert "RequestContext" in captured.err
    assert "What holds RequestContext" in captured.out and "Map" in captured.out
    assert sorted(p.name for p in (tmp_path / "snaps").iterdir()) == [
        "leak-1.heapsnapshot",
        "leak-2.heapsnapshot",
        "leak-3.heapsnapshot",
    ]
    # Taken in one session, so the snapshots are comparable object by object.
    assert (
        main(
            [
                "diff",
                str(tmp_path / "snaps" / "leak-1.heapsnapshot"),
                str(tmp_path / "snaps" / "leak-3.heapsnapshot"),
                "--json",
            ]
        )
        == 0
    )
    rows = json.loads(capsys.readouterr().out)["classes"]
    ctx = next(r for r in rows if r["name"] == "RequestContext")
    assert ctx["new"] > 0 and ctx["deleted"] == 0
    assert '<table id="leaks">' in html.read_text()


def test_exercise_command_failure_is_reported(leaking_app: Target, tmp_path: Path) -> None:
    result = run_cli(
        "leak", "--port", str(leaking_app.port), "--exercise", "exit 3", "--timeout", "60"
    )
    assert result.returncode == 1
    assert "exercise" in result.stderr and "status 3" in result.stderr
