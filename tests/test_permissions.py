"""The permission matrix (issue 8, item 3): every actor × every action, over WebSocket and HTTP.

Rows are actors, columns are actions; a cell is what that actor gets when it tries that action on
"this programme" (department jtw, host harry, guest grace, moderator mona named on it) or on a
letter of department jtw in the state the action needs. One test per actor walks its row; every
cell starts afresh (a new programme with the same cast, a new question or letter; over HTTP the
cell is also rolled back), and a cell with a known bug is split off as its own strict xfail.

The vocabulary of a cell:
  "ok"         allowed, and the action took effect (the stored state changed, where it writes)
  4401 / 4403  the WebSocket is closed at connect: login required / not allowed for this user
  "forbidden"  an `error` frame with code `forbidden`, or a 403 (JSON `forbidden` on the API)
  "login"      a redirect to the login page (/accounts/login/; the admin's own for /admin/)
  404          the page does not exist for this user
  409          the state machine answers before the permission check (no cell does today: each
               action meets a programme or letter in a state that allows it, and every letter
               step checks role and department before the status)

Every refusal is also checked to have changed nothing (question status, answers, host messages,
programme status, the letter row, its log and its extensions).
"""

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import transaction
from django.test import Client
from django.urls import reverse

from core.netizens import NETIZEN_COOKIE
from letters import services as letter_services
from letters.models import Letter
from moderation.actions import approve_question
from moderation.asking import ask_question
from studio.models import Broadcast

from .conftest import make_broadcast, make_staff, netizen_cookie

# --- the matrix --------------------------------------------------------------------------------

Y, F, L = "ok", "forbidden", "login"  # short names so that the grids below fit on a screen
N = 404  # a letter read without its key answers as if no such code existed (no probing of codes)

ACTORS = (
    "anonymous",  # no session at all
    "netizen",  # an identity cookie without an account: it has visited /live/<id>/
    "moderator",  # named among this programme's moderators
    "other_moderator",  # a moderator named on another programme only
    "guest",  # a guest of this programme (department jtw)
    "other_guest",  # a guest of another programme (department swj)
    "host",  # this programme's host
    "operator",
    "handler_a",  # a handler of the letter's department (jtw)
    "handler_b",  # a handler of another department (swj)
    "supervisor",
)

# fmt: off
WS_ACTIONS = ("live", "ask", "moderate", "approve", "studio", "answer", "host.message", "start", "end")
WS_MATRIX: dict[str, tuple] = {
    #                   live ask  moderate approve studio answer host.message start end
    "anonymous":       (Y,   Y,   4401,    4401,   4401,  4401,  4401,        4401, 4401),
    "netizen":         (Y,   Y,   4401,    4401,   4401,  4401,  4401,        4401, 4401),
    "moderator":       (Y,   Y,   Y,       Y,      4403,  4403,  4403,        4403, 4403),
    "other_moderator": (Y,   Y,   4403,    4403,   4403,  4403,  4403,        4403, 4403),
    "guest":           (Y,   Y,   4403,    4403,   Y,     Y,     F,           F,    F),
    "other_guest":     (Y,   Y,   4403,    4403,   4403,  4403,  4403,        4403, 4403),
    "host":            (Y,   Y,   4403,    4403,   Y,     F,     Y,           Y,    Y),
    "operator":        (Y,   Y,   4403,    4403,   4403,  4403,  4403,        4403, 4403),
    "handler_a":       (Y,   Y,   4403,    4403,   4403,  4403,  4403,        4403, 4403),
    "handler_b":       (Y,   Y,   4403,    4403,   4403,  4403,  4403,        4403, 4403),
    "supervisor":      (Y,   Y,   4403,    4403,   4403,  4403,  4403,        4403, 4403),
}

