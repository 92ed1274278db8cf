"""Heap snapshot capture benchmark: cdp-heap against the other ways to save a V8 heap snapshot.

Run from the repository root (needs node, npm, websocat, jq, curl; see docs/benchmarks.md)::

    python scripts/bench_capture.py            # ~100 MB and ~500 MB heaps, 3 rounds (< 15 min)
    python scripts/bench_capture.py --quick    # ~100 MB heap, 1 round (~3 min)

What it does, for each heap size: start ONE ``node --inspect scripts/leaky_app.js`` whose
``process.memoryUsage().heapUsed`` is about the requested size, take one untimed warm-up
snapshot (a fresh process's first snapshot is much slower than the later ones), then in each
round snapshot that same process once with each peer, rotating the order from round to round
so that drift in the target hits every peer alike:

``cdp-heap``
    this project's CLI, ``python -m cdp_heap snapshot --url WS -o FILE --via stream``, in a
    subprocess (wall time includes interpreter start-up; its own "saved ... in S" time is
    shown too);
``cdp-heap:in-process``
    the same CLI with ``--via in-process``: the target writes the file itself
    (``v8.writeHeapSnapshot``), cdp-heap checks, fsyncs and renames it (issue 15);
``in-process``
    Node's own ``v8.writeHeapSnapshot(FILE)`` in the target, triggered through
    ``Runtime.evaluate`` on an open connection; the time is the evaluate round trip;
``chrome-remote-interface``
    the npm client streaming ``addHeapSnapshotChunk`` to a write stream
    (``scripts/bench_support/cri_snapshot.js``; installed on first run into
    ``~/.cache/cdp-heap-bench``, never into the repository);
``bash (guide)``
    the Node.js guide's websocat + jq script with its loop fixed
    (``scripts/bench_support/heap_snapshot_guide.sh``). It takes minutes, so it runs
    ``--bash-rounds`` times (default 1) at the small size only; at the large size its time
    is estimated from its measured rate unless ``--bash-rounds-large N`` asks for real runs.

Every peer runs as a child process (except in-process, which runs in the target), so its
peak RSS is exact: ``os.wait4`` returns the child's own ``ru_maxrss`` (the largest of the
child and its waited-for descendants), no deltas of ``RUSAGE_CHILDREN``. Every output file
is checked: it starts with ``{"snapshot"`` and ends with ``}``, its size agrees with the
other peers' within 3 %, and the first file of each peer below 400 MB is parsed as JSON and
its node and edge arrays are checked against the counts in its header. The page cache is
flushed (``sync``) before each timed run so that one peer's write-back is not billed to the
next one.

Then it measures what ``reportProgress: true`` costs the target (the CLI asks for progress
events only on a terminal): ``cdp_heap.save_snapshot`` with and without it, alternated, on
one connection to the same process.

Then, unless ``--no-cost``, what a snapshot costs the target's memory: for each size and
path (streamed, in-process) a FRESH target takes one snapshot, and its peak RSS growth over
its heapUsed is the cost factor the pre-flight uses (``cdp_heap.COST_FACTORS``); the rounds'
growth per heapUsed (later snapshots of one process) is shown beside it.

Printed: per heap size and peer the median wall time, the range, the ratio of cdp-heap's
median to the peer's, the peer's peak RSS and the snapshot size; what the target felt
(pause, peak +RSS, its ratio to heapUsed); the cost factors; then the targets with
PASS/FAIL (streaming cdp-heap <= 1.03x chrome-remote-interface, ``--via in-process`` <=
1.05x in-process's wall time and <= 1.03x its pause, >= 10x faster than bash, each
client's peak RSS < 60 MB). ``--json FILE`` also writes every measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SUPPORT = Path(__file__).resolve().parent / "bench_support"
sys.path.insert(0, str(REPO))

import trio  # noqa: E402

import cdp_heap  # noqa: E402

LEAKY_APP = REPO / "scripts" / "leaky_app.js"
CRI_SCRIPT = SUPPORT / "cri_snapshot.js"
GUIDE_SCRIPT = SUPPORT / "heap_snapshot_guide.sh"
NODE_CACHE = Path(os.environ.get("CDP_HEAP_BENCH_CACHE", "~/.cache/cdp-heap-bench")).expanduser()
CRI_VERSION = "0.34.0"
TIME = "/usr/bin/time"

MB = 1_000_000
MiB = 1024 * 1024
#: leaky_app.js --heap-mb N gives heapUsed of about 3.9 MB + 1.647 MB * N on Node 20
#: (measured: N=60 -> 102.7 MB, N=300 -> 497.9 MB).
HEAP_MB_BASE = 3.9
HEAP_MB_PER_UNIT = 1.647
#: Files up to this size are parsed as JSON (once per peer and heap size).
FULL_PARSE_LIMIT = 400 * MB
SIZE_TOLERANCE = 0.03

CLIENT = "cdp-heap"
CLIENT_IN_PROCESS = "cdp-heap:in-process"
IN_PROCESS = "in-process"
CRI = "chrome-remote-interface"
BASH = "bash (guide)"
PEERS = (CLIENT, CLIENT_IN_PROCESS, IN_PROCESS, CRI, BASH)
CLIENTS = (CLIENT, CLIENT_IN_PROCESS)

#: Targets (issues 2 and 15): (ours, theirs, what, most ours / theirs may be). "seconds" is
#: the wall time, "pause" the target's longest event-loop stall.
TARGETS = (
    (CLIENT, CRI, "seconds", 1.03),
    (CLIENT_IN_PROCESS, IN_PROCESS, "seconds", 1.05),
    (CLIENT_IN_PROCESS, IN_PROCESS, "pause", 1.03),
    (CLIENT, BASH, "seconds", 0.1),
)
RSS_TARGET = 60 * MB


# -- measurements ---------------------------------------------------------------------------


@dataclass
class Run:
    peer: str
    heap: str
    round: int
    seconds: float
    #: Peak RSS of the client process (KiB), ``None`` where there is no client process.
    max_rss_kib: int | None
    #: CPU seconds (user + system) of the client process and its children.
    cpu_seconds: float | None
    size: int
    #: CPU seconds the target (node, all threads) spent during the run.
    target_cpu_seconds: float = 0.0
    #: The longest the target's event loop stood still during the run: its pause.
    target_pause: float = 0.0
    #: How far the target's resident size rose above where it was before the run (bytes).
    target_rss_growth: int = 0
    #: cdp-heap only: the time the library itself reported (without interpreter start-up).
    inner_seconds: float | None = None
    #: bash only: the size of the protocol dump it keeps on disk (./out).
    dump_size: int | None = None
    parsed: bool = False


@dataclass
class HeapResult:
    label: str
    requested_mb: int
    heap_mb_flag: int
    heap_used: int
    target_pid: int
    runs: list[Run] = field(default_factory=list)
    #: Seconds without and with reportProgress, pairwise.
    progress_pairs: list[tuple[float, float]] = field(default_factory=list)
    bash_estimate: float | None = None
    warmup_seconds: float = 0.0


@dataclass
class CostResult:
    """One snapshot of a fresh target: what it cost the target's memory."""

    label: str
    via: str
    heap_used: int
    rss_before: int
    #: Peak RSS during the snapshot minus the RSS before it (bytes).
    growth: int

    @property
    def factor(self) -> float:
        return self.growth / self.heap_used


