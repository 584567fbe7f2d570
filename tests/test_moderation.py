"""The moderators' console /ws/moderate/<id>/ (PROTOCOL.md §1.2) and the question services behind it:
permissions, the live queue, approve/reject/merge/edit/withdraw, several moderators at once, automatic
screening, suggested duplicates, rate limits, the audit trail and 附议 (support).
"""

import asyncio
import csv
import io
import json
import time
import uuid

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from core.errors import ServiceError
from moderation import asking, screening
from moderation.actions import approve_question, reject_question, withdraw_event
from moderation.asking import AskRequest, ask_question, ask_questions
from moderation.models import BannedWord, BannedWordList, ModerationAction, Question, Support
from moderation.shapes import studio_queue
from studio import services as studio
from studio.models import Broadcast, Event

from .conftest import make_broadcast, make_staff, netizen_cookie, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)

VALID_ID = "11010519491231002X"


# --- helpers -------------------------------------------------------------------------------


async def next_frame(ws, wait: float = 5) -> dict:
    """The next frame, skipping the live-only presence counts that may reach viewers at any time."""
    while True:
        frame = json.loads(await ws.receive_from(timeout=wait))
        if frame["type"] != "presence":
            return frame


async def frames(ws, count: int) -> list[dict]:
    return [await next_frame(ws) for _ in range(count)]


async def reply(ws, ref: str | None) -> dict:
    """The ack or error answering the frame with this ref, skipping pushes that arrive meanwhile."""
    while True:
        frame = await next_frame(ws)
        if frame["type"] in ("ack", "error") and frame.get("ref") == ref:
            return frame


async def act(ws, frame: dict) -> dict:
    await ws.send_json_to(frame)
    return await reply(ws, frame.get("action_id"))


async def wait_for(ws, kind: str, wait: float = 5) -> dict:
    """The next frame of one type, skipping others (e.g. pushes about other questions)."""
    while True:
        frame = await next_frame(ws, wait)
        if frame["type"] == kind:
            return frame


async def assert_still_open(ws) -> None:
    await ws.send_json_to({"type": "ping"})
    assert await wait_for(ws, "pong") == {"type": "pong"}


async def open_console(sockets, broadcast_id: int, user) -> tuple:
    """A moderator console whose opening queue has been read; returns (socket, queue)."""
    ws = await sockets.open(f"/ws/moderate/{broadcast_id}/", user=user)
    queue = await next_frame(ws)
    assert queue["type"] == "queue"
    assert (await next_frame(ws))["type"] == "public"  # what is public now (PROTOCOL.md §4)
    return ws, queue["questions"]


async def open_viewer(sockets, broadcast_id: int, headers: list | None = None):
    ws = await sockets.open(f"/ws/live/{broadcast_id}/", headers=headers)
    assert (await next_frame(ws))["type"] == "hello"
    return ws


def ask_frame(text: str = "地铁末班车能否延后？", client_id: str | None = None, **extra) -> dict:
    return {"type": "ask", "client_id": client_id or uuid.uuid4().hex, "text": text, **extra}


async def ask_over_socket(ws, text: str = "地铁末班车能否延后？", **extra) -> int:
    await ws.send_json_to(ask_frame(text, **extra))
    ok = await next_frame(ws)
    assert ok["type"] == "ask.ok", ok
    return ok["question_id"]


def ask_now(broadcast_id: int, text: str = "地铁末班车能否延后？", netizen: str = "netizen-1") -> int:
    question, _ = ask_question(broadcast_id, uuid.uuid4().hex, text, "乘客", netizen, None)
    return question.pk


ask = database_sync_to_async(ask_now)
approve = database_sync_to_async(approve_question)
reject = database_sync_to_async(reject_question)


@database_sync_to_async
def question(question_id: int) -> Question:
    return Question.objects.get(pk=question_id)


@database_sync_to_async
def actions_of(question_id: int) -> list[ModerationAction]:
    return list(ModerationAction.objects.filter(question_id=question_id).order_by("at", "id"))


@database_sync_to_async
def event_kinds(broadcast_id: int) -> list[tuple[int, str]]:
    return list(Event.objects.filter(broadcast_id=broadcast_id).order_by("seq").values_list("seq", "kind"))


@database_sync_to_async
def db_state() -> tuple:
    """Everything a moderator action could change."""
    return (
        list(
            Question.objects.order_by("id").values(
                "id", "status", "text", "original_text", "reason", "merged_into", "published_seq", "flags"
            )
        ),
        list(
            Event.objects.order_by("broadcast_id", "seq").values_list("broadcast_id", "seq", "kind", "data")
        ),
        list(Broadcast.objects.order_by("id").values_list("id", "last_seq")),
        ModerationAction.objects.count(),
    )


@database_sync_to_async
def http(method: str, path: str, client: Client | None = None, **kwargs):
    return getattr(client or Client(), method)(path, **kwargs)


def post_question(client: Client, broadcast_id: int, body: dict):
    return client.post(
        f"/api/broadcasts/{broadcast_id}/questions/",
        data=json.dumps(body, ensure_ascii=False),
        content_type="application/json",
    )


def anonymous_session(client: Client, broadcast_id: int) -> str:
    """The identity a netizen's browser gets on the live page (GET /api/netizen/, which the
    page asks before the first question or 附议); returns the Cookie header's `name=value`."""
    return netizen_cookie(client, broadcast_id)


async def fresh_window(window: int = 60, needed: float = 5.0) -> None:
    """Rate limits count in fixed windows: start a counting test with time to spare in one."""
    left = window - time.time() % window
    if left < needed:
        await asyncio.sleep(left + 0.05)


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture
def second_moderator(personas):
    return make_staff("mike", "moderator", name="米克")


@pytest.fixture
def word_lists(db):
    """A block list with 赌博 and BadWord, a review list with 拆迁; every automaton rebuilds before and after."""
    blocked = BannedWordList.objects.create(name="违法", level="block")
    review = BannedWordList.objects.create(name="敏感", level="review")
    BannedWord.objects.create(word_list=blocked, word="赌博")
    BannedWord.objects.create(word_list=blocked, word="BadWord")
    BannedWord.objects.create(word_list=review, word="拆迁")
    screening.words_changed()
    yield blocked, review
    screening.words_changed()


# --- who may open the console ---------------------------------------------------------------


async def test_an_anonymous_visitor_is_turned_away_with_4401(sockets, live_broadcast):
    ws = await sockets.open(f"/ws/moderate/{live_broadcast.pk}/")
    assert await ws.receive_output(timeout=5) == {"type": "websocket.close", "code": 4401}


@pytest.mark.parametrize("persona", ["guest", "host", "handler_a", "operator", "supervisor"])
async def test_staff_without_the_moderator_role_are_turned_away_with_4403(
    sockets, live_broadcast, personas, persona
):
    ws = await sockets.open(f"/ws/moderate/{live_broadcast.pk}/", user=personas[persona])
    assert await ws.receive_output(timeout=5) == {"type": "websocket.close", "code": 4403}


async def test_any_moderator_may_screen_a_programme_that_names_none(
    sockets, live_broadcast, personas, second_moderator
):
    for user in (personas["moderator"], second_moderator):
        _ws, queue = await open_console(sockets, live_broadcast.pk, user)
        assert queue == []


async def test_a_moderator_not_named_by_the_programme_is_turned_away_with_4403(
    sockets, live_broadcast, personas, second_moderator
):
    await database_sync_to_async(live_broadcast.moderators.add)(second_moderator)
    ws = await sockets.open(f"/ws/moderate/{live_broadcast.pk}/", user=personas["moderator"])
    assert await ws.receive_output(timeout=5) == {"type": "websocket.close", "code": 4403}
    _named, queue = await open_console(sockets, live_broadcast.pk, second_moderator)
    assert queue == []


async def test_an_unknown_programme_closes_the_console_with_4404(sockets, live_broadcast, personas):
    ws = await sockets.open(f"/ws/moderate/{live_broadcast.pk + 100}/", user=personas["moderator"])
    assert await ws.receive_output(timeout=5) == {"type": "websocket.close", "code": 4404}


