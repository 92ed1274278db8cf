"""The Python examples of docs/profiling.md run, as written, against a real Node."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.targets import ROOT, Target

from .helpers import WIDGETS_JS, start_script, write_script

DOC = ROOT / "docs" / "profiling.md"
EXAMPLES = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)


def test_the_doc_has_both_examples() -> None:
    assert len(EXAMPLES) == 2
    assert "open_sampling" in EXAMPLES[0] and "open_tracking" in EXAMPLES[1]


@pytest.mark.parametrize(
    ("index", "writes"), [(0, "app.heapprofile"), (1, "timeline.heapsnapshot")]
)
def test_example_runs(node: Callable[..., Target], tmp_path: Path, index: int, writes: str) -> None:
    target = start_script(node, tmp_path, "w.js", WIDGETS_JS, "--busy")
    script = write_script(tmp_path, "example.py", EXAMPLES[index])
    result = subprocess.run(
        [sys.executable, str(script), target.ws_url, "0.5"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / writes).stat().st_size > 0
    assert "allocateWidgets" in result.stdout or index == 1
    assert "allocation stacks: True" in result.stdout or index == 0
