"""The guests' and host's console /ws/studio/<id>/ (PROTOCOL.md §1.3), through the real asgi.py stack."""

import json

import pytest
from channels.db import database_sync_to_async

from moderation.actions import approve_question, reject_question
from moderation.asking import ask_question
from moderation.models import Question
from studio.models import Answer, Broadcast, BroadcastStatus, Event

from .conftest import make_broadcast

pytestmark = pytest.mark.django_db(transaction=True)


# --- helpers -------------------------------------------------------------------------------


async def next_frame(ws, wait: float = 5) -> dict:
    """The next frame, skipping the live-only presence counts that may reach viewers at any time."""
    while True:
        frame = json.loads(await ws.receive_from(timeout=wait))
        if frame["type"] != "presence":
            return frame


async def frames(ws, count: int) -> list[dict]:
    return [await next_frame(ws) for _ in range(count)]


async def open_studio(sockets, broadcast_id: int, user):
    """A console whose opening queue and status have been read; returns (socket, queue)."""
    ws = await sockets.open(f"/ws/studio/{broadcast_id}/", user=user)
    queue = await next_frame(ws)
    assert queue["type"] == "queue"
    assert (await next_frame(ws))["type"] == "status"  # PROTOCOL.md §4, right after the queue
    return ws, queue["questions"]


async def open_viewer(sockets, broadcast_id: int):
    ws = await sockets.open(f"/ws/live/{broadcast_id}/")
    assert (await next_frame(ws))["type"] == "hello"
    return ws


@database_sync_to_async
def ask(broadcast_id: int, text: str = "地铁末班车能否延后？", client_id: str = "q-1") -> int:
    question, _ = ask_question(broadcast_id, client_id, text, "乘客", "netizen-1", None)
    return question.pk


approve = database_sync_to_async(approve_question)


@database_sync_to_async
def count(model, **filters) -> int:
    return model.objects.filter(**filters).count()


@database_sync_to_async
def status_of(broadcast_id: int) -> str:
    return Broadcast.objects.get(pk=broadcast_id).status


@database_sync_to_async
def question_status(question_id: int) -> str:
    return Question.objects.get(pk=question_id).status


@database_sync_to_async
def scheduled_broadcast(personas) -> Broadcast:
    return make_broadcast("jtw", personas["host"], [personas["guest"]])


# --- who may open the console ---------------------------------------------------------------


async def test_an_anonymous_visitor_is_turned_away_with_4401(sockets, live_broadcast):
    ws = await sockets.open(f"/ws/studio/{live_broadcast.pk}/")
    assert await ws.receive_output(timeout=5) == {"type": "websocket.close", "code": 4401}


async def test_a_moderator_who_is_neither_guest_nor_host_is_turned_away_with_4403(
    sockets, live_broadcast, personas
):
    ws = await sockets.open(f"/ws/studio/{live_broadcast.pk}/", user=personas["moderator"])
    assert await ws.receive_output(timeout=5) == {"type": "websocket.close", "code": 4403}


async def test_a_guest_of_another_programme_is_turned_away_with_4403(
    sockets, live_broadcast, other_broadcast, personas
):
    ws = await sockets.open(f"/ws/studio/{live_broadcast.pk}/", user=personas["other_guest"])
    assert await ws.receive_output(timeout=5) == {"type": "websocket.close", "code": 4403}


async def test_an_unknown_programme_closes_the_console_with_4404(sockets, live_broadcast, personas):
    ws = await sockets.open("/ws/studio/999999/", user=personas["guest"])
    assert await ws.receive_output(timeout=5) == {"type": "websocket.close", "code": 4404}


async def test_the_console_answers_ping_with_pong(sockets, live_broadcast, personas):
    ws, _ = await open_studio(sockets, live_broadcast.pk, personas["host"])
    await ws.send_json_to({"type": "ping"})
    assert await next_frame(ws) == {"type": "pong"}


# --- the guests' queue ----------------------------------------------------------------------


