"""docs/cli.md's failure table is exactly the list the failure tests check (cases.py)."""

from __future__ import annotations

import re

from tests.targets import ROOT

from .cases import BEGIN, END, FAILURES, with_table

CLI_MD = ROOT / "docs" / "cli.md"
#: A string literal, as the second argument of ``expect(RESULT, KEY, ...)``.
KEY = re.compile(r"""\s*["']([\w-]+)["']""")


def expected_keys(source: str) -> set[str]:
    """The KEYs of every ``expect(RESULT, KEY, ...)`` call in ``source``; RESULT may hold
    nested calls, so the first top-level comma is found by counting parentheses."""
    keys = set()
    for start in (m.end() for m in re.finditer(r"\bexpect\(", source)):
        depth = 0
        for index in range(start, len(source)):
            char = source[index]
            if char in "([{":
                depth += 1
            elif char in ")]}":
                if depth == 0:
                    break
                depth -= 1
            elif char == "," and depth == 0:
                match = KEY.match(source, index + 1)
                if match:
                    keys.add(match.group(1))
                break
    return keys


def test_the_table_in_cli_md_is_the_tested_list() -> None:
    text = CLI_MD.read_text()
    assert BEGIN in text and END in text, "docs/cli.md lost its failure table markers"
    assert text == with_table(text), "run `python -m tests.failures.cases --write`"


def test_every_failure_in_the_table_is_tested() -> None:
    used = set()
    for path in (ROOT / "tests").rglob("test_*.py"):
        used.update(expected_keys(path.read_text()))
    untested = [failure.key for failure in FAILURES if failure.key not in used]
    assert untested == [], f"no test calls expect(..., KEY) for {untested}"
    unknown = used - {failure.key for failure in FAILURES}
    assert unknown == set(), f"tests expect failures that cases.py does not list: {unknown}"
