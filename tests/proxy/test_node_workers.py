"""Node worker threads: ``cdp-heap snapshot --worker`` directly and through the proxy (with
DevTools and another NodeWorker client attached), and the router's per-client routing of
the messages inside worker sessions (proxy/_node_workers.py), with no sockets."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio

from cdp_heap._wire import Command, decode
from cdp_heap_proxy import Router
from cdp_heap_proxy._actions import Action, SendToClient, SendUpstream
from cdp_heap_proxy._node_workers import SEND as WORKER_SEND
from tests.targets import Chromium, Target, start_node

from .devtools import open_devtools
from .helpers import open_raw, proxy_in_front, raw_websocket, run_cdp_heap, send_text_frame

# Two workers, each with a class of its own; "workers ready" once both run.
APP = """
const { Worker } = require('worker_threads');
const body = (n) => `
  class WorkerThing${n} {}
  globalThis.keep = Array.from({length: 5000}, () => new WorkerThing${n}());
  require('worker_threads').parentPort.postMessage('up');
  setInterval(() => {}, 1 << 30);`;
let up = 0;
for (const name of ['alpha', 'beta']) {
  const worker = new Worker(body(name === 'alpha' ? 1 : 2), {eval: true, name});
  worker.on('message', () => { if (++up === 2) console.error('workers ready'); });
}
class MainThing {}
globalThis.keep = Array.from({length: 5000}, () => new MainThing());
setInterval(() => {}, 1 << 30);
"""
CLASSES = ("WorkerThing1", "WorkerThing2", "MainThing")


@pytest.fixture
def app() -> Iterator[Target]:
    target = start_node("-e", APP, ready=b"workers ready")
    yield target
    target.kill()


def classes_in(path: Path) -> list[str]:
    strings = set(json.loads(path.read_text())["strings"])
    return [name for name in CLASSES if name in strings]


async def test_snapshot_of_a_worker_thread(app: Target, tmp_path: Path) -> None:
    with trio.fail_after(60):
        for select, wanted in [("beta", "WorkerThing2"), ("1", "WorkerThing1")]:
            out = tmp_path / f"{select}.heapsnapshot"
            await run_cdp_heap(
                "snapshot", "--port", str(app.port), "--worker", select, "-o", str(out)
            )
            assert classes_in(out) == [wanted]  # its heap only: not the main thread's
        port, none = str(app.port), str(tmp_path / "none.heapsnapshot")
        done = await trio.run_process(
            [
                sys.executable,
                "-m",
                "cdp_heap",
                "snapshot",
                "--port",
                port,
                "--worker",
                "gamma",
                "-o",
                none,
            ],
            capture_stderr=True,
            check=False,
        )
        assert done.returncode == 1
        assert "no worker thread matches 'gamma'" in done.stderr.decode()
        assert "'[worker 1] alpha'" in done.stderr.decode()


@pytest.mark.chromium
async def test_worker_snapshot_through_the_proxy_with_others_attached(
    app: Target, chromium: Chromium, tmp_path: Path
) -> None:
    """DevTools and a client that uses the same worker (same inner ids) are attached: the
    snapshot is the worker's, and the other client hears none of its chunks."""
    with trio.fail_after(90):
        async with (
            proxy_in_front(app.host, app.port) as proxy,
            open_devtools(chromium, f"127.0.0.1:{proxy.port}/{proxy.id}"),
            open_raw(proxy.websocket_url) as other,
        ):
            enable = {"waitForDebuggerOnStart": False}
            await other.send_message(
                json.dumps({"id": 1, "method": "NodeWorker.enable", "params": enable})
            )
            attached: list[dict[str, Any]] = []
            while len(attached) < 2:
                message = json.loads(await other.get_message())
                if message.get("method") == "NodeWorker.attachedToWorker":
                    attached.append(message["params"])
            (beta,) = [
                a["sessionId"] for a in attached if a["workerInfo"]["title"].endswith("beta")
            ]
            out = tmp_path / "beta.heapsnapshot"
            async with trio.open_nursery() as nursery:

                async def snapshot() -> None:
                    await run_cdp_heap(
                        "snapshot", "--port", str(proxy.port), "--worker", "beta", "-o", str(out)
                    )
                    nursery.cancel_scope.cancel()

                nursery.start_soon(snapshot)
                # Meanwhile the other client talks to the same worker with the inner ids
                # cdp-heap uses too.
                heard: list[dict[str, Any]] = []
                for inner_id in range(1, 200):
                    inner = json.dumps(
                        {
                            "id": inner_id,
                            "method": "Runtime.evaluate",
                            "params": {"expression": "1"},
                        }
                    )
                    params = {"sessionId": beta, "message": inner}
                    await other.send_message(
                        json.dumps(
                            {
                                "id": 100 + inner_id,
                                "method": "NodeWorker.sendMessageToWorker",
                                "params": params,
                            }
                        )
                    )
                    while True:
                        message = json.loads(await other.get_message())
                        if message.get("method") == "NodeWorker.receivedMessageFromWorker":
                            heard.append(json.loads(message["params"]["message"]))
                            break
            assert classes_in(out) == ["WorkerThing2"]
            assert all(m.get("id") in range(1, 200) and "result" in m for m in heard), heard[:3]
            assert [m["id"] for m in heard] == list(range(1, len(heard) + 1))