def test_the_console_page_opens_only_for_the_programmes_moderators(
    live_broadcast, personas, second_moderator
):
    live_broadcast.moderators.add(second_moderator)
    client = Client()
    client.force_login(second_moderator)
    assert client.get(f"/moderate/{live_broadcast.pk}/").status_code == 200
    client.force_login(personas["moderator"])
    assert client.get(f"/moderate/{live_broadcast.pk}/").status_code == 404


# --- the queue -----------------------------------------------------------------------------


async def test_the_console_opens_with_every_question_still_waiting_oldest_first(
    sockets, live_broadcast, other_broadcast, personas
):
    first = await ask(live_broadcast.pk, "地铁末班车能否延后？")
    done = await ask(live_broadcast.pk, "公交站台能否加装遮阳棚？")
    last = await ask(live_broadcast.pk, "共享单车乱停放谁来管？")
    await ask(other_broadcast.pk, "汛期积水点有哪些？")
    await approve(live_broadcast.pk, done, False)
    _ws, queue = await open_console(sockets, live_broadcast.pk, personas["moderator"])
    assert [q["id"] for q in queue] == [first, last]
    waiting = queue[0]
    assert {"id", "text", "nickname", "asked_at", "status", "flags", "original_text"} <= waiting.keys()
    assert waiting["text"] == waiting["original_text"] == "地铁末班车能否延后？"
    assert waiting["nickname"] == "乘客" and waiting["status"] == "pending" and waiting["flags"] == []
    assert waiting["asked_at"].endswith("+08:00")


async def test_a_question_asked_by_a_netizen_reaches_the_console_within_a_second(
    sockets, live_broadcast, personas
):
    console, _ = await open_console(sockets, live_broadcast.pk, personas["moderator"])
    netizen = await open_viewer(sockets, live_broadcast.pk)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await netizen.send_json_to(ask_frame("地铁<末班车>能否延后？", nickname="夜归人"))
    pushed = await next_frame(console, wait=1)
    assert loop.time() - started < 1
    assert pushed["type"] == "question.new"
    assert pushed["question"]["text"] == "地铁&lt;末班车&gt;能否延后？"
    assert pushed["question"]["nickname"] == "夜归人" and pushed["question"]["status"] == "pending"
    ok = await wait_for(netizen, "ask.ok")
    assert pushed["question"]["id"] == ok["question_id"]


async def test_a_resent_question_is_not_pushed_to_the_console_twice(sockets, live_broadcast, personas):
    console, _ = await open_console(sockets, live_broadcast.pk, personas["moderator"])
    netizen = await open_viewer(sockets, live_broadcast.pk)
    frame = ask_frame("同一个问题")
    for _ in range(2):
        await netizen.send_json_to(frame)
        await wait_for(netizen, "ask.ok")
    assert (await next_frame(console))["type"] == "question.new"
    await console.receive_nothing(timeout=0.3)


async def test_questions_of_another_programme_never_reach_the_console(
    sockets, live_broadcast, other_broadcast, personas
):
    console, _ = await open_console(sockets, live_broadcast.pk, personas["moderator"])
    await ask(other_broadcast.pk, "汛期积水点有哪些？")
    await console.receive_nothing(timeout=0.3)


# --- the actions ---------------------------------------------------------------------------


async def test_approving_with_publish_shows_the_question_to_viewers_and_queues_it_for_guests(
    sockets, live_broadcast, personas
):
    qid = await ask(live_broadcast.pk, "地铁末班车能否延后？")
    console, _ = await open_console(sockets, live_broadcast.pk, personas["moderator"])
    viewer = await open_viewer(sockets, live_broadcast.pk)
    studio_ws = await sockets.open(f"/ws/studio/{live_broadcast.pk}/", user=personas["guest"])
    assert (await next_frame(studio_ws)) == {"type": "queue", "questions": []}
    assert (await next_frame(studio_ws)) == {"type": "status", "status": "live"}

    answer = await act(console, {"type": "approve", "action_id": "a1", "question_id": qid, "publish": True})
    assert answer == {"type": "ack", "ref": "a1"}
    event = await next_frame(viewer)
    assert event["type"] == "event" and event["kind"] == "question.published" and event["seq"] == 1
    assert event["data"]["question"]["id"] == qid
    assert event["data"]["question"]["text"] == "地铁末班车能否延后？"
    queued = await next_frame(studio_ws)
    assert queued["type"] == "question.approved" and queued["question"]["id"] == qid
    stored = await question(qid)
    assert stored.status == "approved" and stored.published_seq == 1


@pytest.mark.parametrize("kind", ["approve", "reject", "withdraw"])
async def test_an_action_id_with_a_lone_surrogate_is_refused_unchanged_and_the_console_stays_open(
    sockets, live_broadcast, personas, kind
):
    """Issue #13: the ack echoed the action_id, which cannot be encoded as UTF-8, so daphne closed
    the console with 1011 after the question had already been approved."""
    qid = await ask(live_broadcast.pk, "地铁末班车能否延后？")
    console, _ = await open_console(sockets, live_broadcast.pk, personas["moderator"])
    before = await db_state()
    frame = {"type": kind, "action_id": "a\ud800", "question_id": qid, "publish": True, "seq": 1}
    await console.send_json_to(frame)
    error = await wait_for(console, "error")
    assert error["code"] == "bad_frame" and "ref" not in error
    assert await db_state() == before
    await assert_still_open(console)


async def test_approving_without_publish_queues_it_for_guests_but_shows_viewers_nothing(
    sockets, live_broadcast, personas
):
    qid = await ask(live_broadcast.pk)
    console, _ = await open_console(sockets, live_broadcast.pk, personas["moderator"])
    viewer = await open_viewer(sockets, live_broadcast.pk)
    answer = await act(console, {"type": "approve", "action_id": "a1", "question_id": qid, "publish": False})
    assert answer == {"type": "ack", "ref": "a1"}
    await viewer.receive_nothing(timeout=0.3)
    stored = await question(qid)
    assert stored.status == "approved" and stored.published_seq is None
    assert await event_kinds(live_broadcast.pk) == []
    assert [q["id"] for q in await database_sync_to_async(studio_queue)(live_broadcast.pk)] == [qid]


async def test_rejecting_with_a_reason_takes_the_question_off_the_queue(sockets, live_broadcast, personas):
    qid = await ask(live_broadcast.pk)
    console, _ = await open_console(sockets, live_broadcast.pk, personas["moderator"])
    answer = await act(
        console, {"type": "reject", "action_id": "r1", "question_id": qid, "reason": "与本期主题无关"}
    )
    assert answer == {"type": "ack", "ref": "r1"}
    stored = await question(qid)
    assert stored.status == "rejected" and stored.reason == "与本期主题无关"
    _again, queue = await open_console(sockets, live_broadcast.pk, personas["moderator"])
    assert queue == []


async def test_a_reason_of_exactly_200_characters_is_accepted(sockets, live_broadcast, personas):
    qid = await ask(live_broadcast.pk)
    console, _ = await open_console(sockets, live_broadcast.pk, personas["moderator"])
    answer = await act(
        console, {"type": "reject", "action_id": "r1", "question_id": qid, "reason": "理" * 200}
    )
    assert answer == {"type": "ack", "ref": "r1"}
    assert (await question(qid)).reason == "理" * 200


async def test_merging_marks_a_duplicate_of_an_earlier_question(sockets, live_broadcast, personas):
    earlier = await ask(live_broadcast.pk, "地铁末班车能否延后？")
    duplicate = await ask(live_broadcast.pk, "末班地铁可以晚点吗？")
    console, _ = await open_console(sockets, live_broadcast.pk, personas["moderator"])
    answer = await act(
        console, {"type": "merge", "action_id": "m1", "question_id": duplicate, "into": earlier}
    )
    assert answer == {"type": "ack", "ref": "m1"}
    stored = await question(duplicate)
    assert stored.status == "merged" and stored.merged_into_id == earlier
    assert (await question(earlier)).status == "pending"


