"""Property-based test of the router: random interleavings of several clients' commands,
departures, upstream replies (in any order, some errors), snapshot chunks and events.

Invariants checked after every step and at the end:
- every reply reaches exactly the client that asked, with its own id, exactly once;
- nothing at all reaches a client after it left;
- a snapshot chunk reaches at most the one client whose snapshot is in flight upstream;
- a Node worker's inner reply reaches exactly the client that sent that inner command, with
  its own inner id, once (whatever the enables, disables, breakpoints and pauses in it);
- never two snapshot commands pending upstream at once;
- once upstream has answered everything, every live client got all its replies, and once all
  clients are gone too, every table is empty.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from cdp_heap._protocol import SNAPSHOT_METHODS
from cdp_heap._wire import Command, decode
from cdp_heap_proxy._node_workers import ATTACHED, RECEIVED, SEND
from cdp_heap_proxy._router import CloseClient, ForgetClient, Router, SendToClient, SendUpstream

METHODS = [
    "Runtime.evaluate",
    "HeapProfiler.takeHeapSnapshot",
    "HeapProfiler.stopTrackingHeapObjects",
    "HeapProfiler.startTrackingHeapObjects",
    "Runtime.enable",
    "Runtime.disable",
    "Debugger.enable",
    "Debugger.disable",
    "Debugger.pause",
    "HeapProfiler.enable",
    "HeapProfiler.disable",
    "HeapProfiler.startSampling",
    "HeapProfiler.stopSampling",
]
#: Inner commands sent to the one worker session, "w".
INNER_METHODS = [
    "Runtime.evaluate",
    "Runtime.enable",
    "Runtime.disable",
    "Debugger.enable",
    "Debugger.disable",
    "Debugger.setBreakpointByUrl",
    "Debugger.pause",
    "HeapProfiler.disable",
    "HeapProfiler.startSampling",
    "HeapProfiler.stopSampling",
]


class RouterMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.router = Router()
        self.live: dict[int, dict[int, str]] = {}  # client -> outstanding id -> method
        self.departed: set[int] = set()
        self.forgotten: set[int] = set()  # announced by the router with ForgetClient
        self.upstream: list[Command] = []
        self.chunk_counter = 0
        self.chunk_for: int | None = None  # client whose snapshot is in flight, if known
        self.shutting_down = False
        self.inner_live: dict[int, set[int]] = {}  # client -> its outstanding inner ids
        self.inner_upstream: list[tuple[int, str]] = []  # (upstream inner id, method)
        self.next_id = 100
        self.apply(self.router.upstream_opened())
        attached = {"sessionId": "w", "workerInfo": {}, "waitingForDebugger": False}
        self.apply(
            self.router.upstream_message(json.dumps({"method": ATTACHED, "params": attached}))
        )

    # -- plumbing ----------------------------------------------------------------------------

    def apply(self, actions: list[Any]) -> None:
        for action in actions:
            if isinstance(action, SendUpstream):
                command = decode(action.text)
                assert isinstance(command, Command)
                self.upstream.append(command)
                if command.method == SEND:
                    inner = json.loads(command.params["message"])
                    self.inner_upstream.append((inner["id"], inner["method"]))
                snapshots = [c for c in self.upstream if c.method in SNAPSHOT_METHODS]
                assert len(snapshots) <= 1, "two snapshots in flight upstream"
            elif isinstance(action, SendToClient):
                self.deliver(action.client, json.loads(action.text))
            elif isinstance(action, CloseClient):
                assert self.shutting_down, "clients are only closed when the proxy stops"
                # Closed: from now on it must get nothing (deliver checks departed clients).
                del self.live[action.client]
                self.departed.add(action.client)
            elif isinstance(action, ForgetClient):
                assert action.client not in self.forgotten, "a client forgotten twice"
                self.forgotten.add(action.client)

    def deliver(self, client: int, message: dict[str, Any]) -> None:
        assert client not in self.departed, f"message to departed client {client}: {message}"
        assert client not in self.forgotten, f"message to forgotten client {client}: {message}"
        outstanding = self.live[client]
        if "id" in message:
            msg_id = message["id"]
            assert msg_id in outstanding, f"client {client} got a reply to {msg_id} it never sent"
            del outstanding[msg_id]
        elif message.get("method") == RECEIVED:
            inner = json.loads(message["params"]["message"])
            if "id" in inner:
                mine = self.inner_live[client]
                assert inner["id"] in mine, f"client {client} got inner reply {inner}"
                mine.remove(inner["id"])
        elif message.get("method") == "HeapProfiler.addHeapSnapshotChunk":
            assert "HeapProfiler.takeHeapSnapshot" in outstanding.values() or (
                "HeapProfiler.stopTrackingHeapObjects" in outstanding.values()
            ), "chunk to a client with no snapshot pending"
            assert self.chunk_for in (None, client), "chunk to two clients"
            self.chunk_for = client

    # -- rules -------------------------------------------------------------------------------

    @rule()
    def connect(self) -> None:
        client = self.router.add_client("prop")
        self.live[client] = {}
        self.inner_live[client] = set()

    @precondition(lambda self: self.live)
    @rule(data=st.data())
    def leave(self, data: st.DataObject) -> None:
        client = data.draw(st.sampled_from(sorted(self.live)))
        del self.live[client]
        self.departed.add(client)
        self.apply(self.router.remove_client(client))
        assert client in self.forgotten, "the router did not announce the removal"
        assert self.router.remove_client(client) == [], "a second removal did something"

    @precondition(lambda self: self.live)
    @rule()
    def shut_down(self) -> None:
        """The proxy stops: every client is told, closed and forgotten, in one step."""
        self.shutting_down = True
        self.apply(self.router.shut_down("stopping"))
        self.shutting_down = False
        assert not self.live
        assert self.departed <= self.forgotten, "a closed client was not forgotten"

    @precondition(lambda self: self.live)
    @rule(data=st.data(), method=st.sampled_from(METHODS), msg_id=st.integers(0, 4))
    def client_command(self, data: st.DataObject, method: str, msg_id: int) -> None:
        client = data.draw(st.sampled_from(sorted(self.live)))
        outstanding = self.live[client]
        text = json.dumps({"id": msg_id, "method": method})
        if msg_id in outstanding:
            actions = self.router.client_message(client, text)
            assert len(actions) == 1 and isinstance(actions[0], SendToClient)
            reply = json.loads(actions[0].text)
            assert reply["id"] == msg_id and "error" in reply
            return
        outstanding[msg_id] = method
        self.apply(self.router.client_message(client, text))

    @precondition(lambda self: self.live)
    @rule(data=st.data(), method=st.sampled_from(INNER_METHODS))
    def worker_command(self, data: st.DataObject, method: str) -> None:
        client = data.draw(st.sampled_from(sorted(self.live)))
        self.next_id += 1
        outer, inner_id = self.next_id, self.next_id % 7  # inner ids collide across clients
        if inner_id in self.inner_live[client]:
            return
        self.live[client][outer] = SEND
        self.inner_live[client].add(inner_id)
        message = json.dumps({"id": inner_id, "method": method})
        params = {"sessionId": "w", "message": message}
        self.apply(
            self.router.client_message(
                client, json.dumps({"id": outer, "method": SEND, "params": params})
            )
        )

    @precondition(lambda self: self.inner_upstream)
    @rule(data=st.data())
    def worker_reply(self, data: st.DataObject) -> None:
        inner_id, method = data.draw(st.sampled_from(self.inner_upstream))
        self.inner_upstream.remove((inner_id, method))
        self.answer_inner(inner_id, method)

    @rule(paused=st.booleans(), hit=st.integers(0, 20))
    def worker_pause_event(self, paused: bool, hit: int) -> None:
        inner: dict[str, Any] = {"method": "Debugger.resumed", "params": {}}
        if paused:
            inner = {"method": "Debugger.paused", "params": {"hitBreakpoints": [f"bp{hit}"]}}
        event = {"method": RECEIVED, "params": {"sessionId": "w", "message": json.dumps(inner)}}
        self.apply(self.router.upstream_message(json.dumps(event)))

    def answer_inner(self, inner_id: int, method: str) -> None:
        result = {"breakpointId": f"bp{inner_id}"} if "setBreakpoint" in method else {}
        inner = json.dumps({"id": inner_id, "result": result})
        event = {"method": RECEIVED, "params": {"sessionId": "w", "message": inner}}
        self.apply(self.router.upstream_message(json.dumps(event)))

    @precondition(lambda self: self.live)
    @rule(data=st.data(), garbage=st.sampled_from(["{", "[]", '{"method":"X.y"}', b"\x00"]))
    def client_garbage(self, data: st.DataObject, garbage: str | bytes) -> None:
        client = data.draw(st.sampled_from(sorted(self.live)))
        actions = self.router.client_message(client, garbage)
        assert len(actions) == 1 and isinstance(actions[0], SendToClient)
        assert actions[0].client == client and "error" in json.loads(actions[0].text)

    @precondition(lambda self: self.upstream)
    @rule(data=st.data(), error=st.booleans(), compact=st.booleans())
    def upstream_reply(self, data: st.DataObject, error: bool, compact: bool) -> None:
        """``compact`` is the exact text Node and Chrome send (the router re-addresses a
        successful reply in that form without decoding it)."""
        command = data.draw(st.sampled_from(self.upstream))
        self.upstream.remove(command)
        if command.method in SNAPSHOT_METHODS:
            self.chunk_for = None
        body: dict[str, Any] = (
            {"error": {"code": -32000, "message": "no"}} if error else {"result": {"v": 1}}
        )
        separators = (",", ":") if compact else (", ", ": ")
        text = json.dumps({"id": command.id, **body}, separators=separators)
        self.apply(self.router.upstream_message(text))

    @precondition(lambda self: any(c.method in SNAPSHOT_METHODS for c in self.upstream))
    @rule(compact=st.booleans())
    def upstream_chunk(self, compact: bool) -> None:
        """``compact`` is the exact text Node and Chrome send (the router's fast path)."""
        self.chunk_counter += 1
        event = {"method": "HeapProfiler.addHeapSnapshotChunk", "params": {"chunk": "c"}}
        separators = (",", ":") if compact else (", ", ": ")
        self.apply(self.router.upstream_message(json.dumps(event, separators=separators)))

    @rule(
        method=st.sampled_from(
            ["Runtime.consoleAPICalled", "Debugger.paused", "Debugger.scriptParsed", "X.y"]
        )
    )
    def upstream_event(self, method: str) -> None:
        """A ``scriptParsed`` fills the replay cache, so a late ``Debugger.enable`` is held
        while its probes are out (their replies, errors included, come in any order)."""
        self.chunk_counter += 1
        params = {"callFrames": [], "scriptId": str(self.chunk_counter)}
        event = {"method": method, "params": params}
        self.apply(self.router.upstream_message(json.dumps(event)))

    # -- invariants --------------------------------------------------------------------------

    @invariant()
    def statistics_agree(self) -> None:
        stats = self.router.statistics()
        assert stats.clients == len(self.live)
        assert not set(self.live) & self.forgotten
        assert stats.peak_snapshots_in_flight <= 1
        assert stats.upstream is not None
        assert stats.upstream.pending == stats.pending_commands
        # Commands of departed clients stay unanswered upstream until their reply is swallowed.
        assert stats.pending_commands + stats.upstream.abandoned == len(self.upstream)

    def drain_upstream(self) -> None:
        for _ in range(200):
            if self.inner_upstream:
                self.answer_inner(*self.inner_upstream.pop(0))
            elif self.upstream:
                command = self.upstream.pop(0)
                reply = json.dumps({"id": command.id, "result": {}})
                self.apply(self.router.upstream_message(reply))
            else:
                return
        raise AssertionError("upstream never quiesced")

    def teardown(self) -> None:
        self.drain_upstream()
        for client, outstanding in self.live.items():
            assert not outstanding, f"client {client} never got replies to {outstanding}"
            assert not self.inner_live[client], f"client {client}: no inner replies"
        for client in list(self.live):
            del self.live[client]
            self.departed.add(client)
            self.apply(self.router.remove_client(client))
        self.drain_upstream()
        stats = self.router.statistics()
        assert stats.clients == 0
        assert stats.pending_commands == 0
        assert (stats.snapshots_in_flight, stats.snapshots_queued) == (0, 0)
        assert stats.enabled_domains == ()
        assert stats.owners == ()
        assert stats.upstream is not None
        assert (stats.upstream.pending, stats.upstream.abandoned) == (0, 0)


RouterMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestRouterProperties = RouterMachine.TestCase
