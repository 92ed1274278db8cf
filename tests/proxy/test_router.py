"""The routing rules, pushed through the sans-IO router with no sockets."""

from __future__ import annotations

import json
from typing import Any

from cdp_heap._wire import Command, decode
from cdp_heap_proxy._policy import MethodPolicy
from cdp_heap_proxy._replay import MIN_PROBE_AT, PROBES_IN_FLIGHT
from cdp_heap_proxy._router import (
    Action,
    Audit,
    CloseClient,
    CloseUpstream,
    ForgetClient,
    Router,
    SendToClient,
    SendUpstream,
)


class Harness:
    """A router with its upstream opened; collects what it tells clients and upstream."""

    def __init__(self) -> None:
        self.router = Router()
        self.to_client: dict[int, list[dict[str, Any]]] = {}
        self.upstream: list[Command] = []
        self.closed: dict[int, str] = {}
        self.closed_upstream: list[str] = []
        self.forgotten: dict[int, str] = {}
        self.apply(self.router.upstream_opened())
        enable = self.upstream.pop()
        assert enable.method == "HeapProfiler.enable"
        self.reply(enable.id)

    def apply(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, SendToClient):
                assert action.client not in self.closed, "message after close"
                assert action.client not in self.forgotten, "message after forget"
                self.to_client.setdefault(action.client, []).append(json.loads(action.text))
            elif isinstance(action, SendUpstream):
                message = decode(action.text)
                assert isinstance(message, Command)
                self.upstream.append(message)
            elif isinstance(action, CloseClient):
                self.closed[action.client] = action.reason
            elif isinstance(action, CloseUpstream):
                self.closed_upstream.append(action.reason)
            elif isinstance(action, ForgetClient):
                assert action.client not in self.forgotten, "forgotten twice"
                self.forgotten[action.client] = action.reason

    def connect(self, label: str = "test") -> int:
        client = self.router.add_client(label)
        self.to_client[client] = []
        return client

    def send(self, client: int, id: int, method: str, **params: Any) -> None:
        text = json.dumps({"id": id, "method": method, "params": params})
        self.apply(self.router.client_message(client, text))

    def raw(self, client: int, data: str | bytes) -> None:
        self.apply(self.router.client_message(client, data))

    def take_upstream(self, method: str) -> Command:
        for command in self.upstream:
            if command.method == method:
                self.upstream.remove(command)
                return command
        raise AssertionError(f"{method} not sent upstream; sent: {self.upstream}")

    def reply(self, upstream_id: int, **result: Any) -> None:
        self.apply(self.router.upstream_message(json.dumps({"id": upstream_id, "result": result})))

    def error(self, upstream_id: int, message: str) -> None:
        error = {"code": -32000, "message": message}
        self.apply(self.router.upstream_message(json.dumps({"id": upstream_id, "error": error})))

    def event(self, method: str, **params: Any) -> None:
        # Compact, as Node and Chrome send them (chunks take the router's fast path).
        text = json.dumps({"method": method, "params": params}, separators=(",", ":"))
        self.apply(self.router.upstream_message(text))

    def received(self, client: int) -> list[dict[str, Any]]:
        messages, self.to_client[client] = self.to_client[client], []
        return messages

    def leave(self, client: int) -> None:
        self.apply(self.router.remove_client(client))


def test_ids_are_rewritten_and_replies_go_to_the_asker() -> None:
    h = Harness()
    a, b = h.connect(), h.connect()
    h.send(a, 1, "Runtime.evaluate", expression="1")
    h.send(b, 1, "Runtime.evaluate", expression="2")
    first, second = h.upstream
    assert first.id != second.id
    h.reply(second.id, value=2)
    h.reply(first.id, value=1)
    assert h.received(a) == [{"id": 1, "result": {"value": 1}}]
    assert h.received(b) == [{"id": 1, "result": {"value": 2}}]
    assert h.router.statistics().pending_commands == 0


