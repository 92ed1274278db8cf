"""docs/cli.md's failure table is exactly the list the failure tests check (cases.py)."""

from __future__ import annotations

import re

from tests.targets import ROOT

from .cases import BEGIN, END, FAILURES, with_table

CLI_MD = ROOT / "docs" / "cli.md"
#: A call ``expect(RESULT, KEY, ...)`` in any test, KEY a string literal.
EXPECT_CALL = re.compile(r"""expect\((?:[^(),]|\([^()]*\))+,\s*["']([\w-]+)["']""")


def test_the_table_in_cli_md_is_the_tested_list() -> None:
    text = CLI_MD.read_text()
    assert BEGIN in text and END in text, "docs/cli.md lost its failure table markers"
    assert text == with_table(text), "run `python -m tests.failures.cases --write`"


def test_every_failure_in_the_table_is_tested() -> None:
    used = set()
    for path in (ROOT / "tests").rglob("test_*.py"):
        used.update(EXPECT_CALL.findall(path.read_text()))
    untested = [failure.key for failure in FAILURES if failure.key not in used]
    assert untested == [], f"no test calls expect(..., KEY) for {untested}"
    unknown = used - {failure.key for failure in FAILURES}
    assert unknown == set(), f"tests expect failures that cases.py does not list: {unknown}"
