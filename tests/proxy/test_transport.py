"""The proxy's WebSocket over a real TCP connection (cdp_heap_proxy._sockets.SocketTransport).

The read path runs twice: read by the connection's task, and read by the proxy's lane
(cdp_heap_proxy._lane) for the task waiting in ``get_message`` (the ``lane`` fixture).

A tiny send buffer makes the socket take frames in pieces; a wsproto peer on the other end
checks that what arrives is a valid stream of whole frames, in the order the messages were
given to :meth:`WebSocket.send_nowait`, from several tasks at once, with the writer task
flushing behind them. Then: :meth:`WebSocket.discard_unsent` finishes a frame it has begun,
a reset connection drops what is sent and fails :meth:`WebSocket.flush`, closing the
transport wakes a reader, and :func:`unsent_part` slices like bytes do.
"""

from __future__ import annotations

import random
import socket
import struct
from collections.abc import AsyncIterator

import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st
from wsproto.frame_protocol import FrameProtocol, Opcode

from cdp_heap_proxy._lane import Lane
from cdp_heap_proxy._sockets import SocketTransport, unsent_part
from cdp_heap_proxy._websocket import Oversized, WebSocket, WebSocketClosed

from .helpers import running_lane

SMALL_BUFFER = 4096


def tcp_pair(small: bool = True) -> tuple[socket.socket, socket.socket]:
    """A connected pair of loopback TCP sockets: (ours, the peer's). ``small``: our send
    buffer as small as Linux allows, so a write the peer is not reading as fast is taken in
    part. (The peer's receive buffer stays as it is: shrunk too, loopback TCP crawls with
    delayed acknowledgements of a tiny window.)"""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        ours = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if small:
            ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL_BUFFER)
        ours.connect(listener.getsockname())
        peer, _ = listener.accept()
    return ours, peer


def quickack(sock: trio.socket.SocketType) -> None:
    """Acknowledge what was read at once: a delayed ACK of a small window stalls the
    sender ~40 ms each time (what the proxy does for the same reason, D24)."""
    if hasattr(socket, "TCP_QUICKACK"):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)


def transport_of(sock: socket.socket, lane: Lane | None = None) -> SocketTransport:
    return SocketTransport(trio.SocketStream(trio.socket.from_stdlib_socket(sock)), lane)


def websocket(sock: socket.socket, *, server: bool = True, lane: Lane | None = None) -> WebSocket:
    return WebSocket(transport_of(sock, lane), server=server, max_message_size=1 << 24)


@pytest.fixture(params=["task", "lane"])
async def lane(request: pytest.FixtureRequest) -> AsyncIterator[Lane | None]:
    """Who reads: the task in ``get_message`` (None), or a running lane for it."""
    if request.param == "task":
        yield None
    else:
        async with running_lane() as running:
            yield running


class Peer:
    """The other end: reads frames with wsproto (a client if ours is a server)."""

    def __init__(self, sock: socket.socket, *, client: bool = True) -> None:
        self.sock = trio.socket.from_stdlib_socket(sock)
        self.proto = FrameProtocol(client=client, extensions=[])
        self.parts: list[str | bytes] = []

    async def frames(self) -> list[tuple[Opcode, object]]:
        """Whole messages and control frames from the next read ([] at the end)."""
        while True:
            data = await self.sock.recv(1 << 16)
            if not data:
                return []
            quickack(self.sock)
            self.proto.receive_bytes(data)
            out: list[tuple[Opcode, object]] = []
            for frame in self.proto.received_frames():
                if frame.opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONTINUATION):
                    assert isinstance(frame.payload, str | bytes)
                    self.parts.append(frame.payload)
                    if frame.message_finished:
                        out.append((Opcode.TEXT, self.parts[0][:0].join(self.parts)))  # type: ignore[arg-type]
                        self.parts = []
                else:
                    out.append((frame.opcode, frame.payload))
            if out:
                return out

    async def messages(self, count: int) -> list[object]:
        got: list[object] = []
        while len(got) < count:
            frames = await self.frames()
            assert frames, f"the connection ended after {len(got)} of {count} messages"
            got += [payload for _, payload in frames]
        return got


def text_of(tag: str, size: int) -> str:
    return (tag + "|" + "x" * size)[: max(size, len(tag) + 1)]


async def writer(ws: WebSocket) -> None:
    """The connection's writer task, as the proxy runs it."""
    while True:
        await ws.wait_unsent()
        await ws.flush()