def test_snapshots_are_single_flight_and_chunks_go_to_the_requester() -> None:
    h = Harness()
    a, b = h.connect(), h.connect()
    h.send(a, 7, "HeapProfiler.takeHeapSnapshot", reportProgress=True)
    h.send(b, 9, "HeapProfiler.takeHeapSnapshot")
    assert [c.method for c in h.upstream] == ["HeapProfiler.takeHeapSnapshot"]
    stats = h.router.statistics()
    assert (stats.snapshots_in_flight, stats.snapshots_queued) == (1, 1)
    first = h.upstream.pop()
    h.event("HeapProfiler.reportHeapSnapshotProgress", done=1, total=2)
    h.event("HeapProfiler.addHeapSnapshotChunk", chunk="{a")
    assert not h.received(b)
    h.reply(first.id)
    assert [m.get("method", m.get("id")) for m in h.received(a)] == [
        "HeapProfiler.reportHeapSnapshotProgress",
        "HeapProfiler.addHeapSnapshotChunk",
        7,
    ]
    second = h.take_upstream("HeapProfiler.takeHeapSnapshot")
    h.event("HeapProfiler.addHeapSnapshotChunk", chunk="{b")
    h.reply(second.id)
    assert h.received(b) == [
        {"method": "HeapProfiler.addHeapSnapshotChunk", "params": {"chunk": "{b"}},
        {"id": 9, "result": {}},
    ]
    assert not h.received(a)
    assert h.router.statistics().peak_snapshots_in_flight == 1


def test_departed_clients_snapshot_is_drained_and_the_next_one_starts() -> None:
    h = Harness()
    a, b = h.connect(), h.connect()
    h.send(a, 1, "HeapProfiler.takeHeapSnapshot")
    h.send(b, 1, "HeapProfiler.takeHeapSnapshot")
    first = h.upstream.pop()
    h.event("HeapProfiler.addHeapSnapshotChunk", chunk="x")
    assert [m["params"]["chunk"] for m in h.received(a)] == ["x"]
    h.leave(a)
    h.event("HeapProfiler.addHeapSnapshotChunk", chunk="y")
    assert not h.upstream, "the second snapshot must wait for the first to drain"
    assert not h.received(b)
    h.reply(first.id)
    second = h.take_upstream("HeapProfiler.takeHeapSnapshot")
    h.event("HeapProfiler.addHeapSnapshotChunk", chunk="z")
    h.reply(second.id)
    assert [m.get("params", {}).get("chunk") for m in h.received(b)] == ["z", None]
    assert not h.to_client[a], "nothing reaches a departed client"


def test_enable_is_refcounted_and_heap_profiler_never_disabled() -> None:
    h = Harness()
    a, b = h.connect(), h.connect()
    for client in (a, b):
        h.send(client, 1, "Debugger.enable")
        h.send(client, 2, "HeapProfiler.enable")
    for command in list(h.upstream):
        h.reply(command.id)
    h.upstream.clear()
    h.send(a, 3, "Debugger.disable")
    h.send(a, 4, "HeapProfiler.disable")
    assert not h.upstream, "b still uses Debugger; HeapProfiler is never disabled"
    assert [m["id"] for m in h.received(a)][-2:] == [3, 4]
    h.send(b, 3, "HeapProfiler.disable")
    h.leave(b)
    assert [c.method for c in h.upstream] == ["Debugger.disable"]


def test_late_enabler_gets_the_state_a_fresh_session_gets() -> None:
    h = Harness()
    a = h.connect()
    h.send(a, 1, "Runtime.enable")
    h.send(a, 2, "Debugger.enable")
    h.event("Runtime.executionContextCreated", context={"id": 1, "name": "main"})
    h.event("Runtime.executionContextCreated", context={"id": 2, "name": "gone"})
    h.event("Debugger.scriptParsed", scriptId="10", url="a.js", executionContextId=1)
    h.event("Debugger.scriptParsed", scriptId="11", url="b.js", executionContextId=2)
    h.event("Runtime.executionContextDestroyed", executionContextId=2)
    h.event("Debugger.paused", reason="other", callFrames=[])
    for command in list(h.upstream):
        h.reply(command.id)
    h.upstream.clear()
    b = h.connect()
    h.send(b, 1, "Runtime.enable")
    h.send(b, 2, "Debugger.enable")
    # Before replaying scripts, the router asks V8 which it still has.
    probe = h.take_upstream("Debugger.searchInContent")
    assert probe.params["scriptId"] == "10"
    h.reply(probe.id, result=[])
    got = h.received(b)
    assert [m.get("method") for m in got] == [
        "Runtime.executionContextCreated",
        "Debugger.scriptParsed",
        "Debugger.paused",
    ]
    assert got[0]["params"]["context"]["id"] == 1
    assert got[1]["params"]["url"] == "a.js"


