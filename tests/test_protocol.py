"""The client protocol state machine, with no sockets: text in, items out."""

from __future__ import annotations

import json

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from cdp_heap import ConnectionClosed, ProtocolError, TargetDetached
from cdp_heap._protocol import (
    CDPProtocol,
    EventReceived,
    Ignored,
    ReplyReceived,
    SessionDetached,
    SnapshotChunkReceived,
    SnapshotProgressReceived,
)
from cdp_heap._wire import Command, ErrorResponse, Response, decode, encode

TAKE = "HeapProfiler.takeHeapSnapshot"


def reply(
    command_id: int, result: dict[str, object] | None = None, session: str | None = None
) -> str:
    obj: dict[str, object] = {"id": command_id, "result": result or {}}
    if session:
        obj["sessionId"] = session
    return json.dumps(obj)


def chunk(text: str, session: str | None = None) -> str:
    obj: dict[str, object] = {
        "method": "HeapProfiler.addHeapSnapshotChunk",
        "params": {"chunk": text},
    }
    if session:
        obj["sessionId"] = session
    return json.dumps(obj)


def test_ids_are_unique_and_text_is_the_command() -> None:
    protocol = CDPProtocol()
    first = protocol.send_command("Runtime.evaluate", {"expression": "1"})
    second = protocol.send_command("HeapProfiler.enable")
    assert first.id != second.id
    # What the connection sends: the wire layer's text of the protocol's command.
    assert decode(encode(first)) == first
    assert protocol.statistics().pending == 2


def test_reply_resolves_its_command_only() -> None:
    protocol = CDPProtocol()
    a = protocol.send_command("A.a")
    b = protocol.send_command("B.b")
    item = protocol.receive(reply(b.id, {"ok": 1}))
    assert item == ReplyReceived(b, Response(b.id, {"ok": 1}))
    assert protocol.is_pending(a.id) and not protocol.is_pending(b.id)
    error = protocol.receive(json.dumps({"id": a.id, "error": {"code": -32601, "message": "nope"}}))
    assert error == ReplyReceived(a, ErrorResponse(a.id, -32601, "nope"))
    assert protocol.statistics().pending == 0


def test_late_reply_to_abandoned_command_is_ignored_quietly() -> None:
    protocol = CDPProtocol()
    command = protocol.send_command("Runtime.evaluate")
    protocol.abandon(command.id)
    assert protocol.receive(reply(command.id)) == Ignored("stale_reply", command.id)
    # A second copy is no longer expected: it is a peer bug, reported as unknown.
    assert protocol.receive(reply(command.id)) == Ignored("unknown_reply", command.id)
    stats = protocol.statistics()
    assert (stats.stale_replies, stats.unknown_replies, stats.abandoned) == (1, 1, 0)


def test_reply_to_an_id_never_sent_is_unknown() -> None:
    protocol = CDPProtocol()
    assert protocol.receive(reply(999)) == Ignored("unknown_reply", 999)


def test_malformed_text_raises_protocol_error_and_keeps_state() -> None:
    protocol = CDPProtocol()
    command = protocol.send_command("A.a")
    with pytest.raises(ProtocolError):
        protocol.receive("{oops")
    assert protocol.is_pending(command.id)


def test_chunks_go_to_the_oldest_pending_snapshot_of_their_session() -> None:
    protocol = CDPProtocol()
    first = protocol.send_command(TAKE)
    other = protocol.send_command(TAKE, session_id="S2")
    second = protocol.send_command(TAKE)
    assert protocol.receive(chunk("a")) == SnapshotChunkReceived(first.id, "a")
    assert protocol.receive(chunk("x", "S2")) == SnapshotChunkReceived(other.id, "x")
    progress = json.dumps(
        {"method": "HeapProfiler.reportHeapSnapshotProgress", "params": {"done": 1, "total": 2}}
    )
    assert protocol.receive(progress) == SnapshotProgressReceived(first.id, 1, 2, False)
    protocol.receive(reply(first.id))
    assert protocol.receive(chunk("b")) == SnapshotChunkReceived(second.id, "b")
    assert protocol.statistics().snapshots_in_flight == 2


def test_chunks_of_an_abandoned_snapshot_are_discarded_until_its_reply() -> None:
    protocol = CDPProtocol()
    first = protocol.send_command(TAKE)
    second = protocol.send_command(TAKE)
    protocol.abandon(first.id)
    assert protocol.receive(chunk("old")) == Ignored("discarded_chunk", first.id)
    assert protocol.receive(reply(first.id)) == Ignored("stale_reply", first.id)
    assert protocol.receive(chunk("new")) == SnapshotChunkReceived(second.id, "new")
    assert protocol.statistics().discarded_chunks == 1


