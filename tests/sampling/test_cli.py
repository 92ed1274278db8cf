"""``cdp-heap sample`` and ``cdp-heap track`` as a user runs them: a subprocess, real Node."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trio

from cdp_heap import open_cdp, open_sampling
from tests.targets import ROOT, Target, _read_until, interruptible

from .helpers import (
    WIDGETS_JS,
    is_sampling,
    read_count,
    start_script,
    trace_function_names,
    wait_for_calls,
    wait_for_count,
)

TIMEOUT = 30


@pytest.fixture
def busy(node: Callable[..., Target], tmp_path: Path) -> Target:
    """The widgets script, allocating from allocateWidgets every 10 ms."""
    return start_script(node, tmp_path, "widgets.js", WIDGETS_JS, "--busy")


def cdp_heap_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cdp_heap", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


@pytest.fixture
def started() -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start the CLI in the background; killed at the end if still running."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(*args: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cdp_heap", *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            preexec_fn=interruptible,
        )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_sample_saves_profile_and_prints_top_sites(busy: Target, tmp_path: Path) -> None:
    out = tmp_path / "w.heapprofile"
    result = cdp_heap_cli(
        "sample", "--url", busy.ws_url, "--duration", "0.5", "--interval", "4096",
        "-o", str(out), "--top", "5",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["self", "size", "%", "function", "location"]
    assert lines[1].split()[3] == "allocateWidgets", result.stdout
    assert re.search(r"widgets\.js:\d+:\d+$", lines[1])
    assert lines[-1].split()[-1] == "total"
    # Aligned: every row's function column starts where the header's does.
    column = lines[0].index("function")
    assert all(line[column - 2 : column] == "  " for line in lines[1:-1])
    assert f"saved {out}" in result.stderr
    profile = json.loads(out.read_text())
    assert set(profile) == {"head", "samples"} and profile["samples"]


def test_sigint_ends_sampling_early_and_saves(
    busy: Target, tmp_path: Path, started: Callable[..., subprocess.Popen[bytes]]
) -> None:
    out = tmp_path / "w.heapprofile"
    proc = started("sample", "--url", busy.ws_url, "--duration", "120", "-o", str(out))
    _read_until(proc, re.compile(rb"Ctrl-C stops early"), TIMEOUT)
    assert trio.run(is_sampling, busy.ws_url)
    trio.run(wait_for_calls, busy.ws_url, 20)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, stderr
    assert b"(interrupted)" in stderr and b"Traceback" not in stderr
    assert b"allocateWidgets" in stdout
    assert json.loads(out.read_text())["head"]
    assert not trio.run(is_sampling, busy.ws_url)


def test_track_saves_snapshot_with_traces(busy: Target, tmp_path: Path) -> None:
    out = tmp_path / "t.heapsnapshot"
    result = cdp_heap_cli("track", "--url", busy.ws_url, "--duration", "0.5", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(out)
    assert "tracking stopped: heap" in result.stderr
    assert "allocateWidgets" in trace_function_names(json.loads(out.read_text()))


def test_sigint_ends_tracking_early_and_saves(
    node: Callable[..., Target],
    tmp_path: Path,
    started: Callable[..., subprocess.Popen[bytes]],
) -> None:
    out = tmp_path / "t.heapsnapshot"
    progress = tmp_path / "calls"
    target = start_script(node, tmp_path, "w.js", WIDGETS_JS, "--busy", "--progress", str(progress))
    proc = started("track", "--url", target.ws_url, "-o", str(out))  # until Ctrl-C
    _read_until(proc, re.compile(rb"Ctrl-C stops early"), TIMEOUT)
    # Allocations while tracking; a second inspector session would stop V8's tracker.
    trio.run(wait_for_count, progress, read_count(progress) + 3)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, stderr
    assert b"(interrupted)" in stderr
    assert stdout.decode().strip() == str(out)
    assert "allocateWidgets" in trace_function_names(json.loads(out.read_text()))
    assert b"no allocation stacks" not in stderr


def test_second_client_sampling_is_a_clear_error(busy: Target, tmp_path: Path) -> None:
    out = tmp_path / "x.heapprofile"

    async def while_sampling() -> subprocess.CompletedProcess[str]:
        async with open_cdp(busy.ws_url) as conn, open_sampling(conn):
            return await trio.to_thread.run_sync(
                lambda: cdp_heap_cli("sample", "--url", busy.ws_url, "-o", str(out))
            )

    result = trio.run(while_sampling)
    assert result.returncode == 1
    assert result.stderr.startswith("cdp-heap: error: the target's sampling heap profiler")
    assert "already running" in result.stderr and "Traceback" not in result.stderr
    assert not out.exists()


@pytest.mark.parametrize("command", ["sample", "track"])
def test_unreachable_target_exits_1_without_traceback(command: str, tmp_path: Path) -> None:
    result = cdp_heap_cli(command, "--port", "1", "--duration", "1", "-o", str(tmp_path / "x"))
    assert result.returncode == 1
    assert result.stderr.startswith("cdp-heap: error:") and "Traceback" not in result.stderr


@pytest.mark.parametrize("command", ["sample", "track"])
def test_usage_errors_exit_2(command: str, tmp_path: Path) -> None:
    missing = cdp_heap_cli(command, "--duration", "1", "-o", str(tmp_path / "no" / "x"))
    assert missing.returncode == 1 and "the directory does not exist" in missing.stderr
    negative = cdp_heap_cli(command, "--duration", "-1")
    assert negative.returncode == 2


def test_target_exiting_mid_sampling_exits_1(
    busy: Target, tmp_path: Path, started: Callable[..., subprocess.Popen[bytes]]
) -> None:
    out = tmp_path / "w.heapprofile"
    proc = started("sample", "--url", busy.ws_url, "--duration", "120", "-o", str(out))
    _read_until(proc, re.compile(rb"Ctrl-C stops early"), TIMEOUT)
    busy.kill()
    _, stderr = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 1
    assert stderr.decode().splitlines()[-1].startswith("cdp-heap: error: the target went away")
    assert b"Traceback" not in stderr
    assert not out.exists()


def test_help_has_examples() -> None:
    for command in ("sample", "track"):
        result = cdp_heap_cli(command, "--help")
        assert result.returncode == 0
        assert f"cdp-heap {command} --port 9229 --duration" in result.stdout


async def test_profile_file_loads_back(busy: Target, tmp_path: Path) -> None:
    """What the CLI writes is what the library reads (and what DevTools loads)."""
    from cdp_heap import load_profile

    out = tmp_path / "w.heapprofile"
    result = await trio.to_thread.run_sync(
        lambda: cdp_heap_cli("sample", "--url", busy.ws_url, "--duration", "0.3", "-o", str(out))
    )
    assert result.returncode == 0, result.stderr
    profile = load_profile(out)
    assert profile.head.call_frame.function_name == "(root)"
    assert any(site.name == "allocateWidgets" for site in profile.top_sites(3))
