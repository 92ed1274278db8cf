"""Errors raised by snapshot analysis, as part of cdp-heap's error tree::

    CDPHeapError
    └── AnalysisError           a snapshot could not be analysed
        ├── SnapshotFormatError     empty, truncated, not JSON, or not a V8 heap snapshot
        ├── IncomparableSnapshots   the snapshots do not share one object-id space
        └── SnapshotsOutOfOrder     a leak hunt's snapshots are not given oldest first

All carry a one-line message meant to be printed as is by the CLI.
"""

from __future__ import annotations

from .._errors import CDPHeapError


class AnalysisError(CDPHeapError):
    """Base class of the errors raised while analysing heap snapshots."""


class SnapshotFormatError(AnalysisError):
    """The file is not a complete V8 ``.heapsnapshot`` (empty, truncated, other JSON)."""


class IncomparableSnapshots(AnalysisError):
    """Two snapshots cannot be compared object by object.

    V8 numbers objects per heap-profiler session: snapshots of different processes, or of one
    process across a ``HeapProfiler.disable`` (any inspector session closing does it), reuse
    the same ids for unrelated objects, so a per-id comparison would report noise as leaks.
    """


class SnapshotsOutOfOrder(AnalysisError):
    """The snapshots of a leak hunt are not in the order they were taken.

    Within one session V8 hands out object ids in increasing order, so a later snapshot's
    newest object has a higher id than an earlier one's: that is the evidence of the order.
    """
