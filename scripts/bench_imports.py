#!/usr/bin/env python3
"""What importing costs each CLI command, from ``python -X importtime``.

    python scripts/bench_imports.py [--rounds 7] [--tree DIR] A.heapsnapshot B.heapsnapshot

Runs, in a fresh interpreter each time, ``python -X importtime -m cdp_heap --help``,
``... snapshot --help`` and ``... diff A B`` (two small snapshot files of your choosing),
rounds in a shuffled order, and prints per command the median of the total import time
(the sum of every module's own time, as ``-X importtime`` reports it), the number of
modules imported, and whether trio and numpy were among them. ``--tree DIR`` imports
``cdp_heap`` from another checkout (``git archive REV | tar -x -C DIR``) so two revisions
can be put side by side. Times depend on the machine: compare the columns, not the numbers
across machines.
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
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--tree", type=Path, help="import cdp_heap from this checkout")
    args = parser.parse_args()
    commands = {
        "--help": ["--help"],
        "snapshot --help": ["snapshot", "--help"],
        "diff A B": ["diff", args.base, args.target],
    }
    times: dict[str, list[int]] = {name: [] for name in commands}
    loaded: dict[str, set[str]] = {}
    for _ in range(args.rounds):
        order = list(commands)
        random.shuffle(order)
        for name in order:
            total, modules = measure(commands[name], args.tree)
            times[name].append(total)
            loaded[name] = modules
    print(f"{'command':<18} {'import ms':>10} {'modules':>8}  trio  numpy")
    for name in commands:
        ms = statistics.median(times[name]) / 1000
        modules = loaded[name]
        print(
            f"{name:<18} {ms:>10.1f} {len(modules):>8}  "
            f"{'yes' if 'trio' in modules else 'no':<5} {'yes' if 'numpy' in modules else 'no'}"
        )


if __name__ == "__main__":
    main()
