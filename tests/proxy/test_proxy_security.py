"""Issue 4, one test per rule, with a real ``node --inspect`` behind the proxy: tokens (none,
wrong, in a header, in the path), Host and Origin checks, DevTools' own origin, the refused
non-loopback listen, TLS with a self-signed certificate, the method policy, POST /snapshot
(while DevTools is attached, two at once, a client leaving mid-body) and the audit lines."""

from __future__ import annotations

import base64
import json
import os
import re
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

import cdp_heap
from cdp_heap import CommandError, ConnectionFailed
from cdp_heap_proxy import (
    Guard,
    InsecureListen,
    MethodPolicy,
    Proxy,
    ProxyConfig,
    Role,
    UpstreamSpec,
    serve_proxy,
)
from cdp_heap_proxy._http import RequestHead
from cdp_heap_proxy._snapshot_endpoint import serve_snapshot
from tests.targets import Chromium, Target

from .devtools import open_devtools
from .helpers import (
    call,
    free_port,
    http_request,
    make_certificate,
    open_raw,
    proxy_in_front,
    run_proxy_cli,
)

FULL = "full-0123456789abcdef-token"
PROFILING = "prof-0123456789abcdef-token"
IDLE = "globalThis.answer = 42; setInterval(() => {}, 1000)"
BIG_HEAP = "globalThis.keep = Array.from({length: 200000}, (_, i) => ({i, s: 'x' + i})); 0"
GUARD = Guard(
    roles=(
        Role("token", FULL),
        Role(
            "profiling-token",
            PROFILING,
            MethodPolicy.parse("HeapProfiler.*", "--profiling-methods"),
        ),
    ),
    allowed_hosts=frozenset({"inspector.test"}),
    allowed_origins=frozenset({"https://tools.test"}),
)
BEARER = [("Authorization", f"Bearer {FULL}")]


@asynccontextmanager
async def guarded(target: Target, **config: Any) -> AsyncIterator[tuple[Proxy, list[str]]]:
    """A token-protected proxy in front of ``target``; its audit lines collected."""
    lines: list[str] = []
    async with proxy_in_front(
        target.host, target.port, guard=GUARD, audit=lines.append, **config
    ) as proxy:
        yield proxy, lines


def upgrade_headers() -> list[tuple[str, str]]:
    key = base64.b64encode(os.urandom(16)).decode()
    return [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", key),
        ("Sec-WebSocket-Version", "13"),
    ]


def url(proxy: Proxy, token: str) -> str:
    return f"ws://127.0.0.1:{proxy.port}/{token}/{proxy.id}"


def no_token_anywhere(lines: list[str]) -> None:
    assert not any(FULL in line or PROFILING in line for line in lines), lines


async def test_no_token_is_401_and_the_handshake_is_refused(node: Callable[..., Target]) -> None:
    target = node(script=IDLE)
    with trio.fail_after(20):
        async with guarded(target) as (proxy, lines):
            for method, path in [
                ("GET", "/json/list"),
                ("GET", "/json"),
                ("GET", "/json/version"),
                ("GET", "/json/proxy/stats"),
                ("POST", "/snapshot"),
            ]:
                reply = await http_request(proxy.port, method, path)
                assert reply.status == 401, (path, reply)
                assert reply.headers["www-authenticate"].startswith("Bearer")
                assert proxy.id not in reply.text and FULL not in reply.text
            with pytest.raises(ConnectionFailed, match="HTTP 401"):
                async with cdp_heap.open_cdp(proxy.websocket_url):
                    pass
            assert proxy.router.statistics().clients == 0
            assert sum("refused" in line and "status=401" in line for line in lines) == 6


async def test_wrong_token_is_403(node: Callable[..., Target]) -> None:
    target = node(script=IDLE)
    wrong = FULL[:-1] + "X"
    with trio.fail_after(20):
        async with guarded(target) as (proxy, lines):
            reply = await http_request(
                proxy.port, "GET", "/json/list", [("Authorization", f"Bearer {wrong}")]
            )
            assert reply.status == 403 and proxy.id not in reply.text
            assert (await http_request(proxy.port, "GET", f"/{wrong}/json/list")).status == 403
            with pytest.raises(ConnectionFailed, match="HTTP 403"):
                async with cdp_heap.open_cdp(url(proxy, wrong)):
                    pass
            header = [(b"Authorization", f"Bearer {wrong}".encode())]
            with pytest.raises(ConnectionFailed, match="HTTP 403"):
                async with cdp_heap.open_cdp(proxy.websocket_url, extra_headers=header):
                    pass
            assert proxy.router.statistics().clients == 0
            assert sum("status=403" in line for line in lines) == 4
            assert not any(wrong in line for line in lines)


