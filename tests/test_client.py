"""minxin_client against scripted servers (no Django): resume, duplicates and gaps, resending asks with
the same client_id, and hostile frames; then once against a real daphne process.

Every client here validates frames against docs/frames.schema.json (conftest sets
MINXIN_CLIENT_VALIDATE=1), so the scripted frames are valid ones unless a test says otherwise.
"""

import asyncio
import collections
import json
import random
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

from minxin_client import Backoff, Closed, ModerateConsole, ProtocolError, Refused, StudioConsole, Viewer
from minxin_client.client import CLOSE_GOING_AWAY
from minxin_client.schema import FrameValidator

QUICK = Backoff(initial=0.01, cap=0.05, spread=0.05)
AT = "2026-11-26T14:35:12.123+08:00"

Script = Callable[[ServerConnection], Awaitable[None]]


def hello(last_seq: int = 0) -> str:
    broadcast = {
        "id": 7,
        "number": 54,
        "title": "公交线网优化",
        "department": {"code": "jtw", "name": "市交通委"},
        "status": "live",
        "starts_at": AT,
    }
    return json.dumps({"type": "hello", "broadcast": broadcast, "last_seq": last_seq, "online": 1})


def event(seq: int) -> str:
    return json.dumps(
        {"type": "event", "seq": seq, "kind": "host.message", "at": AT,
         "data": {"message": {"id": seq, "text": f"第{seq}条", "author": "李主持"}}}
    )  # fmt: skip


