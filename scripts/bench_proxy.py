#!/usr/bin/env python
"""Benchmark the proxy and its peers against direct connections, in one run, side by side.

    python scripts/bench_proxy.py [--heap-mb 60] [--rounds 5] [--calls 300] [--pin]
                                  [--peers cdp-heap,cdp-heap:no-spin,socat,...]
                                  [--trip-rounds 2] [--no-snapshot]
                                  [--only latency|clients|snapshot]
                                  [--baseline DIR]

Starts scripts/leaky_app.js with ~HEAP_MB of live objects under ``node --inspect``, and in
front of it ``cdp-heap proxy`` (a separate process, so that its CPU and memory are its own)
and each peer that is installed (each its own process):

- ``socat``: a byte-level TCP relay, one upstream connection per client (Node's inspector
  multiplexes the sessions itself): the floor of any relay hop on this machine;
- ``inspector-proxy`` (npm): a Node TCP relay that rewrites the path of the WebSocket
  upgrade to the target's current id (a stable URL across restarts), one upstream
  connection per client;
- ``vscode-cdp-proxy`` (npm): a Node library for message-level CDP proxies; started here
  as its README's demo does (every message decoded and re-encoded, one upstream session
  per client);
- ``trio-relay``, only when named in ``--peers``: ``scripts/bench_support/trio_relay.py``,
  a byte relay driven the way the proxy drives its sockets (trio, ``wait_readable``, one
  ``recv_into``, ``TCP_QUICKACK``, ``send``) that parses nothing: the floor of the proxy's
  design (docs/decisions.md D30).

``cdp-heap:no-spin`` is ``cdp-heap proxy --spin-us 0``: the proxy without its polling
for the next message (docs/decisions.md D32), what it costs in latency and saves in CPU.

None of the peers multiplexes several clients onto one session; ``cdp-heap proxy`` does.
Install them with ``apt-get install socat`` and ``PUPPETEER_SKIP_DOWNLOAD=1 npm install
--prefix ~/.cache/cdp-heap-bench/npm inspector-proxy vscode-cdp-proxy`` (``--npm-prefix``);
a missing one is reported as not installed. It measures, for each:

- ``Runtime.evaluate 1+1`` round trips with 1, 20 and 50 concurrent clients (each sends
  CALLS commands back to back): p50, p99 and the total round trips per second, over
  TRIP_ROUNDS passes that each start with another contender (latencies pooled), each
  followed by its paired ratio: the median over the passes of each pass's own ratio to
  direct's (as the snapshot rows do; a pass the machine slowed for one contender moves
  the pooled p99, not the median: docs/decisions.md D41; the p99 rows' ratio in every pass
  is printed below the table), and the relay's CPU time per round trip (user + system,
  from ``/proc``: each thread's ``schedstat``, to the nanosecond; far steadier than wall
  time on a shared machine);
- the same with one more client that has ``Debugger`` enabled (every evaluate then also
  sends ``Debugger.scriptParsed``), over TRIP_ROUNDS passes as well: the evaluating
  client's p50, and the difference to the case without it;
- the relay's peak RSS (VmHWM) while 50 clients evaluate, one client asked for a snapshot
  and never reads, and one client sends a message of the maximum client size;
- heap snapshot wall time vs direct (an untimed warm-up, then ROUNDS rounds, each round
  in another order; the median of each round's own ratio, which cancels the machine's
  drift; each round's ratio is printed too, to show the spread), the relay's CPU time per
  200 MB of snapshot, and the target's CPU time per snapshot (a relay that made the
  target work more would show there; where it moves with the wall time, the target's own
  speed moved: docs/decisions.md D37).

devtools-proxy 0.1.0 (PyPI, 2017) does not start on Python 3.11 (its aiohttp 2.2 uses
``asyncio.async``), so it has no column.

``--only latency`` runs the 1-client rows alone (a few seconds: a quick check of a change
to the proxy's hot path; give it ``--calls 2000`` or more for a CPU figure within a few
percent). ``--only clients`` runs the 20- and 50-client rows alone (about a minute with
``--trip-rounds 4``): the A/B of a change for many clients. ``--only snapshot`` runs the
snapshot rows alone: one round moves by ±10% on a shared VM, so a median of 7 rounds can
land on either side of 1.05x; ``--rounds 15`` or more narrows it.

``--baseline DIR`` adds ``cdp-heap:baseline``, the proxy of another checkout (e.g. ``git
worktree add /tmp/base HEAD~1``) run from this interpreter: an A/B of a change in one run,
both builds in turn against the same target.

``--pin`` puts the target on one CPU and the relays and the clients on the others, so that
a relay cannot take CPU from the target: what remains is the relay's own delay.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import gc
import json
import os
import re
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import trio
import trio_websocket

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import cdp_heap  # noqa: E402

PEERS = ("cdp-heap", "cdp-heap:no-spin", "socat", "inspector-proxy", "vscode-cdp-proxy")
#: The round-trip rows of a whole run and of ``--only latency|clients``: how many clients
#: at once (``--only snapshot`` has none).
CLIENT_COUNTS: dict[str | None, tuple[int, ...]] = {
    None: (1, 20, 50),
    "latency": (1,),
    "clients": (20, 50),
}
#: Measured only when asked for (``--peers``): the floor of the proxy's own design.
EXTRA_PEERS = ("trio-relay",)
BASELINE = "cdp-heap:baseline"  # --baseline DIR
TRIO_RELAY = Path(__file__).resolve().parent / "bench_support" / "trio_relay.py"
MEASURE_TIMEOUT = 300  # seconds for one contender's measure
T = TypeVar("T")
DEFAULT_NPM_PREFIX = Path.home() / ".cache" / "cdp-heap-bench" / "npm"

# vscode-cdp-proxy ships a library, no command: this is its README's demo.js without the
# logging. Its dist/index.js does not load (0.2.1 requires ./cdp, shipped only as a .d.ts),
# so the modules are loaded one by one.
VSCODE_CDP_PROXY_JS = """
const [modPath, target] = process.argv.slice(1);
const { Server } = require(modPath + '/dist/server');
const { Connection } = require(modPath + '/dist/connection');
const { WebSocketTransport } = require(modPath + '/dist/transports/websocket');
(async () => {
  const server = await Server.create({ host: '127.0.0.1', port: 0 });
  server.onConnection(async ([toDebugger]) => {
    toDebugger.pause();  // until the target is connected
    const toTarget = new Connection(await WebSocketTransport.create(target));
    toTarget.onCommand((m) => toDebugger.send(m));
    toDebugger.onCommand((m) => toTarget.send(m));
    toTarget.onReply((m) => toDebugger.send(m));
    toDebugger.onReply((m) => toTarget.send(m));
    toDebugger.onEnd(() => toTarget.close());
    toTarget.onEnd(() => toDebugger.close());
    toDebugger.unpause();
  });
  console.error(`vscode-cdp-proxy listening on 127.0.0.1:${server.address.port}`);
})();
"""


def baseline_env(checkout: Path) -> dict[str, str]:
    """The environment that makes ``python -m cdp_heap`` run ``checkout``'s code: its two
    packages (``proxy/`` installs as ``cdp_heap_proxy``) linked from a directory put
    first on ``PYTHONPATH``, ahead of this checkout's editable install."""
    packages = {"cdp_heap": "cdp_heap", "cdp_heap_proxy": "proxy"}
    for source in packages.values():
        if not (checkout / source / "__init__.py").exists():
            raise SystemExit(f"--baseline {checkout}: no {source}/__init__.py there")
    links = Path(tempfile.mkdtemp(prefix="cdp-heap-baseline-"))
    atexit.register(shutil.rmtree, links, ignore_errors=True)
    for package, source in packages.items():
        (links / package).symlink_to(checkout.resolve() / source)
    return {**os.environ, "PYTHONPATH": str(links)}


