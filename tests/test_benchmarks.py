"""The benchmark scripts still run, at toy sizes (their numbers are measured by hand: see
docs/benchmarks.md). A benchmark that silently broke would only be found on the day its
numbers are needed; two did break that way (a ready line that moved to stderr, an npm
install that landed in another directory)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.analysis import builder
from tests.targets import ROOT


def bench(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / script), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.skipif(
    shutil.which("/usr/bin/time") is None, reason="GNU time measures the clients' peak RSS"
)
def test_bench_capture_runs_its_peers_and_measures_the_target() -> None:
    done = bench(
        "bench_capture.py", "--sizes", "10", "--rounds", "1", "--progress-pairs", "0",
        "--peers", "cdp-heap,cdp-heap:in-process,in-process",
    )  # fmt: skip
    # Exit 1 means "a target missed", expected at 10 MB where start-up dominates.
    assert done.returncode in (0, 1), done.stdout + done.stderr
    # The results table: "10 MB (10)  PEER  RUNS  MEDIAN ...", one row per peer.
    rows = [line.split() for line in done.stdout.splitlines()]
    peers = {row[3] for row in rows if row[:2] == ["10", "MB"] and row[2].startswith("(")}
    assert peers == {"cdp-heap", "cdp-heap:in-process", "in-process"}, done.stdout
    assert "what the target felt" in done.stdout
    assert "cdp-heap peak RSS" in done.stdout and "vs in-process" in done.stdout
    # The cost factor of a fresh target's first snapshot, per path (its own table).
    table = done.stdout.partition("What a snapshot costs the target")[2].splitlines()
    costs = [line.split() for line in table if line.startswith("10 MB")]
    assert {row[2] for row in costs} == {"stream", "in-process"}, done.stdout
    assert all(row[-1].endswith("x") and float(row[-1][:-1]) > 0 for row in costs)


def test_bench_proxy_compares_direct_and_proxied() -> None:
    done = bench("bench_proxy.py", "--heap-mb", "1", "--rounds", "1", "--calls", "5")
    assert done.returncode == 0, done.stdout + done.stderr
    for row in ("paired ratio", "1 client(s), p50", "50 client(s), p99", "peak RSS"):
        assert row in done.stdout
    # Every peer is a column of the table or says why not (a missing one must not fail).
    header = done.stdout.partition("measure ")[2].partition("\n")[0].split()
    assert "direct" in header and "cdp-heap" in header, done.stdout
    for peer in ("socat", "inspector-proxy", "vscode-cdp-proxy"):
        assert peer in header or f"{peer}: not installed" in done.stdout, done.stdout
    assert "relay CPU per round trip" in done.stdout and "load average" in done.stdout
    # The snapshot rows: the target's own CPU, and every round's ratio (the spread).
    # (a value under direct and one under cdp-heap, the first two columns)
    assert re.search(r"target CPU per snapshot \(median\) +\d+\.\d\d s +\d+\.\d\d s", done.stdout)
    assert "paired ratio of each round: cdp-heap " in done.stdout, done.stdout


def test_bench_proxy_only_latency_runs_the_one_client_rows() -> None:
    peers = ("--peers", "cdp-heap,trio-relay")  # trio-relay: the bare relay, on request
    # This checkout as its own baseline: the A/B column's mechanics, not a second build.
    baseline = ("--baseline", str(ROOT))
    done = bench(
        "bench_proxy.py", "--heap-mb", "1", "--calls", "20", "--only", "latency", *peers, *baseline
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {line.strip().partition("  ")[0]: line for line in done.stdout.splitlines()}
    assert "evaluate 1+1, 1 client(s), p50" in rows, done.stdout
    header = done.stdout.partition("measure ")[2].partition("\n")[0].split()
    relays = ["cdp-heap", "trio-relay", "cdp-heap:baseline"]
    assert [h for h in header if h not in ("vs", "direct")] == relays
    cpu = rows["relay CPU per round trip"].split()  # one figure per relay
    assert cpu[-6:] == [cpu[-6], "us", cpu[-4], "us", cpu[-2], "us"], cpu
    assert all(int(figure) > 0 for figure in cpu[-6::2])
    assert f"cdp-heap:baseline: cdp-heap proxy of {ROOT}" in done.stdout
    assert "1 client p50: minus direct" in rows and "... median of paired passes" in rows
    assert "20 client(s)" not in done.stdout and "snapshot" not in done.stdout


def test_bench_proxy_only_clients_runs_the_many_client_rows() -> None:
    done = bench(
        "bench_proxy.py", "--heap-mb", "1", "--calls", "5", "--trip-rounds", "1",
        "--only", "clients", "--peers", "cdp-heap",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    rows = [line.strip().partition("  ")[0] for line in done.stdout.splitlines()]
    for clients in (20, 50):
        for label in ("p50", "p99", "round trips/s"):
            row = rows.index(f"evaluate 1+1, {clients} client(s), {label}")
            # Each measure, then its paired ratio: one pass, so the pass's own ratio.
            assert rows[row + 1] == "paired ratio vs direct (median of passes)", done.stdout
        each = f"paired ratio of each pass, {clients} client(s), p99: cdp-heap "
        line = next(line for line in done.stdout.splitlines() if line.startswith(each))
        assert float(line.removeprefix(each)) > 0, line
    assert rows.count("relay CPU per round trip") == 2, done.stdout
    assert "1 client(s)" not in done.stdout and "minus direct" not in done.stdout
    assert "Debugger" not in done.stdout and "snapshot" not in done.stdout


def test_bench_proxy_only_snapshot_runs_the_snapshot_rows() -> None:
    done = bench(
        "bench_proxy.py", "--heap-mb", "1", "--rounds", "2", "--only", "snapshot",
        "--peers", "cdp-heap",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    rows = [line.strip().partition("  ")[0] for line in done.stdout.splitlines()]
    assert "paired ratio vs direct (median of rounds)" in rows, done.stdout
    assert "relay CPU per 200 MB of snapshot" in rows
    each = next(
        line for line in done.stdout.splitlines() if line.startswith("paired ratio of each round")
    )
    assert len(each.removeprefix("paired ratio of each round: cdp-heap ").split(", ")) == 2, each
    assert "client(s)" not in done.stdout and "Debugger" not in done.stdout
    assert "peak RSS, 50 clients" not in done.stdout


def test_bench_proxy_only_snapshot_refuses_no_snapshot() -> None:
    done = bench("bench_proxy.py", "--only", "snapshot", "--no-snapshot")
    assert done.returncode != 0
    assert "--only snapshot and --no-snapshot leave nothing to measure" in done.stderr


def test_bench_profiling_times_every_way() -> None:
    done = bench("bench_profiling.py", "--rounds", "1", "--records", "20000")
    assert done.returncode == 0, done.stdout + done.stderr
    for row in ("nothing", "interval 32768 B", "--include-collected", "tracking with stacks"):
        assert row in done.stdout
    assert "samples" in done.stdout and "snapshot" in done.stdout


def test_bench_imports_measures_each_command(tmp_path: Path) -> None:
    nodes = [builder.Node("synthetic", "(root)", 1, 0), builder.Node("object", "A", 3, 16)]
    base = builder.write(tmp_path / "a.heapsnapshot", nodes)
    target = builder.write(tmp_path / "b.heapsnapshot", nodes)
    done = bench("bench_imports.py", "--rounds", "1", str(base), str(target))
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {line[2:20].strip(): line[20:].split() for line in done.stdout.splitlines()[2:]}
    assert set(rows) == {"--help", "snapshot --help", "diff A B"}, done.stdout
    # import ms, modules, trio, numpy: --help loads neither; diff needs numpy.
    assert rows["--help"][2:] == ["no", "no"] and rows["diff A B"][3] == "yes", done.stdout


def test_bench_proxy_refuses_a_baseline_that_is_no_checkout(tmp_path: Path) -> None:
    done = bench("bench_proxy.py", "--only", "latency", "--baseline", str(tmp_path))
    assert done.returncode != 0
    assert f"--baseline {tmp_path}: no cdp_heap/__init__.py there" in done.stderr
