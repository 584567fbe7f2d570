"""The pages a citizen or staff member uses, and more rows for them to list (issue #17).

Shared by the page benchmark (bench/pages.py) and the query-count test (tests/test_query_counts.py):
`PAGES` names every page and API with the role it is for; `prepare()` adds, on top of the demo, one
replied public letter to look up by its key (the same at every size), and `grow(n)` adds `n` more
rows of what each page lists, through the services, as a citizen, operator, handler or guest would:

* letters to 交通委 in every state (waiting for the operators, forwarded, signed with an extension
  waiting, replied, closed with a rating), and to 人力社保局 (a unit with divisions) assigned to a
  division, half of them with a draft waiting for its coordinator (a fifth as many);
* in the live programme `n` questions: a third published and answered, a third approved and
  waiting for a guest, a third waiting for the moderators;
* a new ended programme with `n // 4` questions and answers (its transcript, replay and events).

A question costs about as much as three letter steps (screening, the live events, the search
index), hence the thirds and the quarter: demo+2000 loads in two to three minutes on 2 cores.

Runs inside a configured Django (the test, or the bench's `manage.py shell`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

PUBLIC_TARGET_MS = 100.0
STAFF_TARGET_MS = 200.0


@dataclass(frozen=True)
class Page:
    name: str
    path: str  # with {live}, {ended}, {code}, {key} filled in from the context
    role: str | None = None  # the demo account it is requested as; None: a citizen, not logged in

    @property
    def public(self) -> bool:
        return self.role is None

    @property
    def target_ms(self) -> float:
        return PUBLIC_TARGET_MS if self.public else STAFF_TARGET_MS

    def url(self, context: dict[str, Any]) -> str:
        return self.path.format(**context)


PAGES = [
    Page("home", "/"),
    Page("live", "/live/{live}/"),
    Page("replay", "/replay/{ended}/"),
    Page("transcript", "/transcript/{ended}/"),
    Page("search", "/search/?q=公交"),
    Page("stats", "/stats/"),
    Page("letters-public", "/letters/"),
    Page("letters-write", "/letters/write/"),
    Page("letters-track", "/letters/track/"),
    Page("letters-scoreboard", "/letters/scoreboard/"),
    Page("login", "/accounts/login/"),
    Page("api-broadcasts", "/api/broadcasts/"),
    Page("api-broadcast", "/api/broadcasts/{ended}/"),
    Page("api-events", "/api/broadcasts/{ended}/events/"),
    Page("api-transcript", "/api/broadcasts/{ended}/transcript/"),
    Page("api-supports", "/api/broadcasts/{live}/supports/"),
    Page("api-my-questions", "/api/broadcasts/{live}/my-questions/"),
    Page("api-search", "/api/search/?q=公交"),
    Page("api-stats", "/api/stats/"),
    Page("api-departments", "/api/departments/"),
    Page("api-scoreboard", "/api/departments/scoreboard/"),
    Page("api-letters", "/api/letters/"),
    Page("api-letter", "/api/letters/{code}/?key={key}"),
    Page("studio-host", "/studio/{live}/", "host"),
    Page("studio-guest", "/studio/{live}/", "guest_wjw"),
    Page("moderate", "/moderate/{live}/", "moderator"),
    Page("letters-operator", "/letters/operator/", "operator"),
    Page("letters-handler", "/letters/handler/", "handler_jtw"),
    Page("letters-coordinator", "/letters/handler/", "coordinator_rsj"),
    Page("letters-division", "/letters/handler/", "handler_rsj_jiuye"),
    Page("letters-supervisor", "/letters/supervisor/", "supervisor"),
    Page("letters-contact-access", "/letters/supervisor/contact-access/", "supervisor"),
    Page("api-letters-handler", "/api/letters/?department=jtw", "handler_jtw"),  # its own unit's letters
    Page("api-assessment", "/api/assessment/", "supervisor"),
    Page("api-reports", "/api/reports/", "supervisor"),
]
ROLES = sorted({page.role for page in PAGES if page.role})


@dataclass
class Counted:
    """One request of a page, counted in-process: its status, its size and the SQL it sent."""

    status: int
    size: int
    sql: list[str]

    @property
    def queries(self) -> int:
        return len(self.sql)


def count_queries(
    context: dict[str, Any], **client_defaults: str
) -> tuple[dict[str, Counted], dict[str, str]]:
    """Every page requested twice through Django's test Client as its role, the second request
    counted (the first warms the caches: sessions, the registry, the scoreboard); and each role's
    session cookie (name=value)."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    users = {u.username: u for u in get_user_model().objects.filter(username__in=ROLES)}
    clients: dict[str | None, Client] = {}
    found = {}
    for page in PAGES:
        if page.role not in clients:
            clients[page.role] = Client(**client_defaults)  # type: ignore[arg-type]
            if page.role:
                clients[page.role].force_login(users[page.role])
        client, url = clients[page.role], page.url(context)
        client.get(url)
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        found[page.name] = Counted(
            response.status_code, len(response.content), [q["sql"] for q in queries.captured_queries]
        )
    name = settings.SESSION_COOKIE_NAME
    cookies = {role: f"{name}={c.cookies[name].value}" for role, c in clients.items() if role}
    return found, cookies


