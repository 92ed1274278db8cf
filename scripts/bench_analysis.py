#!/usr/bin/env python3
"""Benchmark snapshot analysis: cdp-heap vs DevTools' own worker vs memlab vs json.load.

    python scripts/bench_analysis.py                    # ~120 MB trio and a ~1 GB snapshot
    python scripts/bench_analysis.py --skip-big         # only the ~120 MB ones
    python scripts/bench_analysis.py --work-dir DIR --memlab-dir DIR
    python scripts/bench_analysis.py --baseline DIR     # also time an older checkout ("before")

It generates the snapshots once with Node (``v8.writeHeapSnapshot`` of a heap of small
``Item`` objects, growing by ``Session`` objects between snapshots; they are not committed),
installs memlab with npm into ``--memlab-dir`` if it is not there (never into the repo),
fetches Chrome DevTools' heap snapshot worker from the Debian Chromium (as the tests do: it
is run in Node on the same files, the way the Memory panel runs it), then runs every
contender in its own process under ``/usr/bin/time`` and prints wall time, peak RSS (of the
process and its children) and ratios. A run that fails or times out is reported as such,
with the last line it printed.

The Summary contenders are ``cdp-heap summary`` (DevTools' Summary: owned sizes, essential
edges, distances, dominators, class retained sizes), DevTools' worker building its Summary
(``aggregatesWithFilter``), and ``memlab analyze object-size`` (memlab's nearest: the
largest objects by retained size, which needs the same dominator tree).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import attrs

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.analysis.devtools_worker import fetch_worker  # noqa: E402 (after the path)

GENERATOR = r"""
// node big.js OUT_DIR RECORDS SNAPSHOTS: a heap of RECORDS Items, then SNAPSHOTS snapshots,
// RECORDS/20 more Sessions kept after each one.
const v8 = require('v8');
const path = require('path');
const [outDir, recordsText, countText] = process.argv.slice(2);
const records = Number(recordsText), count = Number(countText);
class Item { constructor(i) { this.id = i; this.name = 'item-' + i; this.tags = [i & 7, i & 3]; } }
class Session { constructor(i) { this.user = 'user-' + i; this.started = i; } }
globalThis.items = [];
for (let i = 0; i < records; i++) items.push(new Item(i));
globalThis.sessions = [];
for (let s = 1; s <= count; s++) {
  v8.writeHeapSnapshot(path.join(outDir, `s${s}.heapsnapshot`));
  for (let i = 0; i < Math.floor(records / 20); i++) sessions.push(new Session(s * records + i));
}
"""


@attrs.frozen
class Result:
    label: str
    seconds: float
    peak_mib: float
    status: str


def generate(directory: Path, records: int, count: int) -> list[Path]:
    paths = [directory / f"s{i}.heapsnapshot" for i in range(1, count + 1)]
    if all(p.exists() for p in paths):
        return paths
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / "generate.js"
    script.write_text(GENERATOR)
    print(f"generating {count} snapshot(s) of {records} records in {directory} ...", flush=True)
    subprocess.run(
        [
            "node",
            "--max-old-space-size=16000",
            str(script),
            str(directory),
            str(records),
            str(count),
        ],
        check=True,
    )
    return paths


def ensure_memlab(directory: Path) -> Path:
    binary = directory / "node_modules" / ".bin" / "memlab"
    if not binary.exists():
        directory.mkdir(parents=True, exist_ok=True)
        print(f"installing memlab into {directory} ...", flush=True)
        env = dict(os.environ, PUPPETEER_SKIP_DOWNLOAD="1")
        # --prefix: without it npm installs into the nearest parent that has a package.json
        # or node_modules (bench_capture.py's cache is the parent of the default directory).
        subprocess.run(
            ["npm", "install", "--prefix", str(directory), "--no-audit", "--no-fund", "memlab"],
            cwd=directory,
            check=True,
            env=env,
            stdout=subprocess.DEVNULL,
        )
        if not binary.exists():
            raise SystemExit(f"npm did not install memlab at {binary}")
    return binary


def ensure_devtools(directory: Path) -> Path | None:
    """DevTools' worker from the Debian Chromium (its remote-debugging server serves the
    frontend), cached in ``directory``; None without Chromium."""
    entry = directory / "entrypoints" / "heap_snapshot_worker" / "heap_snapshot_worker.js"
    if entry.exists() and (directory / "driver.mjs").exists():
        return entry
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("no chromium: DevTools' worker is not measured", flush=True)
        return None
    with tempfile.TemporaryDirectory(prefix="bench-chromium-") as profile:
        argv = [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--remote-debugging-port=0",
            "about:blank",
        ]
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            active = Path(profile) / "DevToolsActivePort"
            deadline = time.monotonic() + 60
            while not (active.exists() and active.read_text().count("\n") >= 1):
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit("chromium did not start its remote-debugging server")
                time.sleep(0.1)  # polling a file Chromium writes; no event to wait on
            port = int(active.read_text().split()[0])
            directory.mkdir(parents=True, exist_ok=True)
            return fetch_worker(port, directory)
        finally:
            proc.terminate()
            proc.wait()


def measure(
    label: str,
    argv: list[str],
    timeout: float,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Result:
    """Run argv under /usr/bin/time: wall seconds and max RSS of it and its children."""
    with (
        tempfile.NamedTemporaryFile("r", suffix=".time") as stats,
        tempfile.TemporaryFile("w+") as output,
    ):
        start = time.monotonic()
        try:
            proc = subprocess.run(
                ["/usr/bin/time", "-f", "%e %M", "-o", stats.name, *argv],
                stdout=subprocess.DEVNULL,
                stderr=output,
                timeout=timeout,
                env=None if env is None else dict(os.environ, **env),
                cwd=cwd,
            )
        except subprocess.TimeoutExpired:
            return Result(
                label, time.monotonic() - start, float("nan"), f"timed out after {timeout:.0f} s"
            )
        fields = stats.read().split()
        seconds = float(fields[-2]) if len(fields) >= 2 else time.monotonic() - start
        peak = int(fields[-1]) / 1024 if len(fields) >= 2 else float("nan")
        status = "ok"
        if proc.returncode != 0:
            output.seek(0)
            lines = [line.strip() for line in output.read().splitlines() if line.strip()]
            last = next((line for line in reversed(lines) if "exited" not in line), "")
            status = f"FAILED (exit {proc.returncode}): {last[:110]}"
        result = Result(label, seconds, peak, status)
    print(
        f"  {label}: {result.seconds:.1f} s, {result.peak_mib:.0f} MiB, {result.status}", flush=True
    )
    return result


def table(title: str, results: list[Result], files: list[Path], reference: str | None) -> str:
    largest = max(p.stat().st_size for p in files) / 2**20
    ref = next((r for r in results if r.label == reference and r.status == "ok"), None)
    lines = [
        f"{title} (largest file {largest:.0f} MiB)",
        f"{'contender':<46} {'wall s':>8} {'peak MiB':>9} {'RSS/file':>9} {'vs memlab':>9}  status",
    ]
    for r in results:
        versus = f"{r.seconds / ref.seconds:.2f}x" if ref and r is not ref else ""
        lines.append(
            f"{r.label:<46} {r.seconds:>8.1f} {r.peak_mib:>9.0f} {r.peak_mib / largest:>8.2f}x "
            f"{versus:>9}  {r.status}"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cdp-heap-bench"
    parser.add_argument("--work-dir", type=Path, default=cache / "snapshots")
    parser.add_argument("--memlab-dir", type=Path, default=cache / "memlab")
    parser.add_argument("--devtools-dir", type=Path, default=cache / "devtools")
    parser.add_argument("--mid-records", type=int, default=390_000, help="~120 MB snapshots")
    parser.add_argument("--big-records", type=int, default=3_400_000, help="~1 GB snapshot")
    parser.add_argument("--skip-big", action="store_true")
    parser.add_argument("--timeout", type=float, default=1800, help="per run, seconds")
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="DIR",
        help="an older cdp-heap source tree (e.g. 'git worktree add DIR REV --detach') whose "
        "summary, diff and leak are timed too, as 'before'",
    )
    args = parser.parse_args()
    if shutil.which("node") is None or not Path("/usr/bin/time").exists():
        sys.exit("needs node and /usr/bin/time (apt-get install time)")
    memlab = ensure_memlab(args.memlab_dir)
    devtools = ensure_devtools(args.devtools_dir)
    driver = (
        [] if devtools is None else ["node", str(args.devtools_dir / "driver.mjs"), str(devtools)]
    )
    python = sys.executable
    cdp_heap = [python, "-m", "cdp_heap"]
    # memlab gets a heap as big as the machine allows, to give it its best chance.
    memlab_env = {"NODE_OPTIONS": "--max-old-space-size=20000"}
    reports = []

    def find_leaks(label: str, files: list[Path], *options: str) -> Result:
        """memlab's leak hunt on three snapshots (its work directory: a temporary one)."""
        with tempfile.TemporaryDirectory() as work:
            baseline, target, final = map(str, files)
            argv = [str(memlab), "find-leaks", *options, "--baseline", baseline]
            argv += ["--target", target, "--final", final, "--work-dir", work]
            return measure(label, argv, args.timeout, memlab_env)

    def paired(label: str, argv: list[str]) -> list[Result]:
        """cdp-heap, then (with --baseline) the older checkout on the same command."""
        rows = [measure(label, argv, args.timeout)]
        if args.baseline:
            older = measure(f"before: {label}", argv, args.timeout, cwd=args.baseline.resolve())
            rows.append(older)
        return rows

    mid = generate(args.work_dir / "mid", args.mid_records, 3)
    print(f"~120 MB: {', '.join(f'{p.name} {p.stat().st_size >> 20} MiB' for p in mid)}")
    results = [
        measure(
            "json.load(s1)",
            [python, "-c", "import json,sys; json.load(open(sys.argv[1]))", str(mid[0])],
            args.timeout,
        ),
        *paired("cdp-heap summary s1 --json", [*cdp_heap, "summary", str(mid[0]), "--json"]),
        *(
            [measure("DevTools worker: Summary s1", [*driver, str(mid[0])], args.timeout)]
            if driver
            else []
        ),
        measure(
            "memlab analyze object-size s1",
            [str(memlab), "analyze", "object-size", "--snapshot", str(mid[0])],
            args.timeout,
            memlab_env,
        ),
        *paired("cdp-heap diff s1 s2 (table)", [*cdp_heap, "diff", str(mid[0]), str(mid[1])]),
        *paired(
            "cdp-heap diff s1 s2 --json", [*cdp_heap, "diff", str(mid[0]), str(mid[1]), "--json"]
        ),
        *(
            [
                measure(
                    "DevTools worker: Comparison s1 s2",
                    [*driver, str(mid[0]), str(mid[1])],
                    args.timeout,
                )
            ]
            if driver
            else []
        ),
        *paired(
            "cdp-heap leak --files s1 s2 s3 (routes, growth)",
            [*cdp_heap, "leak", "--files", *map(str, mid)],
        ),
        measure(
            "cdp-heap leak --files s1 s2 s3 --raw-sizes",
            [*cdp_heap, "leak", "--files", *map(str, mid), "--raw-sizes"],
            args.timeout,
        ),
        measure(
            "cdp-heap leak --files s1 s2 s3 --no-retained",
            [*cdp_heap, "leak", "--files", *map(str, mid), "--no-retained"],
            args.timeout,
        ),
        find_leaks("memlab find-leaks s1 s2 s3", mid),
        # Every leaked object's retainer trace, clustered: what cdp-heap's routes show.
        find_leaks("memlab find-leaks --trace-all-objects", mid, "--trace-all-objects"),
    ]
    reports.append(table("~120 MB snapshots", results, mid, "memlab find-leaks s1 s2 s3"))

    if not args.skip_big:
        (big,) = generate(args.work_dir / "big", args.big_records, 1)
        print(f"~1 GB: {big.name} {big.stat().st_size >> 20} MiB")
        results = [
            measure(
                "json.load(big)",
                [python, "-c", "import json,sys; json.load(open(sys.argv[1]))", str(big)],
                args.timeout,
            ),
            measure(
                "cdp-heap summary big --json",
                [*cdp_heap, "summary", str(big), "--json"],
                args.timeout,
            ),
            *(
                [measure("DevTools worker: Summary big", [*driver, str(big)], args.timeout)]
                if driver
                else []
            ),
            *paired("cdp-heap diff big big (table)", [*cdp_heap, "diff", str(big), str(big)]),
            measure(
                "cdp-heap diff big big --json",
                [*cdp_heap, "diff", str(big), str(big), "--json"],
                args.timeout,
            ),
            find_leaks("memlab find-leaks big big big", [big, big, big]),
        ]
        reports.append(table("~1 GB snapshot", results, [big], "memlab find-leaks big big big"))
        # Three ~1 GB snapshots of one process, for the leak set (the graph of the last).
        triple = generate(args.work_dir / "big3", args.big_records, 3)
        print(f"~1 GB x3: {', '.join(f'{p.name} {p.stat().st_size >> 20} MiB' for p in triple)}")
        results = [
            *paired(
                "cdp-heap leak --files b1 b2 b3 (routes, growth)",
                [*cdp_heap, "leak", "--files", *map(str, triple)],
            ),
            find_leaks("memlab find-leaks b1 b2 b3", triple),
        ]
        reports.append(table("~1 GB snapshots x3", results, triple, "memlab find-leaks b1 b2 b3"))

    print()
    print("\n\n".join(reports))
    return 0


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
