"""The studio console follows the programme, and questions answered by voice on air (PROTOCOL.md §4).

Through the real asgi.py stack, on SQLite and on PostgreSQL (DATABASE_URL) alike.
"""

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from moderation.models import Question
from studio.models import Answer, Event, Guest

from .conftest import make_broadcast
from .test_studio_protocol import (
    approve,
    ask,
    count,
    next_frame,
    open_studio,
    open_viewer,
    scheduled_broadcast,
)

pytestmark = pytest.mark.django_db(transaction=True)

SUMMARY = "张明现场回答：末班车将延后半小时，下月一日起执行。"


async def until(ws, kind: str) -> dict:
    """The next frame of this type, passing over others (pushes, presence) on the way."""
    while (frame := await next_frame(ws))["type"] != kind:
        pass
    return frame


def on_air(client_id: str, question_id, text: str = SUMMARY, **extra) -> dict:
    return {
        "type": "answer",
        "client_id": client_id,
        "question_id": question_id,
        "text": text,
        "on_air": True,
        **extra,
    }


@database_sync_to_async
def guest_id(broadcast_id: int, user) -> int:
    return Guest.objects.get(broadcast_id=broadcast_id, user=user).pk


@database_sync_to_async
def two_guest_broadcast(personas):
    return make_broadcast(
        "jtw", personas["host"], [personas["guest"], personas["other_guest"]], status="live"
    )


@database_sync_to_async
def stored_answers(broadcast_id: int) -> list[tuple]:
    return list(
        Answer.objects.filter(broadcast_id=broadcast_id).values_list(
            "question_id", "guest__display_name", "text", "on_air", "recorded_by__username"
        )
    )


@database_sync_to_async
def status_of_question(question_id: int) -> str:
    return Question.objects.get(pk=question_id).status


async def approved_question(broadcast_id: int, client_id: str = "q-1", publish: bool = True) -> int:
    question_id = await ask(broadcast_id, "地铁末班车能否延后？", client_id)
    await approve(broadcast_id, question_id, publish=publish)
    return question_id


# --- the status follows the programme --------------------------------------------------------


async def test_a_console_is_told_the_programmes_status_right_after_its_queue(sockets, personas):
    broadcast = await scheduled_broadcast(personas)
    ws = await sockets.open(f"/ws/studio/{broadcast.pk}/", user=personas["guest"])
    assert (await next_frame(ws))["type"] == "queue"
    assert await next_frame(ws) == {"type": "status", "status": "scheduled"}


async def test_every_studio_console_is_told_when_the_host_starts_and_ends_the_programme(sockets, personas):
    broadcast = await scheduled_broadcast(personas)
    guest, _ = await open_studio(sockets, broadcast.pk, personas["guest"])
    host, _ = await open_studio(sockets, broadcast.pk, personas["host"])
    await host.send_json_to({"type": "start", "action_id": "go"})
    assert await next_frame(guest) == {"type": "status", "status": "live"}
    await host.send_json_to({"type": "end", "action_id": "stop"})
    assert await next_frame(guest) == {"type": "status", "status": "ended"}
    # A console opened (or reopened after a drop) later learns it at once.
    late = await sockets.open(f"/ws/studio/{broadcast.pk}/", user=personas["guest"])
    assert (await next_frame(late))["type"] == "queue"
    assert await next_frame(late) == {"type": "status", "status": "ended"}


async def test_a_refused_start_changes_nothing_and_pushes_no_status(sockets, personas):
    broadcast = await scheduled_broadcast(personas)
    host, _ = await open_studio(sockets, broadcast.pk, personas["host"])
    guest, _ = await open_studio(sockets, broadcast.pk, personas["guest"])
    await guest.send_json_to({"type": "start", "action_id": "go"})
    assert (await next_frame(guest))["code"] == "forbidden"
    await host.receive_nothing(timeout=0.3)


# --- answered by voice on air ------------------------------------------------------------------


