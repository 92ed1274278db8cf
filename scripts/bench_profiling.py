#!/usr/bin/env python3
"""What sampling and allocation tracking cost a target, side by side in one run.

    python scripts/bench_profiling.py [--rounds 5] [--records 1000000]

Starts one ``node --inspect`` with a loop that does nothing but allocate small records
(``{id, name, tags: [..]}``, one in a hundred kept, the rest garbage at once): the worst
case for both profilers, since a real service spends most of its time doing something
else. Then, round after round, it times that loop in the target (``performance.now()``
around it, through ``Runtime.evaluate``) under each way of watching it:

- nothing (the baseline);
- the sampling heap profiler at several intervals, with and without objects the garbage
  collector already freed (``--include-collected``);
- allocation tracking with and without allocation stacks (``cdp-heap track`` and
  ``--no-stacks``).

Every way runs once per round, in an order shuffled from round to round, so drift of the
machine hits them all alike; under each way one untimed loop runs first (what the previous
way left behind, a snapshot or a profile's stop, makes V8 re-optimise for a while), then the
timed one. The slowdown is each way's median over the baseline's.
It also prints what each way produced: the profile's size and sample count, or the size
of the tracking snapshot. Nothing is written into the repository.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import attrs
import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import cdp_heap  # noqa: E402

WORKLOAD = """
globalThis.allocate = (records) => {
  const started = performance.now();
  const kept = [];
  for (let i = 0; i < records; i++) {
    const record = {id: i, name: 'record-' + i, tags: [i & 7, i & 3]};
    if (i % 100 === 0) kept.push(record);
  }
  globalThis.kept = kept;
  return performance.now() - started;
};
setInterval(() => {}, 1 << 30);
console.error('workload ready');
"""
LISTENING = re.compile(rb"Debugger listening on (ws://\S+)")


@attrs.define
class Way:
    """One way of watching the loop: a context manager around it, and what it produced."""

    label: str
    watch: Callable[[cdp_heap.CDPConnection, Path], AbstractAsyncContextManager[list[str]]]
    times: list[float] = attrs.Factory(list)
    output: str = ""


@asynccontextmanager
async def nothing(conn: cdp_heap.CDPConnection, workdir: Path) -> AsyncIterator[list[str]]:
    yield []


def sampling(interval: int, include_collected: bool) -> Way:
    @asynccontextmanager
    async def watch(conn: cdp_heap.CDPConnection, workdir: Path) -> AsyncIterator[list[str]]:
        produced: list[str] = []
        async with cdp_heap.open_sampling(
            conn, interval=interval, include_collected=include_collected
        ) as sampler:
            yield produced
        profile = sampler.profile
        assert profile is not None
        saved = await cdp_heap.save_profile(profile, workdir / "p.heapprofile")
        produced.append(f"{size(saved.size)} profile, {len(profile.samples):,} samples")

    extra = ", --include-collected" if include_collected else ""
    return Way(f"sampling, interval {interval} B{extra}", watch)


def tracking(stacks: bool) -> Way:
    @asynccontextmanager
    async def watch(conn: cdp_heap.CDPConnection, workdir: Path) -> AsyncIterator[list[str]]:
        produced: list[str] = []
        async with cdp_heap.open_tracking(conn, track_allocations=stacks) as tracker:
            yield produced
            saved = await tracker.save_snapshot(workdir / "t.heapsnapshot")
        produced.append(f"{size(saved.size)} snapshot")

    return Way("tracking with stacks" if stacks else "tracking without stacks", watch)


def size(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1000:
            return f"{count:.0f} {unit}"
        count /= 1000
    return f"{count:.0f} TB"


async def loop_ms(conn: cdp_heap.CDPConnection, records: int) -> float:
    reply = await conn.send(
        "Runtime.evaluate", {"expression": f"allocate({records})", "returnByValue": True}
    )
    if "exceptionDetails" in reply:
        raise SystemExit(f"the workload failed: {reply['exceptionDetails']}")
    return float(reply["result"]["value"])


async def bench(url: str, ways: list[Way], rounds: int, records: int, workdir: Path) -> None:
    async with cdp_heap.open_cdp(url) as conn:
        for _ in range(3):  # warm up: let V8 optimise the loop before anything is timed
            await loop_ms(conn, records)
        shuffle = random.Random(1)
        for round_number in range(rounds):
            for way in shuffle.sample(ways, len(ways)):
                async with way.watch(conn, workdir) as produced:
                    # A tracking snapshot or a profile's stop leaves V8 busy re-optimising
                    # for a while: settle with one untimed loop under the same watch.
                    await loop_ms(conn, records)
                    way.times.append(await loop_ms(conn, records))
                way.output = produced[0] if produced else ""
            print(f"round {round_number + 1}/{rounds} done", file=sys.stderr, flush=True)


def start_target() -> tuple[subprocess.Popen[bytes], str]:
    proc = subprocess.Popen(
        ["node", "--inspect=127.0.0.1:0", "-e", WORKLOAD],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    seen = b""
    while not (match := LISTENING.search(seen)) or b"workload ready" not in seen:
        data = proc.stderr.read1(4096)  # type: ignore[attr-defined]
        if not data:
            raise SystemExit(f"node did not start: {seen!r}")
        seen += data
    return proc, match.group(1).decode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--records", type=int, default=1_000_000, help="records per loop")
    args = parser.parse_args()
    ways = [
        Way("nothing", nothing),
        sampling(32768, False),
        sampling(32768, True),
        sampling(4096, False),
        sampling(512, False),
        sampling(128, True),
        tracking(False),
        tracking(True),
    ]
    proc, url = start_target()
    try:
        with tempfile.TemporaryDirectory(prefix="cdp-heap-bench-profiling-") as tmp:
            trio.run(bench, url, ways, args.rounds, args.records, Path(tmp))
    finally:
        proc.kill()
        proc.wait()
    baseline = statistics.median(ways[0].times)
    print(f"\n{args.records:,} records per loop, {args.rounds} rounds; medians")
    print(f"{'while the loop runs':<46} {'loop ms':>9} {'slowdown':>9}  produced")
    for way in ways:
        median = statistics.median(way.times)
        print(f"{way.label:<46} {median:>9.0f} {median / baseline:>8.2f}x  {way.output}")


if __name__ == "__main__":
    main()