class Scripted:
    """A WebSocket server that plays one script per connection and records what it was asked."""

    def __init__(self, scripts: list[Script]):
        self.scripts = scripts
        self.paths: list[str] = []
        self.received: list[dict] = []
        self.server: Any = None

    async def handler(self, ws: ServerConnection) -> None:
        self.paths.append(ws.request.path)
        script = self.scripts.pop(0) if self.scripts else None
        if script is None:
            await ws.close(4404)
            return
        await script(ws)

    async def recv(self, ws: ServerConnection) -> dict:
        frame = json.loads(await ws.recv())
        self.received.append(frame)
        return frame

    async def __aenter__(self) -> str:
        self.server = await serve(self.handler, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()
        await self.server.wait_closed()


def drop(ws: ServerConnection) -> None:
    """The connection dies without a close frame (a killed process)."""
    ws.transport.abort()


async def hold(ws: ServerConnection) -> None:
    """Keep the connection open, sending nothing more, until the client leaves."""
    await ws.wait_closed()


async def collect(viewer: Viewer, count: int) -> list[int]:
    seqs: list[int] = []
    async with asyncio.timeout(10):
        async for frame in viewer:
            seqs.append(frame["seq"])
            if len(seqs) == count:
                break
    return seqs


# --- following ----------------------------------------------------------------------------------


async def test_a_dropped_viewer_resumes_on_the_next_server_with_after_and_misses_nothing():
    async def first(ws):
        await ws.send(hello(0))
        for seq in (1, 2, 3):
            await ws.send(event(seq))
        await asyncio.sleep(0.05)
        drop(ws)

    async def second(ws):
        await ws.send(hello(5))
        for seq in (4, 5):
            await ws.send(event(seq))
        await hold(ws)

    async with Scripted([first]) as a, Scripted([second]) as b:
        async with Viewer([a, b], 7, after=0, backoff=QUICK) as viewer:
            assert await collect(viewer, 5) == [1, 2, 3, 4, 5]
            assert viewer.connections == 2 and viewer.last_seq == 5


async def test_a_viewer_told_the_server_is_going_away_resumes_elsewhere_and_notes_each_drop():
    async def draining(ws):
        await ws.send(hello(0))
        for seq in (1, 2):
            await ws.send(event(seq))
        await ws.close(CLOSE_GOING_AWAY)  # a deploy drains this process (PROTOCOL.md §4, "Draining")

    async def killed(ws):
        await ws.send(hello(2))
        await ws.send(event(3))
        await asyncio.sleep(0.05)
        drop(ws)

    async def last(ws):
        await ws.send(hello(4))
        await ws.send(event(4))
        await hold(ws)

    scripted = Scripted([draining, killed, last])
    async with scripted as server:
        async with Viewer([server], 7, after=0, backoff=QUICK) as viewer:
            assert await collect(viewer, 4) == [1, 2, 3, 4]
            assert [code for _at, code in viewer.drops] == [CLOSE_GOING_AWAY, None]
    assert scripted.paths == ["/ws/live/7/?after=0", "/ws/live/7/?after=2", "/ws/live/7/?after=3"]


def test_a_crowd_dropped_at_once_comes_back_spread_over_the_window_not_in_one_instant():
    rng_state = random.getstate()
    random.seed(18)
    try:
        backoff = Backoff(initial=0.2, cap=1.0, spread=2.0)
        killed = [backoff.after_drop(None) for _ in range(2000)]
        drained = [backoff.after_drop(CLOSE_GOING_AWAY) for _ in range(2000)]
    finally:
        random.setstate(rng_state)
    # A server's whole audience loses its sockets in one instant: the first attempts are spread
    # evenly over the 2 s window (each tenth of it gets about a tenth), not bunched at its start.
    assert 0 <= min(killed) and max(killed) < 2.0
    tenths = collections.Counter(int(wait / 0.2) for wait in killed)
    assert sorted(tenths) == list(range(10)) and max(tenths.values()) < 2000 * 0.13
    # A draining server spreads its closes itself: come back soon, within `initial`.
    assert max(drained) < 0.2 and min(drained) >= 0
    # Failed attempts still back off with jitter, up to the cap.
    assert 0.1 <= backoff.delay(1) <= 0.2 and 0.5 <= backoff.delay(9) <= 1.0


async def test_repeated_seqs_are_dropped_and_a_gap_makes_the_viewer_resume_from_its_last_seq():
    async def first(ws):
        await ws.send(hello(0))
        for seq in (1, 2, 2, 1, 4):  # two repeats, then 3 is missing
            await ws.send(event(seq))
        await hold(ws)

    async def second(ws):
        await ws.send(hello(4))
        for seq in (3, 4, 4, 5):
            await ws.send(event(seq))
        await hold(ws)

    scripted = Scripted([first, second])
    async with scripted as url, Viewer(url, 7, after=0, backoff=QUICK) as viewer:
        assert await collect(viewer, 5) == [1, 2, 3, 4, 5]
        assert (viewer.duplicates, viewer.gaps) == (3, 1)
    assert scripted.paths == ["/ws/live/7/?after=0", "/ws/live/7/?after=2"]


async def test_after_none_follows_live_events_from_hellos_last_seq_and_resumes_from_there():
    async def first(ws):
        await ws.send(hello(40))
        await ws.send(event(41))
        await asyncio.sleep(0.05)
        drop(ws)

    async def second(ws):
        await ws.send(hello(42))
        await ws.send(event(42))
        await hold(ws)

    scripted = Scripted([first, second])
    async with scripted as url, Viewer(url, 7, after=None, backoff=QUICK) as viewer:
        assert await collect(viewer, 2) == [41, 42]
    assert scripted.paths == ["/ws/live/7/", "/ws/live/7/?after=41"]


async def test_follow_hands_every_event_to_the_callback_until_stopped():
    async def script(ws):
        await ws.send(hello(0))
        for seq in (1, 2, 3):
            await ws.send(event(seq))
        await hold(ws)

    seen: list[int] = []
    stop = asyncio.Event()
    async with Scripted([script]) as url:
        viewer = Viewer(url, 7, backoff=QUICK)
        following = asyncio.create_task(viewer.follow(lambda e: seen.append(e["seq"]), stop=stop))
        async with asyncio.timeout(5):
            while len(seen) < 3:  # noqa: ASYNC110 — the callback fills it
                await asyncio.sleep(0.01)
        stop.set()
        assert await asyncio.wait_for(following, 5) == 3
    assert seen == [1, 2, 3]


# --- asking -------------------------------------------------------------------------------------


async def test_ask_is_resent_with_the_same_client_id_after_a_drop_until_acknowledged():
    scripted: Scripted

    async def lost(ws):
        await ws.send(hello(0))
        await scripted.recv(ws)  # the ask arrives, the process dies before answering
        drop(ws)

    async def answers(ws):
        await ws.send(hello(0))
        frame = await scripted.recv(ws)
        await ws.send(
            json.dumps({"type": "ask.ok", "ref": frame["client_id"], "question_id": 991, "status": "pending"})
        )
        await hold(ws)

    scripted = Scripted([lost, answers])
    async with scripted as url, Viewer(url, 7, after=None, backoff=QUICK) as netizen:
        ok = await asyncio.wait_for(netizen.ask("公交什么时候加密班次？", nickname="老张"), 10)
    assert ok["question_id"] == 991
    asks = [f for f in scripted.received if f["type"] == "ask"]
    assert len(asks) == 2
    assert asks[0] == asks[1]  # same client_id, same text
    assert asks[0]["client_id"] == ok["ref"] and asks[0]["nickname"] == "老张"


async def test_ask_waits_retry_after_when_rate_limited_and_raises_a_refusal_it_cannot_retry():
    scripted: Scripted

    async def script(ws):
        await ws.send(hello(0))
        first = await scripted.recv(ws)
        await ws.send(
            json.dumps(
                {
                    "type": "error",
                    "code": "rate_limited",
                    "message": "稍后",
                    "ref": first["client_id"],
                    "retry_after": 0,
                }
            )
        )
        again = await scripted.recv(ws)
        await ws.send(
            json.dumps({"type": "ask.ok", "ref": again["client_id"], "question_id": 5, "status": "pending"})
        )
        blocked = await scripted.recv(ws)
        await ws.send(
            json.dumps(
                {"type": "error", "code": "closed", "message": "本期已结束", "ref": blocked["client_id"]}
            )
        )
        await hold(ws)

    scripted = Scripted([script])
    async with scripted as url, Viewer(url, 7, backoff=QUICK) as netizen:
        ok = await asyncio.wait_for(netizen.ask("问题一", client_id="c-1"), 5)
        assert ok == {"type": "ask.ok", "ref": "c-1", "question_id": 5, "status": "pending"}
        with pytest.raises(Refused) as refused:
            await asyncio.wait_for(netizen.ask("问题二", client_id="c-2"), 5)
    assert refused.value.code == "closed"
    assert [f["client_id"] for f in scripted.received] == ["c-1", "c-1", "c-2"]


# --- hostile servers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frames", "says"),
    [
        (["not json"], "not JSON"),
        ([b"\x00\x01"], "binary"),
        (["[1, 2]"], "not an object"),
        ([event(1)], "first frame must be hello"),
        (
            [
                "HELLO",
                json.dumps({"type": "event", "seq": "1", "kind": "withdrawn", "at": AT, "data": {"seq": 1}}),
            ],
            "seq",
        ),
        (
            [
                "HELLO",
                json.dumps(
                    {"type": "event", "seq": 1, "kind": "withdrawn", "at": AT, "data": {"seq": 1}, "x": 1}
                ),
            ],
            "'x' was unexpected",
        ),
        (
            ["HELLO", json.dumps({"type": "queue", "questions": []})],
            "'queue' is not a server frame of /ws/live/",
        ),
    ],
    ids=["not-json", "binary", "array", "no-hello", "string-seq", "extra-field", "wrong-endpoint"],
)
async def test_a_hostile_server_frame_ends_the_viewer_with_a_clear_error_not_a_hang(frames, says):
    async def script(ws):
        for frame in frames:
            await ws.send(hello(0) if frame == "HELLO" else frame)
        await hold(ws)

    async with Scripted([script]) as url, Viewer(url, 7, backoff=QUICK) as viewer:
        asking = asyncio.create_task(viewer.ask("问题"))
        with pytest.raises(ProtocolError, match=says):
            async with asyncio.timeout(5):
                async for _ in viewer:
                    pass
        with pytest.raises(ProtocolError):  # a pending request fails with it, it does not wait forever
            await asyncio.wait_for(asking, 5)