# A worker whose work() runs only when a client evaluates it (line 2 takes the breakpoint).
WORKER = """globalThis.done = 0;
globalThis.work = function work() {
  globalThis.done += 1;
  return globalThis.done;
};
require('worker_threads').parentPort.postMessage('up');
setInterval(() => {}, 1 << 30);
"""
MAIN = """
const { Worker } = require('worker_threads');
new Worker(%s, {name: 'probe'}).on('message', () => console.error('worker ready'));
setInterval(() => {}, 1 << 30);
"""


class RawClient:
    """A client on a bare TCP stream, which can vanish without a close frame."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self._buffer = bytearray()

    async def send(self, message: dict[str, Any]) -> None:
        await send_text_frame(self.stream, json.dumps(message).encode())

    async def receive(self) -> dict[str, Any]:
        while (text := self._frame()) is None:
            data = await self.stream.receive_some(1 << 16)
            assert data, "the proxy closed the connection"
            self._buffer += data
        message: dict[str, Any] = json.loads(text)
        return message

    def _frame(self) -> str | None:
        """The first whole (unmasked, unfragmented) text frame in the buffer, taken out."""
        data = self._buffer
        if len(data) < 2:
            return None
        size, start = data[1] & 0x7F, 2
        if size >= 126:
            start = 4 if size == 126 else 10
            if len(data) < start:
                return None
            size = int.from_bytes(data[2:start], "big")
        if len(data) < start + size:
            return None
        assert data[0] == 0x81, data[:2]
        text = bytes(data[start : start + size]).decode()
        del data[: start + size]
        return text


class InWorker:
    """One client's conversation with a worker session through the proxy."""

    def __init__(self, send: Any, receive: Any) -> None:
        self._send, self._receive = send, receive
        self._ids = iter(range(1, 1 << 30))
        self.session = ""

    async def attach(self) -> None:
        await self._send({"id": 0, "method": "NodeWorker.enable", "params": enable_params()})
        while not self.session:
            message = await self._receive()
            if message.get("method") == "NodeWorker.attachedToWorker":
                self.session = message["params"]["sessionId"]

    async def send(self, method: str, **params: Any) -> int:
        inner_id = next(self._ids)
        inner = json.dumps({"id": inner_id, "method": method, "params": params})
        message = {"sessionId": self.session, "message": inner}
        await self._send({"id": 1000 + inner_id, "method": WORKER_SEND, "params": message})
        return inner_id

    async def next_inner(self, wanted: Any) -> dict[str, Any]:
        """The next inner message for which ``wanted`` is true (others are skipped)."""
        while True:
            message = await self._receive()
            if message.get("method") == "NodeWorker.receivedMessageFromWorker":
                inner: dict[str, Any] = json.loads(message["params"]["message"])
                if wanted(inner):
                    return inner

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        inner_id = await self.send(method, **params)
        return await self.next_inner(lambda m: m.get("id") == inner_id)


def enable_params() -> dict[str, Any]:
    return {"waitForDebuggerOnStart": False}