async def test_token_in_header_and_in_path(node: Callable[..., Target]) -> None:
    target = node(script=IDLE)
    with trio.fail_after(20):
        async with guarded(target) as (proxy, lines):
            where = f"127.0.0.1:{proxy.port}/{FULL}/{proxy.id}"
            by_header = await http_request(proxy.port, "GET", "/json/list", BEARER)
            by_path = await http_request(proxy.port, "GET", f"/{FULL}/json/list")
            assert by_header.status == by_path.status == 200
            assert json.loads(by_header.body) == json.loads(by_path.body)
            (entry,) = json.loads(by_path.body)
            assert entry["webSocketDebuggerUrl"] == f"ws://{where}"
            assert entry["devtoolsFrontendUrl"].endswith(f"&ws={where}")
            # A profiling-token caller is handed its own token's URLs, never the full token.
            profiling = await http_request(proxy.port, "GET", f"/{PROFILING}/json/list")
            assert PROFILING in profiling.text and FULL not in profiling.text

            async with cdp_heap.open_cdp(entry["webSocketDebuggerUrl"]) as conn:
                reply = await conn.send("Runtime.evaluate", {"expression": "answer"})
                assert reply["result"]["value"] == 42
            header = [(b"Authorization", f"Bearer {FULL}".encode())]
            async with cdp_heap.open_cdp(proxy.websocket_url, extra_headers=header) as conn:
                reply = await conn.send("Runtime.evaluate", {"expression": "answer + 1"})
                assert reply["result"]["value"] == 43
            await proxy.wait_until(lambda: proxy.router.statistics().clients == 0)
            connects = [line for line in lines if " audit connect " in line]
            disconnects = [line for line in lines if " audit disconnect " in line]
            assert len(connects) == len(disconnects) == 2
            assert all("role=token" in line and "peer=127.0.0.1:" in line for line in connects)
            no_token_anywhere(lines)


async def test_foreign_host_with_a_valid_token_is_refused(node: Callable[..., Target]) -> None:
    target = node(script=IDLE)
    with trio.fail_after(20):
        async with guarded(target) as (proxy, _):
            for host in ("evil.test", f"evil.test:{proxy.port}", "127.0.0.1.evil.test"):
                reply = await http_request(proxy.port, "GET", "/json/list", BEARER, host=host)
                assert reply.status == 403 and "DNS-rebinding" in reply.text
                upgrade = await http_request(
                    proxy.port, "GET", f"/{FULL}/{proxy.id}", upgrade_headers(), host=host
                )
                assert upgrade.status == 403
            allowed = f"inspector.test:{proxy.port}"
            reply = await http_request(proxy.port, "GET", "/json/list", BEARER, host=allowed)
            assert reply.status == 200
            (entry,) = json.loads(reply.body)
            assert entry["webSocketDebuggerUrl"].startswith(f"ws://{allowed}/{FULL}/")
            upgrade = await http_request(
                proxy.port, "GET", f"/{FULL}/{proxy.id}", upgrade_headers(), host=allowed
            )
            assert upgrade.status == 101
            assert proxy.router.statistics().clients <= 1


async def test_foreign_origin_with_a_valid_token_is_refused(node: Callable[..., Target]) -> None:
    target = node(script=IDLE)
    with trio.fail_after(20):
        async with guarded(target) as (proxy, lines):
            for origin in ("https://evil.test", "null", "http://127.0.0.1.evil.test"):
                header = [(b"Origin", origin.encode())]
                with pytest.raises(ConnectionFailed, match="HTTP 403"):
                    async with cdp_heap.open_cdp(url(proxy, FULL), extra_headers=header):
                        pass
                # A page cannot make the browser POST a snapshot request either.
                post = await http_request(
                    proxy.port, "POST", "/snapshot", [*BEARER, ("Origin", origin)]
                )
                assert post.status == 403 and "Origin" in post.text
            for origin in ("devtools://devtools", "http://localhost:8080", "https://tools.test"):
                header = [(b"Origin", origin.encode())]
                async with cdp_heap.open_cdp(url(proxy, FULL), extra_headers=header) as conn:
                    assert (await conn.send("Runtime.evaluate", {"expression": "1"}))["result"]
            assert proxy.router.statistics().snapshots_completed == 0
            assert sum("status=403" in line and "Origin" in line for line in lines) == 6


