"""cdp-heap: V8 heap profiling over the Chrome DevTools Protocol, on trio.

A minimal capture::

    import cdp_heap, trio

    async def main():
        targets = await cdp_heap.list_targets("127.0.0.1", 9229)
        target = cdp_heap.select_target(targets)
        async with cdp_heap.open_cdp(target.web_socket_debugger_url) as conn:
            saved = await cdp_heap.save_snapshot(conn, "app.heapsnapshot")
            print(saved.size, "bytes")

    trio.run(main)
"""

# Importing this package imports nothing else: each public name is loaded from its module
# on first use (PEP 562's module ``__getattr__``), so ``import cdp_heap._wire`` (the sans-IO
# core) and ``import cdp_heap.analysis`` do not pay for trio and the network stack, and
# ``cdp-heap --help`` stays fast. tests/test_imports.py holds both. Type checkers see the
# ordinary imports below, and no ``__getattr__``, so a misspelt name is still an error.

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._activate import activate_inspector
    from ._capture import (
        DEFAULT_MAX_BUFFER_BYTES,
        CaptureProgress,
        SavedSnapshot,
        SnapshotStream,
        SnapshotStreamStatistics,
        open_snapshot_stream,
        save_snapshot,
    )
    from ._connection import (
        CDPConnection,
        ConnectionStatistics,
        open_cdp,
        open_cdp_stream,
    )
    from ._discovery import (
        TargetInfo,
        VersionInfo,
        get_protocol,
        get_version,
        list_targets,
        select_target,
    )
    from ._errors import (
        ActivationError,
        AlreadyStopped,
        CaptureError,
        CDPHeapError,
        CommandError,
        ConnectionClosed,
        ConnectionFailed,
        DiscoveryError,
        InspectorUnreachable,
        MessageTooLarge,
        ProfilerBusy,
        ProtocolError,
        SubscriptionOverflow,
        TargetDetached,
    )
    from ._handles import SnapshotProgress, Subscription
    from ._inprocess import CaptureRoute, choose_route, save_snapshot_in_process
    from ._limits import DEFAULT_MAX_MESSAGE_SIZE
    from ._preflight import (
        COST_FACTORS,
        SnapshotCostEstimate,
        SnapshotWouldNotFit,
        TargetMemory,
        check_snapshot_fits,
        cost_factor,
        estimate_from_memory,
        estimate_snapshot_cost,
        read_target_memory,
    )
    from ._queue import Policy, QueueStatistics
    from ._sampling import Sampler, SavedProfile, load_profile, open_sampling, save_profile
    from ._tracking import (
        SavedTrackingSnapshot,
        Tracker,
        TrackingSample,
        TrackingStatistics,
        open_tracking,
    )
    from ._wire import Command, ErrorResponse, Event, Response
    from .heap_profiler import (
        AddHeapSnapshotChunk,
        AllocationSite,
        CallFrame,
        HeapProfiler,
        HeapProfilerEvent,
        HeapStatsUpdate,
        LastSeenObjectId,
        RemoteObject,
        ReportHeapSnapshotProgress,
        ResetProfiles,
        SamplingHeapProfile,
        SamplingHeapProfileNode,
        SamplingHeapProfileSample,
    )

__version__ = "0.1.0"

__all__ = [
    "COST_FACTORS",
    "DEFAULT_MAX_BUFFER_BYTES",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "ActivationError",
    "AddHeapSnapshotChunk",
    "AllocationSite",
    "AlreadyStopped",
    "CDPConnection",
    "CDPHeapError",
    "CallFrame",
    "CaptureError",
    "CaptureProgress",
    "CaptureRoute",
    "Command",
    "CommandError",
    "ConnectionClosed",
    "ConnectionFailed",
    "ConnectionStatistics",
    "DiscoveryError",
    "ErrorResponse",
    "Event",
    "HeapProfiler",
    "HeapProfilerEvent",
    "HeapStatsUpdate",
    "InspectorUnreachable",
    "LastSeenObjectId",
    "MessageTooLarge",
    "Policy",
    "ProfilerBusy",
    "ProtocolError",
    "QueueStatistics",
    "RemoteObject",
    "ReportHeapSnapshotProgress",
    "ResetProfiles",
    "Response",
    "Sampler",
    "SamplingHeapProfile",
    "SamplingHeapProfileNode",
    "SamplingHeapProfileSample",
    "SavedProfile",
    "SavedSnapshot",
    "SavedTrackingSnapshot",
    "SnapshotCostEstimate",
    "SnapshotProgress",
    "SnapshotStream",
    "SnapshotStreamStatistics",
    "SnapshotWouldNotFit",
    "Subscription",
    "SubscriptionOverflow",
    "TargetDetached",
    "TargetInfo",
    "TargetMemory",
    "Tracker",
    "TrackingSample",
    "TrackingStatistics",
    "VersionInfo",
    "activate_inspector",
    "check_snapshot_fits",
    "choose_route",
    "cost_factor",
    "estimate_from_memory",
    "estimate_snapshot_cost",
    "get_protocol",
    "get_version",
    "list_targets",
    "load_profile",
    "open_cdp",
    "open_cdp_stream",
    "open_sampling",
    "open_snapshot_stream",
    "open_tracking",
    "read_target_memory",
    "save_profile",
    "save_snapshot",
    "save_snapshot_in_process",
    "select_target",
]