async def test_the_host_marks_a_question_answered_on_air_naming_the_guest_and_everyone_follows(
    sockets, live_broadcast, personas
):
    asker = await open_viewer(sockets, live_broadcast.pk)
    await asker.send_json_to({"type": "ask", "client_id": "q-asker", "text": "地铁末班车能否延后？"})
    question_id = (await until(asker, "ask.ok"))["question_id"]
    await approve(live_broadcast.pk, question_id, publish=True)
    viewer = await open_viewer(sockets, live_broadcast.pk)
    guest, queue = await open_studio(sockets, live_broadcast.pk, personas["guest"])
    host, _ = await open_studio(sockets, live_broadcast.pk, personas["host"])
    assert [q["id"] for q in queue] == [question_id]

    named = await guest_id(live_broadcast.pk, personas["guest"])
    await host.send_json_to(on_air("oa-1", question_id, guest_id=named))
    assert await next_frame(host) == {"type": "ack", "ref": "oa-1"}

    event = await until(viewer, "event")
    assert event["kind"] == "answer.posted"
    answer = event["data"]["answer"]
    assert answer["on_air"] is True and answer["question_id"] == question_id
    assert answer["text"] == SUMMARY
    assert answer["guest"] == {"name": "张明", "title": "市交通委新闻发言人"}
    assert await until(guest, "question.answered") == {
        "type": "question.answered",
        "question_id": question_id,
        "answer_id": answer["id"],
    }
    told = await until(asker, "my_question")
    while told["status"] != "answered":
        told = await until(asker, "my_question")
    assert told["question_id"] == question_id
    assert await status_of_question(question_id) == "answered"
    assert await stored_answers(live_broadcast.pk) == [(question_id, "张明", SUMMARY, True, "harry")]


async def test_a_typed_answer_still_carries_no_on_air_field(sockets, live_broadcast, personas):
    question_id = await approved_question(live_broadcast.pk)
    viewer = await open_viewer(sockets, live_broadcast.pk)
    guest, _ = await open_studio(sockets, live_broadcast.pk, personas["guest"])
    await guest.send_json_to(
        {"type": "answer", "client_id": "a-1", "question_id": question_id, "text": "打字回答"}
    )
    assert await next_frame(guest) == {"type": "ack", "ref": "a-1"}
    assert "on_air" not in (await until(viewer, "event"))["data"]["answer"]


async def test_a_guest_marks_their_own_answer_on_air_without_naming_themselves(
    sockets, live_broadcast, personas
):
    question_id = await approved_question(live_broadcast.pk, publish=False)
    guest, _ = await open_studio(sockets, live_broadcast.pk, personas["guest"])
    await guest.send_json_to(on_air("oa-1", question_id))
    assert await next_frame(guest) == {"type": "ack", "ref": "oa-1"}
    assert await stored_answers(live_broadcast.pk) == [(question_id, "张明", SUMMARY, True, "grace")]


async def test_the_host_names_whichever_of_two_guests_answered(sockets, personas):
    broadcast = await two_guest_broadcast(personas)
    question_id = await approved_question(broadcast.pk)
    host, _ = await open_studio(sockets, broadcast.pk, personas["host"])
    await host.send_json_to(
        on_air("oa-1", question_id, guest_id=await guest_id(broadcast.pk, personas["other_guest"]))
    )
    assert await next_frame(host) == {"type": "ack", "ref": "oa-1"}
    assert await stored_answers(broadcast.pk) == [(question_id, "孙丽", SUMMARY, True, "harry")]


async def test_a_guest_cannot_credit_an_on_air_answer_to_another_guest(sockets, personas):
    broadcast = await two_guest_broadcast(personas)
    question_id = await approved_question(broadcast.pk)
    guest, _ = await open_studio(sockets, broadcast.pk, personas["guest"])
    await guest.send_json_to(
        on_air("oa-1", question_id, guest_id=await guest_id(broadcast.pk, personas["other_guest"]))
    )
    error = await next_frame(guest)
    assert (error["code"], error["ref"]) == ("forbidden", "oa-1")
    assert "own" in error["message"] or "自己" in error["message"]
    assert await count(Answer, broadcast_id=broadcast.pk) == 0