async def test_no_such_broadcast_is_final_and_a_server_that_never_answers_is_given_up():
    async def gone(ws):
        await ws.close(4404)

    async with Scripted([gone]) as url, Viewer(url, 7, backoff=QUICK) as viewer:
        with pytest.raises(Closed) as closed:
            await asyncio.wait_for(viewer.__anext__(), 5)
    assert closed.value.code == 4404

    async with Scripted([hold, hold]) as url:
        viewer = Viewer(url, 7, backoff=QUICK, open_timeout=0.2, max_failures=1)
        with pytest.raises(Exception, match="gave up after 1"):
            await asyncio.wait_for(viewer.__anext__(), 5)
        await viewer.close()


def test_the_client_sends_only_frames_the_schema_allows():
    validator = FrameValidator()
    assert validator.types("live", "client") == {"ping", "ask", "support"}
    assert validator.types("studio", "client") == {"ping", "answer", "host.message", "start", "end"}
    assert validator.types("moderate", "client") == {"ping", "approve", "reject", "merge", "edit", "withdraw"}


# --- against the real server --------------------------------------------------------------------


@pytest.mark.processes
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("close_worker_connections")
async def test_viewer_netizen_moderator_and_guest_clients_against_a_real_daphne(personas, daphne):
    from channels.db import database_sync_to_async

    from tests.conftest import make_broadcast, session_cookie

    broadcast = await database_sync_to_async(make_broadcast)(
        "jtw", personas["host"], [personas["guest"]], status="live"
    )
    cookies = {
        name: (await database_sync_to_async(session_cookie)(personas[name])).decode()
        for name in ("guest", "moderator")
    }
    server = await asyncio.to_thread(daphne)
    my_frames: list[dict] = []
    async with (
        Viewer(server.url, broadcast.pk, after=0, backoff=QUICK) as viewer,
        Viewer(server.url, broadcast.pk, after=None, on_frame=my_frames.append) as netizen,
        ModerateConsole(server.url, broadcast.pk, cookie=cookies["moderator"]) as moderator,
        StudioConsole(server.url, broadcast.pk, cookie=cookies["guest"]) as guest,
    ):
        ok = await asyncio.wait_for(netizen.ask("地铁末班车能否延后？", client_id="real-1"), 10)
        again = await asyncio.wait_for(netizen.ask("地铁末班车能否延后？", client_id="real-1"), 10)
        assert again["question_id"] == ok["question_id"]  # idempotent on client_id
        approved = await asyncio.wait_for(moderator.approve(ok["question_id"], publish=True), 10)
        assert approved == {"type": "ack", "ref": approved["ref"]}
        await asyncio.wait_for(guest.answer("末班车将延后半小时。", question_id=ok["question_id"]), 10)
        with pytest.raises(Refused) as refused:
            await asyncio.wait_for(guest.host_message("只有主持人能发"), 10)
        assert refused.value.code == "forbidden"
        async with asyncio.timeout(10):
            kinds = [(e["seq"], e["kind"]) async for e in _take(viewer, 2)]
        assert kinds == [(1, "question.published"), (2, "answer.posted")]
        async with asyncio.timeout(10):
            while not any(f["type"] == "my_question" and f["status"] == "answered" for f in my_frames):  # noqa: ASYNC110
                await asyncio.sleep(0.05)


async def _take(viewer: Viewer, count: int):
    n = 0
    async for frame in viewer:
        yield frame
        n += 1
        if n == count:
            return
