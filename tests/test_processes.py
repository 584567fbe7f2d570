"""Real OS processes: concurrent writers of one event log, and daphne servers that share Redis.

The clients are the `websockets` library speaking to real daphne processes over TCP, as a
browser or a third-party client would. Tests that need several server processes need Redis
(and PostgreSQL); their one-process twins run on the embedded SQLite + in-memory setup too.
"""

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from channels.db import database_sync_to_async
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Origin

from tests.conftest import ROOT, Daphne, server_env, session_cookie, start_daphne

pytestmark = [pytest.mark.processes, pytest.mark.django_db(transaction=True)]

INTERVAL = 1  # MINXIN_PRESENCE_INTERVAL of the daphne processes these tests start
TIMEOUT = 5.0  # a frame that should come but does not fails the test after this long


# --- servers ---------------------------------------------------------------------------------


@pytest.fixture
def servers(transactional_db, tmp_path: Path) -> Iterator[Callable[[int], list[Daphne]]]:
    """Starts `count` daphne processes at once (presence interval 1 s); all stopped at the end."""
    started: list[Daphne] = []

    def start(count: int) -> list[Daphne]:
        env = {**server_env(), "MINXIN_PRESENCE_INTERVAL": str(INTERVAL)}
        with ThreadPoolExecutor(count) as pool:
            futures = [pool.submit(start_daphne, tmp_path, env) for _ in range(count)]
        failures = []
        for future in futures:
            try:
                started.append(future.result())
            except Exception as exc:
                failures.append(exc)
        if failures:
            raise failures[0]
        return started[-count:]

    yield start
    for server in started:
        server.stop()


@pytest.fixture(
    params=[
        pytest.param(1, id="one-process"),
        pytest.param(2, id="two-processes-sharing-redis", marks=[pytest.mark.redis, pytest.mark.postgres]),
    ]
)
def process_pair(request: pytest.FixtureRequest, servers) -> tuple[Daphne, Daphne]:
    """(A, B): two daphne processes sharing Redis, or one process playing both parts."""
    started = servers(request.param)
    return started[0], started[-1]


# --- clients ---------------------------------------------------------------------------------


@asynccontextmanager
async def socket(server: Daphne, path: str, cookie: str | None = None) -> AsyncIterator[ClientConnection]:
    headers = {"Cookie": cookie} if cookie else None
    async with connect(
        server.ws + path, origin=Origin(server.url), additional_headers=headers, open_timeout=10
    ) as ws:
        yield ws


async def login_cookie(user) -> str:
    """A session cookie made in the test process; sessions live in the shared database (and cache)."""
    return (await database_sync_to_async(session_cookie)(user)).decode()


async def next_frame(ws: ClientConnection, within: float = TIMEOUT) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), within))


async def next_of(ws: ClientConnection, kind: str, within: float = TIMEOUT) -> dict:
    """The next frame of type `kind`, passing over others (presence, pushes) on the way."""
    deadline = time.monotonic() + within
    while True:
        frame = await next_frame(ws, max(deadline - time.monotonic(), 0.01))
        if frame["type"] == kind:
            return frame


async def hello(ws: ClientConnection) -> dict:
    frame = await next_frame(ws)
    assert frame["type"] == "hello", frame
    return frame


async def open_studio(ws: ClientConnection) -> None:
    frame = await next_frame(ws)
    assert frame["type"] == "queue", frame


async def answer(studio: ClientConnection, client_id: str, text: str) -> None:
    """A guest answers on air and waits for the server's ack."""
    await studio.send(
        json.dumps({"type": "answer", "client_id": client_id, "question_id": None, "text": text})
    )
    while True:
        frame = await next_frame(studio)
        assert frame["type"] != "error", frame
        if frame == {"type": "ack", "ref": client_id}:
            return


# --- 1. one event log, many writing processes ------------------------------------------------

