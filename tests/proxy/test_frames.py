"""The proxy's WebSocket frame codec (cdp_heap_proxy._frames) against wsproto as the oracle.

- What a wsproto client (or server) writes — messages of every length encoding, fragmented,
  with pings and pongs between the fragments, then a close — read by :class:`FrameParser`
  in any split of the byte stream gives back exactly what was sent.
- What :func:`encode_frames` and :func:`encode_close` write, wsproto reads back unchanged.
- :func:`_xor` with any offset equals a byte-by-byte loop, over the 64 KiB slice size too.
- A message over the size limit comes out as :class:`Oversized` with its size and prefix,
  holds no memory, and the message after it is intact.
- Everything a peer must not send raises :class:`ProtocolError` with the close code wsproto
  would send too.
"""

from __future__ import annotations

import itertools
import random
import struct
from collections.abc import Iterable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wsproto.frame_protocol import CloseReason, FrameProtocol, Opcode, ParseFailed

from cdp_heap_proxy._frames import (
    _XOR_SLICE,
    OP_BINARY,
    OP_CLOSE,
    OP_CONTINUATION,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    OVERSIZED_PREFIX,
    Close,
    FrameParser,
    Oversized,
    Ping,
    Pong,
    ProtocolError,
    Received,
    _xor,
    encode_close,
    encode_frames,
    encode_text,
)

FAST = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
#: Payload lengths around the three length encodings (7-bit, 16-bit, 64-bit).
BOUNDARIES = [0, 1, 2, 124, 125, 126, 127, 65534, 65535, 65536, 65537]
VALID_CLOSE_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014]
VALID_CLOSE_CODES += [3000, 3999, 4000, 4999]
#: wsproto does not know 1014 (Bad Gateway, registered after RFC 6455): the oracle tests
#: leave it out.
WSPROTO_CLOSE_CODES = [c for c in VALID_CLOSE_CODES if c != 1014]
BIG = 1 << 24

Message = str | bytes


# -- strategies -------------------------------------------------------------------------------


@st.composite
def messages(draw: st.DrawFn) -> Message:
    """A text (any unicode, ASCII padding to reach the drawn byte length) or binary message."""
    size = draw(st.one_of(st.sampled_from(BOUNDARIES), st.integers(0, 300)))
    if draw(st.booleans()):
        base = draw(st.text(max_size=30))
        pad = "a" * max(0, size - len(base.encode()))
        cut = draw(st.integers(0, len(base)))
        return base[:cut] + pad + base[cut:]
    return random.Random(draw(st.integers(0, 2**32))).randbytes(size)


def control_frames() -> st.SearchStrategy[Ping | Pong]:
    payload = st.binary(max_size=125)
    return st.one_of(st.builds(Ping, payload), st.builds(Pong, payload))


@st.composite
def fragments(draw: st.DrawFn, message: Message) -> list[Message]:
    """``message`` cut into pieces (text at character boundaries: wsproto sends ``str``)."""
    cuts = sorted(draw(st.lists(st.integers(0, len(message)), max_size=4)))
    bounds = [0, *cuts, len(message)]
    return [message[a:b] for a, b in itertools.pairwise(bounds)]


@st.composite
def conversations(
    draw: st.DrawFn,
) -> tuple[list[tuple[list[Message], list[list[Ping | Pong]]]], Close | None]:
    """Messages, each as fragments with control frames after each fragment, maybe a close."""
    plan = []
    for message in draw(st.lists(messages(), max_size=5)):
        pieces = draw(fragments(message))
        controls = [draw(st.lists(control_frames(), max_size=2)) for _ in pieces]
        plan.append((pieces, controls))
    close = None
    if draw(st.booleans()):
        close = Close(draw(st.sampled_from(WSPROTO_CLOSE_CODES)), draw(st.text(max_size=30)))
    return plan, close


