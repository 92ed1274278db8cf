"""Streaming reader for V8 ``.heapsnapshot`` files.

A snapshot is one JSON object whose bulk is three arrays: ``nodes`` and ``edges`` (flat lists
of integers, a fixed number of fields per record) and ``strings``. Files run from 100 MB to
several GB, which is past what ``json.load`` (a Python ``int`` per number, ~30x the file size)
or a JavaScript string (DevTools, memlab) can hold. So this module reads the file in blocks and
turns each block of an integer array straight into a numpy ``uint32`` array with
``numpy.fromstring`` (C speed, no Python object per number); memory stays close to 4 bytes per
number plus one block.

Strings are decoded with :mod:`json` a block at a time. V8 writes one string per line and JSON
forbids raw newlines inside strings, so a block cut at its last newline byte always ends
between two elements; a block without a newline just grows until it has one.

Everything else (``snapshot`` metadata, ``trace_tree``, ``samples``, ``locations``, unknown
keys) is either small and decoded as JSON, or skipped by a bracket scanner. The order of the
keys does not matter; V8's (snapshot, nodes, edges, ..., strings) is the fast one, because the
string filter needs the nodes first.
"""

from __future__ import annotations

import bisect
import json
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import attrs
import numpy as np
import numpy.typing as npt

from ._errors import SnapshotFormatError

U32 = npt.NDArray[np.uint32]

#: Bytes read from the file at a time. Small enough that a block's temporaries (its bytes, its
#: numbers as int64) stay below the mmap threshold :mod:`._memory` sets, so they are reused
#: from the heap instead of being fresh pages the kernel must zero (see there). 64 KiB blocks
#: read as fast (measured), so the per-block Python work is not what costs.
BLOCK_SIZE = 256 * 1024

_WS = b" \t\r\n"
_STRUCTURAL = re.compile(rb'[\[\]{}"\\]')
_SCALAR_END = re.compile(rb"[,}]")
#: Flat arrays of integers in V8's format, skipped fast when not wanted.
_NUMERIC_ARRAYS = frozenset({"edges", "samples", "locations", "trace_function_infos"})
_UINT32_MAX = 2**32 - 1

#: Chooses, once the nodes are known, which string indices to keep (others become ""): gets
#: the nodes' type and name columns and the node type names.
StringFilter = Callable[[npt.NDArray[Any], npt.NDArray[Any], list[str]], npt.NDArray[np.bool_]]
#: Chooses which edges to keep, block by block, so that the edge columns of a graph never
#: exist whole. Called once the nodes are read, with the snapshot's meta and the nodes' split
#: columns; returns a function that gets a block of whole edge records (rows x fields,
#: int64) and the index of its first edge and answers which rows to keep, or None to keep
#: every edge.
EdgeSieve = Callable[
    [dict[str, Any], dict[str, npt.NDArray[Any]]],
    "Callable[[npt.NDArray[np.int64], int], npt.NDArray[np.bool_]] | None",
]
#: The column of a sieved edge table holding each kept edge's index in the file.
EDGE_ROW = "_row"


@attrs.frozen(eq=False)
class RawSnapshot:
    """The parts of a snapshot file as read, before any interpretation.

    ``nodes`` and ``edges`` are the flat arrays of the file; ``edges`` is ``None`` when the
    caller asked to skip them. ``strings`` may have ``""`` in place of strings a filter dropped.
    """

    meta: dict[str, Any]
    node_count: int
    edge_count: int
    nodes: U32
    edges: U32 | None
    strings: list[str]
    size: int
    root_index: int = 0
    #: With ``columns``: the wanted fields of ``nodes``/``edges``, one array each (``nodes``
    #: and ``edges`` are then empty).
    columns: dict[str, dict[str, npt.NDArray[Any]]] = attrs.field(factory=dict)
    #: Where each parsed block of ``nodes``, ``edges`` and ``strings`` lies in the file, to
    #: read a few values again later without keeping them in memory.
    index: FileIndex | None = None
    #: With a string filter: which strings were kept (the others read as "").
    string_kept: npt.NDArray[np.bool_] | None = None
    #: The flat ``locations`` array (``meta.location_fields`` per record: where the
    #: constructor of an object is), read with the edges; None when skipped or absent.
    locations: U32 | None = None


