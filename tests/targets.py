"""Real V8 targets for tests: Node, Deno and headless Chromium, started and stopped here.

Each target is started with its inspector on a free port (``--inspect=127.0.0.1:0``) and we
wait for the line in which it announces its WebSocket URL, so no test guesses ports or
sleeps.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import attrs

ROOT = Path(__file__).resolve().parent.parent
LEAKY_APP = ROOT / "scripts" / "leaky_app.js"
_LISTENING = re.compile(rb"Debugger listening on (ws://(\S+?):(\d+)/\S+)")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
)


def interruptible() -> None:
    """In the child: Ctrl-C's default, even if the test runner was started with SIGINT
    ignored (a background job of a non-interactive shell)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@attrs.define
class Target:
    proc: subprocess.Popen[bytes]
    ws_url: str
    host: str
    port: int
    output: bytearray = attrs.field(factory=bytearray)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)


def _read_until(
    proc: subprocess.Popen[bytes],
    pattern: re.Pattern[bytes],
    timeout: float,
    seen: bytearray | None = None,
) -> tuple[re.Match[bytes], bytearray]:
    assert proc.stderr is not None
    fd = proc.stderr.fileno()
    seen = bytearray() if seen is None else seen
    deadline = time.monotonic() + timeout
    while True:
        match = pattern.search(seen)
        if match:
            return match, seen
        remaining = deadline - time.monotonic()
        if remaining <= 0 or proc.poll() is not None:
            proc.kill()
            raise RuntimeError(f"target did not start: {bytes(seen)!r}")
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            data = os.read(fd, 65536)
            if not data and proc.poll() is not None:
                continue
            seen += data


def start_inspected(
    argv: list[str], *, ready: bytes | None = None, timeout: float = 30.0, **popen: object
) -> Target:
    """Start a process whose argv enables the inspector on port 0; wait for its URL and,
    if given, for the ``ready`` line (the inspector listens before the script has run)."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **popen)  # type: ignore[call-overload]
    match, seen = _read_until(proc, _LISTENING, timeout)
    if ready is not None:
        _read_until(proc, re.compile(re.escape(ready)), timeout, seen)
    assert proc.stderr is not None
    _drain_in_background(proc.stderr)
    return Target(proc, match.group(1).decode(), match.group(2).decode(), int(match.group(3)), seen)


def start_node(
    *args: str,
    script: str | None = None,
    node_flags: tuple[str, ...] = (),
    ready: bytes | None = None,
) -> Target:
    """``node --inspect=127.0.0.1:0 [-e script] args``; a ``script`` is ready once it ran."""
    argv = ["node", "--inspect=127.0.0.1:0", *node_flags]
    if script is not None:
        argv += ["-e", script + "\nconsole.error('script ready');"]
        ready = ready or b"script ready"
    return start_inspected([*argv, *args], ready=ready)


def start_leaky_app(*args: str, node_flags: tuple[str, ...] = ()) -> Target:
    return start_node(
        str(LEAKY_APP), "--leak-per-second", "0", *args, node_flags=node_flags, ready=b" ready"
    )


#: A Deno program with a known class, ``DenoThing``, kept alive 100,000 times.
DENO_APP = (
    "class DenoThing { constructor(public n: number) {} }\n"
    "(globalThis as any).keep = Array.from({ length: 100000 }, (_, i) => new DenoThing(i));\n"
    "console.error('deno ready');\n"
    "setInterval(() => {}, 1 << 30);\n"
)


def start_deno_app(directory: Path) -> Target:
    """``DENO_APP`` under ``deno run --inspect``, once it has run."""
    script = directory / "app.ts"
    script.write_text(DENO_APP)
    return start_deno(script, b"deno ready")


def start_deno(script: Path, ready: bytes) -> Target:
    deno = shutil.which("deno")
    assert deno is not None
    return start_inspected([deno, "run", "--inspect=127.0.0.1:0", str(script)], ready=ready)


@attrs.define
class Chromium:
    proc: subprocess.Popen[bytes]
    port: int
    profile: tempfile.TemporaryDirectory[str]

    def stop(self) -> None:
        # Chromium runs in a process group of its own: its renderers and utility processes
        # outlive the browser process for a moment and still write into the profile, so
        # the whole group is ended, and awaited, before the profile is removed.
        group = self.proc.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
            self.proc.wait()
        deadline = time.monotonic() + 10
        while _group_alive(group) and time.monotonic() < deadline:
            time.sleep(0.05)  # polling for the group's last process to exit
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)
        self.profile.cleanup()


def _group_alive(group: int) -> bool:
    """Whether a process of ``group`` still runs (zombies, which nobody may reap in a
    container, do not count)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue  # it exited while we looked
        if fields[2] == str(group) and fields[0] != "Z":
            return True
    return False


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def start_chromium(*extra: str, timeout: float = 60.0) -> Chromium:
    path = chromium_path()
    assert path is not None
    profile = tempfile.TemporaryDirectory(prefix="cdp-heap-chromium-")
    argv = [
        path,
        *CHROMIUM_FLAGS,
        f"--user-data-dir={profile.name}",
        "--remote-debugging-port=0",
        *extra,
        "about:blank",
    ]
    proc = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    pattern = re.compile(rb"DevTools listening on ws://[^:]+:(\d+)/")
    match, _ = _read_until(proc, pattern, timeout)
    # Keep draining stderr so that Chromium never blocks on a full pipe.
    assert proc.stderr is not None
    _drain_in_background(proc.stderr)
    return Chromium(proc, int(match.group(1)), profile)


def _drain_in_background(pipe: object) -> None:
    import threading

    def drain() -> None:
        while pipe.read(65536):  # type: ignore[attr-defined]
            pass

    threading.Thread(target=drain, daemon=True).start()
