"""``POST /snapshot``'s memory pre-flight: the CLI's check, asked through the router.

Before the proxy asks the target for a snapshot on a request's behalf, it asks the target
for its memory exactly as ``cdp-heap snapshot`` does (one ``Runtime.evaluate`` of
:data:`cdp_heap._preflight.TARGET_MEMORY_EXPRESSION`, sent as the request's own client, so
it is routed, counted and audited like any command) and refuses with ``507 Insufficient
Storage`` and the numbers when the snapshot would not fit; nothing is paused. ``?force=1``
skips the check. A target that reports no free memory (Chrome, Deno without
``--allow-sys``), a failed evaluate, or a token whose method policy does not allow
``Runtime.evaluate`` mean no check: the snapshot goes ahead, as it did before.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import trio

from cdp_heap._preflight import TARGET_MEMORY_EXPRESSION, TargetMemory, estimate_from_memory
from cdp_heap._wire import Command, ErrorResponse, MalformedMessage, Response, decode, encode

from ._http import error_response
from ._outbox import ClientConn, Outbox

if TYPE_CHECKING:
    from ._snapshot_endpoint import SnapshotHost

#: The probe's command id: the snapshot's own commands are numbered from 1.
PROBE_ID = 0
_TRUE = ("1", "true", "yes")


async def refuse_if_too_big(
    host: SnapshotHost,
    stream: trio.abc.Stream,
    conn: ClientConn,
    outbox: Outbox,
    options: Mapping[str, list[str]],
) -> str | None:
    """``None`` to go ahead; else the response was sent (507) and this is why it ended."""
    if any(v.lower() in _TRUE for v in options.get("force", ())):
        return None
    if host.router.refusal(conn.id, "Runtime.evaluate") is not None:
        return None
    params = {
        "expression": TARGET_MEMORY_EXPRESSION,
        "returnByValue": True,
        "includeCommandLineAPI": True,
        "silent": True,
    }
    host.client_message(conn.id, encode(Command(PROBE_ID, "Runtime.evaluate", params)))
    while (text := await outbox.get()) is not None:
        try:
            message = decode(text)
        except MalformedMessage:
            continue
        if isinstance(message, ErrorResponse) and message.id == PROBE_ID:
            return None
        if isinstance(message, Response) and message.id == PROBE_ID:
            result = message.result.get("result")
            value = result.get("value") if isinstance(result, dict) else None
            estimate = estimate_from_memory(TargetMemory.from_json(value))
            if estimate.fits is not False:
                return None
            refusal = estimate.refusal().replace("--force takes", "?force=1 takes")
            await stream.send_all(error_response(507, refusal))
            return "refused: the snapshot would not fit in the target's memory"
    return conn.outbox.close_reason or "cut off"