def read_snapshot(
    path: str | Path,
    *,
    with_edges: bool = True,
    string_filter: StringFilter | None = None,
    block_size: int = BLOCK_SIZE,
    columns: dict[str, dict[str, npt.DTypeLike]] | None = None,
    edge_sieve: EdgeSieve | None = None,
    edge_names: bool = False,
) -> RawSnapshot:
    """Read ``path`` into a :class:`RawSnapshot`.

    ``with_edges=False`` skips the edges array (a summary or a comparison needs only the
    nodes). ``string_filter`` keeps only the strings it selects, to save memory on big heaps.
    Raises :class:`SnapshotFormatError` for empty, truncated or non-snapshot files, and
    ``OSError`` when the file cannot be read.

    ``columns`` (``{"nodes": {"id": np.uint32, ...}, "edges": {...}}``) keeps only those
    fields, each in its own array of the given dtype, split off block by block so that the
    flat array never exists (it is 1.5-2x the size of what a graph analysis keeps).

    ``edge_sieve`` (with ``columns["edges"]``) keeps only the edges it selects: the edge
    columns then hold those, and a column :data:`EDGE_ROW` their indices in the file;
    ``edge_count`` stays the file's. Without a known edge count every edge is kept.
    ``edge_names`` (with ``string_filter`` and the edges' split ``type`` and
    ``name_or_index``) also keeps every string an edge is named by.
    """
    path = Path(path)
    with path.open("rb") as file:
        size = path.stat().st_size
        if size == 0:
            raise SnapshotFormatError(f"{path}: empty file (0 bytes), not a heap snapshot")
        reader = _Reader(
            file, str(path), block_size, with_edges, string_filter, columns or {}, edge_sieve
        )
        reader.keep_edge_names = edge_names
        return reader.read(size)


@attrs.define(eq=False)
class FileIndex:
    """Byte ranges of the blocks the reader parsed, to fetch single values again later.

    A graph analysis drops the edge names, node names and most strings (they are a third of
    the memory) and reads back the few it prints: one block each, a few milliseconds.
    """

    path: str
    #: Per array key: (start, end, index of the first value) of each parsed block.
    blocks: dict[str, list[tuple[int, int, int]]] = attrs.field(factory=dict)

    def numbers(self, key: str, positions: list[int]) -> list[int]:
        """The values at ``positions`` of the flat integer array ``key``."""
        return self._fetch(key, positions, _parse_block_numbers)

    def strings(self, indices: list[int]) -> list[str]:
        """The strings at ``indices`` of the ``strings`` array."""
        return self._fetch("strings", indices, _parse_block_strings)

    def _fetch(self, key: str, positions: list[int], parse: Callable[[bytes], Any]) -> list[Any]:
        blocks = self.blocks.get(key, [])
        firsts = [first for _, _, first in blocks]
        found: dict[int, Any] = {}
        # Positions grouped by block first: a retainer-route report asks for thousands.
        wanted: dict[int, list[int]] = {}
        for p in positions:
            wanted.setdefault(bisect.bisect_right(firsts, p) - 1, []).append(p)
        with open(self.path, "rb") as file:
            for block in sorted(wanted):
                if block < 0:
                    continue
                start, end, first = blocks[block]
                file.seek(start)
                values = parse(file.read(end - start))
                for p in wanted[block]:
                    if first <= p < first + len(values):
                        value = values[p - first]
                        found[p] = value if isinstance(value, str) else int(value)
        missing = [p for p in positions if p not in found]
        if missing:
            raise SnapshotFormatError(f"{self.path}: changed since it was read ({key})")
        return [found[p] for p in positions]


def _parse_block_numbers(text: bytes) -> npt.NDArray[np.int64]:
    # A numpy array, not a list: a list of a block's ~2M ints would be ~70 MB.
    values: npt.NDArray[np.int64] = np.fromstring(text.strip(_WS), dtype=np.int64, sep=",")
    return values


