"""Fan-out benchmark: one answer to N viewers, the project beside the textbook design and the ceiling.

    .venv/bin/python -m bench.fanout                                # --viewers 500,2000 --processes 2 --messages 20 --interval 0.5
    .venv/bin/python -m bench.fanout --viewers 4000

Needs PostgreSQL and Redis (DATABASE_URL, REDIS_URL; defaults below). For each N it starts fresh
servers and measures, with one load generator in its own process:

- ``minxin hub``: the project (asgi.py, settings.prod) in P daphne processes; viewers on
  /ws/live/<id>/ round-robin across them; a logged-in guest posts M answers on /ws/studio/<id>/.
- ``textbook Channels``: bench/fanout_refs.py's tutorial consumer in one daphne process;
  M ``group_send`` calls from this process.
- ``websockets broadcast()``: bench/fanout_refs.py's plain server, one process; M frames on a
  trigger connection, each encoded once and ``broadcast()``.

Every message carries the time it was sent (``time.time()`` just before the send); each viewer
notes when it receives it; same machine, same clock. See bench/README.md ("Fan-out").
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import importlib.metadata
import json
import multiprocessing
import os
import platform
import re
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/minxin_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/9"
MARK = "fanout-bench"
MESSAGE_RE = re.compile(MARK + r" (\S+) (\d+) ([0-9.]+)\]")
# An answer of ordinary length: the event every viewer gets is ~400 bytes of UTF-8, like a real one.
SENTENCE = "感谢网友关注。公交线网优化方案将于下月公示，征求意见期间市民可通过热线和网站提出建议。"
# Redis pub/sub channels are global to a Redis server, whatever the db number: the project's hub
# channel is minxin:room:live.<id>. The bench's programmes get ids no test database reaches, so
# a bench run and a test run on the same Redis never hear each other.
BROADCAST_ID_FLOOR = 900_000_000
DESIGNS = ("minxin hub", "textbook Channels", "websockets broadcast()")
SCENARIOS = ("broadcast", "ingest", "storm")


# --- small helpers ---------------------------------------------------------------------------


def raise_nofile() -> None:
    """Open-file limit up to the hard limit: one descriptor per socket."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def percentile(values: list[float], q: float) -> float:
    """Nearest rank; values sorted."""
    if not values:
        return float("nan")
    rank = max(1, min(len(values), int(-(-q * len(values) // 100))))
    return values[rank - 1]


def with_database_name(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def with_redis_db(url: str, db: int) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{db}"))


def redis_db(url: str) -> int:
    path = urlsplit(url).path.strip("/")
    return int(path) if path else 0


# --- the load generator (its own process) ----------------------------------------------------


class Viewer:
    __slots__ = (
        "after",
        "close_code",
        "count",
        "frames",
        "open",
        "other",
        "received",
        "started",
        "task",
        "ws",
    )

    def __init__(self) -> None:
        self.ws: Any = None
        self.open = False
        self.count = 0
        self.other = 0  # frames during the messages that are not bench messages (presence, ...)
        self.received: list[tuple[float, str]] = []
        self.close_code: int | None = None
        self.task: asyncio.Task | None = None
        # Ingest and storm: every frame (receipt time, text) while capturing; the seq it resumes after.
        self.frames: list[tuple[float, str]] = []
        self.after = 0
        self.started = 0.0


class LoadState:
    def __init__(self) -> None:
        self.viewers: list[Viewer] = []
        # Connections opened so far: each takes the next slot of bench.leanws.local_address, so
        # that no source address holds more sockets than the server's per-address cap.
        self.connections = 0
        self.recording = False
        self.capture = False
        self.tag = ""
        self.asked: dict[int, tuple[str, str]] = {}  # ingest: viewer index -> client_id, text


def _describe(exc: BaseException) -> str:
    if getattr(exc, "status", None):  # bench.leanws.HandshakeError
        return f"HTTP {exc.status}"  # type: ignore[attr-defined]
    response = getattr(exc, "response", None)
    if response is not None and getattr(response, "status_code", None):
        return f"HTTP {response.status_code}"
    if isinstance(exc, OSError) and exc.errno:
        return f"{type(exc).__name__} errno {exc.errno}"
    return type(exc).__name__


async def _viewer(state: LoadState, viewer: Viewer, url: str, origin: str, connected: asyncio.Future) -> None:
    from bench import leanws

    source = leanws.local_address(state.connections, url)
    state.connections += 1
    try:
        ws = await leanws.connect(url, origin, open_timeout=30, source=source)
    except Exception as exc:
        if not connected.done():
            connected.set_result(_describe(exc))
        return
    viewer.ws, viewer.open = ws, True
    if not connected.done():
        connected.set_result(None)
    received = viewer.received

    def on_text(now: float, message: str) -> None:
        if state.recording:
            if MARK in message:
                received.append((now, message))
                viewer.count += 1
            else:
                viewer.other += 1
        elif state.capture:
            viewer.frames.append((now, message))

    try:
        await ws.run(on_text, time.time)
    finally:
        viewer.open = False
        viewer.close_code = ws.close_code


async def _connect_all(
    state: LoadState, urls: list[str], origins: list[str], n: int, rate: float, within: float
) -> dict:
    started = time.monotonic()
    futures: list[asyncio.Future] = []
    loop = asyncio.get_running_loop()
    for i in range(n):
        ahead = started + i / rate - time.monotonic()
        if ahead > 0.005:
            await asyncio.sleep(ahead)
        viewer = Viewer()
        future = loop.create_future()
        futures.append(future)
        viewer.task = loop.create_task(
            _viewer(state, viewer, urls[i % len(urls)], origins[i % len(urls)], future)
        )
        state.viewers.append(viewer)
    _done, pending = await asyncio.wait(futures, timeout=max(1.0, started + within - time.monotonic()))
    errors: collections.Counter[str] = collections.Counter()
    for viewer, future in zip(state.viewers, futures, strict=True):
        if future in pending:
            errors["no handshake within the connect timeout"] += 1
            assert viewer.task is not None
            viewer.task.cancel()
        elif future.result() is not None:
            errors[future.result()] += 1
    connected = sum(1 for v in state.viewers if v.open)
    closed_already = sum(1 for f in futures if f.done() and f.result() is None) - connected
    return {
        "connected": connected,
        "failed": n - connected,
        "closed_after_connect": closed_already,
        "errors": dict(errors),
        "seconds": time.monotonic() - started,
    }


def _finish_stats(state: LoadState, messages: int, late: int) -> dict:
    latencies: list[float] = []
    delivered = duplicates = foreign = 0
    for viewer in state.viewers:
        seen: set[int] = set()
        for received_at, text in viewer.received:
            match = MESSAGE_RE.search(text)
            if match is None or match.group(1) != state.tag:
                foreign += 1
                continue
            index = int(match.group(2))
            if index in seen:
                duplicates += 1
                continue
            seen.add(index)
            delivered += 1
            latencies.append(received_at - float(match.group(3)))
    latencies.sort()
    return {
        "delivered": delivered,
        "duplicates": duplicates,
        "foreign": foreign,
        "other": sum(v.other for v in state.viewers),
        "late": late,
        "p50": percentile(latencies, 50),
        "p95": percentile(latencies, 95),
        "p99": percentile(latencies, 99),
        "max": latencies[-1] if latencies else float("nan"),
        "open_at_end": sum(1 for v in state.viewers if v.open),
        "close_codes": dict(
            collections.Counter(v.close_code for v in state.viewers if v.ws is not None and not v.open)
        ),
    }


async def _close_all(state: LoadState, within: float, keep: bool = False) -> None:
    """Close every socket; with `keep`, the viewers' records stay (the storm reconnects them)."""
    viewers = [v for v in state.viewers if v.ws is not None]

    async def close(viewer: Viewer) -> None:
        with contextlib.suppress(Exception):
            await viewer.ws.close()

    # Close in slices so that the servers are not hit by thousands of closes in one instant.
    deadline = time.monotonic() + within
    for start in range(0, len(viewers), 500):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        await asyncio.wait(
            [asyncio.ensure_future(close(v)) for v in viewers[start : start + 500]], timeout=remaining
        )
    for viewer in state.viewers:
        if viewer.task is not None and not viewer.task.done():
            viewer.task.cancel()
    await asyncio.sleep(0)
    if not keep:
        state.viewers = []


# --- ingest: a burst of questions (issue 7.4) --------------------------------------------------

QUESTION_MARK = "ingest-bench"
QUESTION_RE = re.compile(QUESTION_MARK + r" (\S+) (\d+) ([0-9.]+)\]")
QUESTION_TEMPLATES = (
    "请问{n}路公交的夜间班次能不能延长到十一点？下班晚的人太多了。",
    "我们小区门口的人行道施工已经{n}天了，什么时候能完工？老人出门很不方便。",
    "地铁站出口的共享单车停放太乱，能否划定停放区域并安排人员每天整理？",
    "孩子今年上小学，学区划分什么时候公布？我们{n}号楼到底属于哪个学校？",
    "医保异地结算还要先备案吗？在外地住院{n}天，回来报销手续太复杂。",
    "老旧小区加装电梯的补贴标准是多少？我们单元{n}户都同意了，下一步找谁？",
    "冬季供暖温度总是不达标，室内只有十几度，打了{n}次热线还没解决。",
    "路口的红绿灯时间太短，行人过马路要跑，能否延长{n}秒？",
)


def question_text(tag: str, index: int, sent_at: float) -> str:
    """A citizen's question of ordinary length, with the bench's mark (tag, index, send time)."""
    template = QUESTION_TEMPLATES[index % len(QUESTION_TEMPLATES)]
    return template.format(n=index % 89 + 2) + f"[{QUESTION_MARK} {tag} {index} {sent_at:.6f}]"


async def _ask_all(
    state: LoadState, tag: str, window: float, within: float, count: int, resend: bool
) -> dict:
    """Every open connection (or the first `count`) sends one `ask`, spread evenly over `window` s.

    With `resend`, the same client_id and text as its first ask. Waits for each one's `ask.ok` or
    `error` (matched on `ref`) until `within` s after the last send.
    """
    targets = [(i, v) for i, v in enumerate(state.viewers) if v.open]
    if count:
        targets = targets[:count]
    asked = state.asked
    sent: dict[int, tuple[str, float, int]] = {}  # index -> client_id, send time, frames before the send
    send_errors: collections.Counter[str] = collections.Counter()
    started = time.monotonic()
    for k, (i, viewer) in enumerate(targets):
        ahead = started + k * window / max(1, len(targets)) - time.monotonic()
        if ahead > 0.002:
            await asyncio.sleep(ahead)
        sent_at = time.time()
        if resend and i in asked:
            client_id, text = asked[i]
        else:
            client_id = f"{tag}-{i}"
            text = question_text(tag, i, sent_at)
            asked[i] = (client_id, text)
        frame = json.dumps(
            {"type": "ask", "client_id": client_id, "text": text, "nickname": f"网友{i}"}, ensure_ascii=False
        )
        sent[i] = (client_id, sent_at, len(viewer.frames))
        try:
            await viewer.ws.send(frame)
        except Exception as exc:
            send_errors[_describe(exc)] += 1
            del sent[i]
    send_seconds = time.monotonic() - started
    pending = dict(sent)
    replies: dict[int, tuple[float, dict]] = {}
    deadline = time.monotonic() + within
    while pending and time.monotonic() < deadline:
        for i, (client_id, sent_at, start) in list(pending.items()):
            needle = f'"ref":"{client_id}"'
            for received_at, text in state.viewers[i].frames[start:]:
                if needle in text:
                    replies[i] = (received_at - sent_at, json.loads(text))
                    del pending[i]
                    break
        if pending:
            await asyncio.sleep(0.02)
    latencies = sorted(latency for latency, frame in replies.values() if frame.get("type") == "ask.ok")
    errors = collections.Counter(
        str(frame.get("code")) for _latency, frame in replies.values() if frame.get("type") != "ask.ok"
    )
    errors.update({f"send failed: {k}": v for k, v in send_errors.items()})
    if pending:
        errors["no answer within the timeout"] += len(pending)
    return {
        "sent": len(sent),
        "send_seconds": send_seconds,
        "ok": len(latencies),
        "errors": dict(errors),
        "p50": percentile(latencies, 50),
        "p95": percentile(latencies, 95),
        "p99": percentile(latencies, 99),
        "max": latencies[-1] if latencies else float("nan"),
        "question_ids": {
            sent[i][0]: frame.get("question_id")
            for i, (_latency, frame) in replies.items()
            if frame.get("type") == "ask.ok"
        },
    }


# --- storm: every viewer reconnects with ?after= (issue 7.5) ----------------------------------


def _event_seqs(viewer: Viewer) -> list[int]:
    seqs = []
    for _at, text in viewer.frames:
        if '"type":"event"' in text:
            seqs.append(json.loads(text)["seq"])
    return seqs


async def _wait_events(state: LoadState, count: int, within: float) -> dict:
    """Wait until every open viewer holds `count` events; each viewer's `after` = the last seq it holds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if all(sum('"type":"event"' in t for _a, t in v.frames) >= count for v in state.viewers if v.open):
            break
        await asyncio.sleep(0.05)
    holding: collections.Counter[int] = collections.Counter()
    for viewer in state.viewers:
        if viewer.ws is None:
            continue
        seqs = _event_seqs(viewer)
        if seqs:
            viewer.after = max(seqs)
        else:  # nothing live yet: what the hello said
            for _at, text in viewer.frames:
                if '"type":"hello"' in text:
                    viewer.after = json.loads(text)["last_seq"]
                    break
        holding[viewer.after] += 1
    return {"open": sum(1 for v in state.viewers if v.open), "after": dict(holding)}


async def _storm(
    state: LoadState, urls: list[str], origins: list[str], window: float, final_seq: int, within: float
) -> dict:
    """Every viewer that was connected reconnects with ?after=<its last seq>, ramped evenly over `window`.

    Each lands on the next process (as behind a balancer after a blip). Waits until every one holds
    `final_seq` (or `within` s after the last connect), then checks what each one received.
    """
    olds = [v for v in state.viewers if v.ws is not None]
    loop = asyncio.get_running_loop()
    news: list[Viewer] = []
    futures: list[asyncio.Future] = []
    started = time.monotonic()
    for k, old in enumerate(olds):
        ahead = started + k * window / max(1, len(olds)) - time.monotonic()
        if ahead > 0.002:
            await asyncio.sleep(ahead)
        viewer = Viewer()
        viewer.after = old.after
        viewer.started = time.time()
        j = (k + 1) % len(urls)
        future = loop.create_future()
        viewer.task = loop.create_task(
            _viewer(state, viewer, f"{urls[j]}?after={old.after}", origins[j], future)
        )
        news.append(viewer)
        futures.append(future)
    state.viewers = news
    ramp_seconds = time.monotonic() - started
    last = f'"seq":{final_seq},'

    def done(viewer: Viewer, future: asyncio.Future) -> bool:
        if not future.done():
            return False
        if future.result() is not None or not viewer.open:
            return True
        return any(last in t and '"type":"event"' in t for _a, t in viewer.frames)

    deadline = time.monotonic() + within
    finished: set[int] = set()
    while time.monotonic() < deadline and len(finished) < len(news):
        for k, (viewer, future) in enumerate(zip(news, futures, strict=True)):
            if k not in finished and done(viewer, future):
                finished.add(k)
        if len(finished) < len(news):
            await asyncio.sleep(0.05)
    errors: collections.Counter[str] = collections.Counter()
    latencies: list[float] = []
    complete = duplicates = missing = extra = error_frames = bad_hello = 0
    for viewer, future in zip(news, futures, strict=True):
        if not future.done():
            errors["no handshake within the timeout"] += 1
            continue
        if future.result() is not None:
            errors[future.result()] += 1
            continue
        seqs = _event_seqs(viewer)
        expected = list(range(viewer.after + 1, final_seq + 1))
        duplicates += len(seqs) - len(set(seqs))
        missing += len(set(expected) - set(seqs))
        extra += sum(1 for s in seqs if s <= viewer.after or s > final_seq)
        if seqs == expected:
            complete += 1
        for at, text in viewer.frames:
            if '"type":"error"' in text:
                error_frames += 1
            elif '"type":"hello"' in text and json.loads(text)["last_seq"] < viewer.after:
                bad_hello += 1
            elif '"type":"event"' in text and last in text:
                latencies.append(at - viewer.started)
                break
    latencies.sort()
    connected = sum(1 for f in futures if f.done() and f.result() is None)
    return {
        "viewers": len(olds),
        "connected": connected,
        "failed": len(olds) - connected,
        "errors": dict(errors),
        "ramp_seconds": ramp_seconds,
        "complete": complete,
        "duplicates": duplicates,
        "missing": missing,
        "extra": extra,
        "error_frames": error_frames,
        "bad_hello": bad_hello,
        "closed_by_server": sum(
            1 for v, f in zip(news, futures, strict=True) if f.done() and f.result() is None and not v.open
        ),
        "close_codes": dict(
            collections.Counter(v.close_code for v in news if v.ws is not None and not v.open)
        ),
        "after": dict(collections.Counter(v.after for v in news)),
        "p50": percentile(latencies, 50),
        "p95": percentile(latencies, 95),
        "p99": percentile(latencies, 99),
        "max": latencies[-1] if latencies else float("nan"),
        "seconds": time.monotonic() - started,
    }


async def _loadgen(conn: Any) -> None:
    loop = asyncio.get_running_loop()
    readable = asyncio.Event()
    loop.add_reader(conn.fileno(), readable.set)
    state = LoadState()
    while True:
        while not conn.poll():
            readable.clear()
            if conn.poll():
                break
            await readable.wait()
        command, *args = conn.recv()
        if command == "connect":
            conn.send(await _connect_all(state, *args))
        elif command == "start":
            state.tag, messages = args
            for viewer in state.viewers:
                viewer.received.clear()
                viewer.count = viewer.other = 0
            state.recording = True
            conn.send({"viewers": sum(1 for v in state.viewers if v.open), "messages": messages})
        elif command == "finish":
            messages, timeout = args
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if all(v.count >= messages for v in state.viewers if v.open):
                    break
                await asyncio.sleep(0.02)
            state.recording = False
            late = sum(max(0, messages - v.count) for v in state.viewers if v.open)
            conn.send(_finish_stats(state, messages, late))
        elif command == "close":
            await _close_all(state, *args)
            state.capture = False
            conn.send({"closed": True})
        elif command == "capture":
            state.capture = True
            conn.send({"capture": True})
        elif command == "ask":
            conn.send(await _ask_all(state, *args))
        elif command == "events":
            conn.send(await _wait_events(state, *args))
        elif command == "disconnect":
            await _close_all(state, args[0], keep=True)
            conn.send({"closed": sum(1 for v in state.viewers if v.ws is not None)})
        elif command == "storm":
            conn.send(await _storm(state, *args))
        elif command == "exit":
            loop.remove_reader(conn.fileno())
            conn.send({"bye": True})
            return


def loadgen_main(conn: Any) -> None:
    """Entry point of the load-generator process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the bench stops it; Ctrl-C goes to the bench
    raise_nofile()
    asyncio.run(_loadgen(conn))


class LoadGen:
    """The load-generator process; `target` is its entry point (bench/soak.py brings its own)."""

    def __init__(self, target: Any = None, name: str = "fanout-loadgen") -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=target or loadgen_main, args=(child,), name=name, daemon=True)
        self.process.start()
        child.close()

    @property
    def pid(self) -> int:
        assert self.process.pid is not None
        return self.process.pid

    async def call(self, within: float, *command: Any) -> dict:
        self.conn.send(command)
        ready = await asyncio.to_thread(self.conn.poll, within)
        if not ready:
            raise TimeoutError(f"the load generator did not answer {command[0]!r} within {within:.0f} s")
        return self.conn.recv()

    def stop(self) -> None:
        if self.process.is_alive():
            with contextlib.suppress(Exception):
                self.conn.send(("exit",))
                if self.conn.poll(10):
                    self.conn.recv()
            self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)


# --- servers ---------------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    process: subprocess.Popen
    port: int
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class Children:
    """Every server process the bench starts; all stopped in `finally`."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self.servers: list[Server] = []

    def start(self, name: str, command: list[str], env: dict, port: int) -> Server:
        log = self.logdir / f"{name.replace(' ', '-')}-{port}.log"
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            preexec_fn=raise_nofile,
        )
        server = Server(name, process, port, log)
        self.servers.append(server)
        return server

    def stop(self, servers: list[Server] | None = None) -> None:
        for server in list(servers if servers is not None else self.servers):
            server.stop()
            if server in self.servers:
                self.servers.remove(server)


async def wait_listening(server: Server, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} on port {server.port} exited early:\n{server.tail()}")
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise RuntimeError(
        f"{server.name} on port {server.port} did not listen within {within:.0f} s:\n{server.tail()}"
    )


async def warm_up(url: str, origin: str, expect_frame: bool) -> None:
    """One socket opened and closed, so that imports and first-use costs fall before the measurement."""
    from websockets.asyncio.client import connect
    from websockets.typing import Origin

    async with connect(url, origin=Origin(origin), compression=None, proxy=None, open_timeout=30) as ws:
        if expect_frame:
            await asyncio.wait_for(ws.recv(), 30)


# --- the project's side: database, accounts, programme --------------------------------------


# Every bench client comes from 127.0.0.1: the per-address question limits (30 a minute, 300 an
# hour by default) would refuse the ingest burst, so the bench's servers get these instead. The
# per-netizen limits stay as configured: each netizen connection is its own netizen and asks once.
ASKS_PER_ADDRESS = 100_000


def project_env(database_url: str, redis_url: str) -> dict:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "settings.prod",
        "SECRET_KEY": "bench",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        "SECURE_COOKIES": "false",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "PYTHONUNBUFFERED": "1",
        "MINXIN_ASKS_PER_ADDRESS_PER_MINUTE": str(ASKS_PER_ADDRESS),
        "MINXIN_ASKS_PER_ADDRESS_PER_HOUR": str(ASKS_PER_ADDRESS),
    }
    for name in ("DEBUG", "SQLITE_PATH", "SECRET_KEY_FILE", "DATABASE_URL_FILE", "REDIS_URL_FILE"):
        env.pop(name, None)
    return env


def manage(env: dict, *args: str, timeout: float = 180) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args[:2])} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def ensure_database(database_url: str) -> None:
    import psycopg

    name = database_name(database_url)
    admin_url = with_database_name(database_url, "postgres")
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


SETUP_SCRIPT = """
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.utils import timezone
from departments.registry import load_registry
from studio.models import Broadcast
load_registry()
table = Broadcast._meta.db_table
with connection.cursor() as cursor:
    cursor.execute(
        "SELECT setval(pg_get_serial_sequence(%s, 'id'), GREATEST(%s, (SELECT COALESCE(MAX(id), 0) FROM " + table + ")))",
        [table, {floor}],
    )
"""

# Staff accounts in one shell (one Django start-up, not one per account): (username, role, options).
STAFF_SCRIPT = """
import io
import secrets
from django.core.management import call_command
for username, role, options in {accounts!r}:
    call_command(
        "createstaff", username, "--role", role, "--password=" + secrets.token_urlsafe(12), *options,
        stdout=io.StringIO(),
    )
"""

# Prints one session cookie (name=value) per username, in order.
LOGIN_SCRIPT = """
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
for username in {usernames!r}:
    client = Client()
    client.force_login(get_user_model().objects.get(username=username))
    print(settings.SESSION_COOKIE_NAME + "=" + client.cookies[settings.SESSION_COOKIE_NAME].value)
"""

LIVE_SCRIPT = """
from django.utils import timezone
from studio.models import Broadcast
Broadcast.objects.filter(pk={broadcast_id}).update(status="live", started_at=timezone.now())
"""

NEW_PROGRAMME_SCRIPT = """
import io
from django.core.management import call_command
from django.utils import timezone
from studio.models import Broadcast
out = io.StringIO()
call_command("createbroadcast", "--department", "jtw", "--title", {title!r}, "--guest", "benchguest", stdout=out)
broadcast_id = int(out.getvalue().strip().splitlines()[-1])
Broadcast.objects.filter(pk=broadcast_id).update(status="live", started_at=timezone.now())
print(broadcast_id)
"""

COUNT_SCRIPT = """
from moderation.models import Question
questions = Question.objects.filter(broadcast_id={broadcast_id})
print(questions.count(), questions.values("client_id").distinct().count())
"""


@dataclass
class Programme:
    broadcast_id: int
    cookie: str  # the guest's session cookie, name=value
    moderator_cookie: str = ""  # benchmoderator's


def new_programme(env: dict, title: str) -> int:
    """A fresh live programme with the bench guest: a log and a question table of its own."""
    return int(manage(env, "shell", "-c", NEW_PROGRAMME_SCRIPT.format(title=title)).strip().splitlines()[-1])


def count_questions(env: dict, broadcast_id: int) -> tuple[int, int]:
    """Questions stored for the programme, and distinct client_ids among them (through the ORM)."""
    total, distinct = manage(env, "shell", "-c", COUNT_SCRIPT.format(broadcast_id=broadcast_id)).split()[-2:]
    return int(total), int(distinct)


def prepare_project(env: dict, database_url: str) -> Programme:
    ensure_database(database_url)
    manage(env, "migrate", "--no-input", "-v", "0", timeout=600)
    accounts = [
        ("benchguest", "guest", ["--department", "jtw", "--name", "张明", "--title", "市交通委新闻发言人"]),
        ("benchmoderator", "moderator", ["--name", "审核员"]),
    ]
    manage(
        env,
        "shell",
        "-c",
        SETUP_SCRIPT.format(floor=BROADCAST_ID_FLOOR) + STAFF_SCRIPT.format(accounts=accounts),
    )
    out = manage(
        env, "createbroadcast", "--department", "jtw", "--title", "fan-out bench", "--guest", "benchguest"
    )
    broadcast_id = int(out.strip().splitlines()[-1])
    script = LIVE_SCRIPT.format(broadcast_id=broadcast_id) + LOGIN_SCRIPT.format(
        usernames=("benchguest", "benchmoderator")
    )
    guest, moderator = manage(env, "shell", "-c", script).strip().splitlines()[-2:]
    return Programme(broadcast_id, guest, moderator)


# --- the three designs -----------------------------------------------------------------------


def reference_frame(index: int, text: str) -> dict:
    """What the references send: the shape and size of the project's answer.posted event."""
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000+08:00")
    return {
        "type": "event",
        "seq": index + 1,
        "kind": "answer.posted",
        "at": now,
        "data": {
            "answer": {
                "id": index + 1,
                "question_id": None,
                "text": text,
                "guest": {"name": "张明", "title": "市交通委新闻发言人"},
                "answered_at": now,
            }
        },
    }


def message_text(tag: str, index: int, sent_at: float) -> str:
    return f"{SENTENCE}[{MARK} {tag} {index} {sent_at:.6f}]"


class Design:
    name = ""
    processes = 1

    def __init__(self, bench: Bench):
        self.bench = bench
        self.servers: list[Server] = []

    async def start(self) -> None: ...

    def viewer_urls(self) -> tuple[list[str], list[str]]:
        raise NotImplementedError

    def notes(self) -> list[str]:
        return []

    async def open_sender(self) -> None: ...

    async def send(self, tag: str, index: int) -> None: ...

    async def close_sender(self) -> None: ...

    def stop(self) -> None:
        self.bench.children.stop(self.servers)
        self.servers = []


class MinxinDesign(Design):
    name = DESIGNS[0]

    def __init__(self, bench: Bench, processes: int, broadcast_id: int | None = None):
        super().__init__(bench)
        self.processes = processes
        self.broadcast_id = broadcast_id if broadcast_id is not None else bench.programme.broadcast_id
        self.expected_acks = bench.args.messages
        self.guest: Any = None
        self.guest_reader: asyncio.Task | None = None
        self.acks = 0
        self.errors: list[str] = []

    async def start(self) -> None:
        daphne = str(Path(sys.executable).parent / "daphne")
        for _ in range(self.processes):
            port = free_port()
            self.servers.append(
                self.bench.children.start(
                    self.name,
                    [daphne, "-b", "127.0.0.1", "-p", str(port), "asgi:application"],
                    self.bench.env,
                    port,
                )
            )
        await asyncio.gather(*(wait_listening(s) for s in self.servers))
        for server in self.servers:
            await asyncio.to_thread(self._http_ready, server)
        urls, origins = self.viewer_urls()
        for url, origin in zip(urls, origins, strict=True):
            await warm_up(url, origin, expect_frame=True)

    @staticmethod
    def _http_ready(server: Server) -> None:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{server.port}/api/departments/", timeout=10).read()
                return
            except OSError:
                if time.monotonic() > deadline or server.process.poll() is not None:
                    raise RuntimeError(f"{server.name} does not answer HTTP:\n{server.tail()}") from None
                time.sleep(0.2)

    def viewer_urls(self) -> tuple[list[str], list[str]]:
        bid = self.broadcast_id
        return (
            [f"ws://127.0.0.1:{s.port}/ws/live/{bid}/" for s in self.servers],
            [f"http://127.0.0.1:{s.port}" for s in self.servers],
        )

    async def open_sender(self) -> None:
        from websockets.asyncio.client import connect
        from websockets.typing import Origin

        server = self.servers[0]
        self.acks, self.errors = 0, []
        self.answered = asyncio.Event()
        self.guest = await connect(
            f"ws://127.0.0.1:{server.port}/ws/studio/{self.broadcast_id}/",
            origin=Origin(f"http://127.0.0.1:{server.port}"),
            additional_headers={"Cookie": self.bench.programme.cookie},
            compression=None,
            proxy=None,
            open_timeout=30,
        )
        first = json.loads(await asyncio.wait_for(self.guest.recv(), 30))
        if first.get("type") != "queue":
            raise RuntimeError(f"the guest's studio socket did not open with a queue: {first}")
        self.guest_reader = asyncio.get_running_loop().create_task(self._read_guest())

    async def _read_guest(self) -> None:
        with contextlib.suppress(Exception):
            async for message in self.guest:
                frame = json.loads(message)
                if frame.get("type") == "ack":
                    self.acks += 1
                elif frame.get("type") == "error":
                    self.errors.append(f"{frame.get('code')}: {frame.get('message')}")
                if self.acks + len(self.errors) >= self.expected_acks:
                    self.answered.set()

    async def send(self, tag: str, index: int) -> None:
        client_id = f"{tag}-{index}-{uuid.uuid4().hex[:8]}"
        sent_at = time.time()
        text = json.dumps(
            {
                "type": "answer",
                "client_id": client_id,
                "question_id": None,
                "text": message_text(tag, index, sent_at),
            },
            ensure_ascii=False,
        )
        await self.guest.send(text)

    async def wait_acks(self, count: int, within: float) -> None:
        """Until the guest holds `count` acks or errors."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.acks + len(self.errors) >= count:
                break
            await asyncio.sleep(0.02)

    async def close_sender(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.answered.wait(), 10)
        with contextlib.suppress(Exception):
            await self.guest.close()
        if self.guest_reader is not None:
            self.guest_reader.cancel()

    def notes(self) -> list[str]:
        notes = [f"guest acks {self.acks}/{self.bench.args.messages}"]
        if self.errors:
            notes.append("guest errors: " + "; ".join(self.errors[:3]))
        return notes


class TextbookDesign(Design):
    name = DESIGNS[1]

    async def start(self) -> None:
        port = free_port()
        env = {**os.environ, "FANOUT_REDIS_URL": self.bench.redis_url, "PYTHONUNBUFFERED": "1"}
        env.pop("DJANGO_SETTINGS_MODULE", None)
        daphne = str(Path(sys.executable).parent / "daphne")
        self.servers.append(
            self.bench.children.start(
                self.name,
                [daphne, "-b", "127.0.0.1", "-p", str(port), "bench.fanout_refs:textbook_application"],
                env,
                port,
            )
        )
        # A group of its own per round: nothing left from an earlier run is in it.
        self.group = f"fanout-bench-{uuid.uuid4().hex[:12]}"
        await wait_listening(self.servers[0])
        await warm_up(
            f"ws://127.0.0.1:{port}/ws/textbook/{self.group}-warmup/",
            f"http://127.0.0.1:{port}",
            expect_frame=False,
        )

    def viewer_urls(self) -> tuple[list[str], list[str]]:
        port = self.servers[0].port
        return [f"ws://127.0.0.1:{port}/ws/textbook/{self.group}/"], [f"http://127.0.0.1:{port}"]

    async def open_sender(self) -> None:
        from bench.fanout_refs import textbook_layer

        self.layer = textbook_layer(self.bench.redis_url)

    async def send(self, tag: str, index: int) -> None:
        frame = reference_frame(index, message_text(tag, index, time.time()))
        await self.layer.group_send(self.group, {"type": "bench.message", "frame": frame})

    async def close_sender(self) -> None:
        with contextlib.suppress(Exception):
            await self.layer.close_pools()


class BroadcastDesign(Design):
    name = DESIGNS[2]

    async def start(self) -> None:
        port = free_port()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.servers.append(
            self.bench.children.start(
                self.name,
                [sys.executable, "-m", "bench.fanout_refs", "broadcast", "--port", str(port)],
                env,
                port,
            )
        )
        await wait_listening(self.servers[0])
        await warm_up(f"ws://127.0.0.1:{port}/warmup", f"http://127.0.0.1:{port}", expect_frame=False)

    def viewer_urls(self) -> tuple[list[str], list[str]]:
        port = self.servers[0].port
        return [f"ws://127.0.0.1:{port}/live"], [f"http://127.0.0.1:{port}"]

    async def open_sender(self) -> None:
        from websockets.asyncio.client import connect

        self.trigger = await connect(
            f"ws://127.0.0.1:{self.servers[0].port}/trigger", compression=None, proxy=None, open_timeout=30
        )

    async def send(self, tag: str, index: int) -> None:
        frame = reference_frame(index, message_text(tag, index, time.time()))
        await self.trigger.send(json.dumps(frame, ensure_ascii=False, separators=(",", ":")))

    async def close_sender(self) -> None:
        with contextlib.suppress(Exception):
            await self.trigger.close()


# --- one measurement -------------------------------------------------------------------------


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
        args, loadgen = self.args, self.loadgen
        design = self.design(name)
        row = Row(name, design.processes, viewers)
        try:
            await asyncio.wait_for(design.start(), 120)
            await asyncio.sleep(0.5)
            pids = [s.pid for s in design.servers]
            rss_before = sum(rss_kib(pid) for pid in pids)
            urls, origins = design.viewer_urls()
            connect_timeout = viewers / args.ramp + 60
            connected = await loadgen.call(
                connect_timeout + 30, "connect", urls, origins, viewers, args.ramp, connect_timeout
            )
            row.connected, row.failed = connected["connected"], connected["failed"]
            row.connect_seconds = connected["seconds"]
            if connected["errors"]:
                row.notes.append(
                    "connect errors: " + ", ".join(f"{k} ×{v}" for k, v in connected["errors"].items())
                )
            if connected["closed_after_connect"]:
                row.notes.append(f"{connected['closed_after_connect']} closed right after connecting")
            await asyncio.sleep(args.settle)
            rss_after = sum(rss_kib(pid) for pid in pids)
            if row.connected:
                row.kib_per_connection = (rss_after - rss_before) / row.connected
            await asyncio.wait_for(design.open_sender(), 60)
            tag = f"{self.run_id}-{DESIGNS.index(name)}-{viewers}"
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
            await design.close_sender()
            row.notes.extend(design.notes())
        except Exception as exc:
            row.error = f"{type(exc).__name__}: {exc}"
            for server in design.servers:
                if server.process.poll() is not None:
                    row.error += f"\n{server.name} exited ({server.process.returncode}):\n{server.tail()}"
        finally:
            with contextlib.suppress(Exception):
                await loadgen.call(90, "close", 60)
            design.stop()
        return row

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
                row.notes.append(
                    "connect errors: " + ", ".join(f"{k} ×{v}" for k, v in connected["errors"].items())
                )
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
                    row.notes.append(
                        "resend errors: " + ", ".join(f"{k} ×{v}" for k, v in again["errors"].items())
                    )
                await asyncio.sleep(0.5)  # a question.new for a resend would arrive by now
                row.queued_after_resend = len(moderator.latencies(tag))
            row.stored, row.distinct = await asyncio.to_thread(count_questions, self.env, broadcast_id)
            row.distinct_ids = len(set(first_ids.values()))
        except Exception as exc:
            row.error = f"{type(exc).__name__}: {exc}"
            for server in design.servers if design else []:
                if server.process.poll() is not None:
                    row.error += f"\n{server.name} exited ({server.process.returncode}):\n{server.tail()}"
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
                row.notes.append(
                    "first connect errors: " + ", ".join(f"{k} ×{v}" for k, v in connected["errors"].items())
                )
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
                row.notes.append(
                    "reconnect errors: " + ", ".join(f"{k} ×{v}" for k, v in stats["errors"].items())
                )
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
            row.error = f"{type(exc).__name__}: {exc}"
            for server in design.servers if design else []:
                if server.process.poll() is not None:
                    row.error += f"\n{server.name} exited ({server.process.returncode}):\n{server.tail()}"
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


# --- output ----------------------------------------------------------------------------------


def versions() -> dict[str, str]:
    found = {}
    for name in (
        "django",
        "channels",
        "daphne",
        "channels_redis",
        "redis",
        "websockets",
        "twisted",
        "autobahn",
        "psycopg",
    ):
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "-"
    return found


def machine(args: argparse.Namespace) -> dict[str, Any]:
    cpu_model = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    mem = "?"
    with contextlib.suppress(OSError):
        kib = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
        mem = f"{kib / 1024 / 1024:.1f} GiB"
    info: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "cpu": cpu_model,
        "memory": mem,
        "python": platform.python_implementation() + " " + platform.python_version(),
        "platform": platform.platform(),
        "versions": versions(),
        "loadavg": os.getloadavg(),
        "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
    }
    with contextlib.suppress(Exception):
        import redis

        client = redis.Redis.from_url(args.redis_url, socket_timeout=5)
        info["redis_server"] = client.info("server")["redis_version"]
        client.close()
    with contextlib.suppress(Exception):
        import psycopg

        with psycopg.connect(with_database_name(args.database_url, "postgres"), connect_timeout=5) as conn:
            version = conn.execute("SHOW server_version").fetchone()
            info["postgresql"] = version[0] if version else "?"
    return info


def print_machine(info: dict[str, Any]) -> None:
    print(
        f"machine  {info['cpus']} CPUs ({info['cpu']}), {info['memory']}, {info['python']}, {info['platform']}"
    )
    print(
        "versions "
        + ", ".join(f"{k} {v}" for k, v in info["versions"].items())
        + f", Redis {info.get('redis_server', '?')}, PostgreSQL {info.get('postgresql', '?')}"
    )
    print(
        f"load     average {info['loadavg'][0]:.2f} {info['loadavg'][1]:.2f} {info['loadavg'][2]:.2f} at the start;"
        f" open-file limit {info['nofile']}"
    )


def progress(what: str, error: str | None, done: str, began: float) -> None:
    """One progress line per row or scenario: its outcome, time taken and the machine's load."""
    status = "ERROR " + error.splitlines()[0] if error else done
    print(
        f"  ... {what}: {status} ({time.monotonic() - began:.0f} s, load {os.getloadavg()[0]:.2f})",
        flush=True,
    )


def ms(value: float) -> str:
    return "-" if value != value else f"{value * 1000:.0f}"


HEADER = (
    "design",
    "processes",
    "viewers",
    "connected/failed",
    "delivered/expected",
    "dups",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "max ms",
    "CPU µs/delivery",
    "KiB/conn",
    "loadgen CPU s",
)


def row_cells(row: Row) -> tuple[str, ...]:
    def num(value: float, digits: int = 0) -> str:
        return "-" if value != value else f"{value:,.{digits}f}"

    return (
        row.design,
        str(row.processes),
        f"{row.viewers:,}",
        f"{row.connected:,}/{row.failed:,}",
        f"{row.delivered:,}/{row.expected:,}",
        str(row.duplicates),
        ms(row.p50),
        ms(row.p95),
        ms(row.p99),
        ms(row.max),
        num(row.cpu_us),
        num(row.kib_per_connection, 1),
        num(row.loadgen_cpu, 2),
    )


def print_table(rows: list[Row]) -> None:
    print_grid(HEADER, [row_cells(r) for r in rows])


def print_grid(header: tuple[str, ...], body: list[tuple[str, ...]]) -> None:
    cells = [header, *body]
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    for i, line in enumerate(cells):
        print(
            " | ".join(
                c.ljust(w) if j == 0 else c.rjust(w)
                for j, (c, w) in enumerate(zip(line, widths, strict=True))
            )
        )
        if i == 0:
            print("-|-".join("-" * w for w in widths))


INGEST_HEADER = (
    "scenario",
    "processes",
    "netizens",
    "connected/failed",
    "acked/sent",
    "errors",
    "ask.ok p50/p95/p99/max ms",
    "on queue/sent",
    "queue p50/p95/p99/max ms",
    "stored in DB",
    "resent: same id",
    "server CPU s",
)


def four(values: tuple[float, float, float, float]) -> str:
    return "/".join(ms(v) for v in values)


def ingest_cells(row: IngestRow) -> tuple[str, ...]:
    errors = sum(row.errors.values())
    return (
        "ingest",
        str(row.processes),
        f"{row.netizens:,}",
        f"{row.connected:,}/{row.failed:,}",
        f"{row.acked:,}/{row.sent:,}",
        f"{errors:,}",
        four(row.ack),
        f"{row.queued:,}/{row.sent:,}",
        four(row.queue),
        "-" if row.stored < 0 else f"{row.stored:,} ({row.distinct:,} ids)",
        f"{row.resent_same:,}/{row.resent:,}",
        "-" if row.cpu != row.cpu else f"{row.cpu:.2f}",
    )


STORM_HEADER = (
    "scenario",
    "processes",
    "viewers",
    "missed",
    "connected/failed",
    "reconnected/failed",
    "complete/reconnected",
    "dups",
    "to last missed p50/p95/p99/max ms",
    "server CPU s",
    "CPU ms/reconnect",
    "loadgen CPU s",
)


def storm_cells(row: StormRow) -> tuple[str, ...]:
    per = row.cpu * 1000 / row.reconnected if row.reconnected and row.cpu == row.cpu else float("nan")
    return (
        "storm",
        str(row.processes),
        f"{row.viewers:,}",
        str(row.answers),
        f"{row.connected:,}/{row.failed:,}",
        f"{row.reconnected:,}/{row.reconnect_failed:,}",
        f"{row.complete:,}/{row.reconnected:,}",
        str(row.duplicates),
        four((row.p50, row.p95, row.p99, row.max)),
        "-" if row.cpu != row.cpu else f"{row.cpu:.2f}",
        "-" if per != per else f"{per:.2f}",
        "-" if row.loadgen_cpu != row.loadgen_cpu else f"{row.loadgen_cpu:.2f}",
    )


def print_ingest(row: IngestRow) -> None:
    print_grid(INGEST_HEADER, [ingest_cells(row)])
    lines = [
        f"programme {row.broadcast_id}; {row.sent:,} asks sent in {row.send_seconds:.2f} s"
        f" (one per netizen connection, spread over {row.window:g} s)",
        "errors by code: " + (", ".join(f"{k} ×{v}" for k, v in row.errors.items()) or "none"),
        f"distinct question_ids in the ask.oks: {row.distinct_ids:,}; duplicate question.new frames: {row.queue_duplicates}",
    ]
    if row.resent:
        lines.append(
            f"resent {row.resent} client_ids: {row.resent_same} answered with the same question_id;"
            f" question.new frames for them afterwards: {row.queued_after_resend - row.queued};"
            f" stored after the resend: {row.stored:,}"
        )
    lines.append(
        f"server CPU {row.cpu:.2f} s and load generator CPU {row.loadgen_cpu:.2f} s from the first ask until the queue held every question"
    )
    lines.extend(row.notes)
    if row.error:
        lines.append("ERROR " + row.error)
    for line in lines:
        print("  " + line)


def print_storm(row: StormRow) -> None:
    print_grid(STORM_HEADER, [storm_cells(row)])
    lines = [
        f"before the blip the viewers held up to seq {', '.join(f'{k} (×{v:,})' for k, v in sorted(row.seen.items()))};"
        f" {row.closed:,} closed by the client, then {row.acks} answers acknowledged to the guest in all",
        f"reconnected with ?after= ramped evenly over {row.window:g} s, each to the next process;"
        f" complete = exactly the missed seqs, in order, each once; missing {row.missing}, extra {row.extra}",
        f"server CPU and load generator CPU from the first reconnect until every viewer held the last event ({row.seconds:.1f} s)",
    ]
    lines.extend(row.notes)
    if row.error:
        lines.append("ERROR " + row.error)
    for line in lines:
        print("  " + line)


def ratio(a: float, b: float) -> str:
    if a != a or b != b or b == 0:
        return "-"
    return f"{a / b:.2f}×"


def print_ratios(rows: list[Row]) -> None:
    print("\nours as a multiple of each reference, at the same N (lower is better):")
    for viewers in sorted({r.viewers for r in rows}):
        by = {r.design: r for r in rows if r.viewers == viewers}
        ours = by.get(DESIGNS[0])
        if ours is None:
            continue
        parts = []
        for name in DESIGNS[1:]:
            ref = by.get(name)
            if ref is not None:
                parts.append(
                    f"vs {name}: CPU/delivery {ratio(ours.cpu_us, ref.cpu_us)}, p99 {ratio(ours.p99, ref.p99)}"
                )
        print(f"  {viewers:>6,} viewers  " + ";  ".join(parts))


def print_notes(rows: list[Row]) -> None:
    for row in rows:
        lines = [*row.notes, *([row.error] if row.error else [])]
        if lines:
            print(f"  {row.design}, {row.viewers:,} viewers: " + "; ".join(lines))


# --- command line ----------------------------------------------------------------------------


def default_database_url(environ: dict[str, str]) -> str:
    """FANOUT_DATABASE_URL; else DATABASE_URL with _bench appended to its name; else the default."""
    if environ.get("FANOUT_DATABASE_URL"):
        return environ["FANOUT_DATABASE_URL"]
    url = environ.get("DATABASE_URL")
    if url:
        name = database_name(url)
        return url if name.endswith("bench") else with_database_name(url, name + "_bench")
    return DEFAULT_DATABASE_URL


def default_redis_url(environ: dict[str, str]) -> str:
    """FANOUT_REDIS_URL; else REDIS_URL's server with db 9 (10 when REDIS_URL itself is db 9); else the default.

    The bench never flushes its Redis database: it may be shared.
    """
    if environ.get("FANOUT_REDIS_URL"):
        return environ["FANOUT_REDIS_URL"]
    url = environ.get("REDIS_URL")
    if url:
        return with_redis_db(url, 10 if redis_db(url) == 9 else 9)
    return DEFAULT_REDIS_URL


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.fanout", description=__doc__.splitlines()[0])
    parser.add_argument("--viewers", default="500,2000", help="comma-separated N (default 500,2000)")
    parser.add_argument(
        "--processes", type=int, default=2, help="daphne processes of the project (default 2)"
    )
    parser.add_argument("--messages", type=int, default=20, help="answers per N and design (default 20)")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between answers (default 0.5)")
    parser.add_argument(
        "--ramp", type=float, default=500, help="viewer connections opened per second (default 500)"
    )
    parser.add_argument(
        "--settle", type=float, default=2.0, help="seconds between connecting and measuring (default 2)"
    )
    parser.add_argument(
        "--drain-timeout", type=float, default=30, help="seconds to wait for deliveries after the last send"
    )
    parser.add_argument(
        "--designs", default=",".join(DESIGNS), help="comma-separated subset of: " + ", ".join(DESIGNS)
    )
    parser.add_argument(
        "--scenarios", default=",".join(SCENARIOS), help="comma-separated subset of: " + ", ".join(SCENARIOS)
    )
    parser.add_argument(
        "--netizens", type=int, default=1000, help="ingest: netizen connections (default 1000)"
    )
    parser.add_argument(
        "--ingest-window",
        type=float,
        default=1.0,
        help="ingest: seconds the asks are spread over (default 1)",
    )
    parser.add_argument(
        "--resend", type=int, default=100, help="ingest: client_ids sent again afterwards (default 100)"
    )
    parser.add_argument(
        "--ask-timeout", type=float, default=30, help="ingest: seconds to wait for acks and the queue"
    )
    parser.add_argument("--storm-viewers", type=int, default=5000, help="storm: viewers (default 5000)")
    parser.add_argument(
        "--storm-seen", type=int, default=3, help="storm: answers the viewers see before the blip (default 3)"
    )
    parser.add_argument(
        "--storm-answers", type=int, default=10, help="storm: answers posted while they are away (default 10)"
    )
    parser.add_argument(
        "--storm-window",
        type=float,
        default=10,
        help="storm: seconds the reconnects are spread over (default 10)",
    )
    parser.add_argument("--database-url", default=default_database_url(dict(os.environ)))
    parser.add_argument("--redis-url", default=default_redis_url(dict(os.environ)))
    args = parser.parse_args(argv)
    args.viewer_counts = [int(v) for v in args.viewers.split(",") if v.strip()]
    args.design_names = [d.strip() for d in args.designs.split(",") if d.strip()]
    unknown = [d for d in args.design_names if d not in DESIGNS]
    args.scenario_names = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown += [s for s in args.scenario_names if s not in SCENARIOS]
    if (
        unknown
        or not args.viewer_counts
        or not args.scenario_names
        or args.processes < 1
        or args.messages < 1
        or args.netizens < 1
        or args.storm_viewers < 1
        or args.storm_answers < 1
        or args.storm_seen < 0
        or args.resend < 0
    ):
        parser.error(f"bad arguments (unknown designs {unknown})" if unknown else "bad arguments")
    return args


@dataclass
class Result:
    rows: list[Row]
    machine: dict[str, Any]
    command: str
    ingest: IngestRow | None = None
    storm: StormRow | None = None


def main(argv: list[str] | None = None) -> Result:
    args = parse_args(argv)
    raise_nofile()
    info = machine(args)
    command = "python -m bench.fanout " + " ".join(argv if argv is not None else sys.argv[1:])
    print(f"fan-out  {command}")
    print(
        f"         database {database_name(args.database_url)}, Redis db {redis_db(args.redis_url)};"
        f" {args.messages} messages every {args.interval} s; viewers ramped at {args.ramp:.0f}/s"
    )
    print_machine(info)
    if "ingest" in args.scenario_names:
        print(
            f"limits   the bench's daphne processes run with MINXIN_ASKS_PER_ADDRESS_PER_MINUTE and"
            f" MINXIN_ASKS_PER_ADDRESS_PER_HOUR = {ASKS_PER_ADDRESS:,}: every bench client is 127.0.0.1."
            " Per-netizen limits as configured (each netizen connection is its own netizen and asks once)."
        )
    rows: list[Row] = []
    ingest: IngestRow | None = None
    storm: StormRow | None = None
    with tempfile.TemporaryDirectory(prefix="fanout-") as logdir:
        children = Children(Path(logdir))
        loadgen = LoadGen()
        try:
            bench = Bench(args, children, loadgen)
            began = time.monotonic()
            bench.programme = prepare_project(bench.env, args.database_url)
            print(
                f"setup    programme {bench.programme.broadcast_id} live, guest logged in"
                f" ({time.monotonic() - began:.1f} s)",
                flush=True,
            )

            async def run_all() -> None:
                nonlocal ingest, storm
                for viewers in args.viewer_counts if "broadcast" in args.scenario_names else []:
                    for name in args.design_names:
                        began = time.monotonic()
                        row = await bench.measure(name, viewers)
                        rows.append(row)
                        progress(
                            f"{name}, {viewers:,} viewers",
                            row.error,
                            f"{row.delivered:,}/{row.expected:,} delivered, p99 {ms(row.p99)} ms",
                            began,
                        )
                if "ingest" in args.scenario_names:
                    began = time.monotonic()
                    ingest = await bench.ingest()
                    progress(
                        f"ingest, {args.netizens:,} netizens",
                        ingest.error,
                        f"{ingest.acked:,}/{ingest.sent:,} acknowledged, {ingest.queued:,} on the queue,"
                        f" {ingest.stored:,} stored, queue p99 {ms(ingest.queue[2])} ms",
                        began,
                    )
                if "storm" in args.scenario_names:
                    began = time.monotonic()
                    storm = await bench.storm()
                    progress(
                        f"storm, {args.storm_viewers:,} viewers",
                        storm.error,
                        f"{storm.complete:,}/{storm.viewers:,} complete, p99 {ms(storm.p99)} ms",
                        began,
                    )

            asyncio.run(run_all())
        finally:
            children.stop()
            loadgen.stop()
    if rows:
        print()
        print_table(rows)
        print_ratios(rows)
        print("\nnotes (loadgen CPU s and server CPU cover the message phase only):")
        print_notes(rows)
    if ingest is not None:
        print(
            f"\ningest: {args.netizens:,} netizens each ask once within ~{args.ingest_window:g} s; a moderator on /ws/moderate/"
        )
        print_ingest(ingest)
    if storm is not None:
        print(
            f"\nstorm: {args.storm_viewers:,} viewers miss {args.storm_answers} answers, then reconnect with ?after="
            f" within {args.storm_window:g} s"
        )
        print_storm(storm)
    return Result(rows, info, command, ingest, storm)


if __name__ == "__main__":
    main()
