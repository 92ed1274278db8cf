"""Helpers for the proxy's integration tests: a proxy in front of a real target, raw clients,
and a tiny heap-snapshot reader (node ids per class) for the object-id comparisons."""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import ssl
import struct
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import h11
import trio
import trio_websocket

from cdp_heap_proxy import Proxy, ProxyConfig, UpstreamSpec, open_proxy
from cdp_heap_proxy._lane import Lane

MiB = 1024 * 1024


@asynccontextmanager
async def proxy_in_front(
    host: str, port: int, *, select: str | None = None, **config: Any
) -> AsyncIterator[Proxy]:
    """A proxy on a free port in front of the inspector at host:port, upstream connected."""
    spec = UpstreamSpec(host, port, select)
    async with open_proxy(ProxyConfig(spec, listen_port=0, **config)) as p:
        await p.wait_until(lambda: p.router.upstream_connected)
        yield p


@asynccontextmanager
async def running_lane(**options: Any) -> AsyncIterator[Lane]:
    """A :class:`~cdp_heap_proxy._lane.Lane` serving its sockets for the block."""
    lane = Lane(**options)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(lane.run)
            yield lane
            nursery.cancel_scope.cancel()
    finally:
        lane.close()


@asynccontextmanager
async def open_raw(url: str) -> AsyncIterator[trio_websocket.WebSocketConnection]:
    """A bare WebSocket client, for sending what a well-behaved client library would not."""
    async with trio_websocket.open_websocket_url(url, max_message_size=256 * MiB) as ws:
        yield ws


async def call(ws: trio_websocket.WebSocketConnection, id: int, method: str, **params: Any) -> Any:
    """Send one command on a raw socket and return its reply, skipping events."""
    await ws.send_message(json.dumps({"id": id, "method": method, "params": params}))
    while True:
        message = json.loads(await ws.get_message())
        if message.get("id") == id:
            return message


def node_ids_by_class(path: Path) -> dict[str, set[int]]:
    """Heap object ids of every ``object``-type node, grouped by constructor name."""
    snapshot = json.loads(path.read_text())
    meta = snapshot["snapshot"]["meta"]
    fields: list[str] = meta["node_fields"]
    types: list[str] = meta["node_types"][0]
    width = len(fields)
    t, n, i = fields.index("type"), fields.index("name"), fields.index("id")
    nodes: list[int] = snapshot["nodes"]
    strings: list[str] = snapshot["strings"]
    by_class: dict[str, set[int]] = {}
    for base in range(0, len(nodes), width):
        if types[nodes[base + t]] == "object":
            by_class.setdefault(strings[nodes[base + n]], set()).add(nodes[base + i])
    return by_class


def diff_counts(a: Path, b: Path) -> dict[str, tuple[int, int]]:
    """Per class: (new, deleted) object ids from snapshot ``a`` to snapshot ``b``."""
    before, after = node_ids_by_class(a), node_ids_by_class(b)
    result = {}
    for name in before.keys() | after.keys():
        old, new = before.get(name, set()), after.get(name, set())
        if old != new:
            result[name] = (len(new - old), len(old - new))
    return result


def wait_for_global(name: str) -> str:
    """An expression (for ``awaitPromise``) that resolves once ``globalThis[name]`` exists:
    a target's script may still be starting when its inspector already answers."""
    check = f"globalThis[{name!r}] !== undefined ? resolve(true) : setTimeout(check, 5)"
    return f"new Promise(resolve => {{ const check = () => {check}; check(); }})"


class ProxyProcess:
    """``cdp-heap proxy`` run as a real process; ``port`` is the one it bound."""

    def __init__(self, process: trio.Process, port: int, output: str) -> None:
        self.process = process
        self.port = port
        self.output = output  # everything it printed on stderr so far
        self.changed = trio.lowlevel.ParkingLot()

    async def wait_for(self, text: str) -> None:
        """Wait until ``text`` appears in its stderr."""
        while text not in self.output:
            await self.changed.park()


_SERVED = re.compile(r"served at https?://[^/\s]+:(\d+)/")


async def read_until(stream: trio.abc.ReceiveStream, pattern: re.Pattern[str]) -> str:
    seen = bytearray()
    while pattern.search(seen.decode(errors="replace")) is None:
        data = await stream.receive_some()
        assert data, f"stream ended before {pattern.pattern!r}: {bytes(seen)!r}"
        seen += data
    return seen.decode(errors="replace")


