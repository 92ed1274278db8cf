"""The HeapProfiler domain, typed: every command and event that V8's inspector lists.

Commands are methods of :class:`HeapProfiler` (snake_case of the CDP name, one keyword per
CDP parameter); events are ``attrs.frozen`` classes named after the CDP event in CapWords,
built by ``from_json``. ``tests/test_protocol_coverage.py`` compares this module with the
``/json/protocol`` of a real ``node --inspect`` so the two cannot drift apart.

The two commands that produce a heap snapshot, :meth:`HeapProfiler.take_heap_snapshot` and
:meth:`HeapProfiler.stop_tracking_heap_objects`, return a snapshot stream (an async context
manager, see :mod:`cdp_heap._capture`) rather than a plain result, because the snapshot
arrives as events before the command's reply.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, ClassVar, TypeAlias

import attrs

from ._capture import DEFAULT_MAX_BUFFER_BYTES, SnapshotStream, open_snapshot_stream
from ._connection import CDPConnection
from ._protocol import CHUNK_EVENT, PROGRESS_EVENT
from ._queue import Policy
from ._wire import JSONObject

HeapSnapshotObjectId: TypeAlias = str


# -- types of other domains that HeapProfiler refers to ---------------------------------------


@attrs.frozen
class CallFrame:
    """``Runtime.CallFrame``: where a function is. Line and column are 0-based."""

    function_name: str
    script_id: str
    url: str
    line_number: int
    column_number: int

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> CallFrame:
        return cls(
            function_name=obj.get("functionName", ""),
            script_id=str(obj.get("scriptId", "")),
            url=obj.get("url", ""),
            line_number=int(obj.get("lineNumber", -1)),
            column_number=int(obj.get("columnNumber", -1)),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "functionName": self.function_name,
            "scriptId": self.script_id,
            "url": self.url,
            "lineNumber": self.line_number,
            "columnNumber": self.column_number,
        }


@attrs.frozen
class RemoteObject:
    """``Runtime.RemoteObject``, the fields a heap tool needs; ``raw`` has all of them."""

    type: str
    subtype: str | None = None
    class_name: str | None = None
    description: str | None = None
    object_id: str | None = None
    value: Any = None
    raw: Mapping[str, Any] = attrs.field(factory=dict, eq=False, repr=False)

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> RemoteObject:
        return cls(
            type=obj.get("type", ""),
            subtype=obj.get("subtype"),
            class_name=obj.get("className"),
            description=obj.get("description"),
            object_id=obj.get("objectId"),
            value=obj.get("value"),
            raw=dict(obj),
        )


# -- HeapProfiler types ------------------------------------------------------------------------


@attrs.frozen
class SamplingHeapProfileNode:
    """A call-tree node: allocations (``self_size`` bytes) made directly in ``call_frame``."""

    call_frame: CallFrame
    self_size: float
    id: int
    children: tuple[SamplingHeapProfileNode, ...]

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> SamplingHeapProfileNode:
        # Post-order and iterative: a deep recursion in the profiled program makes a deep
        # tree, which would overflow Python's stack if built recursively.
        built: list[SamplingHeapProfileNode] = []
        stack: list[tuple[Mapping[str, Any], bool]] = [(obj, False)]
        while stack:
            node, children_built = stack.pop()
            children = node.get("children", ())
            if not children_built:
                stack.append((node, True))
                stack.extend((child, False) for child in reversed(children))
                continue
            first_child = len(built) - len(children)
            made = cls(
                call_frame=CallFrame.from_json(node.get("callFrame", {})),
                self_size=node.get("selfSize", 0),
                id=int(node.get("id", 0)),
                children=tuple(built[first_child:]),
            )
            del built[first_child:]
            built.append(made)
        return built[0]

    def to_json(self) -> dict[str, Any]:
        # Iterative for the same reason as from_json.
        def shallow(node: SamplingHeapProfileNode) -> dict[str, Any]:
            return {
                "callFrame": node.call_frame.to_json(),
                "selfSize": node.self_size,
                "id": node.id,
                "children": [],
            }

        top = shallow(self)
        stack = [(self, top)]
        while stack:
            node, made = stack.pop()
            for child in node.children:
                child_json = shallow(child)
                made["children"].append(child_json)
                stack.append((child, child_json))
        return top

    def walk(self) -> Iterator[SamplingHeapProfileNode]:
        """This node and all below it, parents before children (iterative)."""
        stack = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children))


@attrs.frozen
class SamplingHeapProfileSample:
    size: float
    node_id: int
    ordinal: float

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> SamplingHeapProfileSample:
        return cls(size=obj["size"], node_id=int(obj["nodeId"]), ordinal=obj["ordinal"])

    def to_json(self) -> dict[str, Any]:
        return {"size": self.size, "nodeId": self.node_id, "ordinal": self.ordinal}


@attrs.frozen
class SamplingHeapProfile:
    """A sampling heap profile: the allocation call tree and the samples."""

    head: SamplingHeapProfileNode
    samples: tuple[SamplingHeapProfileSample, ...] = ()

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> SamplingHeapProfile:
        return cls(
            head=SamplingHeapProfileNode.from_json(obj["head"]),
            samples=tuple(SamplingHeapProfileSample.from_json(s) for s in obj.get("samples", ())),
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON that DevTools' Memory panel loads from a ``.heapprofile`` file."""
        return {"head": self.head.to_json(), "samples": [s.to_json() for s in self.samples]}

    def nodes(self) -> Iterator[SamplingHeapProfileNode]:
        """Every node of the call tree, parents before children."""
        return self.head.walk()

    @property
    def total_size(self) -> float:
        """Bytes the profile accounts for: the sum of every node's ``self_size``.

        Without ``includeObjectsCollectedBy*GC`` V8 drops the samples of collected objects,
        so this estimates what was allocated while sampling *and is still alive*; with them,
        everything allocated while sampling.
        """
        return sum(node.self_size for node in self.nodes())

    def allocation_sites(self) -> list[AllocationSite]:
        """Allocations grouped by where they happen (function, url, line, column), largest
        ``self_size`` first. The same function reached through different call paths is
        one site; sites that allocated nothing are left out."""
        sizes: dict[tuple[str, str, int, int], list[float]] = {}
        for node in self.nodes():
            if not node.self_size:
                continue
            frame = node.call_frame
            key = (frame.function_name, frame.url, frame.line_number, frame.column_number)
            entry = sizes.setdefault(key, [0.0, 0])
            entry[0] += node.self_size
            entry[1] += 1
        sites = [
            AllocationSite(name, url, line, column, size, int(count))
            for (name, url, line, column), (size, count) in sizes.items()
        ]
        sites.sort(key=lambda site: (-site.self_size, site.function_name, site.url))
        return sites

    def top_sites(self, n: int = 10) -> list[AllocationSite]:
        """The ``n`` sites that allocated the most (see :meth:`allocation_sites`)."""
        return self.allocation_sites()[:n]


