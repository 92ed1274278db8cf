"""The atomic file writer on its own: no target, no sockets."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import pytest

from cdp_heap import CaptureError, _atomic_file
from cdp_heap._atomic_file import AtomicWriter

MiB = 1024 * 1024


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


async def test_commit_moves_a_complete_object_into_place(tmp_path: Path) -> None:
    writer = AtomicWriter(tmp_path / "a.json")
    for part in ('{"a":', "[1,2,3]", "}\n"):
        await writer.write(part)
    assert leftovers(tmp_path) != ["a.json"]  # only the temporary file so far
    await writer.commit()
    writer.discard()
    assert (tmp_path / "a.json").read_text() == '{"a":[1,2,3]}\n'
    assert leftovers(tmp_path) == ["a.json"]
    assert writer.written == 14


@pytest.mark.parametrize("parts", [['{"a":[1,2'], ["[1]"], [""]])
async def test_incomplete_data_is_refused_and_leaves_nothing(
    tmp_path: Path, parts: list[str]
) -> None:
    writer = AtomicWriter(tmp_path / "a.json")
    for part in parts:
        await writer.write(part)
    with pytest.raises(CaptureError, match="not a complete JSON object"):
        await writer.commit()
    writer.discard()
    assert leftovers(tmp_path) == []


async def test_discard_before_commit_leaves_nothing(tmp_path: Path) -> None:
    writer = AtomicWriter(tmp_path / "a.json")
    await writer.write("{}")
    writer.discard()
    writer.discard()  # idempotent
    assert leftovers(tmp_path) == []


def test_missing_directory_fails_before_any_write(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match="the directory does not exist"):
        AtomicWriter(tmp_path / "nowhere" / "a.json")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sync_file_range is Linux's")
async def test_write_back_starts_while_writing_and_covers_what_was_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _atomic_file.start_writeback is not None, "sync_file_range was not found"
    ranges: list[tuple[int, int]] = []
    real = _atomic_file.start_writeback

    def recording(fd: int, offset: int, length: int) -> None:
        ranges.append((offset, length))
        real(fd, offset, length)

    monkeypatch.setattr(_atomic_file, "start_writeback", recording)
    writer = AtomicWriter(tmp_path / "big.json")
    block = "x" * (3 * MiB)
    await writer.write("{" + block)
    for _ in range(9):
        await writer.write(block)
    await writer.write("}")
    await writer.commit()
    writer.discard()
    # Contiguous ranges from the start, each at least the threshold; only the tail is left
    # to the final fsync.
    assert ranges[0][0] == 0
    for (offset, length), (next_offset, _) in itertools.pairwise(ranges):
        assert next_offset == offset + length
        assert length >= _atomic_file._WRITEBACK_BYTES
    covered = ranges[-1][0] + ranges[-1][1]
    assert writer.written - covered < _atomic_file._WRITEBACK_BYTES
    assert (tmp_path / "big.json").stat().st_size == writer.written == 30 * MiB + 2
