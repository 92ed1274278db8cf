"""Faults with a real Node behind the proxy: clients that leave mid-snapshot or never read,
a target that dies or restarts."""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
import trio
import trio_websocket

import cdp_heap
from cdp_heap._discovery import http_get_json
from cdp_heap_proxy._http import json_response, read_request_head
from tests.targets import Target, start_inspected

from .helpers import MiB, ReplayStream, call, open_raw, proxy_in_front

IDLE = "setInterval(() => {}, 1000)"
BIG_HEAP = "globalThis.keep = Array.from({length: 200000}, (_, i) => ({i, s: 'x' + i})); 0"


async def build_heap(url: str) -> None:
    async with open_raw(url) as ws:
        reply = await call(ws, 1, "Runtime.evaluate", expression=BIG_HEAP)
        assert "result" in reply


async def test_client_leaving_mid_snapshot_is_drained_and_others_proceed(
    node: Callable[..., Target], tmp_path: Path
) -> None:
    target = node(script=IDLE)
    with trio.fail_after(60):
        async with proxy_in_front(target.host, target.port) as proxy:
            await build_heap(proxy.websocket_url)
            async with open_raw(proxy.websocket_url) as quitter:
                await quitter.send_message(
                    json.dumps({"id": 1, "method": "HeapProfiler.takeHeapSnapshot"})
                )
                first = json.loads(await quitter.get_message())
                assert first["method"] == "HeapProfiler.addHeapSnapshotChunk"
            # The drained snapshot is still running upstream; a new one waits for it.
            async with cdp_heap.open_cdp(proxy.websocket_url) as conn:
                saved = await cdp_heap.save_snapshot(conn, tmp_path / "after.heapsnapshot")
            assert json.loads(saved.path.read_text())["snapshot"]["node_count"] > 200000
            await proxy.wait_until(lambda: proxy.router.statistics().clients == 0)
            stats = proxy.router.statistics()
            assert stats.peak_snapshots_in_flight == 1
            assert stats.discarded_chunks > 0
            assert (stats.clients, stats.pending_commands, stats.snapshots_in_flight) == (0, 0, 0)


async def test_client_that_never_reads_is_cut_off_and_others_are_not_stalled(
    node: Callable[..., Target], tmp_path: Path
) -> None:
    target = node(script=IDLE)
    with trio.fail_after(60):
        async with proxy_in_front(target.host, target.port, client_queue_bytes=MiB) as proxy:
            await build_heap(proxy.websocket_url)
            async with (
                trio_websocket.open_websocket_url(
                    proxy.websocket_url, message_queue_size=1, max_message_size=256 * MiB
                ) as sluggard,
                open_raw(proxy.websocket_url) as other,
            ):
                await sluggard.send_message(
                    json.dumps({"id": 1, "method": "HeapProfiler.takeHeapSnapshot"})
                )
                # It never reads; the proxy must cut it off rather than buffer the snapshot.
                await proxy.wait_until(lambda: proxy.router.statistics().clients == 1)
                reply = await call(other, 1, "Runtime.evaluate", expression="1+1")
                assert reply["result"]["result"]["value"] == 2
                (gone,) = [
                    d for d in proxy.statistics()["recentDisconnects"] if "too slow" in d["reason"]
                ]
                assert "limit 1048576" in gone["reason"]
                assert all(c["peak_bytes"] <= 2 * MiB for c in proxy.statistics()["clients"])
            # The cut-off client's snapshot is drained upstream and the proxy carries on.
            await proxy.wait_until(lambda: proxy.router.statistics().snapshots_completed == 1)
            async with open_raw(proxy.websocket_url) as ws:
                reply = await call(ws, 1, "HeapProfiler.collectGarbage")
                assert reply["result"] == {}
            assert proxy.router.statistics().pending_commands == 0


