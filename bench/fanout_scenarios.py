"""The fan-out benchmark's measurements: one design at N viewers (broadcast), the ingest burst
(issue 7.4) and the reconnect storm (issue 7.5); bench/fanout.py runs them and prints the rows."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from bench.database import count_questions
from bench.fanout_designs import (
    DESIGNS,
    BroadcastDesign,
    Design,
    MinxinDesign,
    Programme,
    TextbookDesign,
    new_programme,
)
from bench.load import QUESTION_RE, LoadGen
from bench.probe import PingProbe, ProbeResult, ServerFanout, server_fanout
from bench.report import percentile
from bench.servers import Children, cpu_seconds, crash_report, project_env, rss_kib


def counts(found: dict[str, int]) -> str:
    """A note's list of counted things: "what ×n, other ×m"."""
    return ", ".join(f"{k} ×{v}" for k, v in found.items())


@dataclass
class Row:
    design: str
    processes: int
    viewers: int
    connected: int = 0
    failed: int = 0
    delivered: int = 0
    expected: int = 0
    duplicates: int = 0
    p50: float = float("nan")
    p95: float = float("nan")
    p99: float = float("nan")
    max: float = float("nan")
    cpu_us: float = float("nan")
    kib_per_connection: float = float("nan")
    loadgen_cpu: float = float("nan")
    connect_seconds: float = float("nan")
    # Issue #18: round trips of pings sent during the messages, and the server's own fan-out figures.
    ping: ProbeResult = field(default_factory=ProbeResult)
    server: ServerFanout = field(default_factory=ServerFanout)
    notes: list[str] = field(default_factory=list)
    error: str | None = None