PROGRAMME_HTTP_ACTIONS = ("ask", "moderate page", "audit.csv", "studio page", "admin questions")
PROGRAMME_HTTP_MATRIX: dict[str, tuple] = {
    #                   ask  moderate page audit.csv studio page admin questions
    "anonymous":       (Y,   L,            L,        L,          L),
    "netizen":         (Y,   L,            L,        L,          L),
    "moderator":       (Y,   Y,            Y,        404,        Y),
    "other_moderator": (Y,   404,          404,      404,        Y),
    "guest":           (Y,   404,          404,      Y,          F),
    "other_guest":     (Y,   404,          404,      404,        F),
    "host":            (Y,   404,          404,      Y,          F),
    "operator":        (Y,   404,          404,      404,        F),
    "handler_a":       (Y,   404,          404,      404,        F),
    "handler_b":       (Y,   404,          404,      404,        F),
    "supervisor":      (Y,   404,          Y,        404,        F),
}

LETTER_HTTP_ACTIONS = (
    "forward", "sign", "return", "extend", "reply", "approve extension", "redo", "wrong-closure",
    "read letter", "assessment", "operator page", "handler page", "supervisor page",
)
LETTER_HTTP_MATRIX: dict[str, tuple] = {
    #                   forward sign return extend reply approve-ext redo wrong-closure read assessment operator-pg handler-pg supervisor-pg
    "anonymous":       (F,      F,   F,     F,     F,    F,          F,   F,            N,   F,         L,          L,         L),
    "netizen":         (F,      F,   F,     F,     F,    F,          F,   F,            N,   F,         L,          L,         L),
    "moderator":       (F,      F,   F,     F,     F,    F,          F,   F,            N,   F,         F,          F,         F),
    "other_moderator": (F,      F,   F,     F,     F,    F,          F,   F,            N,   F,         F,          F,         F),
    "guest":           (F,      F,   F,     F,     F,    F,          F,   F,            N,   F,         F,          F,         F),
    "other_guest":     (F,      F,   F,     F,     F,    F,          F,   F,            N,   F,         F,          F,         F),
    "host":            (F,      F,   F,     F,     F,    F,          F,   F,            N,   F,         F,          F,         F),
    "operator":        (Y,      F,   F,     F,     F,    Y,          F,   F,            Y,   Y,         Y,          F,         F),
    "handler_a":       (F,      Y,   Y,     Y,     Y,    F,          F,   F,            Y,   F,         F,          Y,         F),
    "handler_b":       (F,      F,   F,     F,     F,    F,          F,   F,            N,   F,         F,          Y,         F),
    "supervisor":      (F,      F,   F,     F,     F,    Y,          Y,   Y,            Y,   Y,         F,          F,         Y),
}
# fmt: on

HTTP_ACTIONS = PROGRAMME_HTTP_ACTIONS + LETTER_HTTP_ACTIONS
HTTP_MATRIX = {actor: PROGRAMME_HTTP_MATRIX[actor] + LETTER_HTTP_MATRIX[actor] for actor in ACTORS}


# (transport, actor, action) -> what goes wrong, for cells where the code disagrees with the contract.
BUGS: dict[tuple[str, str, str], str] = {}


def rows(transport: str, actions: tuple[str, ...], matrix: dict[str, tuple]) -> list:
    """One test per actor holding its row; a cell with a known bug becomes its own xfail test."""
    assert set(matrix) == set(ACTORS) and all(len(row) == len(actions) for row in matrix.values())
    params = []
    for actor in ACTORS:
        row = dict(zip(actions, matrix[actor], strict=True))
        bugs = {
            action: why for (where, who, action), why in BUGS.items() if (where, who) == (transport, actor)
        }
        params.append(pytest.param(actor, {a: e for a, e in row.items() if a not in bugs}, id=actor))
        for action, why in bugs.items():
            mark = pytest.mark.xfail(strict=True, reason=f"BUG: {why}")
            params.append(pytest.param(actor, {action: row[action]}, id=f"{actor}-{action}", marks=mark))
    return params


def judged(outcome: object, expected: object, before: object, after: object) -> object:
    """The outcome, or what was wrong with the stored state: an allowed action must take effect,
    a refused one must change nothing. (Both states are None for an action that only reads.)"""
    if before is None and after is None:
        return outcome
    if outcome == expected == Y and after == before:
        return "ok, but nothing was stored"
    if outcome == expected != Y and after != before:
        return f"{outcome}, but the stored state changed"
    return outcome


# --- the world each cell starts from -------------------------------------------------------------