@pytest.mark.chromium
async def test_devtools_frontend_origin_is_accepted_with_the_token_in_its_url(
    chromium: Chromium, node: Callable[..., Target]
) -> None:
    """Chromium serves DevTools at http://127.0.0.1:CHROME_PORT/devtools/js_app.html: its
    WebSocket's Origin is http://127.0.0.1:CHROME_PORT, and it cannot send headers."""
    target = node(script=IDLE)
    with trio.fail_after(60):
        async with guarded(target) as (proxy, lines):
            ws_param = f"127.0.0.1:{proxy.port}/{FULL}/{proxy.id}"
            async with open_devtools(chromium, ws_param) as devtools:
                assert "Debugger.scriptParsed" in devtools.received_methods
                assert devtools.handshake_errors == []
            (connect,) = [line for line in lines if " audit connect " in line]
            assert "role=token" in connect and "Chrome" in connect
            # The same frontend without the token is refused.
            ws_param = f"127.0.0.1:{proxy.port}/{proxy.id}"
            async with open_devtools(chromium, ws_param, wait_started=False) as devtools:
                await devtools.wait_until(lambda: bool(devtools.handshake_errors))
            assert proxy.router.statistics().clients == 0


async def test_non_loopback_listen_needs_a_token(node: Callable[..., Target]) -> None:
    port = free_port()
    with trio.fail_after(30):
        done = await trio.run_process(
            [sys.executable, "-m", "cdp_heap", "proxy", "--listen", f"0.0.0.0:{port}"],
            capture_stderr=True,
            check=False,
        )
    stderr = done.stderr.decode()
    assert done.returncode == 2
    assert "refusing to listen on 0.0.0.0 without a token" in stderr
    assert "--token auto" in stderr and "ssh -N -L" in stderr
    assert "served at" not in stderr  # it never bound the port
    with pytest.raises(InsecureListen):
        await serve_proxy(ProxyConfig(UpstreamSpec("127.0.0.1", 1), "0.0.0.0", 0))

    # With a token it listens on every interface; we connect through loopback only.
    target = node(script=IDLE)
    with trio.fail_after(30):
        async with run_proxy_cli(
            "--upstream", f"127.0.0.1:{target.port}", "--listen", "0.0.0.0:0", "--token", "auto"
        ) as proxy:
            match = re.search(r"--token auto: (\S+)", proxy.output)
            assert match is not None
            token = match.group(1)
            assert "clear text" in proxy.output  # no TLS: warned
            assert (await http_request(proxy.port, "GET", "/json/list")).status == 401
            bearer = [("Authorization", f"Bearer {token}")]
            reply = await http_request(proxy.port, "GET", "/json/list", bearer)
            (entry,) = json.loads(reply.body)
            async with open_raw(entry["webSocketDebuggerUrl"]) as ws:
                reply = await call(ws, 1, "Runtime.evaluate", expression="answer")
                assert reply["result"]["result"]["value"] == 42
            await proxy.wait_for(" audit disconnect ")
            assert "role=token" in proxy.output


async def test_tls_with_a_self_signed_certificate(
    node: Callable[..., Target], tmp_path: Path
) -> None:
    target = node(script=IDLE)
    cert, key = make_certificate(tmp_path)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    client = ssl.create_default_context(cafile=str(cert))
    with trio.fail_after(30):
        async with guarded(target, tls=server) as (proxy, lines):
            (entry,) = await cdp_heap.list_targets(
                "127.0.0.1", proxy.port, headers=BEARER, ssl_context=client
            )
            where = f"127.0.0.1:{proxy.port}/{FULL}/{proxy.id}"
            assert entry.web_socket_debugger_url == f"wss://{where}"
            assert entry.devtools_frontend_url is not None
            assert entry.devtools_frontend_url.endswith(f"&wss={where}")
            async with cdp_heap.open_cdp(entry.web_socket_debugger_url, ssl_context=client) as c:
                reply = await c.send("Runtime.evaluate", {"expression": "answer"})
                assert reply["result"]["value"] == 42
            # A client that does not trust the certificate, and a plain-text one, fail.
            with pytest.raises(ConnectionFailed):
                async with cdp_heap.open_cdp(entry.web_socket_debugger_url):
                    pass
            with pytest.raises(cdp_heap.DiscoveryError):
                await cdp_heap.list_targets("127.0.0.1", proxy.port, headers=BEARER)
            posted = await http_request(proxy.port, "POST", "/snapshot", BEARER, ssl_context=client)
            assert posted.status == 200
            assert json.loads(posted.body)["snapshot"]["node_count"] > 1000
            assert any("TLS handshake failed" in line for line in lines)


