"""Where the blocks of a snapshot file are, to read a few values back without keeping them.

A graph analysis drops the edge names, node names and most strings (they are a third of the
memory) and reads back the few it prints. The reader notes the byte range of every block it
parses (or only counts the commas of, for arrays it skips); :class:`FileIndex` parses just
the blocks that hold the values asked for: one block each, a few milliseconds.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Callable
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from ._errors import SnapshotFormatError

#: JSON's whitespace.
WHITESPACE = b" \t\r\n"


@attrs.define(eq=False)
class FileIndex:
    """Byte ranges of the blocks the reader parsed, to fetch single values again later."""

    path: str
    #: Per array key: (start, end, index of the first value) of each parsed block.
    blocks: dict[str, list[tuple[int, int, int]]] = attrs.field(factory=dict)

    def numbers(self, key: str, positions: list[int]) -> list[int]:
        """The values at ``positions`` of the flat integer array ``key``."""
        return self._fetch(key, positions, parse_block_numbers)

    def strings(self, indices: list[int]) -> list[str]:
        """The strings at ``indices`` of the ``strings`` array."""
        return self._fetch("strings", indices, parse_block_strings)

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


def parse_block_numbers(text: bytes) -> npt.NDArray[np.int64]:
    # A numpy array, not a list: a list of a block's ~2M ints would be ~70 MB.
    values: npt.NDArray[np.int64] = np.fromstring(text.strip(WHITESPACE), dtype=np.int64, sep=",")
    return values


def parse_block_strings(segment: bytes) -> list[str]:
    core = segment.strip(WHITESPACE).strip(b",").strip(WHITESPACE)
    items: list[str] = json.loads(b"[" + core + b"]") if core else []
    return items
