"""SIGTERM (CI time-outs, ``docker stop``, ``systemctl stop``) is handled exactly like Ctrl-C:
the real CLI against a real Node, the signal sent mid-operation."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trio

from tests.sampling.helpers import WIDGETS_JS, is_sampling, start_script, wait_for_calls
from tests.targets import Target, start_leaky_app

from .cases import expect
from .helpers import (
    default_signals,
    finished,
    sigint_ignored,
    start_cli,
    wait_for_output,
    wait_until,
    writing_began,
)


@pytest.fixture(scope="module")
def big_app() -> Iterator[Target]:
    """A ~70 MB snapshot: seconds to stream, so there is time to signal mid-write."""
    target = start_leaky_app("--heap-mb", "20")
    yield target
    target.kill()


@pytest.fixture(scope="module")
def small_app() -> Iterator[Target]:
    """A few-MB snapshot: for tests that signal between captures, not during one."""
    target = start_leaky_app()
    yield target
    target.kill()


@pytest.fixture
def busy(node: Callable[..., Target], tmp_path: Path) -> Target:
    return start_script(node, tmp_path, "widgets.js", WIDGETS_JS, "--busy")


@pytest.mark.parametrize("preexec", [default_signals, sigint_ignored], ids=["", "sigint-ignored"])
def test_sigterm_mid_snapshot_leaves_nothing_and_exits_143(
    big_app: Target, tmp_path: Path, preexec: Callable[[], None]
) -> None:
    out = tmp_path / "term.heapsnapshot"
    proc = start_cli(
        "snapshot", "--url", big_app.ws_url, "-o", str(out), "--via", "stream", preexec=preexec
    )  # streaming's temporary file; the in-process path: tests/test_inprocess.py
    wait_until(
        lambda: writing_began(tmp_path),
        proc,
        "writing began",
    )
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=30)
    expect(finished(proc, stdout, stderr), "sigterm")
    # expect() checked the last line; under load a busy-target notice may come before it.
    assert "Traceback" not in stderr.decode() and stdout == b""
    assert list(tmp_path.iterdir()) == []  # neither the file nor its temporary


def test_ctrl_c_mid_snapshot_is_the_same_path(big_app: Target, tmp_path: Path) -> None:
    out = tmp_path / "int.heapsnapshot"
    proc = start_cli("snapshot", "--url", big_app.ws_url, "-o", str(out), "--via", "stream")
    wait_until(
        lambda: writing_began(tmp_path),
        proc,
        "writing began",
    )
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=30)
    expect(finished(proc, stdout, stderr), "sigint")
    assert list(tmp_path.iterdir()) == []


def test_sigterm_between_snapshots_of_a_series_keeps_the_saved_ones(
    small_app: Target, tmp_path: Path
) -> None:
    out = tmp_path / "s.heapsnapshot"
    proc = start_cli(
        "snapshot", "--url", small_app.ws_url, "--count", "3", "--interval", "600",
        "-o", str(out), "--no-progress",
    )  # fmt: skip
    first = tmp_path / "s-1.heapsnapshot"
    wait_for_output(proc, proc.stdout, str(first).encode())
    proc.send_signal(signal.SIGTERM)  # during the 600 s wait
    stdout, stderr = proc.communicate(timeout=30)
    expect(finished(proc, stdout, stderr), "sigterm")
    assert sorted(p.name for p in tmp_path.iterdir()) == [first.name]
    assert json.loads(first.read_bytes())["snapshot"]  # the saved one is kept, whole


def test_sigterm_mid_sample_stops_sampling_and_saves(busy: Target, tmp_path: Path) -> None:
    out = tmp_path / "w.heapprofile"
    proc = start_cli("sample", "--url", busy.ws_url, "-o", str(out))  # until a signal
    wait_for_output(proc, proc.stderr, rb"Ctrl-C stops early")
    trio.run(wait_for_calls, busy.ws_url, 20)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert b"(terminated)" in stderr and b"Traceback" not in stderr
    assert b"allocateWidgets" in stdout
    assert json.loads(out.read_text())["head"]
    assert not trio.run(is_sampling, busy.ws_url)  # the target is not left sampling


def test_sigterm_mid_track_saves_the_snapshot(busy: Target, tmp_path: Path) -> None:
    out = tmp_path / "t.heapsnapshot"
    proc = start_cli("track", "--url", busy.ws_url, "-o", str(out), "--no-stacks")
    wait_for_output(proc, proc.stderr, rb"Ctrl-C stops early")
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert b"tracking stopped (terminated)" in stderr
    assert stdout.decode().strip() == str(out)
    assert json.loads(out.read_text())["snapshot"]


def test_sigterm_mid_leak_removes_its_temporary_directory(
    small_app: Target, tmp_path: Path
) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    proc = start_cli(
        "leak", "--url", small_app.ws_url, "--interval", "600", env={"TMPDIR": str(tmp)}
    )
    wait_for_output(proc, proc.stderr, rb"snapshot 1/3")
    proc.send_signal(signal.SIGTERM)  # waiting for snapshot 2
    stdout, stderr = proc.communicate(timeout=30)
    expect(finished(proc, stdout, stderr), "sigterm")
    assert stdout == b""
    assert list(tmp.iterdir()) == []


def test_a_second_sigterm_while_track_saves_aborts_the_save(
    big_app: Target, tmp_path: Path
) -> None:
    out = tmp_path / "t.heapsnapshot"
    proc = start_cli("track", "--url", big_app.ws_url, "-o", str(out), "--no-stacks")
    wait_for_output(proc, proc.stderr, rb"Ctrl-C stops early")
    proc.send_signal(signal.SIGTERM)  # ends tracking: the final snapshot starts
    wait_until(
        lambda: writing_began(tmp_path),
        proc,
        "the final snapshot was being written",
    )
    proc.send_signal(signal.SIGTERM)  # and this one aborts it
    stdout, stderr = proc.communicate(timeout=30)
    expect(finished(proc, stdout, stderr), "sigterm")
    assert list(tmp_path.iterdir()) == []


#: Runs ``cdp-heap diff`` with the analysis replaced by one that signals its own process
#: (the signal arrives mid-command, deterministically), then spins: the handler must end
#: it; the loop is bounded so that a broken handler fails the test instead of hanging it.
_SIGNALLED_DIFF = """
import os, signal, sys
from cdp_heap import analysis, cli

