"""``cdp-heap proxy`` on the command line, and ``cdp-heap snapshot`` through it."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import trio
import trio_websocket

from cdp_heap._discovery import http_get_json
from tests.targets import Target

from .helpers import call, free_port, open_raw, proxy_in_front, read_until, run_proxy_cli


def test_help_explains_with_an_example() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cdp_heap", "proxy", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "--upstream" in done.stdout and "--listen" in done.stdout
    assert "cdp-heap proxy --upstream 127.0.0.1:9229" in done.stdout
    options = ("--token", "--allow-methods", "--allow-host", "--allow-origin", "--tls-cert")
    for option in (*options, "--max-client-message-mb", "--spin-us"):
        assert option in done.stdout
    assert "ssh -N -L 9230:127.0.0.1:9230" in done.stdout
    assert "POST" in done.stdout and "docs/proxy-security.md" in done.stdout


def test_bad_listen_is_a_usage_error() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cdp_heap", "proxy", "--listen", "nowhere"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and "--listen wants HOST:PORT" in done.stderr


def test_a_zero_message_limit_is_a_usage_error() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cdp_heap", "proxy", "--max-client-message-mb", "0"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr.strip().endswith("--max-client-message-mb must be at least 1")


def test_a_negative_spin_is_a_usage_error() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cdp_heap", "proxy", "--spin-us", "-1"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr.strip().endswith("--spin-us must be 0 or more")


async def test_cdp_heap_snapshot_cli_through_the_proxy(
    node: Callable[..., Target], tmp_path: Path
) -> None:
    target = node(script="setInterval(() => {}, 1000)")
    out = tmp_path / "cli.heapsnapshot"
    with trio.fail_after(60):
        async with proxy_in_front(target.host, target.port) as proxy:
            done = await trio.run_process(
                [
                    sys.executable,
                    "-m",
                    "cdp_heap",
                    "snapshot",
                    "--port",
                    str(proxy.port),
                    "-o",
                    str(out),
                ],
                capture_stdout=True,
                capture_stderr=True,
                check=False,
            )
            assert done.returncode == 0, done.stderr
            assert json.loads(out.read_text())["snapshot"]["node_count"] > 1000
            assert proxy.router.statistics().snapshots_completed == 1


async def test_upstream_pid_activates_a_running_node() -> None:
    """``--upstream-pid`` opens the inspector of a Node started without --inspect."""
    port = free_port()
    script = "globalThis.answer = 42; setInterval(() => {}, 1000); console.error('ready')"
    node = await trio.lowlevel.open_process(
        ["node", f"--inspect-port={port}", "-e", script], stderr=subprocess.PIPE
    )
    try:
        with trio.fail_after(30):
            assert node.stderr is not None
            await read_until(node.stderr, re.compile("ready"))  # signal handlers installed
            async with run_proxy_cli(
                "--upstream-pid", str(node.pid), "--listen", "127.0.0.1:0"
            ) as proxy:
                assert f"127.0.0.1:{port} is served at" in proxy.output
                (entry,) = await http_get_json("127.0.0.1", proxy.port, "/json/list")
                async with open_raw(entry["webSocketDebuggerUrl"]) as ws:
                    reply = await call(ws, 1, "Runtime.evaluate", expression="answer")
                assert reply["result"]["result"]["value"] == 42
    finally:
        node.kill()
        await node.wait()


def test_security_usage_errors_exit_2() -> None:
    cases = {
        ("--token", "short"): "at least 16",
        ("--token", "has/a/slash/in/it/0123"): "URL paths",
        ("--token-file", "/nonexistent/token"): "cannot read",
        ("--tls-cert", "cert.pem"): "--tls-cert and --tls-key go together",
        ("--allow-methods", "Runtime evaluate"): "not a method pattern",
        ("--listen", "[::]:9230"): "without a token",
    }
    for args, message in cases.items():
        done = subprocess.run(
            [sys.executable, "-m", "cdp_heap", "proxy", *args], capture_output=True, text=True
        )
        assert done.returncode == 2 and message in done.stderr, (args, done.stderr)


async def test_token_files_roles_and_audit_log_file(
    node: Callable[..., Target], tmp_path: Path
) -> None:
    """--token-file and --profiling-token-file give two roles; --audit-log FILE gets the
    audit lines (connect, denied: written before the replies), naming the role, never the
    token."""
    target = node(script="setInterval(() => {}, 1000)")
    full, profiling = "f" * 24, "p" * 24
    (tmp_path / "full.token").write_text(full + "\n")
    (tmp_path / "ci.token").write_text(profiling)
    for name in ("full.token", "ci.token"):
        (tmp_path / name).chmod(0o600)
    audit = tmp_path / "audit.log"
    with trio.fail_after(30):
        async with run_proxy_cli(
            *("--upstream", f"127.0.0.1:{target.port}", "--listen", "127.0.0.1:0"),
            *("--token-file", str(tmp_path / "full.token")),
            *("--profiling-token-file", str(tmp_path / "ci.token")),
            *("--audit-log", str(audit)),
        ) as proxy:
            assert full not in proxy.output and profiling not in proxy.output
            (entry,) = await http_get_json("127.0.0.1", proxy.port, f"/{profiling}/json/list")
            async with open_raw(entry["webSocketDebuggerUrl"]) as ws:
                refused = await call(ws, 1, "Runtime.evaluate", expression="1")
                assert "--profiling-methods HeapProfiler.*" in refused["error"]["message"]
                assert (await call(ws, 2, "HeapProfiler.collectGarbage"))["result"] == {}
            async with open_raw(f"ws://127.0.0.1:{proxy.port}/{full}/{entry['id']}") as ws:
                assert (await call(ws, 1, "Runtime.evaluate", expression="1"))["result"]
            # Written before the replies were sent, so already there.
            lines = audit.read_text().splitlines()
    roles = [re.search(r"role=(\S+)", line) for line in lines if " audit connect " in line]
    assert [m.group(1) for m in roles if m] == ["profiling-token", "token"]
    assert any(" audit denied " in line and "Runtime.evaluate" in line for line in lines)
    assert not any(full in line or profiling in line for line in lines)


async def test_sigterm_closes_clients_with_a_reason_and_exits_0(
    node: Callable[..., Target],
) -> None:
    target = node(script="setInterval(() => {}, 1000)")
    with trio.fail_after(30):
        async with run_proxy_cli(
            "--upstream", f"127.0.0.1:{target.port}", "--listen", "127.0.0.1:0"
        ) as proxy:
            (entry,) = await http_get_json("127.0.0.1", proxy.port, "/json/list")
            async with open_raw(entry["webSocketDebuggerUrl"]) as ws:
                assert (await call(ws, 1, "Runtime.evaluate", expression="1"))["result"]
                proxy.process.send_signal(signal.SIGTERM)
                detached = json.loads(await ws.get_message())
                assert detached["method"] == "Inspector.detached"
                assert detached["params"]["reason"] == "cdp-heap proxy is shutting down"
                with pytest.raises(trio_websocket.ConnectionClosed) as closed:
                    await ws.get_message()
            reason = closed.value.reason
            assert reason is not None and reason.code == 1001
            assert reason.reason == "cdp-heap proxy is shutting down"
            assert await proxy.process.wait() == 0
            await proxy.wait_for("cdp-heap proxy: stopped")
            assert "SIGTERM: closing client connections" in proxy.output
            assert 'reason="cdp-heap proxy is shutting down"' in proxy.output  # audited


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("spin", ["500", "0"])
async def test_a_signal_while_round_trips_stream_stops_the_proxy_cleanly(
    node: Callable[..., Target], signum: signal.Signals, spin: str
) -> None:
    """The lane holds trio's thread while messages flow (D32): a signal then still stops
    the proxy within moments, the usual way."""
    target = node(script="setInterval(() => {}, 1000)")
    with trio.fail_after(30):
        async with run_proxy_cli(
            "--upstream", f"127.0.0.1:{target.port}", "--listen", "127.0.0.1:0", "--spin-us", spin
        ) as proxy:
            (entry,) = await http_get_json("127.0.0.1", proxy.port, "/json/list")
            async with open_raw(entry["webSocketDebuggerUrl"]) as ws:
                for id in range(1, 201):
                    assert (await call(ws, id, "Runtime.evaluate", expression="1+1"))["result"]
                proxy.process.send_signal(signum)
                detached = []
                with pytest.raises(trio_websocket.ConnectionClosed) as closed:
                    while True:
                        message = json.loads(await ws.get_message())
                        detached.append(message.get("method") == "Inspector.detached")
                assert detached == [True]
                reason = closed.value.reason
                assert reason is not None and reason.code == 1001
            # 130 after Ctrl-C, 0 after a service manager's stop, as for every command.
            assert await proxy.process.wait() == (130 if signum == signal.SIGINT else 0)
            name = "SIGINT" if signum == signal.SIGINT else "SIGTERM"
            assert f"{name}: closing client connections" in proxy.output
