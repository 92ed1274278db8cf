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

import json
import re
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, BinaryIO

import attrs
import numpy as np
import numpy.typing as npt

from ._columns import UINT32_MAX, Columns, Keep, sieve_columns, split_columns
from ._errors import SnapshotFormatError
from ._fileindex import WHITESPACE, FileIndex
from ._strings import decode_strings_tail, edge_name_masks, kept_texts

U32 = npt.NDArray[np.uint32]

#: Bytes read from the file at a time. Small enough that a block's temporaries (its bytes, its
#: numbers as int64) stay below the mmap threshold :mod:`._memory` sets, so they are reused
#: from the heap instead of being fresh pages the kernel must zero (see there). 64 KiB blocks
#: read as fast (measured), so the per-block Python work is not what costs.
BLOCK_SIZE = 256 * 1024
#: Blocks of a numeric array parsed ahead of the one being stored
#: (:meth:`_Reader._read_uint_array`): 4 rather than 2 keeps the parse thread fed while the
#: main thread takes the newest one (in-process 1 GB diff: 9.1-9.4 s with 4 or 8 in flight,
#: 9.7-10.0 s with 2).
_IN_FLIGHT = 4

_STRUCTURAL = re.compile(rb'[\[\]{}"\\]')
_SCALAR_END = re.compile(rb"[,}]")
#: Flat arrays of integers in V8's format, skipped fast when not wanted.
_NUMERIC_ARRAYS = frozenset({"edges", "samples", "locations", "trace_function_infos"})

