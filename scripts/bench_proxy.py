#!/usr/bin/env python
"""Benchmark the proxy against direct connections, in one run, side by side, as ratios.

    python scripts/bench_proxy.py [--heap-mb 60] [--rounds 5] [--calls 300] [--pin]

Starts scripts/leaky_app.js with ~HEAP_MB of live objects under ``node --inspect`` and
``cdp-heap proxy`` in front of it (a separate process, so that its CPU and memory are its
own), then measures:

- ``Runtime.evaluate 1+1`` round trips with 1, 20 and 50 concurrent clients (each sends
  CALLS commands back to back): p50, p99 and the total round trips per second;
- the same with one more client that has ``Debugger`` enabled (every evaluate then also
  sends ``Debugger.scriptParsed``): the evaluating client's p50, and the difference to the
  case without it;
- the proxy's peak RSS (VmHWM) while 50 clients evaluate, one client asked for a snapshot
  and never reads, and one client sends a message of the maximum client size;
- heap snapshot wall time through the proxy vs direct (an untimed warm-up, then ROUNDS
  rounds alternating which goes first; the median of each round's proxy/direct ratio,
  which cancels the machine's drift), and the proxy's CPU time per 200 MB of snapshot.

A peer proxy would get its own column; the one on PyPI, devtools-proxy 0.1.0 (2017), does
not start on Python 3.11 (its aiohttp 2.2 uses ``asyncio.async``), so there is none.

``--pin`` puts the target on one CPU and the proxy and the clients on the others, so that
the proxy cannot take CPU from the target: what remains is the proxy's own delay.
"""

from __future__ import annotations

import argparse
import json
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


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def snapshot_seconds(url: str, path: Path) -> tuple[float, int]:
    async with cdp_heap.open_cdp(url) as conn:
        started = time.perf_counter()
        saved = await cdp_heap.save_snapshot(conn, path)
        return time.perf_counter() - started, saved.size


async def round_trips(url: str, clients: int, calls: int) -> tuple[list[float], float]:
    """Every client's round-trip times, and the total round trips per second."""
    latencies: list[float] = []
    ready = trio.Event()
    connected = 0

    async def one_client() -> None:
        nonlocal connected
        async with cdp_heap.open_cdp(url) as conn:
            connected += 1
            if connected == clients:
                ready.set()
            await ready.wait()  # all connected before the clock starts
            for _ in range(calls):
                started = time.perf_counter()
                await conn.send("Runtime.evaluate", {"expression": "1+1"})
                latencies.append(time.perf_counter() - started)

    started = 0.0

    async def clock() -> None:
        nonlocal started
        await ready.wait()
        started = time.perf_counter()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(clock)
        for _ in range(clients):
            nursery.start_soon(one_client)
    return latencies, len(latencies) / (time.perf_counter() - started)


async def with_debugger(url: str, calls: int) -> list[float]:
    """One client's round trips while another client on ``url`` has Debugger enabled."""
    async with cdp_heap.open_cdp(url) as debugger:
        await debugger.send("Debugger.enable", {})
        latencies, _ = await round_trips(url, 1, calls)
        await debugger.send("Debugger.disable", {})
    return latencies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


async def memory_load(proxy_url: str, calls: int, max_message: int) -> None:
    """50 clients evaluating, one that asked for a snapshot and never reads, and one
    message of ``max_message`` bytes (a Runtime.evaluate of a string literal)."""
    async with trio_websocket.open_websocket_url(
        proxy_url, message_queue_size=1, max_message_size=256 * 2**20
    ) as sluggard:
        await sluggard.send_message('{"id":1,"method":"HeapProfiler.takeHeapSnapshot"}')
        async with trio.open_nursery() as nursery:
            nursery.start_soon(round_trips, proxy_url, 50, calls)
            async with trio_websocket.open_websocket_url(proxy_url) as big:
                head = '{"id":1,"method":"Runtime.evaluate","params":{"expression":"\''
                tail = "'.length\"}}"
                body = "x" * (max_message - len(head) - len(tail))
                await big.send_message(head + body + tail)
                reply = json.loads(await big.get_message())
                assert reply["result"]["result"]["value"] == len(body), str(reply)[:200]


