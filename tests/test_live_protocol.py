"""The viewers' endpoint /ws/live/<id>/ and the public HTTP API, as PROTOCOL.md §1.1 and §2 promise them.

Everything goes through the real asgi.py stack (origin check, sessions, routing) or Django's test client.
"""

import asyncio
import datetime as dt
import json
import re

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from moderation.actions import approve_question, reject_question
from moderation.asking import ask_question
from moderation.models import Question
from studio import services
from studio.models import Broadcast, BroadcastStatus

from .conftest import make_broadcast

pytestmark = pytest.mark.django_db(transaction=True)


EN = [(b"accept-language", b"en")]
ZH = [(b"accept-language", b"zh-hans")]
CJK = re.compile(r"[\u4e00-\u9fff]")


# --- helpers -------------------------------------------------------------------------------


async def next_frame(ws, wait: float = 5) -> dict:
    """The next frame, skipping the live-only presence counts that may arrive at any time."""
    while True:
        frame = json.loads(await ws.receive_from(timeout=wait))
        if frame["type"] != "presence":
            return frame


async def assert_still_open(ws) -> None:
    await ws.send_json_to({"type": "ping"})
    assert await next_frame(ws) == {"type": "pong"}


async def open_viewer(sockets, broadcast_id: int, query: str = "", headers: list | None = None):
    """A viewer socket whose hello has been read; returns (socket, hello)."""
    ws = await sockets.open(f"/ws/live/{broadcast_id}/{query}", headers=headers)
    hello = await next_frame(ws)
    assert hello["type"] == "hello"
    return ws, hello


@database_sync_to_async
def question_count(broadcast_id: int) -> int:
    return Question.objects.filter(broadcast_id=broadcast_id).count()


@database_sync_to_async
def get_question(question_id: int) -> Question | None:
    return Question.objects.filter(pk=question_id).first()


@database_sync_to_async
def post_answers(broadcast_id: int, user, count: int, prefix: str = "ans") -> None:
    for n in range(count):
        services.post_answer(broadcast_id, user, f"{prefix}-{n}", None, f"第{n}条回答")


@database_sync_to_async
def set_status(broadcast: Broadcast, status: str) -> None:
    Broadcast.objects.filter(pk=broadcast.pk).update(status=status)


@database_sync_to_async
def http_get(path: str):
    return Client().get(path)


def ask_frame(client_id: str = "q-1", text: str = "公交什么时候加密班次？", **extra) -> dict:
    return {"type": "ask", "client_id": client_id, "text": text, **extra}


# --- A. hello, ping, ask -------------------------------------------------------------------


async def test_hello_describes_the_programme_and_how_many_are_watching(sockets, live_broadcast, personas):
    await post_answers(live_broadcast.pk, personas["guest"], 2)
    department_name = await database_sync_to_async(lambda: live_broadcast.department.name)()
    ws = await sockets.open(f"/ws/live/{live_broadcast.pk}/")
    hello = await next_frame(ws)
    assert set(hello) == {"type", "broadcast", "last_seq", "online"}
    assert hello["type"] == "hello"
    assert hello["last_seq"] == 2
    assert hello["online"] >= 1
    header = hello["broadcast"]
    assert set(header) == {"id", "number", "title", "department", "status", "starts_at"}
    assert header["id"] == live_broadcast.pk
    assert header["number"] == live_broadcast.number
    assert header["title"] == "公交线网优化"
    assert header["department"] == {"code": "jtw", "name": department_name}
    assert header["status"] == "live"
    starts_at = dt.datetime.fromisoformat(header["starts_at"])
    assert starts_at.utcoffset() is not None
    assert abs(starts_at - live_broadcast.starts_at) < dt.timedelta(milliseconds=1)
    # Without ?after= nothing from the past is replayed.
    await ws.receive_nothing(timeout=0.3)


async def test_hello_gives_the_start_time_in_local_time_like_the_http_api(sockets, live_broadcast):
    ws = await sockets.open(f"/ws/live/{live_broadcast.pk}/")
    hello = await next_frame(ws)
    detail = json.loads((await http_get(f"/api/broadcasts/{live_broadcast.pk}/")).content)
    assert hello["broadcast"]["starts_at"] == detail["starts_at"]
    assert hello["broadcast"]["starts_at"].endswith("+08:00")


async def test_ping_is_answered_with_pong(sockets, live_broadcast):
    ws, _ = await open_viewer(sockets, live_broadcast.pk)
    await assert_still_open(ws)
    await assert_still_open(ws)