async def test_target_killed_detaches_clients_and_restart_reconnects_under_the_same_url(
    node: Callable[..., Target],
) -> None:
    first = node(script="setInterval(() => {}, 1000)")
    with trio.fail_after(60):
        async with proxy_in_front(first.host, first.port) as proxy:
            url = proxy.websocket_url
            (entry,) = await http_get_json("127.0.0.1", proxy.port, "/json/list")
            async with open_raw(url) as client:
                await call(client, 1, "Runtime.evaluate", expression="1")
                first.kill()
                detached = json.loads(await client.get_message())
                assert detached["method"] == "Inspector.detached"
                with pytest.raises(trio_websocket.ConnectionClosed) as closed:
                    await client.get_message()
                reason = closed.value.reason
                assert reason is not None and reason.code == 1001
                assert "target detached" in (reason.reason or "")
            await proxy.wait_until(lambda: not proxy.router.upstream_connected)
            assert await http_get_json("127.0.0.1", proxy.port, "/json/list") == []
            with pytest.raises(trio_websocket.ConnectionRejected) as refused:
                async with open_raw(url):
                    pass
            assert refused.value.status_code == 503

            script = "globalThis.generation = 2; setInterval(() => {}, 1000)"
            second = start_inspected(["node", f"--inspect=127.0.0.1:{first.port}", "-e", script])
            try:
                assert second.ws_url != first.ws_url  # a new inspector id ...
                await proxy.wait_until(lambda: proxy.router.upstream_connected)
                (again,) = await http_get_json("127.0.0.1", proxy.port, "/json/list")
                # ... but the proxy's URL stays the same.
                assert again["webSocketDebuggerUrl"] == entry["webSocketDebuggerUrl"] == url
                async with open_raw(url) as client:
                    reply = await call(client, 1, "Runtime.evaluate", expression="generation")
                    assert reply["result"]["result"]["value"] == 2
            finally:
                second.kill()


