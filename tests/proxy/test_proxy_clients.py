"""Real clients through the proxy, at the same time: the DevTools frontend (served by headless
Chromium), cdp-heap, chrome-remote-interface and ``node inspect``; and a Chromium page target
behind the proxy."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trio

import cdp_heap
from tests.targets import Chromium, Target, start_deno_app

from .devtools import open_devtools
from .helpers import call, diff_counts, open_raw, proxy_in_front, run_cdp_heap, wait_for_global

pytestmark = pytest.mark.chromium

CRI_SCRIPT = """
const CDP = require('chrome-remote-interface');
(async () => {
  const client = await CDP({host: '127.0.0.1', port: Number(process.argv[1])});
  const {result} = await client.Runtime.evaluate({expression: '6 * 7'});
  await client.HeapProfiler.enable();
  await client.HeapProfiler.collectGarbage();
  console.log(JSON.stringify({value: result.value}));
  await client.close();
})().catch((err) => { console.error(String(err)); process.exit(1); });
"""


@pytest.fixture(scope="session")
def cri_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """chrome-remote-interface installed from npm into a temporary directory."""
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed")
    where = tmp_path_factory.mktemp("cri")
    done = subprocess.run(
        [
            "npm",
            "install",
            "--no-save",
            "--cache",
            str(where / ".npm"),
            "--prefix",
            str(where),
            "chrome-remote-interface@0.33",
        ],
        capture_output=True,
        timeout=300,
    )
    if done.returncode != 0:
        pytest.skip(f"npm install chrome-remote-interface failed: {done.stderr[-500:]!r}")
    yield where


async def run_node(argv: list[str], *, cwd: Path | None = None) -> str:
    done = await trio.run_process(
        argv, capture_stdout=True, capture_stderr=True, cwd=cwd, check=False
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout.decode()


async def node_inspect(port: int, command: str) -> str:
    """Run one REPL command in ``node inspect 127.0.0.1:PORT``; its output up to the prompt."""
    process = await trio.lowlevel.open_process(
        ["node", "inspect", f"127.0.0.1:{port}"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert process.stdin is not None and process.stdout is not None
        output = bytearray()

        async def read_prompt() -> bytes:
            start = len(output)
            while b"debug> " not in output[start:]:
                data = await process.stdout.receive_some()  # type: ignore[union-attr]
                assert data, f"node inspect ended: {bytes(output)!r}"
                output.extend(data)
            return bytes(output[start:])

        await read_prompt()  # connected; typed input before this point would be lost
        await process.stdin.send_all(command.encode() + b"\n")
        answer = await read_prompt()
        await process.stdin.send_all(b".exit\n")
        await process.wait()
    finally:
        process.kill()
        await process.wait()
    return answer.decode(errors="replace")


async def test_devtools_scripts_cri_and_node_inspect_share_one_node(
    chromium: Chromium, node: Callable[..., Target], cri_dir: Path, tmp_path: Path
) -> None:
    target = node(script="globalThis.answer = 42; setInterval(() => {}, 1000)")
    with trio.fail_after(90):
        async with (
            proxy_in_front(target.host, target.port) as proxy,
            open_devtools(chromium, f"127.0.0.1:{proxy.port}/{proxy.id}") as devtools,
        ):
            # A scripted snapshot while DevTools is attached.
            async with cdp_heap.open_cdp(proxy.websocket_url) as conn:
                saved = await cdp_heap.save_snapshot(conn, tmp_path / "s.heapsnapshot")
            assert json.loads(saved.path.read_text())["snapshot"]["node_count"] > 1000
            # chrome-remote-interface: discovery, /json/protocol, commands.
            out = await run_node(["node", "-e", CRI_SCRIPT, str(proxy.port)], cwd=cri_dir)
            assert json.loads(out) == {"value": 42}
            # Node's own CLI debugger client.
            assert "84" in await node_inspect(proxy.port, "exec answer * 2")

            # DevTools still works: evaluate through its own connection.
            async with open_raw(proxy.websocket_url) as probe:
                assert (await call(probe, 1, "Runtime.evaluate", expression="1"))["result"]
            await devtools.wait_until(lambda: set(devtools.sent) <= devtools.replied)
            assert "HeapProfiler.addHeapSnapshotChunk" not in devtools.received_methods
            assert "Debugger.scriptParsed" in devtools.received_methods
            await proxy.wait_until(lambda: proxy.router.statistics().clients == 1)
            stats = proxy.router.statistics()
            assert stats.clients == 1  # only DevTools is left
            assert stats.peak_snapshots_in_flight == 1


async def test_chromium_page_behind_the_proxy(chromium: Chromium, tmp_path: Path) -> None:
    """A Chrome tab's 1 MiB snapshot chunks pass through; upstream Host is 127.0.0.1."""
    with trio.fail_after(60):
        version = await cdp_heap.get_version("127.0.0.1", chromium.port)
        assert version.web_socket_debugger_url is not None
        async with cdp_heap.open_cdp(version.web_socket_debugger_url) as browser:
            script = "window.keep = Array.from({length: 300000}, (_, i) => ({i}))"
            page = f"data:text/html,<script>{script}</script>"
            created = await browser.send("Target.createTarget", {"url": page})
            target_id = created["targetId"]
            try:
                async with proxy_in_front("127.0.0.1", chromium.port, select=target_id) as proxy:
                    (entry,) = await cdp_heap.list_targets("127.0.0.1", proxy.port)
                    assert entry.type == "page" and entry.id == proxy.id
                    async with cdp_heap.open_cdp(proxy.websocket_url) as conn:
                        saved = await cdp_heap.save_snapshot(conn, tmp_path / "page.heapsnapshot")
                    # Chromium sends 1 MiB chunks: over trio-websocket's default maximum.
                    assert saved.size > 2 * 1024 * 1024
                    assert saved.size / saved.chunks > 1000 * 1024
                    json.loads(saved.path.read_text())
            finally:
                await browser.send("Target.closeTarget", {"targetId": target_id})


