"""Storing a flat integer array of a snapshot as one array per wanted field, block by block.

The reader parses ``nodes`` and ``edges`` a block at a time; these functions make the store
that puts a block's values into per-field column arrays in the narrowest types, so that the
flat array (1.5-2x the size of what an analysis keeps) never exists, and the *sieve* variant
that keeps only the edge records a caller selects (:data:`._reader.EdgeSieve`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from ._errors import SnapshotFormatError

#: Stores a block of values: the index of its first value in the array, and the values.
Store = Callable[[int, npt.NDArray[np.int64]], None]
#: Chooses, per block of whole edge records (rows x fields, int64) and the index of its
#: first record, which rows to keep.
Keep = Callable[[npt.NDArray[np.int64], int], npt.NDArray[np.bool_]]
#: The column of a sieved edge table holding each kept edge's index in the file.
EDGE_ROW = "_row"
UINT32_MAX = 2**32 - 1


@attrs.frozen(eq=False)
class Columns:
    """A store for the blocks of one array, and what it leaves once the array is read."""

    store: Store
    #: The columns, by field name (for a sieve: only the kept rows, and :data:`EDGE_ROW`).
    finish: Callable[[], dict[str, npt.NDArray[Any]]]


def split_columns(
    key: str,
    wanted: dict[str, npt.DTypeLike],
    fields: list[str],
    rows: int,
    error: Callable[[str], SnapshotFormatError],
) -> Columns:
    """One array of ``rows`` per ``wanted`` field (of ``fields``, the record layout)."""
    width = len(fields)
    columns = {name: np.empty(rows, dtype=dtype) for name, dtype in wanted.items()}
    targets = [
        (name, fields.index(name), column, int(np.iinfo(column.dtype).max))
        for name, column in columns.items()
    ]

    def store(start: int, values: npt.NDArray[np.int64]) -> None:
        for name, field, column, limit in targets:
            skip = (field - start) % width  # first value of this field in the block
            picked = values[skip::width]
            if limit < UINT32_MAX and len(picked) and int(picked.max()) > limit:
                raise error(f"not a valid snapshot: {key!r} {name!r} out of range")
            row = (start + skip) // width
            column[row : row + len(picked)] = picked

    return Columns(store, lambda: columns)


def sieve_columns(
    wanted: dict[str, npt.DTypeLike],
    fields: list[str],
    rows: int,
    keep: Keep,
    error: Callable[[str], SnapshotFormatError],
) -> Columns:
    """Like :func:`split_columns` for the edges, keeping only the rows ``keep`` selects.

    Blocks are cut anywhere; the values of a record cut in two wait for the next block.
    The columns are allocated for every edge but filled from the front with the kept
    ones only: the kernel backs only the pages written, and one big mapping never
    fragments the heap the way a list of small pieces does (measured: the pieces kept
    the whole diff's peak where it was).
    """
    width = len(fields)
    targets = [
        (name, fields.index(name), np.empty(rows, dtype), int(np.iinfo(dtype).max))
        for name, dtype in wanted.items()
    ]
    sources = np.empty(rows, dtype=np.uint32)
    carry: list[npt.NDArray[np.int64]] = [np.empty(0, dtype=np.int64)]
    kept = [0]

    def store(start: int, values: npt.NDArray[np.int64]) -> None:
        data = np.concatenate([carry[0], values]) if len(carry[0]) else values
        first = (start - len(carry[0])) // width
        whole = len(data) - len(data) % width
        carry[0] = data[whole:].copy()
        records = data[:whole].reshape(-1, width)
        if not len(records):
            return
        picked = np.flatnonzero(keep(records, first))
        at, count = kept[0], len(picked)
        for name, field, column, limit in targets:
            if limit < UINT32_MAX and int(records[:, field].max()) > limit:
                raise error(f"not a valid snapshot: 'edges' {name!r} out of range")
            column[at : at + count] = records[picked, field]
        sources[at : at + count] = picked + first
        kept[0] += count

    def finish() -> dict[str, npt.NDArray[Any]]:
        count = kept[0]
        columns = {name: column[:count] for name, _, column, _ in targets}
        columns[EDGE_ROW] = sources[:count]
        return columns

    return Columns(store, finish)
