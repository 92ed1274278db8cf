"""Which strings of a snapshot the reader keeps, and decoding the end of the string array.

Most of a heap's strings are the contents of string nodes and the names of V8's own slots;
an analysis reads a fraction of them. The reader asks a *string filter* which string
indices to keep (by the nodes that are named by them), adds the names edges are read by
(:func:`edge_name_masks`), and decides the rest by their text (:func:`internal_name_wanted`)
as each block is decoded (:func:`kept_texts`). The others read as ``""`` and are read back
from the file when shown (:class:`._fileindex.FileIndex`).

A rule that must know a string's index before the strings are read (the string array is the
file's last part) gets a guess from a byte scan of the file's tail
(:func:`guess_string_index`), which the caller checks once the strings are read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt

from ._errors import SnapshotFormatError

BoolArray = npt.NDArray[np.bool_]

#: The part of an internal edge's name that names half of a WeakMap entry.
WEAKMAP_MARK = " pair in WeakMap (table @"
#: Internal edge names a DevTools rule compares with.
_RULE_NAMES = frozenset({"sloppy_function_map"})
#: Above any descriptor-array slot (V8: at most 1020 descriptors, 3 slots each, 2 more).
_DESCRIPTOR_SLOTS = 4096
_LEADING_NUMBER = re.compile(r"\s*\+?(\d+)")


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


#: Every all-digit name :func:`internal_name_wanted` keeps: 1 to 4 ASCII digits, below
#: :data:`_DESCRIPTOR_SLOTS` (leading zeros included: ``"0007"``).
_WANTED_NUMBERS = frozenset(
    text
    for width in range(1, len(str(_DESCRIPTOR_SLOTS)) + 1)
    for value in range(min(10**width, _DESCRIPTOR_SLOTS))
    for text in (str(value).zfill(width),)
)


def internal_names_wanted(texts: list[str]) -> list[bool]:
    """:func:`internal_name_wanted` of each of ``texts``, the usual names in C loops.

    Most names of internal edges are slot numbers (3.4 M of a 1 GB heap's): a set lookup
    answers those kept, a digit test those dropped, and only the rest (WeakMap halves,
    names with a leading number) go through the function.
    """
    n = len(texts)
    wanted = np.fromiter(map(_WANTED_NUMBERS.__contains__, texts), dtype=bool, count=n)
    # Dropped without a look: ASCII digits not in the set (too long, or too large).
    number = np.fromiter(map(str.isdigit, texts), dtype=bool, count=n)
    number &= np.fromiter(map(str.isascii, texts), dtype=bool, count=n)
    for i in np.flatnonzero(~wanted & ~number).tolist():
        wanted[i] = internal_name_wanted(texts[i])
    result: list[bool] = wanted.tolist()
    return result


def edge_name_masks(
    meta: dict[str, Any], edges: dict[str, npt.NDArray[Any]], keep: BoolArray
) -> tuple[BoolArray, BoolArray] | None:
    """``keep`` with the names of the edges read (``edges``: their split columns) added,
    and the *candidates*: strings named only by internal edges, kept by their text.

    Element and hidden edges hold indices, not names. Internal edges are V8's own slots:
    most of their names are numbers (an elements store's slots, 400 k strings on a 120 MB
    heap) that no rule reads. None: keep every string (the columns are not there).
    """
    fields = meta.get("edge_fields") or []
    tables = meta.get("edge_types") or []
    if "type" not in edges or "name_or_index" not in edges or "type" not in fields:
        return None
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
    maybe = edges["name_or_index"][internal]
    size = max(len(keep), *(int(u.max()) + 1 for u in (used, maybe) if len(u)))
    if size > len(keep):
        keep = np.concatenate([keep, np.zeros(size - len(keep), dtype=bool)])
    keep[used] = True
    candidates = np.zeros(size, dtype=bool)
    candidates[maybe] = True
    candidates &= ~keep
    return keep, candidates


def kept_texts(
    items: list[str], first: int, keep: BoolArray, candidates: BoolArray | None
) -> list[str]:
    """A decoded block of strings (the first is string ``first``) with the ones not kept
    as ``""``; candidates whose text is wanted are kept, and marked in ``keep``."""
    here = slice(first, first + len(items))
    # Only the kept strings are touched; the others share one "" object.
    kept = [""] * len(items)
    for i in np.flatnonzero(keep[here]).tolist():
        kept[i] = items[i]
    if candidates is not None:
        rows = np.flatnonzero(candidates[here]).tolist()
        texts = [items[i] for i in rows]
        for i, text, wanted in zip(rows, texts, internal_names_wanted(texts), strict=True):
            if wanted:
                kept[i] = text
                keep[first + i] = True
    return kept


def decode_strings_tail(
    segment: bytes, *, eof: bool, error: Callable[[str], SnapshotFormatError]
) -> tuple[list[str], int]:
    """Decode a segment holding the end of the array; the offset just past its ']'."""
    try:
        text = segment.decode("utf-8")
    except UnicodeDecodeError:
        raise error("not a heap snapshot: 'strings' is not UTF-8") from None
    try:
        items, end = json.JSONDecoder().raw_decode("[" + text)
    except ValueError:
        if eof:
            raise error("truncated: file ends inside 'strings'") from None
        raise error("not a heap snapshot: 'strings' is not a JSON array") from None
    consumed = len(text[: end - 1].encode("utf-8"))
    return list(items), consumed


#: Bytes read at a time by :func:`guess_string_index`.
_SCAN_BLOCK = 1 << 20
#: The top-level key of the string array (an element ``"strings"`` is followed by ``,``/``]``,
#: and inside a string a quote is escaped, so only the key matches).
_STRINGS_KEY = re.compile(rb'"strings"[ \t\r\n]*:[ \t\r\n]*\[')
#: Longest match of :data:`_STRINGS_KEY` this scan handles across two blocks.
_KEY_OVERLAP = 64


def guess_string_index(path: str | Path, text: str) -> int | None:
    """The index of the first string ``text`` by a byte scan, before the reader gets there.

    V8 writes the string array last and one string per line, so the index is the number of
    newlines between the array's ``[`` and the line that is ``"text"``: a backward search
    for the key, then a forward count, one block at a time (bytes only, no decoding; on a
    120 MB snapshot the array is 10 MB). It is a *guess*: another writer may put two strings
    on a line or escape a character V8 does not, so the caller must check it against the
    strings as read. None when the scan finds nothing (or the file cannot be read: the
    reader then says why).
    """
    line = b"\n" + json.dumps(text, ensure_ascii=False).encode("utf-8")
    element = re.compile(re.escape(line) + rb"[ \t\r]*[,\]\n]")
    try:
        with open(path, "rb") as file:
            start = _strings_start(file)
            if start is None:
                return None
            file.seek(start)
            newlines = 0
            carry = b""
            while True:
                data = file.read(_SCAN_BLOCK)
                block = carry + data
                found = element.search(block)
                if found is not None:
                    # The match starts at the newline before the element: one more.
                    return newlines + block.count(b"\n", 0, found.start()) + 1
                if not data:
                    return None
                # Keep the tail that could start a match; count the newlines before it.
                cut = max(0, len(block) - len(line) - 8)
                newlines += block.count(b"\n", 0, cut)
                carry = block[cut:]
    except OSError:
        return None


def _strings_start(file: BinaryIO) -> int | None:
    """The file offset just past the ``[`` of the string array (the last such key)."""
    end = file.seek(0, 2)
    while end > 0:
        start = max(0, end - _SCAN_BLOCK)
        file.seek(start)
        block = file.read(end - start + _KEY_OVERLAP)
        # A byte search, not the regex over the block: the array is ~10 % of the file.
        at = block.rfind(b'"strings"')
        while at >= 0:
            key = _STRINGS_KEY.match(block, at)
            if key is not None:
                return start + key.end()
            at = block.rfind(b'"strings"', 0, at)
        end = start
    return None
