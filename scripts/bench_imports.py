#!/usr/bin/env python3
"""What importing costs each CLI command, from ``python -X importtime``.

    python scripts/bench_imports.py [--rounds 9] [--tree DIR ...] A.heapsnapshot B.heapsnapshot

Runs, in a fresh interpreter each time, ``python -X importtime -m cdp_heap --help``,
``... snapshot --help`` and ``... diff A B`` (two small snapshot files of your choosing),
and prints per command the median of the total import time (the sum of every module's own
time, as ``-X importtime`` reports it), the number of modules imported, and whether trio
and numpy were among them. Each ``--tree DIR`` is another checkout to import ``cdp_heap``
from (``git archive REV | tar -x -C DIR``); the working tree is always measured too. All
runs of every tree and command are shuffled together, round after round, so that drift
of a busy machine hits them alike: compare the columns, not numbers across machines.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import subprocess
import sys
from pathlib import Path

_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)")


def measure(argv: list[str], tree: Path | None) -> tuple[int, set[str]]:
    """Total import time in microseconds, and the names of the modules imported."""
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "cdp_heap", *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=tree,
        check=False,
    )
    total = 0
    modules: set[str] = set()
    for line in done.stderr.splitlines():
        match = _LINE.match(line)
        if match:
            total += int(match.group(1))
            modules.add(match.group(4))
    return total, modules


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base", help="a small .heapsnapshot file")
    parser.add_argument("target", help="another one (what 'diff' compares)")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument(
        "--tree", type=Path, action="append", default=[], help="also import cdp_heap from DIR"
    )
    args = parser.parse_args()
    commands = {
        "--help": ["--help"],
        "snapshot --help": ["snapshot", "--help"],
        "diff A B": ["diff", str(Path(args.base).resolve()), str(Path(args.target).resolve())],
    }
    trees: list[Path | None] = [*args.tree, None]
    runs = [(tree, name) for tree in trees for name in commands]
    times: dict[tuple[Path | None, str], list[int]] = {run: [] for run in runs}
    loaded: dict[tuple[Path | None, str], set[str]] = {}
    for _ in range(args.rounds):
        random.shuffle(runs)
        for tree, name in runs:
            total, modules = measure(commands[name], tree)
            times[tree, name].append(total)
            loaded[tree, name] = modules
    for tree in trees:
        print(f"cdp_heap from {tree or 'this working tree'}:")
        print(f"  {'command':<18} {'import ms':>10} {'modules':>8}  trio  numpy")
        for name in commands:
            ms = statistics.median(times[tree, name]) / 1000
            modules = loaded[tree, name]
            trio = "yes" if "trio" in modules else "no"
            numpy = "yes" if "numpy" in modules else "no"
            print(f"  {name:<18} {ms:>10.1f} {len(modules):>8}  {trio:<5} {numpy}")


if __name__ == "__main__":
    main()
