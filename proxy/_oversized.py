"""The answer to a client message over the proxy's limit. No I/O.

The shell drops such a message as it arrives (decision D25), keeping only its beginning; the
client still gets a CDP error for the id read from there, so its pending command does not
hang. The single-target router and the browser hub answer the same way.
"""

from __future__ import annotations

import re

from cdp_heap._wire import INVALID_REQUEST, ErrorResponse, encode

_LEADING_ID = re.compile(r'\s*\{\s*"id"\s*:\s*(\d+)\s*[,}]')


def oversized_reply(prefix: str, size: int, limit: int) -> str:
    """The error response (as text) for a dropped message of ``size`` bytes over ``limit``,
    whose first characters were ``prefix``; its id is ``null`` if the prefix shows none."""
    match = _LEADING_ID.match(prefix)
    msg_id = int(match.group(1)) if match else None
    message = (
        f"message of {size} bytes is over the proxy's limit for client messages "
        f"({limit} bytes; cdp-heap proxy --max-client-message-mb)"
    )
    return encode(ErrorResponse(msg_id, INVALID_REQUEST, message))
