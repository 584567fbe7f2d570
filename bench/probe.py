"""The bench harness: a ping probe, and the project's fan-out figures read from /metrics.

The probe (issue #18) holds one socket on each server and pings it the whole time an answer fans
out, one ping at a time: the round trip is how long a viewer's ping, ask or handshake waits behind
a fan-out on that process. On the project it sends the protocol's own ``{"type": "ping"}`` (through
the consumer and back); a reference server has no such message, so there it sends a WebSocket
ping frame, which the server's library answers on the same event loop.

``server_fanout`` reads what the project's processes published for /metrics
(studio/fanoutstats.py): each process's fan-out lag p50/p99/max over its recent events and the
longest hold of its event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import urllib.request
from dataclasses import dataclass, field

from bench import leanws
from bench.report import percentile

PING = '{"type":"ping"}'
PAUSE = 0.01  # between a pong and the next ping
PATIENCE = 5.0  # a ping unanswered this long counts as this long


@dataclass
class ProbeResult:
    pings: int = 0
    p50: float = float("nan")
    p99: float = float("nan")
    max: float = float("nan")
    within_50ms: int = 0
    errors: list[str] = field(default_factory=list)


class PingProbe:
    """One socket per URL; ``start`` begins pinging, ``stop`` ends it and returns the round trips."""

    def __init__(self, urls: list[str], origins: list[str], protocol_ping: bool) -> None:
        self.urls, self.origins, self.protocol_ping = urls, origins, protocol_ping
        self.sockets: list[leanws.LeanSocket] = []
        self.tasks: list[asyncio.Task] = []
        self.round_trips: list[float] = []
        self.errors: list[str] = []
        self.running = False

    async def open(self) -> None:
        for url, origin in zip(self.urls, self.origins, strict=True):
            self.sockets.append(await leanws.connect(url, origin, open_timeout=30))

    def start(self) -> None:
        self.running = True
        loop = asyncio.get_running_loop()
        self.tasks = [loop.create_task(self._ping(ws)) for ws in self.sockets]

    async def _ping(self, ws: leanws.LeanSocket) -> None:
        answered = asyncio.Event()
        stamp = [0.0]

        def on_text(now: float, text: str) -> None:
            if '"type":"pong"' in text:
                stamp[0] = now
                answered.set()

        def on_pong(now: float) -> None:
            stamp[0] = now
            answered.set()

        ws.on_pong = on_pong
        reader = asyncio.get_running_loop().create_task(ws.run(on_text, time.monotonic))
        try:
            while self.running and not reader.done():
                answered.clear()
                sent = time.monotonic()
                if self.protocol_ping:
                    ws.ping()
                else:
                    await ws.send(PING)
                try:
                    await asyncio.wait_for(answered.wait(), PATIENCE)
                    self.round_trips.append(stamp[0] - sent)
                except TimeoutError:
                    self.round_trips.append(PATIENCE)
                    self.errors.append("a ping unanswered within 5 s")
                await asyncio.sleep(PAUSE)
        except Exception as exc:
            self.errors.append(f"probe failed: {type(exc).__name__}: {exc}")
        finally:
            reader.cancel()

    async def stop(self) -> ProbeResult:
        self.running = False
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for ws in self.sockets:
            with contextlib.suppress(Exception):
                await ws.close()
        trips = sorted(self.round_trips)
        return ProbeResult(
            pings=len(trips),
            p50=percentile(trips, 50),
            p99=percentile(trips, 99),
            max=trips[-1] if trips else float("nan"),
            within_50ms=sum(1 for t in trips if t <= 0.05),
            errors=sorted(set(self.errors)),
        )


@dataclass
class ServerFanout:
    """The worst over the processes of each figure, and how many events each process counted."""

    p50: float = float("nan")
    p99: float = float("nan")
    max: float = float("nan")
    hold_max: float = float("nan")
    counts: dict[int, int] = field(default_factory=dict)


SAMPLE = re.compile(
    r'^(minxin_fanout_\w+)\{broadcast="(\d+)",process="(\d+)-[^"]*"(?:,(\w+)="([^"]+)")?\} (\S+)$'
)


def parse_fanout(text: str, broadcast_id: int, pids: list[int]) -> ServerFanout:
    """The fan-out figures of the processes `pids` for the programme, from /metrics' text."""
    result = ServerFanout(counts=dict.fromkeys(pids, 0))
    worst: dict[str, float] = {}
    for line in text.splitlines():
        match = SAMPLE.match(line)
        if match is None or int(match[2]) != broadcast_id or int(match[3]) not in pids:
            continue
        name, pid, label, value = match[1], int(match[3]), match[5], float(match[6])
        if name == "minxin_fanout_lag_seconds_count":
            result.counts[pid] = int(value)
            continue
        key = (
            {"0.5": "p50", "0.99": "p99", "1": "max"}.get(label or "")
            if name.endswith("recent_seconds")
            else None
        )
        if name == "minxin_fanout_hold_max_seconds":
            key = "hold_max"
        if key is not None:
            worst[key] = max(worst.get(key, 0.0), value)
    for key, value in worst.items():
        setattr(result, key, value)
    return result


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return response.read().decode()


async def server_fanout(
    port: int, broadcast_id: int, pids: list[int], events: int, within: float
) -> ServerFanout:
    """Read /metrics until every process in `pids` has published `events` fan-outs (each publishes
    in its presence round, every MINXIN_PRESENCE_INTERVAL), at most `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        found = parse_fanout(await asyncio.to_thread(scrape, port), broadcast_id, pids)
        if all(n >= events for n in found.counts.values()) or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.5)