class BenchError(Exception):
    pass


# -- the target -----------------------------------------------------------------------------


class Target:
    """``node --inspect=127.0.0.1:0 leaky_app.js --heap-mb N``; stderr is drained in a thread."""

    def __init__(self, heap_mb_flag: int) -> None:
        self.proc = subprocess.Popen(
            [
                "node",
                "--inspect=127.0.0.1:0",
                str(LEAKY_APP),
                "--leak-per-second",
                "0",
                "--heap-mb",
                str(heap_mb_flag),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._url: str | None = None
        self._ready = threading.Event()
        self._found_url = threading.Event()
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        threading.Thread(target=self._drain_stdout, daemon=True).start()

    def _drain_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            match = re.search(r"Debugger listening on (ws://\S+)", line)
            if match and self._url is None:
                self._url = match.group(1)
                self._found_url.set()
            if re.search(r"leaky_app pid \d+ ready", line):
                self._ready.set()

    def _drain_stdout(self) -> None:
        assert self.proc.stdout is not None
        for _ in self.proc.stdout:
            pass  # read, so that a chatty app never blocks on a full pipe

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not (self._ready.is_set() and self._found_url.is_set()):
            if self.proc.poll() is not None:
                raise BenchError(f"node exited with {self.proc.returncode} before it was ready")
            if time.monotonic() > deadline:
                raise BenchError("node did not become ready in time")
            time.sleep(0.1)

    @property
    def url(self) -> str:
        assert self._url is not None
        return self._url

    @property
    def port(self) -> int:
        match = re.match(r"ws://[^:/]+:(\d+)/", self.url)
        assert match is not None
        return int(match.group(1))

    def reset_peak_rss(self) -> int:
        """Reset the kernel's peak-RSS mark of the target (``clear_refs`` 5); its RSS now."""
        Path(f"/proc/{self.proc.pid}/clear_refs").write_text("5")
        return self._status_kib("VmRSS") * 1024

    def peak_rss(self) -> int:
        """The target's peak RSS since :meth:`reset_peak_rss` (bytes)."""
        return self._status_kib("VmHWM") * 1024

    def _status_kib(self, key: str) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1])
        raise BenchError(f"no {key} in /proc/{self.proc.pid}/status")

    def cpu_seconds(self) -> float:
        """User + system CPU time of the target so far (all its threads)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


async def _evaluate(url: str, expression: str) -> tuple[Any, float]:
    async with cdp_heap.open_cdp(url) as conn:
        started = time.perf_counter()
        reply = await conn.send(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True}
        )
        elapsed = time.perf_counter() - started
    if "exceptionDetails" in reply:
        raise BenchError(f"{expression!r} failed in the target: {reply['exceptionDetails']}")
    return reply["result"].get("value"), elapsed


def evaluate(url: str, expression: str) -> tuple[Any, float]:
    """Evaluate ``expression`` in the target; returns its value and the round-trip time."""
    return trio.run(_evaluate, url, expression)


def heap_used(url: str) -> int:
    value, _ = evaluate(url, "process.memoryUsage().heapUsed")
    return int(value)


#: A 5 ms timer in the target that records the longest gap between its ticks: how long the
#: event loop stood still, i.e. the pause a capture inflicts on the process.
STALL_START = """(() => {
  clearInterval(globalThis.__benchStall?.timer);
  const stall = {max: 0, last: performance.now()};
  stall.timer = setInterval(() => {
    const now = performance.now();
    stall.max = Math.max(stall.max, now - stall.last);
    stall.last = now;
  }, 5);
  globalThis.__benchStall = stall;
  return true;
})()"""
STALL_READ = """(() => {
  const stall = globalThis.__benchStall;
  clearInterval(stall.timer);
  return Math.max(stall.max, performance.now() - stall.last) / 1000;
})()"""


def write_heap_snapshot_expression(path: Path) -> str:
    return f"process.mainModule.require('v8').writeHeapSnapshot({json.dumps(str(path))})"


# -- the peers ------------------------------------------------------------------------------


def run_child(
    argv: Sequence[str], *, cwd: Path, env: dict[str, str] | None, log: Path
) -> tuple[float, int, float, str]:
    """Run a child to completion: (wall seconds, peak RSS in KiB, CPU seconds, its output).

    The child runs under ``/usr/bin/time``: Linux charges a child the peak RSS of the
    process it was forked from (``ru_maxrss`` survives fork and exec), so children forked
    straight from this big Python process would all report at least its size. Forked from
    the small ``time`` process, they report their own.
    """
    stats = log.with_suffix(".time")
    timed = [TIME, "-f", "%M %U %S", "-o", str(stats), *argv]
    with log.open("wb") as out:
        started = time.perf_counter()
        proc = subprocess.run(timed, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        elapsed = time.perf_counter() - started
    text = log.read_text(errors="replace")
    if proc.returncode != 0:
        raise BenchError(f"{argv[0]} ... exited with {proc.returncode}:\n{text[-2000:]}")
    rss, user, system = stats.read_text().split()[-3:]
    return elapsed, int(rss), float(user) + float(system), text


def run_client(
    target: Target, workdir: Path, heap: str, rnd: int, via: str = "stream"
) -> tuple[Run, Path]:
    output = workdir / f"{heap}-client-{via}-{rnd}.heapsnapshot"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    argv = [sys.executable, "-m", "cdp_heap", "snapshot", "--url", target.url, "-o", str(output)]
    argv += ["--via", via]
    seconds, rss, cpu, text = run_child(argv, cwd=workdir, env=env, log=workdir / "client.log")
    match = re.search(r"saved .* in ([\d.]+) s, ", text)
    inner = float(match.group(1)) if match else None
    peer = CLIENT if via == "stream" else CLIENT_IN_PROCESS
    run = Run(peer, heap, rnd, seconds, rss, cpu, output.stat().st_size, inner_seconds=inner)
    return run, output


def run_client_in_process(target: Target, workdir: Path, heap: str, rnd: int) -> tuple[Run, Path]:
    return run_client(target, workdir, heap, rnd, via="in-process")


def run_in_process(target: Target, workdir: Path, heap: str, rnd: int) -> tuple[Run, Path]:
    output = workdir / f"{heap}-inprocess-{rnd}.heapsnapshot"
    _, seconds = evaluate(target.url, write_heap_snapshot_expression(output))
    return Run(IN_PROCESS, heap, rnd, seconds, None, None, output.stat().st_size), output


def run_cri(target: Target, workdir: Path, heap: str, rnd: int) -> tuple[Run, Path]:
    output = workdir / f"{heap}-cri-{rnd}.heapsnapshot"
    env = dict(os.environ, NODE_PATH=str(NODE_CACHE / "node_modules"))
    argv = ["node", str(CRI_SCRIPT), target.url, str(output)]
    seconds, rss, cpu, _ = run_child(argv, cwd=workdir, env=env, log=workdir / "cri.log")
    return Run(CRI, heap, rnd, seconds, rss, cpu, output.stat().st_size), output


def run_bash(target: Target, workdir: Path, heap: str, rnd: int) -> tuple[Run, Path]:
    directory = workdir / f"{heap}-bash-{rnd}"
    directory.mkdir()
    argv = ["bash", str(GUIDE_SCRIPT), str(target.proc.pid), str(target.port)]
    seconds, rss, cpu, _ = run_child(argv, cwd=directory, env=None, log=workdir / "bash.log")
    output = directory / "out.heapsnapshot"
    dump = directory / "out"
    size, dump_size = output.stat().st_size, dump.stat().st_size
    run = Run(BASH, heap, rnd, seconds, rss, cpu, size, dump_size=dump_size)
    dump.unlink()
    return run, output


RUNNERS = {
    CLIENT: run_client,
    CLIENT_IN_PROCESS: run_client_in_process,
    IN_PROCESS: run_in_process,
    CRI: run_cri,
    BASH: run_bash,
}


# -- validation -----------------------------------------------------------------------------


def check_snapshot(path: Path, *, parse: bool) -> None:
    """Raise BenchError unless ``path`` looks like (or, with ``parse``, is) a heap snapshot."""
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(64)
        f.seek(max(0, size - 64))
        tail = f.read()
    if not head.startswith(b'{"snapshot"') or not tail.rstrip().endswith(b"}"):
        raise BenchError(f"{path} is not a heap snapshot: {head[:20]!r} ... {tail[-20:]!r}")
    if not parse:
        return
    with path.open("rb") as f:
        data = json.load(f)
    meta = data["snapshot"]["meta"]
    nodes = data["snapshot"]["node_count"] * len(meta["node_fields"])
    edges = data["snapshot"]["edge_count"] * len(meta["edge_fields"])
    if len(data["nodes"]) != nodes or len(data["edges"]) != edges:
        raise BenchError(f"{path}: node or edge arrays do not match the header's counts")


def check_sizes(result: HeapResult) -> None:
    sizes = [run.size for run in result.runs]
    reference = statistics.median(sizes)
    for run in result.runs:
        if abs(run.size - reference) > SIZE_TOLERANCE * reference:
            raise BenchError(
                f"{run.peer} round {run.round} saved {run.size} bytes at {result.label}, "
                f"more than {SIZE_TOLERANCE:.0%} away from the median {reference:.0f}"
            )


# -- reportProgress -------------------------------------------------------------------------


async def _progress_pairs(url: str, workdir: Path, pairs: int) -> list[tuple[float, float]]:
    results: list[tuple[float, float]] = []
    path = workdir / "progress.heapsnapshot"
    async with cdp_heap.open_cdp(url) as conn:
        await conn.send("HeapProfiler.enable")
        for index in range(pairs):
            times: dict[bool, float] = {}
            # Alternate which one goes first.
            for report in (False, True) if index % 2 == 0 else (True, False):
                os.sync()
                saved = await cdp_heap.save_snapshot(conn, path, report_progress=report)
                times[report] = saved.seconds
                path.unlink()
            results.append((times[False], times[True]))
    return results


# -- what a snapshot costs the target -------------------------------------------------------


async def _stream_once(url: str, path: Path) -> None:
    async with cdp_heap.open_cdp(url) as conn:
        await conn.send("HeapProfiler.enable")
        await cdp_heap.save_snapshot(conn, path)


def measure_cost(requested_mb: int, via: str, workdir: Path) -> CostResult:
    """The first snapshot of a FRESH target (its expensive one: what V8 maps for it stays
    mapped, and later snapshots mostly reuse it), streamed or written in-process."""
    target = Target(heap_mb_flag(requested_mb))
    try:
        target.wait_ready()
        used = heap_used(target.url)
        path = workdir / f"cost-{via}.heapsnapshot"
        os.sync()
        before = target.reset_peak_rss()
        if via == "stream":
            trio.run(_stream_once, target.url, path)
        else:
            evaluate(target.url, write_heap_snapshot_expression(path))
        growth = target.peak_rss() - before
        path.unlink()
    finally:
        target.close()
    result = CostResult(f"{requested_mb} MB", via, used, before, growth)
    say(
        f"   cost, fresh target, {via:<10}: heapUsed {used / MB:.0f} MB, peak +RSS "
        f"{growth / MB:.0f} MB = {result.factor:.2f}x"
    )
    return result


# -- the benchmark --------------------------------------------------------------------------


def heap_mb_flag(requested_mb: int) -> int:
    return max(1, round((requested_mb - HEAP_MB_BASE) / HEAP_MB_PER_UNIT))


def bench_heap(
    requested_mb: int,
    *,
    rounds: int,
    bash_rounds: int,
    progress_pairs: int,
    peers: Sequence[str],
    workdir: Path,
    keep: bool,
) -> HeapResult:
    label = f"{requested_mb} MB"
    flag = heap_mb_flag(requested_mb)
    say(f"\n== heap ~{label}: leaky_app.js --heap-mb {flag}")
    target = Target(flag)
    try:
        target.wait_ready()
        result = HeapResult(label, requested_mb, flag, heap_used(target.url), target.proc.pid)
        say(f"   target pid {result.target_pid}, heapUsed {result.heap_used / MB:.1f} MB")
        warmup = workdir / "warmup.heapsnapshot"
        _, result.warmup_seconds = evaluate(target.url, write_heap_snapshot_expression(warmup))
        warmup.unlink()
        say(f"   warm-up snapshot (in-process, untimed): {result.warmup_seconds:.1f} s")
        parsed: set[str] = set()
        for rnd in range(rounds):
            order = list(peers[rnd % len(peers) :]) + list(peers[: rnd % len(peers)])
            for peer in order:
                if peer == BASH and rnd >= bash_rounds:
                    continue
                os.sync()
                evaluate(target.url, STALL_START)
                rss_before = target.reset_peak_rss()
                cpu_before = target.cpu_seconds()
                run, output = RUNNERS[peer](target, workdir, f"{requested_mb}MB", rnd + 1)
                run.target_cpu_seconds = target.cpu_seconds() - cpu_before
                run.target_rss_growth = target.peak_rss() - rss_before
                run.target_pause = float(evaluate(target.url, STALL_READ)[0])
                parse = peer not in parsed and run.size <= FULL_PARSE_LIMIT
                check_snapshot(output, parse=parse)
                if parse:
                    parsed.add(peer)
                    run.parsed = True
                result.runs.append(run)
                say(
                    f"   round {rnd + 1} {peer:<24} {run.seconds:7.2f} s  "
                    f"{run.size / MB:8.1f} MB  target CPU {run.target_cpu_seconds:5.1f} s"
                    f"  pause {run.target_pause:5.1f} s  +{run.target_rss_growth / MB:.0f} MB"
                    + (f"  rss {run.max_rss_kib / 1024:.0f} MiB" if run.max_rss_kib else "")
                    + ("  (parsed, ok)" if run.parsed else "  (head/tail ok)")
                )
                if not keep:
                    if output.parent != workdir:
                        shutil.rmtree(output.parent)
                    else:
                        output.unlink()
        check_sizes(result)
        if progress_pairs:
            say(f"   reportProgress: {progress_pairs} pair(s) of save_snapshot without/with")
            result.progress_pairs = trio.run(_progress_pairs, target.url, workdir, progress_pairs)
            for without, with_ in result.progress_pairs:
                say(f"   without {without:6.2f} s   with {with_:6.2f} s")
        return result
    finally:
        target.close()


def say(text: str) -> None:
    print(text, flush=True)


def median_of(result: HeapResult, peer: str) -> float | None:
    times = [run.seconds for run in result.runs if run.peer == peer]
    return statistics.median(times) if times else None


def estimate_bash(results: list[HeapResult]) -> None:
    """Where bash did not run, scale its measured seconds per byte to the client's size."""
    measured = [run for r in results for run in r.runs if run.peer == BASH]
    if not measured:
        return
    seconds_per_byte = statistics.median(run.seconds / run.size for run in measured)
    for result in results:
        if not any(run.peer == BASH for run in result.runs):
            sizes = [run.size for run in result.runs if run.peer == CLIENT]
            if sizes:
                result.bash_estimate = seconds_per_byte * statistics.median(sizes)