def wsproto_stream(
    plan: list[tuple[list[Message], list[list[Ping | Pong]]]], close: Close | None, *, client: bool
) -> tuple[bytes, list[Received]]:
    """What a wsproto client (masked) or server writes for ``plan``, and the events a parser
    should give back for it."""
    proto = FrameProtocol(client=client, extensions=[])
    out = bytearray()
    expected: list[Received] = []
    for pieces, controls in plan:
        for i, piece in enumerate(pieces):
            last = i == len(pieces) - 1
            out += proto.send_data(piece, fin=last)
            if last:
                expected.append(pieces[0][:0].join(pieces))  # type: ignore[arg-type]
            for control in controls[i]:
                out += (
                    proto.ping(control.payload)
                    if isinstance(control, Ping)
                    else (proto.pong(control.payload))
                )
                expected.append(control)
    if close is not None:
        out += proto.close(close.code, close.reason)
        expected.append(close)
    return bytes(out), expected


@st.composite
def splits(draw: st.DrawFn, data: bytes) -> list[bytes]:
    """``data`` cut into the reads a socket might return: one byte each, or random cuts."""
    if len(data) <= 4000 and draw(st.booleans()):
        return [data[i : i + 1] for i in range(len(data))]
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=40)))
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def parse(parser: FrameParser, reads: Iterable[bytes]) -> list[Received]:
    """Everything parsed from ``reads``; a protocol error found after complete messages
    is raised by the next ``events()`` (as the WebSocket asks after delivering them)."""
    events: list[Received] = []
    for read in reads:
        parser.feed(read)
        events += parser.events()
    if parser.error is not None:
        parser.events()
    return events


def wsproto_read(data: bytes, *, client: bool) -> list[object]:
    """Messages (reassembled) and close/ping/pong frames as wsproto reads ``data``."""
    proto = FrameProtocol(client=client, extensions=[])
    proto.receive_bytes(data)
    out: list[object] = []
    parts: list[Message] = []
    for frame in proto.received_frames():
        payload = frame.payload
        if frame.opcode == Opcode.CLOSE:
            assert isinstance(payload, tuple)
            out.append(Close(int(payload[0]), payload[1]))
            continue
        assert isinstance(payload, str | bytes)
        if frame.opcode == Opcode.PING:
            out.append(Ping(bytes(payload)))  # type: ignore[arg-type]
        elif frame.opcode == Opcode.PONG:
            out.append(Pong(bytes(payload)))  # type: ignore[arg-type]
        else:
            parts.append(payload)
            if frame.message_finished:
                out.append(parts[0][:0].join(parts))  # type: ignore[arg-type]
                parts = []
    assert not parts, "a message was left unfinished"
    return out


def frame(
    first: int,
    payload: bytes = b"",
    *,
    mask: bytes | None = b"\x9a\x0b\xc4\x37",
    length: int | None = None,
) -> bytes:
    """One raw frame: ``first`` is the FIN/RSV/opcode byte; ``length`` overrides the length
    written in the header (the payload is still what is given)."""
    n = len(payload) if length is None else length
    bit = 0x80 if mask is not None else 0
    if n < 126:
        head = bytes([first, bit | n])
    elif n < 1 << 16:
        head = bytes([first, bit | 126]) + struct.pack("!H", n)
    else:
        head = bytes([first, bit | 127]) + struct.pack("!Q", n)
    if mask is None:
        return head + payload
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


FIN = 0x80


# -- wsproto writes, FrameParser reads --------------------------------------------------------


@FAST
@given(st.data())
def test_what_a_wsproto_client_sends_is_parsed_in_any_split(data: st.DataObject) -> None:
    plan, close = data.draw(conversations())
    stream, expected = wsproto_stream(plan, close, client=True)
    reads = data.draw(splits(stream))
    assert parse(FrameParser(masked=True, max_message_size=BIG), reads) == expected


@FAST
@given(st.data())
def test_what_a_wsproto_server_sends_is_parsed_in_any_split(data: st.DataObject) -> None:
    plan, close = data.draw(conversations())
    stream, expected = wsproto_stream(plan, close, client=False)
    reads = data.draw(splits(stream))
    assert parse(FrameParser(masked=False, max_message_size=BIG), reads) == expected