@pytest.mark.parametrize("b_debugs", [False, True], ids=["b-without-debugger", "b-debugging"])
async def test_a_departed_clients_debugging_in_a_worker_is_undone(
    tmp_path: Path, b_debugs: bool
) -> None:
    """A enables Debugger in a worker, sets a breakpoint and pauses on it, then drops its
    connection; B, still attached, finds the worker running again, Debugger disabled there
    unless B enabled it too, and A's breakpoint gone (B may set one at the same place)."""
    worker = tmp_path / "worker.js"
    worker.write_text(WORKER)
    target = start_node("-e", MAIN % json.dumps(str(worker)), ready=b"worker ready")
    where = {"url": worker.as_uri(), "lineNumber": 2}
    try:
        with trio.fail_after(60):
            async with (
                proxy_in_front(target.host, target.port) as proxy,
                open_raw(proxy.websocket_url) as b_ws,
            ):
                stream = await raw_websocket(proxy.port, "/" + proxy.id)
                raw = RawClient(stream)
                a = InWorker(raw.send, raw.receive)

                async def b_send(message: dict[str, Any]) -> None:
                    await b_ws.send_message(json.dumps(message))

                async def b_receive() -> dict[str, Any]:
                    message: dict[str, Any] = json.loads(await b_ws.get_message())
                    return message

                b = InWorker(b_send, b_receive)
                await a.attach()
                await b.attach()  # told of the worker by the proxy's replay
                assert a.session == b.session
                if b_debugs:
                    assert "result" in await b.call("Debugger.enable")
                assert "result" in await a.call("Debugger.enable")
                set_by_a = await a.call("Debugger.setBreakpointByUrl", **where)
                breakpoint_id = set_by_a["result"]["breakpointId"]
                # While A is here: its breakpoint is in the way, its Debugger enabled.
                if b_debugs:
                    in_the_way = await b.call("Debugger.setBreakpointByUrl", **where)
                    assert "already exists" in in_the_way["error"]["message"]
                else:
                    assert "result" in await b.call("Debugger.setPauseOnExceptions", state="none")
                await a.send("Runtime.evaluate", expression="work()")
                paused = await a.next_inner(lambda m: m.get("method") == "Debugger.paused")
                assert paused["params"]["hitBreakpoints"] == [breakpoint_id]
                await stream.aclose()  # no close frame
                # A timer can only fire once the worker runs again, after work() returned.
                ran = await b.call(
                    "Runtime.evaluate",
                    expression="new Promise(r => setTimeout(() => r(globalThis.done), 0))",
                    awaitPromise=True,
                )
                assert ran["result"]["result"]["value"] == 1
                if not b_debugs:
                    gone = await b.call("Debugger.setPauseOnExceptions", state="none")
                    assert gone["error"]["message"] == "Debugger agent is not enabled"
                    assert "result" in await b.call("Debugger.enable")
                set_by_b = await b.call("Debugger.setBreakpointByUrl", **where)
                assert set_by_b["result"]["breakpointId"] == breakpoint_id
                assert proxy.router.statistics().clients == 1
    finally:
        target.kill()


# -- the router, no sockets ------------------------------------------------------------------


class Upstream:
    """A router with its upstream open; what it sends upstream and to each client."""

    def __init__(self) -> None:
        self.router = Router()
        self.sent: list[Command] = []
        self.got: dict[int, list[dict[str, Any]]] = {}
        self.apply(self.router.upstream_opened())

    def apply(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, SendUpstream):
                message = decode(action.text)
                assert isinstance(message, Command)
                self.sent.append(message)
            elif isinstance(action, SendToClient):
                self.got.setdefault(action.client, []).append(json.loads(action.text))

    def client(self) -> int:
        client = self.router.add_client("c")
        self.got[client] = []
        return client

    def send(self, client: int, id: int, method: str, **params: Any) -> None:
        self.apply(
            self.router.client_message(
                client, json.dumps({"id": id, "method": method, "params": params})
            )
        )

    def event(self, method: str, **params: Any) -> None:
        self.apply(
            self.router.upstream_message(
                json.dumps({"method": method, "params": params}, separators=(",", ":"))
            )
        )

    def from_worker(self, session: str, inner: dict[str, Any]) -> None:
        self.event(
            "NodeWorker.receivedMessageFromWorker", sessionId=session, message=json.dumps(inner)
        )

    def to_worker(
        self, client: int, id: int, session: str, inner: dict[str, Any]
    ) -> dict[str, Any]:
        """``client`` sends ``inner`` to the worker; the inner message as sent upstream."""
        self.send(
            client,
            id,
            "NodeWorker.sendMessageToWorker",
            sessionId=session,
            message=json.dumps(inner),
        )
        command = self.sent.pop()
        assert command.method == "NodeWorker.sendMessageToWorker"
        result: dict[str, Any] = json.loads(command.params["message"])
        return result

    def inner(self, client: int) -> list[dict[str, Any]]:
        """The worker messages ``client`` received (and forget them)."""
        messages = [
            json.loads(m["params"]["message"])
            for m in self.got[client]
            if m.get("method") == "NodeWorker.receivedMessageFromWorker"
        ]
        self.got[client] = []
        return messages