async def test_an_asked_question_is_stored_before_it_is_acknowledged(sockets, live_broadcast):
    ws, _ = await open_viewer(sockets, live_broadcast.pk)
    await ws.send_json_to(ask_frame("c-1", "  公交什么时候加密班次？ ", nickname="老王"))
    ok = await next_frame(ws)
    question = await get_question(ok.get("question_id"))
    assert question is not None and question.status == "pending"
    assert ok == {"type": "ask.ok", "ref": "c-1", "question_id": question.pk, "status": "pending"}
    assert question.text == "公交什么时候加密班次？"
    assert question.nickname == "老王"


async def test_a_question_without_nickname_is_signed_as_netizen(sockets, live_broadcast):
    ws, _ = await open_viewer(sockets, live_broadcast.pk)
    await ws.send_json_to(ask_frame("c-1"))
    ok = await next_frame(ws)
    assert (await get_question(ok["question_id"])).nickname == "网友"


async def test_resending_an_ask_returns_the_same_question_and_stores_it_once(sockets, live_broadcast):
    ws, _ = await open_viewer(sockets, live_broadcast.pk)
    await ws.send_json_to(ask_frame("same"))
    first = await next_frame(ws)
    await ws.send_json_to(ask_frame("same"))
    second = await next_frame(ws)
    assert first["type"] == second["type"] == "ask.ok"
    assert second["question_id"] == first["question_id"]
    assert second["ref"] == "same"
    assert await question_count(live_broadcast.pk) == 1


async def test_an_ask_with_consent_is_stored_and_one_without_the_field_too(sockets, live_broadcast):
    # PIPL: the live page sends consent: true; clients from before the field keep working.
    ws, _ = await open_viewer(sockets, live_broadcast.pk)
    await ws.send_json_to(ask_frame("agreed", consent=True))
    assert (await next_frame(ws))["type"] == "ask.ok"
    await ws.send_json_to(ask_frame("older-client"))
    assert (await next_frame(ws))["type"] == "ask.ok"
    assert await question_count(live_broadcast.pk) == 2


@pytest.mark.parametrize("consent", [False, "yes", 1])
async def test_an_ask_whose_netizen_declined_the_notice_is_refused_and_not_stored(
    sockets, live_broadcast, consent
):
    ws, _ = await open_viewer(sockets, live_broadcast.pk)
    await ws.send_json_to(ask_frame("declined", consent=consent))
    error = await next_frame(ws)
    assert error["type"] == "error" and error["code"] == "bad_frame" and error["ref"] == "declined"
    assert error["message"]
    assert await question_count(live_broadcast.pk) == 0
    await assert_still_open(ws)


async def test_questions_are_collected_before_the_programme_starts(sockets, personas):
    scheduled = await database_sync_to_async(make_broadcast)("jtw", personas["host"], [personas["guest"]])
    ws, hello = await open_viewer(sockets, scheduled.pk)
    assert hello["broadcast"]["status"] == "scheduled"
    await ws.send_json_to(ask_frame("early"))
    ok = await next_frame(ws)
    assert ok["type"] == "ask.ok" and ok["status"] == "pending"
    assert await question_count(scheduled.pk) == 1


async def test_asking_after_the_programme_ended_is_refused_as_closed(sockets, live_broadcast):
    await set_status(live_broadcast, BroadcastStatus.ENDED)
    ws, hello = await open_viewer(sockets, live_broadcast.pk)
    assert hello["broadcast"]["status"] == "ended"
    await ws.send_json_to(ask_frame("late"))
    error = await next_frame(ws)
    assert error["type"] == "error" and error["code"] == "closed" and error["ref"] == "late"
    assert error["message"]
    assert await question_count(live_broadcast.pk) == 0
    await assert_still_open(ws)


# --- A. every refusal of §1: the frame, nothing stored, still connected -------------------