def test_take_pending_ends_a_command_as_its_reply_would_without_reading_it() -> None:
    """What a proxy forwarding a reply undecoded calls: the state moves on as for the reply."""
    protocol = CDPProtocol()
    first = protocol.send_command(TAKE)
    second = protocol.send_command(TAKE)
    assert protocol.take_pending(first.id) == first
    assert protocol.take_pending(first.id) is None  # no longer pending
    assert protocol.receive(chunk("b")) == SnapshotChunkReceived(second.id, "b")
    assert protocol.statistics().snapshots_in_flight == 1
    assert protocol.statistics().pending == 1


def test_chunk_without_a_pending_snapshot_is_an_ordinary_event() -> None:
    protocol = CDPProtocol()
    item = protocol.receive(chunk("stray"))
    assert isinstance(item, EventReceived) and item.event.params == {"chunk": "stray"}


def test_inspector_detached_fails_everything_and_closes() -> None:
    protocol = CDPProtocol()
    a = protocol.send_command("A.a")
    item = protocol.receive(
        json.dumps({"method": "Inspector.detached", "params": {"reason": "Render process gone."}})
    )
    assert isinstance(item, SessionDetached)
    assert item.failed == (a,) and item.session_id is None
    assert isinstance(protocol.closed, TargetDetached)
    with pytest.raises(TargetDetached, match="Render process gone"):
        protocol.send_command("B.b")


def test_target_detached_from_target_fails_only_that_session() -> None:
    protocol = CDPProtocol()
    root = protocol.send_command("Target.getTargets")
    child = protocol.send_command("Runtime.evaluate", session_id="S1")
    item = protocol.receive(
        json.dumps({"method": "Target.detachedFromTarget", "params": {"sessionId": "S1"}})
    )
    assert isinstance(item, SessionDetached) and item.failed == (child,)
    assert protocol.is_pending(root.id) and protocol.closed is None


def test_connection_lost_returns_pending_and_refuses_new_commands() -> None:
    protocol = CDPProtocol()
    a = protocol.send_command(TAKE)
    error = ConnectionClosed("gone")
    assert protocol.connection_lost(error) == (a,)
    assert protocol.statistics().snapshots_in_flight == 0
    with pytest.raises(ConnectionClosed, match="gone"):
        protocol.send_command("A.a")


class ProtocolMachine(RuleBasedStateMachine):
    """Random interleavings of sends, replies (in any order), cancellations and chunks.

    Invariants: a reply resolves exactly the command that was sent with its id; abandoned
    commands never resolve; every chunk goes to the oldest live snapshot command or is
    discarded when that one was abandoned; the tables drain when everything is answered.
    """

    def __init__(self) -> None:
        super().__init__()
        self.protocol = CDPProtocol()
        self.outstanding: dict[int, Command] = {}  # sent, reply not yet delivered
        self.abandoned: set[int] = set()
        self.snapshots: list[int] = []  # snapshot ids whose reply is not delivered, in order

    @rule(snapshot=st.booleans())
    def send(self, snapshot: bool) -> None:
        command = self.protocol.send_command(TAKE if snapshot else "Runtime.evaluate")
        assert command.id not in self.outstanding
        self.outstanding[command.id] = command
        if snapshot:
            self.snapshots.append(command.id)

    @precondition(lambda self: self.outstanding)
    @rule(data=st.data())
    def deliver_reply(self, data: st.DataObject) -> None:
        # V8 answers snapshot commands in order; others may come in any order.
        candidates = [i for i in self.outstanding if i not in self.snapshots[1:]]
        command_id = data.draw(st.sampled_from(sorted(candidates)))
        command = self.outstanding.pop(command_id)
        item = self.protocol.receive(reply(command_id))
        if command_id in self.snapshots:
            self.snapshots.remove(command_id)
        if command_id in self.abandoned:
            assert item == Ignored("stale_reply", command_id)
            self.abandoned.discard(command_id)
        else:
            assert isinstance(item, ReplyReceived) and item.command == command

    @precondition(lambda self: any(i not in self.abandoned for i in self.outstanding))
    @rule(data=st.data())
    def abandon(self, data: st.DataObject) -> None:
        live = sorted(i for i in self.outstanding if i not in self.abandoned)
        command_id = data.draw(st.sampled_from(live))
        self.protocol.abandon(command_id)
        self.abandoned.add(command_id)

    @rule()
    def deliver_chunk(self) -> None:
        item = self.protocol.receive(chunk("c"))
        if not self.snapshots:
            assert isinstance(item, EventReceived)
        elif self.snapshots[0] in self.abandoned:
            assert item == Ignored("discarded_chunk", self.snapshots[0])
        else:
            assert item == SnapshotChunkReceived(self.snapshots[0], "c")

    @invariant()
    def tables_match(self) -> None:
        stats = self.protocol.statistics()
        assert stats.pending == len(self.outstanding) - len(self.abandoned)
        assert stats.abandoned == len(self.abandoned)
        assert stats.snapshots_in_flight == len(self.snapshots)


TestProtocolMachine = ProtocolMachine.TestCase