class Bench:
    def __init__(self, args: argparse.Namespace, children: Children, loadgen: LoadGen):
        self.args = args
        self.children = children
        self.loadgen = loadgen
        self.redis_url: str = args.redis_url
        self.env = project_env(args.database_url, args.redis_url)
        self.programme: Programme
        self.run_id = uuid.uuid4().hex[:6]

    def design(self, name: str) -> Design:
        if name == DESIGNS[0]:
            return MinxinDesign(self, self.args.processes)
        if name == DESIGNS[1]:
            return TextbookDesign(self)
        return BroadcastDesign(self)

    async def measure(self, name: str, viewers: int) -> Row:
        """One design at N viewers: connect them, post the messages, count what arrived and when."""
        design = self.design(name)
        row = Row(name, design.processes, viewers)
        try:
            await asyncio.wait_for(design.start(), 120)
            await asyncio.sleep(0.5)
            pids = [s.pid for s in design.servers]
            await self._viewers(design, row, pids)
            await asyncio.wait_for(design.open_sender(), 60)
            probe = PingProbe(*design.viewer_urls(), protocol_ping=name != DESIGNS[0])
            await asyncio.wait_for(probe.open(), 60)
            probe.start()
            try:
                await self._messages(design, row, pids, f"{self.run_id}-{DESIGNS.index(name)}-{viewers}")
            finally:
                row.ping = await probe.stop()
            row.notes.extend(row.ping.errors)
            await design.close_sender()
            row.notes.extend(design.notes())
            if isinstance(design, MinxinDesign):
                row.server = await server_fanout(
                    design.servers[0].port, design.broadcast_id, pids, self.args.messages, 20
                )
        except Exception as exc:
            row.error = f"{type(exc).__name__}: {exc}" + crash_report(design.servers)
        finally:
            with contextlib.suppress(Exception):
                await self.loadgen.call(90, "close", 60)
            design.stop()
        return row

    async def _viewers(self, design: Design, row: Row, pids: list[int]) -> None:
        """Connect the row's viewers (ramped) and measure the servers' memory per connection."""
        args = self.args
        rss_before = sum(rss_kib(pid) for pid in pids)
        urls, origins = design.viewer_urls()
        connect_timeout = row.viewers / args.ramp + 60
        connected = await self.loadgen.call(
            connect_timeout + 30, "connect", urls, origins, row.viewers, args.ramp, connect_timeout
        )
        row.connected, row.failed = connected["connected"], connected["failed"]
        row.connect_seconds = connected["seconds"]
        if connected["errors"]:
            row.notes.append("connect errors: " + counts(connected["errors"]))
        if connected["closed_after_connect"]:
            row.notes.append(f"{connected['closed_after_connect']} closed right after connecting")
        await asyncio.sleep(args.settle)
        rss_after = sum(rss_kib(pid) for pid in pids)
        if row.connected:
            row.kib_per_connection = (rss_after - rss_before) / row.connected

    async def _messages(self, design: Design, row: Row, pids: list[int], tag: str) -> None:
        """Post the messages at the interval; the deliveries, latencies and CPU they cost."""
        args, loadgen = self.args, self.loadgen
        started = await loadgen.call(30, "start", tag, args.messages)
        # Every viewer that connected should get every message: one the server closed while idle
        # is a viewer lost, not one fewer expected.
        row.expected = row.connected * args.messages
        if started["viewers"] < row.connected:
            row.notes.append(
                f"{row.connected - started['viewers']} viewers closed by the server before the messages"
            )
        cpu_before = sum(cpu_seconds(pid) for pid in pids)
        loadgen_before = cpu_seconds(loadgen.pid)
        began = time.monotonic()

        async def send_all() -> None:
            for index in range(args.messages):
                wait = began + index * args.interval - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                await design.send(tag, index)

        await asyncio.wait_for(send_all(), args.messages * args.interval + 120)
        stats = await loadgen.call(args.drain_timeout + 60, "finish", args.messages, args.drain_timeout)
        cpu_used = sum(cpu_seconds(pid) for pid in pids) - cpu_before
        row.loadgen_cpu = cpu_seconds(loadgen.pid) - loadgen_before
        row.delivered, row.duplicates = stats["delivered"], stats["duplicates"]
        row.p50, row.p95, row.p99, row.max = stats["p50"], stats["p95"], stats["p99"], stats["max"]
        if row.delivered:
            row.cpu_us = cpu_used * 1e6 / row.delivered
        dropped = started["viewers"] - stats["open_at_end"]
        if dropped:
            row.notes.append(
                f"{dropped} viewers closed by the server during the messages, codes {stats['close_codes']}"
            )
        if stats["late"]:
            row.notes.append(
                f"{stats['late']:,} deliveries still missing {args.drain_timeout:.0f} s after the last send"
            )
        if stats["other"]:
            row.notes.append(f"{stats['other']:,} other frames reached the viewers during the messages")
        if stats["foreign"]:
            row.notes.append(f"{stats['foreign']} frames from another run")

    # --- ingest and storm ------------------------------------------------------------------

    async def _servers(self, broadcast_id: int) -> MinxinDesign:
        design = MinxinDesign(self, self.args.processes, broadcast_id)
        await asyncio.wait_for(design.start(), 120)
        await asyncio.sleep(0.5)
        return design

    async def _connect(self, design: MinxinDesign, count: int, urls: list[str] | None = None) -> dict:
        args = self.args
        viewer_urls, origins = design.viewer_urls()
        within = count / args.ramp + 60
        await self.loadgen.call(30, "capture")
        return await self.loadgen.call(
            within + 30, "connect", urls or viewer_urls, origins, count, args.ramp, within
        )

    async def ingest(self) -> IngestRow:
        """Issue 7.4: N netizens each ask once within ~1 s; a moderator watches the queue."""
        args, loadgen = self.args, self.loadgen
        row = IngestRow(args.processes, args.netizens, window=args.ingest_window)
        design: MinxinDesign | None = None
        moderator = None
        try:
            broadcast_id = await asyncio.to_thread(new_programme, self.env, "ingest bench")
            row.broadcast_id = broadcast_id
            design = await self._servers(broadcast_id)
            connected = await self._connect(design, args.netizens)
            row.connected, row.failed = connected["connected"], connected["failed"]
            if connected["errors"]:
                row.notes.append("connect errors: " + counts(connected["errors"]))
            moderator = Moderator(self, design, broadcast_id)
            await asyncio.wait_for(moderator.open(), 60)
            pids = [s.pid for s in design.servers]
            cpu_before = sum(cpu_seconds(pid) for pid in pids)
            loadgen_before = cpu_seconds(loadgen.pid)
            tag = f"{self.run_id}i{broadcast_id}"
            timeout = args.ask_timeout
            asked = await loadgen.call(
                args.ingest_window + timeout + 60, "ask", tag, args.ingest_window, timeout, 0, False
            )
            row.sent, row.acked, row.errors = asked["sent"], asked["ok"], asked["errors"]
            row.send_seconds = asked["send_seconds"]
            row.ack = (asked["p50"], asked["p95"], asked["p99"], asked["max"])
            await moderator.wait(tag, row.sent, timeout)
            row.cpu = sum(cpu_seconds(pid) for pid in pids) - cpu_before
            row.loadgen_cpu = cpu_seconds(loadgen.pid) - loadgen_before
            queued = moderator.latencies(tag)
            row.queued, row.queue_duplicates = len(queued), moderator.duplicates(tag)
            row.queue = (
                percentile(queued, 50),
                percentile(queued, 95),
                percentile(queued, 99),
                queued[-1] if queued else float("nan"),
            )
            first_ids: dict[str, int] = asked["question_ids"]
            if args.resend:
                again = await loadgen.call(timeout + 60, "ask", tag, 0.1, timeout, args.resend, True)
                row.resent = again["sent"]
                row.resent_same = sum(
                    1 for cid, qid in again["question_ids"].items() if first_ids.get(cid) == qid
                )
                if again["errors"]:
                    row.notes.append("resend errors: " + counts(again["errors"]))
                await asyncio.sleep(0.5)  # a question.new for a resend would arrive by now
                row.queued_after_resend = len(moderator.latencies(tag))
            row.stored, row.distinct = await asyncio.to_thread(count_questions, self.env, broadcast_id)
            row.distinct_ids = len(set(first_ids.values()))
        except Exception as exc:
            row.error = f"{type(exc).__name__}: {exc}" + crash_report(design.servers if design else [])
        finally:
            if moderator is not None:
                await moderator.close()
            with contextlib.suppress(Exception):
                await loadgen.call(90, "close", 60)
            if design is not None:
                design.stop()
        return row

    async def storm(self) -> StormRow:
        """Issue 7.5: N viewers drop, K answers are posted, all N reconnect with ?after= within W s."""
        args, loadgen = self.args, self.loadgen
        row = StormRow(args.processes, args.storm_viewers, args.storm_answers, window=args.storm_window)
        design: MinxinDesign | None = None
        try:
            broadcast_id = await asyncio.to_thread(new_programme, self.env, "storm bench")
            design = await self._servers(broadcast_id)
            connected = await self._connect(design, args.storm_viewers)
            row.connected, row.failed = connected["connected"], connected["failed"]
            if connected["errors"]:
                row.notes.append("first connect errors: " + counts(connected["errors"]))
            await asyncio.sleep(args.settle)
            design.expected_acks = args.storm_seen + args.storm_answers
            await asyncio.wait_for(design.open_sender(), 60)
            tag = f"{self.run_id}s{broadcast_id}"
            # What the viewers see live before the blip: seqs 1..S.
            for index in range(args.storm_seen):
                await design.send(tag, index)
            await design.wait_acks(args.storm_seen, 60)
            seen = await loadgen.call(120, "events", args.storm_seen, 60)
            row.seen = seen["after"]
            row.closed = (await loadgen.call(150, "disconnect", 120))["closed"]
            # The blip: nobody is connected while the guest answers K times.
            for index in range(args.storm_seen, args.storm_seen + args.storm_answers):
                await design.send(tag, index)
            await design.wait_acks(args.storm_seen + args.storm_answers, 60)
            row.acks = design.acks
            final_seq = args.storm_seen + args.storm_answers
            urls, origins = design.viewer_urls()
            pids = [s.pid for s in design.servers]
            cpu_before = sum(cpu_seconds(pid) for pid in pids)
            loadgen_before = cpu_seconds(loadgen.pid)
            stats = await loadgen.call(
                args.storm_window + args.drain_timeout + 120,
                "storm",
                urls,
                origins,
                args.storm_window,
                final_seq,
                args.drain_timeout,
            )
            row.cpu = sum(cpu_seconds(pid) for pid in pids) - cpu_before
            row.loadgen_cpu = cpu_seconds(loadgen.pid) - loadgen_before
            row.seconds = stats["seconds"]
            row.reconnected, row.reconnect_failed = stats["connected"], stats["failed"]
            row.complete, row.duplicates = stats["complete"], stats["duplicates"]
            row.missing, row.extra = stats["missing"], stats["extra"]
            row.p50, row.p95, row.p99, row.max = stats["p50"], stats["p95"], stats["p99"], stats["max"]
            row.after = stats["after"]
            if stats["errors"]:
                row.notes.append("reconnect errors: " + counts(stats["errors"]))
            if stats["error_frames"]:
                row.notes.append(f"{stats['error_frames']} error frames")
            if stats["bad_hello"]:
                row.notes.append(f"{stats['bad_hello']} hellos with last_seq behind the viewer")
            if stats["closed_by_server"]:
                row.notes.append(
                    f"{stats['closed_by_server']} closed by the server, codes {stats['close_codes']}"
                )
            if design.errors:
                row.notes.append("guest errors: " + "; ".join(design.errors[:3]))
            await design.close_sender()
        except Exception as exc:
            row.error = f"{type(exc).__name__}: {exc}" + crash_report(design.servers if design else [])
        finally:
            with contextlib.suppress(Exception):
                await loadgen.call(90, "close", 60)
            if design is not None:
                design.stop()
        return row