def two_clients_on_worker() -> tuple[Upstream, int, int]:
    up = Upstream()
    a, b = up.client(), up.client()
    up.send(a, 1, "NodeWorker.enable", waitForDebuggerOnStart=False)
    info = {"workerId": "1", "type": "worker", "title": "[worker 1] w", "url": ""}
    up.event(
        "NodeWorker.attachedToWorker", sessionId="1", workerInfo=info, waitingForDebugger=False
    )
    up.send(b, 1, "NodeWorker.enable", waitForDebuggerOnStart=False)
    return up, a, b


def test_a_late_enabler_is_told_of_the_attached_workers() -> None:
    up, _, b = two_clients_on_worker()
    (replayed,) = [m for m in up.got[b] if m.get("method") == "NodeWorker.attachedToWorker"]
    assert replayed["params"]["sessionId"] == "1"


def test_inner_ids_do_not_collide_and_replies_go_to_the_asker() -> None:
    up, a, b = two_clients_on_worker()
    sent_a = up.to_worker(a, 2, "1", {"id": 1, "method": "Runtime.evaluate"})
    sent_b = up.to_worker(b, 2, "1", {"id": 1, "method": "Runtime.evaluate"})
    assert sent_a["id"] != sent_b["id"]
    up.from_worker("1", {"id": sent_b["id"], "result": {"who": "b"}})
    up.from_worker("1", {"id": sent_a["id"], "result": {"who": "a"}})
    assert up.inner(a) == [{"id": 1, "result": {"who": "a"}}]
    assert up.inner(b) == [{"id": 1, "result": {"who": "b"}}]


def test_worker_snapshot_chunks_go_to_the_requester_only() -> None:
    up, a, b = two_clients_on_worker()
    up.to_worker(b, 2, "1", {"id": 1, "method": "Runtime.enable"})  # b talks to it too
    sent = up.to_worker(a, 3, "1", {"id": 7, "method": "HeapProfiler.takeHeapSnapshot"})
    chunk = {"method": "HeapProfiler.addHeapSnapshotChunk", "params": {"chunk": "{}"}}
    up.from_worker("1", chunk)
    up.from_worker("1", {"id": sent["id"], "result": {}})
    assert up.inner(a) == [chunk, {"id": 7, "result": {}}]
    assert up.inner(b) == []
    # An ordinary worker event reaches every client that talks to the worker.
    up.from_worker("1", {"method": "Runtime.consoleAPICalled", "params": {}})
    assert len(up.inner(a)) == len(up.inner(b)) == 1


def test_a_departed_clients_worker_replies_and_chunks_are_dropped() -> None:
    up, a, b = two_clients_on_worker()
    sent = up.to_worker(a, 3, "1", {"id": 7, "method": "HeapProfiler.takeHeapSnapshot"})
    up.got[a] = []
    up.apply(up.router.remove_client(a))
    up.from_worker("1", {"method": "HeapProfiler.addHeapSnapshotChunk", "params": {"chunk": "{"}})
    up.from_worker("1", {"id": sent["id"], "result": {}})
    assert up.got.get(a) == [] and up.inner(b) == []


def test_messages_to_unknown_workers_are_refused() -> None:
    up, a, _ = two_clients_on_worker()
    up.send(a, 9, "NodeWorker.sendMessageToWorker", sessionId="42", message="{}")
    (error,) = [m for m in up.got[a] if m.get("id") == 9]
    assert "no worker session '42'" in error["error"]["message"]
    up.send(a, 10, "NodeWorker.sendMessageToWorker", sessionId="1", message="not json")
    assert "not a JSON CDP command" in up.got[a][-1]["error"]["message"]


