"""The fan-out benchmark's three designs and its programme (bench/fanout.py runs them).

- ``minxin hub``: the project in P daphne processes (bench/servers.py: ``ProjectServers``); a
  logged-in guest posts the answers on /ws/studio/<id>/.
- ``textbook Channels`` and ``websockets broadcast()``: bench/fanout_refs.py's reference servers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from bench.database import (
    LOGIN_SCRIPT,
    SETUP_SCRIPT,
    STAFF_SCRIPT,
    ensure_database,
    ensure_static_files,
    manage,
)
from bench.load import MARK
from bench.servers import Children, ProjectServers, Server, daphne, free_port, wait_listening, warm_up

# An answer of ordinary length: the event every viewer gets is ~400 bytes of UTF-8, like a real one.
SENTENCE = "感谢网友关注。公交线网优化方案将于下月公示，征求意见期间市民可通过热线和网站提出建议。"
# Redis pub/sub channels are global to a Redis server, whatever the db number: the project's hub
# channel is minxin:room:live.<id>. The bench's programmes get ids no test database reaches, so
# a bench run and a test run on the same Redis never hear each other.
BROADCAST_ID_FLOOR = 900_000_000
DESIGNS = ("minxin hub", "textbook Channels", "websockets broadcast()")


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


@dataclass
class Programme:
    broadcast_id: int
    cookie: str  # the guest's session cookie, name=value
    moderator_cookie: str = ""  # benchmoderator's


def new_programme(env: dict, title: str) -> int:
    """A fresh live programme with the bench guest: a log and a question table of its own."""
    return int(manage(env, "shell", "-c", NEW_PROGRAMME_SCRIPT.format(title=title)).strip().splitlines()[-1])


def prepare_project(env: dict, database_url: str) -> Programme:
    ensure_database(database_url)
    ensure_static_files(env)
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


class Stage(Protocol):
    """What a design needs of the bench that runs it (bench/fanout_scenarios.py: ``Bench``)."""

    args: Any
    children: Children
    env: dict
    redis_url: str
    programme: Programme


class Design:
    name = ""
    processes = 1

    def __init__(self, bench: Stage):
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

    def __init__(self, bench: Stage, processes: int, broadcast_id: int | None = None):
        super().__init__(bench)
        self.processes = processes
        self.broadcast_id = broadcast_id if broadcast_id is not None else bench.programme.broadcast_id
        self.expected_acks = bench.args.messages
        self.guest: Any = None
        self.guest_reader: asyncio.Task | None = None
        self.acks = 0
        self.errors: list[str] = []
        self.project = ProjectServers(bench.children, bench.env, processes, self.broadcast_id, self.name)

    async def start(self) -> None:
        await self.project.start()
        self.servers = self.project.servers

    def viewer_urls(self) -> tuple[list[str], list[str]]:
        return self.project.viewer_urls()

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
        self.servers.append(
            self.bench.children.start(
                self.name,
                [daphne(), "-b", "127.0.0.1", "-p", str(port), "bench.fanout_refs:textbook_application"],
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
