"""The typed HeapProfiler domain covers everything a real Node's /json/protocol lists."""

from __future__ import annotations

import inspect
import re

import trio

import cdp_heap
from cdp_heap.heap_profiler import EVENT_TYPES, HeapProfiler
from tests.targets import Target


def snake(name: str) -> str:
    return re.sub(
        r"(?<=[a-z0-9])([A-Z])|(?<=[A-Z])([A-Z][a-z])", lambda m: "_" + m.group(0), name
    ).lower()


def test_snake_case_of_cdp_names() -> None:
    assert snake("includeObjectsCollectedByMajorGC") == "include_objects_collected_by_major_gc"
    assert snake("takeHeapSnapshot") == "take_heap_snapshot"


async def test_heap_profiler_domain_matches_node(leaky_app: Target) -> None:
    with trio.fail_after(10):
        protocol = await cdp_heap.get_protocol(leaky_app.host, leaky_app.port)
    (domain,) = [d for d in protocol["domains"] if d["domain"] == "HeapProfiler"]
    missing: list[str] = []
    for command in domain["commands"]:
        method = getattr(HeapProfiler, snake(command["name"]), None)
        if method is None:
            missing.append(f"command {command['name']}")
            continue
        parameters = inspect.signature(method).parameters
        missing += [
            f"parameter {command['name']}.{p['name']}"
            for p in command.get("parameters", ())
            if snake(p["name"]) not in parameters
        ]
    for event in domain["events"]:
        typed = EVENT_TYPES.get(f"HeapProfiler.{event['name']}")
        if typed is None:
            missing.append(f"event {event['name']}")
            continue
        fields = {a.name for a in typed.__attrs_attrs__}
        missing += [
            f"event field {event['name']}.{p['name']}"
            for p in event.get("parameters", ())
            if snake(p["name"]) not in fields
        ]
    assert missing == []
    assert len(domain["commands"]) >= 12 and len(domain["events"]) >= 5