def test_sampling_in_a_worker_is_owned_and_stopped_when_the_owner_leaves() -> None:
    up, a, b = two_clients_on_worker()
    up.to_worker(a, 2, "1", {"id": 1, "method": "HeapProfiler.startSampling"})
    # b may not stop (or restart) a's sampling in that worker: an inner error, nothing sent.
    up.send(
        b,
        2,
        "NodeWorker.sendMessageToWorker",
        sessionId="1",
        message=json.dumps({"id": 5, "method": "HeapProfiler.stopSampling"}),
    )
    assert not [c for c in up.sent if c.method == "NodeWorker.sendMessageToWorker"]
    assert {"id": 2, "result": {}} in up.got[b]
    (refused,) = up.inner(b)
    assert refused["id"] == 5 and "client #1 started it" in refused["error"]["message"]
    up.apply(up.router.remove_client(a))
    (stop,) = [c for c in up.sent if c.method == "NodeWorker.sendMessageToWorker"]
    inner = json.loads(stop.params["message"])
    assert stop.params["sessionId"] == "1" and inner["method"] == "HeapProfiler.stopSampling"
    # The stop's reply is the proxy's own: no one hears it.
    up.from_worker("1", {"id": inner["id"], "result": {"profile": {}}})
    assert up.inner(b) == []


def worker_commands(up: Upstream) -> list[dict[str, Any]]:
    """The inner commands the proxy sent to worker "1" (and forget them)."""
    sent = [
        json.loads(c.params["message"])
        for c in up.sent
        if c.method == "NodeWorker.sendMessageToWorker" and c.params["sessionId"] == "1"
    ]
    up.sent.clear()
    return sent


def test_worker_domains_are_counted_per_client_and_disabled_by_the_last() -> None:
    up, a, b = two_clients_on_worker()
    up.to_worker(a, 2, "1", {"id": 1, "method": "Runtime.enable"})
    up.to_worker(b, 2, "1", {"id": 1, "method": "Runtime.enable"})
    up.to_worker(a, 3, "1", {"id": 2, "method": "HeapProfiler.enable"})
    # a's disable while b still needs Runtime: answered by the proxy, not sent.
    up.send(
        a,
        4,
        "NodeWorker.sendMessageToWorker",
        sessionId="1",
        message='{"id":3,"method":"Runtime.disable"}',
    )
    assert worker_commands(up) == []
    assert {"id": 4, "result": {}} in up.got[a] and up.inner(a) == [{"id": 3, "result": {}}]
    up.to_worker(a, 5, "1", {"id": 4, "method": "Debugger.enable"})
    up.sent.clear()
    # a leaves: its Debugger (it was the only enabler) is disabled, HeapProfiler never is,
    # and Runtime stays enabled for b.
    up.apply(up.router.remove_client(a))
    assert [m["method"] for m in worker_commands(up)] == ["Debugger.disable"]
    # b's own disable of Runtime, now the last, goes to the worker.
    sent = up.to_worker(b, 3, "1", {"id": 2, "method": "Runtime.disable"})
    assert sent["method"] == "Runtime.disable"


def test_heap_profiler_is_never_disabled_in_a_worker() -> None:
    up, a, _ = two_clients_on_worker()
    up.to_worker(a, 2, "1", {"id": 1, "method": "HeapProfiler.enable"})
    up.send(
        a,
        3,
        "NodeWorker.sendMessageToWorker",
        sessionId="1",
        message='{"id":2,"method":"HeapProfiler.disable"}',
    )
    assert worker_commands(up) == [] and up.inner(a) == [{"id": 2, "result": {}}]
    up.to_worker(a, 4, "1", {"id": 3, "method": "HeapProfiler.enable"})
    up.sent.clear()
    up.apply(up.router.remove_client(a))
    assert worker_commands(up) == []


def set_breakpoint(up: Upstream, client: int, id: int, breakpoint_id: str) -> None:
    command = {"id": id, "method": "Debugger.setBreakpointByUrl", "params": {"lineNumber": id}}
    sent = up.to_worker(client, 100 + id, "1", command)
    up.from_worker("1", {"id": sent["id"], "result": {"breakpointId": breakpoint_id}})
    assert up.inner(client)[-1] == {"id": id, "result": {"breakpointId": breakpoint_id}}


def test_a_leaving_clients_breakpoints_in_a_worker_are_removed() -> None:
    up, a, b = two_clients_on_worker()
    up.to_worker(a, 2, "1", {"id": 1, "method": "Debugger.enable"})
    up.to_worker(b, 2, "1", {"id": 1, "method": "Debugger.enable"})
    set_breakpoint(up, a, 3, "bp-a")
    set_breakpoint(up, b, 4, "bp-b")
    up.sent.clear()
    up.apply(up.router.remove_client(a))
    removed = worker_commands(up)
    assert removed == [
        {
            "id": removed[0]["id"],
            "method": "Debugger.removeBreakpoint",
            "params": {"breakpointId": "bp-a"},
        }
    ]
    up.from_worker("1", {"id": removed[0]["id"], "result": {}})
    assert up.inner(b) == []  # the proxy's own reply reaches no one
    # b is the last debugger: its leaving disables Debugger, which removes bp-b anyway.
    up.apply(up.router.remove_client(b))
    assert [m["method"] for m in worker_commands(up)] == ["Debugger.disable"]