@attrs.frozen
class AllocationSite:
    """Where allocations happen, summed over every call path that reaches it.

    ``line_number`` and ``column_number`` are 0-based, as in :class:`CallFrame`;
    :attr:`location` shows them 1-based, as editors and DevTools do.
    """

    function_name: str
    url: str
    line_number: int
    column_number: int
    self_size: float
    #: How many call-tree nodes (call paths) were added up.
    nodes: int

    @property
    def location(self) -> str:
        """``url:line:column`` (1-based), or ``""`` for V8's own pseudo-frames."""
        if not self.url and self.line_number < 0:
            return ""
        return f"{self.url}:{self.line_number + 1}:{self.column_number + 1}"

    @property
    def name(self) -> str:
        """The function name, ``(anonymous)`` for an unnamed one (as DevTools shows it)."""
        return self.function_name or "(anonymous)"


# -- events -------------------------------------------------------------------------------------


@attrs.frozen
class AddHeapSnapshotChunk:
    method: ClassVar[str] = CHUNK_EVENT
    chunk: str

    @classmethod
    def from_json(cls, params: Mapping[str, Any]) -> AddHeapSnapshotChunk:
        return cls(chunk=params["chunk"])


@attrs.frozen
class HeapStatsUpdate:
    """Triplets ``(fragment index, object count, total size)`` of fragments that changed."""

    method: ClassVar[str] = "HeapProfiler.heapStatsUpdate"
    stats_update: tuple[int, ...]

    @classmethod
    def from_json(cls, params: Mapping[str, Any]) -> HeapStatsUpdate:
        return cls(stats_update=tuple(params["statsUpdate"]))

    def fragments(self) -> list[tuple[int, int, int]]:
        """The update as ``(index, count, size)`` triplets."""
        s = self.stats_update
        return [(s[i], s[i + 1], s[i + 2]) for i in range(0, len(s) - 2, 3)]


