"""Discovery (/json/list, /json/version) and SIGUSR1 activation, against real processes."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Callable, Iterator

import h11
import pytest
import trio

import cdp_heap
from cdp_heap import ActivationError, DiscoveryError, InspectorUnreachable, TargetInfo
from cdp_heap._activate import inspect_port_of
from cdp_heap._discovery import http_get, pick_target
from tests.targets import LEAKY_APP, Target


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def spawn() -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(*argv: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


def wait_for_line(proc: subprocess.Popen[bytes], text: bytes) -> None:
    assert proc.stderr is not None
    while text not in (line := proc.stderr.readline()):
        assert line, f"process ended before printing {text!r}"


async def test_list_targets_and_version(leaky_app: Target) -> None:
    with trio.fail_after(10):
        targets = await cdp_heap.list_targets(leaky_app.host, leaky_app.port)
        version = await cdp_heap.get_version(leaky_app.host, leaky_app.port)
    (target,) = targets
    assert target.type == "node" and target.title.endswith("leaky_app.js")
    assert target.web_socket_debugger_url == leaky_app.ws_url
    assert cdp_heap.select_target(targets) == target
    assert cdp_heap.select_target(targets, target.id) == target
    assert cdp_heap.select_target(targets, r"leaky_app\.js$") == target
    assert version.browser.startswith("node.js/v")


def test_select_target_explains_ambiguity_and_misses() -> None:
    pages = [
        TargetInfo("A", "page", "Inbox", "https://mail.example/", "ws://x/A"),
        TargetInfo("B", "page", "Docs", "https://docs.example/", "ws://x/B"),
        TargetInfo("C", "service_worker", "sw", "https://mail.example/sw.js", "ws://x/C"),
    ]
    with pytest.raises(DiscoveryError, match="2 targets; pick one with --target"):
        cdp_heap.select_target(pages)
    assert cdp_heap.select_target(pages, "Docs").id == "B"
    assert cdp_heap.select_target(pages, "sw.js").id == "C"
    with pytest.raises(
        DiscoveryError, match=r"no inspectable target matching 'Calendar'.*A \(page: Inbox\)"
    ):
        cdp_heap.select_target(pages, "Calendar")


def test_pick_target_after_a_restart_takes_the_look_alike() -> None:
    """What the proxy needs on reconnect: the old id is gone, the same app has a new one."""
    before = TargetInfo("old", "node", "app.js", "file:///app.js", "ws://x/old")
    after = [
        TargetInfo("new", "node", "app.js", "file:///app.js", "ws://x/new"),
        TargetInfo("other", "node", "other.js", "file:///other.js", "ws://x/other"),
    ]
    assert pick_target(after, "old", previous=before).id == "new"
    assert pick_target(after, previous=before).id == "new"
    # The id still wins over the look-alike; without ``previous`` the old id is just a miss.
    assert pick_target(after, "other", previous=before).id == "other"
    with pytest.raises(DiscoveryError, match="no inspectable target matching 'old'"):
        pick_target(after, "old")
    # Nothing looks like it, and two candidates: an error naming them, not a guess.
    stranger = TargetInfo("s", "node", "s.js", "file:///s.js", "ws://x/s")
    with pytest.raises(DiscoveryError, match="2 targets; pick one"):
        pick_target(after, previous=stranger)


async def test_http_get_returns_any_status_and_sends_the_given_host() -> None:
    requests: list[bytes] = []

    async def answer(stream: trio.SocketStream) -> None:
        requests.append(await stream.receive_some(65536))
        await stream.send_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope")
        await stream.aclose()

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(trio.serve_tcp, answer, 0)
            port = listeners[0].socket.getsockname()[1]
            status, body = await http_get(
                "127.0.0.1", port, "/json/list", host_header=f"127.0.0.1:{port}"
            )
            assert (status, body) == (404, b"nope")
            assert f"host: 127.0.0.1:{port}".encode() in requests[0].lower()
            with pytest.raises(h11.RemoteProtocolError, match="too large"):
                await http_get("127.0.0.1", port, "/json/list", max_body=3)
            nursery.cancel_scope.cancel()


async def test_nothing_listening_is_a_clear_error() -> None:
    with pytest.raises(InspectorUnreachable, match="is the process running with --inspect"):
        await cdp_heap.list_targets("127.0.0.1", free_port())


async def test_something_else_on_the_port_is_not_an_inspector() -> None:
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(trio.serve_tcp, _answer_garbage, 0)
            port = listeners[0].socket.getsockname()[1]
            with pytest.raises(
                DiscoveryError, match=r"not an inspector|did not answer JSON|answered HTTP"
            ):
                await cdp_heap.list_targets("127.0.0.1", port)
            nursery.cancel_scope.cancel()


async def _answer_garbage(stream: trio.SocketStream) -> None:
    await stream.receive_some(65536)
    await stream.send_all(b"SSH-2.0-OpenSSH_9.2\r\n")
    await stream.aclose()


async def test_activate_by_pid(spawn: Callable[..., subprocess.Popen[bytes]]) -> None:
    port = free_port()
    proc = spawn("node", f"--inspect-port={port}", str(LEAKY_APP), "--leak-per-second", "0")
    wait_for_line(proc, b" ready")
    assert inspect_port_of(proc.pid) == port
    with trio.fail_after(20):
        host, found = await cdp_heap.activate_inspector(proc.pid)
        assert (host, found) == ("127.0.0.1", port)
        # Activating again finds the inspector already there.
        assert await cdp_heap.activate_inspector(proc.pid) == (host, port)
        (target,) = await cdp_heap.list_targets(host, port)
    assert target.url.endswith("leaky_app.js")


async def test_activate_refuses_a_process_that_is_not_node(
    spawn: Callable[..., subprocess.Popen[bytes]],
) -> None:
    proc = spawn(
        sys.executable,
        "-c",
        "import sys, time; sys.stderr.write('up\\n'); sys.stderr.flush(); time.sleep(60)",
    )
    wait_for_line(proc, b"up")
    with pytest.raises(ActivationError, match=r"not Node\.js; SIGUSR1 would likely kill it"):
        await cdp_heap.activate_inspector(proc.pid)
    assert proc.poll() is None  # not signalled


async def test_activate_a_process_that_is_gone(
    spawn: Callable[..., subprocess.Popen[bytes]],
) -> None:
    proc = spawn("node", "-e", "0")
    proc.wait()
    with pytest.raises(ActivationError, match=f"no process with PID {proc.pid}"):
        await cdp_heap.activate_inspector(proc.pid)


async def test_activate_when_the_port_belongs_to_another_inspector(
    leaky_app: Target, spawn: Callable[..., subprocess.Popen[bytes]]
) -> None:
    proc = spawn(
        "node", f"--inspect-port={leaky_app.port}", str(LEAKY_APP), "--leak-per-second", "0"
    )
    wait_for_line(proc, b" ready")
    with pytest.raises(
        ActivationError,
        match=f"port {leaky_app.port} is already used by another process's inspector",
    ):
        await cdp_heap.activate_inspector(proc.pid)