class Moderator:
    """One logged-in moderator on /ws/moderate/<id>/ of the first process, in the bench process."""

    def __init__(self, bench: Bench, design: MinxinDesign, broadcast_id: int):
        self.bench = bench
        self.port = design.servers[0].port
        self.broadcast_id = broadcast_id
        self.ws: Any = None
        self.reader: asyncio.Task | None = None
        self.new: list[tuple[float, str]] = []  # (receipt time, question text) of each question.new

    async def open(self) -> None:
        from websockets.asyncio.client import connect
        from websockets.typing import Origin

        self.ws = await connect(
            f"ws://127.0.0.1:{self.port}/ws/moderate/{self.broadcast_id}/",
            origin=Origin(f"http://127.0.0.1:{self.port}"),
            additional_headers={"Cookie": self.bench.programme.moderator_cookie},
            compression=None,
            proxy=None,
            open_timeout=30,
            max_size=None,
        )
        first = json.loads(await asyncio.wait_for(self.ws.recv(), 30))
        if first.get("type") != "queue":
            raise RuntimeError(f"the moderator's socket did not open with a queue: {first}")
        self.reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(Exception):
            async for message in self.ws:
                now = time.time()
                frame = json.loads(message)
                if frame.get("type") == "question.new":
                    self.new.append((now, frame["question"]["text"]))

    def _marked(self, tag: str) -> list[tuple[int, float]]:
        found = []
        for received_at, text in self.new:
            match = QUESTION_RE.search(text)
            if match and match.group(1) == tag:
                found.append((int(match.group(2)), received_at - float(match.group(3))))
        return found

    def latencies(self, tag: str) -> list[float]:
        """Send → question.new, one per question (the first if it came twice), sorted."""
        first: dict[int, float] = {}
        for index, latency in self._marked(tag):
            first.setdefault(index, latency)
        return sorted(first.values())

    def duplicates(self, tag: str) -> int:
        marked = self._marked(tag)
        return len(marked) - len({index for index, _ in marked})

    async def wait(self, tag: str, count: int, within: float) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if len(self.latencies(tag)) >= count:
                break
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close()
        if self.reader is not None:
            self.reader.cancel()