async def test_a_guest_starts_with_an_empty_queue_and_is_pushed_each_approved_question(
    sockets, live_broadcast, personas
):
    ws, queue = await open_studio(sockets, live_broadcast.pk, personas["guest"])
    assert queue == []
    question_id = await ask(live_broadcast.pk, "<i>地铁</i>末班车能否延后？")
    await ws.receive_nothing(timeout=0.3)  # a pending question is not the guests' business yet
    await approve(live_broadcast.pk, question_id, publish=False)
    pushed = await next_frame(ws)
    assert pushed["type"] == "question.approved"
    question = pushed["question"]
    assert question["id"] == question_id
    assert question["status"] == "approved"
    assert question["text"] == "&lt;i&gt;地铁&lt;/i&gt;末班车能否延后？"
    assert question["nickname"] == "乘客"
    assert {"asked_at", "flags", "original_text"} <= set(question)


async def test_a_guest_joining_later_finds_only_approved_unanswered_questions_queued(
    sockets, live_broadcast, personas
):
    approved = await ask(live_broadcast.pk, "已通过", "q-1")
    await ask(live_broadcast.pk, "待审核", "q-2")
    rejected = await ask(live_broadcast.pk, "不通过", "q-3")
    await approve(live_broadcast.pk, approved, publish=False)
    await database_sync_to_async(reject_question)(live_broadcast.pk, rejected, "重复")
    _, queue = await open_studio(sockets, live_broadcast.pk, personas["guest"])
    assert [q["id"] for q in queue] == [approved]
    assert queue[0]["text"] == "已通过"


# --- answering ------------------------------------------------------------------------------


async def test_a_guest_answer_is_acknowledged_published_and_leaves_the_queue(
    sockets, live_broadcast, personas
):
    asker = await sockets.open(f"/ws/live/{live_broadcast.pk}/")
    assert (await next_frame(asker))["type"] == "hello"
    await asker.send_json_to({"type": "ask", "client_id": "q-1", "text": "地铁末班车能否延后？"})
    question_id = (await next_frame(asker))["question_id"]
    viewer = await open_viewer(sockets, live_broadcast.pk)
    guest, _ = await open_studio(sockets, live_broadcast.pk, personas["guest"])
    host, _ = await open_studio(sockets, live_broadcast.pk, personas["host"])
    await approve(live_broadcast.pk, question_id, publish=False)
    assert (await next_frame(guest))["type"] == "question.approved"
    assert (await next_frame(host))["type"] == "question.approved"
    assert (await next_frame(asker))["status"] == "approved"

    await guest.send_json_to(
        {"type": "answer", "client_id": "a-1", "question_id": question_id, "text": "正在研究延后方案"}
    )
    guest_frames = await frames(guest, 2)
    assert {"type": "ack", "ref": "a-1"} in guest_frames
    answered = next(f for f in guest_frames if f["type"] == "question.answered")
    assert answered["question_id"] == question_id
    # Every console drops it, not only the one that answered.
    assert (await next_frame(host)) == answered

    # Approved without publishing, the question joins the public log right before its answer.
    question_event, event = await frames(viewer, 2)
    assert question_event["kind"] == "question.published" and question_event["seq"] == 1
    assert question_event["data"]["question"]["id"] == question_id
    assert event["type"] == "event" and event["kind"] == "answer.posted" and event["seq"] == 2
    answer = event["data"]["answer"]
    assert answer["question_id"] == question_id
    assert answer["text"] == "正在研究延后方案"
    assert answer["guest"] == {"name": "张明", "title": "市交通委新闻发言人"}
    assert answer["id"] == answered["answer_id"] and answer["answered_at"]

    # The asker watches too: it sees the public answer and is told its question was answered.
    told = await frames(asker, 3)
    assert {"type": "my_question", "question_id": question_id, "status": "answered"} in told
    assert [f["seq"] for f in told if f["type"] == "event"] == [1, 2]
    assert await question_status(question_id) == "answered"
    _, queue = await open_studio(sockets, live_broadcast.pk, personas["guest"])
    assert queue == []


