#!/usr/bin/env python
"""A Chrome page's heap snapshot through a whole-browser proxy vs straight from Chrome.

    python scripts/bench_browser_proxy.py [--heap-mb 50] [--rounds 7]

Starts headless Chromium (Debian's ``chromium``) with a page holding ~HEAP_MB of objects and
``cdp-heap proxy --upstream PORT`` in front of the whole browser (a separate process), then
takes snapshots of the page straight from Chrome's page endpoint and through the proxy's
(``/devtools/page/ID``: a session of its own on the proxy's one browser connection, 1 MiB
chunks routed by the tail of their text). After an untimed warm-up of each, ROUNDS rounds
alternate which goes first; printed: the median times and the median of the rounds'
proxy/direct ratios (which cancels the machine's drift).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO

import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import cdp_heap  # noqa: E402

CLI = [sys.executable, "-m", "cdp_heap"]
QUIET = ["--audit-log", "/dev/null"]
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def start(argv: list[str], pattern: bytes) -> tuple[subprocess.Popen[bytes], re.Match[bytes]]:
    """Start a process and wait for ``pattern`` on its stderr (no guessing of ports)."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    seen = b""
    deadline = time.monotonic() + 60
    while (match := re.search(pattern, seen)) is None:
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise SystemExit(f"{argv[0]} did not start: {seen[-500:]!r}")
        seen += os.read(proc.stderr.fileno(), 65536)
    # Keep draining, so that a chatty stderr never blocks the process on a full pipe.
    drain = threading.Thread(target=_drain, args=(proc.stderr,), daemon=True)
    drain.start()
    return proc, match


def _drain(pipe: IO[bytes]) -> None:
    while pipe.read(65536):
        pass


async def timed_snapshot(url: str, path: Path) -> float:
    async with cdp_heap.open_cdp(url) as conn:
        began = time.perf_counter()
        await cdp_heap.save_snapshot(conn, path)
        return time.perf_counter() - began


async def main(heap_mb: int, rounds: int) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("needs chromium (apt-get install chromium)")
    with tempfile.TemporaryDirectory() as profile, tempfile.TemporaryDirectory() as out:
        browser, found = start(
            [chromium, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0"],
            rb"DevTools listening on ws://[^:]+:(\d+)/",
        )
        port = int(found.group(1))
        proxy, listening = start(
            [*CLI, "proxy", "--upstream", str(port), "--listen", "127.0.0.1:0", *QUIET],
            rb"served at http://127\.0\.0\.1:(\d+)/",
        )
        proxy_port = int(listening.group(1))
        try:
            version = await cdp_heap.get_version("127.0.0.1", port)
            assert version.web_socket_debugger_url is not None
            async with cdp_heap.open_cdp(version.web_socket_debugger_url) as direct:
                created = await direct.send("Target.createTarget", {"url": "about:blank"})
                target = created["targetId"]
                page = f"ws://127.0.0.1:{port}/devtools/page/{target}"
                via = f"ws://127.0.0.1:{proxy_port}/devtools/page/{target}"
                async with cdp_heap.open_cdp(page) as conn:
                    # ~100 bytes per {i, s} object with its string
                    count = heap_mb * 1024 * 1024 // 100
                    each = "(_, i) => ({i, s: 'x' + i})"
                    fill = f"window.keep = Array.from({{length: {count}}}, {each})"
                    await conn.send("Runtime.evaluate", {"expression": fill})
                times: dict[str, list[float]] = {"direct": [], "proxy": []}
                ratios = []
                await timed_snapshot(page, Path(out) / "warm-direct.heapsnapshot")
                await timed_snapshot(via, Path(out) / "warm-proxy.heapsnapshot")
                for round_ in range(rounds):
                    order = ["direct", "proxy"] if round_ % 2 == 0 else ["proxy", "direct"]
                    this = {}
                    for way in order:
                        url = page if way == "direct" else via
                        this[way] = await timed_snapshot(url, Path(out) / f"{way}.heapsnapshot")
                        times[way].append(this[way])
                    ratios.append(this["proxy"] / this["direct"])
                    print(
                        f"round {round_ + 1}: direct {this['direct']:.2f} s, "
                        f"proxy {this['proxy']:.2f} s",
                        file=sys.stderr,
                    )
                size = (Path(out) / "direct.heapsnapshot").stat().st_size / 1e6
                print(f"Chrome page snapshot ({size:.0f} MB), {rounds} rounds:")
                print(f"  direct  median {statistics.median(times['direct']):.2f} s")
                print(f"  proxy   median {statistics.median(times['proxy']):.2f} s")
                print(f"  proxy/direct, median of paired rounds: {statistics.median(ratios):.2f}x")
        finally:
            proxy.terminate()
            proxy.wait()
            browser.terminate()
            browser.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heap-mb", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    trio.run(main, args.heap_mb, args.rounds)
