"""Real Node snapshots made once per test session, with differences known by construction.

``apps/snapshots.js`` writes them with ``v8.writeHeapSnapshot()``, which needs no inspector:
two snapshots of one process share V8's object-id map, exactly like two snapshots taken in
one inspector session.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
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


#: Snapshots per mode of ``apps/leak_hunt.js`` (the growth mode writes four).
HUNT_SNAPSHOTS = {"growth": 4}


@pytest.fixture(scope="session")
def hunt(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], list[Path]]:
    """``hunt(mode)``: the snapshots of ``apps/leak_hunt.js MODE``, made once per session."""
    made: dict[str, list[Path]] = {}

    def snapshots(mode: str) -> list[Path]:
        if mode not in made:
            directory = tmp_path_factory.mktemp(f"hunt-{mode}")
            subprocess.run(
                ["node", str(APPS / "leak_hunt.js"), mode, str(directory)],
                check=True,
                timeout=120,
            )
            count = HUNT_SNAPSHOTS.get(mode, 3)
            made[mode] = [directory / f"s{i}.heapsnapshot" for i in range(1, count + 1)]
        return made[mode]

    return snapshots