BAD_FRAMES = [
    pytest.param({"text": "not json {"}, "bad_json", None, id="text that is not JSON"),
    pytest.param({"bytes": b'{"type": "ping"}'}, "bad_json", None, id="a binary frame"),
    pytest.param({"json": [{"type": "ping"}]}, "bad_json", None, id="a JSON array"),
    pytest.param({"json": "ping"}, "bad_json", None, id="a JSON string"),
    pytest.param({"json": {"type": "shout", "client_id": "x"}}, "bad_frame", "x", id="an unknown type"),
    pytest.param({"json": {"client_id": "x", "text": "问"}}, "bad_frame", "x", id="no type at all"),
    pytest.param({"json": {"type": "ask", "text": "问题"}}, "bad_frame", None, id="ask without client_id"),
    pytest.param({"json": {"type": "ask", "client_id": "x"}}, "bad_frame", "x", id="ask without text"),
    pytest.param({"json": ask_frame("x", 42)}, "bad_frame", "x", id="text as a number"),
    pytest.param({"json": ask_frame(["x"])}, "bad_frame", None, id="client_id as a list"),
    pytest.param({"json": ask_frame("x", nickname=7)}, "bad_frame", "x", id="nickname as a number"),
    pytest.param({"json": ask_frame("", "问题")}, "bad_frame", "", id="an empty client_id"),
    pytest.param({"json": ask_frame("x" * 65)}, "bad_frame", "x" * 65, id="a 65-character client_id"),
    # A lone surrogate cannot be sent back as UTF-8: echoing it closed the socket with 1011.
    pytest.param({"json": ask_frame("x\ud800")}, "bad_frame", None, id="a client_id with a lone surrogate"),
    pytest.param(
        {"json": {"type": "shout\udfff", "client_id": "y"}},
        "bad_frame",
        "y",
        id="a type with a lone surrogate",
    ),
    pytest.param(
        {"json": {"type": "ask", "client_id": "z\ud800", "text": 7}},
        "bad_frame",
        None,
        id="a lone surrogate and a bad field",
    ),
    pytest.param({"json": ask_frame("x", "")}, "empty", "x", id="empty text"),
    pytest.param({"json": ask_frame("x", " \n\t\u3000 ")}, "empty", "x", id="whitespace-only text"),
    pytest.param({"json": ask_frame("x", "问" * 501)}, "too_long", "x", id="501-character text"),
    pytest.param({"json": ask_frame("x", nickname="名" * 31)}, "too_long", "x", id="31-character nickname"),
    pytest.param(
        {"json": {"type": "answer", "client_id": "x", "question_id": None, "text": "我来回答"}},
        "bad_frame",
        "x",
        id="a viewer sending answer",
    ),
]


@pytest.mark.parametrize(("send", "code", "ref"), BAD_FRAMES)
async def test_a_bad_frame_gets_an_error_stores_nothing_and_keeps_the_connection(
    sockets, live_broadcast, send, code, ref
):
    ws, _ = await open_viewer(sockets, live_broadcast.pk)
    if "json" in send:
        await ws.send_to(text_data=json.dumps(send["json"], ensure_ascii=False))
    elif "bytes" in send:
        await ws.send_to(bytes_data=send["bytes"])
    else:
        await ws.send_to(text_data=send["text"])
    error = await next_frame(ws)
    assert error["type"] == "error"
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    if ref is None:
        assert "ref" not in error
    else:
        assert error["ref"] == ref
    assert await question_count(live_broadcast.pk) == 0
    await assert_still_open(ws)


async def test_a_question_of_exactly_500_characters_is_accepted(sockets, live_broadcast):
    ws, _ = await open_viewer(sockets, live_broadcast.pk)
    await ws.send_json_to(ask_frame("x", "问" * 500, nickname="名" * 30))
    ok = await next_frame(ws)
    assert ok["type"] == "ask.ok"
    question = await get_question(ok["question_id"])
    assert question.text == "问" * 500 and question.nickname == "名" * 30


async def test_a_frame_over_32_kib_closes_the_socket_with_4009(sockets, live_broadcast):
    ws, _ = await open_viewer(sockets, live_broadcast.pk)
    # 11,000 Chinese characters are 33,000 UTF-8 bytes: under 32 KiB in characters, over it in bytes.
    await ws.send_to(text_data=json.dumps(ask_frame("big", "问" * 11000), ensure_ascii=False))
    assert await ws.receive_output(timeout=5) == {"type": "websocket.close", "code": 4009}
    assert await question_count(live_broadcast.pk) == 0


async def test_a_frame_of_exactly_32_kib_is_still_read(sockets, live_broadcast):
    ws, _ = await open_viewer(sockets, live_broadcast.pk)
    frame = json.dumps({"type": "ping", "pad": ""})
    frame = frame.replace('""', '"' + "x" * (32 * 1024 - len(frame)) + '"')
    assert len(frame.encode()) == 32 * 1024
    await ws.send_to(text_data=frame)
    assert await next_frame(ws) == {"type": "pong"}


async def test_an_unknown_programme_closes_the_socket_with_4404(sockets, live_broadcast):
    ws = await sockets.open("/ws/live/999999/")
    assert await ws.receive_output(timeout=5) == {"type": "websocket.close", "code": 4404}


async def test_a_non_numeric_after_gets_bad_frame_but_stays_connected(sockets, live_broadcast):
    ws, _ = await open_viewer(sockets, live_broadcast.pk, "?after=abc")
    error = await next_frame(ws)
    assert error["type"] == "error" and error["code"] == "bad_frame"
    await assert_still_open(ws)


async def test_hostile_text_is_stored_as_typed_and_published_escaped(sockets, live_broadcast):
    asker, _ = await open_viewer(sockets, live_broadcast.pk)
    watcher, _ = await open_viewer(sockets, live_broadcast.pk)
    hostile = "<script>alert(1)</script> & <b>"
    await asker.send_json_to(ask_frame("evil", hostile, nickname="<img src=x onerror=alert(1)>"))
    ok = await next_frame(asker)
    question = await get_question(ok["question_id"])
    assert question.text == hostile
    await database_sync_to_async(approve_question)(live_broadcast.pk, question.pk, publish=True)
    event = await next_frame(watcher)
    assert event["type"] == "event" and event["kind"] == "question.published"
    published = event["data"]["question"]
    assert published["id"] == question.pk
    assert "&lt;script&gt;" in published["text"] and "<script>" not in published["text"]
    assert published["text"] == "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;"
    assert "<img" not in published["nickname"]