def compare_files(*args, **kwargs):
    os.kill(os.getpid(), getattr(signal, sys.argv[1]))
    for _ in range(10**8):
        pass
    raise AssertionError("the signal did not end the command")

analysis.compare_files = compare_files
code = cli.main(["diff", sys.argv[2], sys.argv[2]])
assert "trio" not in sys.modules, "diff loaded trio"
sys.exit(code)
"""


@pytest.mark.parametrize(
    ("sent", "key", "start"),
    [
        ("SIGTERM", "sigterm", default_signals),
        ("SIGINT", "sigint", default_signals),
        ("SIGTERM", "sigterm", sigint_ignored),  # a background job: no SIGINT handler
    ],
)
def test_a_signal_mid_diff_ends_it_as_any_command(
    sent: str, key: str, start: Callable[[], None], tmp_path: Path
) -> None:
    """``diff`` runs without trio (``cli._run_offline``): SIGTERM and Ctrl-C still end it
    with 143 / 130 and one line."""
    import subprocess
    import sys

    from tests.analysis import builder

    nodes = [builder.Node("synthetic", "(root)", 1, 0), builder.Node("object", "A", 3, 16)]
    path = builder.write(tmp_path / "a.heapsnapshot", nodes)
    result = subprocess.run(
        [sys.executable, "-c", _SIGNALLED_DIFF, sent, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=start,
    )
    assert result.stdout == ""
    expect(result, key)
