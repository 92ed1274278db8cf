"""The TARGET options every command that talks to a process shares, and connecting to it.

The options are documented in docs/cli.md ("Choosing the target"). Adding them to a parser
must stay cheap (every ``cdp-heap`` run builds every parser), so the connection stack is
imported by the functions that connect, not here.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from .._limits import DEFAULT_MAX_MESSAGE_SIZE, MiB
from ._common import UsageError, positive_int

if TYPE_CHECKING:
    import ssl

    from .._connection import CDPConnection
    from .._discovery import TargetInfo

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9229
#: Seconds without an answer to the first command before the CLI says why it is waiting.
BUSY_NOTICE_AFTER = 2.0
BUSY_NOTICE = (
    "cdp-heap: the target has not answered for {seconds:g} s: its JavaScript thread is busy "
    "outside JavaScript (a synchronous call such as execSync, or a snapshot still being "
    "written), and the inspector answers when it returns. Still waiting; Ctrl-C or "
    "--timeout S gives up."
)

TARGET_HELP = """\
target: --pid PID (activates a Node process's inspector with SIGUSR1 first)
        | --port PORT | --host HOST:PORT | --url ws://...   (default 127.0.0.1:9229)
        --target ID|TITLE-REGEX picks one when the inspector lists several
        --worker N|TITLE-REGEX a worker thread of that Node process (its own heap)
        --token TOKEN / --ca-file PEM for a 'cdp-heap proxy' with a token / TLS"""


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "target", "which process to talk to (default: the inspector at 127.0.0.1:9229)"
    )
    where = group.add_mutually_exclusive_group()
    where.add_argument(
        "--pid",
        type=int,
        help="a local Node.js process: send it SIGUSR1 to open its inspector, then use it",
    )
    where.add_argument("--port", type=int, help="an inspector on 127.0.0.1:PORT")
    where.add_argument("--host", metavar="HOST:PORT", help="an inspector on HOST:PORT")
    where.add_argument("--url", metavar="ws://...", help="a target's WebSocket URL")
    group.add_argument(
        "--target",
        metavar="ID|REGEX",
        help="pick the target with this id, or whose title or url matches this regex",
    )
    group.add_argument(
        "--token",
        default=os.environ.get("CDP_HEAP_TOKEN"),
        help="the token of a 'cdp-heap proxy' started with --token, sent as "
        "'Authorization: Bearer' (default: $CDP_HEAP_TOKEN)",
    )
    group.add_argument(
        "--ca-file",
        metavar="PEM",
        help="speak https/wss and trust this certificate (a proxy started with --tls-cert)",
    )


def add_connection_arguments(
    parser: argparse.ArgumentParser, *, large: str = "results and chunks"
) -> None:
    """The TARGET options plus ``--worker`` and ``--max-message-size``; see
    :func:`open_target`."""
    add_target_arguments(parser)
    parser.add_argument(
        "--worker",
        metavar="N|REGEX",
        help="a worker thread of the Node target instead of its main thread: its threadId, "
        "or a regex matched against its title ('[worker N] NAME') and url",
    )
    parser.add_argument(
        "--max-message-size",
        type=positive_int,
        default=DEFAULT_MAX_MESSAGE_SIZE // MiB,
        metavar="MiB",
        help=f"largest CDP message accepted, for {large} (default %(default)s MiB)",
    )


@asynccontextmanager
async def open_target(args: argparse.Namespace) -> AsyncIterator[tuple[TargetInfo, CDPConnection]]:
    """Resolve the TARGET options, connect to the target (with ``--worker``: one of its
    worker threads, :mod:`cdp_heap._workers`) and enable HeapProfiler.

    HeapProfiler stays enabled for the whole session, so that every snapshot taken on this
    connection shares V8's object ids.
    """
    from .._connection import open_cdp
    from .._workers import attach_worker

    target = await resolve_target(args)
    assert target.web_socket_debugger_url is not None
    token = [(b"Authorization", f"Bearer {args.token}".encode())] if args.token else None
    async with open_cdp(
        target.web_socket_debugger_url,
        max_message_size=args.max_message_size * MiB,
        extra_headers=token,
        ssl_context=_ssl_context(args),
    ) as conn:
        if getattr(args, "worker", None) is not None:
            await attach_worker(conn, args.worker)
        await enable_heap_profiler(conn)
        yield target, conn


async def enable_heap_profiler(conn: CDPConnection) -> None:
    """``HeapProfiler.enable``, saying on stderr why we wait if the target is slow to answer.

    The WebSocket is served by the inspector's own thread, so connecting always works; but
    every command is carried out on the target's JavaScript thread, between tasks. A target
    stuck in a long synchronous task answers only when it ends, and without a word the CLI
    would look hung.
    """
    import trio

    from ..heap_profiler import HeapProfiler

    profiler = HeapProfiler(conn)
    with trio.move_on_after(BUSY_NOTICE_AFTER) as waited:
        await profiler.enable()
    if waited.cancelled_caught:
        # The first enable was abandoned (its late reply is ignored); V8 answers this one
        # right after it, when the thread is free.
        print(BUSY_NOTICE.format(seconds=BUSY_NOTICE_AFTER), file=sys.stderr, flush=True)
        await profiler.enable()


def inspector_address(args: argparse.Namespace) -> tuple[str, int]:
    """The HTTP address given by --port/--host (default 127.0.0.1:9229)."""
    if args.port is not None:
        return DEFAULT_HOST, _check_port(args.port)
    if args.host is not None:
        host, sep, port = args.host.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise UsageError(f"--host wants HOST:PORT, got {args.host!r}")
        return host.strip("[]"), _check_port(int(port))
    return DEFAULT_HOST, DEFAULT_PORT


async def resolve_target(args: argparse.Namespace) -> TargetInfo:
    """The target the TARGET options designate, activating a --pid first."""
    from .._discovery import TargetInfo, select_target

    if args.url is not None:
        if args.target is not None:
            raise UsageError("--target picks among an inspector's targets; not with --url")
        return TargetInfo.from_url(args.url)
    where, targets = await discover(args)
    if not targets:
        await _explain_no_targets(args, where)
    return select_target(targets, args.target)


async def _explain_no_targets(args: argparse.Namespace, where: str) -> None:
    """An empty target list from a ``cdp-heap proxy`` means its upstream is not attached;
    the proxy's ``/json/version`` (fetched from the upstream) then fails with HTTP 502 and
    says why. Raise that, rather than a bare "no inspectable target"."""
    from .._discovery import get_version
    from .._errors import DiscoveryError

    host, _, port = where.rpartition(":")
    headers = [("Authorization", f"Bearer {args.token}")] if args.token else []
    try:
        await get_version(host, int(port), headers=headers, ssl_context=_ssl_context(args))
    except DiscoveryError as exc:
        if exc.status == 502:  # the proxy's own word on its upstream
            raise DiscoveryError(
                f"no inspectable target at {where}: it is a cdp-heap proxy whose upstream is "
                f"not attached ({exc.detail}); the proxy keeps retrying: try again once the "
                "target runs"
            ) from None


async def discover(args: argparse.Namespace) -> tuple[str, list[TargetInfo]]:
    """The inspector's address (``host:port``) and its targets, activating a --pid first."""
    from .._activate import activate_inspector
    from .._discovery import list_targets

    if args.pid is not None:
        host, port = await activate_inspector(args.pid)
    else:
        host, port = inspector_address(args)
    headers = [("Authorization", f"Bearer {args.token}")] if args.token else []
    targets = await list_targets(host, port, headers=headers, ssl_context=_ssl_context(args))
    return f"{host}:{port}", targets


def _ssl_context(args: argparse.Namespace) -> ssl.SSLContext | None:
    if args.ca_file is None:
        return None
    import ssl

    try:
        return ssl.create_default_context(cafile=args.ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise UsageError(f"--ca-file {args.ca_file}: {exc}") from None


def _check_port(port: int) -> int:
    if not 0 < port < 65536:
        raise UsageError(f"port {port} is out of range")
    return port
