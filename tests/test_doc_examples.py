"""Every shell example in README.md and docs/ that opts in (tests/doc_examples.py) runs as
written, against real Node, in namespaces of its own."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.doc_examples import console_commands, examples, namespaced, script
from tests.targets import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
WITH_EXAMPLES = [page for page in PAGES if examples(page)]


def can_unshare() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("ip") is None:
        return False
    probe = subprocess.run(
        ["unshare", "--net", "--pid", "--fork", "--mount-proc", "true"], capture_output=True
    )
    return probe.returncode == 0


@pytest.mark.parametrize("page", WITH_EXAMPLES, ids=lambda page: page.name)
def test_examples_run_as_written(page: Path) -> None:
    if not can_unshare():
        pytest.skip("needs root and unshare: examples use port 9229 and /tmp, shared otherwise")
    env = {**os.environ, "PATH": f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    env.pop("PYTHONPATH", None)
    result = subprocess.run(
        namespaced(script(examples(page)), ROOT),
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    problems = [line for line in result.stderr.splitlines() if line.startswith("doc-example:")]
    assert problems == [], result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]


def test_the_pages_this_project_promises_have_runnable_examples() -> None:
    names = {page.name for page in WITH_EXAMPLES}
    assert {"analysis.md", "profiling.md", "cli.md"} <= names


def test_console_blocks_know_which_commands_the_doc_shows_failing(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "<!-- doc-example: run -->\n```console\n"
        "$ node --inspect=127.0.0.1:9333 app.js &\n"
        "$ cdp-heap diff a b\ncdp-heap: error: a: no such file\n"
        "$ cdp-heap leak --port 9333 \\\n    --fail-on-growth 1\n"
        "$ echo $?    # 1\n```\n"
    )
    (example,) = examples(page)
    commands = console_commands(example)
    assert [c.expect_failure for c in commands] == [False, True, None, False]
    assert commands[0].background and commands[0].background_port == 9333
    assert commands[2].text == "cdp-heap leak --port 9333 --fail-on-growth 1"
    assert [c.line for c in commands] == [3, 4, 6, 8]
