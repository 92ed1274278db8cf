"""Running the CLI as a user does, for the failure tests: a subprocess, its exit code, stderr."""

from __future__ import annotations

import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO

from tests.targets import ROOT

TIMEOUT = 60.0


def cli_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), **(extra or {})}


def run_cli(
    *args: str, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m cdp_heap ARGS`` to completion."""
    return subprocess.run(
        [sys.executable, "-m", "cdp_heap", *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=cli_env(env),
        cwd=cwd,
    )


def default_signals() -> None:
    """In the child: SIGINT and SIGTERM at their defaults, whatever the runner inherited."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def sigint_ignored() -> None:
    """In the child: SIGINT ignored, as in a background job of a non-interactive shell."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def start_cli(
    *args: str,
    env: Mapping[str, str] | None = None,
    preexec: Callable[[], None] = default_signals,
) -> subprocess.Popen[bytes]:
    """``python -m cdp_heap ARGS`` in the background, stdout and stderr piped."""
    return subprocess.Popen(
        [sys.executable, "-m", "cdp_heap", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_env(env),
        preexec_fn=preexec,
    )


def wait_for_output(
    proc: subprocess.Popen[bytes], stream: IO[bytes] | None, pattern: bytes
) -> bytes:
    """Read ``stream`` (one of ``proc``'s pipes) until ``pattern`` (a regex) appears; what
    was read. Fails if the process ends first or within ``TIMEOUT``."""
    assert stream is not None
    fd = stream.fileno()
    seen = b""
    deadline = time.monotonic() + TIMEOUT
    while not re.search(pattern, seen):
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no {pattern!r} within {TIMEOUT} s; read {seen!r}"
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            data = os.read(fd, 65536)
            assert data, f"the process ended before {pattern!r}: {seen!r}"
            seen += data
    return seen


def wait_until(condition: Callable[[], bool], proc: subprocess.Popen[bytes], what: str) -> None:
    """Poll ``condition`` until it holds; fails if ``proc`` exits first or within ``TIMEOUT``."""
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert proc.poll() is None, f"the CLI exited before {what}: {proc.communicate()}"
        assert time.monotonic() < deadline, f"never {what}"
        time.sleep(0.01)


def partials(directory: Path) -> Iterator[Path]:
    """The atomic writer's temporary files in ``directory``."""
    return directory.glob(".*.partial")


def writing_began(directory: Path, size: int = 1_000_000) -> bool:
    """Whether a temporary file in ``directory`` holds more than ``size`` bytes. One may
    vanish while we look: the CLI's writability probe creates and removes its own."""
    for path in partials(directory):
        try:
            if path.stat().st_size > size:
                return True
        except FileNotFoundError:
            continue
    return False


def finished(
    proc: subprocess.Popen[bytes], stdout: bytes, stderr: bytes
) -> subprocess.CompletedProcess[str]:
    """A background run, once ``communicate`` returned, as :func:`run_cli` returns it."""
    assert proc.returncode is not None
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout.decode(), stderr.decode())


#: Root without the capabilities that override file permissions (CAP_DAC_OVERRIDE,
#: CAP_DAC_READ_SEARCH): permissions then bind it like anyone else. A switch to ``nobody``
#: would do too, but nobody may not read an interpreter installed under /root.
WITHOUT_DAC_OVERRIDE = (
    "setpriv",
    "--bounding-set=-dac_override,-dac_read_search",
    "--inh-caps=-dac_override,-dac_read_search",
)


def run_cli_without_dac_override(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m cdp_heap ARGS`` as root without CAP_DAC_OVERRIDE, so that file
    permissions apply (root's would not). Skips the test where that is impossible."""
    import pytest

    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to drop the capabilities that override permissions")
    return subprocess.run(
        [*WITHOUT_DAC_OVERRIDE, sys.executable, "-m", "cdp_heap", *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=cli_env(),
        cwd="/",
    )