async def test_the_asker_is_told_when_its_question_is_approved(sockets, live_broadcast):
    ws, _ = await open_viewer(sockets, live_broadcast.pk)
    await ws.send_json_to(ask_frame("mine"))
    ok = await next_frame(ws)
    await database_sync_to_async(approve_question)(live_broadcast.pk, ok["question_id"], publish=False)
    assert await next_frame(ws) == {
        "type": "my_question",
        "question_id": ok["question_id"],
        "status": "approved",
    }
    # Not published: no public event follows.
    await ws.receive_nothing(timeout=0.3)


async def test_the_asker_is_told_when_its_question_is_rejected_and_why(sockets, live_broadcast):
    ws, _ = await open_viewer(sockets, live_broadcast.pk)
    other, _ = await open_viewer(sockets, live_broadcast.pk)
    await ws.send_json_to(ask_frame("mine"))
    ok = await next_frame(ws)
    await database_sync_to_async(reject_question)(live_broadcast.pk, ok["question_id"], "与本期主题无关")
    assert await next_frame(ws) == {
        "type": "my_question",
        "question_id": ok["question_id"],
        "status": "rejected",
        "reason": "与本期主题无关",
    }
    # Another viewer hears nothing about someone else's question.
    await other.receive_nothing(timeout=0.3)


# --- A. language of error messages ----------------------------------------------------------

LANGUAGE_CASES = [
    pytest.param({"text": "not json"}, "bad_json", id="not JSON"),
    pytest.param({"bytes": b"\x00\x01"}, "bad_json", id="binary"),
    pytest.param({"json": [1, 2]}, "bad_json", id="JSON array"),
    pytest.param({"json": {"type": "shout"}}, "bad_frame", id="unknown type"),
    pytest.param({"json": {"type": "ask", "client_id": "x"}}, "bad_frame", id="missing field"),
    pytest.param({"json": ask_frame("x", " ")}, "empty", id="empty question"),
    pytest.param({"json": ask_frame("x", "问" * 501)}, "too_long", id="long question"),
]


async def error_message(sockets, broadcast_id: int, headers: list, send: dict, code: str) -> str:
    ws, _ = await open_viewer(sockets, broadcast_id, headers=headers)
    if "json" in send:
        await ws.send_to(text_data=json.dumps(send["json"], ensure_ascii=False))
    elif "bytes" in send:
        await ws.send_to(bytes_data=send["bytes"])
    else:
        await ws.send_to(text_data=send["text"])
    error = await next_frame(ws)
    assert error["code"] == code
    return error["message"]


@pytest.mark.parametrize(("send", "code"), LANGUAGE_CASES)
async def test_an_english_browser_reads_error_messages_in_english(sockets, live_broadcast, send, code):
    message = await error_message(sockets, live_broadcast.pk, EN, send, code)
    assert message and not CJK.search(message)


@pytest.mark.parametrize(("send", "code"), LANGUAGE_CASES)
async def test_a_chinese_browser_reads_error_messages_in_chinese(sockets, live_broadcast, send, code):
    english = await error_message(sockets, live_broadcast.pk, EN, send, code)
    chinese = await error_message(sockets, live_broadcast.pk, ZH, send, code)
    assert chinese != english
    assert CJK.search(chinese)


async def test_without_accept_language_error_messages_are_chinese(sockets, live_broadcast):
    english = await error_message(sockets, live_broadcast.pk, EN, {"text": "not json"}, "bad_json")
    default = await error_message(sockets, live_broadcast.pk, [], {"text": "not json"}, "bad_json")
    assert default != english and CJK.search(default)


# --- B. resume with ?after= -----------------------------------------------------------------


async def read_events(ws, until_seq: int) -> list[dict]:
    """Public events until `until_seq` has arrived."""
    got: list[dict] = []
    while not got or got[-1]["seq"] < until_seq:
        frame = await next_frame(ws)
        assert frame["type"] == "event", frame
        got.append(frame)
    return got


