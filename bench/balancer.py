"""A small TCP balancer and forwarder (asyncio), run as a process of its own by bench/hosts.py.

    .venv/bin/python -m bench.balancer --route 127.0.0.1:8500=10.1.2.2:8000,10.1.2.6:8000 --stats s.json

Each ``--route LISTEN=BACKEND[,BACKEND...]`` listens on LISTEN and hands every accepted connection
to the next live backend in turn (round-robin). A backend whose connect fails (refused, unreachable,
or no answer within ``--connect-timeout``) is out of the rotation for ``--dead-for`` seconds (with
every backend at its address unless it was refused: the host is gone) and the connection tries the
next one, so a client never sees a dead host, only a slower connect; connects already waiting on a
backend that leaves the rotation go to the next at once. A backend that ends many connections at
once (10 within 0.5 s: it crashed) leaves too. Health checks (a TCP connect to each backend every
``--check-every`` s, 1 s timeout) take a dead backend out before clients find it, and bring it
back; after two in a row without an answer (not refused: a draining process refuses new connections
and still serves its own) the backend's open connections are ended too (a host whose link is gone
sends no FIN: without this its clients would wait on dead sockets). One
backend per route makes a plain forwarder (the hosts' way to the root namespace's PostgreSQL and
Redis). Bytes are copied both ways with flow control; when either side ends, so does the other.
Every ``--stats`` interval the counts per backend are written as JSON (opened, open, failed, dead).
It stops on SIGTERM or SIGINT, or by itself after ``--lifetime`` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import signal
import time
from pathlib import Path

from bench.servers import raise_nofile

MASS_CLOSE = 10  # this many connections ended by a backend within MASS_WINDOW s: it has died
MASS_WINDOW = 0.5


class Backend:
    def __init__(self, address: str):
        host, _, port = address.rpartition(":")
        self.address, self.host, self.port = address, host, int(port)
        self.opened = self.open = self.failed = 0
        self.dead_until = 0.0
        self.died = asyncio.Event()  # set when it leaves the rotation: connects waiting on it give up
        self.ended: collections.deque[float] = collections.deque(maxlen=MASS_CLOSE)
        self.pipes: set[Pipe] = set()  # its open upstream connections
        self.missed = 0  # health checks failed in a row

    def alive(self, now: float) -> bool:
        return now >= self.dead_until

    def kill(self, until: float) -> None:
        self.dead_until = until
        self.died.set()

    def revive(self) -> None:
        self.dead_until = 0.0
        if self.died.is_set():
            self.died = asyncio.Event()

    def ended_by_backend(self, now: float) -> bool:
        """Note a connection the backend ended; True when it ended many at once (a crash: a
        drain or a cut-off viewer ends them one by one)."""
        self.ended.append(now)
        return len(self.ended) == MASS_CLOSE and now - self.ended[0] <= MASS_WINDOW


class Pipe(asyncio.Protocol):
    """One side of a proxied connection; `peer` is the other side."""

    def __init__(self, on_lost: object = None) -> None:
        self.transport: asyncio.Transport | None = None
        self.peer: Pipe | None = None
        self.early: list[bytes] = []  # what the client sent before its backend was connected
        self.on_lost = on_lost

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def attach(self, peer: Pipe) -> None:
        self.peer = peer
        assert peer.transport is not None
        for data in self.early:
            peer.transport.write(data)
        self.early = []

    def data_received(self, data: bytes) -> None:
        peer = self.peer
        if peer is None or peer.transport is None:
            self.early.append(data)
        else:
            peer.transport.write(data)

    def eof_received(self) -> bool:
        # Either side's end ends both (no half-open pairs left behind): the transport closes
        # itself (False), and connection_lost closes the peer once its buffer is written.
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        # Who ended it: this side, if the other is still open.
        first = (
            self.peer is not None and self.peer.transport is not None and not self.peer.transport.is_closing()
        )
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.close()
        if callable(self.on_lost):
            self.on_lost(first)
            self.on_lost = None

    # The peer writes too slowly: stop reading this side until it catches up.
    def pause_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.resume_reading()


class Route:
    def __init__(self, listen: str, backends: list[str], connect_timeout: float, dead_for: float):
        host, _, port = listen.rpartition(":")
        self.host, self.port = host, int(port)
        self.backends = [Backend(b) for b in backends]
        self.connect_timeout = connect_timeout
        self.dead_for = dead_for
        self.turn = 0

    def order(self) -> list[Backend]:
        """The backends to try for the next connection: the live ones from the next turn, then the
        dead ones (when every backend seems dead, trying them all is still better than refusing)."""
        now = time.monotonic()
        n = len(self.backends)
        start, self.turn = self.turn, (self.turn + 1) % n
        ring = [self.backends[(start + k) % n] for k in range(n)]
        return [b for b in ring if b.alive(now)] + [b for b in ring if not b.alive(now)]

    def fail(self, backend: Backend, error: BaseException) -> None:
        """Out of the rotation for a while. Refused: that process is gone; no answer or unreachable:
        the whole host is, so every backend at its address goes too (not one connect timeout each)."""
        until = time.monotonic() + self.dead_for
        backend.kill(until)
        if not isinstance(error, ConnectionRefusedError):
            for other in self.backends:
                if other.host == backend.host:
                    other.kill(until)

    async def handle(self, client: Pipe) -> None:
        loop = asyncio.get_running_loop()
        for backend in self.order():
            connecting = asyncio.ensure_future(
                asyncio.wait_for(
                    loop.create_connection(Pipe, backend.host, backend.port), self.connect_timeout
                )
            )
            died = asyncio.ensure_future(backend.died.wait())
            await asyncio.wait([connecting, died], return_when=asyncio.FIRST_COMPLETED)
            died.cancel()
            if not connecting.done():  # the backend left the rotation meanwhile: try the next at once
                connecting.cancel()
                continue
            try:
                _transport, upstream = connecting.result()
            except (OSError, TimeoutError) as error:
                backend.failed += 1
                self.fail(backend, error)
                continue
            if client.transport is None or client.transport.is_closing():
                upstream.transport.close()  # type: ignore[union-attr]
                return
            backend.opened += 1
            backend.open += 1

            def lost(by_backend: bool, backend: Backend = backend, upstream: Pipe = upstream) -> None:
                backend.open -= 1
                backend.pipes.discard(upstream)
                if by_backend and backend.ended_by_backend(time.monotonic()):
                    self.fail(backend, ConnectionRefusedError())  # until a health check succeeds

            upstream.on_lost = lost
            backend.pipes.add(upstream)
            upstream.peer = client
            client.attach(upstream)
            return
        if client.transport is not None:
            client.transport.close()

    async def check(self, every: float) -> None:
        """Active health checks: a TCP connect to each backend every `every` s (timeout 1 s). A
        backend that fails one leaves the rotation (as a failed client connect makes it) until
        one succeeds again, so a dead host is noticed within about a second, not by the first
        clients that wait a whole connect timeout on it."""
        if len(self.backends) < 2:
            return
        loop = asyncio.get_running_loop()

        async def probe(backend: Backend) -> None:
            try:
                transport, _ = await asyncio.wait_for(
                    loop.create_connection(asyncio.Protocol, backend.host, backend.port), 1.0
                )
            except (OSError, TimeoutError) as error:
                self.fail(backend, error)
                if isinstance(error, ConnectionRefusedError):
                    return  # the process stopped listening (a drain): what it still serves stays
                backend.missed += 1
                if backend.missed == 2:  # the host is down: end its connections, whose peer may never say so
                    for pipe in list(backend.pipes):
                        if pipe.transport is not None:
                            pipe.transport.abort()
                return
            transport.close()
            backend.missed = 0
            backend.revive()

        while True:
            await asyncio.gather(*(probe(b) for b in self.backends))
            await asyncio.sleep(every)

    async def serve(self) -> asyncio.Server:
        loop = asyncio.get_running_loop()

        def accepted() -> Pipe:
            pipe = Pipe()
            loop.call_soon(lambda: loop.create_task(self.handle(pipe)))
            return pipe

        return await loop.create_server(accepted, self.host, self.port, backlog=4096, reuse_address=True)

    def stats(self) -> dict:
        now = time.monotonic()
        return {
            b.address: {"opened": b.opened, "open": b.open, "failed": b.failed, "dead": not b.alive(now)}
            for b in self.backends
        }


async def run(
    routes: list[Route], stats: Path | None, every: float, lifetime: float, check_every: float
) -> None:
    servers = [await route.serve() for route in routes]
    checks = [asyncio.ensure_future(route.check(check_every)) for route in routes if check_every > 0]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print("listening", flush=True)
    deadline = time.monotonic() + lifetime
    while not stop.is_set() and time.monotonic() < deadline:
        if stats is not None:
            merged = {f"{r.host}:{r.port}": r.stats() for r in routes}
            tmp = stats.with_suffix(".tmp")
            tmp.write_text(json.dumps(merged))
            os.replace(tmp, stats)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
    for check in checks:
        check.cancel()
    for server in servers:
        server.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--route", action="append", required=True, help="LISTEN=BACKEND[,BACKEND...]")
    # Long enough for the SYN retransmissions (1 s, 3 s) of a loaded server whose accept queue is
    # full: a shorter timeout turned a slow accept into a failed connect and a retry storm.
    parser.add_argument("--connect-timeout", type=float, default=5.0)
    parser.add_argument("--dead-for", type=float, default=10.0)
    parser.add_argument(
        "--check-every", type=float, default=0.5, help="seconds between health checks (0: none)"
    )
    parser.add_argument("--stats", type=Path)
    parser.add_argument("--every", type=float, default=0.25, help="seconds between stats writes")
    parser.add_argument("--lifetime", type=float, default=3600.0, help="stop by itself after this long")
    args = parser.parse_args(argv)
    routes = []
    for spec in args.route:
        listen, _, backends = spec.partition("=")
        routes.append(Route(listen, backends.split(","), args.connect_timeout, args.dead_for))
    raise_nofile()
    asyncio.run(run(routes, args.stats, args.every, args.lifetime, args.check_every))


if __name__ == "__main__":
    main()