def _users() -> dict[str, Any]:
    from django.contrib.auth import get_user_model

    names = [*ROLES, "operator"]
    return {user.username: user for user in get_user_model().objects.filter(username__in=names)}


def _writer(prefix: str) -> Callable[[int, str], dict]:
    from letters import services

    def write(number: int, subject: str) -> dict:
        data = {
            "kind": "complaint",
            "subject": f"{subject}（{prefix}{number}）",
            "body": f"第{number}号来信：朝阳路站的站牌仍写着旧的首末班时间，请尽快更正。",
            "name": "王先生",
            "contact": f"138{number:08d}",
            "public": True,
            "consent": True,
        }
        return services.submit(data)[0]

    return write


def prepare() -> dict[str, Any]:
    """After the demo: one replied public letter to look up by its key; the pages' ids."""
    from letters import services

    users = _users()
    letter = _writer("look-up")(0, "夜班公交发车间隔太长")
    services.forward(letter["code"], "jtw", users["operator"])
    services.sign(letter["code"], users["handler_jtw"])
    services.reply(letter["code"], "<p>已调整为每20分钟一班。</p>", users["handler_jtw"])
    return context(letter)


def prepare_year() -> dict[str, Any]:
    """After `manage.py simulate` (every programme ended, every letter closed): a live programme
    with the demo's live guest, as the pages' paths need one, the demo's unit with divisions (its
    coordinator and division handlers, and its few letters) and the look-up letter."""
    from django.contrib.auth import get_user_model

    from archive import demo_units
    from archive.management.commands.demo import PASSWORD
    from core import clock
    from departments.models import Department
    from studio import services as studio
    from studio.models import Guest

    users = {
        u.username: u for u in get_user_model().objects.filter(username__in=["host", "guest_wjw", "operator"])
    }
    demo_units.load(users, PASSWORD)
    department = Department.objects.get(code="wjw")
    broadcast = studio.create_broadcast(
        title="年度数据上的直播", department=department, starts_at=clock.now(), host=users["host"]
    )
    guest = users["guest_wjw"]
    Guest.objects.create(
        broadcast=broadcast, user=guest, display_name=guest.first_name, department=department
    )
    studio.set_status(broadcast.pk, users["host"], "live")
    return prepare()


def context(letter: dict) -> dict[str, Any]:
    """The ids the pages' paths need: the live programme, the latest ended one, the letter."""
    from studio.models import Broadcast

    live = Broadcast.objects.filter(status="live").order_by("pk").first()
    ended = Broadcast.objects.filter(status="ended").order_by("-pk").first()
    assert live is not None and ended is not None, "the demo's programmes are missing"
    return {"live": live.pk, "ended": ended.pk, "code": letter["code"], "key": letter["key"]}


