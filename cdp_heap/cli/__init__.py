"""The ``cdp-heap`` command line: argument parsing, exit codes and error reporting.

Each sub-command lives in its own module with a ``register(subparsers)`` function that adds
its parser and sets ``run`` to an async function taking the parsed arguments and returning
an exit code, run by ``trio.run``; or to a plain function, run without trio (``diff``: it
reads two files, and trio's import would be ~7 % of its peak memory). This module owns only
what every command shares: ``--debug``, ``--timeout``, the mapping of errors to exit codes
(0 ok, 1 the operation failed, 2 usage error, 130 Ctrl-C, 143 SIGTERM, which behaves as
Ctrl-C: see ``_signals``).

Building the parser imports every command module, so those import only what registering
their options needs; a command's implementation (trio, the connection, numpy) is imported
when it runs. ``cdp-heap --help`` thus loads no trio (tests/test_imports.py holds it).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import sys
from collections.abc import Sequence

from .._errors import CDPHeapError
from ._common import UsageError
from ._messages import user_message
from ._outputs import silence_stdout, stdout_closed

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
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument(
        "--debug", action="store_true", help="show full tracebacks and protocol logging"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"{__name__}._{name}")
        module.register(subparsers)
    # Global options work after the command too (cdp-heap snapshot ... --debug). SUPPRESS:
    # a command that was not given --debug leaves the value set before it alone.
    for command in subparsers.choices.values():
        command.add_argument(
            "--debug",
            action="store_true",
            default=argparse.SUPPRESS,
            help="show full tracebacks and protocol logging (also before COMMAND)",
        )
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cdp-heap")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "(not installed)"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # Only now that a command runs (--help has exited): see the module docstring.
    from ._signals import EXIT_INTERRUPTED, EXIT_TERMINATED, sigterm_as_interrupt, terminated

    if args.debug:
        import logging

        logging.basicConfig(level=logging.DEBUG, format="%(name)s: %(message)s")
    try:
        with sigterm_as_interrupt():
            if inspect.iscoroutinefunction(args.run):
                return _run_in_trio(args)
            # A plain function (``diff``: it reads two files) runs without trio: importing
            # it is ~10 MiB, ~7 % of a 120 MB diff's peak. Outside trio, SIGINT's handler
            # is Python's own, which raises KeyboardInterrupt, as trio's does.
            code: int = args.run(args)
            return code
    except UsageError as exc:
        parser.error(str(exc))  # exits 2
    except KeyboardInterrupt:
        if terminated():
            print("cdp-heap: terminated", file=sys.stderr)
            return EXIT_TERMINATED
        print("cdp-heap: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (CDPHeapError, OSError) as exc:
        if isinstance(exc, BrokenPipeError) and stdout_closed():
            # Whoever read stdout stopped (``| head -1``): not an error, as for other CLIs.
            silence_stdout()
            return 0
        if args.debug:
            raise
        print(f"cdp-heap: error: {user_message(exc, args)}", file=sys.stderr)
        return 1


def _run_in_trio(args: argparse.Namespace) -> int:
    """An async command, under its ``--timeout`` if it has one."""
    import trio

    from .._groups import single_exceptions

    try:
        with single_exceptions():
            return trio.run(_run_with_timeout, args)
    except trio.TooSlowError:
        print(f"cdp-heap: error: timed out after {args.timeout:g} s (--timeout)", file=sys.stderr)
        return 1


async def _run_with_timeout(args: argparse.Namespace) -> int:
    import trio

    from ._signals import cancelled_by_sigterm

    timeout = getattr(args, "timeout", None)
    with cancelled_by_sigterm():
        if timeout is None:
            code: int = await args.run(args)
            return code
        with trio.fail_after(timeout):
            code = await args.run(args)
            return code


def entry_point() -> None:
    sys.exit(main())