@pytest.mark.parametrize("server", [True, False])
async def test_many_senders_one_writer_keep_order_and_whole_frames(server: bool) -> None:
    ours, theirs = tcp_pair()
    ws = websocket(ours, server=server)
    peer = Peer(theirs, client=server)
    rng = random.Random(10)
    sizes = [rng.choice([0, 10, 125, 126, 1000, 65535, 65536, 100_000]) for _ in range(80)]
    sizes[7] = sizes[60] = (1 << 20) + 17  # over 1 MiB
    sent: list[str] = []  # in the order send_nowait was called
    left_partial = 0

    async def sender(task: int) -> None:
        nonlocal left_partial
        for seq in range(task, len(sizes), 4):
            text = text_of(f"{task}:{seq}:", sizes[seq])
            ws.send_nowait([text])
            sent.append(text)
            left_partial += ws.unsent_bytes > 0
            if seq % 3:
                await trio.lowlevel.checkpoint()  # let the others in between

    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer, ws)
        async with trio.open_nursery() as senders:
            for task in range(4):
                senders.start_soon(sender, task)
        got = await peer.messages(len(sizes))
        nursery.cancel_scope.cancel()
    assert got == sent
    assert left_partial > 0  # the socket did take frames in part
    assert ws.unsent_bytes == 0 and ws.unsent_frames == 0
    ws.close_transport()
    theirs.close()


async def test_a_batch_of_messages_in_one_call_and_more_buffers_than_sendmsg_takes() -> None:
    """``send_nowait`` of many texts at once: one frame each, in order (Linux's ``sendmsg``
    takes at most 1024 buffers; the transport must not give it more)."""
    ours, theirs = tcp_pair(small=False)
    ws = websocket(ours)
    peer = Peer(theirs)
    texts = [f"m{i}" for i in range(3000)]
    ws.send_nowait(texts)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ws.flush)  # raises if the connection broke
        got = await peer.messages(len(texts))
    assert got == texts
    ws.close_transport()
    theirs.close()


@given(st.one_of(st.integers(0, 50), st.integers(1000, 2500)), st.integers(0, 2**32))
@settings(deadline=None, max_examples=15)
def test_send_all_writes_every_buffer_in_order(count: int, seed: int) -> None:
    """Any number of buffers, some of them empty, some memoryviews: more than ``sendmsg``
    takes in one call (1024 on Linux) too."""
    rng = random.Random(seed)
    buffers = [rng.randbytes(rng.choice([0, 1, 100, 3000])) for _ in range(count)]

    async def main() -> None:
        ours, theirs = tcp_pair()
        transport = transport_of(ours)
        peer = trio.socket.from_stdlib_socket(theirs)
        rng = random.Random(seed)
        views: list[bytes | memoryview] = [
            b if rng.random() < 0.5 else memoryview(b) for b in buffers
        ]
        expected = b"".join(buffers)
        received = bytearray()

        async def read() -> None:
            while len(received) < len(expected):
                data = await peer.recv(1 << 16)
                assert data
                quickack(peer)
                received.extend(data)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(read)
            await transport.send_all(views)
        assert received == expected
        transport.close()
        theirs.close()

    trio.run(main)


async def test_discard_unsent_finishes_the_frame_it_began() -> None:
    ours, theirs = tcp_pair()
    ws = websocket(ours)
    big = text_of("big", 1 << 20)
    ws.send_nowait([big])
    assert ws.unsent_frames == 1 and 0 < ws.unsent_bytes < len(big)  # begun, not finished
    head = ws.unsent_bytes
    for i in range(5):
        ws.send_nowait([text_of(f"dropped {i}", 5000)])
    assert ws.unsent_frames == 6
    ws.discard_unsent()
    assert ws.unsent_frames == 1 and ws.unsent_bytes == head
    peer = Peer(theirs)

    async def peer_side() -> list[tuple[Opcode, object]]:
        frames: list[tuple[Opcode, object]] = []
        while not frames or frames[-1][0] != Opcode.CLOSE:
            frames += await peer.frames()
        await peer.sock.send(bytes(peer.proto.close(1000, "ok")))  # the answer
        return frames

    async with trio.open_nursery() as nursery:
        result: list[list[tuple[Opcode, object]]] = []

        async def run_peer() -> None:
            result.append(await peer_side())

        nursery.start_soon(run_peer)
        await ws.close_and_drain(1000, "bye")
    assert result == [[(Opcode.TEXT, big), (Opcode.CLOSE, (1000, "bye"))]]
    assert ws.close_code == 1000
    ws.close_transport()
    theirs.close()


