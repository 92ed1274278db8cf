"""More of the failure table: choosing a target, a proxy's token, a busy profiler, and the
analysis commands' inputs. The real CLI against real Node (or a stand-in HTTP server)."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.targets import ROOT, Target, start_leaky_app

from .cases import expect
from .helpers import run_cli, start_cli, wait_for_output

SNAPSHOTS_JS = ROOT / "tests" / "analysis" / "apps" / "snapshots.js"
TOKEN = "a-token-of-twenty-chars"


def snapshots(directory: Path, mode: str) -> Path:
    subprocess.run(
        ["node", str(SNAPSHOTS_JS), mode, str(directory), "300", "100"], check=True, timeout=60
    )
    return directory


@pytest.fixture(scope="module")
def triple(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    directory = snapshots(tmp_path_factory.mktemp("triple"), "triple")
    return [directory / f"s{i}.heapsnapshot" for i in (1, 2, 3)]


@pytest.fixture(scope="module")
def app() -> Iterator[Target]:
    target = start_leaky_app()
    yield target
    target.kill()


@pytest.fixture
def two_targets() -> Iterator[int]:
    """An HTTP server listing two Node targets, as an inspector of two would."""
    listing = [
        {"id": f"id-{i}", "type": "node", "title": f"app {i}", "url": f"file:///app{i}.js",
         "webSocketDebuggerUrl": f"ws://127.0.0.1:1/id-{i}"}
        for i in (1, 2)
    ]  # fmt: skip

    class Inspector(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(listing).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Inspector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_several_targets_and_none_chosen(two_targets: int) -> None:
    result = run_cli("snapshot", "--port", str(two_targets))
    expect(result, "ambiguous-target", N="2")
    assert "id-1 (node: app 1)" in result.stderr and "id-2 (node: app 2)" in result.stderr


def test_a_target_selector_that_matches_nothing(two_targets: int) -> None:
    result = run_cli("snapshot", "--port", str(two_targets), "--target", "nothing")
    expect(result, "no-matching-target", SELECTOR="'nothing'")


@pytest.fixture
def proxy_with_token(app: Target) -> Iterator[str]:
    proc = start_cli(
        "proxy", "--upstream", f"127.0.0.1:{app.port}", "--listen", "127.0.0.1:0",
        "--token", TOKEN,
    )  # fmt: skip
    banner = wait_for_output(proc, proc.stderr, rb"served at https?://(\S+?)/")
    yield banner.split(b"://", 1)[1].split(b"/", 1)[0].decode()
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)


def test_a_proxy_that_wants_a_token(proxy_with_token: str, tmp_path: Path) -> None:
    port = proxy_with_token.rsplit(":", 1)[1]
    env = {"CDP_HEAP_TOKEN": ""}
    result = run_cli("targets", "--port", port, env=env)
    expect(result, "proxy-token-missing", ADDRESS=proxy_with_token)
    result = run_cli("targets", "--port", port, "--token", "wrong-token-wrong-token", env=env)
    expect(result, "proxy-token-wrong", ADDRESS=proxy_with_token)


def test_sampling_while_another_client_samples(app: Target, tmp_path: Path) -> None:
    first = start_cli("sample", "--url", app.ws_url, "-o", str(tmp_path / "first.heapprofile"))
    try:
        wait_for_output(first, first.stderr, rb"Ctrl-C stops early")
        result = run_cli("sample", "--url", app.ws_url, "--duration", "1",
                         "-o", str(tmp_path / "second.heapprofile"))  # fmt: skip
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=30)
    expect(result, "profiler-busy")
    assert first.returncode == 0  # the first one still saved its profile


def test_an_exercise_command_that_fails(app: Target) -> None:
    result = run_cli("leak", "--url", app.ws_url, "--exercise", "exit 3")
    expect(result, "exercise-failed", STATUS="3", ROUND="warm-up")


def test_fail_on_growth(triple: list[Path]) -> None:
    result = run_cli("leak", "--files", *map(str, triple), "--fail-on-growth", "299")
    expect(result, "leak-grew", OBJECTS="299 objects")
    assert "LeakyThing (+300)" in result.stderr


def test_snapshots_of_different_sessions(tmp_path: Path) -> None:
    reset = snapshots(tmp_path / "reset", "reset")
    base, target = reset / "base.heapsnapshot", reset / "target.heapsnapshot"
    result = run_cli("diff", str(base), str(target))
    expect(result, "incomparable", BASE=str(base), TARGET=str(target))


def test_a_truncated_snapshot(triple: list[Path], tmp_path: Path) -> None:
    cut = tmp_path / "cut.heapsnapshot"
    cut.write_bytes(triple[0].read_bytes()[:100_000])
    expect(run_cli("diff", str(cut), str(triple[0])), "truncated-snapshot", FILE=str(cut))


def test_a_file_that_is_not_a_snapshot(triple: list[Path], tmp_path: Path) -> None:
    text = tmp_path / "notes.heapsnapshot"
    text.write_text("hello\n")
    expect(run_cli("diff", str(text), str(triple[0])), "not-a-snapshot", FILE=str(text))
