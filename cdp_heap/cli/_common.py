"""Small pieces shared by the sub-commands."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any


class UsageError(Exception):
    """The command line is inconsistent in a way argparse cannot see; exit code 2."""


def add_timeout_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout",
        type=positive_float,
        metavar="S",
        help="give up (exit 1) if the whole operation takes longer than S seconds",
    )


def positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def add_command(
    subparsers: Any, name: str, *, summary: str, description: str, epilog: str
) -> argparse.ArgumentParser:
    """A sub-command parser whose description and epilog keep their line breaks."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name,
        help=summary,
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def add_output_argument(parser: argparse.ArgumentParser, suffix: str) -> None:
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        type=Path,
        help=f"where to save (default: Heap-DATE-TIME{suffix} in the current directory)",
    )


def output_path(output: Path | None, suffix: str) -> Path:
    """``output``, or ``Heap-DATE-TIME<suffix>``, checked writable before anything is asked
    of the target (see :func:`~cdp_heap.cli._outputs.check_output_file`): a directory is a
    usage error (exit 2); a missing or read-only directory is a failure to write (exit 1),
    as it would be later, but found before minutes of recording rather than after.
    """
    from ._outputs import check_output_file  # _outputs uses UsageError from here

    path = output if output is not None else Path(time.strftime(f"Heap-%Y%m%d-%H%M%S{suffix}"))
    check_output_file(path)
    return path