@dataclass
class World:
    users: dict  # actor -> user; anonymous and netizen have none
    netizen: Client  # a browser that has opened a live page: its identity cookie, no session
    programme: Broadcast  # "this programme"; every cell gets a fresh one

    def client(self, actor: str) -> Client:
        if actor == "netizen":
            return self.netizen
        client = Client()
        if actor != "anonymous":
            client.force_login(self.users[actor])
        return client

    @property
    def netizen_cookie(self) -> bytes:
        return f"{NETIZEN_COOKIE}={self.netizen.cookies[NETIZEN_COOKIE].value}".encode()

    def visit_live_page(self) -> None:
        """What a netizen's browser does before it asks: open the programme's live page (which
        asks for its identity before the first question)."""
        netizen_cookie(self.netizen, self.programme.pk)

    def fresh_programme(self) -> Broadcast:
        """A live programme of department jtw: host harry, guest grace, moderator mona named on it."""
        self.programme = make_broadcast("jtw", self.users["host"], [self.users["guest"]], status="live")
        self.programme.moderators.add(self.users["moderator"])
        return self.programme

    def question(self, approved: bool = False) -> int:
        question, _created = ask_question(
            self.programme.pk, uuid.uuid4().hex, "地铁末班车能否延后到24点？", "乘客", "netizen-x", None
        )
        if approved:
            approve_question(self.programme.pk, question.pk, False, by="mona")
        return question.pk

    def letter(self, upto: str) -> str:
        """A new letter of department jtw taken through the workflow up to `upto`."""
        answer, _created = letter_services.submit(
            {
                "kind": "consultation",
                "subject": "公交站台积水",
                "body": "雨天站台积水严重，请尽快处理。",
                "name": "王芳",
                "contact": "13800000000",
                "public": True,
            }
        )
        code, key = answer["code"], answer["key"]
        reached = ["submitted", "forwarded", "signed", "replied", "closed"].index(upto)
        if reached >= 1:
            letter_services.forward(code, "jtw", self.users["operator"])
        if reached >= 2:
            letter_services.sign(code, self.users["handler_a"])
        if reached >= 3:
            letter_services.reply(code, "已安排清理排水口。", self.users["handler_a"])
        if reached >= 4:
            letter_services.evaluate(code, key, "satisfied", "谢谢")
        return code


@pytest.fixture
def world(personas) -> World:
    """The cast of conftest, plus a moderator (mike) named only on another programme (swj), whose
    guest is other_guest."""
    users = {**personas, "other_moderator": make_staff("mike", "moderator", name="米克")}
    other = make_broadcast(
        "swj", make_staff("hugo", "host"), [personas["other_guest"]], status="live", title="汛期排水"
    )
    other.moderators.add(users["other_moderator"])
    world = World(users=users, netizen=Client(), programme=other)
    world.visit_live_page()
    assert NETIZEN_COOKIE in world.netizen.cookies  # an identity, and no account
    assert settings.SESSION_COOKIE_NAME not in world.netizen.cookies
    return world


def programme_state(world: World, _context: Any = None) -> tuple:
    """Everything a programme action could change."""
    broadcast = Broadcast.objects.get(pk=world.programme.pk)
    return (
        broadcast.status,
        broadcast.last_seq,
        sorted(broadcast.questions.values_list("id", "status")),
        broadcast.answers.count(),
        broadcast.host_messages.count(),
    )


def letter_state(code: str) -> tuple:
    """Everything a letter step could change: the row, its log and its extensions."""
    letter = Letter.objects.get(code=code)
    return (
        {field.attname: getattr(letter, field.attname) for field in Letter._meta.concrete_fields},
        list(letter.log.values_list("action", "from_status", "to_status")),
        list(letter.extensions.values_list("id", "state", "days")),
    )


# --- WebSocket ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class WsAction:
    endpoint: str  # live | moderate | studio
    frame: Callable[[Any], dict] | None = None  # from the prepared context; None: connecting is the action
    prepare: Callable[[World], Any] = lambda world: None
    state: Callable[[World, Any], Any] | None = programme_state