async def test_a_viewer_resuming_after_n_gets_exactly_the_events_it_missed(sockets, live_broadcast, personas):
    await post_answers(live_broadcast.pk, personas["guest"], 6)
    ws, hello = await open_viewer(sockets, live_broadcast.pk, "?after=2")
    assert hello["last_seq"] == 6
    events = await read_events(ws, 6)
    assert [e["seq"] for e in events] == [3, 4, 5, 6]
    assert [e["data"]["answer"]["text"] for e in events] == [
        "第2条回答",
        "第3条回答",
        "第4条回答",
        "第5条回答",
    ]
    await ws.receive_nothing(timeout=0.3)
    # And live events continue after the replay.
    await post_answers(live_broadcast.pk, personas["guest"], 1, prefix="later")
    assert (await next_frame(ws))["seq"] == 7


async def test_a_viewer_resuming_from_zero_gets_the_whole_log(sockets, live_broadcast, personas):
    await post_answers(live_broadcast.pk, personas["guest"], 3)
    ws, _ = await open_viewer(sockets, live_broadcast.pk, "?after=0")
    assert [e["seq"] for e in await read_events(ws, 3)] == [1, 2, 3]
    await ws.receive_nothing(timeout=0.3)


async def test_a_viewer_resuming_after_the_last_seq_gets_nothing_old(sockets, live_broadcast, personas):
    await post_answers(live_broadcast.pk, personas["guest"], 4)
    ws, hello = await open_viewer(sockets, live_broadcast.pk, f"?after={4}")
    assert hello["last_seq"] == 4
    await ws.receive_nothing(timeout=0.3)


async def test_a_viewer_resuming_while_another_watches_is_served_the_same_log(
    sockets, live_broadcast, personas
):
    # The room is already in memory (the first viewer); the second viewer's replay comes from it.
    first, _ = await open_viewer(sockets, live_broadcast.pk)
    await post_answers(live_broadcast.pk, personas["guest"], 3)
    live = await read_events(first, 3)
    second, _ = await open_viewer(sockets, live_broadcast.pk, "?after=1")
    replay = await read_events(second, 3)
    assert replay == live[1:]


async def test_viewers_resuming_while_answers_pour_in_miss_nothing_and_see_nothing_twice(
    sockets, live_broadcast, personas
):
    total = 30
    post_one = database_sync_to_async(services.post_answer)
    # A viewer watching from the start: a resuming viewer's after= is a seq this process has
    # already delivered (what a reconnecting page would hold).
    watcher, _ = await open_viewer(sockets, live_broadcast.pk)
    delivered = 0
    progress = asyncio.Condition()

    async def poster() -> None:
        for n in range(total):
            await post_one(live_broadcast.pk, personas["guest"], f"burst-{n}", None, f"回答{n}")

    async def watch() -> list[int]:
        nonlocal delivered
        seqs: list[int] = []
        while delivered < total:
            frame = await next_frame(watcher, wait=10)
            assert frame["type"] == "event", frame
            seqs.append(frame["seq"])
            async with progress:
                delivered = frame["seq"]
                progress.notify_all()
        return seqs

    async def viewer(after: int) -> tuple[int, list[int]]:
        async with progress:
            await progress.wait_for(lambda: delivered >= after)
        ws, hello = await open_viewer(sockets, live_broadcast.pk, f"?after={after}")
        assert hello["last_seq"] >= after
        seqs: list[int] = []
        while not seqs or seqs[-1] < total:
            frame = await next_frame(ws, wait=10)
            assert frame["type"] == "event", frame
            seqs.append(frame["seq"])
        await ws.receive_nothing(timeout=0.3)
        return after, seqs

    posting = asyncio.create_task(poster())
    watching = asyncio.create_task(watch())
    afters = (0, 1, 2, 3, 5, 7, 8, 12, 17, 20, 25, 29)
    results = await asyncio.gather(*(viewer(after) for after in afters))
    await posting
    assert await watching == list(range(1, total + 1))
    for after, seqs in results:
        assert seqs == list(range(after + 1, total + 1)), f"viewer after={after} got {seqs}"


async def test_a_viewer_resuming_past_what_this_process_has_seen_gets_no_event_twice(
    sockets, live_broadcast, personas, monkeypatch
):
    from studio import hub

    watcher, _ = await open_viewer(sockets, live_broadcast.pk)
    # This process misses three publishes (a Redis hiccup, or simply a slower subscriber) ...
    real_publish = hub.publish
    monkeypatch.setattr(hub, "publish", lambda *args: None)
    await post_answers(live_broadcast.pk, personas["guest"], 3)
    monkeypatch.setattr(hub, "publish", real_publish)
    # ... while a page that saw events 1-3 elsewhere reconnects here.
    resumed, _ = await open_viewer(sockets, live_broadcast.pk, "?after=3")
    await post_answers(live_broadcast.pk, personas["guest"], 1, prefix="next")
    assert [e["seq"] for e in await read_events(watcher, 4)] == [1, 2, 3, 4]
    assert [e["seq"] for e in await read_events(resumed, 4)] == [4]