#: The module each public name comes from (a test checks it against the imports above).
_SOURCES: dict[str, str] = {
    "activate_inspector": "._activate",
    "DEFAULT_MAX_BUFFER_BYTES": "._capture",
    "CaptureProgress": "._capture",
    "SavedSnapshot": "._capture",
    "SnapshotStream": "._capture",
    "SnapshotStreamStatistics": "._capture",
    "open_snapshot_stream": "._capture",
    "save_snapshot": "._capture",
    "CDPConnection": "._connection",
    "ConnectionStatistics": "._connection",
    "SnapshotProgress": "._handles",
    "Subscription": "._handles",
    "open_cdp": "._connection",
    "open_cdp_stream": "._connection",
    "TargetInfo": "._discovery",
    "VersionInfo": "._discovery",
    "get_protocol": "._discovery",
    "get_version": "._discovery",
    "list_targets": "._discovery",
    "select_target": "._discovery",
    "ActivationError": "._errors",
    "AlreadyStopped": "._errors",
    "CaptureError": "._errors",
    "CDPHeapError": "._errors",
    "CommandError": "._errors",
    "ConnectionClosed": "._errors",
    "ConnectionFailed": "._errors",
    "DiscoveryError": "._errors",
    "InspectorUnreachable": "._errors",
    "MessageTooLarge": "._errors",
    "ProfilerBusy": "._errors",
    "ProtocolError": "._errors",
    "SubscriptionOverflow": "._errors",
    "TargetDetached": "._errors",
    "CaptureRoute": "._inprocess",
    "choose_route": "._inprocess",
    "save_snapshot_in_process": "._inprocess",
    "DEFAULT_MAX_MESSAGE_SIZE": "._limits",
    "COST_FACTORS": "._preflight",
    "SnapshotCostEstimate": "._preflight",
    "SnapshotWouldNotFit": "._preflight",
    "TargetMemory": "._preflight",
    "check_snapshot_fits": "._preflight",
    "cost_factor": "._preflight",
    "estimate_from_memory": "._preflight",
    "estimate_snapshot_cost": "._preflight",
    "read_target_memory": "._preflight",
    "Policy": "._queue",
    "QueueStatistics": "._queue",
    "Sampler": "._sampling",
    "SavedProfile": "._sampling",
    "load_profile": "._sampling",
    "open_sampling": "._sampling",
    "save_profile": "._sampling",
    "SavedTrackingSnapshot": "._tracking",
    "Tracker": "._tracking",
    "TrackingSample": "._tracking",
    "TrackingStatistics": "._tracking",
    "open_tracking": "._tracking",
    "Command": "._wire",
    "ErrorResponse": "._wire",
    "Event": "._wire",
    "Response": "._wire",
    "AddHeapSnapshotChunk": ".heap_profiler",
    "AllocationSite": ".heap_profiler",
    "CallFrame": ".heap_profiler",
    "HeapProfiler": ".heap_profiler",
    "HeapProfilerEvent": ".heap_profiler",
    "HeapStatsUpdate": ".heap_profiler",
    "LastSeenObjectId": ".heap_profiler",
    "RemoteObject": ".heap_profiler",
    "ReportHeapSnapshotProgress": ".heap_profiler",
    "ResetProfiles": ".heap_profiler",
    "SamplingHeapProfile": ".heap_profiler",
    "SamplingHeapProfileNode": ".heap_profiler",
    "SamplingHeapProfileSample": ".heap_profiler",
}

if not TYPE_CHECKING:

    def __getattr__(name: str) -> object:
        source = _SOURCES.get(name)
        if source is not None:
            value = getattr(importlib.import_module(source, __name__), name)
            globals()[name] = value  # found directly from now on
            return value
        # A submodule (``cdp_heap._sampling.STOP_TIMEOUT`` after a bare ``import cdp_heap``):
        # the eager package imported most of them as a side effect; this keeps that working.
        try:
            return importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted({*globals(), *__all__})