WRITER = """
import sys

import django

django.setup()

from django.contrib.auth import get_user_model
from django.db import connection, transaction

from studio import events, services
from studio.models import EventKind

broadcast_id, guest_id, writer, count = map(int, sys.argv[1:5])
guest = get_user_model().objects.get(pk=guest_id)
connection.ensure_connection()
print("ready", flush=True)
sys.stdin.readline()  # "go": every writer starts at the same moment
for i in range(count):
    if writer % 2 == 0:  # the guest's answer, through the studio's service
        services.post_answer(broadcast_id, guest, f"w{writer}-{i}", None, f"写入者{writer}的第{i}条回答")
    else:  # a bare event, through the event log alone
        with transaction.atomic():
            events.append_event(
                broadcast_id, EventKind.HOST_MESSAGE,
                {"message": {"id": None, "text": f"写入者{writer}的第{i}条消息", "author": "并发测试"}},
            )
"""


@pytest.mark.postgres
def test_four_processes_writing_one_programme_at_once_leave_seqs_one_to_two_hundred_without_gaps(
    live_broadcast, personas, tmp_path
):
    from studio.models import Answer, Broadcast, Event

    writers, per_writer = 4, 50
    env = server_env()
    processes = []
    try:
        for writer in range(writers):
            args = [str(live_broadcast.pk), str(personas["guest"].pk), str(writer), str(per_writer)]
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-c", WRITER, *args],
                    cwd=ROOT,
                    env=env,
                    text=True,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=(tmp_path / f"writer-{writer}.log").open("w"),
                )
            )
        for writer, process in enumerate(processes):
            assert process.stdin is not None and process.stdout is not None
            line = process.stdout.readline()
            assert line == "ready\n", (tmp_path / f"writer-{writer}.log").read_text()
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        for writer, process in enumerate(processes):
            assert process.wait(timeout=120) == 0, (tmp_path / f"writer-{writer}.log").read_text()
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()

    seqs = list(Event.objects.filter(broadcast=live_broadcast).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, writers * per_writer + 1))
    assert Broadcast.objects.get(pk=live_broadcast.pk).last_seq == writers * per_writer
    assert Answer.objects.filter(broadcast=live_broadcast).count() == writers // 2 * per_writer


# --- 2. an answer crosses processes ------------------------------------------------------------


async def test_a_viewer_on_one_process_sees_an_answer_posted_on_another_within_a_second(
    process_pair, live_broadcast, personas
):
    a, b = process_pair
    cookie = await login_cookie(personas["guest"])
    async with (
        socket(a, f"/ws/live/{live_broadcast.pk}/") as viewer,
        socket(b, f"/ws/studio/{live_broadcast.pk}/", cookie) as studio,
    ):
        assert (await hello(viewer))["last_seq"] == 0
        await open_studio(studio)
        started = time.monotonic()
        await studio.send(
            json.dumps({"type": "answer", "client_id": "a1", "question_id": None, "text": "线网优化下月上线"})
        )
        event = await next_of(viewer, "event")
        elapsed = time.monotonic() - started

    assert (event["seq"], event["kind"]) == (1, "answer.posted")
    assert event["data"]["answer"]["text"] == "线网优化下月上线"
    assert event["data"]["answer"]["guest"] == {"name": "张明", "title": "市交通委新闻发言人"}
    assert elapsed < 1.0, f"the answer took {elapsed:.3f} s to reach the viewer"


# --- 3. resuming on another process ------------------------------------------------------------