async def test_a_viewer_resuming_within_what_the_room_remembers_costs_no_read_of_the_log(
    sockets, live_broadcast, personas, monkeypatch
):
    from studio.hub import get_hub

    first, _ = await open_viewer(sockets, live_broadcast.pk)
    await post_answers(live_broadcast.pk, personas["guest"], 3)
    await read_events(first, 3)
    source = get_hub().source
    reads: list[tuple] = []
    real = source.events_between
    monkeypatch.setattr(source, "events_between", lambda *args: reads.append(args) or real(*args))
    resumed, _ = await open_viewer(sockets, live_broadcast.pk, "?after=1")
    assert [e["seq"] for e in await read_events(resumed, 3)] == [2, 3]
    assert reads == []


async def test_a_viewer_resuming_before_what_the_room_remembers_is_served_from_the_log_once(
    sockets, live_broadcast, personas, monkeypatch
):
    from studio.hub import get_hub, log_room

    first, _ = await open_viewer(sockets, live_broadcast.pk)
    await post_answers(live_broadcast.pk, personas["guest"], 4)
    await read_events(first, 4)
    hub = get_hub()
    hub.rooms[log_room(live_broadcast.pk)].recent.popitem(last=False)  # the room forgot seq 1
    reads: list[tuple] = []
    real = hub.source.events_between
    monkeypatch.setattr(hub.source, "events_between", lambda *args: reads.append(args) or real(*args))
    resumed, _ = await open_viewer(sockets, live_broadcast.pk, "?after=0")
    assert [e["seq"] for e in await read_events(resumed, 4)] == [1, 2, 3, 4]
    await post_answers(live_broadcast.pk, personas["guest"], 1, prefix="next")
    assert [e["seq"] for e in await read_events(resumed, 5)] == [5]
    assert reads == [(live_broadcast.pk, 0, 4)]


# --- D. HTTP API ------------------------------------------------------------------------------


def test_the_programme_list_can_be_filtered_by_status(live_broadcast, other_broadcast, personas):
    scheduled = make_broadcast("jtw", personas["host"], [personas["guest"]], title="预告")
    client = Client()
    everything = client.get("/api/broadcasts/").json()["broadcasts"]
    assert {b["id"] for b in everything} == {live_broadcast.pk, other_broadcast.pk, scheduled.pk}
    live = client.get("/api/broadcasts/?status=live").json()["broadcasts"]
    assert {b["id"] for b in live} == {live_broadcast.pk, other_broadcast.pk}
    assert all(b["status"] == "live" for b in live)
    assert [b["id"] for b in client.get("/api/broadcasts/?status=scheduled").json()["broadcasts"]] == [
        scheduled.pk
    ]
    by_department = client.get("/api/broadcasts/?department=swj").json()["broadcasts"]
    assert [b["id"] for b in by_department] == [other_broadcast.pk]


def test_an_unknown_status_filter_is_a_bad_request(live_broadcast):
    response = Client().get("/api/broadcasts/?status=bogus")
    assert response.status_code == 400
    assert response.json()["error"]["code"]
    assert response.json()["error"]["message"]


def test_the_programme_detail_names_its_guests_and_counts_questions(live_broadcast, personas):
    first, _ = ask_question(live_broadcast.pk, "c1", "问题一", None, "n1", None)
    ask_question(live_broadcast.pk, "c2", "问题二", None, "n2", None)
    approve_question(live_broadcast.pk, first.pk, publish=True)
    services.post_answer(live_broadcast.pk, personas["guest"], "a1", first.pk, "这就回答")
    response = Client().get(f"/api/broadcasts/{live_broadcast.pk}/")
    assert response.status_code == 200
    detail = response.json()
    assert detail["id"] == live_broadcast.pk and detail["number"] == live_broadcast.number
    assert detail["title"] == "公交线网优化" and detail["status"] == "live"
    assert detail["department"]["code"] == "jtw"
    guest_id = live_broadcast.guests.get().pk  # what an on-air answer's guest_id names (§4)
    assert detail["guests"] == [{"id": guest_id, "name": "张明", "title": "市交通委新闻发言人"}]
    assert detail["counts"] == {"questions_asked": 2, "questions_answered": 1}
    assert detail["last_seq"] == 2


def test_an_unknown_programme_detail_is_404(live_broadcast):
    assert Client().get("/api/broadcasts/999999/").status_code == 404