async def test_editing_changes_the_text_but_keeps_the_original_on_record(sockets, live_broadcast, personas):
    qid = await ask(live_broadcast.pk, "我家电话13812345678，公交站离家太远")
    console, queue = await open_console(sockets, live_broadcast.pk, personas["moderator"])
    assert queue[0]["flags"] == ["personal_data"]
    answer = await act(
        console, {"type": "edit", "action_id": "e1", "question_id": qid, "text": "公交站离家太远"}
    )
    assert answer == {"type": "ack", "ref": "e1"}
    stored = await question(qid)
    assert stored.text == "公交站离家太远" and stored.original_text == "我家电话13812345678，公交站离家太远"
    assert stored.status == "pending" and stored.flags == []
    _again, queue = await open_console(sockets, live_broadcast.pk, personas["moderator"])
    assert queue[0]["text"] == "公交站离家太远"
    assert queue[0]["original_text"] == "我家电话13812345678，公交站离家太远"
    # What is published afterwards is the edited text.
    await act(console, {"type": "approve", "action_id": "a1", "question_id": qid, "publish": True})
    events = (await http("get", f"/api/broadcasts/{live_broadcast.pk}/events/")).json()["events"]
    assert events[0]["data"]["question"]["text"] == "公交站离家太远"


async def test_withdrawing_a_published_question_appends_a_withdrawn_event_for_viewers(
    sockets, live_broadcast, personas
):
    qid = await ask(live_broadcast.pk)
    await approve(live_broadcast.pk, qid, True)
    console, _ = await open_console(sockets, live_broadcast.pk, personas["moderator"])
    viewer = await open_viewer(sockets, live_broadcast.pk)
    answer = await act(console, {"type": "withdraw", "action_id": "w1", "seq": 1})
    assert answer == {"type": "ack", "ref": "w1"}
    event = await next_frame(viewer)
    assert event["type"] == "event" and event["seq"] == 2
    assert event["kind"] == "withdrawn" and event["data"] == {"seq": 1}
    assert await event_kinds(live_broadcast.pk) == [(1, "question.published"), (2, "withdrawn")]


async def test_a_guest_answer_can_be_withdrawn_too(sockets, live_broadcast, personas):
    await database_sync_to_async(studio.post_answer)(
        live_broadcast.pk, personas["guest"], "a-1", None, "说错了"
    )
    console, _ = await open_console(sockets, live_broadcast.pk, personas["moderator"])
    assert await act(console, {"type": "withdraw", "action_id": "w1", "seq": 1}) == {
        "type": "ack",
        "ref": "w1",
    }
    assert await event_kinds(live_broadcast.pk) == [(1, "answer.posted"), (2, "withdrawn")]


async def test_a_console_lists_what_is_public_on_connect_and_every_later_public_event_as_it_happens(
    sockets, live_broadcast, personas, second_moderator
):
    kept, taken_down = (
        await ask(live_broadcast.pk, "地铁末班车能否延后？"),
        await ask(live_broadcast.pk, "公交呢"),
    )
    await approve(live_broadcast.pk, kept, True)  # seq 1
    await approve(live_broadcast.pk, taken_down, True)  # seq 2
    await database_sync_to_async(studio.post_answer)(live_broadcast.pk, personas["guest"], "a-1", kept, "会")
    await database_sync_to_async(withdraw_event)(live_broadcast.pk, 2)  # seq 4
    ws = await sockets.open(f"/ws/moderate/{live_broadcast.pk}/", user=personas["moderator"])
    assert (await next_frame(ws))["type"] == "queue"
    public = await next_frame(ws)
    # Questions, answers, statements and host messages still shown; no withdrawn one, no withdrawal.
    assert [(e["seq"], e["kind"]) for e in public["events"]] == [
        (1, "question.published"),
        (3, "answer.posted"),
    ]
    assert public["events"][0]["data"]["question"]["id"] == kept and public["support"] == {}

    # Another moderator withdraws the answer: this console is told with the live socket's frame.
    other, _ = await open_console(sockets, live_broadcast.pk, second_moderator)
    assert (await act(other, {"type": "withdraw", "action_id": "w1", "seq": 3}))["type"] == "ack"
    pushed = await wait_for(ws, "event")
    assert (pushed["seq"], pushed["kind"], pushed["data"]) == (5, "withdrawn", {"seq": 3})
    message = await database_sync_to_async(studio.post_host_message)(
        live_broadcast.pk, personas["host"], "h-1", "欢迎收看"
    )
    pushed = await wait_for(ws, "event")
    assert (pushed["seq"], pushed["kind"]) == (message.seq, "host.message")
    assert await ws.receive_nothing(timeout=0.5)


async def test_a_question_approved_by_one_moderator_cannot_be_rejected_by_another(
    sockets, live_broadcast, personas, second_moderator
):
    qid = await ask(live_broadcast.pk)
    first, _ = await open_console(sockets, live_broadcast.pk, personas["moderator"])
    second, _ = await open_console(sockets, live_broadcast.pk, second_moderator)
    assert (await act(first, {"type": "approve", "action_id": "a1", "question_id": qid}))["type"] == "ack"
    refused = await act(second, {"type": "reject", "action_id": "r1", "question_id": qid, "reason": "重复"})
    assert refused["type"] == "error" and refused["code"] == "conflict" and refused["ref"] == "r1"
    stored = await question(qid)
    assert stored.status == "approved" and stored.reason == ""
    assert [a.action for a in await actions_of(qid)] == ["approve"]


# --- several moderators --------------------------------------------------------------------


async def test_each_moderator_sees_the_others_actions_live_with_who_did_them(
    sockets, live_broadcast, personas, second_moderator
):
    approved = await ask(live_broadcast.pk, "地铁末班车能否延后？")
    edited = await ask(live_broadcast.pk, "公交站太远了")
    mona, _ = await open_console(sockets, live_broadcast.pk, personas["moderator"])
    mike, _ = await open_console(sockets, live_broadcast.pk, second_moderator)

    await act(mona, {"type": "approve", "action_id": "a1", "question_id": approved, "publish": True})
    shown = await next_frame(mike)  # the public event reaches every console too (PROTOCOL.md §4)
    assert shown["type"] == "event" and shown["data"]["question"]["id"] == approved
    seen = await next_frame(mike)
    assert seen["type"] == "question.updated" and seen["by"] == "mona"
    assert seen["question"]["id"] == approved and seen["question"]["status"] == "approved"

    await act(mike, {"type": "edit", "action_id": "e1", "question_id": edited, "text": "公交站离小区太远"})
    seen = await wait_for(mona, "question.updated")
    while seen["question"]["id"] != edited:  # mona's own approval may come back first
        seen = await wait_for(mona, "question.updated")
    assert seen["by"] == "mike"
    assert (
        seen["question"]["text"] == "公交站离小区太远" and seen["question"]["original_text"] == "公交站太远了"
    )


async def test_an_answered_question_is_reported_to_the_moderators(sockets, live_broadcast, personas):
    qid = await ask(live_broadcast.pk)
    await approve(live_broadcast.pk, qid, False)
    console, _ = await open_console(sockets, live_broadcast.pk, personas["moderator"])
    await database_sync_to_async(studio.post_answer)(
        live_broadcast.pk, personas["guest"], "a-1", qid, "会延后"
    )
    # Approved without publishing, the question is published with its answer, right before it; both
    # are public now, so the console's list gets both (PROTOCOL.md §4).
    published = await next_frame(console)
    assert published["type"] == "event" and published["kind"] == "question.published"
    assert published["data"]["question"]["id"] == qid
    shown = await next_frame(console)
    assert shown["type"] == "event" and shown["kind"] == "answer.posted"
    assert shown["data"]["answer"]["question_id"] == qid and shown["seq"] == published["seq"] + 1
    seen = await next_frame(console)
    assert seen["type"] == "question.updated" and seen["question"]["status"] == "answered"


