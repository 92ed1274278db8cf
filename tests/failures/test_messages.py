"""The messages a user reads: one plain line that says what happened, for each failure in
cases.py that is not about output files or signals. The real CLI, real Node."""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import socketserver
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.targets import ROOT, start_leaky_app

from .cases import expect
from .helpers import (
    cli_env,
    finished,
    run_cli,
    start_cli,
    wait_for_output,
    wait_until,
    writing_began,
)

#: fcntl.F_SETPIPE_SZ (Linux; Python names it only from 3.10 on some builds).
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
SNAPSHOTS_JS = ROOT / "tests" / "analysis" / "apps" / "snapshots.js"


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    directory = tmp_path_factory.mktemp("pair") / "new"  # snapshots.js creates it
    subprocess.run(
        ["node", str(SNAPSHOTS_JS), "pair", str(directory), "100", "50"], check=True, timeout=60
    )
    return [directory / "base.heapsnapshot", directory / "target.heapsnapshot"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def web_server() -> Iterator[int]:
    """A plain HTTP server that answers 404 to everything: not an inspector."""

    class NotFound(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_error(404)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_unreachable_inspector() -> None:
    port = free_port()
    result = run_cli("snapshot", "--port", str(port), "-o", os.devnull + ".x")
    expect(result, "unreachable", ADDRESS=f"127.0.0.1:{port}")


def test_an_http_server_that_is_not_an_inspector(web_server: int) -> None:
    result = run_cli("targets", "--port", str(web_server))
    expect(result, "not-an-inspector", ADDRESS=f"127.0.0.1:{web_server}")
    assert "b'" not in result.stderr  # no bytes repr


@pytest.fixture
def hang_up_server() -> Iterator[int]:
    """A TCP server that reads an HTTP request (a WebSocket upgrade) and closes without
    answering, as a target killed mid-handshake does."""

    class HangUp(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            while self.rfile.readline() not in (b"\r\n", b""):
                pass

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), HangUp)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_a_connection_closed_during_the_handshake(hang_up_server: int) -> None:
    """No --timeout: the CLI must not wait for an answer that cannot come."""
    result = run_cli("snapshot", "--url", f"ws://127.0.0.1:{hang_up_server}/x", "-o", os.devnull)
    expect(result, "handshake-closed", ADDRESS=f"127.0.0.1:{hang_up_server}")
    assert len(result.stderr.splitlines()) == 1, result.stderr


def test_port_out_of_range() -> None:
    expect(run_cli("targets", "--port", "99999"), "port-out-of-range", PORT="99999")


def test_pid_of_no_process() -> None:
    pid = 4_000_000  # above Linux's pid_max limit
    expect(run_cli("snapshot", "--pid", str(pid)), "no-such-pid", PID=str(pid))


def test_pid_that_is_not_node() -> None:
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        result = run_cli("snapshot", "--pid", str(sleeper.pid))
    finally:
        sleeper.kill()
        sleeper.wait()
    expect(result, "pid-not-node", PID=str(sleeper.pid), EXE=os.path.realpath("/bin/sleep"))


def test_pid_check_refused_as_root_says_so() -> None:
    if os.geteuid() != 0:
        pytest.skip("the case is root's")
    try:
        os.readlink("/proc/1/exe")
        pytest.skip("root may read /proc/1/exe here (has CAP_SYS_PTRACE): nothing to explain")
    except PermissionError:
        pass
    result = run_cli("snapshot", "--pid", "1")
    expect(result, "pid-check-refused-as-root", PID="1")
    assert "run cdp-heap as its user" not in result.stderr  # the user is root


def test_target_dying_mid_snapshot_is_said_plainly(tmp_path: Path) -> None:
    target = start_leaky_app("--heap-mb", "20")
    try:
        proc = start_cli(  # the target streams: it dies while chunks are on their way
            "snapshot", "--url", target.ws_url, "-o", str(tmp_path / "x"), "--via", "stream"
        )
        # Mid-snapshot: chunks are being written (the temporary file exists before the CLI
        # even connects: it checks that -o is writable).
        wait_until(
            lambda: writing_began(tmp_path),
            proc,
            "writing began",
        )
        target.proc.kill()
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        target.kill()
    expect(finished(proc, stdout, stderr), "target-died")
    assert list(tmp_path.iterdir()) == []


def test_timeout(tmp_path: Path) -> None:
    target = start_leaky_app()
    os.kill(target.pid, signal.SIGSTOP)  # accepts connections (the kernel does), never answers
    try:
        result = run_cli("snapshot", "--url", target.ws_url, "-o", str(tmp_path / "x"),
                         "--timeout", "1")  # fmt: skip
    finally:
        os.kill(target.pid, signal.SIGCONT)
        target.kill()
    expect(result, "timeout", S="1")


def test_a_proxy_with_an_unreachable_upstream_says_so(tmp_path: Path) -> None:
    upstream = f"127.0.0.1:{free_port()}"
    proxy = start_cli("proxy", "--upstream", upstream, "--listen", "127.0.0.1:0")
    try:
        banner = wait_for_output(proxy, proxy.stderr, rb"served at http://(\S+)/json/list")
        address = banner.split(b"served at http://")[1].split(b"/json/list")[0].decode()
        # At start, on the proxy's stderr, without waiting for a client:
        wait_for_output(proxy, proxy.stderr, rb"warning: upstream inspector .* unreachable")
        result = run_cli("snapshot", "--port", address.rsplit(":", 1)[1], "-o", str(tmp_path / "x"))
    finally:
        proxy.send_signal(signal.SIGTERM)
        proxy.communicate(timeout=30)
    expect(result, "proxy-upstream-unreachable", ADDRESS=address, UPSTREAM=upstream)


def test_diff_of_a_missing_file(pair: list[Path], tmp_path: Path) -> None:
    missing = tmp_path / "nope.heapsnapshot"
    expect(run_cli("diff", str(missing), str(pair[0])), "input-missing", FILE=str(missing))
    result = run_cli("leak", "--files", str(pair[0]), str(pair[1]), str(missing))
    expect(result, "input-missing", FILE=str(missing))


def test_diff_of_a_sampling_profile(pair: list[Path], tmp_path: Path) -> None:
    profile = tmp_path / "app.heapprofile"
    profile.write_text('{"head":{"callFrame":{},"selfSize":0,"id":1,"children":[]},"samples":[]}')
    result = run_cli("diff", str(profile), str(pair[1]))
    expect(result, "input-is-profile", FILE=str(profile))


def test_stdout_closed_by_head_is_not_an_error(pair: list[Path]) -> None:
    # A pipe of one page, made before the CLI starts: its JSON (tens of KB) cannot all be
    # written before the reader goes away, so the write meets the closed pipe for sure.
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, F_SETPIPE_SZ, 4096)
    diff = subprocess.Popen(
        [sys.executable, "-m", "cdp_heap", "diff", *map(str, pair), "--json", "--top", "100"],
        stdout=write_end,
        stderr=subprocess.PIPE,
        env=cli_env(),
    )
    os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:
        reader.readline()  # as `| head -1` does, then goes away
    assert diff.stderr is not None
    stderr = diff.stderr.read()
    diff.wait(timeout=60)
    result = subprocess.CompletedProcess(diff.args, diff.returncode, "", stderr.decode())
    expect(result, "stdout-closed")
