"""``cdp-heap targets``: list what an inspector offers."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ._common import UsageError, add_timeout_argument
from ._target import TARGET_HELP, add_target_arguments, discover


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "targets",
        help="list inspectable targets",
        description="List the targets an inspector offers (its /json/list).",
        epilog=TARGET_HELP
        + "\n\nexamples:\n"
        + "  cdp-heap targets                         # the Node inspector on 127.0.0.1:9229\n"
        + "  cdp-heap targets --port 9222 --json      # a Chrome's tabs and workers, as JSON\n"
        + "  cdp-heap targets --pid 4242              # activate a running Node's inspector\n"
        + "  cdp-heap targets --port 9222 --target 'localhost:3000'   # the tab with that URL",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_target_arguments(parser)
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the list as JSON: [{id, type, title, url, webSocketDebuggerUrl}, ...]",
    )
    add_timeout_argument(parser)
    parser.set_defaults(run=run)


async def run(args: argparse.Namespace) -> int:
    from .._discovery import select_target

    if args.url is not None:
        raise UsageError("targets lists an inspector's targets; give --port/--host/--pid")
    where, targets = await discover(args)
    if args.target is not None:
        targets = [select_target(targets, args.target)]
    if args.json:
        rows = [
            {
                "id": t.id,
                "type": t.type,
                "title": t.title,
                "url": t.url,
                "webSocketDebuggerUrl": t.web_socket_debugger_url,
            }
            for t in targets
        ]
        print(json.dumps(rows, indent=2))
        return 0
    if not targets:
        print(f"no targets at {where}")
        return 0
    width = max(len(t.type) for t in targets)
    for t in targets:
        print(f"{t.type:<{width}}  {t.title}  {t.url}".rstrip())
        print(f"{'':<{width}}  {t.web_socket_debugger_url or '(no WebSocket URL)'}")
    return 0