def table(rows: list[tuple[str, str, str, str]]) -> None:
    widths = [max(len(r[i]) for r in [*rows, HEADER]) for i in range(4)]
    for row in [HEADER, tuple("-" * w for w in widths), *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


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
            "--max-client-message-mb",
            str(args.max_client_message_mb),
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
        # Round trips first: a fresh target and proxy, nothing else running.
        plain: dict[str, float] = {}
        for clients in (1, 20, 50):
            direct, direct_rate = await round_trips(direct_url, clients, args.calls)
            proxied, proxy_rate = await round_trips(proxy_url, clients, args.calls)
            for name, q in (("p50", 0.50), ("p99", 0.99)):
                dq, pq = percentile(direct, q), percentile(proxied, q)
                if clients == 1 and name == "p50":
                    plain = {"direct": dq, "proxy": pq}
                label = f"evaluate 1+1, {clients} client(s), {name}"
                rows.append((label, ms(dq), ms(pq), f"{pq / dq:.2f}x"))
            rows.append(
                (
                    f"evaluate 1+1, {clients} client(s), round trips/s",
                    f"{direct_rate:.0f}",
                    f"{proxy_rate:.0f}",
                    f"{proxy_rate / direct_rate:.2f}x",
                )
            )
        rows.append(
            ("  1 client p50: proxy minus direct", "", ms(plain["proxy"] - plain["direct"]), "")
        )
        dd = percentile(await with_debugger(direct_url, args.calls), 0.5)
        pd = percentile(await with_debugger(proxy_url, args.calls), 0.5)
        rows.append(("evaluate beside a Debugger client, p50", ms(dd), ms(pd), f"{pd / dd:.2f}x"))
        rows.append(
            (
                "  ... minus the same without it",
                ms(dd - plain["direct"]),
                ms(pd - plain["proxy"]),
                "",
            )
        )
        before = peak_rss_mb(proxy.pid)
        await memory_load(proxy_url, args.calls, args.max_client_message_mb * 2**20)
        rows.append(
            (
                f"proxy peak RSS, before / with 50 clients + never-reading + "
                f"{args.max_client_message_mb} MB message",
                "",
                f"{before:.0f} / {peak_rss_mb(proxy.pid):.0f} MB",
                "",
            )
        )
        with tempfile.TemporaryDirectory() as tmp:
            directory = Path(tmp)
            # A fresh process's first snapshot is the slowest: warm up, untimed. Then
            # alternate which way goes first, so drift and load hit both alike.
            await snapshot_seconds(direct_url, directory / "warm-up.heapsnapshot")
            times: dict[str, list[float]] = {direct_url: [], proxy_url: []}
            cpu: list[float] = []
            size = 0
            for i in range(args.rounds):
                order = [direct_url, proxy_url] if i % 2 == 0 else [proxy_url, direct_url]
                pair: dict[str, float] = {}
                for url in order:
                    used = cpu_seconds(proxy.pid)
                    try:
                        t, size = await snapshot_seconds(url, directory / "round.heapsnapshot")
                    except cdp_heap.ConnectionClosed as exc:
                        # A client that falls --client-queue-mb behind is cut off (D10): on
                        # an overloaded machine the benchmark's own reader can.
                        print(f"round {i + 1} dropped: {exc}", file=sys.stderr)
                        break
                    pair[url] = t
                    if url == proxy_url:
                        cpu.append((cpu_seconds(proxy.pid) - used) * 200 * 2**20 / size)
                if len(pair) == 2:
                    for url, t in pair.items():
                        times[url].append(t)
            if not times[direct_url]:
                raise SystemExit("every snapshot round was dropped")
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
            rows.append(
                ("  proxy CPU per 200 MB of snapshot", "", f"{statistics.median(cpu):.2f} s", "")
            )
        rows.append(
            ("proxy peak RSS (VmHWM) at the end", "", f"{peak_rss_mb(proxy.pid):.0f} MB", "")
        )
        table(rows)
        print(
            "peer proxy: none runs here (devtools-proxy 0.1.0 needs aiohttp 2.2, which "
            "does not import on Python 3.11)"
        )
    finally:
        proxy.kill()
        node.kill()


HEADER = ("measure", "direct", "proxy", "ratio")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1])
    parser.add_argument("--heap-mb", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--max-client-message-mb", type=int, default=8)
    parser.add_argument(
        "--pin",
        action="store_true",
        help="run the target on one CPU and the proxy and clients on the others, to tell "
        "the proxy's own cost from its competing with the target for CPU",
    )
    trio.run(bench, parser.parse_args())


if __name__ == "__main__":
    main()
