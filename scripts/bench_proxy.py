#!/usr/bin/env python
"""Benchmark the proxy against direct connections, in one run, as ratios.

    python scripts/bench_proxy.py [--heap-mb 60] [--rounds 9] [--calls 200]

Starts scripts/leaky_app.js with ~HEAP_MB of live objects under ``node --inspect`` and
``cdp-heap proxy`` in front of it (a separate process, so that its CPU and memory are its
own), then measures:

- heap snapshot wall time through the proxy vs direct (after an untimed warm-up, ROUNDS
  rounds alternating which goes first; the median times, and the median of each round's
  proxy/direct ratio, which cancels the machine's drift; target <= 1.10x);
- ``Runtime.evaluate 1+1`` round trips at p50 and p99 with 1 and 50 concurrent clients;
- the proxy's peak RSS (VmHWM) after a client that never reads asked for a snapshot while
  another client took snapshots (target: bounded, under 100 MB).

``--pin`` puts the target on one CPU and the proxy and the clients on the others, so that
the proxy cannot take CPU from the target: what remains is the proxy's own delay.
"""

from __future__ import annotations

import argparse
import os
import re
import select
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trio
import trio_websocket

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import cdp_heap  # noqa: E402


def start(
    argv: list[str], pattern: bytes, timeout: float = 30.0, cpus: set[int] | None = None
) -> tuple[subprocess.Popen[bytes], re.Match[bytes]]:
    """Start a process (on ``cpus`` only, if given) and wait for ``pattern`` on its stderr
    (no guessing of ports)."""
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=None if cpus is None else lambda: os.sched_setaffinity(0, cpus),
    )
    assert proc.stderr is not None
    seen = b""
    deadline = time.monotonic() + timeout
    while (match := re.search(pattern, seen)) is None:
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise SystemExit(f"{argv[0]} did not start: {seen!r}")
        if select.select([proc.stderr], [], [], 0.5)[0]:
            seen += proc.stderr.read1(65536)  # type: ignore[attr-defined]
    return proc, match


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def snapshot_seconds(url: str, path: Path) -> tuple[float, int]:
    async with cdp_heap.open_cdp(url) as conn:
        started = time.perf_counter()
        saved = await cdp_heap.save_snapshot(conn, path)
        return time.perf_counter() - started, saved.size


async def round_trips(url: str, clients: int, calls: int) -> list[float]:
    latencies: list[float] = []

    async def one_client() -> None:
        async with cdp_heap.open_cdp(url) as conn:
            for _ in range(calls):
                started = time.perf_counter()
                await conn.send("Runtime.evaluate", {"expression": "1+1"})
                latencies.append(time.perf_counter() - started)

    async with trio.open_nursery() as nursery:
        for _ in range(clients):
            nursery.start_soon(one_client)
    return latencies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def slow_client_load(proxy_url: str, directory: Path) -> None:
    """A client asks for a snapshot and never reads; another takes two snapshots meanwhile."""
    async with trio_websocket.open_websocket_url(
        proxy_url, message_queue_size=1, max_message_size=256 * 2**20
    ) as sluggard:
        await sluggard.send_message('{"id":1,"method":"HeapProfiler.takeHeapSnapshot"}')
        for i in range(2):
            await snapshot_seconds(proxy_url, directory / f"busy-{i}.heapsnapshot")


