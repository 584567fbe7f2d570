"""The rush benchmark's load generator (bench/rush.py runs several of these processes).

Each simulated person does what a browser does when it opens /live/<id>/:

1. GET the page (HTML) on a keep-alive connection, gzip and Brotli accepted (the page is the same
   for every new visitor and sets no cookie; any it set would be kept).
2. Find the page's stylesheets and scripts under /static/ (hashed names) and fetch them, two at a
   time over two connections as a browser does over HTTP/1.1 — unless the person is a returning
   visitor: those files are served `immutable` with a year's max-age, so a browser that has them
   does not ask again, not even conditionally. A first-time visitor's response must say so too
   (else counted as an error: the next visit would fetch them again).
3. Open the WebSocket (with the page's cookies) and, meanwhile, GET the JSON lists the page's
   script asks for (bench/rush.py's `site_paths`: the 附议 counts; the person's own questions only
   after asking, which nobody arriving at the start has done) on the page's connection. Nobody here
   has a netizen identity yet (the page asks for one before a first question or 附议 only), so the
   counts are the answer everyone shares.
4. Wait for the socket's first `hello` frame: the time from arriving to it is the figure.

The socket stays open to the end of the run, as a viewer's would: N people means N sockets.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gzip
import re
import time
from typing import Any

from bench import leanws
from bench.load import Commands, describe, run_process

ASSET_RE = re.compile(r'<(?:link rel="stylesheet" href|script src)="(/static/[^"]+)"')
HELLO_TIMEOUT = 30.0


class HttpError(Exception):
    def __init__(self, what: str, status: int):
        super().__init__(f"{what}: HTTP {status}")
        self.what, self.status = what, status


class Connection:
    """A minimal HTTP/1.1 client connection with keep-alive (Content-Length or chunked bodies)."""

    def __init__(self, host: str, port: int, source: str | None) -> None:
        self.host, self.port, self.source = host, port, source
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str, headers: dict[str, str]) -> tuple[int, dict[str, list[str]], bytes]:
        if self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection(
                self.host, self.port, local_addr=(self.source, 0) if self.source else None
            )
        assert self.reader is not None and self.writer is not None
        lines = [f"GET {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        found: dict[str, list[str]] = collections.defaultdict(list)
        for line in header_lines:
            if ":" in line:
                name, _, value = line.partition(":")
                found[name.strip().lower()].append(value.strip())
        body = await self._body(found)
        if "close" in ",".join(found.get("connection", [])).lower():
            self.close()
        return int(status_line.split(" ", 2)[1]), found, body

    async def _body(self, headers: dict[str, list[str]]) -> bytes:
        assert self.reader is not None
        if "content-length" in headers:
            return await self.reader.readexactly(int(headers["content-length"][0]))
        if "chunked" in ",".join(headers.get("transfer-encoding", [])).lower():
            body = bytearray()
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                body += await self.reader.readexactly(size + 2)
                del body[-2:]
                if size == 0:  # no trailers: the last chunk's CRLF was the message's end
                    return bytes(body)
        rest = await self.reader.read()
        self.close()
        return rest

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.writer = None


BROWSER = {
    "User-Agent": "Mozilla/5.0 (rush bench)",
    "Accept-Encoding": "gzip, deflate, br",
    "Accept-Language": "zh-CN,zh;q=0.9",
}


def cookies_of(headers: dict[str, list[str]], jar: dict[str, str]) -> None:
    for value in headers.get("set-cookie", []):
        name, _, rest = value.partition("=")
        jar[name.strip()] = rest.split(";", 1)[0]


def cookie_header(jar: dict[str, str]) -> str:
    return "; ".join(f"{k}={v}" for k, v in jar.items())


class Person:
    __slots__ = ("assets", "error", "from_cache", "hello", "html", "index", "returning", "task", "ws")

    def __init__(self, index: int, returning: bool) -> None:
        self.index, self.returning = index, returning
        self.html = self.assets = self.hello = float("nan")  # seconds from arriving
        self.error: str | None = None
        self.from_cache = False  # the page came from a front proxy's cache (its X-Cache header)
        self.ws: leanws.LeanSocket | None = None
        self.task: asyncio.Task | None = None


async def _assets(person: Person, page: Connection, spare: Connection, paths: list[str]) -> None:
    """Fetch the page's static files two at a time; each must say it may be cached for good."""

    async def fetch(connection: Connection, mine: list[str]) -> None:
        for path in mine:
            status, headers, body = await connection.get(path, {**BROWSER, "Accept": "*/*"})
            if status != 200 or not body:
                raise HttpError(path.rsplit("/", 1)[-1], status)
            if "immutable" not in ",".join(headers.get("cache-control", [])):
                raise HttpError(f"{path} not cacheable", status)

    await asyncio.gather(fetch(page, paths[0::2]), fetch(spare, paths[1::2]))