@database_sync_to_async
def published_state(question_id: int) -> tuple[int | None, list[tuple[int, str]]]:
    question = Question.objects.get(pk=question_id)
    log = Event.objects.filter(broadcast_id=question.broadcast_id).order_by("seq")
    return question.published_seq, [(e.seq, e.kind) for e in log]


async def test_an_answer_to_an_approved_unpublished_question_brings_its_masked_question_once(
    sockets, live_broadcast, personas
):
    question, _ = await database_sync_to_async(ask_question)(
        live_broadcast.pk, "q-phone", "我的电话13812345678，末班车能否延后？", "老王13812345678", "n-1", None
    )
    await approve(live_broadcast.pk, question.pk, publish=False)
    viewer = await open_viewer(sockets, live_broadcast.pk)
    guest, _ = await open_studio(sockets, live_broadcast.pk, personas["guest"])
    for client_id, text in (("a-1", "正在研究延后方案"), ("a-2", "补充：下月试行")):
        await guest.send_json_to(
            {"type": "answer", "client_id": client_id, "question_id": question.pk, "text": text}
        )
    published, first, second = await frames(viewer, 3)
    # The question's public text, masked by the same rule as a moderator's publish, then the answers.
    assert published["kind"] == "question.published" and published["seq"] == 1
    assert published["data"]["question"] == {
        "id": question.pk,
        "text": "我的电话138******78，末班车能否延后？",
        "nickname": "老王138******78",
        "asked_at": published["data"]["question"]["asked_at"],
    }
    assert [first["kind"], first["seq"], second["kind"], second["seq"]] == [
        "answer.posted",
        2,
        "answer.posted",
        3,
    ]
    assert first["data"]["answer"]["question_id"] == second["data"]["answer"]["question_id"] == question.pk
    await viewer.receive_nothing(timeout=0.3)  # the second answer did not publish it again
    published_seq, log = await published_state(question.pk)
    assert published_seq == 1
    assert log == [(1, "question.published"), (2, "answer.posted"), (3, "answer.posted")]


async def test_an_answer_to_a_published_question_does_not_publish_it_again(sockets, live_broadcast, personas):
    question_id = await ask(live_broadcast.pk)
    await approve(live_broadcast.pk, question_id, publish=True)
    guest, _ = await open_studio(sockets, live_broadcast.pk, personas["guest"])
    await guest.send_json_to({"type": "answer", "client_id": "a-1", "question_id": question_id, "text": "好"})
    assert {"type": "ack", "ref": "a-1"} in await frames(guest, 2)
    assert await published_state(question_id) == (1, [(1, "question.published"), (2, "answer.posted")])


async def test_a_guest_statement_without_a_question_is_published_with_null_question(
    sockets, live_broadcast, personas
):
    viewer = await open_viewer(sockets, live_broadcast.pk)
    guest, _ = await open_studio(sockets, live_broadcast.pk, personas["guest"])
    await guest.send_json_to(
        {"type": "answer", "client_id": "s-1", "question_id": None, "text": "<script>x</script>各位好"}
    )
    assert await next_frame(guest) == {"type": "ack", "ref": "s-1"}
    answer = (await next_frame(viewer))["data"]["answer"]
    assert answer["question_id"] is None
    assert "<script>" not in answer["text"] and "各位好" in answer["text"]


async def test_answering_a_question_still_waiting_for_screening_is_a_conflict(
    sockets, live_broadcast, personas
):
    question_id = await ask(live_broadcast.pk)
    viewer = await open_viewer(sockets, live_broadcast.pk)
    guest, _ = await open_studio(sockets, live_broadcast.pk, personas["guest"])
    await guest.send_json_to(
        {"type": "answer", "client_id": "a-1", "question_id": question_id, "text": "回答"}
    )
    error = await next_frame(guest)
    assert (
        error["type"] == "error"
        and error["code"] == "conflict"
        and error["ref"] == "a-1"
        and error["message"]
    )
    assert await count(Answer, broadcast_id=live_broadcast.pk) == 0
    assert await question_status(question_id) == "pending"
    await viewer.receive_nothing(timeout=0.3)