def _scheduled(world: World) -> None:
    Broadcast.objects.filter(pk=world.programme.pk).update(status="scheduled")


WS = {
    "live": WsAction("live", state=None),
    "ask": WsAction(
        "live",
        lambda _: {
            "type": "ask",
            "client_id": uuid.uuid4().hex,
            "text": "末班车能否延后？",
            "nickname": "乘客",
        },
    ),
    "moderate": WsAction("moderate", state=None),
    "approve": WsAction(
        "moderate",
        lambda question_id: {"type": "approve", "action_id": "a-1", "question_id": question_id},
        prepare=World.question,
    ),
    "studio": WsAction("studio", state=None),
    "answer": WsAction(
        "studio",
        lambda question_id: {
            "type": "answer",
            "client_id": uuid.uuid4().hex,
            "question_id": question_id,
            "text": "我们正在研究延长末班车。",
        },
        prepare=lambda world: world.question(approved=True),
    ),
    "host.message": WsAction(
        "studio", lambda _: {"type": "host.message", "client_id": uuid.uuid4().hex, "text": "欢迎收看。"}
    ),
    "start": WsAction("studio", lambda _: {"type": "start", "action_id": "s-1"}, prepare=_scheduled),
    "end": WsAction("studio", lambda _: {"type": "end", "action_id": "e-1"}),
}
assert set(WS) == set(WS_ACTIONS)

FIRST_FRAME = {"live": "hello", "moderate": "queue", "studio": "queue"}
REPLIES = {"ask.ok", "ack", "error"}
ERROR_CODES = {"forbidden": F, "conflict": 409}


async def ws_attempt(sockets, world: World, actor: str, spec: WsAction, context: Any) -> object:
    user = world.users.get(actor)
    headers = [(b"cookie", world.netizen_cookie)] if actor == "netizen" else None
    ws = await sockets.open(f"/ws/{spec.endpoint}/{world.programme.pk}/", user=user, headers=headers)
    first = await ws.receive_output(timeout=5)
    if first["type"] == "websocket.close":
        return first["code"]
    assert json.loads(first["text"])["type"] == FIRST_FRAME[spec.endpoint]
    if spec.frame is None:
        return Y
    sent = spec.frame(context)
    await ws.send_json_to(sent)
    while True:  # skip pushes (question.updated, question.answered, presence) up to the reply
        reply = await ws.receive_json_from(timeout=5)
        if reply["type"] in REPLIES:
            break
    assert reply.get("ref") == sent.get("client_id", sent.get("action_id")), reply
    if reply["type"] == "error":
        return ERROR_CODES.get(reply["code"], reply)
    return Y


async def ws_cell(sockets, world: World, actor: str, action: str, expected: object) -> object:
    spec = WS[action]
    await database_sync_to_async(world.fresh_programme)()
    if actor == "netizen":
        await database_sync_to_async(world.visit_live_page)()
    context = await database_sync_to_async(spec.prepare)(world)
    state = database_sync_to_async(spec.state) if spec.state else None
    before = await state(world, context) if state else None
    outcome = await ws_attempt(sockets, world, actor, spec, context)
    after = await state(world, context) if state else None
    return judged(outcome, expected, before, after)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("actor", "expected"), rows("ws", WS_ACTIONS, WS_MATRIX))
async def test_each_actor_gets_the_documented_answer_over_websocket(sockets, world, actor, expected):
    observed = {
        action: await ws_cell(sockets, world, actor, action, want) for action, want in expected.items()
    }
    assert observed == expected


# --- HTTP --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HttpAction:
    send: Callable[[Client, World, Any], Any]  # (client, world, prepared context) -> response
    prepare: Callable[[World], Any] = lambda world: None
    state: Callable[[World, Any], Any] | None = None
    check: Callable[[Any], None] = lambda response: None  # more about an allowed answer


def post_json(client: Client, path: str, body: dict | None = None):
    return client.post(path, json.dumps(body) if body is not None else "", content_type="application/json")


def page(path: str, **more: Any) -> HttpAction:
    return HttpAction(send=lambda client, world, _: client.get(path.format(id=world.programme.pk)), **more)