@attrs.frozen
class LastSeenObjectId:
    method: ClassVar[str] = "HeapProfiler.lastSeenObjectId"
    last_seen_object_id: int
    timestamp: float

    @classmethod
    def from_json(cls, params: Mapping[str, Any]) -> LastSeenObjectId:
        return cls(last_seen_object_id=params["lastSeenObjectId"], timestamp=params["timestamp"])


@attrs.frozen
class ReportHeapSnapshotProgress:
    method: ClassVar[str] = PROGRESS_EVENT
    done: int
    total: int
    finished: bool | None = None

    @classmethod
    def from_json(cls, params: Mapping[str, Any]) -> ReportHeapSnapshotProgress:
        return cls(done=params["done"], total=params["total"], finished=params.get("finished"))


@attrs.frozen
class ResetProfiles:
    method: ClassVar[str] = "HeapProfiler.resetProfiles"

    @classmethod
    def from_json(cls, params: Mapping[str, Any]) -> ResetProfiles:
        return cls()


HeapProfilerEvent: TypeAlias = (
    AddHeapSnapshotChunk
    | HeapStatsUpdate
    | LastSeenObjectId
    | ReportHeapSnapshotProgress
    | ResetProfiles
)
EVENT_TYPES: Mapping[str, type[HeapProfilerEvent]] = {
    cls.method: cls
    for cls in (
        AddHeapSnapshotChunk,
        HeapStatsUpdate,
        LastSeenObjectId,
        ReportHeapSnapshotProgress,
        ResetProfiles,
    )
}


def parse_event(method: str, params: Mapping[str, Any]) -> HeapProfilerEvent:
    """The typed event for a HeapProfiler event message."""
    return EVENT_TYPES[method].from_json(params)


# -- commands -----------------------------------------------------------------------------------


