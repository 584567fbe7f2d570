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
import secrets
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
    __slots__ = ("close_code", "count", "open", "other", "received", "task", "ws")

    def __init__(self) -> None:
        self.ws: Any = None
        self.open = False
        self.count = 0
        self.other = 0  # frames during the messages that are not bench messages (presence, ...)
        self.received: list[tuple[float, str]] = []
        self.close_code: int | None = None
        self.task: asyncio.Task | None = None


class LoadState:
    def __init__(self) -> None:
        self.viewers: list[Viewer] = []
        self.recording = False
        self.tag = ""


def _describe(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if response is not None and getattr(response, "status_code", None):
        return f"HTTP {response.status_code}"
    if isinstance(exc, OSError) and exc.errno:
        return f"{type(exc).__name__} errno {exc.errno}"
    return type(exc).__name__


async def _viewer(state: LoadState, viewer: Viewer, url: str, origin: str, connected: asyncio.Future) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed
    from websockets.typing import Origin

    try:
        ws = await connect(
            url,
            origin=Origin(origin),
            compression=None,
            proxy=None,
            ping_interval=None,
            open_timeout=30,
            close_timeout=3,
        )
    except Exception as exc:
        if not connected.done():
            connected.set_result(_describe(exc))
        return
    viewer.ws, viewer.open = ws, True
    if not connected.done():
        connected.set_result(None)
    received = viewer.received
    try:
        async for message in ws:
            now = time.time()
            if state.recording:
                if isinstance(message, str) and MARK in message:
                    received.append((now, message))
                    viewer.count += 1
                else:
                    viewer.other += 1
    except ConnectionClosed:
        pass
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


async def _close_all(state: LoadState, within: float) -> None:
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
    state.viewers = []


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
            conn.send({"closed": True})
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
    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=loadgen_main, args=(child,), name="fanout-loadgen", daemon=True)
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

LIVE_SCRIPT = """
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone
from studio.models import Broadcast
Broadcast.objects.filter(pk={broadcast_id}).update(status="live", started_at=timezone.now())
client = Client()
client.force_login(get_user_model().objects.get(username="benchguest"))
print(settings.SESSION_COOKIE_NAME + "=" + client.cookies[settings.SESSION_COOKIE_NAME].value)
"""


@dataclass
class Programme:
    broadcast_id: int
    cookie: str  # the guest's session cookie, name=value


def prepare_project(env: dict, database_url: str) -> Programme:
    ensure_database(database_url)
    manage(env, "migrate", "--no-input", "-v", "0", timeout=600)
    manage(env, "shell", "-c", SETUP_SCRIPT.format(floor=BROADCAST_ID_FLOOR))
    manage(
        env,
        "createstaff",
        "benchguest",
        "--role",
        "guest",
        "--department",
        "jtw",
        "--password",
        secrets.token_urlsafe(12),
        "--name",
        "张明",
        "--title",
        "市交通委新闻发言人",
    )
    out = manage(
        env, "createbroadcast", "--department", "jtw", "--title", "fan-out bench", "--guest", "benchguest"
    )
    broadcast_id = int(out.strip().splitlines()[-1])
    session = (
        manage(env, "shell", "-c", LIVE_SCRIPT.format(broadcast_id=broadcast_id)).strip().splitlines()[-1]
    )
    return Programme(broadcast_id, session)


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

    def __init__(self, bench: Bench, processes: int):
        super().__init__(bench)
        self.processes = processes
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
        bid = self.bench.programme.broadcast_id
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
            f"ws://127.0.0.1:{server.port}/ws/studio/{self.bench.programme.broadcast_id}/",
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
                if self.acks + len(self.errors) >= self.bench.args.messages:
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
    cells = [HEADER, *(row_cells(r) for r in rows)]
    widths = [max(len(c[i]) for c in cells) for i in range(len(HEADER))]
    for i, line in enumerate(cells):
        print(
            " | ".join(
                c.ljust(w) if j == 0 else c.rjust(w)
                for j, (c, w) in enumerate(zip(line, widths, strict=True))
            )
        )
        if i == 0:
            print("-|-".join("-" * w for w in widths))


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
    parser.add_argument("--database-url", default=default_database_url(dict(os.environ)))
    parser.add_argument("--redis-url", default=default_redis_url(dict(os.environ)))
    args = parser.parse_args(argv)
    args.viewer_counts = [int(v) for v in args.viewers.split(",") if v.strip()]
    args.design_names = [d.strip() for d in args.designs.split(",") if d.strip()]
    unknown = [d for d in args.design_names if d not in DESIGNS]
    if unknown or not args.viewer_counts or args.processes < 1 or args.messages < 1:
        parser.error(f"bad arguments (unknown designs {unknown})" if unknown else "bad arguments")
    return args


@dataclass
class Result:
    rows: list[Row]
    machine: dict[str, Any]
    command: str


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
    rows: list[Row] = []
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
                for viewers in args.viewer_counts:
                    for name in args.design_names:
                        began = time.monotonic()
                        row = await bench.measure(name, viewers)
                        rows.append(row)
                        status = (
                            "ERROR " + row.error.splitlines()[0]
                            if row.error
                            else (f"{row.delivered:,}/{row.expected:,} delivered, p99 {ms(row.p99)} ms")
                        )
                        print(
                            f"  ... {name}, {viewers:,} viewers: {status} ({time.monotonic() - began:.0f} s,"
                            f" load {os.getloadavg()[0]:.2f})",
                            flush=True,
                        )

            asyncio.run(run_all())
        finally:
            children.stop()
            loadgen.stop()
    print()
    print_table(rows)
    print_ratios(rows)
    print("\nnotes (loadgen CPU s and server CPU cover the message phase only):")
    print_notes(rows)
    return Result(rows, info, command)


if __name__ == "__main__":
    main()
