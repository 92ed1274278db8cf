"""What the CLI says about an error, when the library's own message speaks to a programmer.

The library's messages are precise about the protocol (``connection to ws://... closed
(code 1006)``); a user running a command wants to know what happened to *their* target.
This is the one place that rewords them, so the library stays exact and the CLI plain.
"""

from __future__ import annotations

import argparse

from .._errors import ConnectionClosed, DiscoveryError, MessageTooLarge, TargetDetached

#: What each command was doing when a connection can close under it.
_ACTIVITY = {
    "snapshot": "the snapshot",
    "sample": "sampling",
    "track": "tracking",
    "leak": "the leak hunt",
}


def user_message(exc: BaseException, args: argparse.Namespace) -> str:
    """The one line printed after ``cdp-heap: error:`` for ``exc``."""
    if isinstance(exc, ConnectionClosed) and not isinstance(exc, MessageTooLarge | TargetDetached):
        activity = _ACTIVITY.get(getattr(args, "command", ""), "the command")
        # The protocol detail (close code, URL) is for --debug, which shows the traceback.
        return (
            f"the target went away during {activity}: it exited, crashed or was killed; "
            "nothing half-written was kept"
        )
    if isinstance(exc, DiscoveryError) and "answered HTTP 401" in str(exc):
        # A cdp-heap proxy started with --token; its own text names the HTTP header.
        return f"{exc}; with cdp-heap: --token TOKEN or $CDP_HEAP_TOKEN"
    return str(exc)