async def test_answering_an_unknown_question_is_not_found(sockets, live_broadcast, personas):
    guest, _ = await open_studio(sockets, live_broadcast.pk, personas["guest"])
    await guest.send_json_to({"type": "answer", "client_id": "a-1", "question_id": 987654, "text": "回答"})
    error = await next_frame(guest)
    assert error["type"] == "error" and error["code"] == "not_found" and error["ref"] == "a-1"
    assert await count(Answer, broadcast_id=live_broadcast.pk) == 0


async def test_answering_a_question_of_another_programme_is_not_found(
    sockets, live_broadcast, other_broadcast, personas
):
    foreign = await ask(other_broadcast.pk)
    await approve(other_broadcast.pk, foreign, publish=False)
    guest, _ = await open_studio(sockets, live_broadcast.pk, personas["guest"])
    await guest.send_json_to({"type": "answer", "client_id": "a-1", "question_id": foreign, "text": "回答"})
    assert (await next_frame(guest))["code"] == "not_found"
    assert await question_status(foreign) == "approved"


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(
            {"type": "answer", "client_id": "a-1", "question_id": "12", "text": "回答"},
            id="question_id as text",
        ),
        pytest.param(
            {"type": "answer", "client_id": "a-1", "question_id": True, "text": "回答"},
            id="question_id as bool",
        ),
        pytest.param({"type": "answer", "client_id": "a-1", "question_id": None}, id="no text"),
        pytest.param(
            {"type": "answer", "client_id": "a-1", "question_id": None, "text": 5}, id="text as number"
        ),
        pytest.param({"type": "ask", "client_id": "a-1", "text": "问"}, id="a viewer frame on the console"),
    ],
)
async def test_a_malformed_answer_is_a_bad_frame_and_the_console_stays_open(
    sockets, live_broadcast, personas, frame
):
    guest, _ = await open_studio(sockets, live_broadcast.pk, personas["guest"])
    await guest.send_json_to(frame)
    error = await next_frame(guest)
    assert error["type"] == "error" and error["code"] == "bad_frame" and error["ref"] == "a-1"
    assert await count(Answer, broadcast_id=live_broadcast.pk) == 0
    await guest.send_json_to({"type": "ping"})
    assert await next_frame(guest) == {"type": "pong"}


async def test_an_empty_answer_is_refused_as_empty(sockets, live_broadcast, personas):
    guest, _ = await open_studio(sockets, live_broadcast.pk, personas["guest"])
    await guest.send_json_to({"type": "answer", "client_id": "a-1", "question_id": None, "text": "  \n "})
    error = await next_frame(guest)
    assert error["code"] == "empty" and error["ref"] == "a-1"


async def test_resending_an_answer_stores_and_publishes_it_once_but_acknowledges_both(
    sockets, live_broadcast, personas
):
    viewer = await open_viewer(sockets, live_broadcast.pk)
    guest, _ = await open_studio(sockets, live_broadcast.pk, personas["guest"])
    frame = {"type": "answer", "client_id": "same", "question_id": None, "text": "只说一次"}
    await guest.send_json_to(frame)
    assert await next_frame(guest) == {"type": "ack", "ref": "same"}
    await guest.send_json_to(frame)
    assert await next_frame(guest) == {"type": "ack", "ref": "same"}
    assert await count(Answer, broadcast_id=live_broadcast.pk) == 1
    assert (await next_frame(viewer))["seq"] == 1
    await viewer.receive_nothing(timeout=0.3)


async def test_the_host_cannot_answer_as_a_guest(sockets, live_broadcast, personas):
    host, _ = await open_studio(sockets, live_broadcast.pk, personas["host"])
    await host.send_json_to({"type": "answer", "client_id": "a-1", "question_id": None, "text": "我来答"})
    error = await next_frame(host)
    assert error["code"] == "forbidden" and error["ref"] == "a-1"
    assert await count(Answer, broadcast_id=live_broadcast.pk) == 0


# --- the host -------------------------------------------------------------------------------