def grow(n: int, letter: dict) -> dict[str, Any]:
    """`n` more rows of everything the pages list (see the module's docstring); the new context."""
    if n > 0:
        users = _users()
        _letters(n, users)
        _unit_letters(n, users)
        _questions(n, users)
        _ended_programme(n, users)
    return context(letter)


def _letters(n: int, users: dict) -> None:
    from letters import services

    write = _writer(uuid.uuid4().hex[:6])
    operator, handler = users["operator"], users["handler_jtw"]
    for number in range(n):
        stage = number % 5
        letter = write(number, "公交站台雨棚破损")
        if stage == 0:
            continue  # waits for the operators
        services.forward(letter["code"], "jtw", operator)
        if stage == 1:
            continue  # forwarded, waits to be signed for
        services.sign(letter["code"], handler)
        if stage == 2:
            services.request_extension(letter["code"], 2, "需要现场核实。", handler)
            continue
        services.reply(letter["code"], "<p>已安排维修。</p>", handler)
        if stage == 4:
            services.evaluate(letter["code"], letter["key"], "satisfied", "谢谢")


def _unit_letters(n: int, users: dict) -> None:
    from letters import handling, services

    write = _writer(uuid.uuid4().hex[:6])
    operator, coordinator = users["operator"], users["coordinator_rsj"]
    for number in range(max(1, n // 5)):
        code = write(number, "失业保险金申领进度")["code"]
        services.forward(code, "rsj", operator)
        services.sign(code, coordinator)
        handling.assign(code, "jiuye", coordinator)
        if number % 2:
            handling.draft(code, "<p>已受理，将于5个工作日内发放。</p>", users["handler_rsj_jiuye"])


def _ask(broadcast_id: int, texts: list[str]) -> list[Any]:
    from moderation.asking import AskRequest, ask_questions

    stored = []
    for start in range(0, len(texts), 200):
        requests = []
        for text in texts[start : start + 200]:
            key = uuid.uuid4().hex
            requests.append(AskRequest(broadcast_id, key, text, "网友", key))
        for result in ask_questions(requests):
            assert isinstance(result, tuple), result
            stored.append(result[0])
    return stored


def _answered(broadcast_id: int, n: int, guest: Any, topic: str) -> None:
    from moderation.actions import approve_question
    from studio import services as studio

    for number, question in enumerate(
        _ask(broadcast_id, [f"{topic}第{i}问：公交什么时候调整？" for i in range(n)])
    ):
        approve_question(broadcast_id, question.pk, publish=True, by="moderator")
        studio.post_answer(
            broadcast_id, guest, uuid.uuid4().hex, question.pk, f"第{number}问的答复：下月调整。"
        )


def _questions(n: int, users: dict) -> None:
    """The live programme: n questions, a third answered, a third approved and waiting for a guest,
    a third waiting for the moderators."""
    from moderation.actions import approve_question
    from studio.models import Broadcast

    live = Broadcast.objects.get(status="live")
    third = max(1, n // 3)
    _answered(live.pk, third, users["guest_wjw"], "直播")
    for question in _ask(live.pk, [f"待答第{i}问：社区医院周末开门吗？" for i in range(third)]):
        approve_question(live.pk, question.pk, publish=True, by="moderator")
    _ask(live.pk, [f"待审第{i}问：家庭医生能上门吗？" for i in range(third)])


def _ended_programme(n: int, users: dict) -> None:
    from departments.models import Department
    from studio import services as studio
    from studio.models import BroadcastStatus, Guest

    host = users["host"]
    department = Department.objects.get(code="wjw")
    broadcast = studio.create_broadcast(
        title=f"大型访谈（{max(1, n // 4)}问）",
        department=department,
        starts_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=1),
        host=host,
        summary="卫健委做客走进直播间。",
    )
    guest = users["guest_wjw"]
    Guest.objects.create(
        broadcast=broadcast, user=guest, display_name=guest.first_name, title="", department=department
    )
    studio.set_status(broadcast.pk, host, BroadcastStatus.LIVE)
    _answered(broadcast.pk, max(1, n // 4), guest, "访谈")
    studio.set_status(broadcast.pk, host, BroadcastStatus.ENDED)