async def test_discard_unsent_while_the_writer_is_mid_batch() -> None:
    """Frames in the writer's batch are the socket's already: they go whole; what was queued
    behind them is dropped; a close sent afterwards follows them."""
    ours, theirs = tcp_pair()
    ws = websocket(ours)
    first = [text_of(f"first {i}", 60_000) for i in range(3)]  # one batch
    ws.send_nowait(first[:1])
    ws.send_nowait(first[1:])
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ws.flush)
        await trio.testing.wait_all_tasks_blocked()  # the writer waits for the socket
        assert ws.unsent_frames == 0  # all in its batch
        ws.send_nowait([text_of("queued behind", 10)])
        assert ws.unsent_frames == 1
        ws.discard_unsent()
        assert ws.unsent_frames == 0
        ws.send_nowait(["after"])
        peer = Peer(theirs)
        got = await peer.messages(4)
    await ws.flush()
    assert got == [*first, "after"]
    ws.close_transport()
    theirs.close()


def reset(sock: socket.socket) -> None:
    """Close ``sock`` with a TCP reset (no orderly FIN)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


async def test_a_reset_connection_drops_sends_and_fails_flush() -> None:
    ours, theirs = tcp_pair()
    ws = websocket(ours)
    reset(theirs)
    with pytest.raises(WebSocketClosed) as caught:
        await ws.get_message()  # the reader sees the reset first
    assert caught.value.code == 1006
    ws.send_nowait(["into the void"])  # no exception: dropped
    ws.send_nowait(["and again"])
    assert ws.unsent_frames == 0
    with pytest.raises(WebSocketClosed):
        await ws.flush()


async def test_a_reset_under_unsent_frames_fails_the_writer() -> None:
    ours, theirs = tcp_pair()
    ws = websocket(ours)
    ws.send_nowait([text_of("big", 1 << 20)])
    assert ws.unsent_bytes > 0
    reset(theirs)
    with pytest.raises(WebSocketClosed) as caught:
        await ws.flush()
    assert caught.value.code == 1006
    ws.send_nowait(["dropped"])
    with pytest.raises(WebSocketClosed):
        await ws.flush()


async def test_close_wakes_a_task_blocked_in_receive() -> None:
    ours, theirs = tcp_pair()
    transport = transport_of(ours)
    got: list[bytes] = []

    async def read() -> None:
        got.append(await transport.receive())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(read)
        await trio.testing.wait_all_tasks_blocked()
        assert got == []
        transport.close()
    assert got == [b""]
    transport.close()  # twice is harmless
    theirs.close()


async def test_close_transport_wakes_get_message(lane: Lane | None) -> None:
    ours, theirs = tcp_pair()
    ws = websocket(ours, lane=lane)
    caught: list[WebSocketClosed] = []

    async def read() -> None:
        try:
            await ws.get_message()
        except WebSocketClosed as exc:
            caught.append(exc)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(read)
        await trio.testing.wait_all_tasks_blocked()
        ws.close_transport()
    assert [c.code for c in caught] == [1006]
    ws.send_nowait(["dropped"])
    with pytest.raises(WebSocketClosed):
        await ws.flush()
    theirs.close()


async def test_messages_read_from_a_real_socket_with_a_pong_answered(lane: Lane | None) -> None:
    ours, theirs = tcp_pair()
    ws = websocket(ours, lane=lane)
    client = FrameProtocol(client=True, extensions=[])
    peer = Peer(theirs)
    big = "é" * 300_000
    data = bytes(client.send_data("a", fin=False) + client.ping(b"hi") + client.send_data("b"))
    data += bytes(client.send_data(big) + client.send_data(b"\x00"))

    async def send_in_pieces() -> None:
        for i in range(0, len(data), 1000):
            await peer.sock.send(data[i : i + 1000])

    async with trio.open_nursery() as nursery:
        nursery.start_soon(send_in_pieces)
        nursery.start_soon(writer, ws)
        assert await ws.get_message() == "ab"
        assert await peer.frames() == [(Opcode.PONG, b"hi")]
        assert await ws.get_message() == big
        assert await ws.get_message() == b"\x00"
        nursery.cancel_scope.cancel()
    ws.close_transport()
    theirs.close()


# -- the read path: what one read can hold ------------------------------------------------


async def test_several_messages_in_one_read_each_delivered_in_order(lane: Lane | None) -> None:
    ours, theirs = tcp_pair()
    ws = websocket(ours, lane=lane)
    client = FrameProtocol(client=True, extensions=[])
    texts = [f'{{"id":{i},"method":"Runtime.evaluate"}}' for i in range(20)] + ["é" * 200]
    theirs.sendall(b"".join(bytes(client.send_data(t)) for t in texts))
    assert [await ws.get_message() for _ in texts] == texts
    ws.close_transport()
    theirs.close()


async def test_frames_cut_anywhere_across_reads(lane: Lane | None) -> None:
    """Headers and payloads split between reads, a 16-bit length too: every cut."""
    ours, theirs = tcp_pair()
    ws = websocket(ours, lane=lane)
    client = FrameProtocol(client=True, extensions=[])
    texts = ["short", "x" * 200, "y" * 70_000]
    data = b"".join(bytes(client.send_data(t)) for t in texts)
    for cut in (1, 2, 3, 5, 6, 7, 8, 9, 10, 13, len(data) - 1):
        theirs.sendall(data[:cut])
        got: list[str | bytes | Oversized] = []
        async with trio.open_nursery() as nursery:

            async def read(got: list[str | bytes | Oversized] = got) -> None:
                for _ in texts:
                    got.append(await ws.get_message())

            nursery.start_soon(read)
            await trio.testing.wait_all_tasks_blocked()  # it has read the first piece alone
            theirs.sendall(data[cut:])
        assert got == texts, cut
    ws.close_transport()
    theirs.close()


async def test_a_message_then_the_end_in_one_read(lane: Lane | None) -> None:
    ours, theirs = tcp_pair()
    ws = websocket(ours, lane=lane)
    client = FrameProtocol(client=True, extensions=[])
    theirs.sendall(bytes(client.send_data("last words")))
    theirs.shutdown(socket.SHUT_WR)
    assert await ws.get_message() == "last words"
    with pytest.raises(WebSocketClosed) as caught:
        await ws.get_message()
    assert caught.value.code == 1006
    ws.close_transport()
    theirs.close()


@pytest.mark.parametrize(
    ("bad", "code"),
    [
        (b"\x81\x02ok", 1002),  # not masked: a client must mask
        (b"\xc1\x80\0\0\0\0", 1002),  # a reserved bit
        (b"\x81\x81\0\0\0\0\xff", 1007),  # not UTF-8 (the inlined path)
    ],
)
async def test_a_message_then_a_protocol_error_in_one_read(
    bad: bytes, code: int, lane: Lane | None
) -> None:
    """What came before the error is delivered, then the connection is failed with its code
    (it used to be lost with the read)."""
    ours, theirs = tcp_pair()
    ws = websocket(ours, lane=lane)
    client = FrameProtocol(client=True, extensions=[])
    peer = Peer(theirs)
    theirs.sendall(bytes(client.send_data("first")) + bytes(client.send_data("second")) + bad)
    assert await ws.get_message() == "first"
    assert await ws.get_message() == "second"
    with pytest.raises(WebSocketClosed) as caught:
        await ws.get_message()  # no more bytes come: it must not wait for them
    assert caught.value.code == code
    frames = await peer.frames()
    assert frames[0][0] == Opcode.CLOSE
    assert frames[0][1][0] == code  # type: ignore[index]  # wsproto: (code, reason)
    ws.close_transport()
    theirs.close()


# -- unsent_part ------------------------------------------------------------------------------


@given(st.lists(st.binary(max_size=20), max_size=12), st.data())
def test_unsent_part_equals_slicing_the_joined_bytes(
    buffers: list[bytes], data: st.DataObject
) -> None:
    total = sum(map(len, buffers))
    sent = data.draw(st.integers(0, total))
    as_given: list[bytes | memoryview] = [
        memoryview(b) if data.draw(st.booleans()) else b for b in buffers
    ]
    before = list(as_given)
    rest = unsent_part(as_given, sent)
    assert b"".join(rest) == b"".join(buffers)[sent:]
    assert as_given == before  # the caller's list is left alone
    if rest:
        assert len(rest[0]) > 0 or sent == total  # never starts with what was written
        # Whole buffers after the first are the caller's own objects, not copies.
        assert all(r is b for r, b in zip(rest[1:], as_given[-len(rest) + 1 :], strict=False))
