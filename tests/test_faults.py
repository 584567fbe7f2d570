"""Faults with real processes: a daphne process killed with SIGKILL, and Redis restarted.

Two daphne processes share a Redis of the test's own (so that restarting it disturbs nothing
else); viewers follow the programme with a reconnecting client that resumes with ?after=, and
netizens ask continuously, resending each question with its client_id until acknowledged. At
the end every viewer holds exactly the whole event log, and every acknowledged question is
stored exactly once.
"""

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import time

import pytest
from channels.db import database_sync_to_async

from minxin_client import Backoff, StudioConsole, Viewer
from tests.conftest import IN_CI, make_broadcast, server_env, session_cookie, start_daphne

pytestmark = [
    pytest.mark.processes,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("close_worker_connections"),
]


VIEWERS = 200  # issue #8: the fault tests run with 200 viewers
ASKERS = 4
ANSWERS = 24


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PrivateRedis:
    def __init__(self, tmp_path):
        self.port = free_port()
        self.dir = tmp_path
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def private_redis(tmp_path):
    if shutil.which("redis-server") is None:
        if IN_CI:
            pytest.fail("CI must not skip a service test: redis-server is not installed")
        pytest.skip("needs the redis-server program")
    redis = PrivateRedis(tmp_path)
    redis.start()
    yield redis
    redis.stop()


# The reconnecting clients are minxin_client's (it resumes with ?after= across the URLs, drops
# duplicates by seq, resends with the same client_id until acknowledged); they validate every
# frame against docs/frames.schema.json here, since conftest sets MINXIN_CLIENT_VALIDATE=1.
FAST_RETRY = Backoff(initial=0.2, cap=1.0)


async def follow(viewer: Viewer, seen: list[int], stop: asyncio.Event) -> Viewer:
    """A viewer: reads the log, and after any drop reconnects (next process) with ?after=."""
    await viewer.follow(lambda event: seen.append(event["seq"]), stop=stop)
    return viewer


async def ask_until_acknowledged(urls: list[str], broadcast_id: int, client_id: str, acked: dict) -> None:
    """A netizen's question, resent with the same client_id on every (re)connect until ask.ok."""
    async with Viewer(urls, broadcast_id, after=None, backoff=FAST_RETRY, open_timeout=3) as netizen:
        ok = await netizen.ask(f"问题 {client_id}", client_id=client_id)
    acked[client_id] = ok["question_id"]


async def guest_answers(urls: list[str], broadcast_id: int, cookie: str, count: int, sent: list[str]) -> None:
    """The guest answers `count` times, each answer resent with its client_id until acknowledged."""
    async with StudioConsole(
        urls, broadcast_id, cookie=cookie, backoff=FAST_RETRY, open_timeout=3, queue_frames=False
    ) as guest:
        for n in range(count):
            client_id = f"answer-{n}"
            await guest.answer(f"第{n}条回答", client_id=client_id)
            sent.append(client_id)
            await asyncio.sleep(0.1)


@pytest.mark.parametrize("fault", ["kill -9 a daphne process", "restart Redis"])
async def test_viewers_end_with_the_whole_log_and_every_acknowledged_question_is_stored_once(
    fault, personas, private_redis, tmp_path
):
    from moderation.models import Question
    from studio.models import Event

    broadcast = await database_sync_to_async(make_broadcast)(
        "jtw", personas["host"], [personas["guest"]], status="live"
    )
    cookie = (await database_sync_to_async(session_cookie)(personas["guest"])).decode()
    env = {**server_env(), "REDIS_URL": private_redis.url, "MINXIN_PRESENCE_INTERVAL": "1"}
    servers = await asyncio.gather(*(asyncio.to_thread(start_daphne, tmp_path, env) for _ in range(2)))
    try:
        urls = [server.url for server in servers]
        stop = asyncio.Event()
        seen: list[list[int]] = [[] for _ in range(VIEWERS)]
        clients = [
            # From four addresses: the server caps live sockets per address (MINXIN_SOCKETS_PER_ADDRESS).
            Viewer(
                urls[n % 2 :] + urls[: n % 2],
                broadcast.pk,
                after=0,
                backoff=FAST_RETRY,
                open_timeout=5,
                local_address=f"127.2.0.{n % 4 + 1}",
            )
            for n in range(VIEWERS)
        ]
        viewers = [asyncio.create_task(follow(client, seen[n], stop)) for n, client in enumerate(clients)]
        for _ in range(600):  # the audience is in before the programme goes on
            if all(client.connections for client in clients):
                break
            await asyncio.sleep(0.1)
        assert all(client.connections for client in clients), "every viewer connected"
        acked: dict[str, int] = {}
        askers = [
            asyncio.create_task(
                ask_until_acknowledged(urls[n % 2 :] + urls[: n % 2], broadcast.pk, f"ask-{n}-{k}", acked)
            )
            for n in range(ASKERS)
            for k in range(3)
        ]
        sent: list[str] = []
        answering = asyncio.create_task(guest_answers(urls, broadcast.pk, cookie, ANSWERS, sent))

        for _ in range(300):  # part of the programme has gone out
            if len(sent) >= 3:
                break
            await asyncio.sleep(0.1)
        answered_before_the_fault = len(sent)
        if fault == "kill -9 a daphne process":
            os.kill(servers[0].process.pid, signal.SIGKILL)
        else:
            private_redis.stop()
            await asyncio.sleep(1.0)
            private_redis.start()

        await asyncio.wait_for(answering, timeout=90)
        await asyncio.wait_for(asyncio.gather(*askers), timeout=90)
        last = await database_sync_to_async(
            lambda: (
                Event.objects.filter(broadcast=broadcast)
                .order_by("-seq")
                .values_list("seq", flat=True)
                .first()
            )
        )()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any((s[-1] if s else 0) < last for s in seen):  # noqa: ASYNC110 — polls lists other tasks fill
            await asyncio.sleep(0.2)
        stop.set()
        followed = await asyncio.gather(*viewers)

        whole = list(range(1, last + 1))
        assert 0 < answered_before_the_fault < ANSWERS  # the fault struck mid-programme
        assert last >= ANSWERS
        for n, events in enumerate(seen):
            assert events == whole, f"viewer {n} holds {events}"
        # The client drops repeated seqs and resumes over gaps; the server must have sent neither.
        assert [(v.duplicates, v.gaps) for v in followed] == [(0, 0)] * VIEWERS
        stored = await database_sync_to_async(
            lambda: list(Question.objects.filter(broadcast=broadcast).values_list("client_id", "pk"))
        )()
        assert sorted(stored) == sorted(acked.items())  # every acknowledged question, once
    finally:
        for server in servers:
            server.stop()
