"""Fixtures of the proxy tests (helpers live in tests/proxy/helpers.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def snapshots(tmp_path: Path) -> Iterator[Path]:
    """A directory for snapshot files."""
    yield tmp_path