async def test_a_viewer_who_reconnects_to_another_process_gets_every_missed_answer_once_then_live_ones(
    process_pair, live_broadcast, personas
):
    a, b = process_pair
    path = f"/ws/live/{live_broadcast.pk}/"
    cookie = await login_cookie(personas["guest"])
    seen: list[int] = []
    async with socket(b, f"/ws/studio/{live_broadcast.pk}/", cookie) as studio:
        await open_studio(studio)

        async with socket(a, path) as viewer:
            await hello(viewer)
            for n in range(1, 4):
                await answer(studio, f"a{n}", f"第{n}条回答")
                seen.append((await next_of(viewer, "event"))["seq"])
        last_seen = seen[-1]

        for n in range(4, 7):  # posted while the viewer is away
            await answer(studio, f"a{n}", f"第{n}条回答")

        async def post_live() -> None:  # keeps posting across the viewer's reconnect
            for n in range(7, 11):
                await answer(studio, f"a{n}", f"第{n}条回答")

        posting = asyncio.create_task(post_live())
        try:
            async with socket(b, f"{path}?after={last_seen}") as viewer:
                await hello(viewer)
                while len(seen) < 10:
                    try:
                        seen.append((await next_of(viewer, "event"))["seq"])
                    except TimeoutError:
                        pytest.fail(f"the viewer saw only seqs {seen} of 1..10")
                await posting
                # Nothing more may follow: a duplicate would arrive before the pong.
                await viewer.send(json.dumps({"type": "ping"}))
                while (frame := await next_frame(viewer))["type"] != "pong":
                    assert frame["type"] == "presence", frame
        finally:
            posting.cancel()

    assert seen == list(range(1, 11))


async def test_a_viewer_resuming_after_the_last_event_gets_nothing_replayed(
    process_pair, live_broadcast, personas
):
    a, b = process_pair
    cookie = await login_cookie(personas["guest"])
    async with socket(a, f"/ws/studio/{live_broadcast.pk}/", cookie) as studio:
        await open_studio(studio)
        await answer(studio, "a1", "第一条回答")
        await answer(studio, "a2", "第二条回答")
        async with socket(b, f"/ws/live/{live_broadcast.pk}/?after=2") as viewer:
            assert (await hello(viewer))["last_seq"] == 2
            await answer(studio, "a3", "第三条回答")
            assert (await next_of(viewer, "event"))["seq"] == 3


# --- 4. presence is counted across processes ---------------------------------------------------


async def test_viewers_spread_over_processes_are_all_told_the_total_online_within_two_intervals(
    process_pair, live_broadcast
):
    a, b = process_pair
    path = f"/ws/live/{live_broadcast.pk}/"
    async with (
        socket(a, path) as v1,
        socket(a, path) as v2,
        socket(a, path) as v3,
        socket(b, path) as v4,
        socket(b, path) as v5,
    ):
        viewers = [v1, v2, v3, v4, v5]
        for viewer in viewers:
            await hello(viewer)
        connected = time.monotonic()

        async def until_five(viewer: ClientConnection) -> float:
            while (await next_of(viewer, "presence", within=3 * INTERVAL + TIMEOUT))["online"] != 5:
                pass
            return time.monotonic() - connected

        waits = await asyncio.gather(*(until_five(viewer) for viewer in viewers))

    assert max(waits) < 2 * INTERVAL + 0.75, f"presence took {max(waits):.2f} s with a {INTERVAL} s interval"


# --- 5. a lost publish is healed from the database ---------------------------------------------


async def test_an_event_whose_publish_was_lost_still_reaches_the_viewer_within_two_intervals(
    servers, live_broadcast, personas, monkeypatch
):
    from studio import hub, services

    (server,) = servers(1)
    published: list[tuple] = []
    monkeypatch.setattr(hub, "publish", lambda *args: published.append(args))  # the PUBLISH is lost

    async with socket(server, f"/ws/live/{live_broadcast.pk}/") as viewer:
        assert (await hello(viewer))["last_seq"] == 0
        started = time.monotonic()
        await database_sync_to_async(services.post_host_message)(
            live_broadcast.pk, personas["host"], "m1", "欢迎收看本期节目"
        )
        assert [room for room, _seq, _text in published] == [hub.log_room(live_broadcast.pk)]
        event = await next_of(viewer, "event", within=3 * INTERVAL + TIMEOUT)
        elapsed = time.monotonic() - started

    assert (event["seq"], event["kind"]) == (1, "host.message")
    assert event["data"]["message"]["text"] == "欢迎收看本期节目"
    assert elapsed < 2 * INTERVAL + 0.75, f"the lost event took {elapsed:.2f} s to be healed"