async def bench(args: argparse.Namespace) -> None:
    target_cpus = client_cpus = None
    if args.pin:
        # The target alone on the first CPU; the proxy and the clients share the others.
        first, *others = sorted(os.sched_getaffinity(0))
        if not others:
            raise SystemExit("--pin needs at least two CPUs")
        target_cpus, client_cpus = {first}, set(others)
        os.sched_setaffinity(0, client_cpus)
        print(f"pinned: target on CPU {first}, proxy and clients on {sorted(others)}")
    node, match = start(
        [
            "node",
            "--inspect=127.0.0.1:0",
            str(ROOT / "scripts" / "leaky_app.js"),
            "--leak-per-second",
            "0",
            "--heap-mb",
            str(args.heap_mb),
        ],
        rb"Debugger listening on (ws://127\.0\.0\.1:(\d+)/\S+)",
        cpus=target_cpus,
    )
    direct_url, node_port = match.group(1).decode(), int(match.group(2))
    proxy, match = start(
        [
            sys.executable,
            "-m",
            "cdp_heap",
            "proxy",
            "--upstream",
            f"127.0.0.1:{node_port}",
            "--listen",
            "127.0.0.1:0",
        ],
        rb"served at http://127\.0\.0\.1:(\d+)/json/list",
        cpus=client_cpus,
    )
    try:
        proxy_port = int(match.group(1))
        with trio.fail_after(60):
            targets = []
            while not targets:  # the proxy lists its target once connected upstream
                targets = await cdp_heap.list_targets("127.0.0.1", proxy_port)
        proxy_url = targets[0].web_socket_debugger_url
        assert proxy_url is not None
        rows: list[tuple[str, str, str, str]] = []
        with tempfile.TemporaryDirectory() as tmp:
            directory = Path(tmp)
            # A fresh process's first snapshot is the slowest: warm up, untimed. Then
            # alternate which way goes first, so drift and load hit both alike.
            await snapshot_seconds(direct_url, directory / "warm-up.heapsnapshot")
            times: dict[str, list[float]] = {direct_url: [], proxy_url: []}
            size = 0
            for i in range(args.rounds):
                order = [direct_url, proxy_url] if i % 2 == 0 else [proxy_url, direct_url]
                for url in order:
                    t, size = await snapshot_seconds(url, directory / "round.heapsnapshot")
                    times[url].append(t)
            d, p = statistics.median(times[direct_url]), statistics.median(times[proxy_url])
            # The machine drifts from round to round far more than the proxy costs, so the
            # ratio is the median of each round's own proxy/direct pair.
            paired = [pt / dt for dt, pt in zip(times[direct_url], times[proxy_url], strict=True)]
            print(
                "snapshot seconds per round: direct "
                + ", ".join(f"{t:.2f}" for t in times[direct_url])
                + "; proxy "
                + ", ".join(f"{t:.2f}" for t in times[proxy_url])
                + "; proxy/direct "
                + ", ".join(f"{r:.2f}" for r in paired),
                file=sys.stderr,
            )
            rows.append(
                (
                    f"snapshot {size / 2**20:.0f} MB, {args.rounds} rounds (paired ratio)",
                    f"{d:.2f} s",
                    f"{p:.2f} s",
                    f"{statistics.median(paired):.2f}x",
                )
            )
            for clients in (1, 50):
                direct = await round_trips(direct_url, clients, args.calls)
                proxied = await round_trips(proxy_url, clients, args.calls)
                for name, q in (("p50", 0.50), ("p99", 0.99)):
                    dq, pq = percentile(direct, q), percentile(proxied, q)
                    rows.append(
                        (
                            f"evaluate 1+1, {clients} client(s), {name}",
                            f"{dq * 1000:.2f} ms",
                            f"{pq * 1000:.2f} ms",
                            f"{pq / dq:.2f}x",
                        )
                    )
            before = peak_rss_mb(proxy.pid)
            await slow_client_load(proxy_url, directory)
            rows.append(
                (
                    "proxy peak RSS (VmHWM), before / after slow client",
                    "",
                    f"{before:.0f} / {peak_rss_mb(proxy.pid):.0f} MB",
                    "",
                )
            )
        widths = [max(len(r[i]) for r in [*rows, HEADER]) for i in range(4)]
        for row in [HEADER, tuple("-" * w for w in widths), *rows]:
            print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    finally:
        proxy.kill()
        node.kill()


HEADER = ("measure", "direct", "proxy", "ratio")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1])
    parser.add_argument("--heap-mb", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument(
        "--pin",
        action="store_true",
        help="run the target on one CPU and the proxy and clients on the others, to tell "
        "the proxy's own cost from its competing with the target for CPU",
    )
    trio.run(bench, parser.parse_args())


if __name__ == "__main__":
    main()
