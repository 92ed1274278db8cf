"""The worker relay (cdp_heap/_workers.py) with no sockets: what the connection sends and
sees once a Node worker thread is its target."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cdp_heap._wire import Command
from cdp_heap._workers import WRAPPER_IDS, NoSuchWorker, WorkerInfo, WorkerRelay, pick_worker


def received(session: str, inner: Any) -> str:
    params = {"sessionId": session, "message": json.dumps(inner)}
    return json.dumps(
        {"method": "NodeWorker.receivedMessageFromWorker", "params": params}, separators=(",", ":")
    )


def test_top_level_commands_are_wrapped_for_the_worker() -> None:
    relay = WorkerRelay("2")
    sent = json.loads(relay.outgoing(Command(5, "HeapProfiler.takeHeapSnapshot", {"x": 1})))
    assert sent["method"] == "NodeWorker.sendMessageToWorker" and sent["id"] > WRAPPER_IDS
    assert sent["params"]["sessionId"] == "2"
    assert json.loads(sent["params"]["message"]) == {
        "id": 5,
        "method": "HeapProfiler.takeHeapSnapshot",
        "params": {"x": 1},
    }
    # A command for a flattened session is not the worker's.
    assert json.loads(relay.outgoing(Command(6, "A.b", {}, "S")))["sessionId"] == "S"


def test_what_the_worker_sends_is_unwrapped_and_the_rest_filtered() -> None:
    relay = WorkerRelay("2")
    chunk = {"method": "HeapProfiler.addHeapSnapshotChunk", "params": {"chunk": '{"a"'}}
    assert json.loads(relay.incoming(received("2", chunk)) or "") == chunk
    assert relay.incoming(received("1", chunk)) is None  # another worker
    assert relay.incoming(json.dumps({"id": WRAPPER_IDS + 1, "result": {}})) is None  # the ack
    assert relay.incoming('{"id":3,"result":{}}') == '{"id":3,"result":{}}'  # the parent's own
    gone = json.dumps({"method": "NodeWorker.detachedFromWorker", "params": {"sessionId": "2"}})
    assert json.loads(relay.incoming(gone.replace(" ", "")) or "")["method"] == "Inspector.detached"


def worker(session: str, thread: str, name: str) -> WorkerInfo:
    params = {
        "sessionId": session,
        "workerInfo": {"workerId": session, "title": f"[worker {thread}] {name}", "url": ""},
    }
    return WorkerInfo.from_json(params)


def test_workers_are_picked_by_thread_id_or_title() -> None:
    # Node's workerId (= session here) need not be the threadId in the title.
    workers = [worker("1", "2", "beta"), worker("2", "1", "alpha")]
    assert pick_worker(workers, "1").session_id == "2"
    assert pick_worker(workers, "bet").session_id == "1"
    with pytest.raises(NoSuchWorker, match="2 worker threads match 'a'"):
        pick_worker(workers, "a")
    with pytest.raises(NoSuchWorker, match="no worker thread matches 'gamma'"):
        pick_worker(workers, "gamma")
    with pytest.raises(NoSuchWorker, match="no worker threads"):
        pick_worker([], "1")