@pytest.mark.parametrize("size", [125, 126, 65535, 65536, 70_001])
def test_boundary_lengths_fed_one_byte_at_a_time(size: int) -> None:
    payload = random.Random(size).randbytes(size)
    proto = FrameProtocol(client=True, extensions=[])
    stream = bytes(proto.send_data(payload) + proto.send_data("é" * (size // 2)))
    parser = FrameParser(masked=True, max_message_size=BIG)
    assert parse(parser, (stream[i : i + 1] for i in range(len(stream)))) == [
        payload,
        "é" * (size // 2),
    ]
    assert parser._buffer == b""


def test_text_fragments_cut_inside_a_character_are_joined() -> None:
    """wsproto sends ``str`` fragments, so the oracle never cuts a character; a peer may."""
    encoded = "añ€😀".encode()
    for cut in range(len(encoded) + 1):
        stream = frame(OP_TEXT, encoded[:cut]) + frame(FIN | OP_CONTINUATION, encoded[cut:])
        assert parse(FrameParser(masked=True, max_message_size=100), [stream]) == ["añ€😀"]
        server = FrameProtocol(client=False, extensions=[])
        server.receive_bytes(stream)
        texts = [f.payload for f in server.received_frames()]
        assert all(isinstance(t, str) for t in texts) and "".join(map(str, texts)) == "añ€😀"


def test_empty_frames_and_an_empty_final_continuation() -> None:
    stream = frame(OP_TEXT) + frame(FIN | OP_PING) + frame(OP_CONTINUATION, b"ab")
    stream += frame(FIN | OP_CONTINUATION) + frame(FIN | OP_BINARY) + frame(FIN | OP_CLOSE)
    assert parse(FrameParser(masked=True, max_message_size=10), [stream]) == [
        Ping(b""),
        "ab",
        b"",
        Close(1005, ""),
    ]


# -- encode_frames / encode_close write, wsproto reads ----------------------------------------


@FAST
@given(st.lists(messages(), max_size=6), st.booleans())
def test_encoded_frames_are_read_back_by_wsproto(batch: list[Message], masked: bool) -> None:
    stream = b""
    for message in batch:
        if isinstance(message, str):
            stream += b"".join(encode_frames(OP_TEXT, [message.encode()], masked=masked))
        else:
            stream += b"".join(encode_frames(OP_BINARY, [message], masked=masked))
    # masked: a client's frames, read by a wsproto server; unmasked: a server's, by a client.
    assert wsproto_read(stream, client=not masked) == batch
    assert parse(FrameParser(masked=masked, max_message_size=BIG), [stream]) == batch


@FAST
@given(st.lists(st.binary(max_size=300), max_size=8), st.booleans())
def test_one_call_gives_one_frame_per_payload(payloads: list[bytes], masked: bool) -> None:
    frames = encode_frames(OP_BINARY, payloads, masked=masked)
    assert len(frames) == len(payloads)
    for encoded, payload in zip(frames, payloads, strict=True):
        assert wsproto_read(encoded, client=not masked) == [payload]
    pings = encode_frames(OP_PING, [p[:125] for p in payloads], masked=masked)
    assert wsproto_read(b"".join(pings), client=not masked) == [Ping(p[:125]) for p in payloads]


@pytest.mark.parametrize("size", [0, 1, 2, 3, 5, 64, 125, 126, 127, 65535, 65536, 70000])
@pytest.mark.parametrize("masked", [True, False])
def test_encode_text_is_encode_frames_of_one_text(size: int, masked: bool) -> None:
    """The one-message encoder writes what the general one does (the same header, a mask
    when masked), which wsproto and the proxy's parser read back."""
    text = ("é" * size)[: size // 2] + "x" * (size - 2 * (size // 2))
    payload = text.encode()
    encoded = encode_text(payload, masked=masked)
    general = encode_frames(OP_TEXT, [payload], masked=masked)[0]
    header = 2 + (2 if len(payload) >= 126 else 0) + (6 if len(payload) >= 1 << 16 else 0)
    assert encoded[:header] == general[:header]  # the same header; masks differ
    assert len(encoded) == len(general)
    assert wsproto_read(encoded, client=not masked) == [text]
    parser = FrameParser(masked=masked, max_message_size=BIG)
    assert parse(parser, [encoded]) == [text]


def close_reasons() -> st.SearchStrategy[str]:
    long = st.builds(
        lambda c, n, t: c * n + t,
        st.sampled_from("aé€😀"),
        st.integers(20, 130),
        st.text(max_size=5),
    )
    return st.one_of(st.text(max_size=200), long)


@FAST
@given(st.sampled_from(WSPROTO_CLOSE_CODES), close_reasons(), st.booleans())
def test_close_frames_are_read_back_by_wsproto(code: int, reason: str, masked: bool) -> None:
    """A long reason is cut to fit the 125-byte control payload — at a character boundary,
    or the peer would fail the connection for a reason that is not UTF-8."""
    encoded = encode_close(code, reason, masked=masked)
    (got,) = wsproto_read(encoded, client=not masked)
    fitting = [n for n in range(len(reason) + 1) if len(reason[:n].encode()) <= 123]
    assert got == Close(code, reason[: max(fitting)])
    assert parse(FrameParser(masked=masked, max_message_size=10), [encoded]) == [got]


@pytest.mark.parametrize("char", ["é", "€", "😀"])
def test_a_long_close_reason_is_cut_between_characters(char: str) -> None:
    encoded = encode_close(1000, char * 100, masked=False)
    kept = 123 // len(char.encode())
    assert parse(FrameParser(masked=False, max_message_size=10), [encoded]) == [
        Close(1000, char * kept)
    ]


def test_a_close_with_no_status() -> None:
    encoded = encode_close(None, "ignored", masked=False)
    assert encoded == b"\x88\x00"
    assert parse(FrameParser(masked=False, max_message_size=10), [encoded]) == [Close(1005, "")]


# -- masking ----------------------------------------------------------------------------------


def naive_xor(data: bytes, mask: bytes, offset: int) -> bytes:
    return bytes(b ^ mask[(i + offset) % 4] for i, b in enumerate(data))


@FAST
@given(
    st.one_of(
        st.integers(0, 100),
        st.sampled_from([_XOR_SLICE - 1, _XOR_SLICE, _XOR_SLICE + 1, 2 * _XOR_SLICE + 3]),
        st.integers(0, 3 * _XOR_SLICE),
    ),
    st.binary(min_size=4, max_size=4),
    st.integers(0, 1 << 20),
    st.integers(0, 2**32),
    st.sampled_from([bytes, bytearray, memoryview]),
)
def test_xor_with_offsets_equals_a_byte_loop(
    size: int, mask: bytes, offset: int, seed: int, kind: type
) -> None:
    data = random.Random(seed).randbytes(size)
    assert _xor(kind(data), mask, offset) == naive_xor(data, mask, offset)


@FAST
@given(st.binary(max_size=3000), st.binary(min_size=4, max_size=4), st.data())
def test_xor_in_pieces_continues_the_mask(data: bytes, mask: bytes, draw: st.DataObject) -> None:
    cuts = sorted(draw.draw(st.lists(st.integers(0, len(data)), max_size=6)))
    bounds = [0, *cuts, len(data)]
    pieces = [_xor(data[a:b], mask, a) for a, b in itertools.pairwise(bounds)]
    assert b"".join(pieces) == naive_xor(data, mask, 0)


# -- the size limit ---------------------------------------------------------------------------


def oversized(payload: bytes) -> Oversized:
    return Oversized(len(payload), payload[:OVERSIZED_PREFIX].decode(errors="ignore"))


def expected_for(message: Message, limit: int) -> Received:
    payload = message if isinstance(message, bytes) else message.encode()
    return oversized(payload) if len(payload) > limit else message


@FAST
@given(st.data())
def test_a_message_over_the_limit_is_oversized_and_the_next_is_intact(
    data: st.DataObject,
) -> None:
    limit = data.draw(st.integers(OVERSIZED_PREFIX, 3000))
    size = data.draw(st.one_of(st.integers(limit - 2, limit + 2), st.integers(0, 3 * limit)))
    message: Message
    if data.draw(st.booleans()):
        message = random.Random(size).randbytes(size)
    else:
        base = data.draw(st.text(min_size=1, max_size=60))
        message = base * (size // len(base.encode()))
        message += "x" * max(0, size - len(message.encode()))
    after = data.draw(messages())
    proto = FrameProtocol(client=True, extensions=[])
    stream = bytearray()
    for pieces in (data.draw(fragments(message)), [after]):
        for i, piece in enumerate(pieces):
            stream += proto.send_data(piece, fin=i == len(pieces) - 1)
            if data.draw(st.booleans()):
                stream += proto.ping(b"p")
    parser = FrameParser(masked=True, max_message_size=limit)
    events = parse(parser, data.draw(splits(bytes(stream))))
    first = expected_for(message, limit)
    assert [e for e in events if not isinstance(e, Ping)] == [first, expected_for(after, limit)]
    if isinstance(message, str) and isinstance(first, Oversized):
        # The prefix: the longest run of whole characters in the first 128 bytes.
        fitting = [n for n in range(len(message) + 1) if len(message[:n].encode()) <= 128]
        assert first.prefix == message[: max(fitting)]


@pytest.mark.parametrize("fragmented", [False, True])
def test_an_oversized_message_holds_no_more_than_the_limit(fragmented: bool) -> None:
    limit = 1 << 20
    payload = bytes(range(256)) * (10 * 4096)  # 10 MiB
    proto = FrameProtocol(client=True, extensions=[])
    if fragmented:
        step = 100_000
        stream = b"".join(
            proto.send_data(payload[i : i + step], fin=i + step >= len(payload))
            for i in range(0, len(payload), step)
        )
    else:
        stream = bytes(proto.send_data(payload))
    stream += proto.send_data("next")
    parser = FrameParser(masked=True, max_message_size=limit)
    events: list[Received] = []
    read = 65536
    for i in range(0, len(stream), read):
        parser.feed(stream[i : i + read])
        events += parser.events()
        held = sum(len(p) for p in parser._parts) + len(parser._buffer)
        assert held <= limit + read
        if parser._size > limit:
            assert parser._parts == []
    assert events == [oversized(payload), "next"]


def test_a_message_exactly_at_the_limit_is_whole() -> None:
    stream = frame(OP_TEXT, b"a" * 100) + frame(FIN | OP_CONTINUATION, b"b" * 100)
    assert parse(FrameParser(masked=True, max_message_size=200), [stream]) == [
        "a" * 100 + "b" * 100
    ]
    parser = FrameParser(masked=True, max_message_size=199)
    assert parse(parser, [stream]) == [Oversized(200, "a" * 100 + "b" * 28)]


def test_a_character_cut_at_the_prefix_boundary_is_dropped() -> None:
    text = "a" * 127 + "€" + "b" * 300  # "€" is 3 bytes: bytes 127-129
    parser = FrameParser(masked=True, max_message_size=200)
    assert parse(parser, [frame(FIN | OP_TEXT, text.encode())]) == [
        Oversized(len(text.encode()), "a" * 127)
    ]


def test_an_oversized_text_is_not_checked_for_utf8() -> None:
    """It is dropped, not delivered: invalid bytes after the prefix do not fail the connection."""
    payload = b'{"id":7,"x":"' + b"\xff" * 500 + b'"}'
    parser = FrameParser(masked=True, max_message_size=200)
    assert parse(parser, [frame(FIN | OP_TEXT, payload)]) == [oversized(payload)]
    assert oversized(payload).prefix == '{"id":7,"x":"'


# -- protocol errors --------------------------------------------------------------------------

M = b"\x9a\x0b\xc4\x37"
PROTOCOL_ERRORS: dict[str, tuple[bool, bytes, int]] = {
    # name: (parser masked, stream, close code)
    "rsv1": (True, frame(FIN | 0x40 | OP_TEXT, b"x"), 1002),
    "rsv2": (True, frame(FIN | 0x20 | OP_TEXT, b"x"), 1002),
    "rsv3": (True, frame(FIN | 0x10 | OP_BINARY, b"x"), 1002),
    "rsv on a ping": (True, frame(FIN | 0x40 | OP_PING, b"x"), 1002),
    "opcode 0x3": (True, frame(FIN | 0x3, b"x"), 1002),
    "opcode 0x7": (True, frame(FIN | 0x7, b"x"), 1002),
    "opcode 0xb": (True, frame(FIN | 0xB, b"x"), 1002),
    "opcode 0xf": (True, frame(FIN | 0xF, b""), 1002),
    "unmasked client frame": (True, frame(FIN | OP_TEXT, b"x", mask=None), 1002),
    "masked server frame": (False, frame(FIN | OP_TEXT, b"x", mask=M), 1002),
    "fragmented ping": (True, frame(OP_PING, b"x"), 1002),
    "fragmented close": (True, frame(OP_CLOSE, b"\x03\xe8"), 1002),
    "ping of 126 bytes": (True, frame(FIN | OP_PING, b"x" * 126), 1002),
    "pong of 70000 bytes": (True, frame(FIN | OP_PONG, b"x" * 70000), 1002),
    "continuation with no message": (True, frame(FIN | OP_CONTINUATION, b"x"), 1002),
    "text inside a fragmented text": (
        True,
        frame(OP_TEXT, b"a") + frame(FIN | OP_TEXT, b"b"),
        1002,
    ),
    "binary inside a fragmented text": (
        True,
        frame(OP_TEXT, b"a") + frame(FIN | OP_PING) + frame(FIN | OP_BINARY, b"b"),
        1002,
    ),
    "invalid UTF-8 text": (True, frame(FIN | OP_TEXT, b"ok \xff"), 1007),
    "overlong UTF-8": (True, frame(FIN | OP_TEXT, b"\xc0\xaf"), 1007),
    "UTF-16 surrogate in UTF-8": (True, frame(FIN | OP_TEXT, b"\xed\xa0\x80"), 1007),
    "UTF-8 cut at the message end": (
        True,
        frame(OP_TEXT, "€".encode()[:2]) + frame(FIN | OP_CONTINUATION),
        1007,
    ),
    "close with a 1-byte payload": (True, frame(FIN | OP_CLOSE, b"\x03"), 1002),
    "close reason not UTF-8": (True, frame(FIN | OP_CLOSE, b"\x03\xe8\xff\xfe"), 1007),
    "64-bit length with the top bit": (
        True,
        frame(FIN | OP_BINARY, mask=M, length=1 << 63),
        1002,
    ),
}
for _code in (0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535):
    PROTOCOL_ERRORS[f"close code {_code}"] = (
        True,
        frame(FIN | OP_CLOSE, struct.pack("!H", _code) + b"bye"),
        1002,
    )


@pytest.mark.parametrize("name", PROTOCOL_ERRORS)
def test_protocol_errors_have_their_close_code(name: str) -> None:
    masked, stream, code = PROTOCOL_ERRORS[name]
    for reads in ([stream], [stream[i : i + 1] for i in range(len(stream))]):
        parser = FrameParser(masked=masked, max_message_size=BIG)
        with pytest.raises(ProtocolError) as caught:
            parse(parser, reads)
        assert caught.value.code == code, caught.value.reason


@pytest.mark.parametrize(
    "name",
    # wsproto does not check these the same way (it reads a huge length as a frame to wait
    # for, and a text's UTF-8 as it arrives, which fails sooner, with the same code).
    [n for n in PROTOCOL_ERRORS if n != "64-bit length with the top bit"],
)
def test_wsproto_fails_the_same_streams_with_the_same_code(name: str) -> None:
    masked, stream, code = PROTOCOL_ERRORS[name]
    proto = FrameProtocol(client=not masked, extensions=[])
    proto.receive_bytes(stream)
    with pytest.raises(ParseFailed) as caught:
        list(proto.received_frames())
    assert caught.value.code == CloseReason(code)


def test_a_1007_after_valid_fragments_and_pings() -> None:
    stream = (
        frame(OP_TEXT, b"ok") + frame(FIN | OP_PING, b"p") + frame(FIN | OP_CONTINUATION, b"\x80")
    )
    parser = FrameParser(masked=True, max_message_size=100)
    parser.feed(stream[:-1])
    assert parser.events() == [Ping(b"p")]
    parser.feed(stream[-1:])
    with pytest.raises(ProtocolError) as caught:
        parser.events()
    assert caught.value.code == 1007


@pytest.mark.parametrize("code", VALID_CLOSE_CODES)
def test_valid_close_codes_are_read(code: int) -> None:
    stream = frame(FIN | OP_CLOSE, struct.pack("!H", code) + "à bientôt".encode())
    assert parse(FrameParser(masked=True, max_message_size=10), [stream]) == [
        Close(code, "à bientôt")
    ]


def test_a_close_with_a_code_and_no_reason() -> None:
    stream = frame(FIN | OP_CLOSE, struct.pack("!H", 4999))
    assert parse(FrameParser(masked=True, max_message_size=10), [stream]) == [Close(4999, "")]


def test_a_control_payload_of_125_bytes_is_allowed() -> None:
    stream = frame(FIN | OP_PING, b"x" * 125) + frame(FIN | OP_PONG, b"y" * 125)
    assert parse(FrameParser(masked=True, max_message_size=10), [stream]) == [
        Ping(b"x" * 125),
        Pong(b"y" * 125),
    ]