@pytest.mark.postgres
async def test_two_moderators_acting_at_once_on_one_question_the_first_wins_and_the_second_conflicts(
    sockets, live_broadcast, personas, second_moderator
):
    mona, _ = await open_console(sockets, live_broadcast.pk, personas["moderator"])
    mike, _ = await open_console(sockets, live_broadcast.pk, second_moderator)

    async def send_and_reply(ws, frame):
        await ws.send_json_to(frame)
        return await reply(ws, frame["action_id"])

    for round_ in range(5):
        qid = await ask(live_broadcast.pk, f"第{round_}个问题：地铁末班车能否延后？")
        approving = {"type": "approve", "action_id": f"a{round_}", "question_id": qid, "publish": True}
        rejecting = {"type": "reject", "action_id": f"r{round_}", "question_id": qid, "reason": "重复"}
        answers = await asyncio.gather(send_and_reply(mona, approving), send_and_reply(mike, rejecting))
        assert sorted(a["type"] for a in answers) == ["ack", "error"]
        refused = next(a for a in answers if a["type"] == "error")
        assert refused["code"] == "conflict"
        winner = next(a for a in answers if a["type"] == "ack")
        stored = await question(qid)
        actions = await actions_of(qid)
        assert len(actions) == 1
        if winner["ref"] == approving["action_id"]:
            assert stored.status == "approved" and stored.published_seq is not None and stored.reason == ""
            assert actions[0].action == "approve_publish" and actions[0].by == "mona"
        else:
            assert stored.status == "rejected" and stored.published_seq is None
            assert actions[0].action == "reject" and actions[0].by == "mike"
    # Only the approvals that won were published, each once, with gap-free seqs.
    kinds = await event_kinds(live_broadcast.pk)
    published = await database_sync_to_async(
        lambda: Question.objects.filter(broadcast=live_broadcast, status="approved").count()
    )()
    assert [seq for seq, _ in kinds] == list(range(1, published + 1))


@pytest.mark.postgres
@pytest.mark.processes
async def test_two_moderators_on_two_server_processes_racing_for_each_question_never_both_win(
    daphne, live_broadcast, personas, second_moderator
):
    from websockets.asyncio.client import connect

    servers = [daphne(), daphne()]
    cookies = [
        await database_sync_to_async(session_cookie)(user)
        for user in (personas["moderator"], second_moderator)
    ]

    async def reply_over(ws, ref):
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
            if frame["type"] in ("ack", "error") and frame.get("ref") == ref:
                return frame

    async def send_and_reply(ws, frame):
        await ws.send(json.dumps(frame))
        return await reply_over(ws, frame["action_id"])

    path = f"/ws/moderate/{live_broadcast.pk}/"
    async with (
        connect(
            servers[0].ws + path, origin=servers[0].url, additional_headers={"Cookie": cookies[0].decode()}
        ) as a,
        connect(
            servers[1].ws + path, origin=servers[1].url, additional_headers={"Cookie": cookies[1].decode()}
        ) as b,
    ):
        for ws in (a, b):
            assert json.loads(await asyncio.wait_for(ws.recv(), timeout=10))["type"] == "queue"
        for round_ in range(10):
            qid = await ask(live_broadcast.pk, f"问题{round_}")
            answers = await asyncio.gather(
                send_and_reply(
                    a, {"type": "approve", "action_id": f"a{round_}", "question_id": qid, "publish": True}
                ),
                send_and_reply(
                    b, {"type": "reject", "action_id": f"r{round_}", "question_id": qid, "reason": "x"}
                ),
            )
            assert sorted((a_["type"], a_.get("code")) for a_ in answers) == [
                ("ack", None),
                ("error", "conflict"),
            ]
            assert len(await actions_of(qid)) == 1
    kinds = await event_kinds(live_broadcast.pk)
    assert [seq for seq, _ in kinds] == list(range(1, len(kinds) + 1))


# --- bad input -----------------------------------------------------------------------------


@pytest.fixture
def scene(personas, other_broadcast) -> dict:
    """A programme the host started (status event seq 1) with waiting, published and rejected questions."""
    broadcast = make_broadcast("jtw", personas["host"], [personas["guest"]])
    studio.set_status(broadcast.pk, personas["host"], "live")
    waiting = ask_now(broadcast.pk, "地铁末班车能否延后？")
    published = ask_now(broadcast.pk, "公交站台能否加装遮阳棚？")
    approve_question(broadcast.pk, published, True)
    rejected = ask_now(broadcast.pk, "共享单车乱停放谁来管？")
    reject_question(broadcast.pk, rejected, "重复")
    return {
        "broadcast": broadcast.pk,
        "waiting": waiting,
        "published": published,
        "rejected": rejected,
        "other": ask_now(other_broadcast.pk, "汛期积水点有哪些？"),
        "status_seq": 1,
        "published_seq": 2,
    }


BAD_INPUT = [
    pytest.param(
        lambda s: {"type": "approve", "action_id": "x", "question_id": 999_999, "publish": True},
        "not_found",
        id="unknown question",
    ),
    pytest.param(
        lambda s: {"type": "approve", "action_id": "x", "question_id": s["other"], "publish": True},
        "not_found",
        id="question of another programme",
    ),
    pytest.param(
        lambda s: {"type": "reject", "action_id": "x", "question_id": s["other"], "reason": ""},
        "not_found",
        id="rejecting a question of another programme",
    ),
    pytest.param(
        lambda s: {"type": "approve", "action_id": "x", "question_id": s["waiting"], "publish": "yes"},
        "bad_frame",
        id="publish as a string",
    ),
    pytest.param(
        lambda s: {"type": "approve", "action_id": "x", "question_id": str(s["waiting"]), "publish": True},
        "bad_frame",
        id="question_id as a string",
    ),
    pytest.param(
        lambda s: {"type": "reject", "action_id": "x", "question_id": s["waiting"], "reason": "理" * 201},
        "too_long",
        id="201-character reason",
    ),
    pytest.param(
        lambda s: {"type": "reject", "action_id": "x", "question_id": s["waiting"], "reason": 7},
        "bad_frame",
        id="reason as a number",
    ),
    pytest.param(
        lambda s: {"type": "merge", "action_id": "x", "question_id": s["waiting"], "into": s["waiting"]},
        "bad_frame",
        id="merge into itself",
    ),
    pytest.param(
        lambda s: {"type": "merge", "action_id": "x", "question_id": s["waiting"], "into": s["other"]},
        "not_found",
        id="merge into a question of another programme",
    ),
    pytest.param(
        lambda s: {"type": "merge", "action_id": "x", "question_id": s["waiting"], "into": s["rejected"]},
        "conflict",
        id="merge into a rejected question",
    ),
    pytest.param(
        lambda s: {"type": "edit", "action_id": "x", "question_id": s["waiting"], "text": " \n "},
        "empty",
        id="edit to empty text",
    ),
    pytest.param(
        lambda s: {"type": "edit", "action_id": "x", "question_id": s["waiting"], "text": "问" * 501},
        "too_long",
        id="edit to 501 characters",
    ),
    pytest.param(
        lambda s: {"type": "approve", "action_id": "x", "question_id": s["published"], "publish": True},
        "conflict",
        id="approve an approved question",
    ),
    pytest.param(
        lambda s: {"type": "edit", "action_id": "x", "question_id": s["rejected"], "text": "改一改"},
        "conflict",
        id="edit a rejected question",
    ),
    pytest.param(lambda s: {"type": "withdraw", "action_id": "x", "seq": 999}, "not_found", id="unknown seq"),
    pytest.param(
        lambda s: {"type": "withdraw", "action_id": "x", "seq": s["status_seq"]},
        "bad_frame",
        id="withdraw a broadcast.status event",
    ),
    pytest.param(
        lambda s: {"type": "approve", "question_id": s["waiting"], "publish": True},
        "bad_frame",
        id="missing action_id",
    ),
    pytest.param(
        lambda s: {"type": "approve", "action_id": 5, "question_id": s["waiting"], "publish": True},
        "bad_frame",
        id="action_id as a number",
    ),
    pytest.param(
        lambda s: {"type": "ask", "action_id": "x", "text": "问"}, "bad_frame", id="a netizen frame"
    ),
]


