"""WebSocket frames (RFC 6455) without I/O: parse what was read, encode what is to be sent.

The proxy's WebSocket sessions after their handshake. wsproto did this job before; it is
correct but builds several objects and a generator step per frame, which on the proxy's hot
path (every message crosses two WebSockets) cost more than the rest of the routing
(docs/decisions.md D29). This module does only what a CDP session needs — text and binary
messages, fragmentation, ping/pong, close — with no extensions, so that a small frame costs
a few slices and one ``int`` XOR to unmask.

:class:`FrameParser` is fed bytes as they arrive and returns complete events. Payload bytes
are taken out of the buffer as soon as they arrive (a large frame is never re-copied as it
grows) and a message over ``max_message_size`` is dropped as it arrives, keeping only its
first characters (to answer the command's id). Anything a peer must not send — reserved
bits or opcodes, an unmasked client frame, a fragmented or long control frame, a
continuation with no message, invalid UTF-8 — raises :class:`ProtocolError` with the close
code to send; messages complete before the error in the same bytes are returned first
(:attr:`FrameParser.error`). A whole small text frame, what nearly every CDP message is, is
parsed inline without the general path's calls (docs/decisions.md D30).
"""

from __future__ import annotations

import random
import struct
from typing import TypeAlias

import attrs

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA
_DATA_OPCODES = (OP_CONTINUATION, OP_TEXT, OP_BINARY)
_CONTROL_OPCODES = (OP_CLOSE, OP_PING, OP_PONG)

CLOSE_NORMAL = 1000
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_NO_STATUS = 1005
CLOSE_INVALID_DATA = 1007
CLOSE_TOO_BIG = 1009
#: What is kept of an oversized message: enough to read its ``"id"`` for the error reply.
OVERSIZED_PREFIX = 128
#: Unmasking works on slices of this many bytes, so a large payload is not turned into one
#: huge integer (which costs several copies of it at once).
_XOR_SLICE = 64 * 1024
_MAX_CONTROL_PAYLOAD = 125


class ProtocolError(Exception):
    """The peer broke the protocol; close the connection with ``code``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@attrs.frozen
class Oversized:
    """A message over the size limit, dropped as it arrived: ``size`` bytes, of which
    ``prefix`` (its first characters) was kept."""

    size: int
    prefix: str


@attrs.frozen
class Ping:
    payload: bytes


@attrs.frozen
class Pong:
    payload: bytes


@attrs.frozen
class Close:
    """The peer's close frame (``code`` 1005 when it carried none)."""

    code: int
    reason: str


#: What :meth:`FrameParser.events` returns: a whole text (``str``) or binary (``bytes``)
#: message, an oversized one, or a control frame.
Received: TypeAlias = str | bytes | Oversized | Ping | Pong | Close