#: Chooses, once the nodes are known, which string indices to keep (others become ""): gets
#: the nodes' type and name columns and the node type names.
StringFilter = Callable[[npt.NDArray[Any], npt.NDArray[Any], list[str]], npt.NDArray[np.bool_]]
#: Chooses which edges to keep, block by block, so that the edge columns of a graph never
#: exist whole. Called once the nodes are read, with the snapshot's meta and the nodes' split
#: columns; returns a function that gets a block of whole edge records (rows x fields,
#: int64) and the index of its first edge and answers which rows to keep, or None to keep
#: every edge.
EdgeSieve = Callable[[dict[str, Any], dict[str, npt.NDArray[Any]]], "Keep | None"]
BoolArray = npt.NDArray[np.bool_]


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
            while pos < n and buf[pos] in WHITESPACE:
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
        for start, text in self._array_blocks(lambda: f"truncated: file ends inside {key!r}"):
            count = text.count(b",")
            if count or text.strip(WHITESPACE):
                blocks.append((start, start + len(text), filled))
                filled += count + 1

    def _array_blocks(self, truncated: Callable[[], str]) -> Iterator[tuple[int, bytes]]:
        """The blocks of a flat array of numbers, up to and past its ``]``: each ends at a
        comma (a whole number of values), with its offset in the file. ``truncated`` says
        what the error is when the file ends before the ``]``."""
        while True:
            buf = self._buf
            close = buf.find(b"]", self._pos)
            if close >= 0:
                cut, next_pos, done = close, close + 1, True
            else:
                cut = buf.rfind(b",", self._pos)
                if cut < 0:
                    if not self._fill():
                        raise self._error(truncated())
                    continue
                next_pos, done = cut + 1, False
            text = buf[self._pos : cut]
            del buf  # the buffer can be replaced while the caller has the block
            yield self._offset + self._pos, text
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

        Blocks are parsed in a second thread (``np.fromstring`` releases the GIL) while this
        one reads the next block and stores the last: at most :data:`_IN_FLIGHT` blocks
        ahead, and handled strictly in file order, so every error is the one a block-by-
        block reading would raise first. When the block to store is not parsed yet, this
        thread parses the newest queued block itself rather than wait (*work stealing*; its
        numbers or its error are kept for their turn): at 1 GB the main thread waited ~2 s
        of a 10-11 s diff, and parses ~1.5 s of the 4.6 s instead.
        """
        self._expect(b"[", f"at the start of {key!r}")
        columns = self._columns_for(key, expected)
        out = np.empty(expected if expected is not None and columns is None else 0, np.uint32)
        chunks: list[U32] = []
        blocks = self._index.blocks.setdefault(key, [])
        filled = 0
        pending: deque[tuple[int, int, bytes, Future[npt.NDArray[np.int64]]]] = deque()

        def handle(start: int, length: int, values: npt.NDArray[np.int64]) -> None:
            nonlocal filled
            if len(values):
                blocks.append((start, start + length, filled))
            if expected is not None:
                if filled + len(values) > expected:
                    raise self._error(
                        f"not a valid snapshot: {key!r} has more numbers than the "
                        f"{expected} that snapshot.meta announces"
                    )
                if columns is not None:
                    columns.store(filled, values)
                else:
                    out[filled : filled + len(values)] = values
            else:
                chunks.append(values.astype(np.uint32))
            filled += len(values)

        def drain(keep: int = 0) -> None:
            while len(pending) > keep:
                start, length, _, future = pending[0]
                if not future.done():
                    steal()
                    continue
                pending.popleft()
                handle(start, length, future.result())

        def steal() -> None:
            """Parse here the last block the parse thread has not started, rather than
            wait for the one it is parsing (a block's numbers or its error, as if parsed
            there); wait when there is none."""
            for i in range(len(pending) - 1, 0, -1):
                start, length, text, future = pending[i]
                if future.cancel():
                    done: Future[npt.NDArray[np.int64]] = Future()
                    try:
                        done.set_result(self._parse_numbers(text, key))
                    except SnapshotFormatError as exc:
                        done.set_exception(exc)
                    pending[i] = (start, length, b"", done)
                    return
            wait([pending[0][3]])

        def truncated() -> str:
            drain()  # the blocks before the end: their errors come first, and their count
            of = f" of {expected}" if expected is not None else ""
            return f"truncated: file ends inside {key!r} after {filled} numbers{of}"

        with ThreadPoolExecutor(max_workers=1) as parser:
            try:
                for start, text in self._array_blocks(truncated):
                    future = parser.submit(self._parse_numbers, text, key)
                    pending.append((start, len(text), text, future))
                    drain(keep=_IN_FLIGHT)
                drain()
            finally:
                for _, _, _, future in pending:
                    future.cancel()
        if expected is None:
            return np.concatenate(chunks) if chunks else out
        if filled != expected:
            raise self._error(
                f"not a valid snapshot: {key!r} has {filled} numbers, "
                f"snapshot.meta announces {expected}"
            )
        if columns is not None:
            self._fields.setdefault("columns", {})[key] = columns.finish()
        return out

    def _columns_for(self, key: str, expected: int | None) -> Columns | None:
        """Where a block of ``key``'s values goes: per-field columns (sieved, for edges
        with an edge sieve), or None for the flat array."""
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
        if not wanted or expected % len(fields):
            return None
        rows = expected // len(fields)
        if key == "edges" and self._edge_sieve is not None:
            nodes = self._fields.get("columns", {}).get("nodes")
            keep = self._edge_sieve(snapshot, nodes) if nodes is not None else None
            if keep is not None:
                self._fields["edge_total"] = rows
                return sieve_columns(wanted, fields, rows, keep, self._error)
        return split_columns(key, wanted, fields, rows, self._error)

    def _parse_numbers(self, text: bytes, key: str) -> npt.NDArray[np.int64]:
        stripped = text.strip(WHITESPACE)
        if not stripped:
            return np.empty(0, dtype=np.int64)
        values = _parse_exact(stripped)
        if values is None:
            count = stripped.count(b",") + 1
            try:
                with warnings.catch_warnings():
                    # Older numpy warns and stops at the first non-number; newer raises.
                    warnings.simplefilter("ignore")
                    values = np.fromstring(stripped, dtype=np.int64, sep=",")
            except ValueError:
                values = np.empty(0, dtype=np.int64)
            if len(values) != count:
                raise self._error(
                    f"not a valid snapshot: {key!r} holds something other than numbers"
                )
        # One pass for both bounds: a negative number viewed as uint64 is above 2**63.
        if len(values) and int(values.view(np.uint64).max()) > UINT32_MAX:
            raise self._error(f"not a valid snapshot: {key!r} holds numbers out of range")
        result: npt.NDArray[np.int64] = values
        return result

    def _read_strings(self) -> list[str]:
        """Decode the ``strings`` array one block (cut at a newline) at a time."""
        self._expect(b"[", "at the start of 'strings'")
        keep, candidates = self._string_keep_mask()
        self._fields["string_kept"] = keep
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
            core = segment.strip(WHITESPACE).strip(b",").strip(WHITESPACE)
            start = self._offset + self._pos
            try:
                items = json.loads(b"[" + core + b"]") if core else []
                end = None
                blocks.append((start, start + len(segment), len(strings)))
            except ValueError:
                lead = len(segment) - len(segment.lstrip(WHITESPACE + b","))
                items, end = decode_strings_tail(segment[lead:], eof=self._eof, error=self._error)
                end += lead
                blocks.append((start + lead, start + end - 1, len(strings)))  # without "]"
            # map(type) runs in C: 5x faster than a generator over the strings.
            if not set(map(type, items)) <= {str}:
                raise self._error("not a heap snapshot: 'strings' holds something else")
            if keep is not None:
                items = kept_texts(items, len(strings), keep, candidates)
            strings.extend(items)
            if end is not None:
                self._pos += end
                return strings
            self._pos = cut
            if not self._fill() and self._pos >= len(self._buf):
                raise self._error("truncated: file ends inside 'strings'")

    def _string_keep_mask(self) -> tuple[BoolArray | None, BoolArray | None]:
        """The strings to keep (None: all), and those to keep by their text (None: none)."""
        snapshot = self._fields.get("snapshot")
        if self._string_filter is None or not isinstance(snapshot, dict):
            return None, None
        meta = snapshot.get("meta")
        if not isinstance(meta, dict):
            return None, None
        fields = meta.get("node_fields") or []
        tables = meta.get("node_types") or []
        if not isinstance(fields, list) or "type" not in fields or "name" not in fields:
            return None, None
        if not tables or not isinstance(tables[0], list):
            return None, None
        node_types = [str(t) for t in tables[fields.index("type")]]
        columns = self._fields.get("columns", {}).get("nodes", {})
        if "type" in columns and "name" in columns:
            keep = self._string_filter(columns["type"], columns["name"], node_types)
            if not self.keep_edge_names:
                return keep, None
            edges = self._fields.get("columns", {}).get("edges", {})
            masks = edge_name_masks(meta, edges, keep)
            return masks if masks is not None else (None, None)
        nodes = self._fields.get("nodes")
        if nodes is None or len(nodes) % len(fields):
            return None, None
        view = nodes.reshape(-1, len(fields))
        keep = self._string_filter(
            view[:, fields.index("type")], view[:, fields.index("name")], node_types
        )
        return keep, None


def _fromstring_refuses_garbage() -> bool:
    """Whether ``numpy.fromstring`` raises on text it cannot read to its end (numpy 2.x),
    rather than warning and returning the numbers before it (older numpy)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            np.fromstring(b"1,x", dtype=np.int64, sep=",")
        except ValueError:
            return True
    return False


