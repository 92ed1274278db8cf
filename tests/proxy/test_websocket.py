"""The proxy's server-side WebSocket against a wsproto client over a memory pipe: messages
in one read, fragments, pings, binary, the size limit, both ways of closing."""

from __future__ import annotations

import trio
import trio.testing
from wsproto import WSConnection
from wsproto.connection import ConnectionType
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    Pong,
    Request,
    TextMessage,
)

from cdp_heap_proxy._sockets import StreamTransport
from cdp_heap_proxy._websocket import Oversized, ServerHandshake, WebSocket, WebSocketClosed


class Client:
    """A wsproto client on one end of a memory stream pair."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.ws = WSConnection(ConnectionType.CLIENT)

    async def send(self, *events: TextMessage | BytesMessage | Ping | CloseConnection) -> None:
        await self.stream.send_all(b"".join(self.ws.send(e) for e in events))

    async def next_event(self) -> object:
        while True:
            for event in self.ws.events():
                return event
            self.ws.receive_data(bytes(await self.stream.receive_some(65536)))


async def connected(limit: int = 1000) -> tuple[WebSocket, Client]:
    client_end, server_end = trio.testing.memory_stream_pair()
    client = Client(client_end)
    head = client.ws.send(Request(host="127.0.0.1", target="/x"))
    # A client may send its first message right behind the head: it must not be lost.
    head += b"\x81\x85\0\0\0\0early"  # a masked text frame (zero mask key)
    handshake = ServerHandshake(server_end, head)
    assert await handshake.check()
    await handshake.accept()
    assert isinstance(await client.next_event(), AcceptConnection)
    transport = StreamTransport(server_end, None)
    server = WebSocket(transport, server=True, max_message_size=limit, received=handshake.received)
    return server, client


async def test_messages_fragments_pings_and_binary() -> None:
    server, client = await connected()
    assert await server.get_message() == "early"
    await client.send(
        TextMessage(data="one"),
        TextMessage(data="tw", message_finished=False),
        Ping(payload=b"hi"),
        TextMessage(data="o"),
        BytesMessage(data=b"\x00\x01"),
    )
    assert await server.get_message() == "one"
    assert await server.get_message() == "two"
    await server.wait_unsent()  # the pong waits for the connection's writer (over TLS
    await server.flush()  # or a memory stream nothing is written at once)
    assert await client.next_event() == Pong(payload=b"hi")
    assert await server.get_message() == b"\x00\x01"
    server.send_nowait(["a", "b"])
    await server.flush()
    assert await client.next_event() == TextMessage(data="a")
    assert await client.next_event() == TextMessage(data="b")


async def test_oversized_message_is_dropped_and_the_next_one_arrives() -> None:
    server, client = await connected(limit=1000)
    assert await server.get_message() == "early"
    big = '{"id":7,"method":"X.y","params":{"s":"' + "x" * 5000 + '"}}'
    for start in range(0, len(big), 700):  # in fragments, as a large message arrives
        piece = big[start : start + 700]
        await client.send(TextMessage(data=piece, message_finished=start + 700 >= len(big)))
    message = await server.get_message()
    assert isinstance(message, Oversized) and message.size == len(big)
    assert message.prefix.startswith('{"id":7,') and len(message.prefix) == 128
    await client.send(TextMessage(data="after"))
    assert await server.get_message() == "after"


async def test_client_closes_first() -> None:
    server, client = await connected()
    assert await server.get_message() == "early"
    await client.send(CloseConnection(code=1000, reason="bye"))
    try:
        await server.get_message()
        raise AssertionError("no close")
    except WebSocketClosed as closed:
        assert (closed.code, closed.reason) == (1000, "bye")
    assert await client.next_event() == CloseConnection(code=1000, reason="bye")


async def test_server_closes_first_and_waits_for_the_answer() -> None:
    server, client = await connected()
    assert await server.get_message() == "early"
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.aclose, 1001, "going away")
        event = await client.next_event()
        assert event == CloseConnection(code=1001, reason="going away")
        assert isinstance(event, CloseConnection)
        await client.send(event.response())
        try:
            await server.get_message()  # the reader sees the answer; aclose returns
            raise AssertionError("no close")
        except WebSocketClosed as closed:
            assert closed.code == 1001