def test_late_debugger_enable_replays_only_scripts_v8_still_has() -> None:
    h = Harness()
    a = h.connect()
    h.send(a, 1, "Debugger.enable")
    for script in range(1, 5):
        h.event("Debugger.scriptParsed", scriptId=str(script), url=f"{script}.js")
    h.reply(h.take_upstream("Debugger.enable").id)
    h.received(a)
    b, c = h.connect(), h.connect()
    h.send(b, 1, "Debugger.enable")
    # While b's probes are out: every script is asked again, as their answers may say what
    # was true before c asked.
    h.send(c, 1, "Debugger.enable")
    probes = [p for p in h.upstream if p.method == "Debugger.searchInContent"]
    assert sorted(p.params["scriptId"] for p in probes) == ["1", "1", "2", "2", "3", "3", "4", "4"]
    assert h.router.statistics().script_probes_in_flight == 8
    h.leave(c)  # a held client that leaves is simply dropped
    h.event("Debugger.scriptParsed", scriptId="5", url="5.js")  # parsed meanwhile: replayed
    for probe in probes:
        h.upstream.remove(probe)
        if probe.params["scriptId"] in ("1", "3"):  # collected by V8
            h.error(probe.id, f"No script for id: {probe.params['scriptId']}")
        else:
            h.reply(probe.id, result=[])
    got = h.received(b)
    assert [m["params"]["url"] for m in got] == ["2.js", "4.js", "5.js"]
    (enable,) = h.upstream  # forwarded once the replay is out
    assert enable.method == "Debugger.enable"
    h.reply(enable.id)
    assert h.received(b) == [{"id": 1, "result": {}}]
    stats = h.router.statistics()
    assert (stats.replay_cache_scripts, stats.script_probes_in_flight) == (3, 0)


def test_replay_cache_is_probed_as_it_grows_a_window_at_a_time() -> None:
    h = Harness()
    a = h.connect()
    h.send(a, 1, "Debugger.enable")
    h.reply(h.take_upstream("Debugger.enable").id)
    for script in range(1, MIN_PROBE_AT + 2):
        h.event("Debugger.scriptParsed", scriptId=str(script))
    probed: list[str] = []
    while probes := [p for p in h.upstream if p.method == "Debugger.searchInContent"]:
        # Never more than the window unanswered: each answer lets the next probe go.
        assert len(probes) <= PROBES_IN_FLIGHT
        assert h.router.statistics().script_probes_in_flight == len(probes)
        probe = probes[0]
        h.upstream.remove(probe)
        probed.append(probe.params["scriptId"])
        if int(probe.params["scriptId"]) <= 10:  # all but ten were collected
            h.reply(probe.id, result=[])
        else:
            h.error(probe.id, f"No script for id: {probe.params['scriptId']}")
    # Once each, when the cache passed MIN_PROBE_AT.
    assert sorted(probed, key=int) == [str(i) for i in range(1, MIN_PROBE_AT + 2)]
    assert h.router.statistics().replay_cache_scripts == 10
    assert len(h.received(a)) == MIN_PROBE_AT + 2  # a got every event and its reply


def test_sampling_is_owned_and_undone_when_the_owner_leaves() -> None:
    h = Harness()
    a, b = h.connect("scripted"), h.connect("devtools")
    h.send(a, 1, "HeapProfiler.startSampling")
    h.reply(h.take_upstream("HeapProfiler.startSampling").id)
    h.send(b, 5, "HeapProfiler.startSampling")
    h.send(b, 6, "HeapProfiler.stopSampling")
    errors = h.received(b)
    assert [e["id"] for e in errors] == [5, 6]
    assert all("scripted" in e["error"]["message"] for e in errors)
    assert not h.upstream
    h.leave(a)
    assert [c.method for c in h.upstream] == ["HeapProfiler.stopSampling"]


