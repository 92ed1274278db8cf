"""The cdp-heap command line, run as users run it: a subprocess, exit codes, stderr."""

from __future__ import annotations

import json
import os
import pty
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.failures.helpers import writing_began
from tests.targets import ROOT, Target, interruptible, start_leaky_app


def cdp_heap(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "cdp_heap", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def test_snapshot_prints_the_path_and_saves_a_snapshot(leaky_app: Target, tmp_path: Path) -> None:
    out = tmp_path / "app.heapsnapshot"
    result = cdp_heap("snapshot", "--port", str(leaky_app.port), "-o", str(out), "--gc")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(out)
    assert json.loads(out.read_text())["snapshot"]["node_count"] > 0
    assert "saved" in result.stderr and "\r" not in result.stderr  # no progress bar when not a tty


def test_snapshot_count_names_the_series(leaky_app: Target, tmp_path: Path) -> None:
    result = cdp_heap(
        "snapshot",
        "--url",
        leaky_app.ws_url,
        "-o",
        str(tmp_path / "s.heapsnapshot"),
        "--count",
        "2",
    )
    assert result.returncode == 0, result.stderr
    names = [Path(line).name for line in result.stdout.split()]
    assert names == ["s-1.heapsnapshot", "s-2.heapsnapshot"]
    assert sorted(p.name for p in tmp_path.iterdir()) == names


#: Blocks its JavaScript thread for 4 s, once it has said so.
BLOCKING_SCRIPT = """
setInterval(() => {}, 1000);
setTimeout(() => {
  console.error('blocking now');
  require('child_process').execSync('sleep 4');
}, 0);
"""


def test_a_busy_target_is_explained_while_the_cli_waits(
    node: Callable[..., Target], tmp_path: Path
) -> None:
    target = node(script=BLOCKING_SCRIPT, ready=b"blocking now")
    out = tmp_path / "busy.heapsnapshot"
    result = cdp_heap("snapshot", "--url", target.ws_url, "-o", str(out))
    assert result.returncode == 0, result.stderr
    notice, *rest = result.stderr.splitlines()
    assert notice.startswith("cdp-heap: the target has not answered for 2 s")
    assert "JavaScript thread is busy" in notice and "--timeout" in notice
    assert rest[0].startswith(f"saved {out}")
    assert json.loads(out.read_text())["snapshot"]["node_count"] > 0


def test_unreachable_target_is_one_line_exit_1() -> None:
    result = cdp_heap("snapshot", "--host", "127.0.0.1:9", "-o", "x.heapsnapshot")
    assert result.returncode == 1
    assert result.stderr.startswith("cdp-heap: error: cannot reach an inspector at 127.0.0.1:9")
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1


def test_unwritable_output_exits_1(leaky_app: Target, tmp_path: Path) -> None:
    result = cdp_heap(
        "snapshot", "--port", str(leaky_app.port), "-o", str(tmp_path / "no" / "such" / "x")
    )
    assert result.returncode == 1
    assert "directory does not exist; nothing was saved" in result.stderr
    assert "Traceback" not in result.stderr


def test_usage_errors_exit_2() -> None:
    both = cdp_heap("snapshot", "--pid", "1", "--port", "9229")
    assert both.returncode == 2 and "not allowed with argument" in both.stderr
    interval = cdp_heap("snapshot", "--interval", "5")
    assert (
        interval.returncode == 2 and "--interval only makes sense with --count" in interval.stderr
    )
    bad_host = cdp_heap("targets", "--host", "nohostport")
    assert bad_host.returncode == 2 and "--host wants HOST:PORT" in bad_host.stderr


def test_debug_shows_the_traceback() -> None:
    result = cdp_heap("--debug", "targets", "--host", "127.0.0.1:9")
    assert result.returncode == 1 and "Traceback" in result.stderr


def test_targets_json(leaky_app: Target) -> None:
    result = cdp_heap("targets", "--port", str(leaky_app.port), "--json")
    assert result.returncode == 0, result.stderr
    (entry,) = json.loads(result.stdout)
    assert entry["type"] == "node" and entry["webSocketDebuggerUrl"] == leaky_app.ws_url


def test_timeout_is_exit_1(leaky_app: Target, tmp_path: Path) -> None:
    # A stopped process accepts TCP connections (the kernel does) but never answers.
    os.kill(leaky_app.pid, signal.SIGSTOP)
    try:
        result = cdp_heap(
            "snapshot", "--url", leaky_app.ws_url, "-o", str(tmp_path / "x"), "--timeout", "2"
        )
    finally:
        os.kill(leaky_app.pid, signal.SIGCONT)
    assert result.returncode == 1 and "timed out after 2 s" in result.stderr
    assert list(tmp_path.iterdir()) == []


CLI = (sys.executable, "-m", "cdp_heap")


def test_ctrl_c_mid_snapshot_leaves_nothing_and_exits_130(tmp_path: Path) -> None:
    target = start_leaky_app("--heap-mb", "20")  # a ~70 MB snapshot: seconds to stream
    out = tmp_path / "app.heapsnapshot"
    try:
        proc = subprocess.Popen(
            # --via stream: the in-process path has its own test (test_inprocess.py).
            [*CLI, "snapshot", "--url", target.ws_url, "-o", str(out), "--via", "stream"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            preexec_fn=interruptible,
        )
        # Interrupt once chunks are being written: the temporary file has grown.
        deadline = time.monotonic() + 60
        while not writing_began(tmp_path):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the capture never started writing"
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        target.kill()
    assert proc.returncode == 130, stderr
    assert stderr.decode().strip() == "cdp-heap: interrupted" and stdout == b""
    assert list(tmp_path.iterdir()) == []  # neither the file nor its temporary


def test_help_explains_comparability() -> None:
    result = cdp_heap("snapshot", "--help")
    assert result.returncode == 0
    assert "--count N --interval S" in result.stdout and "object ids" in result.stdout.lower()


def test_progress_bar_on_a_terminal(leaky_app: Target, tmp_path: Path) -> None:
    # stderr is a pseudo-terminal, as in an interactive shell.
    controller, terminal = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = tmp_path / "tty.heapsnapshot"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cdp_heap",
            "snapshot",
            "--port",
            str(leaky_app.port),
            "-o",
            str(out),
            "--via",
            "stream",  # V8's progress events; the in-process bar is in test_inprocess.py
        ],
        stdout=subprocess.PIPE,
        stderr=terminal,
        env=env,
    )
    os.close(terminal)
    screen = bytearray()
    while True:
        try:
            data = os.read(controller, 65536)
        except OSError:  # EIO: the terminal's other end closed
            break
        if not data:
            break
        screen += data
    assert proc.wait(timeout=60) == 0
    os.close(controller)
    text = screen.decode(errors="replace")
    assert "building [" in text and "writing " in text and "/s" in text
    assert f"saved {out}" in text


def test_take_heap_snapshot_script_is_a_drop_in_replacement(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = subprocess.Popen(
        [
            "node",
            f"--inspect-port={port}",
            str(ROOT / "scripts" / "leaky_app.js"),
            "--leak-per-second",
            "0",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        assert app.stderr is not None
        while b" ready" not in (line := app.stderr.readline()):
            assert line, "the app did not start"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        result = subprocess.run(
            [str(ROOT / "scripts" / "take-heap-snapshot.sh"), str(app.pid)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
    finally:
        app.kill()
        app.wait()
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "out.heapsnapshot").read_text())["snapshot"]["node_count"] > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.heapsnapshot"]