async def test_the_events_endpoint_returns_the_very_objects_the_socket_delivered(
    sockets, live_broadcast, personas
):
    ws, _ = await open_viewer(sockets, live_broadcast.pk)
    question, _ = await database_sync_to_async(ask_question)(
        live_broadcast.pk, "c1", "地铁末班车能否延后？", "乘客", "n1", None
    )
    await database_sync_to_async(approve_question)(live_broadcast.pk, question.pk, publish=True)
    await database_sync_to_async(services.post_answer)(
        live_broadcast.pk, personas["guest"], "a1", question.pk, "<b>正在研究</b>"
    )
    await database_sync_to_async(services.post_host_message)(
        live_broadcast.pk, personas["host"], "h1", "欢迎收看"
    )
    delivered = await read_events(ws, 3)
    response = await http_get(f"/api/broadcasts/{live_broadcast.pk}/events/")
    assert response.status_code == 200
    body = json.loads(response.content)
    assert body == {"events": delivered, "last_seq": 3}
    assert [e["kind"] for e in delivered] == ["question.published", "answer.posted", "host.message"]

    page = json.loads(
        (await http_get(f"/api/broadcasts/{live_broadcast.pk}/events/?after=1&limit=1")).content
    )
    assert page == {"events": [delivered[1]], "last_seq": 3}
    tail = json.loads((await http_get(f"/api/broadcasts/{live_broadcast.pk}/events/?after=3")).content)
    assert tail == {"events": [], "last_seq": 3}


@pytest.mark.parametrize("query", ["after=abc", "after=-1", "limit=0", "limit=x"])
def test_a_bad_events_query_is_a_bad_request(live_broadcast, query):
    response = Client().get(f"/api/broadcasts/{live_broadcast.pk}/events/?{query}")
    assert response.status_code == 400
    assert response.json()["error"]["code"]


def test_the_events_of_an_unknown_programme_are_404(live_broadcast):
    assert Client().get("/api/broadcasts/999999/events/").status_code == 404


@pytest.mark.parametrize("path", ["/api/broadcasts/999999/", "/api/broadcasts/999999/events/"])
def test_an_unknown_programme_404_is_a_json_error(live_broadcast, path):
    response = Client().get(path)
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["error"]["code"] == "not_found"


def post_question(client: Client, broadcast_id: int, body) -> object:
    data = body if isinstance(body, str | bytes) else json.dumps(body, ensure_ascii=False)
    return client.post(
        f"/api/broadcasts/{broadcast_id}/questions/", data=data, content_type="application/json"
    )


def test_asking_over_http_stores_the_question_and_answers_201(live_broadcast):
    response = post_question(
        Client(), live_broadcast.pk, {"client_id": "h-1", "text": "停车难怎么办？", "nickname": "市民"}
    )
    assert response.status_code == 201
    body = response.json()
    question = Question.objects.get(pk=body["question_id"])
    assert body["status"] == "pending" and question.status == "pending"
    assert question.text == "停车难怎么办？" and question.nickname == "市民"


def test_asking_over_http_twice_with_one_client_id_returns_the_same_question(live_broadcast):
    client = Client()
    first = post_question(client, live_broadcast.pk, {"client_id": "h-1", "text": "停车难怎么办？"})
    again = post_question(client, live_broadcast.pk, {"client_id": "h-1", "text": "停车难怎么办？"})
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["question_id"] == first.json()["question_id"]
    assert Question.objects.filter(broadcast=live_broadcast).count() == 1