@pytest.mark.parametrize("make_frame, code", BAD_INPUT)
async def test_bad_input_gets_an_error_changes_nothing_and_keeps_the_console_open(
    sockets, scene, personas, make_frame, code
):
    console, queue = await open_console(sockets, scene["broadcast"], personas["moderator"])
    assert [q["id"] for q in queue] == [scene["waiting"]]
    before = await db_state()
    frame = make_frame(scene)
    await console.send_json_to(frame)
    error = await next_frame(console)
    assert error["type"] == "error" and error["code"] == code
    assert error["message"]
    if isinstance(frame.get("action_id"), str):
        assert error["ref"] == frame["action_id"]
    else:
        assert "ref" not in error
    assert await db_state() == before
    await assert_still_open(console)


async def test_withdrawing_one_event_twice_is_a_conflict_and_appends_nothing(sockets, scene, personas):
    console, _ = await open_console(sockets, scene["broadcast"], personas["moderator"])
    first = await act(console, {"type": "withdraw", "action_id": "w1", "seq": scene["published_seq"]})
    assert first == {"type": "ack", "ref": "w1"}
    before = await db_state()
    again = await act(console, {"type": "withdraw", "action_id": "w2", "seq": scene["published_seq"]})
    assert again["type"] == "error" and again["code"] == "conflict" and again["ref"] == "w2"
    # Nor can the take-down itself be taken down.
    undo = await act(console, {"type": "withdraw", "action_id": "w3", "seq": scene["published_seq"] + 1})
    assert undo["type"] == "error" and undo["code"] == "bad_frame"
    assert await db_state() == before


# --- what the asker is told ----------------------------------------------------------------


async def test_the_asker_is_told_on_its_socket_of_approval_rejection_merge_and_answer(
    sockets, live_broadcast, personas
):
    netizen = await open_viewer(sockets, live_broadcast.pk)
    bystander = await open_viewer(sockets, live_broadcast.pk)
    console, _ = await open_console(sockets, live_broadcast.pk, personas["moderator"])
    approved = await ask_over_socket(netizen, "地铁末班车能否延后？")
    rejected = await ask_over_socket(netizen, "我想投诉邻居")
    merged = await ask_over_socket(netizen, "末班地铁可以晚点吗？")

    await act(console, {"type": "approve", "action_id": "a1", "question_id": approved, "publish": False})
    assert await wait_for(netizen, "my_question") == {
        "type": "my_question",
        "question_id": approved,
        "status": "approved",
    }
    await act(
        console, {"type": "reject", "action_id": "r1", "question_id": rejected, "reason": "请通过信箱反映"}
    )
    assert await wait_for(netizen, "my_question") == {
        "type": "my_question",
        "question_id": rejected,
        "status": "rejected",
        "reason": "请通过信箱反映",
    }
    await act(console, {"type": "merge", "action_id": "m1", "question_id": merged, "into": approved})
    told = await wait_for(netizen, "my_question")
    assert told["question_id"] == merged and told["status"] == "merged"
    await database_sync_to_async(studio.post_answer)(
        live_broadcast.pk, personas["guest"], "ans-1", approved, "会延后"
    )
    assert await wait_for(netizen, "my_question") == {
        "type": "my_question",
        "question_id": approved,
        "status": "answered",
    }
    # Nobody else hears about this netizen's questions.
    assert [f["type"] for f in await frames(bystander, 1)] == ["event"]  # the public answer only
    await bystander.receive_nothing(timeout=0.3)


# --- automatic screening -------------------------------------------------------------------


async def test_a_question_with_a_blocked_word_is_refused_and_never_stored(
    sockets, live_broadcast, personas, word_lists
):
    console, _ = await open_console(sockets, live_broadcast.pk, personas["moderator"])
    netizen = await open_viewer(sockets, live_broadcast.pk)
    frame = ask_frame("小区里有人聚众赌 博")
    await netizen.send_json_to(frame)
    error = await next_frame(netizen)
    assert (
        error["type"] == "error" and error["code"] == "blocked_content" and error["ref"] == frame["client_id"]
    )
    assert await database_sync_to_async(Question.objects.count)() == 0
    await console.receive_nothing(timeout=0.3)


async def test_a_question_with_a_review_word_is_flagged_for_the_moderator(
    sockets, live_broadcast, personas, word_lists
):
    console, _ = await open_console(sockets, live_broadcast.pk, personas["moderator"])
    netizen = await open_viewer(sockets, live_broadcast.pk)
    await ask_over_socket(netizen, "旧城拆迁补偿标准是多少？")
    pushed = await next_frame(console)
    assert pushed["type"] == "question.new" and pushed["question"]["flags"] == ["sensitive:拆迁"]


@pytest.mark.parametrize(
    "text",
    [
        "有人ｂａｄ ｗｏｒｄ",
        "有人BAD-word",
        "有人賭博",
        "有人赌\u200b博",
        "有人赌·博",
        "有人赌 博",
        "有人賭\u3000博",
    ],
    ids=[
        "full-width",
        "case",
        "traditional",
        "zero-width",
        "punctuation",
        "space",
        "traditional+ideographic space",
    ],
)
def test_evasions_of_a_blocked_word_are_refused_and_nothing_is_stored(live_broadcast, word_lists, text):
    with pytest.raises(ServiceError) as refused:
        ask_now(live_broadcast.pk, text)
    assert refused.value.code == "blocked_content"
    assert not Question.objects.exists()


def test_a_blocked_word_found_only_across_a_clause_break_is_stored_and_flagged_not_refused(
    live_broadcast, word_lists
):
    qid = ask_now(live_broadcast.pk, "这次豪赌。博物馆什么时候开？")
    assert Question.objects.get(pk=qid).flags == ["sensitive:赌博"]


def test_a_blocked_word_in_the_nickname_is_refused_too(live_broadcast, word_lists):
    with pytest.raises(ServiceError) as refused:
        ask_question(live_broadcast.pk, "c-1", "普通的问题", "赌博达人", "netizen-1", None)
    assert refused.value.code == "blocked_content"


def test_upper_case_and_full_width_review_words_are_flagged_in_their_listed_spelling(
    live_broadcast, word_lists
):
    BannedWord.objects.create(word_list=word_lists[1], word="PX项目")
    screening.words_changed()
    qid = ask_now(live_broadcast.pk, "ｐｘ 项目什么时候公示？")
    assert Question.objects.get(pk=qid).flags == ["sensitive:PX项目"]


def test_a_word_added_to_a_list_is_screened_as_soon_as_the_lists_are_announced_changed(
    live_broadcast, word_lists
):
    ask_now(live_broadcast.pk, "传销窝点在哪里？")  # not yet banned
    BannedWord.objects.create(word_list=word_lists[0], word="传销")
    screening.words_changed()
    with pytest.raises(ServiceError) as refused:
        ask_now(live_broadcast.pk, "传销窝点在哪里？")
    assert refused.value.code == "blocked_content"


def test_an_inactive_list_neither_blocks_nor_flags(live_broadcast, word_lists):
    BannedWordList.objects.update(active=False)
    screening.words_changed()
    qid = ask_now(live_broadcast.pk, "赌博和拆迁")
    assert Question.objects.get(pk=qid).flags == []


@pytest.mark.parametrize(
    "text",
    ["请回电13812345678", "座机010-12345678", f"身份证{VALID_ID}", "邮箱 zhang@example.com"],
    ids=["mobile", "landline", "id number", "e-mail"],
)
def test_personal_data_is_flagged_for_the_moderator(live_broadcast, text):
    qid = ask_now(live_broadcast.pk, text)
    assert Question.objects.get(pk=qid).flags == ["personal_data"]


def test_an_id_number_with_a_wrong_check_character_is_not_personal_data(live_broadcast):
    qid = ask_now(live_broadcast.pk, f"编号{VALID_ID[:-1]}1")
    assert Question.objects.get(pk=qid).flags == []