@pytest.mark.parametrize(
    ("guest", "code"),
    [
        pytest.param(None, "bad_frame", id="no-guest-named"),
        pytest.param("other-programme", "bad_frame", id="guest-of-another-programme"),
        pytest.param(987654, "bad_frame", id="no-such-guest"),
        pytest.param("12", "bad_frame", id="not-a-number"),
        pytest.param(True, "bad_frame", id="a-boolean"),
    ],
)
async def test_the_host_must_name_a_guest_of_this_programme(
    sockets, live_broadcast, other_broadcast, personas, guest, code
):
    question_id = await approved_question(live_broadcast.pk)
    viewer = await open_viewer(sockets, live_broadcast.pk)
    host, _ = await open_studio(sockets, live_broadcast.pk, personas["host"])
    if guest == "other-programme":
        guest = await guest_id(other_broadcast.pk, personas["other_guest"])
    frame = on_air("oa-1", question_id) if guest is None else on_air("oa-1", question_id, guest_id=guest)
    await host.send_json_to(frame)
    error = await next_frame(host)
    assert (error["type"], error["code"], error["ref"]) == ("error", code, "oa-1")
    assert "guest" in error["message"] or "嘉宾" in error["message"]
    assert await count(Answer, broadcast_id=live_broadcast.pk) == 0
    assert await status_of_question(question_id) == "approved"
    await viewer.receive_nothing(timeout=0.3)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        pytest.param("", "empty", id="empty"),
        pytest.param("   \n ", "empty", id="blank"),
        pytest.param("长" * 501, "too_long", id="501-characters"),
    ],
)
async def test_a_summary_must_be_1_to_500_characters(sockets, live_broadcast, personas, text, code):
    question_id = await approved_question(live_broadcast.pk)
    guest, _ = await open_studio(sockets, live_broadcast.pk, personas["guest"])
    await guest.send_json_to(on_air("oa-1", question_id, text))
    error = await next_frame(guest)
    assert (error["code"], error["ref"]) == (code, "oa-1")
    assert await count(Answer, broadcast_id=live_broadcast.pk) == 0


async def test_a_summary_of_exactly_500_characters_is_taken(sockets, live_broadcast, personas):
    question_id = await approved_question(live_broadcast.pk)
    guest, _ = await open_studio(sockets, live_broadcast.pk, personas["guest"])
    await guest.send_json_to(on_air("oa-1", question_id, "长" * 500))
    assert await next_frame(guest) == {"type": "ack", "ref": "oa-1"}


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param({"on_air": "yes"}, id="on_air-not-a-boolean"),
        pytest.param({"question_id": None}, id="no-question"),
    ],
)
async def test_a_malformed_on_air_answer_is_refused_as_bad_frame(sockets, live_broadcast, personas, frame):
    question_id = await approved_question(live_broadcast.pk)
    guest, _ = await open_studio(sockets, live_broadcast.pk, personas["guest"])
    await guest.send_json_to({**on_air("oa-1", question_id), **frame})
    error = await next_frame(guest)
    assert (error["code"], error["ref"]) == ("bad_frame", "oa-1")
    assert await count(Answer, broadcast_id=live_broadcast.pk) == 0


async def test_a_resent_on_air_answer_is_stored_and_shown_once(sockets, live_broadcast, personas):
    question_id = await approved_question(live_broadcast.pk)
    viewer = await open_viewer(sockets, live_broadcast.pk)
    host, _ = await open_studio(sockets, live_broadcast.pk, personas["host"])
    frame = on_air("oa-1", question_id, guest_id=await guest_id(live_broadcast.pk, personas["guest"]))
    await host.send_json_to(frame)
    assert await next_frame(host) == {"type": "ack", "ref": "oa-1"}
    assert (await until(host, "question.answered"))["question_id"] == question_id
    await host.send_json_to({**frame, "text": "重发时改了字"})  # e.g. after a reconnect
    assert await next_frame(host) == {"type": "ack", "ref": "oa-1"}
    assert (await until(viewer, "event"))["kind"] == "answer.posted"
    await viewer.receive_nothing(timeout=0.3)
    assert await stored_answers(live_broadcast.pk) == [(question_id, "张明", SUMMARY, True, "harry")]
    assert await count(Event, broadcast_id=live_broadcast.pk, kind="answer.posted") == 1


async def test_no_on_air_answer_is_taken_after_the_end(sockets, live_broadcast, personas):
    question_id = await approved_question(live_broadcast.pk)
    host, _ = await open_studio(sockets, live_broadcast.pk, personas["host"])
    await host.send_json_to({"type": "end", "action_id": "stop"})
    assert await next_frame(host) == {"type": "ack", "ref": "stop"}
    await host.send_json_to(
        on_air("oa-1", question_id, guest_id=await guest_id(live_broadcast.pk, personas["guest"]))
    )
    error = await until(host, "error")
    assert (error["code"], error["ref"]) == ("closed", "oa-1")
    assert await count(Answer, broadcast_id=live_broadcast.pk) == 0


