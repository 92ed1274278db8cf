"""The ``cdp-heap`` command line: argument parsing, exit codes and error reporting.

Each sub-command lives in its own module with a ``register(subparsers)`` function that adds
its parser and sets ``run`` to an async function taking the parsed arguments and returning
an exit code. This module owns only what every command shares: ``--debug``, ``--timeout``,
the mapping of errors to exit codes (0 ok, 1 the operation failed, 2 usage error).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

import trio

from .._errors import CDPHeapError
from .._groups import single_exceptions
from ._common import UsageError

# Sub-command modules, in the order ``--help`` lists them.
COMMAND_MODULES = (
    "targets",
    "snapshot",
    "sample",
    "track",
    "summary",
    "diff",
    "leak",
    "proxy",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cdp-heap",
        description=(
            "Heap snapshots, sampling profiles and leak hunting for Node.js, Chrome and Deno "
            "over the Chrome DevTools Protocol."
        ),
        epilog="Run 'cdp-heap COMMAND --help' for the options of one command.",
    )
    parser.add_argument(
        "--debug", action="store_true", help="show full tracebacks and protocol logging"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"{__name__}._{name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.debug:
        import logging

        logging.basicConfig(level=logging.DEBUG, format="%(name)s: %(message)s")
    try:
        with single_exceptions():
            return trio.run(_run_with_timeout, args)
    except UsageError as exc:
        parser.error(str(exc))  # exits 2
    except KeyboardInterrupt:
        print("cdp-heap: interrupted", file=sys.stderr)
        return 130
    except (CDPHeapError, OSError) as exc:
        if args.debug:
            raise
        print(f"cdp-heap: error: {exc}", file=sys.stderr)
        return 1
    except trio.TooSlowError:
        print(f"cdp-heap: error: timed out after {args.timeout:g} s (--timeout)", file=sys.stderr)
        return 1


async def _run_with_timeout(args: argparse.Namespace) -> int:
    timeout = getattr(args, "timeout", None)
    if timeout is None:
        code: int = await args.run(args)
        return code
    with trio.fail_after(timeout):
        code = await args.run(args)
        return code


def entry_point() -> None:
    sys.exit(main())
