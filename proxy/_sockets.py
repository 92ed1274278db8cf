"""TCP options for latency: acknowledge what was read at once (``TCP_QUICKACK``).

Node's inspector writes its socket without ``TCP_NODELAY``. When it sends two small
messages back to back (a ``Debugger.scriptParsed`` event, then the reply to the
``Runtime.evaluate`` that caused it), Nagle's algorithm holds the second until the first is
acknowledged, and Linux delays that acknowledgement by up to 40 ms on a connection that
looks interactive (delayed ACK). A direct client never sees it: the event goes to the
DevTools connection, the reply alone to the script's. Behind the proxy both travel on the
one upstream connection, so every reply waited ~40 ms for the proxy's delayed ACK while
any client had Debugger enabled (docs/decisions.md D24).

The fix is on the proxy's side of the socket: after each read, ``TCP_QUICKACK`` sends the
acknowledgement of what was read now (the option is not sticky; the kernel may fall back to
delaying, so it is set again on every read). Where the option does not exist (not Linux),
the stream just reads.
"""

from __future__ import annotations

import contextlib
import socket

import trio

_QUICKACK = getattr(socket, "TCP_QUICKACK", None)


class QuickAckStream(trio.abc.HalfCloseableStream):
    """``inner``, acknowledging every read at once on ``tcp`` (its TCP socket)."""

    def __init__(self, inner: trio.abc.Stream, tcp: trio.SocketStream) -> None:
        self._inner = inner
        self._tcp = tcp

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        data = await self._inner.receive_some(max_bytes)
        if data and _QUICKACK is not None:
            # OSError: the socket is closing; the next read says so.
            with contextlib.suppress(OSError):
                self._tcp.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
        return bytes(data)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self._inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self._inner.wait_send_all_might_not_block()

    async def send_eof(self) -> None:
        if isinstance(self._inner, trio.abc.HalfCloseableStream):
            await self._inner.send_eof()

    async def aclose(self) -> None:
        await self._inner.aclose()