def _parse_block_strings(segment: bytes) -> list[str]:
    core = segment.strip(_WS).strip(b",").strip(_WS)
    items: list[str] = json.loads(b"[" + core + b"]") if core else []
    return items


class _Reader:
    """One pass over the file; a buffer of bytes and a position in it."""

    def __init__(
        self,
        file: BinaryIO,
        name: str,
        block_size: int,
        with_edges: bool,
        string_filter: StringFilter | None,
        columns: dict[str, dict[str, npt.DTypeLike]],
        edge_sieve: EdgeSieve | None = None,
    ) -> None:
        self._file = file
        self._edge_sieve = edge_sieve
        self._after_array: Callable[[], None] | None = None
        self.keep_edge_names = False
        self._name = name
        self._columns = columns
        self._index = FileIndex(name)
        self._offset = 0  # file offset of self._buf[0]
        self._block_size = block_size
        self._with_edges = with_edges
        self._string_filter = string_filter
        self._buf = b""
        self._pos = 0
        self._eof = False
        self._fields: dict[str, Any] = {}

    # -- buffer -----------------------------------------------------------------------------

    def _fill(self) -> bool:
        """Append one block to the buffer (dropping what was consumed); False at EOF."""
        if self._eof:
            return False
        data = self._file.read(self._block_size)
        if not data:
            self._eof = True
            return False
        self._offset += self._pos
        self._buf = self._buf[self._pos :] + data
        self._pos = 0
        return True

    def _peek(self) -> int:
        """The next non-whitespace byte (not consumed), or -1 at the end of the file."""
        while True:
            buf, pos, n = self._buf, self._pos, len(self._buf)
            while pos < n and buf[pos] in _WS:
                pos += 1
            self._pos = pos
            if pos < n:
                return buf[pos]
            if not self._fill():
                return -1

    def _expect(self, char: bytes, where: str) -> None:
        got = self._peek()
        if got != char[0]:
            found = "the end of the file" if got == -1 else repr(chr(got))
            if got == -1:
                raise self._error(f"truncated: file ends {where}")
            raise self._error(
                f"not a heap snapshot: expected {char.decode()!r} {where}, found {found}"
            )
        self._pos += 1

    def _error(self, message: str) -> SnapshotFormatError:
        return SnapshotFormatError(f"{self._name}: {message}")

    # -- document ---------------------------------------------------------------------------

    def read(self, size: int) -> RawSnapshot:
        first = self._peek()
        if first != ord("{"):
            if first == -1:
                raise self._error("not a heap snapshot: the file holds only whitespace")
            raise self._error("not a heap snapshot: it does not start with a JSON object")
        self._pos += 1
        if self._peek() == ord("}"):
            self._pos += 1
        else:
            while True:
                key = self._read_key()
                self._expect(b":", f"after key {key!r}")
                self._read_field(key)
                got = self._peek()
                if got == ord(","):
                    self._pos += 1
                    continue
                if got == ord("}"):
                    self._pos += 1
                    break
                if got == -1:
                    raise self._error(f"truncated: file ends after the {key!r} array")
                raise self._error(f"not a heap snapshot: unexpected {chr(got)!r} after {key!r}")
        if self._peek() != -1:
            raise self._error("not a heap snapshot: data after the end of the JSON object")
        return self._finish(size)

    def _read_key(self) -> str:
        if self._peek() != ord('"'):
            raise self._error("not a heap snapshot: expected a key in the top-level object")
        end = self._value_end()
        key = json.loads(self._buf[self._pos : end])
        self._pos = end
        return str(key)

    def _read_field(self, key: str) -> None:
        if key == "snapshot":
            value = self._read_small_value()
            if not isinstance(value, dict):
                raise self._error("not a heap snapshot: 'snapshot' is not an object")
            self._fields["snapshot"] = value
        elif key == "nodes" or (key == "edges" and self._with_edges):
            count = self._declared_length(key)
            self._fields[key] = self._read_uint_array(key, count)
        elif key == "strings":
            self._fields[key] = self._read_strings()
        elif key == "edges" and self._peek() == ord("["):
            self._index_numeric_array(key)
        elif key == "locations" and self._with_edges and self._peek() == ord("["):
            # Small (one record per object with a known constructor), and DevTools' class
            # keys need it: two classes of one name from different scripts are two rows.
            self._fields[key] = self._read_uint_array(key, None)
        elif key in _NUMERIC_ARRAYS and self._peek() == ord("["):
            self._skip_numeric_array(key)
        else:
            self._skip_value(key)

    def _skip_numeric_array(self, key: str) -> None:
        """Skip ``[1,2,...]`` with a byte search for ``]`` (numbers hold no brackets)."""
        while True:
            close = self._buf.find(b"]", self._pos)
            if close >= 0:
                self._pos = close + 1
                return
            self._pos = len(self._buf)
            if not self._fill():
                raise self._error(f"truncated: file ends inside {key!r}")

    def _index_numeric_array(self, key: str) -> None:
        """Skip ``[1,2,...]`` unparsed but note where each block's values are (``FileIndex``).

        Counting the commas of a block is a byte search, ~50x faster than parsing it; a
        reader of the nodes alone can then read single edges back (growing collections).
        """
        self._expect(b"[", f"at the start of {key!r}")
        blocks = self._index.blocks.setdefault(key, [])
        filled = 0
        while True:
            buf = self._buf
            close = buf.find(b"]", self._pos)
            if close >= 0:
                cut, next_pos, done = close, close + 1, True
            else:
                cut = buf.rfind(b",", self._pos)
                if cut < 0:
                    if not self._fill():
                        raise self._error(f"truncated: file ends inside {key!r}")
                    continue
                next_pos, done = cut + 1, False
            count = buf.count(b",", self._pos, cut)
            if count or buf[self._pos : cut].strip(_WS):
                blocks.append((self._offset + self._pos, self._offset + cut, filled))
                filled += count + 1
            del buf
            self._pos = next_pos
            if done:
                return
            if not self._eof and len(self._buf) - self._pos < self._block_size:
                self._fill()

    def _finish(self, size: int) -> RawSnapshot:
        for key in ("snapshot", "nodes", "strings"):
            if key not in self._fields:
                raise self._error(f"not a V8 heap snapshot: no {key!r} in the file")
        if self._with_edges and "edges" not in self._fields:
            raise self._error("not a V8 heap snapshot: no 'edges' in the file")
        snapshot = self._fields["snapshot"]
        meta = snapshot.get("meta")
        if not isinstance(meta, dict):
            raise self._error("not a V8 heap snapshot: no 'snapshot.meta'")
        nodes: U32 = self._fields["nodes"]
        node_fields = len(meta.get("node_fields") or ()) or 1
        edge_fields = len(meta.get("edge_fields") or ()) or 1
        edges: U32 | None = self._fields.get("edges")
        node_count = _int_field(snapshot, "node_count", len(nodes) // node_fields)
        split = self._fields.get("columns", {})
        if "edge_total" in self._fields:
            edge_count = self._fields["edge_total"]
        elif "edges" in split:
            edge_count = len(next(iter(split["edges"].values())))
        elif edges is not None:
            edge_count = len(edges) // edge_fields
        else:
            edge_count = _int_field(snapshot, "edge_count", 0)
        return RawSnapshot(
            meta=meta,
            node_count=node_count,
            edge_count=edge_count,
            nodes=nodes,
            edges=edges,
            strings=self._fields["strings"],
            size=size,
            root_index=_int_field(snapshot, "root_index", 0),
            columns=self._fields.get("columns", {}),
            index=self._index,
            string_kept=self._fields.get("string_kept"),
            locations=self._fields.get("locations"),
        )

    def _declared_length(self, key: str) -> int | None:
        """How many numbers ``snapshot.node_count``/``edge_count`` announce, if known."""
        snapshot = self._fields.get("snapshot")
        if not isinstance(snapshot, dict):
            return None
        meta = snapshot.get("meta") or {}
        fields = meta.get("node_fields" if key == "nodes" else "edge_fields")
        count = snapshot.get("node_count" if key == "nodes" else "edge_count")
        if not isinstance(fields, list) or not isinstance(count, int) or count < 0:
            return None
        return count * len(fields)

    # -- values -----------------------------------------------------------------------------

    def _value_end(self) -> int:
        """Buffer offset just past the JSON value starting at the position (reads more)."""
        return self._scan_value(consume=False)

    def _scan_value(self, *, consume: bool) -> int:
        """Find the end of the object, array or string that starts at the position.

        With ``consume`` the bytes scanned are dropped from the buffer as it goes, so skipping
        a big array (``edges`` when not wanted, ``trace_tree``) keeps memory at one block.
        """
        scan = self._pos
        depth = 0
        in_string = False
        started = False
        while True:
            if started and not in_string and depth == 0:
                return scan
            buf = self._buf
            match = _STRUCTURAL.search(buf, scan)
            if match is None or (in_string and match.end() >= len(buf) and buf[-1] == 92):
                scan = len(buf) if match is None else match.start()
                if consume:
                    self._pos = scan
                offset = self._pos
                if not self._fill():
                    raise self._error("truncated: the file ends inside a JSON value")
                scan -= offset
                continue
            started = True
            char = buf[match.start()]
            scan = match.end()
            if in_string:
                if char == 92:  # backslash: skip the escaped byte
                    scan += 1
                elif char == 34:
                    in_string = False
            elif char == 34:
                in_string = True
            elif char in b"[{":
                depth += 1
            elif char in b"]}":
                depth -= 1
                if depth < 0:
                    raise self._error("not a heap snapshot: unbalanced brackets")

    def _read_small_value(self) -> Any:
        first = self._peek()
        if first not in (ord("{"), ord("["), ord('"')):
            raise self._error("not a heap snapshot: unexpected value in the top-level object")
        end = self._value_end()
        try:
            value = json.loads(self._buf[self._pos : end])
        except ValueError as exc:
            raise self._error(f"not a heap snapshot: invalid JSON ({exc})") from None
        self._pos = end
        return value

    def _skip_value(self, key: str) -> None:
        first = self._peek()
        if first in (ord("{"), ord("["), ord('"')):
            self._pos = self._scan_value(consume=True)
            return
        # A scalar: up to the next ',' or '}'.
        while True:
            match = _SCALAR_END.search(self._buf, self._pos)
            if match is not None:
                self._pos = match.start()
                return
            if not self._fill():
                raise self._error(f"truncated: file ends inside {key!r}")

    def _read_uint_array(self, key: str, expected: int | None) -> U32:
        """Parse a flat array of non-negative integers into a uint32 array.

        With wanted columns for ``key`` (and a known length), the values go straight into
        one array per wanted field instead, stored in ``self._fields["columns"]``.
        """
        self._expect(b"[", f"at the start of {key!r}")
        self._after_array = None
        splitter = self._splitter(key, expected)
        out = np.empty(expected if expected is not None and splitter is None else 0, np.uint32)
        chunks: list[U32] = []
        blocks = self._index.blocks.setdefault(key, [])
        filled = 0
        while True:
            buf = self._buf
            close = buf.find(b"]", self._pos)
            if close >= 0:
                cut, next_pos, done = close, close + 1, True
            else:
                cut = buf.rfind(b",", self._pos)
                if cut < 0:
                    if not self._fill():
                        raise self._error(
                            f"truncated: file ends inside {key!r} after {filled} numbers"
                            + (f" of {expected}" if expected is not None else "")
                        )
                    continue
                next_pos, done = cut + 1, False
            values = self._parse_numbers(buf[self._pos : cut], key)
            del buf  # the buffer can be replaced while these values are stored
            if len(values):
                blocks.append((self._offset + self._pos, self._offset + cut, filled))
            self._pos = next_pos
            if expected is not None:
                if filled + len(values) > expected:
                    raise self._error(
                        f"not a valid snapshot: {key!r} has more numbers than the "
                        f"{expected} that snapshot.meta announces"
                    )
                if splitter is not None:
                    splitter(filled, values)
                else:
                    out[filled : filled + len(values)] = values
            else:
                chunks.append(values.astype(np.uint32))
            filled += len(values)
            if done:
                break
            if not self._eof and len(self._buf) - self._pos < self._block_size:
                self._fill()
        if expected is None:
            return np.concatenate(chunks) if chunks else out
        if filled != expected:
            raise self._error(
                f"not a valid snapshot: {key!r} has {filled} numbers, "
                f"snapshot.meta announces {expected}"
            )
        if self._after_array is not None:
            self._after_array()
        return out

    def _splitter(
        self, key: str, expected: int | None
    ) -> Callable[[int, npt.NDArray[np.int64]], None] | None:
        """A function storing a block of ``key``'s values into per-field column arrays."""
        wanted = self._columns.get(key)
        snapshot = self._fields.get("snapshot")
        if not wanted or expected is None or not isinstance(snapshot, dict):
            return None
        meta = snapshot.get("meta") or {}
        fields = meta.get("node_fields" if key == "nodes" else "edge_fields")
        if not isinstance(fields, list):
            return None
        # Optional fields the file lacks (``detachedness`` before V8 9) are left out; the
        # snapshot checks that the required ones are in the meta before it uses them.
        wanted = {name: dtype for name, dtype in wanted.items() if name in fields}
        if not wanted:
            return None
        width = len(fields)
        if expected % width:
            return None
        if key == "edges" and self._edge_sieve is not None:
            nodes = self._fields.get("columns", {}).get("nodes")
            keep = self._edge_sieve(snapshot, nodes) if nodes is not None else None
            if keep is not None:
                return self._sieve(wanted, fields, expected // width, keep)
        rows = expected // width
        columns = {name: np.empty(rows, dtype=dtype) for name, dtype in wanted.items()}
        self._fields.setdefault("columns", {})[key] = columns
        targets = [
            (name, fields.index(name), column, int(np.iinfo(column.dtype).max))
            for name, column in columns.items()
        ]

        def store(start: int, values: npt.NDArray[np.int64]) -> None:
            for name, field, column, limit in targets:
                skip = (field - start) % width  # first value of this field in the block
                picked = values[skip::width]
                if limit < _UINT32_MAX and len(picked) and int(picked.max()) > limit:
                    raise self._error(f"not a valid snapshot: {key!r} {name!r} out of range")
                row = (start + skip) // width
                column[row : row + len(picked)] = picked

        return store

    def _sieve(
        self,
        wanted: dict[str, npt.DTypeLike],
        fields: list[str],
        rows: int,
        keep: Callable[[npt.NDArray[np.int64], int], npt.NDArray[np.bool_]],
    ) -> Callable[[int, npt.NDArray[np.int64]], None]:
        """Like :meth:`_splitter` for the edges, keeping only the rows ``keep`` selects.

        Blocks are cut anywhere; the values of a record cut in two wait for the next block.
        The columns are allocated for every edge but filled from the front with the kept
        ones only: the kernel backs only the pages written, and one big mapping never
        fragments the heap the way a list of small pieces does (measured: the pieces kept
        the whole diff's peak where it was).
        """
        width = len(fields)
        targets = [
            (name, fields.index(name), np.empty(rows, dtype)) for name, dtype in wanted.items()
        ]
        sources = np.empty(rows, dtype=np.uint32)
        carry: list[npt.NDArray[np.int64]] = [np.empty(0, dtype=np.int64)]
        kept = [0]
        self._fields["edge_total"] = rows

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
            for name, field, column in targets:
                limit = int(np.iinfo(column.dtype).max)
                if limit < _UINT32_MAX and int(records[:, field].max()) > limit:
                    raise self._error(f"not a valid snapshot: 'edges' {name!r} out of range")
                column[at : at + count] = records[picked, field]
            sources[at : at + count] = picked + first
            kept[0] += count

        def join() -> None:
            count = kept[0]
            columns = {name: column[:count] for name, _, column in targets}
            columns[EDGE_ROW] = sources[:count]
            self._fields.setdefault("columns", {})["edges"] = columns

        self._after_array = join
        return store

    def _parse_numbers(self, text: bytes, key: str) -> npt.NDArray[np.int64]:
        stripped = text.strip(_WS)
        if not stripped:
            return np.empty(0, dtype=np.int64)
        count = stripped.count(b",") + 1
        try:
            with warnings.catch_warnings():
                # Older numpy warns and stops at the first non-number; newer raises.
                warnings.simplefilter("ignore")
                values = np.fromstring(stripped, dtype=np.int64, sep=",")
        except ValueError:
            values = np.empty(0, dtype=np.int64)
        if len(values) != count:
            raise self._error(f"not a valid snapshot: {key!r} holds something other than numbers")
        if len(values) and (values.min() < 0 or values.max() > _UINT32_MAX):
            raise self._error(f"not a valid snapshot: {key!r} holds numbers out of range")
        result: npt.NDArray[np.int64] = values
        return result

    def _read_strings(self) -> list[str]:
        """Decode the ``strings`` array one block (cut at a newline) at a time."""
        self._expect(b"[", "at the start of 'strings'")
        keep = self._string_keep_mask()
        self._fields["string_kept"] = keep
        candidates: npt.NDArray[np.bool_] | None = self._fields.get("string_candidates")
        blocks = self._index.blocks.setdefault("strings", [])
        strings: list[str] = []
        while True:
            buf = self._buf
            cut = buf.rfind(b"\n", self._pos)
            if cut < 0 or cut == self._pos:
                if self._fill():
                    continue
                cut = len(self._buf)
                buf = self._buf
            segment = buf[self._pos : cut]
            core = segment.strip(_WS).strip(b",").strip(_WS)
            start = self._offset + self._pos
            try:
                items = json.loads(b"[" + core + b"]") if core else []
                end = None
                blocks.append((start, start + len(segment), len(strings)))
            except ValueError:
                lead = len(segment) - len(segment.lstrip(_WS + b","))
                items, end = self._decode_strings_tail(segment[lead:])
                end += lead
                blocks.append((start + lead, start + end - 1, len(strings)))  # without "]"
            # map(type) runs in C: 5x faster than a generator over the strings.
            if not set(map(type, items)) <= {str}:
                raise self._error("not a heap snapshot: 'strings' holds something else")
            if keep is not None:
                # Only the kept strings are touched; the others share one "" object.
                here = slice(len(strings), len(strings) + len(items))
                wanted = np.flatnonzero(keep[here])
                kept = [""] * len(items)
                for i in wanted.tolist():
                    kept[i] = items[i]
                if candidates is not None:
                    for i in np.flatnonzero(candidates[here]).tolist():
                        if internal_name_wanted(items[i]):
                            kept[i] = items[i]
                            keep[len(strings) + i] = True
                items = kept
            strings.extend(items)
            if end is not None:
                self._pos += end
                return strings
            self._pos = cut
            if not self._fill() and self._pos >= len(self._buf):
                raise self._error("truncated: file ends inside 'strings'")

    def _with_edge_names(
        self, meta: dict[str, Any], keep: npt.NDArray[np.bool_]
    ) -> npt.NDArray[np.bool_] | None:
        """``keep`` and the names of the edges (element and hidden edges hold indices)."""
        if not self.keep_edge_names:
            return keep
        edges = self._fields.get("columns", {}).get("edges", {})
        fields = meta.get("edge_fields") or []
        tables = meta.get("edge_types") or []
        if "type" not in edges or "name_or_index" not in edges or "type" not in fields:
            return None  # keep every string
        types = tables[fields.index("type")] if len(tables) > fields.index("type") else []
        if not isinstance(types, list):
            return None
        named = np.ones(len(edges["type"]), dtype=bool)
        internal = np.zeros(len(edges["type"]), dtype=bool)
        for code, name in enumerate(types):
            if name in ("element", "hidden"):
                named &= edges["type"] != code
            elif name == "internal":
                internal |= edges["type"] == code
        used = edges["name_or_index"][named & ~internal]
        # Internal edges are V8's own slots: most of their names are numbers (an elements
        # store's slots, 400 k strings on a 120 MB heap) no rule reads; which of them are
        # kept is decided by their text (:func:`internal_name_wanted`).
        maybe = edges["name_or_index"][internal]
        size = max(len(keep), *(int(u.max()) + 1 for u in (used, maybe) if len(u)))
        if size > len(keep):
            keep = np.concatenate([keep, np.zeros(size - len(keep), dtype=bool)])
        keep[used] = True
        candidates = np.zeros(size, dtype=bool)
        candidates[maybe] = True
        candidates &= ~keep
        self._fields["string_candidates"] = candidates
        return keep

    def _decode_strings_tail(self, segment: bytes) -> tuple[list[str], int]:
        """Decode a segment holding the end of the array; the offset just past its ']'."""
        try:
            text = segment.decode("utf-8")
        except UnicodeDecodeError:
            raise self._error("not a heap snapshot: 'strings' is not UTF-8") from None
        try:
            items, end = json.JSONDecoder().raw_decode("[" + text)
        except ValueError:
            if self._eof:
                raise self._error("truncated: file ends inside 'strings'") from None
            raise self._error("not a heap snapshot: 'strings' is not a JSON array") from None
        consumed = len(text[: end - 1].encode("utf-8"))
        return list(items), consumed

    def _string_keep_mask(self) -> npt.NDArray[np.bool_] | None:
        snapshot = self._fields.get("snapshot")
        if self._string_filter is None or not isinstance(snapshot, dict):
            return None
        meta = snapshot.get("meta")
        if not isinstance(meta, dict):
            return None
        fields = meta.get("node_fields") or []
        tables = meta.get("node_types") or []
        if not isinstance(fields, list) or "type" not in fields or "name" not in fields:
            return None
        if not tables or not isinstance(tables[0], list):
            return None
        node_types = [str(t) for t in tables[fields.index("type")]]
        columns = self._fields.get("columns", {}).get("nodes", {})
        if "type" in columns and "name" in columns:
            keep = self._string_filter(columns["type"], columns["name"], node_types)
            return self._with_edge_names(meta, keep)
        nodes = self._fields.get("nodes")
        if nodes is None or len(nodes) % len(fields):
            return None
        view = nodes.reshape(-1, len(fields))
        return self._string_filter(
            view[:, fields.index("type")], view[:, fields.index("name")], node_types
        )


#: The part of an internal edge's name that names half of a WeakMap entry.
WEAKMAP_MARK = " pair in WeakMap (table @"
#: Internal edge names a DevTools rule compares with.
_RULE_NAMES = frozenset({"sloppy_function_map"})
#: Above any descriptor-array slot (V8: at most 1020 descriptors, 3 slots each, 2 more).
_DESCRIPTOR_SLOTS = 4096


def internal_name_wanted(text: str) -> bool:
    """Whether DevTools' rules read an internal edge named ``text``: half of a WeakMap
    entry, a name a rule looks for, or a number that could be a descriptor slot (the
    distance rule parses those)."""
    if text.isascii() and text.isdigit():  # the usual case, without a regex
        return len(text) <= len(str(_DESCRIPTOR_SLOTS)) and int(text) < _DESCRIPTOR_SLOTS
    if WEAKMAP_MARK in text or text in _RULE_NAMES:
        return True
    number = _LEADING_NUMBER.match(text)  # what parseInt reads
    return number is not None and int(number.group(1)) < _DESCRIPTOR_SLOTS


_LEADING_NUMBER = re.compile(r"\s*\+?(\d+)")


def _int_field(snapshot: dict[str, Any], key: str, default: int) -> int:
    value = snapshot.get(key, default)
    return value if isinstance(value, int) and value >= 0 else default