class HeapProfiler:
    """The HeapProfiler domain of one connection (and, in flatten mode, one session)."""

    def __init__(self, connection: CDPConnection, *, session_id: str | None = None) -> None:
        self.connection = connection
        self.session_id = session_id

    async def _call(self, name: str, params: JSONObject | None = None) -> JSONObject:
        return await self.connection.send(
            f"HeapProfiler.{name}", params, session_id=self.session_id
        )

    async def add_inspected_heap_object(self, heap_object_id: HeapSnapshotObjectId) -> None:
        """Make the object available as ``$x`` in the console's command line API."""
        await self._call("addInspectedHeapObject", {"heapObjectId": heap_object_id})

    async def collect_garbage(self) -> None:
        """Run a full garbage collection in the target."""
        await self._call("collectGarbage")

    async def disable(self) -> None:
        """Disable the domain. Note: V8 then forgets its object ids, so later snapshots are no
        longer comparable object-for-object with earlier ones."""
        await self._call("disable")

    async def enable(self) -> None:
        await self._call("enable")

    async def get_heap_object_id(self, object_id: str) -> HeapSnapshotObjectId:
        """The heap snapshot id of a ``Runtime.RemoteObjectId``."""
        result = await self._call("getHeapObjectId", {"objectId": object_id})
        return str(result["heapSnapshotObjectId"])

    async def get_object_by_heap_object_id(
        self, object_id: HeapSnapshotObjectId, object_group: str | None = None
    ) -> RemoteObject:
        params = _params(objectId=object_id, objectGroup=object_group)
        result = await self._call("getObjectByHeapObjectId", params)
        return RemoteObject.from_json(result["result"])

    async def get_sampling_profile(self) -> SamplingHeapProfile:
        """The profile collected so far, without stopping sampling."""
        result = await self._call("getSamplingProfile")
        return SamplingHeapProfile.from_json(result["profile"])

    async def start_sampling(
        self,
        sampling_interval: float | None = None,
        include_objects_collected_by_major_gc: bool | None = None,
        include_objects_collected_by_minor_gc: bool | None = None,
    ) -> None:
        params = _params(
            samplingInterval=sampling_interval,
            includeObjectsCollectedByMajorGC=include_objects_collected_by_major_gc,
            includeObjectsCollectedByMinorGC=include_objects_collected_by_minor_gc,
        )
        await self._call("startSampling", params)

    async def start_tracking_heap_objects(self, track_allocations: bool | None = None) -> None:
        await self._call("startTrackingHeapObjects", _params(trackAllocations=track_allocations))

    async def stop_sampling(self) -> SamplingHeapProfile:
        result = await self._call("stopSampling")
        return SamplingHeapProfile.from_json(result["profile"])

    def stop_tracking_heap_objects(
        self,
        report_progress: bool | None = None,
        treat_global_objects_as_roots: bool | None = None,
        capture_numeric_value: bool | None = None,
        expose_internals: bool | None = None,
        *,
        max_buffer_bytes: int = DEFAULT_MAX_BUFFER_BYTES,
    ) -> AbstractAsyncContextManager[SnapshotStream]:
        """Stop tracking; the target sends a heap snapshot with allocation traces, which
        this returns as a stream (see :meth:`take_heap_snapshot`)."""
        return self._snapshot_stream(
            "stopTrackingHeapObjects",
            report_progress,
            treat_global_objects_as_roots,
            capture_numeric_value,
            expose_internals,
            max_buffer_bytes,
        )

    def take_heap_snapshot(
        self,
        report_progress: bool | None = None,
        treat_global_objects_as_roots: bool | None = None,
        capture_numeric_value: bool | None = None,
        expose_internals: bool | None = None,
        *,
        max_buffer_bytes: int = DEFAULT_MAX_BUFFER_BYTES,
    ) -> AbstractAsyncContextManager[SnapshotStream]:
        """Take a heap snapshot, as a stream of chunks::

            async with heap_profiler.take_heap_snapshot() as stream:
                async for chunk in stream:
                    ...

        The command is sent on entry. Leaving the block before the stream ends abandons the
        snapshot: the rest of its chunks are discarded and the connection stays usable.
        ``report_progress`` makes V8 send progress events (it costs the target an extra
        pass over the heap); ``treat_global_objects_as_roots`` is deprecated in favour of
        ``expose_internals``.
        """
        return self._snapshot_stream(
            "takeHeapSnapshot",
            report_progress,
            treat_global_objects_as_roots,
            capture_numeric_value,
            expose_internals,
            max_buffer_bytes,
        )

    def _snapshot_stream(
        self,
        name: str,
        report_progress: bool | None,
        treat_global_objects_as_roots: bool | None,
        capture_numeric_value: bool | None,
        expose_internals: bool | None,
        max_buffer_bytes: int,
    ) -> AbstractAsyncContextManager[SnapshotStream]:
        params = _params(
            reportProgress=report_progress,
            treatGlobalObjectsAsRoots=treat_global_objects_as_roots,
            captureNumericValue=capture_numeric_value,
            exposeInternals=expose_internals,
        )
        return open_snapshot_stream(
            self.connection,
            method=f"HeapProfiler.{name}",
            params=params,
            max_buffer_bytes=max_buffer_bytes,
            session_id=self.session_id,
        )

    @asynccontextmanager
    async def subscribe(
        self,
        *event_types: type[HeapProfilerEvent],
        max_buffer: int = 1000,
        policy: Policy = "fail",
    ) -> AsyncIterator[AsyncIterator[HeapProfilerEvent]]:
        """Typed events of this domain; see :meth:`CDPConnection.subscribe` for the policies.

        ``async with hp.subscribe(HeapStatsUpdate, LastSeenObjectId) as events:``
        """
        methods = [t.method for t in event_types] or list(EVENT_TYPES)
        async with self.connection.subscribe(
            methods, max_buffer=max_buffer, policy=policy
        ) as subscription:

            async def typed() -> AsyncIterator[HeapProfilerEvent]:
                async for event in subscription:
                    if self.session_id is None or event.session_id == self.session_id:
                        yield parse_event(event.method, event.params)

            yield typed()


def _params(**params: Any) -> dict[str, Any]:
    """CDP parameters without the ones left at ``None`` (optional, target's default)."""
    return {key: value for key, value in params.items() if value is not None}
