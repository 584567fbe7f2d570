"""The rush benchmark's reference: the same visit served by the leanest path on the same machine.

    python -m bench.rush_ref --port PORT --routes DIR --static-root STATIC_ROOT

One asyncio process, no framework: HTTP/1.1 with keep-alive and a WebSocket upgrade, parsed by
hand. It answers with the bytes the project answered (bench/rush.py reads them from the project
once, into DIR: the live page, the JSON lists, the socket's `hello` frame) and the collected
static files of STATIC_ROOT (Brotli or gzip copies as accepted, cached `immutable` for a year, as
the project serves them). No database, no session, no Django: what the rush costs without the
application, on the same cores, at the same moment.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import resource
import signal
from pathlib import Path

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC11B65"
YEAR = "max-age=31536000, public, immutable"


class Site:
    def __init__(self, routes: Path, static_root: Path) -> None:
        table = json.loads((routes / "routes.json").read_text())
        self.routes = {
            path: (kind, (routes / name).read_bytes()) for path, (kind, name) in table["http"].items()
        }
        self.ws_path = table["ws"]
        self.hello = (routes / table["hello"]).read_bytes()
        self.static_root = static_root.resolve()
        self.files: dict[tuple[str, str], tuple[bytes, str]] = {}

    def static(self, path: str, accept: str) -> tuple[bytes, str] | None:
        encoding = "br" if "br" in accept else "gzip" if "gzip" in accept else ""
        key = (path, encoding)
        if key not in self.files:
            target = (self.static_root / path.removeprefix("/static/")).resolve()
            if not target.is_relative_to(self.static_root) or not target.is_file():
                return None
            suffix = {"br": ".br", "gzip": ".gz"}.get(encoding, "")
            packed = target.with_name(target.name + suffix)
            if suffix and packed.is_file():
                self.files[key] = (packed.read_bytes(), encoding)
            else:
                self.files[key] = (target.read_bytes(), "")
        return self.files[key]


def response(status: str, kind: str, body: bytes, extra: str = "") -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    return head.encode("latin-1") + body


def text_frame(payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        return bytes([0x81, n]) + payload
    if n < 1 << 16:
        return bytes([0x81, 126]) + n.to_bytes(2, "big") + payload
    return bytes([0x81, 127]) + n.to_bytes(8, "big") + payload


async def handle(site: Site, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *lines = head.decode("latin-1").split("\r\n")
            path = request_line.split(" ")[1]
            headers = {
                k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if line)
            }
            if headers.get("upgrade", "").lower() == "websocket" and path.split("?")[0] == site.ws_path:
                accept = base64.b64encode(hashlib.sha1(headers["sec-websocket-key"].encode() + GUID).digest())
                writer.write(
                    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n" + text_frame(site.hello)
                )
                while await reader.read(1 << 16):  # a viewer says nothing; its close ends it
                    pass
                return
            if path in site.routes:
                kind, body = site.routes[path]
                writer.write(response("200 OK", kind, body, "Cache-Control: private, no-cache\r\n"))
            elif path.startswith("/static/") and (
                found := site.static(path, headers.get("accept-encoding", ""))
            ):
                body, encoding = found
                extra = f"Cache-Control: {YEAR}\r\nVary: Accept-Encoding\r\n"
                if encoding:
                    extra += f"Content-Encoding: {encoding}\r\n"
                writer.write(response("200 OK", "application/octet-stream", body, extra))
            else:
                writer.write(response("404 Not Found", "text/plain", b"not found"))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def serve(port: int, site: Site) -> None:
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)
    server = await asyncio.start_server(lambda r, w: handle(site, r, w), "127.0.0.1", port)
    async with server:
        print(f"listening on 127.0.0.1:{port}", flush=True)
        await stop


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--routes", type=Path, required=True)
    parser.add_argument("--static-root", type=Path, required=True)
    args = parser.parse_args(argv)
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(serve(args.port, Site(args.routes, args.static_root)))


if __name__ == "__main__":
    main()
