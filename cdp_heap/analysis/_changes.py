"""Which rows of a comparison changed, and which only churned.

In two snapshots of one session about twenty ``Node / …`` native classes show N new and N
deleted objects of the same total size: V8 gives embedder objects new ids in every snapshot,
so the same objects look replaced. Such *churned* classes, and the unchanged ones, hide the
classes that grew; ``diff`` and the HTML report leave them out unless asked (``--all``) and
say how many they left out.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from ._compare import ClassDiff


@attrs.frozen
class QuietRows:
    """The rows worth showing, in their order, and how many of each kind there were."""

    shown: list[ClassDiff]
    grown: int
    shrunk: int
    churned: int
    unchanged: int


def churned(row: ClassDiff) -> bool:
    """As many new as deleted objects, with no change in size: replaced, not grown."""
    return bool(row.new) and row.new == row.deleted and row.size_delta == 0


def quiet_rows(rows: Sequence[ClassDiff]) -> QuietRows:
    """Split ``rows`` (kept in order) into the changed ones and counts of the rest.

    A class *grew* when its count or size rose, *shrank* when either fell (a class whose
    count rose while its size fell counts as grown); the others churned or did not change.
    """
    shown: list[ClassDiff] = []
    grown = shrunk = churn = unchanged = 0
    for row in rows:
        if not row.new and not row.deleted:
            unchanged += 1
        elif churned(row):
            churn += 1
        else:
            shown.append(row)
            if row.delta > 0 or (row.delta == 0 and row.size_delta > 0):
                grown += 1
            else:
                shrunk += 1
    return QuietRows(shown, grown, shrunk, churn, unchanged)
