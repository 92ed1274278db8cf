"""CDP messages: JSON text to typed values and back. No I/O, no trio.

The Chrome DevTools Protocol is JSON-RPC-like, one JSON object per WebSocket message:

- a command (client to target): ``{"id": 1, "method": "X.y", "params": {...}}``
- a response: ``{"id": 1, "result": {...}}``
- an error response: ``{"id": 1, "error": {"code": -32601, "message": "...", "data": ...}}``
- an event (target to client): ``{"method": "X.z", "params": {...}}``

Any of them may carry ``"sessionId"`` (flatten mode: several target sessions multiplexed on
one socket). This module is the only place where raw JSON objects are built or taken apart;
everything above it sees these four classes.
"""

from __future__ import annotations

import json
import json.scanner
from collections.abc import Callable, Mapping
from typing import Any, TypeAlias

import attrs

from ._errors import ProtocolError

JSONObject: TypeAlias = Mapping[str, Any]

_EMPTY: JSONObject = {}


@attrs.frozen
class Command:
    """A command sent to the target. ``id`` is unique among the sender's pending commands."""

    id: int
    method: str
    params: JSONObject = _EMPTY
    session_id: str | None = None


@attrs.frozen
class Response:
    """A successful reply to the command with the same ``id``."""

    id: int
    result: JSONObject = _EMPTY
    session_id: str | None = None


@attrs.frozen
class ErrorResponse:
    """A failed reply. ``id`` is ``None`` when the peer could not tell which command failed
    (for example a reply to text that was not JSON)."""

    id: int | None
    code: int
    message: str
    data: Any = None
    session_id: str | None = None


@attrs.frozen
class Event:
    """A notification from the target."""

    method: str
    params: JSONObject = _EMPTY
    session_id: str | None = None


Message: TypeAlias = Command | Response | ErrorResponse | Event


# The JSON-RPC error codes this project sends (the proxy, to its clients); CDP targets use
# the same ones.
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
SERVER_ERROR = -32000


class MalformedMessage(ProtocolError):
    """Text that is not a CDP message. ``id`` is the message's id if one could be read and
    ``code`` the JSON-RPC error code that fits (:data:`PARSE_ERROR` for text that is not
    JSON, :data:`INVALID_REQUEST` for JSON that is not a CDP message), so that a server can
    answer the sender with an error for that id."""

    def __init__(self, reason: str, *, id: int | None = None, code: int = INVALID_REQUEST) -> None:
        super().__init__(reason)
        self.id = id
        self.code = code


def encode(message: Message) -> str:
    """Serialize one message to the text of one WebSocket message."""
    obj: dict[str, Any]
    if isinstance(message, Command):
        obj = {"id": message.id, "method": message.method}
        if message.params:
            obj["params"] = message.params
    elif isinstance(message, Response):
        obj = {"id": message.id, "result": message.result}
    elif isinstance(message, ErrorResponse):
        error: dict[str, Any] = {"code": message.code, "message": message.message}
        if message.data is not None:
            error["data"] = message.data
        obj = {"error": error} if message.id is None else {"id": message.id, "error": error}
    else:
        obj = {"method": message.method, "params": message.params}
    if message.session_id is not None:
        obj["sessionId"] = message.session_id
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def decode(text: str | bytes) -> Message:
    """Parse the text of one WebSocket message.

    Raises :class:`MalformedMessage` (a :class:`ProtocolError`) if the text is not JSON or
    not shaped like any of the four CDP message kinds. Unknown extra keys are ignored, as
    CDP peers add fields over time.
    """
    try:
        obj = _loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedMessage(f"message is not valid JSON: {exc}", code=PARSE_ERROR) from None
    if not isinstance(obj, dict):
        raise MalformedMessage(f"message is a JSON {type(obj).__name__}, not an object")

    session_id = obj.get("sessionId")
    if session_id is not None and not isinstance(session_id, str):
        raise MalformedMessage("'sessionId' is not a string")
    raw_id = obj.get("id")
    has_id = "id" in obj
    if has_id and type(raw_id) is not int:  # JSON makes no int subclass but bool
        raise MalformedMessage(f"'id' must be an integer, got {raw_id!r}")
    msg_id: int | None = raw_id if has_id else None

    if "error" in obj:
        error = obj["error"]
        if not isinstance(error, dict) or not _is_int(error.get("code")):
            raise MalformedMessage("'error' must be an object with an integer 'code'", id=msg_id)
        return ErrorResponse(
            msg_id, error["code"], str(error.get("message", "")), error.get("data"), session_id
        )
    if "result" in obj:
        if msg_id is None:
            raise MalformedMessage("a response has no 'id'")
        result = obj["result"]
        if not isinstance(result, dict):
            raise MalformedMessage("'result' must be an object", id=msg_id)
        return Response(msg_id, result, session_id)

    method = obj.get("method")
    if not isinstance(method, str) or not method:
        raise MalformedMessage("message has neither 'method', 'result' nor 'error'", id=msg_id)
    params = obj.get("params", _EMPTY)
    if not isinstance(params, dict):
        raise MalformedMessage("'params' must be an object", id=msg_id)
    if msg_id is None:
        return Event(method, params, session_id)
    return Command(msg_id, method, params, session_id)


#: ``json``'s own C scanner for ``loads``' defaults (typeshed types its argument wrongly).
_scan: Callable[[str, int], tuple[Any, int]] = json.scanner.make_scanner(
    json.JSONDecoder()  # type: ignore[arg-type]
)


def _loads(text: str | bytes) -> Any:
    """``json.loads(text)``: a compact message (what CDP peers send) straight through the C
    scanner, without ``loads``' three Python calls and two whitespace matches; anything
    else (whitespace around the value, bytes, an error to describe) through ``loads``."""
    if type(text) is str:
        try:
            obj, end = _scan(text, 0)
        except (StopIteration, ValueError):
            pass
        else:
            if end == len(text):
                return obj
    return json.loads(text)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
