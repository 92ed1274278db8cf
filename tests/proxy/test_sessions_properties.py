"""Property-based test of the browser hub against a small model of Chrome's flattened
sessions: random clients (browser and page endpoints) attach, get child sessions announced,
send commands and snapshots in any of their sessions, and leave; Chrome answers pending
commands in any order.

Invariants, after every step:
- a message in a session reaches only that session's owner, and nothing reaches a client
  after it left;
- never two snapshot commands pending upstream for one target (but several targets at once);
- once everyone has left and Chrome has answered everything, the hub holds nothing.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from cdp_heap_proxy import BrowserHub
from cdp_heap_proxy._actions import Action, CloseClient, SendToClient, SendUpstream

SNAP = "HeapProfiler.takeHeapSnapshot"
TARGETS = ["T1", "T2"]


class FakeChrome:
    """Sessions (id -> target, parent), and the commands the hub sent that await replies."""

    def __init__(self) -> None:
        self.sessions: dict[str, tuple[str, str | None]] = {}
        self.pending: list[dict[str, Any]] = []
        self.counter = 0

    def new_session(self, target: str, parent: str | None) -> str:
        self.counter += 1
        session = f"S{self.counter}"
        self.sessions[session] = (target, parent)
        return session

    def detach(self, session: str) -> list[str]:
        """Detach ``session`` and its descendants; the detachedFromTarget events."""
        events = []
        for child in [s for s, (_, p) in self.sessions.items() if p == session]:
            events += self.detach(child)
        if session in self.sessions:
            target, parent = self.sessions.pop(session)
            params = {"sessionId": session, "targetId": target}
            message: dict[str, Any] = {"method": "Target.detachedFromTarget", "params": params}
            if parent is not None:
                message["sessionId"] = parent
            events.append(json.dumps(message, separators=(",", ":")))
        self.pending = [c for c in self.pending if c.get("sessionId") in (None, *self.sessions)]
        return events


class HubMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.hub = BrowserHub()
        self.chrome = FakeChrome()
        self.owned: dict[int, set[str]] = {}  # live client -> sessions it may hear from
        self.home: dict[int, str] = {}
        self.departed: set[int] = set()
        self.next_id: dict[int, int] = {}
        self.apply(self.hub.upstream_opened())

    def apply(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, SendUpstream):
                self.chrome_receives(json.loads(action.text))
            elif isinstance(action, SendToClient):
                assert action.client not in self.departed, "a departed client got a message"
                message = json.loads(action.text)
                session = message.get("sessionId", self.home.get(action.client))
                assert session in self.owned[action.client], (action.client, message)
            elif isinstance(action, CloseClient):
                self.forget(action.client)

    def chrome_receives(self, command: dict[str, Any]) -> None:
        method, params = command["method"], command.get("params", {})
        session = command.get("sessionId")
        if method == "Target.detachFromTarget":
            for event in self.chrome.detach(params["sessionId"]):
                self.upstream(event)
        elif method in ("Target.attachToBrowserTarget", "Target.attachToTarget"):
            # A browser session has no heap: the hub gates it by its own session id.
            new = self.chrome.new_session(params.get("targetId", f"browser{command['id']}"), None)
            self.upstream(json.dumps({"id": command["id"], "result": {"sessionId": new}}))
        elif session is None or session in self.chrome.sessions:
            self.chrome.pending.append(command)

    def upstream(self, text: str) -> None:
        self.apply(self.hub.upstream_message(text))

    def forget(self, client: int) -> None:
        self.owned.pop(client, None)
        self.home.pop(client, None)
        self.departed.add(client)

    def sync_homes(self) -> None:
        """Learn the home sessions Chrome gave (the reply the hub consumed)."""
        homes = {s for s, (_, p) in self.chrome.sessions.items() if p is None}
        known = set(self.home.values())
        for client in self.owned:
            if client not in self.home:
                (new,) = homes - known  # clients are attached one at a time
                self.home[client] = new
                self.owned[client].add(new)

    # -- rules -------------------------------------------------------------------------------

    @rule(page=st.sampled_from([None, *TARGETS]))
    def connect(self, page: str | None) -> None:
        client = self.hub.add_client("c")
        self.owned[client] = set()
        self.next_id[client] = 1
        self.apply(self.hub.attach(client, page))
        self.sync_homes()

    @precondition(lambda self: self.owned)
    @rule(data=st.data(), page=st.sampled_from(TARGETS))
    def announce_child(self, data: st.DataObject, page: str) -> None:
        client = data.draw(st.sampled_from(sorted(self.owned)))
        parent = data.draw(st.sampled_from(sorted(self.owned[client])))
        child = self.chrome.new_session(page, parent)
        self.owned[client].add(child)
        info = {"targetId": page, "type": "page"}
        params = {"sessionId": child, "targetInfo": info, "waitingForDebugger": False}
        message = {"method": "Target.attachedToTarget", "params": params, "sessionId": parent}
        self.upstream(json.dumps(message, separators=(",", ":")))

    @precondition(lambda self: self.owned)
    @rule(data=st.data(), method=st.sampled_from([SNAP, SNAP, "Runtime.evaluate"]))
    def send(self, data: st.DataObject, method: str) -> None:
        client = data.draw(st.sampled_from(sorted(self.owned)))
        session = data.draw(st.sampled_from(sorted(self.owned[client])))
        command: dict[str, Any] = {"id": self.next_id[client], "method": method}
        if session != self.home[client]:
            command["sessionId"] = session
        self.next_id[client] += 1
        self.apply(self.hub.client_message(client, json.dumps(command)))

    @precondition(lambda self: self.chrome.pending)
    @rule(data=st.data())
    def answer(self, data: st.DataObject) -> None:
        index = data.draw(st.integers(0, len(self.chrome.pending) - 1))
        command = self.chrome.pending.pop(index)
        if command["method"] == SNAP:
            chunk = {"method": "HeapProfiler.addHeapSnapshotChunk", "params": {"chunk": "x"}}
            self.upstream(json.dumps({**chunk, "sessionId": command["sessionId"]}))
        reply: dict[str, Any] = {"id": command["id"], "result": {}}
        if "sessionId" in command:
            reply["sessionId"] = command["sessionId"]
        self.upstream(json.dumps(reply, separators=(",", ":")))

    @precondition(lambda self: self.owned)
    @rule(data=st.data())
    def leave(self, data: st.DataObject) -> None:
        client = data.draw(st.sampled_from(sorted(self.owned)))
        self.forget(client)
        self.apply(self.hub.remove_client(client))

    # -- invariants --------------------------------------------------------------------------

    @invariant()
    def one_snapshot_per_target(self) -> None:
        targets = [
            self.chrome.sessions[c["sessionId"]][0]
            for c in self.chrome.pending
            if c["method"] == SNAP and c.get("sessionId") in self.chrome.sessions
        ]
        assert len(targets) == len(set(targets)), targets

    def teardown(self) -> None:
        for client in sorted(self.owned):
            self.forget(client)
            self.apply(self.hub.remove_client(client))
        while self.chrome.pending:
            self.answer_first()
        stats = self.hub.statistics()
        assert (stats.clients, stats.sessions, stats.snapshots_in_flight) == (0, 0, 0)
        assert stats.snapshots_queued == 0 and stats.dropped == 0

    def answer_first(self) -> None:
        command = self.chrome.pending.pop(0)
        reply: dict[str, Any] = {"id": command["id"], "result": {}}
        if "sessionId" in command:
            reply["sessionId"] = command["sessionId"]
        self.upstream(json.dumps(reply, separators=(",", ":")))


HubMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
test_hub_properties = HubMachine.TestCase