async def test_a_pending_question_cannot_be_marked_answered_on_air(sockets, live_broadcast, personas):
    question_id = await ask(live_broadcast.pk)
    guest, _ = await open_studio(sockets, live_broadcast.pk, personas["guest"])
    await guest.send_json_to(on_air("oa-1", question_id))
    assert (await next_frame(guest))["code"] == "conflict"
    assert await status_of_question(question_id) == "pending"


async def test_the_host_still_cannot_type_an_answer(sockets, live_broadcast, personas):
    """The protocol rule of §1.3 stands: typed answers are the guests'; the host's console shows none."""
    question_id = await approved_question(live_broadcast.pk)
    host, _ = await open_studio(sockets, live_broadcast.pk, personas["host"])
    await host.send_json_to(
        {"type": "answer", "client_id": "a-1", "question_id": question_id, "text": "主持人代答"}
    )
    error = await next_frame(host)
    assert (error["code"], error["ref"]) == ("forbidden", "a-1")
    await host.send_json_to({**on_air("a-2", question_id), "on_air": False})  # false is a typed answer
    assert (await next_frame(host))["code"] == "forbidden"
    assert await count(Answer, broadcast_id=live_broadcast.pk) == 0


# --- the record: transcript, its exports, search ----------------------------------------------


def test_an_on_air_answer_reads_like_an_answer_in_the_transcript_its_exports_and_search(
    live_broadcast, personas
):
    from moderation.actions import approve_question
    from moderation.asking import ask_question
    from studio.services import post_on_air_answer, set_status

    question, _ = ask_question(live_broadcast.pk, "q-1", "地铁末班车能否延后？", "夜归人", "n-1", None)
    approve_question(live_broadcast.pk, question.pk, publish=True)
    guest = Guest.objects.get(broadcast=live_broadcast)
    post_on_air_answer(live_broadcast.pk, personas["host"], "oa-1", question.pk, SUMMARY, guest.pk)
    set_status(live_broadcast.pk, personas["host"], "ended")  # the end indexes the transcript for search

    client = Client()
    data = client.get(f"/api/broadcasts/{live_broadcast.pk}/transcript/").json()
    [item] = data["items"]
    [answer] = item["answers"]
    assert (answer["text"], answer["on_air"], answer["guest"]["name"]) == (SUMMARY, True, "张明")
    markdown = client.get(f"/api/broadcasts/{live_broadcast.pk}/transcript/?format=md").content.decode()
    assert "张明（市交通委新闻发言人）答（现场口头回答）：" in markdown and "末班车将延后半小时" in markdown
    csv = client.get(f"/api/broadcasts/{live_broadcast.pk}/transcript/?format=csv").content.decode(
        "utf-8-sig"
    )
    assert "（现场口头回答）" + SUMMARY in csv
    page = client.get(f"/transcript/{live_broadcast.pk}/").content.decode()
    assert SUMMARY in page and 'class="meta on-air"' in page
    found = client.get("/api/search/", {"q": "延后半小时"}).json()["results"]
    assert any(r["kind"] == "answer" and "末班车" in r["snippet"] for r in found)


# --- each role's page ---------------------------------------------------------------------------


def test_the_hosts_console_page_has_start_end_and_on_air_controls_and_no_answer_or_statement_box(
    live_broadcast, personas
):
    client = Client()
    client.force_login(personas["host"])
    page = client.get(f"/studio/{live_broadcast.pk}/").content.decode()
    assert 'data-host="1" data-guest="0"' in page
    assert 'id="start"' in page and 'id="end"' in page and 'id="end-dialog"' in page
    assert 'id="on-air-dialog"' in page and "张明（市交通委新闻发言人）" in page
    assert 'id="statement"' not in page


def test_a_guests_console_page_has_the_statement_box_and_no_host_controls(live_broadcast, personas):
    client = Client()
    client.force_login(personas["guest"])
    page = client.get(f"/studio/{live_broadcast.pk}/").content.decode()
    assert 'data-host="0" data-guest="1"' in page
    assert 'id="statement"' in page
    assert 'id="start"' not in page and 'id="end-dialog"' not in page and 'id="on-air-dialog"' not in page
