"""``cdp-heap proxy``: share one inspector session between DevTools, scripts and CI jobs."""

from __future__ import annotations

import argparse
import os
import signal
import stat
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ._common import UsageError

if TYPE_CHECKING:
    import ssl

    from cdp_heap_proxy import Guard, Proxy

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
its URL stays the same. Ctrl-C or SIGTERM stops it cleanly: every client gets
Inspector.detached and a close with a reason, and what it started is undone.

In front of Chrome (no --target) it serves the whole browser: /json/list lists every
target, /json/version carries the proxy's browser endpoint, so Puppeteer
(connect({browserURL})), Playwright (connect_over_cdp) and DevTools share one Chrome. Each
client gets sessions of its own; what it created is closed when it leaves.
Target.createTarget, Target.closeTarget and Browser.close are refused unless
--allow-methods names them (e.g. --allow-methods '*,Target.createTarget,Target.closeTarget').

Clients discover it like an inspector: http://LISTEN/json/list, or in Chrome open
chrome://inspect, "Configure...", add LISTEN. Statistics: http://LISTEN/json/proxy/stats.
POST http://LISTEN/snapshot streams a heap snapshot (for curl).

Security: an inspector port runs any code its clients send. The proxy listens on
127.0.0.1 by default and refuses any other --listen address without a token. Every
request's Host must be an IP address, localhost or an --allow-host name (DNS rebinding);
a WebSocket's or POST's Origin must be absent, devtools://devtools, a loopback origin or an
--allow-origin value. See docs/proxy-security.md."""

EPILOG = """\
upstream: --upstream PORT | HOST:PORT | ws://HOST:PORT/ID   (default 127.0.0.1:9229)
          ws://HOST:PORT/devtools/browser/ID: Chrome's browser endpoint (the whole browser)
          --upstream-pid PID   a running Node process, activated with SIGUSR1 first
          --target ID|REGEX picks one when the inspector lists several

tokens:   when a token is set, every request needs one: 'Authorization: Bearer TOKEN'
          (scripts) or first in the path: http://HOST:PORT/TOKEN/json/list,
          ws://HOST:PORT/TOKEN/ID (what /json/list hands out; DevTools uses these).
          Missing token: 401; wrong token: 403. --token gives full access (or what
          --allow-methods allows); --profiling-token only --profiling-methods
          (default HeapProfiler.*: snapshots, sampling, tracking; no code execution).

examples:
  node --inspect=9229 app.js &
  cdp-heap proxy --upstream 127.0.0.1:9229          # serves 127.0.0.1:9230
  cdp-heap snapshot --port 9230 -o a.heapsnapshot   # any number of these, any time
  cdp-heap snapshot --port 9230 -o b.heapsnapshot   # ... diffable with a.heapsnapshot
  cdp-heap proxy --upstream-pid 4242                # a Node started without --inspect
  curl -fsS -X POST http://127.0.0.1:9230/snapshot -o app.heapsnapshot

  # on a network: TLS and a token (generated and printed on stderr)
  cdp-heap proxy --listen 0.0.0.0:9230 --token auto \\
      --tls-cert cert.pem --tls-key key.pem --allow-host inspector.example.com
  curl -fsS -X POST -H "Authorization: Bearer $TOKEN" \\
      https://inspector.example.com:9230/snapshot -o app.heapsnapshot
  # DevTools: devtools://devtools/bundled/js_app.html?v8only=true&wss=HOST:9230/TOKEN/ID

  # heap profiling only, for a CI job; full access for a person
  cdp-heap proxy --token-file admin.token --profiling-token-file ci.token

  # a whole Chrome for Puppeteer, Playwright and DevTools at once
  chromium --headless --remote-debugging-port=9222 &
  cdp-heap proxy --upstream 9222 --allow-methods '*,Target.createTarget,Target.closeTarget'

  # or keep the proxy on 127.0.0.1 and tunnel:  ssh -N -L 9230:127.0.0.1:9230 HOST