def letter_step(upto: str, action: str, body: dict | None = None) -> HttpAction:
    return HttpAction(
        send=lambda client, world, code: post_json(client, f"/api/letters/{code}/{action}/", body),
        prepare=lambda world: world.letter(upto),
        state=lambda world, code: letter_state(code),
    )


def with_pending_extension(world: World) -> tuple[str, int]:
    code = world.letter("signed")
    extension = letter_services.request_extension(code, 3, "需要协调多个部门", world.users["handler_a"])
    return code, extension.pk


def is_csv(response) -> None:
    assert response["Content-Type"].startswith("text/csv")


def is_private(response) -> None:
    assert response.json()["contact"] == "13800000000"


HTTP = {
    "ask": HttpAction(
        send=lambda client, world, _: post_json(
            client,
            f"/api/broadcasts/{world.programme.pk}/questions/",
            {"client_id": uuid.uuid4().hex, "text": "末班车能否延后？", "nickname": "乘客"},
        ),
        state=programme_state,
    ),
    "moderate page": page("/moderate/{id}/"),
    "audit.csv": page("/moderate/{id}/audit.csv", check=is_csv),
    "studio page": page("/studio/{id}/"),
    "admin questions": page("/admin/moderation/question/"),
    "forward": letter_step("submitted", "forward", {"department": "jtw"}),
    "sign": letter_step("forwarded", "sign"),
    "return": letter_step("forwarded", "return", {"reason": "不属于本部门职责"}),
    "extend": letter_step("signed", "extend", {"days": 3, "reason": "需要协调多个部门"}),
    "reply": letter_step("signed", "reply", {"text": "已安排清理排水口。"}),
    "approve extension": HttpAction(
        send=lambda client, world, ctx: post_json(
            client, f"/api/letters/{ctx[0]}/extensions/{ctx[1]}/approve/"
        ),
        prepare=with_pending_extension,
        state=lambda world, ctx: letter_state(ctx[0]),
    ),
    "redo": letter_step("replied", "redo", {"reason": "答复不完整"}),
    "wrong-closure": letter_step("closed", "wrong-closure", {"reason": "办结情况不实"}),
    "read letter": HttpAction(
        send=lambda client, world, code: client.get(f"/api/letters/{code}/"),
        prepare=lambda world: world.letter("forwarded"),  # public, but not replied yet
        check=is_private,
    ),
    "assessment": page("/api/assessment/"),
    "operator page": page("/letters/operator/"),
    "handler page": page("/letters/handler/"),
    "supervisor page": page("/letters/supervisor/"),
}
assert set(HTTP) == set(HTTP_ACTIONS)


def http_outcome(response) -> object:
    status, path = response.status_code, response.request["PATH_INFO"]
    if status in (200, 201):
        return Y
    if status == 302:
        login = reverse("admin:login") if path.startswith("/admin/") else settings.LOGIN_URL
        assert urlsplit(response["Location"]).path == login, response["Location"]
        return L
    if status == 403:
        if response["Content-Type"].startswith("application/json"):
            assert response.json()["error"]["code"] == "forbidden"
        return F
    if status in (404, 409):
        return status
    raise AssertionError(f"unexpected {status} from {path}: {response.content[:300]!r}")


def http_cell(world: World, actor: str, action: str, expected: object) -> object:
    """One cell in a transaction rolled back afterwards, so that the next cell starts afresh."""
    spec = HTTP[action]
    with transaction.atomic():
        world.fresh_programme()
        if actor == "netizen":
            world.visit_live_page()
        context = spec.prepare(world)
        before = spec.state(world, context) if spec.state else None
        response = spec.send(world.client(actor), world, context)
        outcome = http_outcome(response)
        if outcome == Y:
            spec.check(response)
        after = spec.state(world, context) if spec.state else None
        transaction.set_rollback(True)
    return judged(outcome, expected, before, after)


@pytest.mark.django_db
@pytest.mark.parametrize(("actor", "expected"), rows("http", HTTP_ACTIONS, HTTP_MATRIX))
def test_each_actor_gets_the_documented_answer_over_http(world, actor, expected):
    observed = {action: http_cell(world, actor, action, want) for action, want in expected.items()}
    assert observed == expected