async def reset_after(port: int, data: bytes, *, read_first: bool) -> None:
    """Connect, send ``data``, optionally wait for the answer's first bytes, then reset the
    connection (SO_LINGER 0: an RST, not a FIN), as a crashing client does."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    await stream.send_all(data)
    if read_first:
        assert await stream.receive_some(65536)
    stream.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    await stream.aclose()


def upgrade_request(path: str) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


async def test_clients_that_crash_mid_handshake_or_mid_frame_do_not_take_the_proxy_down(
    node: Callable[..., Target],
) -> None:
    target = node(script=IDLE)
    lines: list[str] = []
    with trio.fail_after(30):
        async with proxy_in_front(target.host, target.port, audit=lines.append) as proxy:
            path = f"/{proxy.id}"
            frame_head = b"\x81\xfe\x10\x00" + os.urandom(4)  # masked text frame, 4096 bytes
            abusers = [
                (upgrade_request(path), False),  # reset before the 101
                (upgrade_request(path), True),  # reset right after it
                (upgrade_request(path) + frame_head + b"x" * 100, False),  # mid-frame
                (upgrade_request(path) + b"\x81\xff" + b"\xff" * 12, False),  # 2^64-byte frame
                (b"POST /snapshot HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n", False),
                (b"GET /json/list HTTP/1.1\r\nHo", False),  # half a head
            ]
            for data, read_first in abusers * 3:
                await reset_after(proxy.port, data, read_first=read_first)
            await proxy.wait_until(lambda: proxy.router.statistics().clients == 0)
            await proxy.wait_until(lambda: proxy.router.statistics().snapshots_in_flight == 0)
            async with open_raw(proxy.websocket_url) as ws:
                reply = await call(ws, 1, "Runtime.evaluate", expression="6 * 7")
                assert reply["result"]["result"]["value"] == 42
    # Each of these is handled where it happens, not by the last-resort handler below.
    assert not [line for line in lines if " audit error " in line]


async def test_an_unexpected_error_in_one_connection_is_logged_and_the_proxy_goes_on(
    node: Callable[..., Target], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    target = node(script=IDLE)
    lines: list[str] = []
    with trio.fail_after(30):
        async with proxy_in_front(target.host, target.port, audit=lines.append) as proxy:
            with monkeypatch.context() as patch:
                patch.setattr(proxy, "_http_response", fail_with_a_bug)
                with pytest.raises(cdp_heap.DiscoveryError, match="bad HTTP answer"):
                    await http_get_json("127.0.0.1", proxy.port, "/json/list")
            (error,) = [line for line in lines if " audit error " in line]
            assert "RuntimeError: a bug" in error
            assert "a bug" in caplog.text and "Traceback" in caplog.text
            listed = await http_get_json("127.0.0.1", proxy.port, "/json/list")
            assert isinstance(listed, list) and len(listed) == 1


async def fail_with_a_bug(*args: object) -> bytes:
    raise RuntimeError("a bug")


class DetachingInspector:
    """A minimal inspector: one ``/json/list`` entry; each WebSocket session answers every
    command with ``{}`` and, on ``Runtime.evaluate``, sends a top-level
    ``Inspector.detached`` instead (as Chrome does when a renderer crashes). It counts
    sessions and records how each one ended."""

    def __init__(self) -> None:
        self.port = 0
        self.sessions = 0
        self.ended: list[str] = []
        self.changed = trio.lowlevel.ParkingLot()

    async def serve(
        self,
        *,
        task_status: trio.TaskStatus[list[trio.SocketListener]] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        await trio.serve_listeners(self.handle, listeners, task_status=task_status)

    async def handle(self, stream: trio.SocketStream) -> None:
        head = await read_request_head(stream)
        if head is None:
            return
        if not head.is_websocket_upgrade:
            entry = {
                "id": "fake",
                "type": "node",
                "title": "fake",
                "url": "file:///fake.js",
                "webSocketDebuggerUrl": f"ws://127.0.0.1:{self.port}/fake",
            }
            await stream.send_all(json_response(200, [entry]))
            await stream.aclose()
            return
        async with trio.open_nursery() as nursery:
            request = await trio_websocket.wrap_server_stream(
                nursery, ReplayStream(head.raw, stream)
            )
            ws = await request.accept()
            self.sessions += 1
            self.changed.unpark_all()
            try:
                while True:
                    command = json.loads(await ws.get_message())
                    if command["method"] == "Runtime.evaluate":
                        detached = {"method": "Inspector.detached", "params": {"reason": "gone"}}
                        await ws.send_message(json.dumps(detached))
                    else:
                        await ws.send_message(json.dumps({"id": command["id"], "result": {}}))
            except trio_websocket.ConnectionClosed as exc:
                by_proxy = exc.reason is not None and exc.reason.code == 1000
                self.ended.append("closed by the proxy" if by_proxy else "other")
            self.changed.unpark_all()
            nursery.cancel_scope.cancel()

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        while not predicate():
            await self.changed.park()


async def test_target_detaching_the_session_closes_it_and_the_proxy_reconnects() -> None:
    """The router's CloseUpstream is carried out: the proxy closes the detached session
    itself (the target keeps the socket open) and opens a new one."""
    inspector = DetachingInspector()
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await nursery.start(inspector.serve)
            async with proxy_in_front("127.0.0.1", inspector.port) as proxy:
                async with open_raw(proxy.websocket_url) as ws:
                    await ws.send_message(json.dumps({"id": 1, "method": "Runtime.evaluate"}))
                    detached = json.loads(await ws.get_message())
                    assert detached == {
                        "method": "Inspector.detached",
                        "params": {"reason": "gone"},
                    }
                    with pytest.raises(trio_websocket.ConnectionClosed) as closed:
                        await ws.get_message()
                    assert closed.value.reason is not None and closed.value.reason.code == 1001
                await inspector.wait_until(lambda: inspector.sessions == 2)
                assert inspector.ended == ["closed by the proxy"]
                await proxy.wait_until(lambda: proxy.router.upstream_connected)
                assert proxy.statistics()["upstream"]["connects"] == 2
                assert proxy.router.statistics().clients == 0
            nursery.cancel_scope.cancel()
