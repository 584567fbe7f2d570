"""The load generator's WebSocket client: the least Python per received frame.

The benchmarks' figures include the load generator's CPU on the same two cores (issue #7), and
with the `websockets` library it spent about 50 µs per received frame — at 10,000 viewers more
than the servers under test, so it, not the servers, set the latency of every design. This client
speaks just what a viewer needs (RFC 6455: the opening handshake, unmasked text frames from the
server, masked text frames and a close to it) and hands every frame of one socket read over at
once, stamped with the read's time. Used for every design alike, so the comparison stays fair.
"""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import Callable
from urllib.parse import urlsplit


class HandshakeError(Exception):
    def __init__(self, status: int):
        super().__init__(f"HTTP {status}")
        self.status = status


class LeanSocket:
    __slots__ = ("close_code", "on_pong", "reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer
        self.close_code: int | None = None
        self.on_pong: Callable[[float], None] | None = None  # called with the read's time

    def ping(self) -> None:
        """A protocol-level ping (RFC 6455 opcode 9); the pong goes to `on_pong`."""
        self.writer.write(_masked_frame(0x9, b"probe"))

    async def send(self, text: str) -> None:
        self.writer.write(_masked_frame(0x1, text.encode("utf-8")))
        await self.writer.drain()

    async def close(self, code: int = 1000) -> None:
        if self.writer.is_closing():
            return
        try:
            self.writer.write(_masked_frame(0x8, code.to_bytes(2, "big")))
            await self.writer.drain()
        except (ConnectionError, RuntimeError):
            pass
        self.writer.close()

    async def run(self, on_text: Callable[[float, str], None], clock: Callable[[], float]) -> None:
        """Read until the connection ends, calling on_text(receipt time, text) for each text frame."""
        buffer = bytearray()
        read = self.reader.read
        try:
            while True:
                data = await read(1 << 18)
                if not data:
                    break
                now = clock()
                buffer += data
                position, size = 0, len(buffer)
                while size - position >= 2:
                    first, length = buffer[position], buffer[position + 1] & 0x7F
                    header = 2
                    if length == 126:
                        if size - position < 4:
                            break
                        length, header = int.from_bytes(buffer[position + 2 : position + 4], "big"), 4
                    elif length == 127:
                        if size - position < 10:
                            break
                        length, header = int.from_bytes(buffer[position + 2 : position + 10], "big"), 10
                    end = position + header + length
                    if end > size:
                        break
                    opcode = first & 0x0F
                    if opcode == 0x1:
                        on_text(now, buffer[position + header : end].decode("utf-8"))
                    elif opcode == 0x8:
                        payload = buffer[position + header : end]
                        self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                        await self.close(self.close_code if self.close_code < 5000 else 1000)
                        return
                    elif opcode == 0xA and self.on_pong is not None:
                        self.on_pong(now)
                    elif opcode == 0x9:  # ping: answer with pong
                        self.writer.write(_masked_frame(0xA, bytes(buffer[position + header : end])))
                    position = end
                del buffer[:position]
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            if self.close_code is None:
                self.close_code = 1006
            self.writer.close()


def _masked_frame(opcode: int, payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        head = bytes([0x80 | opcode, 0x80 | n])
    elif n < 1 << 16:
        head = bytes([0x80 | opcode, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 0x80 | 127]) + n.to_bytes(8, "big")
    mask = os.urandom(4)
    key = (mask * (n // 4 + 1))[:n]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")
    return head + mask + masked


CLIENTS_PER_ADDRESS = 100  # well under the server's MINXIN_SOCKETS_PER_ADDRESS (200 by default)


def local_address(index: int, url: str, per_address: int = CLIENTS_PER_ADDRESS, block: int = 1) -> str | None:
    """The source address for the load generator's client number `index`.

    The server caps live sockets (and 附议) per client address, as it should; a bench on loopback
    spreads its thousands of clients over 127.x addresses (`per_address` each) as real viewers come
    from many addresses, instead of raising those limits. `block` (1–254) picks 127.<block>.x.y, so
    that a run can keep clear of the addresses of earlier runs, whose hourly per-address counters
    live on in the shared Redis. Linux routes all of 127.0.0.0/8 to lo unconfigured. None for a
    server that is not on loopback.
    """
    host = urlsplit(url).hostname or ""
    if not host.startswith("127."):
        return None
    n = index // per_address
    return f"127.{block}.{n // 250}.{n % 250 + 1}"


async def connect(
    url: str, origin: str, open_timeout: float = 30, source: str | None = None, cookie: str = ""
) -> LeanSocket:
    """Open a WebSocket to ws://host:port/path?query; HandshakeError(status) if refused.

    `source`: the local address to connect from (local_address()); `cookie`: a Cookie header's
    value, as a browser sends the page's cookies with the handshake.
    """
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(
            host, port, limit=1 << 20, local_addr=(source, 0) if source is not None else None
        ),
        open_timeout,
    )
    try:
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                f"Origin: {origin}\r\n" + (f"Cookie: {cookie}\r\n" if cookie else "") + "\r\n"
            ).encode("latin-1")
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), open_timeout)
        status = int(head.split(b" ", 2)[1])
        if status != 101:
            raise HandshakeError(status)
    except BaseException:
        writer.close()
        raise
    return LeanSocket(reader, writer)