Runs until interrupted (Ctrl-C). Audit lines (connects, disconnects, snapshot/sampling/
tracking starts, refusals) go to stderr or --audit-log FILE."""


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
        help="where clients connect (default 127.0.0.1:9230); any non-loopback address "
        "needs --token or --profiling-token",
    )
    parser.add_argument(
        "--client-queue-mb",
        type=int,
        default=32,
        metavar="MB",
        help="close a client that lets more than MB megabytes queue up for it (default 32)",
    )
    parser.add_argument(
        "--max-client-message-mb",
        type=int,
        default=8,
        metavar="MB",
        help="answer a client message larger than MB megabytes with a CDP error instead of "
        "routing it (default 8; commands are small, and the proxy holds a message a few "
        "times over while routing it)",
    )
    parser.add_argument(
        "--spin-us",
        type=int,
        default=500,
        metavar="US",
        help="after a message, poll up to US microseconds for the next one before "
        "sleeping, while small messages come that close together and few clients are in "
        "flight (default 500; 0: never). On a "
        "VM, whose idle CPUs are slow to wake, this takes up to ~0.2 ms off a round trip, for "
        "CPU time while messages flow that densely (docs/proxy.md#performance)",
    )
    security = parser.add_argument_group("security")
    token = security.add_mutually_exclusive_group()
    token.add_argument(
        "--token",
        metavar="VALUE|auto",
        help="require this token (at least 16 of A-Z a-z 0-9 . _ ~ -); 'auto' generates "
        "one and prints it on stderr",
    )
    token.add_argument("--token-file", metavar="PATH", help="read the --token from PATH")
    profiling = security.add_mutually_exclusive_group()
    profiling.add_argument(
        "--profiling-token",
        metavar="VALUE|auto",
        help="a second token whose clients may call only --profiling-methods",
    )
    profiling.add_argument(
        "--profiling-token-file", metavar="PATH", help="read the --profiling-token from PATH"
    )
    security.add_argument(
        "--allow-methods",
        metavar="PATTERNS",
        default="*",
        help="methods --token (or, without tokens, every) client may call, comma-separated "
        "Domain.method patterns with * (default *); e.g. 'HeapProfiler.*,Runtime.evaluate'",
    )
    security.add_argument(
        "--profiling-methods",
        metavar="PATTERNS",
        default="HeapProfiler.*",
        help="methods --profiling-token clients may call (default HeapProfiler.*)",
    )
    security.add_argument(
        "--allow-host",
        metavar="NAME",
        action="append",
        default=[],
        help="accept this Host name too (besides IP addresses, localhost and the listen "
        "host); repeatable",
    )
    security.add_argument(
        "--allow-origin",
        metavar="ORIGIN",
        action="append",
        default=[],
        help="accept WebSocket/POST requests from this Origin too (e.g. "
        "https://tools.example.com); repeatable",
    )
    security.add_argument("--tls-cert", metavar="PEM", help="serve https/wss with this certificate")
    security.add_argument("--tls-key", metavar="PEM", help="the certificate's private key")
    security.add_argument(
        "--audit-log", metavar="FILE", help="append audit lines to FILE instead of stderr"
    )
    parser.set_defaults(run=run)


def parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise UsageError(f"--listen wants HOST:PORT, got {text!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def _token(value: str | None, path: str | None, option: str) -> tuple[str | None, bool]:
    """The token given by ``--X VALUE|auto`` or ``--X-file PATH``; and whether generated."""
    from cdp_heap_proxy import check_token, generate_token

    if path is not None:
        try:
            value = Path(path).read_text().strip()
            mode = os.stat(path).st_mode
        except OSError as exc:
            raise UsageError(f"{option}-file: cannot read {path}: {exc.strerror}") from None
        if mode & (stat.S_IRGRP | stat.S_IROTH):
            print(
                f"cdp-heap proxy: warning: {path} is readable by other users (chmod 600 it)",
                file=sys.stderr,
            )
        option = f"{option}-file"
    if value is None:
        return None, False
    if value == "auto":
        return generate_token(), True
    try:
        return check_token(value, option), False
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _guard(args: argparse.Namespace, listen_host: str) -> tuple[Guard, list[str]]:
    """The access rules from the options, and lines to print (generated tokens)."""
    from cdp_heap_proxy import NO_TOKEN, Guard, MethodPolicy, Role, is_loopback

    try:
        full = MethodPolicy.parse(args.allow_methods, "--allow-methods")
        restricted = MethodPolicy.parse(args.profiling_methods, "--profiling-methods")
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    token, token_generated = _token(args.token, args.token_file, "--token")
    profiling, profiling_generated = _token(
        args.profiling_token, args.profiling_token_file, "--profiling-token"
    )
    roles = []
    notes = []
    if token is not None:
        roles.append(Role("token", token, full))
        if token_generated:
            notes.append(f"--token auto: {token}")
    if profiling is not None:
        roles.append(Role("profiling-token", profiling, restricted))
        if profiling_generated:
            notes.append(f"--profiling-token auto: {profiling}")
    if token is not None and token == profiling:
        raise UsageError("--token and --profiling-token must differ")
    if not roles:
        if not is_loopback(listen_host):
            raise UsageError(
                f"refusing to listen on {listen_host} without a token: anyone who can reach "
                "that address could run any code in the target (an inspector port is remote "
                "code execution). Add --token auto (and --tls-cert/--tls-key so the token is "
                "not sent in clear), or keep --listen 127.0.0.1:PORT and reach it through an "
                "SSH tunnel: ssh -N -L PORT:127.0.0.1:PORT THIS_HOST"
            )
        roles.append(Role(NO_TOKEN.name, None, full))
    guard = Guard(
        roles=tuple(roles),
        listen_host=listen_host,
        allowed_hosts=frozenset(args.allow_host),
        allowed_origins=frozenset(args.allow_origin),
    )
    return guard, notes


def _tls(args: argparse.Namespace) -> ssl.SSLContext | None:
    if (args.tls_cert is None) != (args.tls_key is None):
        raise UsageError("--tls-cert and --tls-key go together")
    if args.tls_cert is None:
        return None
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(args.tls_cert, args.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise UsageError(f"--tls-cert/--tls-key: {exc}") from None
    return context


def _audit_file(path: str | None) -> TextIO:
    if path is None:
        return sys.stderr
    try:
        return open(path, "a", buffering=1)
    except OSError as exc:
        raise UsageError(f"--audit-log: cannot open {path}: {exc.strerror}") from None


async def run(args: argparse.Namespace) -> int:
    import trio

    from cdp_heap_proxy import (
        ProxyConfig,
        UpstreamNotFound,
        UpstreamSpec,
        WrongUpstream,
        probe_upstream,
        serve_proxy,
    )

    host, port = parse_listen(args.listen)
    for option in ("client_queue_mb", "max_client_message_mb"):
        if getattr(args, option) < 1:
            raise UsageError(f"--{option.replace('_', '-')} must be at least 1")
    if args.spin_us < 0:
        raise UsageError("--spin-us must be 0 or more")
    guard, notes = _guard(args, host)  # before anything else: usage errors exit 2 at once
    tls = _tls(args)
    audit_file = _audit_file(args.audit_log)

    def audit(line: str) -> None:
        print(line, file=audit_file, flush=True)

    if args.upstream_pid is not None:
        from .._activate import activate_inspector

        inspector_host, inspector_port = await activate_inspector(args.upstream_pid)
        spec = UpstreamSpec(inspector_host, inspector_port, args.target)
    else:
        try:
            spec = UpstreamSpec.parse(args.upstream or "127.0.0.1:9229", args.target)
        except ValueError as exc:
            raise UsageError(f"--upstream: {exc}") from None
    try:
        browser = await probe_upstream(spec)
    except WrongUpstream as exc:
        raise UsageError(f"--upstream: {exc}") from None
    except UpstreamNotFound:
        browser = spec.browser_path  # not up yet: wait for it, as for one target
    config = ProxyConfig(
        spec,
        host,
        port,
        client_queue_bytes=args.client_queue_mb * 1024 * 1024,
        max_client_message_size=args.max_client_message_mb * 1024 * 1024,
        guard=guard,
        tls=tls,
        audit=audit,
        browser=browser,
        spin=args.spin_us / 1e6,
    )
    try:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with trio.open_nursery() as nursery:
                proxy: Proxy = await nursery.start(serve_proxy, config)
                _banner(proxy, spec.address, notes)
                nursery.start_soon(_report_upstream, proxy)
                nursery.start_soon(_warn_if_unreachable, proxy, spec.address)
                code = await _stop_on_signal(proxy, signals)
                nursery.cancel_scope.cancel()
    finally:
        if audit_file is not sys.stderr:
            audit_file.close()
    return code


async def _stop_on_signal(proxy: Proxy, signals: AsyncIterator[int]) -> int:
    """Wait for SIGINT or SIGTERM, then shut down cleanly: clients get
    ``Inspector.detached`` and a close with a reason instead of a dropped connection, and
    what they started is undone. A second signal stops at once. Exit code: 0 after SIGTERM
    (a service manager's stop), 130 after Ctrl-C, as for every command."""
    import trio

    received = await signals.__anext__()
    name = signal.Signals(received).name
    print(f"cdp-heap proxy: {name}: closing client connections", file=sys.stderr, flush=True)
    async with trio.open_nursery() as nursery:

        async def second_signal() -> None:
            await signals.__anext__()
            nursery.cancel_scope.cancel()

        nursery.start_soon(second_signal)
        await proxy.shut_down()
        nursery.cancel_scope.cancel()
    print("cdp-heap proxy: stopped", file=sys.stderr, flush=True)
    return 130 if received == signal.SIGINT else 0


def _banner(proxy: Proxy, upstream: str, notes: list[str]) -> None:
    scheme = "https" if proxy.secure else "http"
    address = proxy.http_address
    lines = [f"cdp-heap proxy: {upstream} is served at {scheme}://{address}/json/list"]
    if proxy.guard.requires_token:
        lines.append(
            "cdp-heap proxy: a token is required: 'Authorization: Bearer TOKEN', or "
            f"{scheme}://{address}/TOKEN/json/list"
        )
    for note in notes:
        lines.append(f"cdp-heap proxy: {note}")
    if not proxy.secure and proxy.guard.requires_token:
        from cdp_heap_proxy import is_loopback

        if not is_loopback(proxy.config.listen_host):
            lines.append(
                "cdp-heap proxy: warning: without --tls-cert/--tls-key the token and all "
                "traffic cross the network in clear text"
            )
    print("\n".join(lines), file=sys.stderr, flush=True)


#: Seconds the upstream gets to answer at start before the proxy warns that it does not.
UPSTREAM_GRACE = 1.0


async def _warn_if_unreachable(proxy: Proxy, upstream: str) -> None:
    """One warning on stderr if the upstream is not attached soon after start: otherwise
    the proxy looks fine while every client is told there is no target. It keeps retrying;
    ``_report_upstream`` says when it attaches."""
    import trio

    with trio.move_on_after(UPSTREAM_GRACE):
        await proxy.wait_upstream(connected=True)
        return
    why = proxy.unavailable() or "target not connected"
    print(
        f"cdp-heap proxy: warning: {why}; clients see no target until {upstream} "
        "answers; still retrying",
        file=sys.stderr,
        flush=True,
    )


async def _report_upstream(proxy: Proxy) -> None:
    """One line on stderr each time the upstream session opens or ends."""
    while True:
        await proxy.wait_upstream(connected=True)
        entry = proxy.upstream.entry or {}
        print(
            f"cdp-heap proxy: attached to {entry.get('title', '?')!r} "
            f"({entry.get('webSocketDebuggerUrl', '?')})",
            file=sys.stderr,
            flush=True,
        )
        await proxy.wait_upstream(connected=False)
        print("cdp-heap proxy: detached from the target", file=sys.stderr, flush=True)