@pytest.mark.deno
async def test_deno_behind_the_proxy(deno_path: str, tmp_path: Path) -> None:
    """Deno (V8 15, 1 MiB chunks, type "node") behind the proxy: cdp-heap snapshot works."""
    target = start_deno_app(tmp_path)
    try:
        with trio.fail_after(60):
            async with proxy_in_front(target.host, target.port) as proxy:
                (entry,) = await cdp_heap.list_targets("127.0.0.1", proxy.port)
                assert entry.type == "node" and entry.id == proxy.id
                async with cdp_heap.open_cdp(proxy.websocket_url) as conn:
                    saved = await cdp_heap.save_snapshot(conn, tmp_path / "deno.heapsnapshot")
                assert proxy.router.statistics().snapshots_completed == 1
    finally:
        target.kill()
    assert saved.size / saved.chunks > 0.9 * 1024 * 1024  # 1 MiB chunk messages passed through
    assert "DenoThing" in json.loads(saved.path.read_text())["strings"]


async def test_devtools_snapshot_and_scripted_snapshot_are_comparable(
    chromium: Chromium, leaky_app: Target, tmp_path: Path
) -> None:
    """DevTools itself takes a snapshot through the proxy (its SDK, on its own connection);
    a ``cdp-heap snapshot`` run through the same proxy before leak(N) diffs with it to
    exactly N new objects of the leaked class and ~0 other new or deleted objects."""
    leak = 777
    with trio.fail_after(90):
        async with proxy_in_front(leaky_app.host, leaky_app.port) as proxy:
            async with open_raw(proxy.websocket_url) as ws:
                ready = wait_for_global("leak")
                await call(ws, 1, "Runtime.evaluate", expression=ready, awaitPromise=True)
            async with open_devtools(chromium, f"127.0.0.1:{proxy.port}/{proxy.id}") as devtools:
                before = tmp_path / "scripted.heapsnapshot"
                await run_cdp_heap("snapshot", "--port", str(proxy.port), "--gc", "-o", str(before))
                async with open_raw(proxy.websocket_url) as ws:
                    reply = await call(ws, 1, "Runtime.evaluate", expression=f"leak({leak})")
                    assert reply["result"]["result"]["value"] == leak
                text = await devtools.take_heap_snapshot()
                after = tmp_path / "devtools.heapsnapshot"
                after.write_text(text)
                # DevTools' own connection carried the snapshot, and only DevTools'.
                assert "HeapProfiler.takeHeapSnapshot" in devtools.sent.values()
            stats = proxy.router.statistics()
            assert (stats.snapshots_completed, stats.peak_snapshots_in_flight) == (2, 1)
    changes = diff_counts(before, after)
    assert changes.pop("RequestContext") == (leak, 0)
    new_plain, _ = changes.pop("Object")  # each RequestContext holds one headers object
    assert leak <= new_plain <= leak + 10
    assert sum(new for new, _ in changes.values()) <= 10, changes
    assert sum(deleted for _, deleted in changes.values()) <= 10, changes