def print_report(
    results: list[HeapResult], costs: list[CostResult], args: argparse.Namespace
) -> bool:
    say("\n" + machine_line())
    header = (
        f"{'heap':<18} {'peer':<24} {'runs':>4} {'median s':>9} {'range s':>15} "
        f"{'cdp-heap/peer':>13} {'peak RSS':>9} {'CPU s':>6} {'target CPU s':>12} "
        f"{'snapshot':>9}"
    )
    say(header)
    say("-" * len(header))
    ok = True
    for result in results:
        heap = f"{result.label} ({result.heap_used / MB:.0f})"
        client = median_of(result, CLIENT)
        for peer in PEERS:
            runs = [run for run in result.runs if run.peer == peer]
            if not runs:
                if peer == BASH and result.bash_estimate is not None and client is not None:
                    ratio = client / result.bash_estimate
                    say(
                        f"{heap:<18} {peer + ' est.':<24} {0:>4} {result.bash_estimate:>9.1f} "
                        f"{'(not run)':>15} {ratio:>12.3f}x"
                    )
                continue
            times = [run.seconds for run in runs]
            median = statistics.median(times)
            rss = [run.max_rss_kib for run in runs if run.max_rss_kib is not None]
            rss_text = f"{max(rss) * 1024 / MB:.0f} MB" if rss else "(target)"
            cpu = [run.cpu_seconds for run in runs if run.cpu_seconds is not None]
            cpu_text = f"{statistics.median(cpu):.1f}" if cpu else "-"
            ratio_text = f"{client / median:12.3f}x" if client is not None else f"{'':>13}"
            size = statistics.median(run.size for run in runs)
            say(
                f"{heap:<18} {peer:<24} {len(runs):>4} {median:>9.2f} "
                f"{min(times):>7.2f}-{max(times):<7.2f} {ratio_text} {rss_text:>9} {cpu_text:>6} "
                f"{statistics.median(run.target_cpu_seconds for run in runs):>12.1f} "
                f"{size / MB:>6.1f} MB"
            )
        inner = [run.inner_seconds for run in result.runs if run.peer == CLIENT]
        if inner and all(value is not None for value in inner):
            say(
                f"{'':<18} (cdp-heap's own 'saved in' time, without interpreter start-up: "
                f"median {statistics.median(v for v in inner if v is not None):.2f} s)"
            )
        dumps = [run.dump_size for run in result.runs if run.dump_size]
        if dumps:
            say(f"{'':<18} (bash also wrote a {max(dumps) / MB:.0f} MB protocol dump to ./out)")
    say("")
    say(
        f"{'what the target felt':<18} {'peer':<24} {'pause s':>9} {'peak +RSS':>10} "
        f"{'/heapUsed':>9}"
    )
    for result in results:
        for peer in PEERS:
            runs = [run for run in result.runs if run.peer == peer]
            if runs:
                pause = statistics.median(run.target_pause for run in runs)
                growth = statistics.median(run.target_rss_growth for run in runs)
                say(
                    f"{result.label:<18} {peer:<24} {pause:>9.2f} {growth / MB:>7.0f} MB "
                    f"{growth / result.heap_used:>8.2f}x"
                )
    say("pause = the longest the target's event loop stood still during the capture (a 5 ms")
    say("timer's longest gap); peak +RSS = how far the target's resident size rose above its")
    say("size before the capture (V8 builds the snapshot in the target's memory). Medians.")
    say("heap = requested size (measured heapUsed in MB); times are medians of wall seconds;")
    say("cdp-heap/peer < 1 means cdp-heap is faster; peak RSS is the client process's ru_maxrss")
    say("(bash: its largest process: websocat, jq, ...; in-process has no client process);")
    say("CPU s = median user+system seconds of the client and its children; target CPU s =")
    say("median CPU seconds the node target (all threads) used during the capture.")
    if any(r.bash_estimate is not None for r in results):
        say(
            "bash est.: not run at this size (it takes many minutes; --bash-rounds-large N runs "
            "it): its measured seconds per byte at the small size times this snapshot size."
        )

    if any(result.progress_pairs for result in results):
        say("\nreportProgress: true (V8's extra heap pass), save_snapshot on one connection:")
    for result in results:
        if result.progress_pairs:
            without = statistics.median(p[0] for p in result.progress_pairs)
            with_ = statistics.median(p[1] for p in result.progress_pairs)
            say(
                f"  {result.label}: without {without:.2f} s, with {with_:.2f} s, "
                f"with/without = {with_ / without:.3f} ({len(result.progress_pairs)} pair(s))"
            )

    if costs:
        say("\nWhat a snapshot costs the target: its FIRST snapshot, a fresh process per row")
        say(f"{'heap':<18} {'via':<12} {'heapUsed':>9} {'RSS before':>11} {'peak +RSS':>10} "
            f"{'factor':>7}")  # fmt: skip
        for cost in costs:
            say(
                f"{cost.label:<18} {cost.via:<12} {cost.heap_used / MB:>6.0f} MB "
                f"{cost.rss_before / MB:>8.0f} MB {cost.growth / MB:>7.0f} MB "
                f"{cost.factor:>6.2f}x"
            )
        say("factor = peak +RSS / heapUsed: what cdp_heap.COST_FACTORS holds (the pre-flight's")
        say("estimate). Later snapshots of the same process cost less: the /heapUsed column above.")

    say("\nTargets (issues 2 and 15):")
    for result in results:
        for ours, theirs, what, limit in TARGETS:
            mine, other = metric_of(result, ours, what), metric_of(result, theirs, what)
            estimated = False
            if other is None and theirs == BASH and result.bash_estimate is not None:
                other, estimated = result.bash_estimate, True
            if mine is None or other is None:
                continue
            ratio = mine / other
            passed = ratio <= limit
            ok &= passed
            extra = "" if estimated or what != "seconds" else per_round_ratios(result, ours, theirs)
            if theirs == BASH:
                wanted, got = f">= {1 / limit:.0f}x faster", f"{1 / ratio:.1f}x faster"
            else:
                wanted, got = f"<= {limit:.2f}x its {what}", f"{ratio:.3f}x"
            say(
                f"  {result.label}: {ours} vs {theirs:<24} {wanted:<20} got {got:<14}"
                f"{'PASS' if passed else 'FAIL'}{' (estimated)' if estimated else ''}{extra}"
            )
        for client in CLIENTS:
            rss = [run.max_rss_kib for run in result.runs if run.peer == client and run.max_rss_kib]
            if rss:
                peak = max(rss) * 1024
                passed = peak < RSS_TARGET
                ok &= passed
                say(
                    f"  {result.label}: {client} peak RSS < {RSS_TARGET / MB:.0f} MB"
                    f"{'':<18} got {peak / MB:.0f} MB{'':<8}{'PASS' if passed else 'FAIL'}"
                )
    return ok