def test_asking_over_http_with_consent_false_is_refused_and_stores_nothing(live_broadcast):
    response = post_question(
        Client(), live_broadcast.pk, {"client_id": "h-1", "text": "问题", "consent": False}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_frame"
    assert not Question.objects.exists()


def test_asking_over_http_with_malformed_json_is_bad_json(live_broadcast):
    response = post_question(Client(), live_broadcast.pk, '{"client_id": "h-1", "text": ')
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_json"
    assert not Question.objects.exists()


def test_asking_over_http_with_empty_text_is_refused_as_empty(live_broadcast):
    response = post_question(Client(), live_broadcast.pk, {"client_id": "h-1", "text": "   "})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "empty"
    assert not Question.objects.exists()


def test_asking_over_http_after_the_end_is_refused_as_closed(live_broadcast):
    Broadcast.objects.filter(pk=live_broadcast.pk).update(status=BroadcastStatus.ENDED)
    response = post_question(Client(), live_broadcast.pk, {"client_id": "h-1", "text": "还能问吗？"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "closed"
    assert not Question.objects.exists()


def test_asking_over_http_with_a_body_over_64_kib_is_413(live_broadcast):
    response = post_question(Client(), live_broadcast.pk, {"client_id": "h-1", "text": "问" * 30000})
    assert len(json.dumps({"text": "问" * 30000}, ensure_ascii=False).encode()) > 64 * 1024
    assert response.status_code == 413
    assert not Question.objects.exists()


def test_a_question_asked_over_http_appears_escaped_in_the_log_once_published(live_broadcast):
    # What HTTP stored is published like a socket question: escaped.
    body = post_question(Client(), live_broadcast.pk, {"client_id": "h-1", "text": "&<>"}).json()
    approve_question(live_broadcast.pk, body["question_id"], publish=True)
    events = Client().get(f"/api/broadcasts/{live_broadcast.pk}/events/").json()["events"]
    assert [e["data"]["question"]["text"] for e in events] == ["&amp;&lt;&gt;"]


async def test_a_deeply_nested_frame_is_bad_json_and_the_connection_stays(sockets, live_broadcast):
    """Found by tests/test_fuzz.py: 4,000 nested brackets used to crash the connection's handler."""
    viewer = await sockets.open(f"/ws/live/{live_broadcast.pk}/")
    await viewer.receive_json_from(timeout=5)  # hello
    await viewer.send_to(text_data="[" * 4000 + "]" * 4000)
    error = await viewer.receive_json_from(timeout=5)
    assert error["type"] == "error" and error["code"] == "bad_json"
    await viewer.send_json_to({"type": "ping"})
    assert (await viewer.receive_json_from(timeout=5)) == {"type": "pong"}


# --- one address cannot inflate `online` (issue #13) --------------------------------------------


async def test_one_address_holds_at_most_the_cap_of_live_sockets_and_online_counts_only_those(
    sockets, live_broadcast, settings
):
    settings.MINXIN_SOCKETS_PER_ADDRESS = 3
    path = f"/ws/live/{live_broadcast.pk}/"
    mine = []
    for port in range(3):
        ws = await sockets.open(path, client=("203.0.113.5", 50000 + port))
        assert (await next_frame(ws))["type"] == "hello"
        mine.append(ws)
    refused = await sockets.open(path, client=("203.0.113.5", 50003))
    assert await refused.receive_output(timeout=5) == {"type": "websocket.close", "code": 4429}
    # An IPv6 subscriber's whole /64 is one address.
    for host in ("2001:db8:5:6::1", "2001:db8:5:6::2", "2001:db8:5:6:abcd::3"):
        ws = await sockets.open(path, client=(host, 1234))
        assert (await next_frame(ws))["type"] == "hello"
    sixth = await sockets.open(path, client=("2001:db8:5:6:ffff::9", 1234))
    assert await sixth.receive_output(timeout=5) == {"type": "websocket.close", "code": 4429}
    # Another address is not held back, and the refused sockets were never counted online.
    other, hello = await open_viewer(sockets, live_broadcast.pk, headers=None)
    assert hello["online"] == 3 + 3 + 1
    # A socket closed frees its place.
    await mine[0].disconnect()
    again = await sockets.open(path, client=("203.0.113.5", 50004))
    assert (await next_frame(again))["type"] == "hello"
    await assert_still_open(other)


@pytest.mark.redis
async def test_the_socket_cap_is_shared_by_every_process_through_redis(settings):
    """Two processes' counters (different process ids, one Redis): the cap is their sum, a
    closed socket frees its place in the others' count, and a dead process stops counting."""
    import time as clock

    import redis

    from studio import addresses

    settings.MINXIN_SOCKETS_PER_ADDRESS = 3
    first = addresses.AddressCounter(settings.REDIS_URL, process_id="p1")
    second = addresses.AddressCounter(settings.REDIS_URL, process_id="p2")
    try:
        assert [await first.acquire("198.51.100.7") for _ in range(2)] == [True, True]
        assert await second.acquire("198.51.100.7") is True
        assert await second.acquire("198.51.100.7") is False  # 2 + 1 held: the third place is taken
        assert second.local == {"198.51.100.7": 1}  # the refused one is not counted
        assert await first.acquire("192.0.2.1") is True  # another address is not held back
        first.release("198.51.100.7")
        await asyncio.sleep(addresses.FLUSH_DELAY + 0.3)
        assert await second.acquire("198.51.100.7") is True
        # first dies: once its heartbeat is older than three presence intervals, it no longer counts.
        stale = clock.time() - settings.MINXIN_PRESENCE_INTERVAL * 3 - 5
        client = redis.Redis.from_url(settings.REDIS_URL)
        client.hset(addresses.PROCESSES, "p1", f"{stale:.0f}")
        client.close()
        assert await second.acquire("198.51.100.7") is True
        assert second.local == {"198.51.100.7": 3}
    finally:
        await first.close()
        await second.close()


def test_the_pages_refuse_frames_over_the_same_limit_as_the_server():
    """static/js/socket.js refuses a frame the server would answer by closing the socket."""
    from pathlib import Path

    from django.conf import settings

    script = (Path(settings.BASE_DIR) / "static" / "js" / "socket.js").read_text()
    assert f"const MAX_FRAME_BYTES = {settings.MINXIN_MAX_FRAME_BYTES};" in script
    # 5,000 characters (the longest answer) fit whatever they are.
    assert (
        len(
            json.dumps(
                {"type": "answer", "client_id": "x" * 64, "question_id": 2**31, "text": "问" * 5000},
                ensure_ascii=False,
            ).encode()
        )
        < settings.MINXIN_MAX_FRAME_BYTES
    )
