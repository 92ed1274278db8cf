"""Reading and rewriting flattened-session messages as text, without decoding them. No I/O.

On a browser connection every session's messages share one socket, told apart by their
``"sessionId"``. Chrome serializes it as the *last* key of the top-level object
(``{"id":2,"result":{},"sessionId":"CBE0..."}``, ``{"method":...,"params":{...},"sessionId":
"..."}``), so the proxy reads and rewrites the tail of a 1 MiB snapshot chunk instead of
parsing it. Text that does not end that way is parsed (when small enough to be a
command-sized message) rather than guessed at.
"""

from __future__ import annotations

import json
import re

_KEY = ',"sessionId":"'
_TAIL = 128  # Chrome's session ids are 32 hex digits; room to spare
_PARSE_LIMIT = 64 * 1024
_LEAD = re.compile(r'^\{"(id|method)":(?:(\d+)|"([A-Za-z]+\.[A-Za-z]+)")')


def session_of(text: str) -> str | None:
    """The ``sessionId`` of one upstream message, or ``None`` for the root session."""
    if text.endswith('"}'):
        start = text.rfind(_KEY, max(0, len(text) - _TAIL))
        if start >= 0:
            candidate = text[start + len(_KEY) : -2]
            if candidate.isalnum():
                return candidate
    if len(text) <= _PARSE_LIMIT and '"sessionId"' in text:
        try:
            obj = json.loads(text)
        except ValueError:
            return None
        value = obj.get("sessionId") if isinstance(obj, dict) else None
        return value if isinstance(value, str) else None
    return None


def strip_session(text: str, session: str) -> str:
    """``text`` without its top-level ``"sessionId": session`` (for the client whose top
    level that session is)."""
    suffix = f'{_KEY}{session}"}}'
    if text.endswith(suffix):
        return text[: -len(suffix)] + "}"
    obj = json.loads(text)
    obj.pop("sessionId", None)
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def leading(text: str) -> tuple[int | None, str | None]:
    """``(id, None)`` for a reply, ``(None, method)`` for an event, as Chrome writes them
    (``id`` or ``method`` first); ``(None, None)`` when the text does not start that way."""
    match = _LEAD.match(text)
    if match is None:
        return None, None
    if match.group(1) == "id":
        return int(match.group(2)), None
    return None, match.group(3)