async def test_personal_data_is_masked_for_viewers_but_kept_for_moderators(sockets, live_broadcast, personas):
    text = f"请回电13812345678，身份证{VALID_ID}，邮箱 zhang@example.com"
    qid = await ask(live_broadcast.pk, text)
    console, queue = await open_console(sockets, live_broadcast.pk, personas["moderator"])
    assert queue[0]["text"] == text and queue[0]["flags"] == ["personal_data"]
    viewer = await open_viewer(sockets, live_broadcast.pk)
    await act(console, {"type": "approve", "action_id": "a1", "question_id": qid, "publish": True})
    published = (await next_frame(viewer))["data"]["question"]["text"]
    assert "138******78" in published and "z***@***" in published
    for secret in ("13812345678", VALID_ID, "zhang@example.com", "19491231"):
        assert secret not in published
    stored = (await http("get", f"/api/broadcasts/{live_broadcast.pk}/events/")).json()["events"]
    assert stored[0]["data"]["question"]["text"] == published
    assert (await question(qid)).text == text


def test_a_question_flagged_both_ways_carries_both_flags(live_broadcast, word_lists):
    qid = ask_now(live_broadcast.pk, "拆迁办电话13812345678")
    assert Question.objects.get(pk=qid).flags == ["sensitive:拆迁", "personal_data"]


# --- suggested duplicates ------------------------------------------------------------------


async def test_a_question_like_an_earlier_one_is_suggested_as_its_duplicate(
    sockets, live_broadcast, personas
):
    earlier = await ask(live_broadcast.pk, "地铁末班车能否延后到十二点？")
    await ask(live_broadcast.pk, "小区停车位太少怎么办？")
    console, _ = await open_console(sockets, live_broadcast.pk, personas["moderator"])
    netizen = await open_viewer(sockets, live_broadcast.pk)
    await ask_over_socket(netizen, "地铁末班车能不能延后到十二点")
    pushed = await next_frame(console)
    assert pushed["question"]["similar"] == [earlier]
    await ask_over_socket(netizen, "汛期积水点有哪些？")
    assert (await next_frame(console))["question"]["similar"] == []


def test_questions_of_another_programme_are_never_suggested(live_broadcast, other_broadcast):
    ask_now(other_broadcast.pk, "地铁末班车能否延后到十二点？")
    qid = ask_now(live_broadcast.pk, "地铁末班车能否延后到十二点？")
    assert Question.objects.get(pk=qid).similar == []


# --- rate limits ---------------------------------------------------------------------------


async def test_a_fourth_question_within_a_minute_on_a_socket_is_rate_limited(
    sockets, live_broadcast, settings
):
    settings.MINXIN_QUESTION_LIMITS_PER_NETIZEN = [(60, 3)]
    await fresh_window()
    netizen = await open_viewer(sockets, live_broadcast.pk)
    first = ask_frame("第一个问题")
    await netizen.send_json_to(first)
    first_id = (await wait_for(netizen, "ask.ok"))["question_id"]
    for n in range(2):
        await ask_over_socket(netizen, f"第{n + 2}个问题")
    fourth = ask_frame("第四个问题")
    await netizen.send_json_to(fourth)
    refused = await next_frame(netizen)
    assert (
        refused["type"] == "error"
        and refused["code"] == "rate_limited"
        and refused["ref"] == fourth["client_id"]
    )
    assert isinstance(refused["retry_after"], int) and 0 < refused["retry_after"] <= 61
    assert await database_sync_to_async(Question.objects.count)() == 3
    # A resend of a stored question is answered, not refused.
    await netizen.send_json_to(first)
    again = await next_frame(netizen)
    assert again["type"] == "ask.ok" and again["question_id"] == first_id


def test_a_fourth_question_within_a_minute_over_http_is_429_with_retry_after(live_broadcast, settings):
    settings.MINXIN_QUESTION_LIMITS_PER_NETIZEN = [(60, 3)]
    asyncio.run(fresh_window())
    client = Client()
    anonymous_session(client, live_broadcast.pk)
    codes = [
        post_question(client, live_broadcast.pk, {"client_id": f"h-{n}", "text": f"问题{n}"})
        for n in range(3)
    ]
    assert [r.status_code for r in codes] == [201, 201, 201]
    refused = post_question(client, live_broadcast.pk, {"client_id": "h-3", "text": "问题3"})
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert 0 < int(refused["Retry-After"]) <= 61
    assert Question.objects.count() == 3
    again = post_question(client, live_broadcast.pk, {"client_id": "h-0", "text": "问题0"})
    assert again.status_code == 200 and again.json()["question_id"] == codes[0].json()["question_id"]


async def test_http_and_socket_questions_of_one_browser_session_share_one_limit(
    sockets, live_broadcast, settings
):
    settings.MINXIN_QUESTION_LIMITS_PER_NETIZEN = [(60, 3)]
    await fresh_window()
    client = Client()
    session = await database_sync_to_async(anonymous_session)(client, live_broadcast.pk)
    for n in range(2):
        response = await database_sync_to_async(post_question)(
            client, live_broadcast.pk, {"client_id": f"h-{n}", "text": f"问题{n}"}
        )
        assert response.status_code == 201
    cookie = (b"cookie", session.encode())
    netizen = await open_viewer(sockets, live_broadcast.pk, headers=[cookie])
    await ask_over_socket(netizen, "第三个问题")
    await netizen.send_json_to(ask_frame("第四个问题"))
    assert (await next_frame(netizen))["code"] == "rate_limited"
    refused = await database_sync_to_async(post_question)(
        client, live_broadcast.pk, {"client_id": "h-9", "text": "再问"}
    )
    assert refused.status_code == 429
    # Another browser is not held back by this one.
    assert (
        await database_sync_to_async(post_question)(
            Client(), live_broadcast.pk, {"client_id": "o-1", "text": "别人的问题"}
        )
    ).status_code == 201


@pytest.mark.redis
@pytest.mark.processes
async def test_with_redis_a_session_is_counted_across_server_processes(daphne, live_broadcast, settings):
    """Three questions through a separate daphne process use up the limit this process enforces."""
    from websockets.asyncio.client import connect

    server = daphne()
    settings.MINXIN_QUESTION_LIMITS_PER_NETIZEN = [(60, 3)]  # this process; daphne keeps its own
    client = Client()
    session = await database_sync_to_async(anonymous_session)(client, live_broadcast.pk)
    await fresh_window(needed=8)
    cookie = session
    async with connect(
        server.ws + f"/ws/live/{live_broadcast.pk}/", origin=server.url, additional_headers={"Cookie": cookie}
    ) as ws:
        for n in range(3):
            await ws.send(json.dumps(ask_frame(f"别处问的第{n}个问题")))
            while (frame := json.loads(await asyncio.wait_for(ws.recv(), timeout=10)))["type"] != "ask.ok":
                assert frame["type"] in ("hello", "presence"), frame
    refused = await database_sync_to_async(post_question)(
        client, live_broadcast.pk, {"client_id": "h-1", "text": "还想问"}
    )
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert await database_sync_to_async(Question.objects.count)() == 3


# --- the audit trail -----------------------------------------------------------------------


async def test_every_console_action_is_audited_with_who_and_the_question_before_and_after(
    sockets, live_broadcast, personas
):
    kept = await ask(live_broadcast.pk, "地铁末班车能否延后？")
    dropped = await ask(live_broadcast.pk, "别的问题")
    console, _ = await open_console(sockets, live_broadcast.pk, personas["moderator"])
    await act(
        console,
        {"type": "edit", "action_id": "1", "question_id": kept, "text": "地铁末班车能否延后到十二点？"},
    )
    await act(console, {"type": "approve", "action_id": "2", "question_id": kept, "publish": True})
    await act(console, {"type": "reject", "action_id": "3", "question_id": dropped, "reason": "无关"})
    await act(console, {"type": "withdraw", "action_id": "4", "seq": 1})
    edit, approval, withdrawal = await actions_of(kept)
    assert [a.action for a in (edit, approval, withdrawal)] == ["edit", "approve_publish", "withdraw"]
    assert all(a.by == "mona" for a in (edit, approval, withdrawal))
    assert (
        edit.before["text"] == "地铁末班车能否延后？" and edit.after["text"] == "地铁末班车能否延后到十二点？"
    )
    assert approval.before["status"] == "pending" and approval.before["published_seq"] is None
    assert approval.after["status"] == "approved" and approval.after["published_seq"] == 1
    assert withdrawal.before == {"seq": 1, "kind": "question.published"}
    assert withdrawal.after == {"withdrawn_by_seq": 2}
    (rejection,) = await actions_of(dropped)
    assert rejection.before["status"] == "pending"
    assert rejection.after["status"] == "rejected" and rejection.after["reason"] == "无关"