def test_tracking_owner_leaving_stops_it_through_the_snapshot_queue() -> None:
    h = Harness()
    a, b = h.connect(), h.connect()
    h.send(a, 1, "HeapProfiler.startTrackingHeapObjects")
    h.reply(h.take_upstream("HeapProfiler.startTrackingHeapObjects").id)
    h.event("HeapProfiler.heapStatsUpdate", statsUpdate=[1, 2, 3])
    assert h.received(a)[-1]["method"] == "HeapProfiler.heapStatsUpdate"
    h.send(b, 1, "HeapProfiler.takeHeapSnapshot")
    snapshot = h.take_upstream("HeapProfiler.takeHeapSnapshot")
    h.leave(a)
    assert not h.upstream, "the stop (which streams a snapshot) waits for b's snapshot"
    h.reply(snapshot.id)
    stop = h.take_upstream("HeapProfiler.stopTrackingHeapObjects")
    h.event("HeapProfiler.addHeapSnapshotChunk", chunk="discarded")
    h.reply(stop.id)
    assert h.received(b) == [{"id": 1, "result": {}}]
    assert h.router.statistics().pending_commands == 0


def test_pause_held_by_departing_client_is_resumed() -> None:
    h = Harness()
    a, b = h.connect(), h.connect()
    h.send(a, 1, "Debugger.enable")
    h.send(b, 1, "Debugger.enable")
    h.send(a, 2, "Debugger.pause")
    h.event("Debugger.paused", reason="other", callFrames=[])
    h.upstream.clear()
    h.leave(a)
    assert [c.method for c in h.upstream] == ["Debugger.resume"]


def test_bad_client_messages_get_errors_and_others_are_unaffected() -> None:
    h = Harness()
    a, b = h.connect(), h.connect()
    h.send(b, 1, "Runtime.evaluate", expression="1")
    h.raw(a, "{not json")
    h.raw(a, b"\x00\x01")
    h.raw(a, json.dumps({"method": "Runtime.evaluate"}))
    h.send(a, 3, "Runtime.evaluate")
    h.send(a, 3, "Runtime.evaluate")
    h.raw(a, json.dumps({"id": "x", "method": "Runtime.evaluate"}))
    errors = h.received(a)
    assert [e.get("id") for e in errors] == [None, None, None, 3, None]
    assert [e["error"]["code"] for e in errors] == [-32700, -32600, -32600, -32600, -32600]
    assert len(h.upstream) == 2
    h.reply(h.upstream[0].id, value=1)
    assert h.received(b) == [{"id": 1, "result": {"value": 1}}]


def test_events_go_to_enablers_and_unknown_domains_to_everyone() -> None:
    h = Harness()
    a, b = h.connect(), h.connect()
    h.send(a, 1, "Runtime.enable")
    h.received(a)
    h.event("Runtime.consoleAPICalled", type="log", args=[])
    h.event("NodeTracing.dataCollected", value=[])
    assert [m["method"] for m in h.received(a)] == [
        "Runtime.consoleAPICalled",
        "NodeTracing.dataCollected",
    ]
    assert [m["method"] for m in h.received(b)] == ["NodeTracing.dataCollected"]


def test_upstream_detach_closes_every_client_and_resets() -> None:
    h = Harness()
    a, b = h.connect(), h.connect()
    h.send(a, 1, "HeapProfiler.takeHeapSnapshot")
    h.event("Inspector.detached", reason="Render process gone.")
    assert h.closed_upstream == ["Render process gone."]
    for client in (a, b):
        assert h.received(client)[-1]["method"] == "Inspector.detached"
        assert "Render process gone." in h.closed[client]
        assert h.forgotten[client] == "target detached: Render process gone."
    # The shell's session end that follows changes nothing more; nor does a late departure.
    assert h.router.upstream_lost("connection closed") == []
    assert h.router.remove_client(a) == []
    stats = h.router.statistics()
    assert (stats.clients, stats.pending_commands, stats.upstream_connected) == (0, 0, False)


