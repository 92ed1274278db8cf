"""``cdp-heap sample``: a sampling heap profile, saved as .heapprofile, top sites printed."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from .._sampling import open_sampling, save_profile
from ..heap_profiler import AllocationSite, SamplingHeapProfile
from ._collect import collect_until_done
from ._common import (
    UsageError,
    add_command,
    add_output_argument,
    add_timeout_argument,
    output_path,
    positive_float,
    positive_int,
)
from ._progress import format_bytes
from ._target import TARGET_HELP, add_connection_arguments, open_target

DESCRIPTION = """\
Record which functions allocate memory, with V8's sampling heap profiler, for --duration
seconds (or until Ctrl-C), save the profile to FILE (a .heapprofile that Chrome DevTools'
Memory panel loads) and print the top allocation sites.

V8 records the stack of about one allocation every --interval bytes. It does not pause the
target, unlike a heap snapshot, and is cheap at the default 32768 bytes (+18% on a loop
that only allocates, the worst case); small intervals cost much more (x8 at 512 bytes).
See docs/profiling.md.
By default the profile shows only what is still alive when sampling stops: what grows.
With --include-collected it shows every allocation, also those already freed: what churns.

Ctrl-C, or the end of --duration, stops sampling on the target and saves what was
collected; the target is never left sampling. The file appears only when complete."""

EPILOG = (
    TARGET_HELP
    + """

examples:
  cdp-heap sample --port 9229 --duration 30 -o app.heapprofile
  cdp-heap sample --pid 4242 --duration 60 --interval 8192 --include-collected --top 20 \\
      -o churn.heapprofile
  cdp-heap sample -o app.heapprofile            # until Ctrl-C

prints the top allocation sites on stdout:
   self size      %  function          location
     12.4 MB  61.3%  allocateWidgets   file:///srv/app.js:12:18"""
)


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "sample",
        summary="record a sampling heap profile (which functions allocate)",
        description=DESCRIPTION,
        epilog=EPILOG,
    )
    add_connection_arguments(parser, large="the profile, which is one message")
    parser.add_argument(
        "--duration",
        type=positive_float,
        metavar="S",
        help="sample for S seconds (default: until Ctrl-C)",
    )
    add_output_argument(parser, ".heapprofile")
    parser.add_argument(
        "--interval",
        type=positive_int,
        metavar="BYTES",
        help="average bytes between samples (V8's default: 32768); smaller is more "
        "precise, costs the target more and makes a bigger profile",
    )
    parser.add_argument(
        "--include-collected",
        action="store_true",
        help="keep samples of objects the GC already freed (includeObjectsCollectedByMajorGC "
        "and ...MinorGC): shows all allocation, not only what is still alive",
    )
    parser.add_argument(
        "--top",
        type=int,
        default=10,
        metavar="N",
        help="print the N largest allocation sites (default 10; 0 prints none)",
    )
    add_timeout_argument(parser)
    parser.set_defaults(run=run)


async def run(args: argparse.Namespace) -> int:
    if args.top < 0:
        raise UsageError("--top must be >= 0")
    path = output_path(args.output, ".heapprofile")
    async with open_target(args) as (target, conn):
        async with open_sampling(
            conn, interval=args.interval, include_collected=args.include_collected
        ) as sampler:
            until = f"for {args.duration:g} s" if args.duration else "until Ctrl-C"
            notice = (
                f"sampling {target.title or target.url or target.id} {until}; "
                "Ctrl-C stops early and saves"
            )
            reason = await collect_until_done(args.duration, conn, notice=notice)
        profile = sampler.profile
        assert profile is not None
        seconds = (sampler.stopped_at or sampler.started_at) - sampler.started_at
    saved = await save_profile(profile, path)
    stopped = "" if reason == "duration" else f" ({reason})"
    print(
        f"saved {path} ({format_bytes(saved.size)}, {len(profile.samples)} samples "
        f"over {seconds:.1f} s{stopped})",
        file=sys.stderr,
    )
    if args.top:
        print(format_sites(profile, profile.top_sites(args.top)))
    return 0


def format_sites(profile: SamplingHeapProfile, sites: Sequence[AllocationSite]) -> str:
    """The sites as an aligned table with a header and the profile's total."""
    total = profile.total_size
    rows = [("self size", "%", "function", "location")]
    for site in sites:
        share = f"{site.self_size / total:.1%}" if total else "-"
        rows.append((format_bytes(site.self_size), share, site.name, site.location))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [
        f"{size:>{widths[0]}}  {share:>{widths[1]}}  {name:<{widths[2]}}  {where}".rstrip()
        for size, share, name, where in rows
    ]
    lines.append(f"{format_bytes(total):>{widths[0]}}  {'':>{widths[1]}}  total".rstrip())
    return "\n".join(lines)