def metric_of(result: HeapResult, peer: str, what: str) -> float | None:
    """The median of ``what`` ("seconds" or "pause") over ``peer``'s runs."""
    runs = [run for run in result.runs if run.peer == peer]
    if not runs:
        return None
    return statistics.median(run.seconds if what == "seconds" else run.target_pause for run in runs)


def per_round_ratios(result: HeapResult, ours: str, peer: str) -> str:
    """ours / peer in each round where both ran, and the ratio of the best times."""
    rounds: dict[int, dict[str, float]] = {}
    for run in result.runs:
        rounds.setdefault(run.round, {})[run.peer] = run.seconds
    ratios = [r[ours] / r[peer] for r in rounds.values() if ours in r and peer in r]
    client_best = min(run.seconds for run in result.runs if run.peer == ours)
    peer_best = min(run.seconds for run in result.runs if run.peer == peer)
    if len(ratios) < 2:
        return f"  [best-of ratio {client_best / peer_best:.3f}]"
    return (
        f"  [per round: {', '.join(f'{r:.2f}' for r in ratios)}; "
        f"best-of ratio {client_best / peer_best:.3f}]"
    )


def machine_line() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    load = " / ".join(f"{value:.2f}" for value in os.getloadavg())
    return (
        f"load average now {load} (other work on the machine inflates wall times)\n"
        f"machine: {os.cpu_count()} cores ({cpu}), {memory:.0f} GiB RAM, "
        f"Linux {platform.release()}; node {node}, Python {platform.python_version()}, "
        f"trio {trio.__version__}"
    )


