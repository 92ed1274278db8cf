"""The same capture against the two other V8 hosts: a Chromium tab and Deno.

Both run V8 15, which sends 1 MiB snapshot chunks: each chunk message is larger than
trio-websocket's 1 MiB default limit, which is why cdp-heap's default is 256 MiB.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import trio

import cdp_heap
from cdp_heap import MessageTooLarge
from tests.targets import Chromium, start_deno_app

MiB = 1024 * 1024


async def chromium_page(chromium: Chromium) -> cdp_heap.TargetInfo:
    targets = await cdp_heap.list_targets("127.0.0.1", chromium.port)
    return cdp_heap.select_target(targets, "^about:blank$")


@pytest.mark.chromium
async def test_chromium_page_snapshot_with_one_mib_chunks(
    chromium: Chromium, tmp_path: Path
) -> None:
    path = tmp_path / "tab.heapsnapshot"
    with trio.fail_after(60):
        page = await chromium_page(chromium)
        assert page.type == "page" and page.web_socket_debugger_url
        async with cdp_heap.open_cdp(page.web_socket_debugger_url) as conn:
            await conn.send(
                "Runtime.evaluate",
                {"expression": "globalThis.keep = Array.from({length: 200000}, (_, i) => ({i}))"},
            )
            saved = await cdp_heap.save_snapshot(conn, path)
    snapshot = json.loads(path.read_text())
    assert "trace_node_id" not in snapshot["snapshot"]["meta"]["node_fields"]  # 6 fields
    assert saved.chunks >= 2
    assert saved.size / saved.chunks > 0.5 * MiB  # big chunks, not Node's 100 KiB


@pytest.mark.chromium
async def test_chromium_chunks_exceed_trio_websockets_default(
    chromium: Chromium, tmp_path: Path
) -> None:
    with trio.fail_after(60):
        page = await chromium_page(chromium)
        assert page.web_socket_debugger_url
        async with cdp_heap.open_cdp(page.web_socket_debugger_url, max_message_size=MiB) as conn:
            with pytest.raises(MessageTooLarge, match="max_message_size=1048576"):
                await cdp_heap.save_snapshot(conn, tmp_path / "x.heapsnapshot")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.deno
async def test_deno_snapshot(deno_path: str, tmp_path: Path) -> None:
    target = start_deno_app(tmp_path)
    try:
        with trio.fail_after(60):
            (info,) = await cdp_heap.list_targets(target.host, target.port)
            assert info.type == "node"  # Deno says "node" too
            async with cdp_heap.open_cdp(target.ws_url) as conn:
                saved = await cdp_heap.save_snapshot(conn, tmp_path / "deno.heapsnapshot")
    finally:
        target.kill()
    snapshot = json.loads(saved.path.read_text())
    assert "DenoThing" in snapshot["strings"]
    assert saved.size / saved.chunks > 0.5 * MiB
