"""Duplicated strings: the same text stored as many separate heap strings.

memlab's ``string`` analysis, the cheapest memory win users find: a string built again for
every request (a header value, a key, a JSON fragment) instead of being shared. V8's snapshot
writer stores each distinct node name once in its string table, so strings with the same
text share one name index and the duplicates of a snapshot are a ``bincount`` of the name
column of its string nodes; only the texts of the few reported are read back from the file.
"""

from __future__ import annotations

import attrs
import numpy as np

from ._snapshot import HeapSnapshot

#: Node types whose name is the string's text (V8 names every cons string
#: "(concatenated string)", so those cannot be told apart).
STRING_TYPES = ("string", "sliced string")
#: Longest text kept in a report (the rest is cut, with "...").
MAX_TEXT = 120


@attrs.frozen
class DuplicatedString:
    """One text held by ``count`` separate string objects of ``self_size`` bytes in all."""

    text: str
    count: int
    self_size: int

    @property
    def wasted(self) -> int:
        """Bytes that sharing one copy would free (all but one copy's average size)."""
        return self.self_size - self.self_size // self.count

    def to_json(self) -> dict[str, object]:
        return {
            "text": self.text,
            "count": self.count,
            "self_size": self.self_size,
            "wasted": self.wasted,
        }


def duplicated_strings(
    snapshot: HeapSnapshot, *, top: int = 10, min_count: int = 2
) -> tuple[DuplicatedString, ...]:
    """The texts stored at least ``min_count`` times, most wasted bytes first."""
    codes = [i for i, t in enumerate(snapshot.node_types) if t in STRING_TYPES]
    is_string = np.zeros(snapshot.node_count, dtype=bool)
    for code in codes:
        is_string |= snapshot.node_type == code
    is_string &= snapshot.self_size > 0
    nodes = np.flatnonzero(is_string)
    if not len(nodes):
        return ()
    names = snapshot.node_name[nodes]
    count = np.bincount(names)
    size = np.rint(np.bincount(names, weights=snapshot.self_size[nodes])).astype(np.int64)
    candidates = np.flatnonzero(count >= min_count)
    wasted = size[candidates] - size[candidates] // count[candidates]
    chosen = candidates[np.lexsort((candidates, -wasted))[:top]]
    # One node per chosen name, to read the text back (the graph keeps class names only).
    wanted = np.isin(names, chosen)
    found, at = np.unique(names[wanted], return_index=True)
    example_of = dict(zip(found.tolist(), nodes[wanted][at].tolist(), strict=True))
    examples = [example_of[name] for name in chosen.tolist()]
    snapshot.prefetch([], examples)
    result = []
    for name, node in zip(chosen.tolist(), examples, strict=True):
        text = snapshot.node_name_of(node)
        if len(text) > MAX_TEXT:
            text = text[: MAX_TEXT - 3] + "..."
        result.append(DuplicatedString(text, int(count[name]), int(size[name])))
    return tuple(result)
