"""Messages recognised by their prefix, without decoding them (D11).

Node and Chrome send ``addHeapSnapshotChunk`` in one compact form; a message in that form
is known to be a top-level chunk from its first 60 characters, so the router forwards the
100 KiB to 1 MiB messages of a snapshot as they are, and ``POST /snapshot`` unescapes just
the chunk's string. A successful reply starts ``{"id":N,"result":``: the router re-addresses
it by rewriting that id, however large the result (a profile can be 100 MB). Anything else
takes the ordinary decoded path. No I/O, no trio.
"""

from __future__ import annotations

import json
import re

from cdp_heap._protocol import CHUNK_EVENT

CHUNK_PREFIX = f'{{"method":"{CHUNK_EVENT}","params":{{"chunk":"'
#: A ``sessionId`` after the params sits in the last few bytes of the message.
_TAIL = 200


def is_plain_chunk(text: str) -> bool:
    """A top-level chunk event, as Node and Chrome format it."""
    return text.startswith(CHUNK_PREFIX) and '"sessionId":' not in text[-_TAIL:]


def plain_chunk_data(text: str) -> str | None:
    """The snapshot text a plain chunk event carries (its one JSON string, unescaped), or
    ``None`` if ``text`` is not a plain chunk event."""
    if not is_plain_chunk(text) or not text.endswith('"}}'):
        return None
    literal = text[len(CHUNK_PREFIX) - 1 : -2]
    try:
        data = json.loads(literal)
    except ValueError:
        return None
    return data if isinstance(data, str) else None


#: A successful reply as Node and Chrome format it: the id first, then the result.
PLAIN_REPLY = re.compile(r'\{"id":(\d+),"result":')


def with_id(text: str, old_id: int, new_id: int) -> str | None:
    """``text``, a command whose (only) ``"id"`` is ``old_id``, with ``new_id`` instead;
    ``None`` when the id is not plainly first (cdp-heap, Playwright, DevTools write it
    there) or last (Puppeteer), or the key may occur more than once (the caller encodes the
    command anew).

    Another ``"id"`` key, spelled ``"id" :`` or with an escape (``"\\u0069d"``), is one the
    router's decoding (the last key wins) does not see, but the target does: V8 and Chrome
    fail such a command and answer it with the first ``"id"``, which would then address the
    reply to that id, maybe another client's. So ``"id"`` must occur once, and no escape of
    the key's letters (``\\u0064``, ``\\u0069``) at all."""
    if text.count('"id"') != 1 or "\\u006" in text:
        return None
    first = f'{{"id":{old_id},'
    if text.startswith(first):
        return f'{{"id":{new_id},{text[len(first) :]}'
    last = f',"id":{old_id}}}'
    if text.endswith(last):
        return f'{text[: -len(last)]},"id":{new_id}}}'
    return None