@asynccontextmanager
async def run_proxy_cli(*args: str, wait_attached: bool = True) -> AsyncIterator[ProxyProcess]:
    """Start ``python -m cdp_heap proxy ARGS`` and wait for the line naming its port (and,
    unless told not to, for the one saying it is attached upstream). Its stderr (the audit
    log, by default) keeps being collected in ``output``."""
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "cdp_heap", "proxy", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    stderr = process.stderr
    try:
        seen = await read_until(stderr, _SERVED)
        match = _SERVED.search(seen)
        assert match is not None
        running = ProxyProcess(process, int(match.group(1)), seen)
        async with trio.open_nursery() as nursery:

            async def collect() -> None:
                while data := await stderr.receive_some():
                    running.output += data.decode(errors="replace")
                    running.changed.unpark_all()

            nursery.start_soon(collect)
            if wait_attached:
                await running.wait_for("attached to")
            yield running
            nursery.cancel_scope.cancel()
    finally:
        process.kill()
        await process.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def run_cdp_heap(*args: str) -> str:
    """Run ``python -m cdp_heap ARGS``; its stdout (it must succeed)."""
    done = await trio.run_process(
        [sys.executable, "-m", "cdp_heap", *args],
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout.decode()


@attrs.frozen
class HTTPReply:
    status: int
    headers: dict[str, str]  # names lower-cased
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")


async def http_request(
    port: int,
    method: str,
    path: str,
    headers: Sequence[tuple[str, str]] = (),
    *,
    host: str | None = None,
    ssl_context: ssl.SSLContext | None = None,
    stop_after: int | None = None,
) -> HTTPReply:
    """One HTTP/1.1 request to 127.0.0.1:port with h11 (``Host`` as given, else the
    address). With ``stop_after``, hang up once that many body bytes have arrived."""
    stream: trio.abc.Stream = await trio.open_tcp_stream("127.0.0.1", port)
    if ssl_context is not None:
        stream = trio.SSLStream(stream, ssl_context, server_hostname="127.0.0.1")
    async with stream:
        conn = h11.Connection(h11.CLIENT)
        request = h11.Request(
            method=method,
            target=path,
            headers=[("Host", host or f"127.0.0.1:{port}"), ("Content-Length", "0"), *headers],
        )
        await stream.send_all(conn.send(request) + conn.send(h11.EndOfMessage()))
        status, response_headers, body = 0, {}, bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(bytes(await stream.receive_some(256 * 1024)))
            elif isinstance(event, h11.Response | h11.InformationalResponse):
                status = event.status_code
                response_headers = {k.decode().lower(): v.decode() for k, v in event.headers}
                if status == 101:
                    break  # switched to WebSocket: that is all we wanted to know
            elif isinstance(event, h11.Data):
                body += event.data
                if stop_after is not None and len(body) >= stop_after:
                    break
            else:  # EndOfMessage, ConnectionClosed
                break
    return HTTPReply(status, response_headers, bytes(body))


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost: (cert.pem, key.pem)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cdp-heap proxy test")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def raw_websocket(port: int, path: str) -> trio.SocketStream:
    """A hand-made WebSocket client on a bare TCP stream: it can send a huge frame
    without holding it, or drop the connection without a close frame."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    await stream.send_all(
        (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += await stream.receive_some(4096)
    assert head.startswith(b"HTTP/1.1 101 "), head
    return stream


async def send_text_frame(stream: trio.abc.Stream, text: bytes) -> None:
    """One masked text frame (a zero mask key leaves the payload as it is)."""
    size = len(text)
    if size < 126:
        header = struct.pack("!BB", 0x81, 0x80 | size)
    elif size < 65536:
        header = struct.pack("!BBH", 0x81, 0x80 | 126, size)
    else:
        header = struct.pack("!BBQ", 0x81, 0x80 | 127, size)
    await stream.send_all(header + b"\0\0\0\0" + text)


async def read_text_frame(stream: trio.SocketStream) -> str:
    """The next (small, unmasked) text frame from the proxy (for one reply at a time:
    bytes of a further frame in the same read are dropped)."""
    data = b""
    while len(data) < 2:
        data += await stream.receive_some(65536)
    assert data[0] == 0x81
    length, start = data[1] & 0x7F, 2
    if length == 126:
        while len(data) < 4:
            data += await stream.receive_some(65536)
        length, start = struct.unpack("!H", data[2:4])[0], 4
    while len(data) < start + length:
        data += await stream.receive_some(65536)
    return data[start : start + length].decode()


class ReplayStream(trio.abc.Stream):
    """``inner``, but the first reads return ``prefix`` (bytes already consumed from it):
    to hand an accepted connection whose request head was read to trio-websocket."""

    def __init__(self, prefix: bytes, inner: trio.abc.Stream) -> None:
        self._prefix = prefix
        self._inner = inner

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if self._prefix:
            size = len(self._prefix) if max_bytes is None else max_bytes
            data, self._prefix = self._prefix[:size], self._prefix[size:]
            return bytes(data)
        return bytes(await self._inner.receive_some(max_bytes))

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self._inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self._inner.wait_send_all_might_not_block()

    async def send_eof(self) -> None:
        if isinstance(self._inner, trio.abc.HalfCloseableStream):
            await self._inner.send_eof()

    async def aclose(self) -> None:
        await self._inner.aclose()
