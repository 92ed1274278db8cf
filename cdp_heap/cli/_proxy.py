"""``cdp-heap proxy``: share one inspector session between DevTools, scripts and CI jobs."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import trio

from ._common import UsageError

DESCRIPTION = """\
Run a DevTools-compatible proxy in front of one inspector target (a Node.js process, a
Chrome tab, a Deno process) so that several clients can use it at once, safely: Chrome
DevTools, 'cdp-heap snapshot' runs, chrome-remote-interface scripts, 'node inspect'.

The proxy keeps one upstream session open and routes every client's commands over it:
ids never collide, heap-snapshot chunks reach only the client that asked, only one
snapshot runs at a time (others wait their turn), a client's Debugger.disable does not
wipe another's breakpoints, a late DevTools still sees every script, and HeapProfiler
stays enabled for the proxy's whole life, so snapshots taken by separate runs through the
proxy are comparable object for object. When the target restarts, the proxy reconnects;
its URL stays the same.

Clients discover it like an inspector: http://LISTEN/json/list, or in Chrome open
chrome://inspect, "Configure...", add LISTEN. Statistics: http://LISTEN/json/proxy/stats."""

EPILOG = """\
upstream: --upstream PORT | HOST:PORT | ws://HOST:PORT/ID   (default 127.0.0.1:9229)
          --upstream-pid PID   a running Node process, activated with SIGUSR1 first
          --target ID|REGEX picks one when the inspector lists several

examples:
  node --inspect=9229 app.js &
  cdp-heap proxy --upstream 127.0.0.1:9229          # serves 127.0.0.1:9230
  cdp-heap snapshot --port 9230 -o a.heapsnapshot   # any number of these, any time
  cdp-heap snapshot --port 9230 -o b.heapsnapshot   # ... diffable with a.heapsnapshot
  cdp-heap proxy --upstream-pid 4242                # a Node started without --inspect

Runs until interrupted (Ctrl-C)."""


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "proxy",
        help="share one inspector between DevTools and scripts (multiplexing proxy)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--upstream",
        metavar="TARGET",
        help="the inspector to front: PORT, HOST:PORT or ws://HOST:PORT/ID "
        "(default 127.0.0.1:9229)",
    )
    where.add_argument(
        "--upstream-pid",
        type=int,
        metavar="PID",
        help="a running Node.js process: open its inspector with SIGUSR1 (on 127.0.0.1 and "
        "its --inspect-port, 9229 by default), then front it",
    )
    parser.add_argument(
        "--target", metavar="ID|REGEX", help="which of the upstream inspector's targets"
    )
    parser.add_argument(
        "--listen",
        metavar="HOST:PORT",
        default="127.0.0.1:9230",
        help="where clients connect (default 127.0.0.1:9230)",
    )
    parser.add_argument(
        "--client-queue-mb",
        type=int,
        default=32,
        metavar="MB",
        help="close a client that lets more than MB megabytes queue up for it (default 32)",
    )
    parser.set_defaults(run=run)


def parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise UsageError(f"--listen wants HOST:PORT, got {text!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


async def run(args: argparse.Namespace) -> int:
    from proxy import ProxyConfig, UpstreamSpec, serve_proxy

    if args.upstream_pid is not None:
        from .._activate import activate_inspector

        inspector_host, inspector_port = await activate_inspector(args.upstream_pid)
        spec = UpstreamSpec(inspector_host, inspector_port, args.target)
    else:
        try:
            spec = UpstreamSpec.parse(args.upstream or "127.0.0.1:9229", args.target)
        except ValueError as exc:
            raise UsageError(f"--upstream: {exc}") from None
    host, port = parse_listen(args.listen)
    config = ProxyConfig(spec, host, port, client_queue_bytes=args.client_queue_mb * 1024 * 1024)
    async with trio.open_nursery() as nursery:
        proxy = await nursery.start(serve_proxy, config)
        print(
            f"cdp-heap proxy: {spec.address} is served at http://{host}:{proxy.port}/json/list",
            file=sys.stderr,
            flush=True,
        )
        nursery.start_soon(_report_upstream, proxy)
    return 0


async def _report_upstream(proxy: Any) -> None:
    """One line on stderr each time the upstream session opens or ends."""
    while True:
        await proxy.wait_until(lambda: proxy.router.upstream_connected)
        entry = proxy.upstream.entry or {}
        print(
            f"cdp-heap proxy: attached to {entry.get('title', '?')!r} "
            f"({entry.get('webSocketDebuggerUrl', '?')})",
            file=sys.stderr,
            flush=True,
        )
        await proxy.wait_until(lambda: not proxy.router.upstream_connected)
        reason = proxy.upstream.last_error or "target closed"
        print(f"cdp-heap proxy: detached from the target: {reason}", file=sys.stderr, flush=True)