# -- set-up ---------------------------------------------------------------------------------


def ensure_tools(peers: Sequence[str]) -> None:
    needed = ["node"]
    if CRI in peers:
        needed.append("npm")
    if BASH in peers:
        needed += ["websocat", "jq", "curl", "bash"]
    missing = [tool for tool in [*needed, TIME] if shutil.which(tool) is None]
    if missing:
        raise BenchError(f"missing tools: {', '.join(missing)} (see docs/benchmarks.md)")
    if CRI in peers and not (NODE_CACHE / "node_modules" / "chrome-remote-interface").is_dir():
        say(f"installing chrome-remote-interface@{CRI_VERSION} into {NODE_CACHE}")
        NODE_CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "npm",
                "install",
                "--no-save",
                "--prefix",
                str(NODE_CACHE),
                f"chrome-remote-interface@{CRI_VERSION}",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog="See the module docstring and docs/benchmarks.md.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="only ~100 MB, 1 round, 1 progress pair"
    )
    parser.add_argument(
        "--sizes", default="100,500", help="heap sizes in MB, comma-separated (default 100,500)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds per size (default 3)")
    parser.add_argument(
        "--bash-rounds", type=int, default=1, help="rounds of the bash script at the first size"
    )
    parser.add_argument(
        "--bash-rounds-large",
        type=int,
        default=0,
        help="rounds of the bash script at the other sizes (default 0: estimated; one round at "
        "500 MB takes ~13 min)",
    )
    parser.add_argument(
        "--progress-pairs",
        default="3,1",
        help="reportProgress without/with pairs per size, comma-separated (default 3,1)",
    )
    parser.add_argument(
        "--peers", default=",".join(PEERS), help=f"comma-separated subset of: {', '.join(PEERS)}"
    )
    parser.add_argument(
        "--no-cost",
        action="store_true",
        help="skip the cost measurement (a fresh target per size and path, one snapshot)",
    )
    parser.add_argument("--workdir", type=Path, help="where snapshots go (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the snapshot files")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write results as JSON")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.rounds, args.progress_pairs = "100", 1, "1"
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = [int(size) for size in args.sizes.split(",")]
    pairs = [int(n) for n in args.progress_pairs.split(",")]
    pairs += [pairs[-1]] * (len(sizes) - len(pairs))
    peers = [peer.strip() for peer in args.peers.split(",")]
    unknown = set(peers) - set(PEERS)
    if unknown:
        raise SystemExit(f"unknown peers: {', '.join(sorted(unknown))}")
    ensure_tools(peers)
    started = time.monotonic()
    say(f"bench_capture: sizes {sizes} MB, {args.rounds} round(s), peers: {', '.join(peers)}")
    say("load average at start: " + " / ".join(f"{value:.2f}" for value in os.getloadavg()))
    say(
        f"bash script: {args.bash_rounds} round(s) at {sizes[0]} MB, "
        f"{args.bash_rounds_large} at larger sizes"
    )
    results: list[HeapResult] = []
    costs: list[CostResult] = []
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="cdp-heap-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        for index, size in enumerate(sizes):
            results.append(
                bench_heap(
                    size,
                    rounds=args.rounds,
                    bash_rounds=args.bash_rounds if index == 0 else args.bash_rounds_large,
                    progress_pairs=pairs[index],
                    peers=peers,
                    workdir=workdir,
                    keep=args.keep,
                )
            )
            if not args.no_cost:
                costs += [measure_cost(size, via, workdir) for via in ("stream", "in-process")]
    finally:
        if args.workdir is None and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    estimate_bash(results)
    ok = print_report(results, costs, args)
    say(f"\ntotal benchmark time: {(time.monotonic() - started) / 60:.1f} min")
    if args.json:
        document = {
            "results": [asdict(r) for r in results],
            "costs": [{**asdict(c), "factor": c.factor} for c in costs],
        }
        args.json.write_text(json.dumps(document, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"bench_capture: error: {exc}", file=sys.stderr)
        sys.exit(1)