def audit_rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_the_moderator_downloads_the_audit_trail_as_csv_one_row_per_action(
    live_broadcast, other_broadcast, personas
):
    first = ask_now(live_broadcast.pk, "地铁末班车能否延后？")
    second = ask_now(live_broadcast.pk, "公交站太远")
    approve_question(live_broadcast.pk, first, True, by="mona")
    reject_question(live_broadcast.pk, second, "重复，见上一条", by="mona")
    withdraw_event(live_broadcast.pk, 1, by="mona")
    reject_question(other_broadcast.pk, ask_now(other_broadcast.pk, "别台的问题"), "", by="mona")
    client = Client()
    client.force_login(personas["moderator"])
    response = client.get(f"/moderate/{live_broadcast.pk}/audit.csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    header, *rows = audit_rows(response)
    assert header == ["at", "by", "action", "question", "before", "after"]
    assert [(r[1], r[2], r[3]) for r in rows] == [
        ("mona", "approve_publish", str(first)),
        ("mona", "reject", str(second)),
        ("mona", "withdraw", str(first)),
    ]
    assert json.loads(rows[1][5])["reason"] == "重复，见上一条"
    assert rows[0][0].endswith("+08:00")


def test_an_anonymous_visitor_asking_for_the_audit_trail_is_sent_to_log_in(live_broadcast):
    response = Client().get(f"/moderate/{live_broadcast.pk}/audit.csv")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("persona", ["handler_a", "guest", "host"])
def test_staff_who_do_not_moderate_the_programme_cannot_see_its_audit_trail(
    live_broadcast, personas, persona
):
    client = Client()
    client.force_login(personas[persona])
    assert client.get(f"/moderate/{live_broadcast.pk}/audit.csv").status_code == 404


def test_a_moderator_not_named_by_the_programme_cannot_see_its_audit_trail(
    live_broadcast, personas, second_moderator
):
    live_broadcast.moderators.add(second_moderator)
    client = Client()
    client.force_login(personas["moderator"])
    assert client.get(f"/moderate/{live_broadcast.pk}/audit.csv").status_code == 404
    client.force_login(second_moderator)
    assert client.get(f"/moderate/{live_broadcast.pk}/audit.csv").status_code == 200


def test_a_supervisor_may_read_the_audit_trail(live_broadcast, personas):
    client = Client()
    client.force_login(personas["supervisor"])
    response = client.get(f"/moderate/{live_broadcast.pk}/audit.csv")
    assert response.status_code == 200 and audit_rows(response) == [
        ["at", "by", "action", "question", "before", "after"]
    ]


# --- 附议 (support) --------------------------------------------------------------------------


@database_sync_to_async
def published_question(broadcast_id: int) -> int:
    qid = ask_now(broadcast_id, "地铁末班车能否延后？")
    approve_question(broadcast_id, qid, True)
    return qid


async def test_supporting_counts_each_netizen_once_and_viewers_get_the_count_in_one_batch(
    sockets, live_broadcast, personas
):
    qid = await published_question(live_broadcast.pk)
    viewer = await open_viewer(sockets, live_broadcast.pk)
    console, _ = await open_console(sockets, live_broadcast.pk, personas["moderator"])
    client = Client()
    session = await database_sync_to_async(anonymous_session)(client, live_broadcast.pk)
    cookie = [(b"cookie", session.encode())]
    netizen = await open_viewer(sockets, live_broadcast.pk, headers=cookie)
    same_browser = await open_viewer(sockets, live_broadcast.pk, headers=cookie)
    stranger = await open_viewer(sockets, live_broadcast.pk)

    loop = asyncio.get_running_loop()
    started = loop.time()
    support = {"type": "support", "question_id": qid}
    for ws, expected in ((netizen, 1), (netizen, 1), (same_browser, 1), (stranger, 2)):
        await ws.send_json_to(support)
        answer = await next_frame(ws)
        while answer["type"] == "support":  # the batched count may already be on its way
            answer = await next_frame(ws)
        assert answer == {"type": "support.ok", "question_id": qid, "support": expected}

    assert await wait_for(viewer, "support", wait=3) == {"type": "support", "counts": {str(qid): 2}}
    assert loop.time() - started < 2
    assert await wait_for(console, "support", wait=3) == {"type": "support", "counts": {str(qid): 2}}
    await viewer.receive_nothing(timeout=0.3)  # batched: one frame, not one per support
    assert await database_sync_to_async(Support.objects.filter(question_id=qid).count)() == 2
    assert (await question(qid)).support_count == 2
    body = (await http("get", f"/api/broadcasts/{live_broadcast.pk}/events/")).json()
    assert [e["kind"] for e in body["events"]] == ["question.published"] and body["last_seq"] == 1


async def test_only_published_questions_can_be_supported(sockets, live_broadcast):
    waiting = await ask(live_broadcast.pk, "还在等审核的问题")
    quiet = await ask(live_broadcast.pk, "只给嘉宾看的问题")
    await approve(live_broadcast.pk, quiet, False)
    netizen = await open_viewer(sockets, live_broadcast.pk)
    for qid in (waiting, quiet, 999_999):
        await netizen.send_json_to({"type": "support", "question_id": qid})
        error = await next_frame(netizen)
        assert error["type"] == "error" and error["code"] == "not_found"
    await netizen.send_json_to({"type": "support", "question_id": str(waiting)})
    assert (await next_frame(netizen))["code"] == "bad_frame"
    assert await database_sync_to_async(Support.objects.count)() == 0


async def test_a_published_question_of_another_programme_cannot_be_supported_here(
    sockets, live_broadcast, other_broadcast
):
    elsewhere = await published_question(other_broadcast.pk)
    netizen = await open_viewer(sockets, live_broadcast.pk)
    await netizen.send_json_to({"type": "support", "question_id": elsewhere})
    assert (await next_frame(netizen))["code"] == "not_found"
    assert (await question(elsewhere)).support_count == 0


async def test_cookieless_sockets_from_one_address_cannot_inflate_a_questions_support(
    sockets, live_broadcast, settings
):
    """Issue #13: every cookieless socket is a new netizen, so one address could add any number
    of supports. One address now adds at most a few to one question, and a few in all."""
    settings.MINXIN_SUPPORT_LIMITS_PER_ADDRESS_AND_QUESTION = [(86400, 2)]
    settings.MINXIN_SUPPORT_LIMITS_PER_ADDRESS = [(86400, 4)]  # refused attempts count too
    first, second = await published_question(live_broadcast.pk), await published_question(live_broadcast.pk)

    async def support_from(address: str, qid: int) -> dict:
        ws = await sockets.open(f"/ws/live/{live_broadcast.pk}/", client=(address, 40000))
        assert (await next_frame(ws))["type"] == "hello"
        await ws.send_json_to({"type": "support", "question_id": qid})
        answer = await next_frame(ws)
        while answer["type"] == "support":  # a batched count
            answer = await next_frame(ws)
        await assert_still_open(ws)
        return answer

    assert [(await support_from("203.0.113.7", first))["type"] for _ in range(2)] == ["support.ok"] * 2
    refused = await support_from("203.0.113.7", first)
    assert refused["type"] == "error" and refused["code"] == "rate_limited" and refused["retry_after"] > 0
    assert (await question(first)).support_count == 2  # nothing stored for the refused one
    # The same address may still support another question, up to its total of four ...
    assert (await support_from("203.0.113.7", second))["type"] == "support.ok"
    assert (await support_from("203.0.113.7", second))["code"] == "rate_limited"
    # ... an IPv6 subscriber is one address across its /64 ...
    assert (await support_from("2001:db8:1:2::10", second))["type"] == "support.ok"
    assert (await support_from("2001:db8:1:2::11", second))["type"] == "support.ok"
    assert (await support_from("2001:db8:1:2:ffff::1", second))["code"] == "rate_limited"
    # ... and another address is not held back.
    assert (await support_from("198.51.100.9", first))["support"] == 3
    assert await database_sync_to_async(Support.objects.count)() == 3 + 3


async def test_supporting_after_the_programme_ended_is_refused_and_changes_nothing(
    sockets, live_broadcast, personas
):
    qid = await published_question(live_broadcast.pk)
    netizen = await open_viewer(sockets, live_broadcast.pk)
    await netizen.send_json_to({"type": "support", "question_id": qid})
    assert (await wait_for(netizen, "support.ok"))["support"] == 1
    await database_sync_to_async(studio.set_status)(live_broadcast.pk, personas["host"], "ended")
    late = await open_viewer(sockets, live_broadcast.pk)
    await late.send_json_to({"type": "support", "question_id": qid})
    error = await wait_for(late, "error")
    assert error["code"] == "closed" and error["message"]
    assert (await question(qid)).support_count == 1
    assert await database_sync_to_async(Support.objects.count)() == 1
    await assert_still_open(late)


def test_a_question_screened_after_the_end_is_not_published_but_becomes_a_letter(personas, live_broadcast):
    """Found by the soak: an approval after the end put a question in the public log after the
    end, and the question never became a letter (the bridge ran at the end)."""
    from archive.models import QuestionLetter

    pending = ask_now(live_broadcast.pk, "还没审核的问题：末班车能否延后？")
    studio.set_status(live_broadcast.pk, personas["host"], "ended")
    log_before = list(Event.objects.filter(broadcast=live_broadcast).values_list("seq", "kind"))

    with pytest.raises(ServiceError) as refused:
        approve_question(live_broadcast.pk, pending, True, by="mona")
    assert refused.value.code == "closed"
    assert not QuestionLetter.objects.filter(question_id=pending).exists()

    approve_question(live_broadcast.pk, pending, False, by="mona")
    assert list(Event.objects.filter(broadcast=live_broadcast).values_list("seq", "kind")) == log_before
    assert log_before[-1][1] == "broadcast.status"  # nothing public after the end
    letter = QuestionLetter.objects.get(question_id=pending)  # every question gets an answer
    assert QuestionLetter.objects.filter(question_id=pending).count() == 1
    assert letter.letter.department.code == "jtw"


@pytest.mark.parametrize("client_id", ["nul\x00byte", "lone\ud800surrogate", "tab\tinside"])
def test_a_client_id_with_control_characters_is_refused_and_spoils_no_batch(live_broadcast, client_id):
    """Found by schemathesis on PostgreSQL: a NUL in a client_id was a 500 (PostgreSQL refuses
    NUL in text), and in a batch of asks it would have failed every other ask with it."""
    results = ask_questions(
        [
            AskRequest(live_broadcast.pk, client_id, "公交线路问题？", None, "s-a"),
            AskRequest(live_broadcast.pk, "fine-1", "地铁班次问题？", None, "s-b"),
        ]
    )
    assert isinstance(results[0], ServiceError) and results[0].code == "bad_frame"
    question, created = results[1]
    assert created and question.client_id == "fine-1"
    assert list(Question.objects.filter(broadcast=live_broadcast).values_list("client_id", flat=True)) == [
        "fine-1"
    ]


# --- a batch of asks (moderation/intake.py): one ask's trouble stays its own (review findings) --


def test_an_address_that_is_not_one_is_stored_as_none_and_spoils_no_batch(live_broadcast):
    results = ask_questions(
        [
            AskRequest(live_broadcast.pk, "ip-1", "公交线路问题？", None, "s-a", "unknown"),
            AskRequest(live_broadcast.pk, "ip-2", "地铁班次问题？", None, "s-b", "10.0.0.7"),
        ]
    )
    assert [result[0].client_ip for result in results] == [None, "10.0.0.7"]


def test_an_ask_that_breaks_unexpectedly_fails_alone(live_broadcast, monkeypatch):
    real_screen = screening.screen

    def screen(text, matcher):
        if "炸" in text:
            raise RuntimeError("a screening bug")
        return real_screen(text, matcher)

    monkeypatch.setattr(screening, "screen", screen)
    results = ask_questions(
        [
            AskRequest(live_broadcast.pk, "ok-1", "公交线路问题？", None, "s-a"),
            AskRequest(live_broadcast.pk, "bad-1", "炸出一个错误", None, "s-b"),
            AskRequest(live_broadcast.pk, "ok-2", "地铁班次问题？", None, "s-c"),
        ]
    )
    assert isinstance(results[1], ServiceError) and results[1].code == "bad_frame"
    assert [results[0][0].client_id, results[2][0].client_id] == ["ok-1", "ok-2"]
    stored = set(Question.objects.filter(broadcast=live_broadcast).values_list("client_id", flat=True))
    assert stored == {"ok-1", "ok-2"}


def test_a_database_outage_in_a_batch_answers_each_ask_unavailable(live_broadcast, monkeypatch):
    from django.db import OperationalError

    def down(*args, **kwargs):
        raise OperationalError("the database went away")

    monkeypatch.setattr(asking, "_rate_limit", down)
    results = ask_questions(
        [AskRequest(live_broadcast.pk, f"down-{n}", "公交线路问题？", None, f"s-{n}") for n in range(3)]
    )
    assert [(r.code, r.retry_after) for r in results] == [("unavailable", 2)] * 3
    assert len({id(r) for r in results}) == 3  # each asker gets its own error object
    assert not Question.objects.filter(broadcast=live_broadcast).exists()


def test_a_batch_of_asks_costs_the_same_round_trips_whatever_its_size(live_broadcast, monkeypatch):
    """Issue #7's ingest figures rest on this: per batch one lookup, one lock of the programme row,
    one insert, one rate-limit round trip and one push to the consoles, never one per question."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from core import ratelimit
    from studio import events

    calls = {"hit_many": 0, "notify_staff_many": 0}

    def counted(name, real):
        def call(*args, **kwargs):
            calls[name] += 1
            return real(*args, **kwargs)

        return call

    monkeypatch.setattr(ratelimit, "hit_many", counted("hit_many", ratelimit.hit_many))
    monkeypatch.setattr(events, "notify_staff_many", counted("notify_staff_many", events.notify_staff_many))
    screening.current_matcher()  # the banned words are loaded once per process, not per batch

    def batch(tag: str, size: int) -> tuple[int, int]:
        requests = [
            AskRequest(
                live_broadcast.pk,
                f"{tag}-{n}",
                f"请问12路公交夜班车能否延长到十一点？第{n}问",
                None,
                f"{tag}{n}",
            )
            for n in range(size)
        ]
        with CaptureQueriesContext(connection) as queries:
            results = ask_questions(requests)
        assert all(isinstance(result, tuple) and result[1] for result in results)  # all new
        inserts = [
            q for q in queries.captured_queries if q["sql"].startswith('INSERT INTO "moderation_question"')
        ]
        return len(queries.captured_queries), len(inserts)

    small, large = batch("small", 3), batch("large", 60)
    assert small == large and small[1] == 1
    assert calls == {"hit_many": 2, "notify_staff_many": 2}


def test_questions_in_one_batch_are_suggested_as_each_others_duplicates(live_broadcast):
    results = ask_questions(
        [
            AskRequest(live_broadcast.pk, "dup-1", "请问12路公交夜班车能否延长到十一点？", None, "s-a"),
            AskRequest(live_broadcast.pk, "dup-2", "请问12路公交夜班车能不能延长到十一点？", None, "s-b"),
            AskRequest(live_broadcast.pk, "other", "医保异地结算需要备案吗？", None, "s-c"),
        ]
    )
    first, second, other = (result[0] for result in results)
    assert Question.objects.get(pk=second.pk).similar == [first.pk]
    assert Question.objects.get(pk=first.pk).similar == []
    assert Question.objects.get(pk=other.pk).similar == []