def test_shut_down_detaches_closes_and_undoes_every_client() -> None:
    h = Harness()
    sampler, other = h.connect("sampler"), h.connect("other")
    h.send(sampler, 1, "HeapProfiler.startSampling")
    h.reply(h.take_upstream("HeapProfiler.startSampling").id)
    h.send(other, 7, "Runtime.evaluate", expression="1")
    h.take_upstream("Runtime.evaluate")
    h.received(sampler)  # startSampling's reply
    h.apply(h.router.shut_down("proxy stopping"))
    for client in (sampler, other):
        (detached,) = h.received(client)
        assert detached == {"method": "Inspector.detached", "params": {"reason": "proxy stopping"}}
        assert h.closed[client] == "proxy stopping"
        assert h.forgotten[client] == "proxy stopping"
    # The sampler's sampling is stopped upstream; the upstream session itself stays open.
    (stop,) = h.upstream
    assert stop.method == "HeapProfiler.stopSampling" and h.closed_upstream == []
    h.reply(stop.id, profile={"head": {}, "samples": []})
    stats = h.router.statistics()
    assert (stats.clients, stats.pending_commands, stats.upstream_connected) == (0, 0, True)


def test_method_policy_refuses_commands_and_withholds_events() -> None:
    h = Harness()
    full = h.connect()
    heap_only = h.router.add_client(
        "ci", MethodPolicy.parse("HeapProfiler.*", "--profiling-methods")
    )
    h.to_client[heap_only] = []
    actions = h.router.client_message(
        heap_only, json.dumps({"id": 1, "method": "Runtime.evaluate", "params": {}})
    )
    assert Audit(heap_only, "denied", "Runtime.evaluate") in actions
    h.apply(actions)
    (refusal,) = h.received(heap_only)
    assert (
        refusal["id"] == 1 and "--profiling-methods HeapProfiler.*" in refusal["error"]["message"]
    )
    assert h.upstream == []  # nothing reached the target
    actions = h.router.client_message(
        heap_only, json.dumps({"id": 2, "method": "HeapProfiler.takeHeapSnapshot"})
    )
    assert actions[0] == Audit(heap_only, "start", "HeapProfiler.takeHeapSnapshot")
    h.send(heap_only, 3, "HeapProfiler.enable")
    # Events of a domain no one enabled go to everyone allowed to hear them.
    h.event("Target.targetCreated", targetInfo={})
    h.event("HeapProfiler.resetProfiles")
    assert [m.get("method") for m in h.received(full)] == ["Target.targetCreated"]
    assert [m.get("method") for m in h.received(heap_only)] == ["HeapProfiler.resetProfiles"]
    assert h.router.statistics().denied_by_policy == 1


def test_a_reply_is_readdressed_without_decoding_it() -> None:
    h = Harness()
    a = h.connect()
    h.send(a, 7, "Profiler.stop")
    stop = h.take_upstream("Profiler.stop")
    # As Node writes it: compact, its own key order and escapes (a decode and encode
    # would reorder nothing here but turn \u00e9 into é).
    rest = ',"result":{"profile":{"z":1,"a":"caf\\u00e9"}},"sessionId":"S"}'
    actions = h.router.upstream_message(f'{{"id":{stop.id}{rest}')
    assert actions == [SendToClient(a, '{"id":7' + rest)]
    stats = h.router.statistics()
    assert stats.pending_commands == 0
    assert stats.upstream is not None and stats.upstream.pending == 0
    # A breakpoint's reply is read: the breakpoint becomes the client's, removed when it
    # leaves.
    h.send(a, 8, "Debugger.setBreakpointByUrl", lineNumber=1, url="a.js")
    setter = h.take_upstream("Debugger.setBreakpointByUrl")
    h.apply(h.router.upstream_message(f'{{"id":{setter.id},"result":{{"breakpointId":"bp1"}}}}'))
    assert h.received(a)[-1] == {"id": 8, "result": {"breakpointId": "bp1"}}
    h.leave(a)
    (remove,) = h.upstream
    assert remove.method == "Debugger.removeBreakpoint" and remove.params["breakpointId"] == "bp1"
