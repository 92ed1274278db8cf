#!/usr/bin/env python3
"""How often Node crashes when allocation tracking started during its start-up is stopped.

Node 20's V8 can segfault in ``AllocationTracker::PrepareForSerialization`` while it
serializes the snapshot that ``stopTrackingHeapObjects`` ends with, when tracking is
stopped right after it started, soon after Node started (the inspector answers before the
main module has run, and Node goes on starting up after that). This script is the evidence
behind the warning in docs/profiling.md and behind the test targets that wait for a ready
line: it starts a fresh idle ``node --inspect`` per run and tracks allocations in one of
three ways, then counts the targets that died of a signal:

- ``start-up``: start tracking as soon as the inspector answers, stop at once;
- ``ready``: start once the script printed its ready line, stop at once;
- ``ready+0.5s``: start once the script is ready, stop half a second later.

    python scripts/node_tracking_crash.py --runs 40

The crash is rare on an idle machine; run a CPU-bound loop per core beside it (start-up
then takes longer and overlaps the tracking) to see it within a few dozen runs.
"""

from __future__ import annotations

import argparse
import logging
import re
import subprocess
import tempfile
from pathlib import Path

import trio

from cdp_heap import CDPHeapError, open_cdp

IDLE_APP = "setInterval(() => {}, 1 << 30);\nconsole.error('idle ready');\n"
LISTENING = re.compile(rb"Debugger listening on (ws://\S+)")


def start_node(script: Path, *, wait_ready: bool) -> tuple[subprocess.Popen[bytes], str]:
    """``node --inspect`` on ``script``: its WebSocket URL, once the inspector listens
    (and, with ``wait_ready``, once the script has run)."""
    proc = subprocess.Popen(
        ["node", "--inspect=127.0.0.1:0", str(script)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    seen = b""
    while not (match := LISTENING.search(seen)) or (wait_ready and b"idle ready" not in seen):
        data = proc.stderr.read1(4096)
        if not data:
            raise RuntimeError(f"node did not start: {seen!r}")
        seen += data
    return proc, match.group(1).decode()


#: way -> (wait for the ready line, seconds between start and stop)
WAYS = {"start-up": (False, 0.0), "ready": (True, 0.0), "ready+0.5s": (True, 0.5)}


async def crashed(script: Path, way: str) -> bool:
    """One run; True if the target died of a signal."""
    wait_ready, tracking_seconds = WAYS[way]
    proc, url = start_node(script, wait_ready=wait_ready)
    try:
        async with open_cdp(url) as conn:
            await conn.send("HeapProfiler.startTrackingHeapObjects", {"trackAllocations": True})
            await trio.sleep(tracking_seconds)
            await conn.send("HeapProfiler.stopTrackingHeapObjects", {})
        return False
    except CDPHeapError:
        return proc.wait(timeout=10) < 0
    finally:
        proc.kill()
        proc.wait()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=40, help="runs per way (default 40)")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # the snapshots' chunks are dropped on purpose
    script = Path(tempfile.mkdtemp()) / "idle.js"
    script.write_text(IDLE_APP)
    crashes = dict.fromkeys(WAYS, 0)
    for _ in range(args.runs):
        for way in WAYS:  # interleaved, so every way sees the same machine load
            crashes[way] += await crashed(script, way)
    for way, count in crashes.items():
        print(f"{way:12} {count:3} of {args.runs} runs crashed the target")


if __name__ == "__main__":
    trio.run(main)