def start(
    argv: list[str],
    pattern: bytes,
    timeout: float = 30.0,
    cpus: set[int] | None = None,
    env: dict[str, str] | None = None,
) -> tuple[subprocess.Popen[bytes], re.Match[bytes]]:
    """Start a process (on ``cpus`` only, if given, in its own process group) and wait
    for ``pattern`` on its stdout or stderr (no guessing of ports); what it prints later is
    drained, so that a full pipe never blocks it."""
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env=env,
        preexec_fn=None if cpus is None else lambda: os.sched_setaffinity(0, cpus),
    )
    assert proc.stdout is not None
    seen = b""
    deadline = time.monotonic() + timeout
    while (match := re.search(pattern, seen)) is None:
        if time.monotonic() > deadline or proc.poll() is not None:
            stop(proc)
            raise StartFailed(f"{Path(argv[0]).name} did not start: {seen[-300:]!r}")
        if select.select([proc.stdout], [], [], 0.5)[0]:
            seen += proc.stdout.read1(65536)  # type: ignore[attr-defined]
    threading.Thread(target=drain, args=(proc.stdout,), daemon=True).start()
    return proc, match


class StartFailed(Exception):
    pass


def drain(stream: object) -> None:
    while stream.read1(65536):  # type: ignore[attr-defined]
        pass


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Kill ``proc`` and what it forked (socat forks a process per client)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_accepting(proc: subprocess.Popen[bytes], port: int, timeout: float = 10.0) -> None:
    """Wait until ``port`` accepts a connection (the process prints nothing when ready)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                stop(proc)
                raise StartFailed(f"nothing accepted on port {port}") from None


def task_files(pid: int, name: str) -> list[Path]:
    """``/proc/PID/task/*/NAME`` (none once the process exited: socat's per-client
    processes exit with their clients, also while they are being listed)."""
    try:
        return [Path(f"/proc/{pid}/task/{task}/{name}") for task in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        return []


def tree(pid: int) -> list[int]:
    """``pid`` and its live descendants."""
    pids, i = [pid], 0
    while i < len(pids):
        for children in task_files(pids[i], "children"):
            with contextlib.suppress(OSError):  # it exited meanwhile
                pids += [int(c) for c in children.read_text().split()]
        i += 1
    return pids


def status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def peak_rss_mb(pid: int) -> float:
    """Sum of the peak RSS (VmHWM) of ``pid`` and its live descendants."""
    return sum(status_kb(p, "VmHWM:") for p in tree(pid)) / 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` and its descendants so far (live ones and those
    it has reaped)."""
    total = 0
    for p in tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += sum(int(f) for f in fields[11:15])
    return total / os.sysconf("SC_CLK_TCK")


def run_seconds(pid: int) -> float:
    """CPU time of ``pid`` and its live descendants so far, to the nanosecond (each
    thread's ``schedstat``), plus what reaped children used (``/proc/PID/stat``, in clock
    ticks: socat's per-client processes exit with their clients). ``cpu_seconds`` counts
    in clock ticks (10 ms), too coarse for a few hundred round trips."""
    total = 0.0
    for p in tree(pid):
        for task in task_files(p, "schedstat"):
            with contextlib.suppress(OSError, ValueError, IndexError):  # it exited meanwhile
                total += int(task.read_text().split()[0]) / 1e9
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{p}/stat").read_text().rpartition(")")[2].split()
            total += sum(int(f) for f in fields[13:15]) / os.sysconf("SC_CLK_TCK")
    return total


async def snapshot_seconds(url: str, path: Path) -> tuple[float, int]:
    async with cdp_heap.open_cdp(url) as conn:
        started = time.perf_counter()
        saved = await cdp_heap.save_snapshot(conn, path)
        return time.perf_counter() - started, saved.size


@dataclass
class Trips:
    """One pass of round trips: every client's round-trip times, the total round trips per
    second, and the relay's CPU seconds meanwhile (``None``: direct)."""

    latencies: list[float]
    rate: float
    cpu: float | None = None


async def round_trips(url: str, clients: int, calls: int, pid: int | None = None) -> Trips:
    """``clients`` clients on ``url`` each make ``calls`` round trips, all at once; the CPU
    of the relay ``pid`` is counted from when all are connected until the last is done."""
    latencies: list[float] = []
    ready = trio.Event()
    connected = finished = 0
    cpu = [0.0, 0.0]

    async def one_client() -> None:
        nonlocal connected, finished
        async with cdp_heap.open_cdp(url) as conn:
            connected += 1
            if connected == clients:
                if pid is not None:
                    cpu[0] = run_seconds(pid)
                ready.set()
            await ready.wait()  # all connected before the clock starts
            for _ in range(calls):
                started = time.perf_counter()
                await conn.send("Runtime.evaluate", {"expression": "1+1"})
                latencies.append(time.perf_counter() - started)
            finished += 1
            if finished == clients and pid is not None:
                cpu[1] = run_seconds(pid)  # before the clients' goodbyes

    started = 0.0

    async def clock() -> None:
        nonlocal started
        await ready.wait()
        started = time.perf_counter()

    # The clients run in this process: its cyclic collector, left on, paused them for up to
    # ~150 ms (a full collection) in the middle of a timed round trip, now and then and
    # whichever contender was being measured, which made the p99 rows a lottery.
    # Reference counting frees what the round trips allocate; collect between rows.
    gc.collect()
    gc.disable()
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(clock)
            for _ in range(clients):
                nursery.start_soon(one_client)
    finally:
        gc.enable()
    rate = len(latencies) / (time.perf_counter() - started)
    return Trips(latencies, rate, None if pid is None else cpu[1] - cpu[0])


async def with_debugger(url: str, calls: int) -> list[float]:
    """One client's round trips while another client on ``url`` has Debugger enabled."""
    async with cdp_heap.open_cdp(url) as debugger:
        await debugger.send("Debugger.enable", {})
        latencies = (await round_trips(url, 1, calls)).latencies
        await debugger.send("Debugger.disable", {})
    return latencies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


#: The row under a round-trip measure: the median over the passes of each pass's own ratio
#: to direct's in the same pass (the snapshot rows' pairing). Pooled latencies let one pass
#: that the machine slowed, for one contender, move its p99 (D41); the pairing does not.
PAIRED_ROW = "  paired ratio vs direct (median of passes)"


def _ratio(value: float, direct: float) -> float:
    return value / direct


def _minus(value: float, direct: float) -> float:
    return value - direct


def paired(
    passes: dict[str, list[Trips] | str],
    measure: Callable[[Trips], float],
    compare: Callable[[float, float], float] = _ratio,
) -> dict[str, list[float]]:
    """Each relay's ``compare(its measure, direct's)`` in each pass, in pass order (none
    for a relay or a direct that failed)."""
    direct = passes["direct"]
    if isinstance(direct, str):
        return {}
    return {
        name: [compare(measure(t), measure(d)) for t, d in zip(trips, direct, strict=True)]
        for name, trips in passes.items()
        if name != "direct" and not isinstance(trips, str)
    }


def medians(each: dict[str, list[float]]) -> dict[str, float | str]:
    return {name: statistics.median(values) for name, values in each.items()}


def _listed(each: dict[str, list[float]]) -> str:
    return "; ".join(f"{n} " + ", ".join(f"{r:.2f}" for r in rs) for n, rs in each.items())


def print_passes(each_pass: list[str]) -> None:
    """The p99 rows' paired ratio of every pass: the spread behind their median."""
    for line in each_pass:
        print(f"paired ratio of each pass, {line}")


async def memory_load(url: str, calls: int, max_message: int) -> None:
    """50 clients evaluating, one that asked for a snapshot and never reads, and one
    message of ``max_message`` bytes (a Runtime.evaluate of a string literal)."""
    async with trio_websocket.open_websocket_url(
        url, message_queue_size=1, max_message_size=256 * 2**20
    ) as sluggard:
        await sluggard.send_message('{"id":1,"method":"HeapProfiler.takeHeapSnapshot"}')
        async with trio.open_nursery() as nursery:
            nursery.start_soon(round_trips, url, 50, calls)
            async with trio_websocket.open_websocket_url(url) as big:
                head = '{"id":1,"method":"Runtime.evaluate","params":{"expression":"\''
                tail = "'.length\"}}"
                body = "x" * (max_message - len(head) - len(tail))
                await big.send_message(head + body + tail)
                reply = json.loads(await big.get_message())
                assert reply["result"]["result"]["value"] == len(body), str(reply)[:200]


@dataclass
class Contender:
    name: str
    url: str
    proc: subprocess.Popen[bytes] | None = None  # None: direct
    sampled: bool = False  # forks per client: its peak RSS is sampled during the load


@dataclass
class Table:
    """One row per measure; a value (seconds, a rate, MB, a ratio) or an n/a reason per
    contender."""

    names: list[str]
    rows: list[tuple[str, dict[str, float | str], str, dict[str, str]]] = field(
        default_factory=list
    )
    notes: dict[str, int] = field(default_factory=dict)

    def add(
        self,
        label: str,
        values: dict[str, float | str],
        kind: str,
        marks: dict[str, str] | None = None,
    ) -> None:
        """``kind``: ms (ratio vs direct), rate (ratio vs direct), ms- (a difference, no
        ratio), mb, s, x (already a ratio). ``marks``: a footnote to a contender's value."""
        self.rows.append((label, values, kind, marks or {}))

    def mark(self, note: str) -> str:
        return f"[{self.notes.setdefault(note, len(self.notes) + 1)}]"

    def cell(self, value: float | str | None, kind: str) -> str:
        if value is None:
            return ""
        if isinstance(value, str):
            return f"n/a {self.mark(value)}"
        unit = {"ms": " ms", "ms-": " ms", "rate": "/s", "mb": " MB", "s": " s", "x": "x"}
        if kind == "us":
            return f"{value * 1e6:.0f} us"
        if kind in ("ms", "ms-"):
            return f"{value * 1000:.2f}{unit[kind]}"
        if kind == "rate":
            return f"{value:.0f}{unit[kind]}"
        if kind == "mb":
            return f"{value:.0f}{unit[kind]}"
        return f"{value:.2f}{unit[kind]}"

    def print(self) -> None:
        peers = [n for n in self.names if n != "direct"]
        header = ["measure", "direct", *(x for p in peers for x in (p, "vs direct"))]
        lines = [header]
        for label, values, kind, marks in self.rows:
            direct = values.get("direct")
            line = [label, self.cell(direct, kind)]
            for p in peers:
                value = values.get(p)
                ratio = ""
                if kind in ("ms", "rate") and isinstance(value, float):
                    ratio = f"{value / direct:.2f}x" if isinstance(direct, float) else ""
                mark = f" {self.mark(marks[p])}" if p in marks else ""
                line += [self.cell(value, kind) + mark, ratio]
            lines.append(line)
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
        lines.insert(1, ["-" * w for w in widths])
        for line in lines:
            cells = (c.ljust(w) for c, w in zip(line, widths, strict=True))
            print("  ".join(cells).rstrip())
        for reason, number in self.notes.items():
            print(f"[{number}] {reason}")


async def attempt(contender: Contender, measure: Callable[[], Awaitable[T]]) -> T | str:
    """The measure, or why it could not be taken (a footnote): any failure is the
    contender's answer."""
    try:
        with trio.fail_after(MEASURE_TIMEOUT):
            return await measure()
    except Exception as exc:
        while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
            exc = exc.exceptions[0]  # type: ignore[assignment]
        return f"{contender.name}: {type(exc).__name__}: {str(exc)[:160] or 'no message'}"


async def in_passes(
    passes: int, contenders: list[Contender], measure: Callable[[Contender], Awaitable[T]]
) -> dict[str, list[T] | str]:
    """Each contender's measures from ``passes`` passes, each pass starting with another
    contender, so that the machine's drift (and whoever runs first on a warm or cold cache)
    hits all alike; or why one failed (it is not measured again)."""
    measured: dict[str, list[T] | str] = {c.name: [] for c in contenders}
    for turn in range(passes):
        shift = turn % len(contenders)
        for c in contenders[shift:] + contenders[:shift]:
            so_far = measured[c.name]
            if isinstance(so_far, str):
                continue

            async def once(c: Contender = c) -> T:
                return await measure(c)

            result = await attempt(c, once)
            measured[c.name] = result if isinstance(result, str) else [*so_far, result]
    return measured


def start_peers(
    args: argparse.Namespace, wanted: list[str], direct_url: str, node_port: int,
    cpus: set[int] | None,
) -> list[Contender]:  # fmt: skip
    """Start every wanted peer that is installed; say why for each one that is not."""
    started: list[Contender] = []
    npm = Path(args.npm_prefix) / "node_modules"
    install = (
        f"PUPPETEER_SKIP_DOWNLOAD=1 npm install --prefix {args.npm_prefix} "
        "inspector-proxy vscode-cdp-proxy"
    )
    path = direct_url.partition(f":{node_port}")[2]  # /<target id>
    for name in wanted:
        try:
            if name in ("cdp-heap", "cdp-heap:no-spin", BASELINE):
                proc, match = start(
                    [
                        sys.executable, "-m", "cdp_heap", "proxy",
                        "--upstream", f"127.0.0.1:{node_port}", "--listen", "127.0.0.1:0",
                        "--max-client-message-mb", str(args.max_client_message_mb),
                        *(["--spin-us", "0"] if name.endswith("no-spin") else []),
                    ],
                    rb"served at http://127\.0\.0\.1:(\d+)/json/list",
                    cpus=cpus,
                    env=args.baseline_env if name == BASELINE else None,
                )  # fmt: skip
                port = int(match.group(1))
                # The proxy lists its target once connected upstream.
                deadline = time.monotonic() + 60
                targets: list[cdp_heap.TargetInfo] = []
                while not targets and time.monotonic() < deadline:
                    targets = trio.run(cdp_heap.list_targets, "127.0.0.1", port)
                if not targets:
                    raise StartFailed("cdp-heap proxy listed no target in 60 s")
                url = targets[0].web_socket_debugger_url
                assert url is not None
                started.append(Contender(name, url, proc))
            elif name == "trio-relay":
                proc, match = start(
                    [sys.executable, str(TRIO_RELAY), "0", str(node_port)],
                    rb"trio-relay listening on 127\.0\.0\.1:(\d+)",
                    cpus=cpus,
                )
                # A byte relay like socat: the target's URL with the relay's port.
                url = f"ws://127.0.0.1:{int(match.group(1))}{path}"
                started.append(Contender(name, url, proc))
            elif name == "socat":
                if shutil.which("socat") is None:
                    print("socat: not installed (apt-get install socat)")
                    continue
                port = free_port()
                proc = subprocess.Popen(
                    [
                        "socat",
                        f"TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,nodelay",
                        f"TCP:127.0.0.1:{node_port},nodelay",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                    preexec_fn=None if cpus is None else lambda: os.sched_setaffinity(0, cpus),
                )
                wait_accepting(proc, port)
                # No /json/list of its own: the target's URL with socat's port.
                started.append(Contender(name, f"ws://127.0.0.1:{port}{path}", proc, True))
            elif name == "inspector-proxy":
                bin_js = npm / "inspector-proxy" / "bin" / "bin.js"
                if not bin_js.exists():
                    print(f"inspector-proxy: not installed ({install})")
                    continue
                port = free_port()
                proc, _ = start(
                    ["node", str(bin_js), f"--proxy={port}", f"--debug={node_port}"],
                    rb"proxy url: \S+/__ws_proxy__",
                    cpus=cpus,
                )
                # __ws_proxy__: its stable alias, rewritten to the target's current id.
                started.append(Contender(name, f"ws://127.0.0.1:{port}/__ws_proxy__", proc))
            elif name == "vscode-cdp-proxy":
                module = npm / "vscode-cdp-proxy"
                if not (module / "dist" / "server.js").exists():
                    print(f"vscode-cdp-proxy: not installed ({install})")
                    continue
                proc, match = start(
                    ["node", "-e", VSCODE_CDP_PROXY_JS, str(module), direct_url],
                    rb"vscode-cdp-proxy listening on 127\.0\.0\.1:(\d+)",
                    cpus=cpus,
                )
                # Its HTTP server answers any GET with one webSocketDebuggerUrl, .../ws.
                started.append(Contender(name, f"ws://127.0.0.1:{int(match.group(1))}/ws", proc))
            else:
                raise SystemExit(f"unknown peer {name!r} (known: {', '.join(PEERS + EXTRA_PEERS)})")
        except StartFailed as exc:
            print(f"{name}: does not run here: {exc}")
    return started


def print_legend(args: argparse.Namespace, names: list[str]) -> None:
    """What the table's columns are (``names``: direct's, then the relays')."""
    if others := [n for n in names[1:] if not n.startswith("cdp-heap")]:
        print(
            f"not multiplexing: {', '.join(others)} (one upstream connection per client; "
            "Node's inspector multiplexes them)"
        )
    if "socat" in names:
        print("socat: a byte-level relay, the floor of any relay hop on this machine")
    if "cdp-heap:no-spin" in names:
        print("cdp-heap:no-spin: cdp-heap proxy --spin-us 0 (no polling for the next message)")
    if BASELINE in names:
        print(f"{BASELINE}: cdp-heap proxy of {args.baseline}")
    if "trio-relay" in names:
        print("trio-relay: a byte-level trio relay, the floor of the proxy's own design")
    print(
        "devtools-proxy (PyPI 0.1.0): does not run here (its aiohttp 2.2 does not import on "
        "Python 3.11)"
    )


def print_load(at_start: float) -> None:
    """What else the machine was doing (the numbers mean little on a busy one)."""
    now = os.getloadavg()[0]
    print(f"load average (1 min) at the start: {at_start:.2f}, at the end: {now:.2f}")


async def bench(args: argparse.Namespace, contenders: list[Contender], target_pid: int) -> None:
    load_at_start = os.getloadavg()[0]  # what else the machine was doing
    names = [c.name for c in contenders]
    table = Table(names)
    peers = contenders[1:]
    if args.only == "snapshot":
        rounds = await snapshots(args, contenders, table, target_pid)
        table.print()
        print_load(load_at_start)
        print(rounds)
        print_legend(args, names)
        return
    # Round trips first: a fresh target and relays, nothing else running.
    plain: dict[str, float | str] = {}
    first_minus: dict[str, list[float]] = {}
    each_pass: list[str] = []  # the p99 rows' paired ratio in each pass, printed below
    for clients in CLIENT_COUNTS[args.only]:
        # Each contender's latencies are pooled over the passes, its rate is all its round
        # trips over all its time.
        async def measure(c: Contender, clients: int = clients) -> Trips:
            pid = None if c.proc is None else c.proc.pid
            return await round_trips(c.url, clients, args.calls, pid)

        results: dict[str, tuple[list[float], float] | str] = {}
        cpu: dict[str, float] = {}
        passes = await in_passes(args.trip_rounds, contenders, measure)
        for name, trips in passes.items():
            if isinstance(trips, str):
                results[name] = trips
                continue
            pooled = [latency for t in trips for latency in t.latencies]
            results[name] = (pooled, len(pooled) / sum(len(t.latencies) / t.rate for t in trips))
            if any(t.cpu is not None for t in trips):
                cpu[name] = sum(t.cpu or 0.0 for t in trips)
        for label, q in (("p50", 0.50), ("p99", 0.99)):
            values: dict[str, float | str] = {
                n: r if isinstance(r, str) else percentile(r[0], q) for n, r in results.items()
            }
            if clients == 1 and label == "p50":
                plain = values
                first_minus = paired(passes, lambda t: percentile(t.latencies, 0.5), _minus)
            table.add(f"evaluate 1+1, {clients} client(s), {label}", values, "ms")
            each = paired(passes, lambda t, q=q: percentile(t.latencies, q))
            table.add(PAIRED_ROW, medians(each), "x")
            if q == 0.99:
                each_pass.append(f"{clients} client(s), p99: " + _listed(each))
        rates = {n: r if isinstance(r, str) else r[1] for n, r in results.items()}
        table.add(f"evaluate 1+1, {clients} client(s), round trips/s", rates, "rate")
        each = paired(passes, lambda t: t.rate)
        table.add(PAIRED_ROW, medians(each), "x")
        table.add(
            "  relay CPU per round trip",
            {
                n: used / len(r[0])
                for n, used in cpu.items()
                if not isinstance(r := results[n], str) and r[0]
            },
            "us",
        )
    if plain:
        table.add(
            "  1 client p50: minus direct",
            {
                p.name: v - d
                for p in peers
                if isinstance(v := plain[p.name], float) and isinstance(d := plain["direct"], float)
            },
            "ms-",
        )
        table.add(
            "  ... median of paired passes",
            medians(first_minus),
            "ms-",
        )
    if args.only is not None:
        table.print()
        print_passes(each_pass)
        print_load(load_at_start)
        print_legend(args, names)
        return

    # In passes too: one pass of one contender moved this row by ±1 ms on a noisy day.
    async def beside_debugger(c: Contender) -> list[float]:
        return await with_debugger(c.url, args.calls)

    beside: dict[str, float | str] = {
        name: runs if isinstance(runs, str) else percentile([x for r in runs for x in r], 0.5)
        for name, runs in (await in_passes(args.trip_rounds, contenders, beside_debugger)).items()
    }
    table.add("evaluate beside a Debugger client, p50", beside, "ms")
    table.add(
        "  ... minus the same without it",
        {
            n: v - w
            for n, v in beside.items()
            if isinstance(v, float) and isinstance(w := plain[n], float)
        },
        "ms-",
    )
    before: dict[str, float | str] = {}
    during: dict[str, float | str] = {}
    for p in peers:
        assert p.proc is not None
        pid = p.proc.pid
        before[p.name] = peak_rss_mb(pid)
        peak = 0.0

        async def load(p: Contender = p, pid: int = pid) -> float:
            nonlocal peak
            async with trio.open_nursery() as nursery:
                if p.sampled:

                    async def sample() -> None:
                        nonlocal peak
                        while True:
                            peak = max(peak, peak_rss_mb(pid))
                            await trio.sleep(0.02)  # a sampling period, not a wait

                    nursery.start_soon(sample)
                await memory_load(p.url, args.calls, args.max_client_message_mb * 2**20)
                nursery.cancel_scope.cancel()
            return max(peak, peak_rss_mb(pid))

        during[p.name] = await attempt(p, load)
    sampled = {
        p.name: f"{p.name}: one process per client; the sum of their peak RSS, sampled "
        "every 20 ms while the clients were connected"
        for p in peers
        if p.sampled
    }
    table.add("peak RSS, before", before, "mb")
    table.add(
        f"peak RSS, 50 clients + never-reading + {args.max_client_message_mb} MB message",
        during,
        "mb",
        sampled,
    )
    if not args.no_snapshot:
        rounds = await snapshots(args, contenders, table, target_pid)
    end: dict[str, float | str] = {
        p.name: f"{p.name}: its per-client processes have exited; see the row with 50 clients"
        if p.sampled
        else peak_rss_mb(p.proc.pid)
        for p in peers
        if p.proc
    }
    table.add("peak RSS (VmHWM) at the end", end, "mb")
    table.print()
    print_passes(each_pass)
    print_load(load_at_start)
    if not args.no_snapshot:
        print(rounds)
    print_legend(args, names)


async def snapshots(
    args: argparse.Namespace, contenders: list[Contender], table: Table, target_pid: int
) -> str:
    """Snapshot wall time per contender, ROUNDS rounds, each in another order; the ratio is
    the median of each round's own contender/direct ratio. Also the target's CPU time per
    snapshot: a relay that made the target work more would show there. Returns the rounds'
    times and ratios."""
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        # A fresh process's first snapshot is the slowest: warm up, untimed.
        await snapshot_seconds(contenders[0].url, directory / "warm-up.heapsnapshot")
        times: dict[str, list[float | str]] = {c.name: [] for c in contenders}
        cpu: dict[str, list[float]] = {c.name: [] for c in contenders}
        target_cpu: dict[str, list[float]] = {c.name: [] for c in contenders}
        size = 0
        for i in range(args.rounds):
            order = contenders[i % len(contenders) :] + contenders[: i % len(contenders)]
            for c in order:
                used = cpu_seconds(c.proc.pid) if c.proc else 0.0
                target_used = cpu_seconds(target_pid)

                async def one(c: Contender = c) -> float:
                    nonlocal size
                    t, size = await snapshot_seconds(c.url, directory / "round.heapsnapshot")
                    return t

                # A client that falls --client-queue-mb behind is cut off by cdp-heap's
                # proxy (D10): on an overloaded machine the benchmark's own reader can.
                times[c.name].append(t := await attempt(c, one))
                if isinstance(t, float):
                    target_cpu[c.name].append(cpu_seconds(target_pid) - target_used)
                if isinstance(t, float) and c.proc:
                    cpu[c.name].append((cpu_seconds(c.proc.pid) - used) * 200 * 2**20 / size)
        rounds = "snapshot seconds per round: " + "; ".join(
            f"{n} " + ", ".join(f"{t:.2f}" if isinstance(t, float) else "n/a" for t in ts)
            for n, ts in times.items()
        )
        values: dict[str, float | str] = {}
        ratios: dict[str, float | str] = {}
        each_round: list[str] = []
        for n, ts in times.items():
            ok = [t for t in ts if isinstance(t, float)]
            values[n] = statistics.median(ok) if ok else next(t for t in ts if isinstance(t, str))
            paired = [
                t / d
                for t, d in zip(ts, times["direct"], strict=True)
                if isinstance(t, float) and isinstance(d, float)
            ]
            if n != "direct":
                ratios[n] = statistics.median(paired) if paired else values[n]
                each_round.append(f"{n} " + ", ".join(f"{r:.2f}" for r in paired))
        table.add(f"snapshot {size / 2**20:.0f} MB, {args.rounds} rounds, median", values, "s")
        table.add("  paired ratio vs direct (median of rounds)", ratios, "x")
        table.add(
            "  relay CPU per 200 MB of snapshot",
            {n: statistics.median(c) for n, c in cpu.items() if c},
            "s",
        )
        table.add(
            "  target CPU per snapshot (median)",
            {n: statistics.median(c) for n, c in target_cpu.items() if c},
            "s",
        )
        return rounds + "\npaired ratio of each round: " + "; ".join(each_round)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1])
    parser.add_argument("--heap-mb", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument(
        "--trip-rounds",
        type=int,
        default=2,
        help="passes over the round-trip rows, each starting with another contender "
        "(latencies pooled, and each row's median of the passes' paired ratios to direct; "
        "default 2)",
    )
    parser.add_argument("--max-client-message-mb", type=int, default=8)
    parser.add_argument(
        "--peers",
        default=",".join(PEERS),
        help=f"comma-separated relays to measure beside direct (default: all found: "
        f"{','.join(PEERS)}; also trio-relay, a bare trio byte relay: the floor of the "
        "proxy's design)",
    )
    parser.add_argument(
        "--npm-prefix",
        default=str(DEFAULT_NPM_PREFIX),
        help="where `npm install --prefix` put the npm peers (default: %(default)s)",
    )
    parser.add_argument("--no-snapshot", action="store_true", help="skip the snapshot rows")
    parser.add_argument(
        "--only",
        choices=["latency", "clients", "snapshot"],
        help="latency: only the 1-client round trips (p50, p99, rate, the relay's CPU per "
        "round trip, the p50 minus direct's), a quick check of one change; "
        "e.g. --only latency --calls 2000 --trip-rounds 4. clients: only the 20- and "
        "50-client round trips, e.g. --only clients --trip-rounds 4. snapshot: only the "
        "snapshot rows, e.g. --only snapshot --rounds 15 (more rounds, a tighter median)",
    )
    parser.add_argument(
        "--pin",
        action="store_true",
        help="run the target on one CPU and the relays and clients on the others, to tell "
        "a relay's own cost from its competing with the target for CPU",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="DIR",
        help=f"also measure the proxy of the checkout in DIR, as {BASELINE} (an A/B of a "
        "change in one run; e.g. git worktree add /tmp/base HEAD~1)",
    )
    args = parser.parse_args()
    if args.only == "snapshot" and args.no_snapshot:
        parser.error("--only snapshot and --no-snapshot leave nothing to measure")
    wanted = [p.strip() for p in args.peers.split(",") if p.strip()]
    if unknown := [p for p in wanted if p not in PEERS + EXTRA_PEERS]:
        known = ", ".join(PEERS + EXTRA_PEERS)
        parser.error(f"unknown peer(s) {', '.join(unknown)} (known: {known})")
    args.baseline_env = None
    if args.baseline is not None:
        args.baseline_env = baseline_env(args.baseline)  # checked before Node starts
        wanted.append(BASELINE)
    target_cpus = client_cpus = None
    if args.pin:
        # The target alone on the first CPU; the relays and the clients share the others.
        first, *others = sorted(os.sched_getaffinity(0))
        if not others:
            raise SystemExit("--pin needs at least two CPUs")
        target_cpus, client_cpus = {first}, set(others)
        os.sched_setaffinity(0, client_cpus)
        print(f"pinned: target on CPU {first}, relays and clients on {sorted(others)}")
    node, match = start(
        [
            "node", "--inspect=127.0.0.1:0", str(ROOT / "scripts" / "leaky_app.js"),
            "--leak-per-second", "0", "--heap-mb", str(args.heap_mb),
        ],
        rb"Debugger listening on (ws://127\.0\.0\.1:(\d+)/\S+)",
        cpus=target_cpus,
    )  # fmt: skip
    contenders = [Contender("direct", match.group(1).decode())]
    try:
        contenders += start_peers(args, wanted, contenders[0].url, int(match.group(2)), client_cpus)
        trio.run(bench, args, contenders, node.pid)
    finally:
        for c in contenders[1:]:
            assert c.proc is not None
            stop(c.proc)
        stop(node)


if __name__ == "__main__":
    main()