async def _visit(person: Person, server: dict[str, Any], source: str | None, hello: asyncio.Event) -> None:
    host, port = server["host"], server["port"]
    began = time.monotonic()
    page, spare = Connection(host, port, source), Connection(host, port, source)
    jar: dict[str, str] = {}
    try:
        status, headers, body = await page.get(server["page"], {**BROWSER, "Accept": "text/html"})
        if status != 200:
            raise HttpError("page", status)
        person.html = time.monotonic() - began
        person.from_cache = ",".join(headers.get("x-cache", [])).upper() in ("HIT", "STALE", "UPDATING")
        cookies_of(headers, jar)
        paths = ASSET_RE.findall(decoded(headers, body))
        if not paths:
            raise HttpError("page without stylesheet or scripts", status)
        if not person.returning:
            await _assets(person, page, spare, paths)
        person.assets = time.monotonic() - began
        origin = f"http://{host}:{port}"
        ws_task = asyncio.ensure_future(
            leanws.connect(
                server["ws"], origin, open_timeout=HELLO_TIMEOUT, source=source, cookie=cookie_header(jar)
            )
        )
        for path in server["apis"]:
            api_headers = {**BROWSER, "Accept": "*/*", "Cookie": cookie_header(jar)}
            status, _headers, _body = await page.get(path, api_headers)
            if status != 200:
                raise HttpError(path, status)
        person.ws = ws = await ws_task

        def on_text(now: float, text: str) -> None:
            if '"type":"hello"' in text and person.hello != person.hello:
                person.hello = now - began
                hello.set()

        person.task = asyncio.ensure_future(ws.run(on_text, time.monotonic))
        await asyncio.wait_for(hello.wait(), HELLO_TIMEOUT)
    except TimeoutError:
        person.error = "no hello within 30 s"
    except HttpError as exc:
        person.error = f"{exc.what.split('?')[0][:40]}: HTTP {exc.status}"
    except Exception as exc:
        person.error = describe(exc)
    finally:
        page.close()
        spare.close()


def decoded(headers: dict[str, list[str]], body: bytes) -> str:
    """A response's text, gzip or Brotli undone."""
    encoding = ",".join(headers.get("content-encoding", [])).lower()
    if "br" in encoding:
        import brotli

        body = brotli.decompress(body)
    elif "gzip" in encoding:
        body = gzip.decompress(body)
    return body.decode("utf-8", "replace")


async def run_people(people: list[tuple[int, float, bool]], servers: list[dict], start_at: float) -> dict:
    """Each (index, arrival offset s, returning) arrives at start_at + offset (time.time())."""
    done: list[asyncio.Future] = []
    state: list[Person] = []
    for index, offset, returning in people:
        ahead = start_at + offset - time.time()
        if ahead > 0.002:
            await asyncio.sleep(ahead)
        person = Person(index, returning)
        server = servers[index % len(servers)]
        source = leanws.local_address(index, server["ws"])
        done.append(asyncio.ensure_future(_visit(person, server, source, asyncio.Event())))
        state.append(person)
    await asyncio.wait(done, timeout=HELLO_TIMEOUT * 3)
    return {
        "records": [(p.index, p.returning, p.html, p.assets, p.hello, p.error, p.from_cache) for p in state],
        "people": state,
    }


async def _serve(conn: Any) -> None:
    commands = Commands(conn)
    people: list[Person] = []
    while True:
        command, args = await commands.next()
        if command == "exit":
            commands.close()
            return
        if command == "run":
            result = await run_people(*args)
            people = result.pop("people")
            commands.send(result)
        elif command == "close":
            for person in people:
                if person.ws is not None:
                    with contextlib.suppress(Exception):
                        await person.ws.close()
                if person.task is not None:
                    person.task.cancel()
            people = []
            commands.send({"closed": True})


def rush_loadgen_main(conn: Any) -> None:
    """Entry point of a rush load-generator process."""
    run_process(conn, _serve)