@dataclass
class IngestRow:
    processes: int
    netizens: int
    window: float
    broadcast_id: int = 0
    connected: int = 0
    failed: int = 0
    sent: int = 0
    send_seconds: float = float("nan")
    acked: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    ack: tuple[float, float, float, float] = (float("nan"),) * 4
    queued: int = 0
    queue_duplicates: int = 0
    queue: tuple[float, float, float, float] = (float("nan"),) * 4
    stored: int = -1
    distinct: int = -1
    distinct_ids: int = 0
    resent: int = 0
    resent_same: int = 0
    queued_after_resend: int = 0
    cpu: float = float("nan")
    loadgen_cpu: float = float("nan")
    notes: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class StormRow:
    processes: int
    viewers: int
    answers: int
    window: float
    connected: int = 0
    failed: int = 0
    seen: dict[int, int] = field(default_factory=dict)
    closed: int = 0
    acks: int = 0
    reconnected: int = 0
    reconnect_failed: int = 0
    complete: int = 0
    duplicates: int = 0
    missing: int = 0
    extra: int = 0
    after: dict[int, int] = field(default_factory=dict)
    p50: float = float("nan")
    p95: float = float("nan")
    p99: float = float("nan")
    max: float = float("nan")
    seconds: float = float("nan")
    cpu: float = float("nan")
    loadgen_cpu: float = float("nan")
    notes: list[str] = field(default_factory=list)
    error: str | None = None