async def test_method_outside_the_policy_gets_an_error_naming_it(
    node: Callable[..., Target], tmp_path: Path
) -> None:
    target = node(script=IDLE)
    with trio.fail_after(30):
        async with guarded(target) as (proxy, lines):
            async with cdp_heap.open_cdp(url(proxy, PROFILING)) as conn:
                with pytest.raises(CommandError) as refused:
                    await conn.send("Runtime.evaluate", {"expression": "process.exit(1)"})
                assert "--profiling-methods HeapProfiler.*" in str(refused.value)
                with pytest.raises(CommandError, match="policy"):
                    await conn.send("Debugger.enable")
                # What it is for still works: a snapshot.
                saved = await cdp_heap.save_snapshot(conn, tmp_path / "p.heapsnapshot", gc=True)
                assert json.loads(saved.path.read_text())["snapshot"]["node_count"] > 1000
            async with open_raw(url(proxy, FULL)) as ws:  # the target is alive and well
                reply = await call(ws, 1, "Runtime.evaluate", expression="answer")
                assert reply["result"]["result"]["value"] == 42
            assert proxy.router.statistics().denied_by_policy == 2
            denied = [line for line in lines if " audit denied " in line]
            assert len(denied) == 2 and "role=profiling-token" in denied[0]
            assert "method=Runtime.evaluate" in denied[0]
            (start,) = [line for line in lines if " audit start " in line]
            assert (
                "role=profiling-token" in start and "method=HeapProfiler.takeHeapSnapshot" in start
            )


@pytest.mark.chromium
async def test_post_snapshot_streams_while_devtools_is_attached(
    chromium: Chromium, node: Callable[..., Target]
) -> None:
    target = node(script=IDLE)
    with trio.fail_after(60):
        async with guarded(target) as (proxy, lines):
            ws_param = f"127.0.0.1:{proxy.port}/{FULL}/{proxy.id}"
            async with open_devtools(chromium, ws_param) as devtools:
                got = await http_request(proxy.port, "GET", "/snapshot", BEARER)
                assert got.status == 405 and got.headers["allow"] == "POST"
                reply = await http_request(proxy.port, "POST", "/snapshot?gc=1", BEARER)
                assert reply.status == 200
                assert reply.headers["transfer-encoding"] == "chunked"
                assert reply.headers["content-type"].startswith("application/json")
                assert json.loads(reply.body)["snapshot"]["node_count"] > 1000
                await devtools.wait_until(lambda: set(devtools.sent) <= devtools.replied)
                assert "HeapProfiler.addHeapSnapshotChunk" not in devtools.received_methods
            stats = proxy.router.statistics()
            assert (stats.snapshots_completed, stats.peak_snapshots_in_flight) == (1, 1)
            (start,) = [line for line in lines if " audit start " in line]
            assert "method=HeapProfiler.takeHeapSnapshot" in start and "role=token" in start
            http = [line for line in lines if "transport=http" in line]
            assert len(http) == 1  # the snapshot request's connect line


async def test_two_post_snapshots_at_once_are_serialized_and_valid(
    node: Callable[..., Target],
) -> None:
    target = node(script=IDLE)
    with trio.fail_after(60):
        async with guarded(target) as (proxy, _):
            async with open_raw(url(proxy, FULL)) as ws:
                await call(ws, 1, "Runtime.evaluate", expression=BIG_HEAP)
            replies = []

            async def post(headers: list[tuple[str, str]], path: str) -> None:
                replies.append(await http_request(proxy.port, "POST", path, headers))

            # force=1: no memory pre-flight, whose Runtime.evaluate would wait behind the
            # other snapshot on the target's thread, so the two would never be queued at once.
            async with trio.open_nursery() as nursery:
                nursery.start_soon(post, BEARER, "/snapshot?force=1")
                nursery.start_soon(post, [], f"/{PROFILING}/snapshot?force=1")
                await proxy.wait_until(lambda: proxy.router.statistics().snapshots_queued == 1)
            for reply in replies:
                assert reply.status == 200
                assert json.loads(reply.body)["snapshot"]["node_count"] > 200000
            # The HTTP clients have their whole bodies slightly before the proxy has
            # retired them as router clients.
            await proxy.wait_until(lambda: proxy.router.statistics().clients == 0)
            stats = proxy.router.statistics()
            assert (stats.snapshots_completed, stats.peak_snapshots_in_flight) == (2, 1)
            assert stats.pending_commands == 0


