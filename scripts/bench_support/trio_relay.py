"""A bare trio relay for ``scripts/bench_proxy.py``: the floor of the proxy's design.

    python scripts/bench_support/trio_relay.py LISTEN_PORT TARGET_PORT

Every accepted connection gets its own connection to 127.0.0.1:TARGET_PORT and two tasks
that copy bytes across, the way the proxy's sockets are driven (docs/decisions.md D29,
D30): wait until readable, one ``recv_into`` a shared buffer, ``TCP_QUICKACK``, one
``send`` of what was read. It parses nothing, so what it costs per round trip is what trio's
run loop and the system calls cost; the proxy's own work is the difference. Prints
``trio-relay listening on 127.0.0.1:PORT`` when ready.
"""

from __future__ import annotations

import socket
import sys

import trio

QUICKACK = getattr(socket, "TCP_QUICKACK", None)


async def pipe(source: socket.socket, sink: socket.socket, buffer: memoryview) -> None:
    while True:
        await trio.lowlevel.wait_readable(source)
        try:
            size = source.recv_into(buffer)
        except BlockingIOError:
            continue
        except OSError:
            return
        if not size:
            return
        if QUICKACK is not None:
            source.setsockopt(socket.IPPROTO_TCP, QUICKACK, 1)
        view = buffer[:size]
        while view:
            try:
                view = view[sink.send(view) :]
            except BlockingIOError:
                await trio.lowlevel.wait_writable(sink)
            except OSError:
                return


async def relay(stream: trio.SocketStream, target_port: int) -> None:
    client = socket.socket(fileno=stream.socket.detach())
    client.setblocking(False)
    try:
        upstream = socket.create_connection(("127.0.0.1", target_port))
    except OSError:
        client.close()
        return
    upstream.setblocking(False)
    upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        async with trio.open_nursery() as nursery:

            async def one_way(a: socket.socket, b: socket.socket) -> None:
                await pipe(a, b, memoryview(bytearray(256 * 1024)))
                nursery.cancel_scope.cancel()  # either side closing ends both

            nursery.start_soon(one_way, client, upstream)
            nursery.start_soon(one_way, upstream, client)
    finally:
        client.close()
        upstream.close()


async def main(listen_port: int, target_port: int) -> None:
    listeners = await trio.open_tcp_listeners(listen_port, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    print(f"trio-relay listening on 127.0.0.1:{port}", flush=True)

    async def handler(stream: trio.SocketStream) -> None:
        await relay(stream, target_port)

    await trio.serve_listeners(handler, listeners)  # type: ignore[arg-type]


if __name__ == "__main__":
    trio.run(main, int(sys.argv[1]), int(sys.argv[2]))
