"""The browser hub (proxy/_sessions.py) with no sockets: text in, actions out, shaped like
Chrome's flattened-session messages (sessionId last)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cdp_heap_proxy import BrowserHub, MethodPolicy
from cdp_heap_proxy._actions import (
    Action,
    Audit,
    CloseClient,
    ForgetClient,
    SendToClient,
    SendUpstream,
)
from cdp_heap_proxy._flat import leading, session_of, strip_session
from cdp_heap_proxy._target_list import parse_endpoint, rewrite_list, rewrite_version

SNAP = "HeapProfiler.takeHeapSnapshot"


def upstream(actions: list[Action]) -> list[dict[str, Any]]:
    return [json.loads(a.text) for a in actions if isinstance(a, SendUpstream)]


def to(client: int, actions: list[Action]) -> list[dict[str, Any]]:
    return [
        json.loads(a.text) for a in actions if isinstance(a, SendToClient) and a.client == client
    ]


def chrome(obj: dict[str, Any]) -> str:
    """As Chrome writes it: compact, sessionId last."""
    session = obj.pop("sessionId", None)
    if session is not None:
        obj["sessionId"] = session
    return json.dumps(obj, separators=(",", ":"))


def command(id: int, method: str, session: str | None = None, **params: Any) -> str:
    obj: dict[str, Any] = {"id": id, "method": method, "params": params}
    if session is not None:
        obj["sessionId"] = session
    return json.dumps(obj)


def connect(hub: BrowserHub, home: str, target: str | None = None, **policy: Any) -> int:
    """A client whose home session ``home`` (on ``target``, or the browser) is attached."""
    client = hub.add_client(f"client-{home}", **policy)
    (attach,) = upstream(hub.attach(client, target))
    if target is None:
        assert attach["method"] == "Target.attachToBrowserTarget"
    else:
        assert attach["params"] == {"targetId": target, "flatten": True}
    hub.upstream_message(chrome({"id": attach["id"], "result": {"sessionId": home}}))
    return client


def attached(parent: str, child: str, target: str, kind: str = "page") -> str:
    info = {"targetId": target, "type": kind, "url": "about:blank", "attached": True}
    params = {"sessionId": child, "targetInfo": info, "waitingForDebugger": False}
    return chrome({"method": "Target.attachedToTarget", "params": params, "sessionId": parent})


@pytest.fixture
def hub() -> BrowserHub:
    h = BrowserHub()
    assert h.upstream_opened() == []
    return h


def test_top_level_goes_out_in_the_home_session_and_comes_back_without_it(hub: BrowserHub) -> None:
    client = hub.add_client("puppeteer")
    attach = hub.attach(client, None)
    # Sent before the home is attached: held, then sent in it.
    assert hub.client_message(client, command(1, "Browser.getVersion")) == []
    (attach_cmd,) = upstream(attach)
    actions = hub.upstream_message(chrome({"id": attach_cmd["id"], "result": {"sessionId": "H1"}}))
    assert upstream(actions) == [{"id": 1, "method": "Browser.getVersion", "sessionId": "H1"}]
    reply = hub.upstream_message(chrome({"id": 1, "result": {"product": "x"}, "sessionId": "H1"}))
    assert to(client, reply) == [{"id": 1, "result": {"product": "x"}}]


def test_two_clients_use_the_same_ids_in_their_own_sessions(hub: BrowserHub) -> None:
    a, b = connect(hub, "HA"), connect(hub, "HB")
    sent = upstream(hub.client_message(a, command(1, "Target.getTargets")))
    sent += upstream(hub.client_message(b, command(1, "Target.getTargets")))
    assert [m["sessionId"] for m in sent] == ["HA", "HB"]
    to_b = hub.upstream_message(chrome({"id": 1, "result": {"n": "b"}, "sessionId": "HB"}))
    assert to(b, to_b) == [{"id": 1, "result": {"n": "b"}}] and to(a, to_b) == []


def test_a_session_announced_in_a_clients_session_is_its_own(hub: BrowserHub) -> None:
    a, b = connect(hub, "HA"), connect(hub, "HB")
    hub.upstream_message(attached("HA", "S1", "T1"))
    event = chrome({"method": "Runtime.consoleAPICalled", "params": {}, "sessionId": "S1"})
    delivered = hub.upstream_message(event)
    assert to(a, delivered) == [json.loads(event)] and to(b, delivered) == []
    assert (
        upstream(hub.client_message(a, command(5, "Runtime.enable", "S1")))[0]["sessionId"] == "S1"
    )
    (refusal,) = to(b, hub.client_message(b, command(5, "Runtime.evaluate", "S1")))
    assert refusal["id"] == 5 and "no session 'S1' of this client" in refusal["error"]["message"]
    assert refusal["sessionId"] == "S1"
    assert hub.statistics().sessions_by_client == ((a, 2), (b, 1))


def test_an_attach_reply_makes_the_session_the_clients(hub: BrowserHub) -> None:
    a = connect(hub, "HA")
    hub.client_message(a, command(3, "Target.attachToTarget", targetId="T1", flatten=True))
    hub.upstream_message(chrome({"id": 3, "result": {"sessionId": "S9"}, "sessionId": "HA"}))
    assert hub.statistics().sessions == 2


def test_snapshots_run_one_at_a_time_per_target(hub: BrowserHub) -> None:
    a = connect(hub, "HA")
    devtools = connect(hub, "P1", target="T1")
    other = connect(hub, "P2", target="T2")
    hub.upstream_message(attached("HA", "S1", "T1"))
    first = upstream(hub.client_message(a, command(7, SNAP, "S1")))
    assert [m["sessionId"] for m in first] == ["S1"]
    assert upstream(hub.client_message(devtools, command(7, SNAP))) == []  # same target: waits
    assert len(upstream(hub.client_message(other, command(1, SNAP)))) == 1  # another target
    assert hub.statistics().snapshots_in_flight == 2 and hub.statistics().snapshots_queued == 1
    chunk = chrome(
        {"method": "HeapProfiler.addHeapSnapshotChunk", "params": {"chunk": "{"}, "sessionId": "S1"}
    )
    assert [a.client for a in hub.upstream_message(chunk) if isinstance(a, SendToClient)] == [a]
    done = hub.upstream_message(chrome({"id": 7, "result": {}, "sessionId": "S1"}))
    assert to(a, done) == [{"id": 7, "result": {}, "sessionId": "S1"}]
    assert upstream(done) == [{"id": 7, "method": SNAP, "sessionId": "P1"}]
    hub.upstream_message(chrome({"id": 7, "result": {}, "sessionId": "P1"}))
    hub.upstream_message(chrome({"id": 1, "result": {}, "sessionId": "P2"}))
    stats = hub.statistics()
    assert (stats.snapshots_in_flight, stats.snapshots_queued, stats.snapshots_completed) == (
        0,
        0,
        3,
    )


def test_a_client_that_leaves_has_what_it_started_undone(hub: BrowserHub) -> None:
    a = connect(hub, "HA", policy=MethodPolicy.parse("*,Target.createTarget"))
    b = connect(hub, "HB")
    hub.upstream_message(attached("HA", "S1", "T1"))
    hub.upstream_message(attached("S1", "S2", "W1", "worker"))
    hub.client_message(a, command(1, "Target.createTarget", url="about:blank"))
    hub.upstream_message(chrome({"id": 1, "result": {"targetId": "T9"}, "sessionId": "HA"}))
    hub.client_message(a, command(2, "Target.createBrowserContext"))
    hub.upstream_message(chrome({"id": 2, "result": {"browserContextId": "C1"}, "sessionId": "HA"}))
    hub.client_message(a, command(3, SNAP, "S1"))
    hub.client_message(b, command(1, "Target.attachToTarget", targetId="T1", flatten=True))
    hub.upstream_message(chrome({"id": 1, "result": {"sessionId": "SB"}, "sessionId": "HB"}))
    assert upstream(hub.client_message(b, command(2, SNAP, "SB"))) == []  # waits for a's
    undo = hub.remove_client(a)
    sent = upstream(undo)
    assert [(m["method"], m.get("sessionId"), m.get("params", {})) for m in sent] == [
        ("Target.detachFromTarget", "S1", {"sessionId": "S2"}),
        ("Target.detachFromTarget", "HA", {"sessionId": "S1"}),
        ("Target.closeTarget", None, {"targetId": "T9"}),
        ("Target.disposeBrowserContext", None, {"browserContextId": "C1"}),
        ("Target.detachFromTarget", None, {"sessionId": "HA"}),
        ("HeapProfiler.takeHeapSnapshot", "SB", {}),  # b's turn: a's session is gone
    ]
    # Its late messages are dropped quietly; b is untouched.
    assert hub.upstream_message(chrome({"id": 3, "result": {}, "sessionId": "S1"})) == []
    detached = {"sessionId": "HA", "targetId": "B"}
    hub.upstream_message(chrome({"method": "Target.detachedFromTarget", "params": detached}))
    stats = hub.statistics()
    assert stats.clients == 1 and stats.sessions_by_client == ((b, 2),)
    assert (stats.created_targets, stats.created_contexts, stats.dropped) == (0, 0, 0)


def test_reserved_methods_need_a_pattern_naming_them(hub: BrowserHub) -> None:
    default = connect(hub, "HA")
    granted = connect(hub, "HB", policy=MethodPolicy.parse("*,Target.createTarget"))
    profiling = connect(hub, "HC", policy=MethodPolicy.parse("HeapProfiler.*"))
    denied = hub.client_message(default, command(1, "Target.createTarget", url="about:blank"))
    assert Audit(default, "denied", "Target.createTarget") in denied
    assert "needs an explicit --allow-methods pattern" in to(default, denied)[0]["error"]["message"]
    assert upstream(hub.client_message(default, command(2, "Browser.close"))) == []
    assert len(upstream(hub.client_message(granted, command(1, "Target.createTarget")))) == 1
    refused = to(profiling, hub.client_message(profiling, command(1, "Target.attachToTarget")))
    assert "method policy" in refused[0]["error"]["message"]
    assert hub.statistics().denied_by_policy == 3


def test_heap_profiler_disable_is_answered_by_the_proxy(hub: BrowserHub) -> None:
    a = connect(hub, "P1", target="T1")
    actions = hub.client_message(a, command(4, "HeapProfiler.disable"))
    assert upstream(actions) == [] and to(a, actions) == [{"id": 4, "result": {}}]


def test_a_page_clients_target_closing_detaches_it(hub: BrowserHub) -> None:
    a = connect(hub, "P1", target="T1")
    gone = {"sessionId": "P1", "targetId": "T1", "reason": "target_closed"}
    actions = hub.upstream_message(chrome({"method": "Target.detachedFromTarget", "params": gone}))
    assert to(a, actions) == [
        {"method": "Inspector.detached", "params": {"reason": "target_closed"}}
    ]
    assert CloseClient(a, 1001, "target detached: target_closed") in actions
    assert not hub.has_client(a) and hub.statistics().sessions == 0


def test_a_target_that_cannot_be_attached_closes_the_client(hub: BrowserHub) -> None:
    client = hub.add_client("devtools")
    (attach,) = upstream(hub.attach(client, "GONE"))
    error = {"code": -32602, "message": "No target with given id found"}
    actions = hub.upstream_message(chrome({"id": attach["id"], "error": error}))
    why = "cannot attach to target GONE: No target with given id found"
    assert actions == [CloseClient(client, 1011, why), ForgetClient(client, why)]


def test_upstream_lost_detaches_everyone(hub: BrowserHub) -> None:
    a = connect(hub, "HA")
    actions = hub.upstream_lost("gone")
    assert CloseClient(a, 1001, "browser detached: gone") in actions
    assert hub.statistics().clients == 0 and not hub.upstream_connected


def test_malformed_client_text_gets_an_error(hub: BrowserHub) -> None:
    a = connect(hub, "HA")
    assert to(a, hub.client_message(a, "{"))[0]["error"]["code"] == -32700
    assert to(a, hub.client_message(a, b"\x00"))[0]["error"]["code"] == -32600
    assert hub.statistics().malformed_from_clients == 2


def test_flat_text_helpers() -> None:
    reply = chrome({"id": 2, "result": {}, "sessionId": "ABC123"})
    assert (
        session_of(reply) == "ABC123" and strip_session(reply, "ABC123") == '{"id":2,"result":{}}'
    )
    nested = chrome({"method": "Target.detachedFromTarget", "params": {"sessionId": "X1"}})
    assert session_of(nested) is None  # a sessionId inside params is not the message's
    spaced = json.dumps({"sessionId": "S", "id": 1, "result": {}})  # not Chrome's order
    assert session_of(spaced) == "S" and json.loads(strip_session(spaced, "S")) == {
        "id": 1,
        "result": {},
    }
    assert leading(reply) == (2, None) and leading(nested) == (None, "Target.detachedFromTarget")


def test_a_profiling_client_of_a_page_snapshots_and_hears_only_what_it_may(
    hub: BrowserHub,
) -> None:
    profiling = connect(hub, "P1", target="T1", policy=MethodPolicy.parse("HeapProfiler.*"))
    assert len(upstream(hub.client_message(profiling, command(1, SNAP)))) == 1
    refused = to(profiling, hub.client_message(profiling, command(2, "Runtime.evaluate")))
    assert "method policy" in refused[0]["error"]["message"]
    console = chrome({"method": "Runtime.consoleAPICalled", "params": {}, "sessionId": "P1"})
    assert to(profiling, hub.upstream_message(console)) == []
    chunk = {"method": "HeapProfiler.addHeapSnapshotChunk", "params": {"chunk": "{"}}
    heard = hub.upstream_message(chrome({**chunk, "sessionId": "P1"}))
    assert to(profiling, heard) == [chunk]


def test_discovery_documents_point_at_the_proxy() -> None:
    entry = {"id": "T1", "type": "page", "url": "about:blank", "devtoolsFrontendUrlCompat": "x"}
    (listed,) = rewrite_list([entry, "junk"], "127.0.0.1:9230/TOKEN")
    assert listed["webSocketDebuggerUrl"] == "ws://127.0.0.1:9230/TOKEN/devtools/page/T1"
    assert listed["devtoolsFrontendUrl"].endswith("?ws=127.0.0.1:9230/TOKEN/devtools/page/T1")
    assert "devtoolsFrontendUrlCompat" not in listed
    version = rewrite_version({"Browser": "Chrome/1"}, "h:1", "PID", secure=True)
    assert version == {
        "Browser": "Chrome/1",
        "webSocketDebuggerUrl": "wss://h:1/devtools/browser/PID",
    }
    assert parse_endpoint("/devtools/browser/PID", "PID") == ("browser", None)
    assert parse_endpoint("/devtools/page/T1/", "PID") == ("page", "T1")
    assert parse_endpoint("/devtools/browser/other", "PID") is None
    assert parse_endpoint("/PID", "PID") is None


def test_an_oversized_message_gets_an_error_for_its_id(hub: BrowserHub) -> None:
    a = connect(hub, "HA")
    (error,) = to(a, hub.client_message_too_large(a, 9_000_000, '{"id":12,"method":"X', 8))
    assert error["id"] == 12 and "over the proxy's limit" in error["error"]["message"]


def test_a_client_gone_before_its_home_is_attached_leaves_no_session(hub: BrowserHub) -> None:
    client = hub.add_client("hasty")
    (attach,) = upstream(hub.attach(client, "T1"))
    hub.remove_client(client)
    late = hub.upstream_message(chrome({"id": attach["id"], "result": {"sessionId": "P9"}}))
    assert [(m["method"], m["params"]) for m in upstream(late)] == [
        ("Target.detachFromTarget", {"sessionId": "P9"})
    ]
    assert hub.statistics().sessions == 0