_FROMSTRING_REFUSES = _fromstring_refuses_garbage()


def _parse_exact(stripped: bytes) -> npt.NDArray[np.int64] | None:
    """The numbers of ``stripped`` (comma-separated, no surrounding whitespace), or None
    when this fast path cannot vouch that every one was read (then count the commas).

    A numpy that refuses text it cannot read to its end still reads a separator at the end
    without a word (``1,2,`` is two numbers; ``1,2,`` and a form feed, three). Text that
    ends in a digit and is read to its end has one comma between each two numbers, so its
    count is the comma count. Without that count a block of V8's ``nodes`` or ``edges``
    costs ~10 % less to parse (see docs/decisions.md).

    Parsed as ``uint64``, ~15 % faster than as ``int64`` (no sign): a sign makes numpy
    refuse the text (the plain path then says what is wrong), a number past 2**64 reads as
    2**64 - 1, so the caller's range check sees every number too big for ``uint32``, and
    the numbers that pass it are the same viewed as ``int64``."""
    if not _FROMSTRING_REFUSES or not 48 <= stripped[-1] <= 57:  # not ending in a digit
        return None
    try:
        values = np.fromstring(stripped, dtype=np.uint64, sep=",")
    except ValueError:
        return None
    signed: npt.NDArray[np.int64] = values.view(np.int64)
    return signed


def _int_field(snapshot: dict[str, Any], key: str, default: int) -> int:
    value = snapshot.get(key, default)
    return value if isinstance(value, int) and value >= 0 else default