async def test_a_host_message_is_published_to_viewers(sockets, live_broadcast, personas):
    viewer = await open_viewer(sockets, live_broadcast.pk)
    host, _ = await open_studio(sockets, live_broadcast.pk, personas["host"])
    await host.send_json_to({"type": "host.message", "client_id": "h-1", "text": "欢迎收看本期节目"})
    assert await next_frame(host) == {"type": "ack", "ref": "h-1"}
    event = await next_frame(viewer)
    assert event["type"] == "event" and event["kind"] == "host.message" and event["seq"] == 1
    message = event["data"]["message"]
    assert message["text"] == "欢迎收看本期节目" and message["author"] == "李主持" and message["id"]
    # Idempotent on client_id like ask.
    await host.send_json_to({"type": "host.message", "client_id": "h-1", "text": "欢迎收看本期节目"})
    assert await next_frame(host) == {"type": "ack", "ref": "h-1"}
    await viewer.receive_nothing(timeout=0.3)


async def test_a_guest_cannot_post_host_messages(sockets, live_broadcast, personas):
    viewer = await open_viewer(sockets, live_broadcast.pk)
    guest, _ = await open_studio(sockets, live_broadcast.pk, personas["guest"])
    await guest.send_json_to({"type": "host.message", "client_id": "h-1", "text": "我不是主持人"})
    error = await next_frame(guest)
    assert error["code"] == "forbidden" and error["ref"] == "h-1"
    await viewer.receive_nothing(timeout=0.3)


async def test_the_host_starts_and_ends_the_programme_and_viewers_are_told(sockets, personas):
    broadcast = await scheduled_broadcast(personas)
    viewer = await open_viewer(sockets, broadcast.pk)
    host, _ = await open_studio(sockets, broadcast.pk, personas["host"])

    await host.send_json_to({"type": "start", "action_id": "go"})
    assert await next_frame(host) == {"type": "ack", "ref": "go"}
    assert await next_frame(host) == {"type": "status", "status": "live"}
    started = await next_frame(viewer)
    assert (
        started["kind"] == "broadcast.status"
        and started["data"] == {"status": "live"}
        and started["seq"] == 1
    )
    assert await status_of(broadcast.pk) == "live"

    await host.send_json_to({"type": "end", "action_id": "stop"})
    assert await next_frame(host) == {"type": "ack", "ref": "stop"}
    assert await next_frame(host) == {"type": "status", "status": "ended"}
    ended = await next_frame(viewer)
    assert ended["kind"] == "broadcast.status" and ended["data"] == {"status": "ended"} and ended["seq"] == 2
    assert await status_of(broadcast.pk) == "ended"

    # A viewer arriving now is told the programme has ended.
    late = await sockets.open(f"/ws/live/{broadcast.pk}/")
    hello = await next_frame(late)
    assert hello["broadcast"]["status"] == "ended" and hello["last_seq"] == 2


async def test_a_guest_cannot_start_the_programme(sockets, personas):
    broadcast = await scheduled_broadcast(personas)
    guest, _ = await open_studio(sockets, broadcast.pk, personas["guest"])
    await guest.send_json_to({"type": "start", "action_id": "go"})
    error = await next_frame(guest)
    assert error["type"] == "error" and error["code"] == "forbidden" and error["ref"] == "go"
    assert await status_of(broadcast.pk) == "scheduled"
    assert await count(Event, broadcast_id=broadcast.pk) == 0


async def test_ending_twice_is_harmless(sockets, live_broadcast, personas):
    viewer = await open_viewer(sockets, live_broadcast.pk)
    host, _ = await open_studio(sockets, live_broadcast.pk, personas["host"])
    await host.send_json_to({"type": "end", "action_id": "e-1"})
    assert await next_frame(host) == {"type": "ack", "ref": "e-1"}
    assert await next_frame(host) == {"type": "status", "status": "ended"}
    await host.send_json_to({"type": "end", "action_id": "e-2"})
    assert await next_frame(host) == {"type": "ack", "ref": "e-2"}
    await host.receive_nothing(timeout=0.3)  # nothing changed: no second status push
    assert (await next_frame(viewer))["data"] == {"status": "ended"}
    await viewer.receive_nothing(timeout=0.3)
    assert await count(Event, broadcast_id=live_broadcast.pk) == 1
    assert await status_of(live_broadcast.pk) == BroadcastStatus.ENDED


