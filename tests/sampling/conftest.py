"""Fixtures shared by the sampling and tracking tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.targets import Target

from .helpers import WIDGETS_JS, start_script


@pytest.fixture
def widgets(node: Callable[..., Target], tmp_path: Path) -> Target:
    """An idle ``node --inspect`` with ``allocateWidgets(n)``, once its script has run."""
    return start_script(node, tmp_path, "widgets.js", WIDGETS_JS)