async def test_post_snapshot_client_leaving_mid_body_is_drained(
    node: Callable[..., Target],
) -> None:
    target = node(script=IDLE)
    with trio.fail_after(60):
        async with guarded(target) as (proxy, lines):
            async with open_raw(url(proxy, FULL)) as ws:
                await call(ws, 1, "Runtime.evaluate", expression=BIG_HEAP)
            partial = await http_request(proxy.port, "POST", "/snapshot", BEARER, stop_after=1)
            assert partial.status == 200 and partial.body.startswith(b"{")
            await proxy.wait_until(lambda: proxy.router.statistics().snapshots_completed == 1)
            stats = proxy.router.statistics()
            assert stats.discarded_chunks > 0
            assert (stats.clients, stats.pending_commands, stats.snapshots_in_flight) == (0, 0, 0)
            gone = [line for line in lines if " audit disconnect " in line and "went away" in line]
            assert len(gone) == 1
            reply = await http_request(proxy.port, "POST", "/snapshot", BEARER)
            assert json.loads(reply.body)["snapshot"]["node_count"] > 200000


class BreaksAfterSends(trio.abc.SendStream):
    """A client connection that resets after ``sends`` writes (a broken pipe); it never
    half-closes, so only the failed send can tell the proxy that it is gone."""

    def __init__(self, sends: int) -> None:
        self.left = sends
        self.sent = bytearray()

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await trio.lowlevel.checkpoint()
        if self.left == 0:
            raise trio.BrokenResourceError("socket connection broken: [Errno 32] Broken pipe")
        self.left -= 1
        self.sent += data

    async def wait_send_all_might_not_block(self) -> None:
        await trio.lowlevel.checkpoint()

    async def aclose(self) -> None:
        await trio.lowlevel.checkpoint()


async def test_post_snapshot_broken_pipe_mid_body_is_drained(
    node: Callable[..., Target],
) -> None:
    """The peer resets while the proxy writes the body: the snapshot is drained upstream, the
    client is removed with an audit line, and the next snapshot works."""
    target = node(script=IDLE)
    request = b"POST /snapshot HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n"
    head = RequestHead("POST", "/snapshot", (("host", "127.0.0.1"),), request)
    with trio.fail_after(60):
        async with guarded(target) as (proxy, lines):
            async with open_raw(url(proxy, FULL)) as ws:
                await call(ws, 1, "Runtime.evaluate", expression=BIG_HEAP)
            client = BreaksAfterSends(sends=2)  # the response head and the first chunk
            stream = trio.StapledStream(client, trio.testing.MemoryReceiveStream())
            await serve_snapshot(proxy, stream, head, GUARD.roles[0], "test-peer")
            assert client.sent.startswith(b"HTTP/1.1 200 ")
            await proxy.wait_until(lambda: proxy.router.statistics().snapshots_completed == 1)
            stats = proxy.router.statistics()
            assert stats.discarded_chunks > 0
            assert (stats.clients, stats.pending_commands, stats.snapshots_in_flight) == (0, 0, 0)
            (gone,) = [x for x in lines if " audit disconnect " in x and "test-peer" in x]
            assert "went away mid-body" in gone
            reply = await http_request(proxy.port, "POST", "/snapshot", BEARER)
            assert json.loads(reply.body)["snapshot"]["node_count"] > 200000


async def test_cli_commands_pass_a_token_and_trust_a_ca_file(
    node: Callable[..., Target], tmp_path: Path
) -> None:
    target = node(script=IDLE)
    cert, key = make_certificate(tmp_path)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    out = tmp_path / "through.heapsnapshot"

    async def cli(*args: str) -> subprocess.CompletedProcess[bytes]:
        return await trio.run_process(
            [sys.executable, "-m", "cdp_heap", *args],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )

    with trio.fail_after(60):
        async with guarded(target, tls=server) as (proxy, lines):
            where = ["--host", f"127.0.0.1:{proxy.port}", "--ca-file", str(cert)]
            refused = await cli("targets", *where)
            assert refused.returncode == 1 and b"HTTP 401" in refused.stderr
            listed = await cli("targets", *where, "--token", FULL, "--json")
            assert listed.returncode == 0, listed.stderr
            (entry,) = json.loads(listed.stdout)
            assert entry["webSocketDebuggerUrl"].startswith(f"wss://127.0.0.1:{proxy.port}/{FULL}/")
            saved = await cli("snapshot", *where, "--token", FULL, "-o", str(out))
            assert saved.returncode == 0, saved.stderr
            assert json.loads(out.read_text())["snapshot"]["node_count"] > 1000
            untrusted = await cli("targets", "--host", f"127.0.0.1:{proxy.port}", "--token", FULL)
            assert untrusted.returncode == 1 and b"Traceback" not in untrusted.stderr
    assert any("role=token" in line and "HeapProfiler.takeHeapSnapshot" in line for line in lines)