def test_a_breakpoint_whose_setter_left_before_the_reply_is_removed() -> None:
    up, a, b = two_clients_on_worker()
    up.to_worker(b, 2, "1", {"id": 1, "method": "Debugger.enable"})
    sent = up.to_worker(a, 3, "1", {"id": 5, "method": "Debugger.setBreakpointByUrl"})
    up.apply(up.router.remove_client(a))
    up.sent.clear()
    up.from_worker("1", {"id": sent["id"], "result": {"breakpointId": "late"}})
    (remove,) = worker_commands(up)
    assert (remove["method"], remove["params"]) == (
        "Debugger.removeBreakpoint",
        {"breakpointId": "late"},
    )
    assert up.inner(b) == []


def test_a_pause_in_a_worker_is_resumed_when_its_holder_leaves() -> None:
    up, a, b = two_clients_on_worker()
    up.to_worker(a, 2, "1", {"id": 1, "method": "Debugger.enable"})
    up.to_worker(b, 2, "1", {"id": 1, "method": "Debugger.enable"})
    set_breakpoint(up, a, 3, "bp-a")
    # b's leaving while a's breakpoint holds the worker paused resumes nothing...
    paused = {"method": "Debugger.paused", "params": {"hitBreakpoints": ["bp-a"], "callFrames": []}}
    up.from_worker("1", paused)
    assert up.inner(b) == [paused]
    c = up.client()
    up.to_worker(c, 1, "1", {"id": 1, "method": "Debugger.enable"})
    up.sent.clear()
    up.apply(up.router.remove_client(b))
    assert worker_commands(up) == []
    # ...a's does: resume, then its breakpoint is removed (c still debugs).
    up.apply(up.router.remove_client(a))
    assert [m["method"] for m in worker_commands(up)] == [
        "Debugger.resume",
        "Debugger.removeBreakpoint",
    ]
    up.from_worker("1", {"method": "Debugger.resumed"})
    # A pause c asked for is c's; once resumed, c's leaving resumes nothing.
    up.to_worker(c, 2, "1", {"id": 2, "method": "Debugger.pause"})
    up.from_worker("1", {"method": "Debugger.paused", "params": {"callFrames": []}})
    up.from_worker("1", {"method": "Debugger.resumed"})
    up.sent.clear()
    up.apply(up.router.remove_client(c))
    assert [m["method"] for m in worker_commands(up)] == ["Debugger.disable"]


def test_a_pause_asked_for_in_a_worker_is_resumed_when_the_asker_leaves() -> None:
    up, a, b = two_clients_on_worker()
    up.to_worker(b, 2, "1", {"id": 1, "method": "Debugger.enable"})
    up.to_worker(a, 2, "1", {"id": 1, "method": "Debugger.pause"})  # a never enabled it
    up.from_worker("1", {"method": "Debugger.paused", "params": {"callFrames": []}})
    up.sent.clear()
    up.apply(up.router.remove_client(a))
    assert [m["method"] for m in worker_commands(up)] == ["Debugger.resume"]


def test_workers_attached_before_node_worker_disable_are_not_replayed() -> None:
    up, a, b = two_clients_on_worker()
    up.apply(up.router.remove_client(a))
    up.apply(up.router.remove_client(b))
    assert [c.method for c in up.sent][-1] == "NodeWorker.disable"
    c = up.client()
    up.send(c, 1, "NodeWorker.enable", waitForDebuggerOnStart=False)
    info = {"workerId": "2", "type": "worker", "title": "[worker 1] w", "url": ""}
    up.event(
        "NodeWorker.attachedToWorker", sessionId="2", workerInfo=info, waitingForDebugger=False
    )
    d = up.client()
    up.send(d, 1, "NodeWorker.enable", waitForDebuggerOnStart=False)
    replayed = [m for m in up.got[d] if m.get("method") == "NodeWorker.attachedToWorker"]
    assert [m["params"]["sessionId"] for m in replayed] == ["2"]
    # The old session still routes (Node keeps it) and is still cleaned up.
    assert (
        up.to_worker(d, 2, "1", {"id": 1, "method": "Runtime.enable"})["method"] == "Runtime.enable"
    )
