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
    SnapshotProgress,
    Subscription,
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