def _xor(data: bytes | bytearray | memoryview, mask: bytes, offset: int = 0) -> bytes:
    """``data`` XOR the 4-byte ``mask``, whose first byte applies at position ``-offset``
    (a frame's payload read in pieces continues the mask where the last piece ended)."""
    if offset % 4:
        shift = offset % 4
        mask = mask[shift:] + mask[:shift]
    n = len(data)
    if n <= _XOR_SLICE:
        repeated = (mask * (n // 4 + 1))[:n]
        return (int.from_bytes(data, "little") ^ int.from_bytes(repeated, "little")).to_bytes(
            n, "little"
        )
    full_key = int.from_bytes(mask * (_XOR_SLICE // 4), "little")
    view = memoryview(data)
    pieces = []
    for start in range(0, n, _XOR_SLICE):
        piece = view[start : start + _XOR_SLICE]
        k = len(piece)
        key = full_key if k == _XOR_SLICE else int.from_bytes((mask * (k // 4 + 1))[:k], "little")
        pieces.append((int.from_bytes(piece, "little") ^ key).to_bytes(k, "little"))
    return b"".join(pieces)


def _header(opcode: int, length: int, mask: bytes | None) -> bytes:
    first = 0x80 | opcode
    bit = 0x80 if mask is not None else 0
    if length < 126:
        head = struct.pack("!BB", first, bit | length)
    elif length < 1 << 16:
        head = struct.pack("!BBH", first, bit | 126, length)
    else:
        head = struct.pack("!BBQ", first, bit | 127, length)
    return head if mask is None else head + mask


#: Masks for frames a client sends. RFC 6455 wants them unpredictable to scripts in a
#: browser (so that a page cannot shape bytes an intermediary would misread); the proxy's
#: frames carry what its clients sent, which they could send directly, so a seeded PRNG is
#: enough and spares a ``getrandom`` system call per frame.
_masks = random.Random()


def encode_frames(opcode: int, payloads: list[bytes], *, masked: bool) -> list[bytes]:
    """One unfragmented frame for each of ``payloads``."""
    if masked:
        frames = []
        for payload in payloads:
            mask = _masks.getrandbits(32).to_bytes(4, "little")
            frames.append(_header(opcode, len(payload), mask) + _xor(payload, mask))
        return frames
    return [_header(opcode, len(payload), None) + payload for payload in payloads]


def encode_text(payload: bytes, *, masked: bool) -> bytes:
    """One unfragmented text frame of ``payload``: :func:`encode_frames` for the one message
    that most writes carry, without the lists."""
    n = len(payload)
    if masked:
        mask = _masks.getrandbits(32).to_bytes(4, "little")
        if n < 126:  # _xor(payload, mask), inlined: the key repeated over n bytes
            keys = int.from_bytes((mask * 32)[:n], "little")
            body = (int.from_bytes(payload, "little") ^ keys).to_bytes(n, "little")
            return bytes((0x81, 0x80 | n)) + mask + body
        return _header(OP_TEXT, n, mask) + _xor(payload, mask)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 1 << 16:
        return bytes((0x81, 126, n >> 8, n & 0xFF)) + payload
    return _header(OP_TEXT, n, None) + payload


def encode_close(code: int | None, reason: str, *, masked: bool) -> bytes:
    """A close frame; ``code`` ``None``: one with no status (the answer to such a one)."""
    payload = b""
    if code is not None:
        # Cut to fit the control payload between characters: a cut one is not UTF-8,
        # which the peer answers by failing the connection (1007).
        kept = reason.encode()[: _MAX_CONTROL_PAYLOAD - 2].decode(errors="ignore")
        payload = struct.pack("!H", code) + kept.encode()
    return b"".join(encode_frames(OP_CLOSE, [payload], masked=masked))


def _valid_close_code(code: int) -> bool:
    """Codes a peer may send (RFC 6455 7.4: 1004-1006 and 1015 are never on the wire)."""
    return code in (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014) or (
        3000 <= code < 5000
    )


class FrameParser:
    """Frames from one peer: :meth:`feed` what was read, then take :meth:`events`.

    ``masked`` says whether the peer must mask its frames (a server parses a client's).
    """

    def __init__(self, *, masked: bool, max_message_size: int) -> None:
        self._masked = masked
        self._max = max_message_size
        #: Unparsed bytes: at most a frame header between reads (payload is taken at once).
        self._buffer = b""
        # The frame being read: its opcode, FIN, mask, payload bytes still to come, and
        # (for a control frame) its payload so far.
        self._opcode = -1
        self._fin = False
        self._mask: bytes | None = None
        self._remaining = 0
        self._read = 0
        self._control: list[bytes] = []
        # The message being assembled from data frames.
        self._message_opcode: int | None = None
        self._parts: list[bytes] = []
        self._size = 0
        self._prefix: str | None = None  # set once the message is over the limit
        #: The protocol error found after messages that :meth:`events` returned first.
        self.error: ProtocolError | None = None

    def feed(self, data: bytes) -> None:
        if self.error is None:
            self._buffer = self._buffer + data if self._buffer else data

    def events(self) -> list[Received]:
        """Everything complete in what was fed; raises :class:`ProtocolError`.

        When the error comes after complete messages in the same bytes, those messages
        are returned first and the error is kept in :attr:`error`: the next call raises it
        (the caller delivers what the peer sent before it broke the protocol, then closes).
        """
        if self.error is not None:
            raise self.error
        events: list[Received] = []
        try:
            self._parse(events)
        except ProtocolError as exc:
            self._buffer = b""
            if not events:
                raise
            self.error = exc
        return events

    def _parse(self, events: list[Received]) -> None:
        buffer = self._buffer
        pos = 0
        end = len(buffer)
        masked = self._masked
        while True:
            if self._opcode < 0:
                if pos == end:
                    break
                # The common case, inlined: a whole unfragmented text frame, its length in 7
                # or 16 bits, all of it read, no message in progress (a few slices, no calls
                # but the unmasking; anything else takes the general path below).
                if self._message_opcode is None and end - pos >= 2 and buffer[pos] == 0x81:
                    second = buffer[pos + 1]
                    length = second & 0x7F
                    start = pos + (6 if masked else 2)
                    if length == 126 and end - pos >= 4:
                        length = buffer[pos + 2] << 8 | buffer[pos + 3]
                        start += 2
                    elif length >= 126:
                        length = -1
                    stop = start + length
                    if (second >> 7) == masked and 0 <= length <= self._max and stop <= end:
                        if masked:
                            payload = _xor(buffer[start:stop], buffer[start - 4 : start])
                        else:
                            payload = buffer[start:stop]
                        try:
                            events.append(payload.decode())
                        except UnicodeDecodeError:
                            raise ProtocolError(
                                CLOSE_INVALID_DATA, "text message is not UTF-8"
                            ) from None
                        pos = stop
                        continue
                header = self._parse_header(buffer, pos, end)
                if header == 0:
                    break
                pos += header
            take = min(self._remaining, end - pos)
            if take or not self._remaining:
                self._payload(buffer[pos : pos + take] if take != end or pos else buffer)
                pos += take
            if self._remaining:
                break
            event = self._frame_done()
            if event is not None:
                events.append(event)
        self._buffer = buffer[pos:] if pos < end else b""

    def _parse_header(self, buffer: bytes, pos: int, end: int) -> int:
        """Read a frame header at ``pos``: its length, or 0 if it is not all there yet."""
        if end - pos < 2:
            return 0
        first, second = buffer[pos], buffer[pos + 1]
        length = second & 0x7F
        size = 2
        if length == 126:
            size = 4
        elif length == 127:
            size = 10
        has_mask = bool(second & 0x80)
        if has_mask:
            size += 4
        if end - pos < size:
            return 0
        if first & 0x70:
            raise ProtocolError(CLOSE_PROTOCOL_ERROR, "reserved bits set (no extension agreed)")
        opcode = first & 0x0F
        fin = bool(first & 0x80)
        if opcode in _CONTROL_OPCODES:
            if not fin:
                raise ProtocolError(CLOSE_PROTOCOL_ERROR, "fragmented control frame")
            if length > _MAX_CONTROL_PAYLOAD:
                raise ProtocolError(CLOSE_PROTOCOL_ERROR, "control frame payload over 125 bytes")
        elif opcode not in _DATA_OPCODES:
            raise ProtocolError(CLOSE_PROTOCOL_ERROR, f"reserved opcode {opcode:#x}")
        elif opcode == OP_CONTINUATION:
            if self._message_opcode is None:
                raise ProtocolError(CLOSE_PROTOCOL_ERROR, "continuation frame with no message")
        elif self._message_opcode is not None:
            raise ProtocolError(CLOSE_PROTOCOL_ERROR, "new message before the last one ended")
        if has_mask != self._masked:
            raise ProtocolError(
                CLOSE_PROTOCOL_ERROR,
                "client frame not masked" if self._masked else "server frame masked",
            )
        if length == 126:
            (length,) = struct.unpack_from("!H", buffer, pos + 2)
        elif length == 127:
            (length,) = struct.unpack_from("!Q", buffer, pos + 2)
            if length >> 63:
                raise ProtocolError(CLOSE_PROTOCOL_ERROR, "frame length over 2**63")
        self._opcode, self._fin, self._remaining, self._read = opcode, fin, length, 0
        self._mask = bytes(buffer[pos + size - 4 : pos + size]) if has_mask else None
        if opcode in _DATA_OPCODES and self._message_opcode is None:
            self._message_opcode = opcode
        return size

    def _payload(self, piece: bytes) -> None:
        """Take ``piece`` of the current frame's payload."""
        if self._mask is not None and piece:
            piece = _xor(piece, self._mask, self._read)
        self._read += len(piece)
        self._remaining -= len(piece)
        if self._opcode in _CONTROL_OPCODES:
            self._control.append(piece)
            return
        self._size += len(piece)
        if self._prefix is None:
            self._parts.append(piece)
            if self._size > self._max:
                self._prefix = _prefix(self._parts)
                self._parts = []
        # Over the limit: what arrives is dropped.

    def _frame_done(self) -> Received | None:
        opcode = self._opcode
        self._opcode = -1
        if opcode in _CONTROL_OPCODES:
            payload = b"".join(self._control)
            self._control = []
            if opcode == OP_PING:
                return Ping(payload)
            if opcode == OP_PONG:
                return Pong(payload)
            return _close(payload)
        if not self._fin:
            return None
        message_opcode, parts, size, prefix = (
            self._message_opcode,
            self._parts,
            self._size,
            self._prefix,
        )
        self._message_opcode, self._parts, self._size, self._prefix = None, [], 0, None
        if prefix is not None:
            return Oversized(size, prefix)
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        if message_opcode == OP_BINARY:
            return bytes(data)
        try:
            return data.decode()
        except UnicodeDecodeError:
            raise ProtocolError(CLOSE_INVALID_DATA, "text message is not UTF-8") from None


def _close(payload: bytes) -> Close:
    if not payload:
        return Close(CLOSE_NO_STATUS, "")
    if len(payload) == 1:
        raise ProtocolError(CLOSE_PROTOCOL_ERROR, "close frame with a 1-byte payload")
    (code,) = struct.unpack_from("!H", payload)
    if not _valid_close_code(code):
        raise ProtocolError(CLOSE_PROTOCOL_ERROR, f"invalid close code {code}")
    try:
        reason = payload[2:].decode()
    except UnicodeDecodeError:
        raise ProtocolError(CLOSE_INVALID_DATA, "close reason is not UTF-8") from None
    return Close(code, reason)


def _prefix(parts: list[bytes]) -> str:
    """The first characters of the message so far (a cut character is dropped)."""
    head = b""
    for part in parts:
        head += part[: OVERSIZED_PREFIX - len(head)]
        if len(head) >= OVERSIZED_PREFIX:
            break
    return head.decode(errors="ignore")
