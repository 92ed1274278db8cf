"""Small things users notice: --version, global flags after the command, the progress
line's rate, "1 sample", help examples that paste as they read."""

from __future__ import annotations

import io
import re

import pytest

from cdp_heap import CaptureProgress
from cdp_heap.cli import COMMAND_MODULES
from cdp_heap.cli._progress import CaptureProgressBar, plural

from .cases import expect
from .helpers import run_cli


def test_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"cdp-heap \d+\.\d+\.\d+\S*\n", result.stdout)


@pytest.mark.parametrize("command", ["snapshot", "targets", "diff"])
def test_debug_is_accepted_after_the_command(command: str) -> None:
    args = ["a", "b"] if command == "diff" else ["--port", "9"]
    result = run_cli(command, *args, "--debug")
    assert result.returncode == 1, result.stderr  # the operation failed, not a usage error
    assert "Traceback" in result.stderr  # --debug took effect


def test_debug_before_the_command_still_works() -> None:
    result = run_cli("--debug", "targets", "--port", "9")
    assert result.returncode == 1 and "Traceback" in result.stderr


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_write_rate_leaves_out_the_graph_building_time() -> None:
    now = [0.0]
    screen = Terminal()
    bar = CaptureProgressBar("app:", screen, clock=lambda: now[0])
    bar.update(CaptureProgress(phase="building", done=1, total=2, bytes_written=0))
    now[0] = 30.0  # V8 builds the graph for 30 s
    bar.update(CaptureProgress(phase="building", done=2, total=2, bytes_written=0))
    now[0] = 31.0  # then 10 MB arrive in 1 s
    bar.update(CaptureProgress(phase="writing", done=2, total=2, bytes_written=10_000_000))
    assert screen.getvalue().endswith("app: writing 10.0 MB at 10.0 MB/s")
    now[0] = 32.0  # and 10 MB more in the next second
    bar.update(CaptureProgress(phase="writing", done=2, total=2, bytes_written=20_000_000))
    assert screen.getvalue().endswith("app: writing 20.0 MB at 10.0 MB/s")


def test_plural() -> None:
    assert plural(1, "sample") == "1 sample"
    assert [plural(n, "sample") for n in (0, 2, 1234)] == [
        "0 samples",
        "2 samples",
        "1,234 samples",
    ]


@pytest.mark.parametrize("command", COMMAND_MODULES)
def test_help_examples_continue_with_a_backslash(command: str) -> None:
    """A command split over lines pastes into a shell only if each line but the last ends
    with a backslash; indented comment lines (``# writes ...``) are not commands."""
    result = run_cli(command, "--help")
    assert result.returncode == 0
    if "\nexamples:\n" not in result.stdout:
        pytest.skip(f"{command} --help has no examples section")
    section = result.stdout.split("\nexamples:\n", 1)[1].split("\n\n", 1)[0]
    previous = ""
    for line in section.splitlines():
        continuation = line.startswith("    ") and not line.strip().startswith("#")
        if continuation:
            assert previous.endswith("\\"), f"{previous!r} continues without a backslash"
        previous = line.rstrip()


def test_usage_errors() -> None:
    result = run_cli("snapshot", "--bogus")
    expect(result, "usage", PROG="cdp-heap", WHAT="unrecognized arguments: --bogus")
    result = run_cli("diff", "a", "b", "--top", "0")
    expect(result, "usage", PROG="cdp-heap diff", WHAT="argument --top: must be > 0, got 0")
