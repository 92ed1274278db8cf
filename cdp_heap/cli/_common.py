"""Small pieces shared by the sub-commands."""

from __future__ import annotations

import argparse


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
