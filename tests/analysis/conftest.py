"""Real Node snapshots made once per test session, with differences known by construction.

``apps/snapshots.js`` writes them with ``v8.writeHeapSnapshot()``, which needs no inspector:
two snapshots of one process share V8's object-id map, exactly like two snapshots taken in
one inspector session.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import attrs
import pytest

APPS = Path(__file__).parent / "apps"

#: Objects allocated (and kept) / released between the snapshots of the "pair" apps.
LEAKED = 1234
FREED = 567
#: LeakyThings kept between snapshots 1-2 (and again 2-3), TransientThings made then dropped.
LEAKY = 1000
TRANSIENT = 300


@attrs.frozen
class Pair:
    base: Path
    target: Path


def _run(mode: str, directory: Path, n: int, m: int) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["node", str(APPS / "snapshots.js"), mode, str(directory), str(n), str(m)],
        check=True,
        timeout=120,
    )
    return directory


@pytest.fixture(scope="session")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Pair:
    """One process: +LEAKED GroundTruthLeak, -FREED GroundTruthFreed between the snapshots."""
    d = _run("pair", tmp_path_factory.mktemp("pair"), LEAKED, FREED)
    return Pair(d / "base.heapsnapshot", d / "target.heapsnapshot")


@pytest.fixture(scope="session")
def other_process(tmp_path_factory: pytest.TempPathFactory) -> Pair:
    """The same script run again: a second process with its own id numbering."""
    d = _run("pair", tmp_path_factory.mktemp("other"), LEAKED, FREED)
    return Pair(d / "base.heapsnapshot", d / "target.heapsnapshot")


@pytest.fixture(scope="session")
def reset_pair(tmp_path_factory: pytest.TempPathFactory) -> Pair:
    """One process, but an inspector session enabled and disabled HeapProfiler in between."""
    d = _run("reset", tmp_path_factory.mktemp("reset"), LEAKED, FREED)
    return Pair(d / "base.heapsnapshot", d / "target.heapsnapshot")


@pytest.fixture(scope="session")
def triple(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three snapshots: LEAKY LeakyThings leak between 1 and 2, TRANSIENT come and go."""
    d = _run("triple", tmp_path_factory.mktemp("triple"), LEAKY, TRANSIENT)
    return [d / f"s{i}.heapsnapshot" for i in (1, 2, 3)]
