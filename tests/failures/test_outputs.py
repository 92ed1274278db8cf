"""Every output path is checked before anything starts, and written whole or not at all:
``leak --html`` / ``leak -o DIR`` and ``sample`` / ``track -o`` on a missing, read-only or
full directory. The CLI as users run it, real Node, a real (small) tmpfs."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from cdp_heap.cli._outputs import check_output_file
from tests.targets import ROOT, Target, start_leaky_app

from .cases import expect
from .helpers import partials, run_cli, run_cli_without_dac_override

SNAPSHOTS_JS = ROOT / "tests" / "analysis" / "apps" / "snapshots.js"


@pytest.fixture(scope="module")
def shared() -> Iterator[Path]:
    """A directory every user can read (pytest's own tmp directories are root's only)."""
    directory = Path(tempfile.mkdtemp(prefix="cdp-heap-outputs-"))
    directory.chmod(0o755)
    yield directory
    shutil.rmtree(directory)


@pytest.fixture(scope="module")
def triple(shared: Path) -> list[Path]:
    """Three small snapshots of one process, LeakyThings leaking between them."""
    directory = shared / "triple"
    directory.mkdir()
    subprocess.run(
        ["node", str(SNAPSHOTS_JS), "triple", str(directory), "500", "100"], check=True, timeout=60
    )
    paths = [directory / f"s{i}.heapsnapshot" for i in (1, 2, 3)]
    for path in paths:
        path.chmod(0o644)
    return paths


@pytest.fixture
def read_only(shared: Path) -> Iterator[Path]:
    """A directory owned by root, mode 555: read-only for root without CAP_DAC_OVERRIDE."""
    directory = Path(tempfile.mkdtemp(prefix="ro-", dir=shared))
    directory.chmod(0o555)
    yield directory
    directory.chmod(0o755)
    shutil.rmtree(directory)


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs with no free space left (an empty file can still be created)."""
    mount = tmp_path / "full"
    mount.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    try:
        fd = os.open(mount / "filler", os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            while os.write(fd, b"\0" * 4096):
                pass
        except OSError:  # ENOSPC: full
            pass
        finally:
            os.close(fd)
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


@pytest.fixture(scope="module")
def app() -> Iterator[Target]:
    target = start_leaky_app()
    yield target
    target.kill()


def test_leak_html_to_a_full_disk_still_prints_the_report(
    triple: list[Path], full_disk: Path
) -> None:
    html = full_disk / "r.html"
    result = run_cli("leak", "--files", *map(str, triple), "--html", str(html))
    expect(result, "output-disk-full", FILE=str(html))
    assert "LeakyThing" in result.stdout  # the run is not thrown away
    assert sorted(p.name for p in full_disk.iterdir()) == ["filler"]  # no half report


def test_leak_html_to_a_read_only_directory_fails_before_the_analysis(
    triple: list[Path], read_only: Path
) -> None:
    html = read_only / "r.html"
    result = run_cli_without_dac_override("leak", "--files", *map(str, triple), "--html", str(html))
    expect(result, "output-read-only", FILE=str(html))
    assert result.stdout == ""
    assert list(read_only.iterdir()) == []


def test_leak_html_to_a_missing_directory_fails_before_the_first_snapshot(
    app: Target, tmp_path: Path
) -> None:
    html = tmp_path / "missing" / "r.html"
    result = run_cli("leak", "--url", app.ws_url, "--interval", "0.1", "--html", str(html))
    expect(result, "output-dir-missing", FILE=str(html))
    assert "snapshot 1" not in result.stderr


def test_leak_html_is_written_and_lists_no_removed_temporary_paths(
    app: Target, tmp_path: Path
) -> None:
    html = tmp_path / "r.html"
    result = run_cli("leak", "--url", app.ws_url, "--interval", "0.1", "--html", str(html))
    assert result.returncode == 0, result.stderr
    text = html.read_text()
    assert "leak-1.heapsnapshot (temporary, removed; -o DIR keeps them)" in text
    assert tempfile.gettempdir() + os.sep + "cdp-heap-leak-" not in text
    assert list(partials(tmp_path)) == []


def test_leak_output_dir_on_a_full_disk_leaves_no_new_directory(
    app: Target, full_disk: Path
) -> None:
    out = full_disk / "new" / "snapshots"
    result = run_cli("leak", "--url", app.ws_url, "--interval", "0.1", "-o", str(out))
    expect(result, "output-disk-full", FILE=str(out / "leak-1.heapsnapshot"))
    assert sorted(p.name for p in full_disk.iterdir()) == ["filler"]


def test_leak_output_dir_read_only_fails_before_the_first_snapshot(
    app: Target, read_only: Path
) -> None:
    out = read_only / "snapshots"
    result = run_cli_without_dac_override(
        "leak", "--url", app.ws_url, "--interval", "0.1", "-o", str(out)
    )
    expect(result, "leak-output-dir-unwritable", DIR=str(out))
    assert list(read_only.iterdir()) == []


def test_leak_output_dir_that_is_a_file_is_a_usage_error(app: Target, tmp_path: Path) -> None:
    out = tmp_path / "file"
    out.write_text("")
    result = run_cli("leak", "--url", app.ws_url, "-o", str(out))
    expect(result, "leak-output-dir-not-directory", DIR=str(out))


@pytest.mark.parametrize(
    ("command", "suffix"), [("sample", ".heapprofile"), ("track", ".heapsnapshot")]
)
def test_unwritable_output_fails_before_recording(
    app: Target, read_only: Path, command: str, suffix: str
) -> None:
    out = read_only / f"x{suffix}"
    result = run_cli_without_dac_override(
        command, "--url", app.ws_url, "--duration", "30", "-o", str(out)
    )
    expect(result, "output-read-only", FILE=str(out))
    assert "Ctrl-C stops early" not in result.stderr  # it never started
    assert list(read_only.iterdir()) == []


@pytest.mark.parametrize("command", ["snapshot", "sample", "track"])
def test_output_that_is_a_directory_is_a_usage_error(
    app: Target, tmp_path: Path, command: str
) -> None:
    result = run_cli(command, "--url", app.ws_url, "-o", str(tmp_path))
    expect(result, "output-is-directory", FILE=str(tmp_path))


def test_the_probe_cannot_be_interrupted_half_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C or SIGTERM between creating the probe's temporary file and removing it
    would leave the file behind: trio must hold the interrupt until the probe is done."""
    protected: list[bool] = []

    class Recording:
        def __init__(self, path: Path) -> None:
            protected.append(trio.lowlevel.currently_ki_protected())

        def discard(self) -> None:
            protected.append(trio.lowlevel.currently_ki_protected())

    monkeypatch.setattr("cdp_heap._atomic_file.AtomicWriter", Recording)  # looked up per call

    async def main() -> None:
        check_output_file(tmp_path / "x.heapsnapshot")

    trio.run(main)
    assert protected == [True, True]
