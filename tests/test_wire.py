"""The wire codec: text in, typed messages out, and back. No sockets."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cdp_heap._wire import Command, ErrorResponse, Event, MalformedMessage, Response, decode, encode

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
params = st.dictionaries(st.text(max_size=10), json_values, max_size=4)
session_ids = st.none() | st.text(min_size=1, max_size=12)
methods = st.from_regex(r"[A-Z][a-zA-Z]{0,8}\.[a-z][a-zA-Z]{0,12}", fullmatch=True)
ids = st.integers(0, 2**31)

messages = st.one_of(
    st.builds(Command, ids, methods, params, session_ids),
    st.builds(Response, ids, params, session_ids),
    st.builds(
        ErrorResponse, ids, st.integers(-33000, 0), st.text(max_size=30), json_values, session_ids
    ),
    st.builds(Event, methods, params, session_ids),
)


@given(messages)
def test_encode_decode_round_trip(message: Command | Response | ErrorResponse | Event) -> None:
    decoded = decode(encode(message))
    if isinstance(message, ErrorResponse) and message.data is None:
        assert decoded == message
    else:
        assert decoded == message


def test_decode_classifies_the_four_kinds() -> None:
    assert decode('{"id":1,"method":"HeapProfiler.enable"}') == Command(1, "HeapProfiler.enable")
    assert decode('{"id":1,"result":{}}') == Response(1, {})
    assert decode('{"id":2,"error":{"code":-32601,"message":"nope"}}') == ErrorResponse(
        2, -32601, "nope"
    )
    assert decode('{"method":"X.y","params":{"a":1},"sessionId":"S"}') == Event(
        "X.y", {"a": 1}, "S"
    )
    assert decode(b'{"method":"X.y"}') == Event("X.y", {})


def test_error_without_id_is_kept() -> None:
    message = decode('{"error":{"code":-32700,"message":"Message must be in JSON format"}}')
    assert message == ErrorResponse(None, -32700, "Message must be in JSON format")
    assert json.loads(encode(message)) == {
        "error": {"code": -32700, "message": "Message must be in JSON format"}
    }


@pytest.mark.parametrize(
    ("text", "reason", "msg_id"),
    [
        ("{not json", "not valid JSON", None),
        ("", "not valid JSON", None),
        (b"\xff\xfe", "not valid JSON", None),
        ("[1, 2]", "JSON list", None),
        ('{"id":"1","method":"X.y"}', "'id' must be an integer", None),
        ('{"id":true,"result":{}}', "'id' must be an integer", None),
        ('{"id":1,"result":[]}', "'result' must be an object", 1),
        ('{"result":{}}', "has no 'id'", None),
        ('{"id":3}', "neither", 3),
        ('{"id":4,"error":"bad"}', "'error' must be", 4),
        ('{"method":"X.y","params":[1]}', "'params' must be an object", None),
        ('{"method":"X.y","sessionId":5}', "'sessionId' is not a string", None),
    ],
)
def test_malformed_messages_are_reported_with_their_id(
    text: str | bytes, reason: str, msg_id: int | None
) -> None:
    with pytest.raises(MalformedMessage, match=reason) as info:
        decode(text)
    assert info.value.id == msg_id


def test_unknown_keys_are_ignored() -> None:
    assert decode('{"id":1,"result":{"x":1},"extra":true}') == Response(1, {"x": 1})


def outcome(text: str) -> tuple[str, object]:
    try:
        return "message", decode(text)
    except MalformedMessage as exc:
        return "malformed", (exc.code, exc.id)


@given(
    json_values | messages.map(encode),
    st.sampled_from(["", " ", "\n", "\t "]),
    st.sampled_from(["", " ", "\r\n", "x", "}", "{}"]),
)
def test_decode_reads_a_text_as_json_loads_does(value: object, before: str, after: str) -> None:
    """The compact fast path (C scanner) and ``json.loads`` agree on every text: the same
    message, or the same kind of refusal (whitespace around it, trailing garbage)."""
    compact = value if isinstance(value, str) and value.startswith("{") else json.dumps(value)
    text = before + compact + after
    try:
        expected: tuple[str, object] = ("json", json.loads(text))
    except ValueError:
        expected = ("not json", None)
    got = outcome(text)
    if expected[0] == "not json":
        assert got[0] == "malformed" and got[1] == (-32700, None)
    else:
        assert got == outcome(json.dumps(expected[1]))  # what the parsed value decodes to