async def test_after_the_end_nobody_can_ask_or_answer(sockets, live_broadcast, personas):
    approved = await ask(live_broadcast.pk)
    await approve(live_broadcast.pk, approved, publish=False)
    viewer = await open_viewer(sockets, live_broadcast.pk)
    guest, _ = await open_studio(sockets, live_broadcast.pk, personas["guest"])
    host, _ = await open_studio(sockets, live_broadcast.pk, personas["host"])
    await host.send_json_to({"type": "end", "action_id": "e-1"})
    assert await next_frame(host) == {"type": "ack", "ref": "e-1"}
    assert await next_frame(host) == {"type": "status", "status": "ended"}
    assert await next_frame(guest) == {"type": "status", "status": "ended"}  # every console is told
    assert (await next_frame(viewer))["data"] == {"status": "ended"}

    await viewer.send_json_to({"type": "ask", "client_id": "late-q", "text": "还来得及吗？"})
    error = await next_frame(viewer)
    assert error["type"] == "error" and error["code"] == "closed" and error["ref"] == "late-q"
    assert await count(Question, broadcast_id=live_broadcast.pk) == 1

    await guest.send_json_to(
        {"type": "answer", "client_id": "late-a", "question_id": approved, "text": "补充回答"}
    )
    error = await next_frame(guest)
    assert error["type"] == "error" and error["code"] == "closed" and error["ref"] == "late-a"
    assert await count(Answer, broadcast_id=live_broadcast.pk) == 0

    await host.send_json_to({"type": "host.message", "client_id": "late-h", "text": "再见"})
    assert (await next_frame(host))["code"] == "closed"
    await viewer.receive_nothing(timeout=0.3)


async def test_an_ended_programme_cannot_be_started_again(sockets, live_broadcast, personas):
    host, _ = await open_studio(sockets, live_broadcast.pk, personas["host"])
    await host.send_json_to({"type": "end", "action_id": "e-1"})
    assert await next_frame(host) == {"type": "ack", "ref": "e-1"}
    assert await next_frame(host) == {"type": "status", "status": "ended"}
    await host.send_json_to({"type": "start", "action_id": "s-1"})
    error = await next_frame(host)
    assert error["code"] == "conflict" and error["ref"] == "s-1"
    assert await status_of(live_broadcast.pk) == "ended"


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param({"type": "start", "action_id": "go\ud800"}, id="start"),
        pytest.param(
            {"type": "answer", "client_id": "a\udfff", "question_id": None, "text": "答"}, id="answer"
        ),
        pytest.param({"type": "host.message", "client_id": "\ud800", "text": "大家好"}, id="host.message"),
    ],
)
async def test_an_id_with_a_lone_surrogate_is_refused_unchanged_and_the_console_stays_open(
    sockets, live_broadcast, personas, frame
):
    """Issue #13: the ack or error echoed the id, which cannot be encoded, and daphne closed the
    socket with 1011 — after the change was made. Now nothing changes and the socket stays."""
    await database_sync_to_async(Broadcast.objects.filter(pk=live_broadcast.pk).update)(status="scheduled")
    host, _ = await open_studio(sockets, live_broadcast.pk, personas["host"])
    await host.send_json_to(frame)  # json.dumps escapes the surrogate; the server's json.loads restores it
    error = await next_frame(host)
    assert error["type"] == "error" and error["code"] == "bad_frame" and "ref" not in error
    assert await status_of(live_broadcast.pk) == "scheduled"
    assert await count(Answer, broadcast_id=live_broadcast.pk) == 0
    assert await count(Event, broadcast_id=live_broadcast.pk) == 0
    await host.send_json_to({"type": "ping"})
    assert await next_frame(host) == {"type": "pong"}
