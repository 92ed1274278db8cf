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
from ._limits import DEFAULT_MAX_MESSAGE_SIZE
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
    "SnapshotProgress",
    "SnapshotStream",
    "SnapshotStreamStatistics",
    "Subscription",
    "SubscriptionOverflow",
    "TargetDetached",
    "TargetInfo",
    "Tracker",
    "TrackingSample",
    "TrackingStatistics",
    "VersionInfo",
    "activate_inspector",
    "get_protocol",
    "get_version",
    "list_targets",
    "load_profile",
    "open_cdp",
    "open_cdp_stream",
    "open_sampling",
    "open_snapshot_stream",
    "open_tracking",
    "save_profile",
    "save_snapshot",
    "select_target",
]
