"""The letter module through its JSON API (PROTOCOL.md §2 "Letters"): the workflow, permissions,
bad input, idempotency, deadlines in working days, traffic lights and the supervision sweep.

Time is controlled by a `clock` fixture that replaces django.utils.timezone.now (what
letters.services, the views and the sweep read). The 2026 calendar is loaded from the
chinese-calendar package; the facts used here: Friday 19 June 2026 is the Dragon Boat Festival
(19–21 June off, no swapped day); National Day is 1–7 October with Saturday 10 October worked;
the package knows no year after 2026, so 2027 counts Monday to Friday until it is entered.
"""

import datetime as dt
import json
import os
from collections.abc import Iterator
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.management import call_command
from django.db import transaction
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from core import clock as core_clock
from departments.models import Department, TimeLimit
from letters import supervision
from letters.deadlines import calendar_changed
from letters.lights import light_at, light_case, stage_of
from letters.models import (
    CalendarDay,
    CalendarYear,
    Extension,
    Letter,
    LetterLog,
    LetterStatus,
    LightChange,
)

pytestmark = pytest.mark.django_db

TZ = timezone.get_default_timezone()
HANDLER = {"jtw": "handler_a", "swj": "handler_b"}
STAGES = ["submitted", "forwarded", "signed", "replied", "closed"]


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    """An instant in the site's time zone (Asia/Shanghai)."""
    return dt.datetime(year, month, day, hour, minute, tzinfo=TZ)


def iso(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> str:
    """How the API writes that instant."""
    return at(year, month, day, hour, minute).isoformat(timespec="seconds")


class Clock:
    def __init__(self) -> None:
        self.now = at(2026, 6, 8, 10)  # Monday of a normal week

    def __call__(self) -> dt.datetime:
        return self.now

    def set(self, *args: int) -> dt.datetime:
        self.now = at(*args)
        return self.now


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    """Idempotency answers live in the cache, which the database rollback does not empty."""
    cache.clear()


@pytest.fixture
def clock(monkeypatch) -> Iterator[Clock]:
    clock = Clock()
    with core_clock.use(clock):
        yield clock


@pytest.fixture
def calendar_2026(db) -> None:
    call_command("loadcalendar", "2026", stdout=StringIO())


class Api:
    """Test clients per persona, and short ways to write letters and take steps."""

    def __init__(self, personas: dict) -> None:
        self.personas = personas
        self.clients: dict[str, Client] = {}

    def client(self, who: str | None) -> Client:
        if who is None:
            return Client()
        if who not in self.clients:
            self.clients[who] = Client()
            self.clients[who].force_login(self.personas[who])
        return self.clients[who]

    def post(self, path: str, data=None, who: str | None = None, **extra):
        body = "" if data is None else data if isinstance(data, str | bytes) else json.dumps(data)
        return self.client(who).post(path, body, content_type="application/json", **extra)

    def get(self, path: str, who: str | None = None, **params):
        return self.client(who).get(path, params)

    def write(self, **fields) -> tuple[str, str]:
        data = {
            "kind": "consultation",
            "subject": "公交站台积水",
            "body": "雨天站台积水严重，请尽快处理。",
            "name": "王芳",
            "contact": "13800000000",
            "public": True,
        }
        data.update(fields)
        response = self.post("/api/letters/", data)
        assert response.status_code == 201, response.content
        return response.json()["code"], response.json()["key"]

    def act(self, code: str, action: str, who: str | None, **data):
        return self.post(f"/api/letters/{code}/{action}/", data or None, who)

    def ok(self, code: str, action: str, who: str | None, **data) -> dict:
        response = self.act(code, action, who, **data)
        assert response.status_code in (200, 201), response.content
        return response.json()

    def decide(self, code: str, extension_id: int, decision: str, who: str | None):
        return self.post(f"/api/letters/{code}/extensions/{extension_id}/{decision}/", None, who)

    def letter(self, upto: str = "submitted", department: str = "jtw", **fields) -> tuple[str, str]:
        """A letter taken through the workflow up to the given status."""
        code, key = self.write(**fields)
        reached = STAGES.index(upto)
        if reached >= 1:
            self.ok(code, "forward", "operator", department=department)
        if reached >= 2:
            self.ok(code, "sign", HANDLER[department])
        if reached >= 3:
            self.ok(code, "reply", HANDLER[department], text="已安排清理排水口。")
        if reached >= 4:
            self.ok(code, "evaluation", None, key=key, rating="satisfied", comment="谢谢")
        return code, key


@pytest.fixture
def api(personas, clock, calendar_2026) -> Api:
    return Api(personas)


def snapshot(code: str) -> tuple:
    """Everything a step could change: the letter row, its log and its extensions."""
    letter = Letter.objects.get(code=code)
    return (
        {field.attname: getattr(letter, field.attname) for field in Letter._meta.concrete_fields},
        list(letter.log.values_list("action", "from_status", "to_status")),
        list(letter.extensions.values_list("id", "state", "days")),
        LightChange.objects.filter(letter=letter).count(),
    )


def refused(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    error = response.json()["error"]
    if code:
        assert error["code"] == code
    assert error["message"]
    return error


def log_of(code: str) -> list[tuple[str, str, str, str]]:
    return list(
        LetterLog.objects.filter(letter__code=code).values_list("action", "by", "from_status", "to_status")
    )


# --- 1. the whole life ------------------------------------------------------------------------


def test_a_letter_goes_through_its_whole_life_and_every_step_is_logged(api, clock):
    clock.set(2026, 6, 8, 9)
    response = api.post(
        "/api/letters/",
        {
            "kind": "consultation",
            "subject": "公交站台积水",
            "body": "雨天站台积水严重。",
            "name": "王芳",
            "contact": "13800000000",
        },
    )
    assert response.status_code == 201
    assert set(response.json()) == {"code", "key"}
    code, key = response.json()["code"], response.json()["key"]
    assert code.startswith("MX260608")

    own = api.get(f"/api/letters/{code}/", key=key).json()
    assert own["status"] == "submitted" and own["department"] is None and own["light"] is None
    assert own["public"] is True  # the default

    clock.set(2026, 6, 8, 10)
    forwarded = api.ok(code, "forward", "operator", department="jtw")
    assert forwarded["status"] == "forwarded"
    assert forwarded["department"]["code"] == "jtw"
    assert forwarded["sign_deadline"] == iso(2026, 6, 10)  # Tuesday 24:00
    assert forwarded["light"] == "green"
    assert forwarded["name"] == "王芳" and forwarded["contact"] == "13800000000"

    clock.set(2026, 6, 8, 11)
    signed = api.ok(code, "sign", "handler_a")
    assert signed["status"] == "signed"
    assert signed["signed_at"] == iso(2026, 6, 8, 11)
    assert signed["sign_on_time"] is True
    # 5 working days after Monday: 9, 10, 11, 12, 15 June.
    assert signed["reply_deadline"] == iso(2026, 6, 16)
    assert signed["light"] == "green"

    clock.set(2026, 6, 10, 9)
    asked = api.act(code, "extend", "handler_a", days=4, reason="需要协调排水公司现场勘察")
    assert asked.status_code == 201
    extension = asked.json()["extension"]
    assert asked.json()["code"] == code and extension["days"] == 4
    pending = api.get(f"/api/letters/{code}/", "handler_a").json()["pending_extensions"]
    assert pending == [{"id": extension["id"], "days": 4, "reason": "需要协调排水公司现场勘察"}]

    clock.set(2026, 6, 10, 10)
    approved = api.decide(code, extension["id"], "approve", "operator")
    assert approved.status_code == 200
    # 5 + 4 working days, counted afresh: ... 16, 17, 18, (19–21 Dragon Boat), 22 June.
    assert approved.json()["reply_deadline"] == iso(2026, 6, 23)
    assert approved.json()["extension_days"] == 4
    assert approved.json()["pending_extensions"] == []
    assert Extension.objects.get(pk=extension["id"]).decided_by == "olga"

    clock.set(2026, 6, 12, 15)
    replied = api.ok(code, "reply", "handler_a", text="已安排清理排水口。")
    assert replied["status"] == "replied"
    assert replied["reply"] == "已安排清理排水口。"
    assert replied["replied_at"] == iso(2026, 6, 12, 15)
    assert replied["reply_on_time"] is True
    assert replied["light"] is None

    clock.set(2026, 6, 13, 8)
    evaluated = api.post(
        f"/api/letters/{code}/evaluation/", {"key": key, "rating": "unsatisfied", "comment": "没解决"}
    )
    assert evaluated.status_code == 200
    assert evaluated.json() == {"code": code, "status": "closed"}
    assert Letter.objects.get(code=code).rating_comment == "没解决"

    clock.set(2026, 6, 15, 10)
    redone = api.ok(code, "redo", "supervisor", reason="答复未解决积水问题")
    assert redone["status"] == "signed"
    assert redone["rating"] is None
    assert redone["redo_count"] == 1
    assert redone["reply_on_time"] is None
    assert redone["extension_days"] == 0
    # A new count of 5 from the redo: 16, 17, 18, (19–21), 22, 23 June.
    assert redone["reply_deadline"] == iso(2026, 6, 24)
    assert redone["light"] == "green"
    assert Letter.objects.get(code=code).closed_at is None

    clock.set(2026, 6, 17, 10)
    again = api.ok(code, "reply", "handler_a", text="排水口已疏通，站台已加装排水槽。")
    assert again["status"] == "replied" and again["reply_on_time"] is True
    assert again["reply"] == "排水口已疏通，站台已加装排水槽。"

    clock.set(2026, 6, 18, 10)
    api.ok(code, "evaluation", None, key=key, rating="basic", comment="")
    clock.set(2026, 6, 18, 11)
    marked = api.ok(code, "wrong-closure", "supervisor", reason="现场复查仍有积水")
    assert marked["status"] == "closed" and marked["wrong_closure"] is True
    assert marked["rating"] == "basic"

    assert log_of(code) == [
        ("submit", "", "", "submitted"),
        ("forward", "olga", "submitted", "forwarded"),
        ("sign", "hank", "forwarded", "signed"),
        ("extend", "hank", "signed", "signed"),
        ("approve_extension", "olga", "signed", "signed"),
        ("reply", "hank", "signed", "replied"),
        ("evaluate", "", "replied", "closed"),
        ("redo", "sam", "closed", "signed"),
        ("reply", "hank", "signed", "replied"),
        ("evaluate", "", "replied", "closed"),
        ("wrong_closure", "sam", "closed", "closed"),
    ]
    entries = list(LetterLog.objects.filter(letter__code=code))
    assert [entry.at for entry in entries] == sorted(entry.at for entry in entries)
    assert entries[1].data == {"department": "jtw"}
    assert entries[3].note == "需要协调排水公司现场勘察" and entries[3].data == {"days": 4}
    assert entries[6].data == {"rating": "unsatisfied"} and entries[6].note == "没解决"
    assert entries[7].note == "答复未解决积水问题"


def test_a_supervisor_may_approve_and_an_operator_refuse_an_extension(api):
    code, _key = api.letter("signed")
    first = api.ok(code, "extend", "handler_a", days=2, reason="待核实")["extension"]
    assert api.decide(code, first["id"], "approve", "supervisor").json()["extension_days"] == 2
    second = api.ok(code, "extend", "handler_a", days=3, reason="再核实")["extension"]
    before = Letter.objects.get(code=code).reply_deadline
    refused_ = api.decide(code, second["id"], "refuse", "operator")
    assert refused_.status_code == 200
    assert refused_.json()["extension_days"] == 2
    assert Letter.objects.get(code=code).reply_deadline == before
    assert Extension.objects.get(pk=second["id"]).state == "refused"
    assert [row[0] for row in log_of(code)][-2:] == ["extend", "refuse_extension"]


def test_a_redo_of_a_replied_letter_that_was_never_rated_is_allowed(api, clock):
    code, _key = api.letter("replied")
    clock.set(2026, 6, 9, 10)
    redone = api.ok(code, "redo", "supervisor", reason="答复过于简单")
    assert redone["status"] == "signed" and redone["reply_deadline"] == iso(2026, 6, 17)


def test_each_kind_of_letter_takes_its_reply_limit_from_the_registry(api, clock):
    clock.set(2026, 6, 1, 10)
    for kind, deadline in [
        ("consultation", iso(2026, 6, 9)),  # 5 working days
        ("opinion", iso(2026, 6, 16)),  # 10
        ("suggestion", iso(2026, 6, 16)),
        ("complaint", iso(2026, 6, 16)),
        ("report", iso(2026, 6, 24)),  # 15, across the Dragon Boat Festival
    ]:
        code, _key = api.letter("signed", kind=kind)
        assert api.get(f"/api/letters/{code}/", "operator").json()["reply_deadline"] == deadline, kind


# --- 2. illegal transitions -------------------------------------------------------------------

ILLEGAL = [
    pytest.param(
        "submitted",
        "sign",
        "handler_a",
        {},
        id="sign before forward",
    ),
    pytest.param("forwarded", "reply", "handler_a", {"text": "答复"}, id="reply before sign"),
    pytest.param("submitted", "evaluation", None, {"rating": "satisfied"}, id="evaluate a new letter"),
    pytest.param("signed", "evaluation", None, {"rating": "satisfied"}, id="evaluate before reply"),
    pytest.param("closed", "evaluation", None, {"rating": "basic"}, id="evaluate twice"),
    pytest.param("forwarded", "forward", "operator", {"department": "swj"}, id="forward twice"),
    pytest.param("signed", "forward", "operator", {"department": "jtw"}, id="forward a signed letter"),
    pytest.param("signed", "sign", "handler_a", {}, id="sign twice"),
    pytest.param("signed", "redo", "supervisor", {"reason": "重办"}, id="redo a signed letter"),
    pytest.param("forwarded", "redo", "supervisor", {"reason": "重办"}, id="redo a forwarded letter"),
    pytest.param("forwarded", "extend", "handler_a", {"days": 3, "reason": "协调"}, id="extend forwarded"),
    pytest.param("replied", "extend", "handler_a", {"days": 3, "reason": "协调"}, id="extend replied"),
    pytest.param("replied", "reply", "handler_a", {"text": "再答"}, id="reply twice"),
    pytest.param("replied", "return", "handler_a", {"reason": "不是我们的"}, id="return a replied letter"),
    pytest.param("replied", "wrong-closure", "supervisor", {"reason": "错"}, id="wrong closure, replied"),
    pytest.param("signed", "wrong-closure", "supervisor", {"reason": "错"}, id="wrong closure, signed"),
]


@pytest.mark.parametrize(("upto", "action", "who", "data"), ILLEGAL)
def test_an_illegal_transition_is_a_409_that_changes_nothing(api, upto, action, who, data):
    code, key = api.letter(upto)
    if action == "evaluation":
        data = {**data, "key": key}
    before = snapshot(code)
    refused(api.act(code, action, who, **data), 409, "conflict")
    assert snapshot(code) == before


def test_approving_an_extension_that_was_already_decided_is_a_409(api):
    code, _key = api.letter("signed")
    extension = api.ok(code, "extend", "handler_a", days=2, reason="协调")["extension"]
    assert api.decide(code, extension["id"], "approve", "operator").status_code == 200
    before = snapshot(code)
    refused(api.decide(code, extension["id"], "approve", "supervisor"), 409, "conflict")
    refused(api.decide(code, extension["id"], "refuse", "operator"), 409, "conflict")
    assert snapshot(code) == before
    assert Letter.objects.get(code=code).extension_days == 2


def test_marking_a_closure_wrong_twice_is_a_409(api):
    code, _key = api.letter("closed")
    api.ok(code, "wrong-closure", "supervisor", reason="敷衍")
    before = snapshot(code)
    refused(api.act(code, "wrong-closure", "supervisor", reason="再标"), 409, "conflict")
    assert snapshot(code) == before


def test_an_extension_of_another_letter_or_an_unknown_one_is_not_found(api):
    code, _key = api.letter("signed")
    other, _ = api.letter("signed")
    extension = api.ok(other, "extend", "handler_a", days=2, reason="协调")["extension"]
    before = snapshot(code)
    refused(api.decide(code, extension["id"], "approve", "operator"), 404, "not_found")
    refused(api.decide(code, 999999, "approve", "operator"), 404, "not_found")
    refused(api.decide(other, extension["id"], "maybe", "operator"), 404, "not_found")
    assert snapshot(code) == before
    assert Extension.objects.get(pk=extension["id"]).state == "pending"


def test_steps_on_an_unknown_letter_or_an_unknown_action_are_not_found(api):
    code, _key = api.letter("forwarded")
    refused(api.act("MX000000XXXXXX", "sign", "handler_a"), 404, "not_found")
    refused(api.act(code, "archive", "operator"), 404, "not_found")
    refused(api.get("/api/letters/MX000000XXXXXX/"), 404, "not_found")


# --- 3. permissions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("upto", "action", "data"),
    [
        ("forwarded", "sign", {}),
        ("signed", "reply", {"text": "越权答复"}),
        ("forwarded", "return", {"reason": "越权退回"}),
        ("signed", "return", {"reason": "越权退回"}),
        ("signed", "extend", {"days": 3, "reason": "越权延期"}),
    ],
)
def test_a_handler_of_another_department_cannot_act_on_a_letter(api, upto, action, data):
    code, _key = api.letter(upto, department="jtw")
    before = snapshot(code)
    refused(api.act(code, action, "handler_b", **data), 403, "forbidden")
    assert snapshot(code) == before


@pytest.mark.parametrize(
    ("upto", "action", "who", "data"),
    [
        ("submitted", "forward", "handler_a", {"department": "jtw"}),
        ("submitted", "forward", "supervisor", {"department": "jtw"}),
        ("submitted", "forward", None, {"department": "jtw"}),
        ("forwarded", "sign", None, {}),
        ("forwarded", "sign", "operator", {}),
        ("forwarded", "sign", "supervisor", {}),
        ("signed", "reply", None, {"text": "匿名答复"}),
        ("signed", "reply", "operator", {"text": "代答"}),
        ("signed", "extend", None, {"days": 2, "reason": "x"}),
        ("forwarded", "return", None, {"reason": "x"}),
        ("replied", "redo", "handler_a", {"reason": "自己重办"}),
        ("replied", "redo", "operator", {"reason": "重办"}),
        ("replied", "redo", None, {"reason": "重办"}),
        ("closed", "wrong-closure", "handler_a", {"reason": "x"}),
        ("closed", "wrong-closure", "operator", {"reason": "x"}),
        ("closed", "wrong-closure", None, {"reason": "x"}),
    ],
)
def test_a_step_outside_ones_role_is_a_403_that_changes_nothing(api, upto, action, who, data):
    code, _key = api.letter(upto)
    before = snapshot(code)
    refused(api.act(code, action, who, **data), 403, "forbidden")
    assert snapshot(code) == before


@pytest.mark.parametrize("who", ["handler_a", "handler_b", None])
def test_only_operators_and_supervisors_decide_extensions(api, who):
    code, _key = api.letter("signed")
    extension = api.ok(code, "extend", "handler_a", days=2, reason="协调")["extension"]
    before = snapshot(code)
    refused(api.decide(code, extension["id"], "approve", who), 403, "forbidden")
    assert snapshot(code) == before


@pytest.mark.parametrize("key", ["wrong-key", "", None, 12345])
def test_an_evaluation_with_a_wrong_or_missing_key_is_the_404_of_a_missing_code(api, key):
    code, _right = api.letter("replied")
    before = snapshot(code)
    data = {"rating": "satisfied"} if key is None else {"key": key, "rating": "satisfied"}
    wrong = refused(api.act(code, "evaluation", None, **data), 404, "not_found")
    missing = refused(api.act("MX260101NOSUCH", "evaluation", None, **data), 404, "not_found")
    assert wrong == missing
    assert snapshot(code) == before


def test_the_writer_reads_an_unanswered_letter_only_with_its_key(api):
    code, key = api.letter("forwarded", public=True)
    # Without the right key the letter is as absent as a code that does not exist (issue #13).
    missing = refused(api.get("/api/letters/MX260101NOSUCH/", key="not-the-key"), 404, "not_found")
    assert refused(api.get(f"/api/letters/{code}/"), 404, "not_found") == missing
    assert refused(api.get(f"/api/letters/{code}/", key="not-the-key"), 404, "not_found") == missing
    _other, other_key = api.letter("submitted")
    assert refused(api.get(f"/api/letters/{code}/", key=other_key), 404, "not_found") == missing
    assert refused(api.get(f"/api/letters/{code}/", "handler_b"), 404, "not_found") == missing
    own = api.get(f"/api/letters/{code}/", key=key)
    assert own.status_code == 200
    data = own.json()
    assert data["name"] == "王芳" and data["contact"] == "13800000000"
    assert data["status"] == "forwarded" and data["department"]["code"] == "jtw"
    assert data["sign_deadline"] and data["light"] == "green"
    assert api.get(f"/api/letters/{code}/", "handler_a").json()["contact"] == "13800000000"


def test_a_public_replied_letter_reads_without_key_but_without_the_writer(api):
    public, _ = api.letter("replied", public=True)
    private, _ = api.letter("replied", public=False)
    data = api.get(f"/api/letters/{public}/").json()
    assert data["reply"] == "已安排清理排水口。"
    assert "name" not in data and "contact" not in data and "王芳" not in json.dumps(data, ensure_ascii=False)
    refused(api.get(f"/api/letters/{private}/"), 404, "not_found")
    refused(api.get(f"/api/letters/{private}/", "handler_b"), 404, "not_found")


def test_who_sees_which_letters_in_the_list(api):
    letters = {
        "public_replied_jtw": api.letter("replied", "jtw", public=True)[0],
        "public_closed_swj": api.letter("closed", "swj", public=True)[0],
        "private_replied_jtw": api.letter("replied", "jtw", public=False)[0],
        "private_replied_swj": api.letter("replied", "swj", public=False)[0],
        "public_submitted": api.letter("submitted", public=True)[0],
        "public_forwarded_jtw": api.letter("forwarded", "jtw", public=True)[0],
        "private_signed_jtw": api.letter("signed", "jtw", public=False)[0],
    }

    def listed(who: str | None, **params) -> dict[str, dict]:
        response = api.get("/api/letters/", who, **params)
        assert response.status_code == 200
        by_code = {letter["code"]: letter for letter in response.json()["letters"]}
        return {name: by_code[code] for name, code in letters.items() if code in by_code}

    for anonymous in (listed(None), listed(None, department="jtw"), listed(None, status="replied")):
        for letter in anonymous.values():
            assert "name" not in letter and "contact" not in letter
    assert set(listed(None)) == {"public_replied_jtw", "public_closed_swj"}
    assert set(listed(None, department="jtw")) == {"public_replied_jtw"}
    assert set(listed(None, status="submitted")) == set()
    assert len(listed(None)) == len(api.get("/api/letters/").json()["letters"])  # nothing else

    own = listed("handler_a", department="jtw")
    assert set(own) == {
        "public_replied_jtw",
        "private_replied_jtw",
        "public_forwarded_jtw",
        "private_signed_jtw",
    }
    assert all(letter["contact"] == "13800000000" for letter in own.values())
    assert set(listed("handler_a", department="jtw", status="signed")) == {"private_signed_jtw"}
    others = listed("handler_a", department="swj")
    assert set(others) == {"public_closed_swj"}
    assert "contact" not in others["public_closed_swj"]
    assert set(listed("handler_a")) == {"public_replied_jtw", "public_closed_swj"}

    for who in ("operator", "supervisor"):
        everything = listed(who)
        assert set(everything) == set(letters)
        assert all(letter["contact"] == "13800000000" for letter in everything.values())
        assert set(listed(who, status="submitted")) == {"public_submitted"}


def test_the_list_refuses_an_unknown_status_or_department(api):
    assert refused(api.get("/api/letters/", status="lost"), 400)["fields"] == {"status": "unknown"}
    assert refused(api.get("/api/letters/", department="nowhere"), 400)["fields"] == {"department": "unknown"}


# --- 4. bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"kind": "poem"}, "kind"),
        ({"kind": None}, "kind"),
        ({"subject": ""}, "subject"),
        ({"subject": "   "}, "subject"),
        ({"subject": "字" * 101}, "subject"),
        ({"body": "字" * 5001}, "body"),
        ({"body": ""}, "body"),
        ({"name": None}, "name"),
        ({"name": "名" * 51}, "name"),
        ({"contact": 13800000000}, "contact"),
        ({"contact": "1" * 101}, "contact"),
        ({"subject": ["a"]}, "subject"),
        ({"public": "yes"}, "public"),
        ({"public": None}, "public"),
        ({"client_id": "k" * 65}, "client_id"),
        ({"client_id": 42}, "client_id"),
    ],
)
def test_a_letter_with_a_bad_field_is_a_400_naming_the_field_and_stores_nothing(api, change, field):
    data = {
        "kind": "consultation",
        "subject": "公交站台积水",
        "body": "请处理。",
        "name": "王芳",
        "contact": "13800000000",
    }
    data.update(change)
    if change.get("name", "") is None:
        del data["name"]
    error = refused(api.post("/api/letters/", data), 400, "bad_request")
    assert field in error["fields"]
    assert Letter.objects.count() == 0 and LetterLog.objects.count() == 0


def test_fields_at_their_limits_are_accepted(api):
    code, key = api.write(subject="字" * 100, body="字" * 5000, name="名" * 50, contact="1" * 100)
    letter = Letter.objects.get(code=code)
    assert len(letter.subject) == 100 and len(letter.body) == 5000
    assert api.get(f"/api/letters/{code}/", key=key).json()["subject"] == "字" * 100


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ("{not json", 400, "bad_json"),
        ("", 400, "bad_json"),
        ('["kind", "consultation"]', 400, "bad_json"),
        ('"a string"', 400, "bad_json"),
        (b"\xff\xfe{}", 400, "bad_json"),
        (json.dumps({"kind": "consultation", "body": "x" * (64 * 1024)}), 413, "too_long"),
    ],
)
def test_a_body_that_is_not_a_json_object_or_is_too_big_is_refused(api, body, status, code):
    refused(api.post("/api/letters/", body), status, code)
    assert Letter.objects.count() == 0


@pytest.mark.parametrize("department", ["nowhere", "", None, 7, ["jtw"]])
def test_forwarding_to_an_unknown_department_is_a_400(api, department):
    code, _key = api.letter("submitted")
    before = snapshot(code)
    error = refused(api.act(code, "forward", "operator", department=department), 400, "bad_request")
    assert error["fields"] == {"department": "unknown"}
    assert snapshot(code) == before


def test_forwarding_to_an_inactive_department_is_a_400(api):
    Department.objects.filter(code="swj").update(active=False)
    code, _key = api.letter("submitted")
    before = snapshot(code)
    refused(api.act(code, "forward", "operator", department="swj"), 400, "bad_request")
    assert snapshot(code) == before


@pytest.mark.parametrize(
    ("days", "reason", "field"),
    [
        (0, "协调", "days"),
        (-1, "协调", "days"),
        (31, "协调", "days"),
        ("3", "协调", "days"),
        (2.5, "协调", "days"),
        (True, "协调", "days"),
        (None, "协调", "days"),
        (3, "", "reason"),
        (3, "   ", "reason"),
        (3, None, "reason"),
        (3, "理" * 501, "reason"),
    ],
)
def test_an_extension_with_bad_days_or_reason_is_a_400(api, days, reason, field):
    code, _key = api.letter("signed")
    before = snapshot(code)
    error = refused(api.act(code, "extend", "handler_a", days=days, reason=reason), 400, "bad_request")
    assert field in error["fields"]
    assert snapshot(code) == before


def test_an_extension_of_thirty_days_is_the_most_allowed(api, clock):
    code, _key = api.letter("signed")
    assert api.act(code, "extend", "handler_a", days=30, reason="跨部门协调").status_code == 201


def test_an_extension_asked_at_or_after_the_deadline_is_a_409(api, clock):
    code, _key = api.letter("signed")  # reply deadline 16 June 00:00
    clock.set(2026, 6, 16)
    before = snapshot(code)
    refused(api.act(code, "extend", "handler_a", days=2, reason="来不及了"), 409, "conflict")
    clock.set(2026, 6, 20, 12)
    refused(api.act(code, "extend", "handler_a", days=2, reason="来不及了"), 409, "conflict")
    assert snapshot(code) == before
    clock.set(2026, 6, 15, 23, 59)
    assert api.act(code, "extend", "handler_a", days=2, reason="赶在最后").status_code == 201


def test_a_second_extension_while_one_is_pending_is_a_409(api):
    code, _key = api.letter("signed")
    first = api.ok(code, "extend", "handler_a", days=2, reason="协调")["extension"]
    before = snapshot(code)
    refused(api.act(code, "extend", "handler_a", days=3, reason="再协调"), 409, "conflict")
    assert snapshot(code) == before
    api.decide(code, first["id"], "refuse", "supervisor")
    assert api.act(code, "extend", "handler_a", days=3, reason="再协调").status_code == 201


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"rating": "great"}, "rating"),
        ({"rating": None}, "rating"),
        ({"rating": ["satisfied"]}, "rating"),
        ({"rating": "satisfied", "comment": "评" * 501}, "comment"),
        ({"rating": "satisfied", "comment": 5}, "comment"),
    ],
)
def test_an_evaluation_with_a_bad_rating_or_comment_is_a_400(api, data, field):
    code, key = api.letter("replied")
    before = snapshot(code)
    error = refused(api.act(code, "evaluation", None, key=key, **data), 400, "bad_request")
    assert field in error["fields"]
    assert snapshot(code) == before


@pytest.mark.parametrize(
    ("upto", "action", "who", "data", "field"),
    [
        ("forwarded", "return", "handler_a", {}, "reason"),
        ("signed", "return", "handler_a", {"reason": ""}, "reason"),
        ("signed", "reply", "handler_a", {}, "text"),
        ("signed", "reply", "handler_a", {"text": "  "}, "text"),
        ("signed", "reply", "handler_a", {"text": "答" * 10001}, "text"),
        ("replied", "redo", "supervisor", {}, "reason"),
        ("closed", "wrong-closure", "supervisor", {"reason": ""}, "reason"),
    ],
)
def test_a_step_with_a_missing_or_bad_field_is_a_400(api, upto, action, who, data, field):
    code, _key = api.letter(upto)
    before = snapshot(code)
    error = refused(api.act(code, action, who, **data), 400, "bad_request")
    assert field in error["fields"]
    assert snapshot(code) == before


def test_hostile_markup_in_a_reply_is_sanitized_before_it_is_stored(api):
    code, _key = api.letter("signed", public=True)
    hostile = (
        '<p>已处理</p><script>alert("x")</script><img src=x onerror=alert(1)>'
        '<a href="javascript:alert(2)">链接</a><b>加粗</b>'
    )
    replied = api.ok(code, "reply", "handler_a", text=hostile)
    stored = Letter.objects.get(code=code).reply
    for text in (stored, replied["reply"], api.get(f"/api/letters/{code}/").json()["reply"]):
        assert "<script" not in text.lower()
        assert "javascript:" not in text.lower()
        assert "onerror" not in text.lower() and "<img" not in text.lower()
    assert "<p>已处理</p>" in stored and "<b>加粗</b>" in stored


def test_markup_in_a_letter_is_kept_as_plain_text_not_run(api):
    code, key = api.write(subject="<script>alert(1)</script>", body="a\u0000b\nc")
    letter = Letter.objects.get(code=code)
    assert letter.body == "ab\nc"  # control characters dropped, line breaks kept
    assert api.get(f"/api/letters/{code}/", key=key).json()["subject"] == "<script>alert(1)</script>"


# --- 5. idempotency ---------------------------------------------------------------------------


def test_the_same_idempotency_key_twice_stores_one_letter(api):
    data = {"kind": "opinion", "subject": "主题", "body": "内容", "name": "王芳", "contact": "x"}
    first = api.post("/api/letters/", data, HTTP_IDEMPOTENCY_KEY="device-1-letter-1")
    second = api.post("/api/letters/", data, HTTP_IDEMPOTENCY_KEY="device-1-letter-1")
    assert first.status_code == 201 and second.status_code == 200
    assert second.json() == first.json()  # the same code and the same key
    assert Letter.objects.count() == 1 and LetterLog.objects.count() == 1
    code, key = first.json()["code"], first.json()["key"]
    assert api.get(f"/api/letters/{code}/", key=key).status_code == 200


def test_the_same_client_id_in_the_body_twice_stores_one_letter(api):
    data = {"kind": "opinion", "subject": "主题", "body": "内容", "name": "王芳", "contact": "x"}
    first = api.post("/api/letters/", {**data, "client_id": "c-7"})
    second = api.post("/api/letters/", {**data, "client_id": "c-7"})
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json() == first.json()
    assert Letter.objects.count() == 1


def test_a_repeat_after_the_cache_forgot_still_stores_one_letter(api):
    data = {"kind": "opinion", "subject": "主题", "body": "内容", "name": "王芳", "contact": "x"}
    first = api.post("/api/letters/", data, HTTP_IDEMPOTENCY_KEY="k-1")
    cache.clear()
    second = api.post("/api/letters/", data, HTTP_IDEMPOTENCY_KEY="k-1")
    assert second.status_code == 200
    assert second.json()["code"] == first.json()["code"]
    assert Letter.objects.count() == 1


def test_different_idempotency_keys_store_two_letters(api):
    data = {"kind": "opinion", "subject": "主题", "body": "内容", "name": "王芳", "contact": "x"}
    first = api.post("/api/letters/", data, HTTP_IDEMPOTENCY_KEY="k-1")
    second = api.post("/api/letters/", data, HTTP_IDEMPOTENCY_KEY="k-2")
    third = api.post("/api/letters/", data)  # none at all
    assert {first.status_code, second.status_code, third.status_code} == {201}
    assert len({first.json()["code"], second.json()["code"], third.json()["code"]}) == 3
    assert first.json()["key"] != second.json()["key"]
    assert Letter.objects.count() == 3


def test_a_refused_letter_does_not_use_up_its_idempotency_key(api):
    data = {"kind": "opinion", "subject": "", "body": "内容", "name": "王芳", "contact": "x"}
    refused(api.post("/api/letters/", data, HTTP_IDEMPOTENCY_KEY="k-9"), 400)
    again = api.post("/api/letters/", {**data, "subject": "主题"}, HTTP_IDEMPOTENCY_KEY="k-9")
    assert again.status_code == 201 and Letter.objects.count() == 1


# --- 6. return --------------------------------------------------------------------------------


def test_returning_a_forwarded_letter_sends_it_back_to_the_operators(api):
    code, _key = api.letter("forwarded")
    returned = api.ok(code, "return", "handler_a", reason="属水务局职责")
    assert returned["status"] == "submitted"
    assert returned["department"] is None
    assert returned["sign_deadline"] is None and returned["light"] is None
    letter = Letter.objects.get(code=code)
    assert letter.wrong_sign_count == 0 and letter.forwarded_at is None and letter.light == ""
    entry = LetterLog.objects.filter(letter=letter).last()
    assert (entry.action, entry.note, entry.data) == ("return", "属水务局职责", {"department": "jtw"})
    assert entry.from_status == "forwarded" and entry.to_status == "submitted"
    # It is no longer the handler's: not in its queue, and it cannot be signed any more.
    queue = api.get("/api/letters/", "handler_a", department="jtw").json()["letters"]
    assert code not in [letter["code"] for letter in queue]
    refused(api.act(code, "sign", "handler_a"), 409, "conflict")  # at no department: not a handler step yet

    again = api.ok(code, "forward", "operator", department="swj")
    assert again["status"] == "forwarded" and again["department"]["code"] == "swj"
    assert api.ok(code, "sign", "handler_b")["status"] == "signed"


def test_returning_after_signing_counts_a_wrong_sign_for(api):
    code, _key = api.letter("signed")
    returned = api.ok(code, "return", "handler_a", reason="签收后发现属水务局")
    assert returned["status"] == "submitted"
    assert returned["reply_deadline"] is None and returned["signed_at"] is None
    assert Letter.objects.get(code=code).wrong_sign_count == 1
    api.ok(code, "forward", "operator", department="swj")
    api.ok(code, "sign", "handler_b")
    api.ok(code, "return", "handler_b", reason="也不是我们的")
    assert Letter.objects.get(code=code).wrong_sign_count == 2
    assert [row[0] for row in log_of(code)] == [
        "submit",
        "forward",
        "sign",
        "return",
        "forward",
        "sign",
        "return",
    ]


def test_a_return_leaves_no_extension_pending_for_the_next_department(api):
    code, _key = api.letter("signed", department="jtw")
    api.ok(code, "extend", "handler_a", days=5, reason="协调")
    api.ok(code, "return", "handler_a", reason="不是我们的")
    api.ok(code, "forward", "operator", department="swj")
    signed = api.ok(code, "sign", "handler_b")
    assert signed["pending_extensions"] == []
    assert api.act(code, "extend", "handler_b", days=2, reason="水务局核实").status_code == 201


# --- 7. deadlines and lights ------------------------------------------------------------------


def test_a_letter_forwarded_on_friday_must_be_signed_for_by_monday_midnight(api, clock):
    clock.set(2026, 6, 12, 16)  # Friday afternoon
    code, _key = api.letter("forwarded")
    data = api.get(f"/api/letters/{code}/", "operator").json()
    assert data["sign_deadline"] == iso(2026, 6, 16)  # Monday 24:00 = Tuesday 00:00
    letter = Letter.objects.get(code=code)
    assert letter.sign_yellow_at == at(2026, 6, 15, 8)  # a third of Monday
    assert light_at(letter, at(2026, 6, 13, 12)) == "green"  # the weekend does not count
    assert light_at(letter, at(2026, 6, 15, 7, 59)) == "green"
    assert light_at(letter, at(2026, 6, 15, 8)) == "yellow"
    assert light_at(letter, at(2026, 6, 15, 23, 59)) == "yellow"
    assert light_at(letter, at(2026, 6, 16)) == "red"


def test_a_letter_forwarded_before_national_day_is_due_after_the_holiday(api, clock):
    clock.set(2026, 9, 30, 17)  # Wednesday before 1–7 October
    code, _key = api.letter("forwarded")
    letter = Letter.objects.get(code=code)
    assert letter.sign_deadline == at(2026, 10, 9)  # Thursday 8 October 24:00
    assert letter.sign_yellow_at == at(2026, 10, 8, 8)
    assert light_at(letter, at(2026, 10, 5, 12)) == "green"
    clock.set(2026, 9, 30, 18)
    signed = api.ok(code, "sign", "handler_a")
    # 8, 9, 10 (Saturday, worked), 12, 13 October.
    assert signed["reply_deadline"] == iso(2026, 10, 14)


def test_a_limit_in_hours_counts_clock_hours_through_the_weekend(api, clock):
    TimeLimit.objects.create(
        department=Department.objects.get(code="jtw"),
        letter_kind="complaint",
        sign_limit=2,
        sign_unit="hours",
        reply_limit=48,
        reply_unit="hours",
    )
    clock.set(2026, 6, 13, 10)  # Saturday
    code, _key = api.letter("forwarded", kind="complaint")
    letter = Letter.objects.get(code=code)
    assert letter.sign_deadline == at(2026, 6, 13, 12)
    assert letter.sign_yellow_at == at(2026, 6, 13, 10, 40)
    clock.set(2026, 6, 13, 11)
    assert api.ok(code, "sign", "handler_a")["reply_deadline"] == iso(2026, 6, 15, 11)
    extension = api.ok(code, "extend", "handler_a", days=1, reason="核实")["extension"]
    approved = api.decide(code, extension["id"], "approve", "supervisor").json()
    assert approved["reply_deadline"] == iso(2026, 6, 16, 11)
    # A swj complaint still has the default limit in working days.
    other, _ = api.letter("forwarded", department="swj", kind="complaint")
    assert Letter.objects.get(code=other).sign_deadline == at(2026, 6, 16)


def test_a_time_limit_edited_after_forwarding_does_not_move_the_deadline(api):
    code, _key = api.letter("forwarded")
    before = Letter.objects.get(code=code).sign_deadline
    TimeLimit.objects.create(
        department=Department.objects.get(code="jtw"), letter_kind="consultation", sign_limit=3, reply_limit=9
    )
    calendar_changed([2026])
    assert Letter.objects.get(code=code).sign_deadline == before
    later, _ = api.letter("forwarded")
    assert Letter.objects.get(code=later).sign_deadline == at(2026, 6, 12)  # 3 days: 9, 10, 11 June


def test_the_api_light_is_the_same_as_light_at(api, clock):
    clock.set(2026, 6, 12, 16)
    code, key = api.letter("forwarded")
    for moment, expected in [
        ((2026, 6, 13, 9), "green"),
        ((2026, 6, 15, 9), "yellow"),
        ((2026, 6, 16, 0, 1), "red"),
    ]:
        clock.set(*moment)
        letter = Letter.objects.get(code=code)
        assert light_at(letter, clock.now) == expected
        assert api.get(f"/api/letters/{code}/", key=key).json()["light"] == expected
        assert api.get(f"/api/letters/{code}/", "handler_a").json()["light"] == expected
        queue = api.get("/api/letters/", "handler_a", department="jtw").json()["letters"]
        assert [letter["light"] for letter in queue if letter["code"] == code] == [expected]


def lights(code: str) -> list[tuple[str, str, dt.datetime]]:
    return list(LightChange.objects.filter(letter__code=code).values_list("stage", "light", "at"))


def test_the_sweep_records_each_change_of_light_once_for_both_stages(api, clock):
    clock.set(2026, 6, 8, 11)
    replying, _ = api.letter("signed")  # reply: yellow 10 June 16:00, red 16 June 00:00
    clock.set(2026, 6, 12, 16)
    signing, _ = api.letter("forwarded")  # sign: yellow 15 June 08:00, red 16 June 00:00
    assert Letter.objects.get(code=replying).reply_yellow_at == at(2026, 6, 10, 16)

    first = at(2026, 6, 12, 17)
    assert supervision.sweep(first) == {"green": 0, "yellow": 1, "red": 0}
    assert lights(replying) == [("reply", "yellow", first)]
    assert lights(signing) == []  # still green, as the forward set it
    assert supervision.sweep(first) == {"green": 0, "yellow": 0, "red": 0}
    assert LightChange.objects.count() == 1

    monday = at(2026, 6, 15, 9)
    assert supervision.sweep(monday) == {"green": 0, "yellow": 1, "red": 0}
    assert lights(signing) == [("sign", "yellow", monday)]
    assert Letter.objects.get(code=signing).light == "yellow"

    tuesday = at(2026, 6, 16)
    assert supervision.sweep(tuesday) == {"green": 0, "yellow": 0, "red": 2}
    assert supervision.sweep(tuesday) == {"green": 0, "yellow": 0, "red": 0}
    assert lights(signing) == [("sign", "yellow", monday), ("sign", "red", tuesday)]
    assert lights(replying) == [("reply", "yellow", first), ("reply", "red", tuesday)]
    assert {Letter.objects.get(code=code).light for code in (signing, replying)} == {"red"}
    for code in (signing, replying):
        assert Letter.objects.get(code=code).light == light_at(Letter.objects.get(code=code), tuesday)

    # Signing for it late starts the reply stage green; the sweep has nothing to record.
    clock.set(2026, 6, 16, 10)
    assert api.ok(signing, "sign", "handler_a")["light"] == "green"
    assert Letter.objects.get(code=signing).light == "green"
    assert supervision.sweep(at(2026, 6, 16, 10)) == {"green": 0, "yellow": 0, "red": 0}
    # Replied letters leave the sweep.
    clock.set(2026, 6, 16, 11)
    api.ok(replying, "reply", "handler_a", text="迟到的答复")
    assert Letter.objects.get(code=replying).light == ""
    supervision.sweep(at(2026, 7, 30))
    assert lights(replying)[-1] == ("reply", "red", tuesday)
    assert lights(signing)[-1] == ("reply", "red", at(2026, 7, 30))


def test_the_sweep_turns_a_light_green_again_when_an_extension_moves_the_deadline(api, clock):
    code, _key = api.letter("signed")  # reply: yellow 10 June 16:00
    supervision.sweep(at(2026, 6, 11, 9))
    assert Letter.objects.get(code=code).light == "yellow"
    clock.set(2026, 6, 11, 9)
    extension = api.ok(code, "extend", "handler_a", days=20, reason="需专项资金")["extension"]
    api.decide(code, extension["id"], "approve", "supervisor")
    assert supervision.sweep(at(2026, 6, 11, 10)) == {"green": 1, "yellow": 0, "red": 0}
    assert lights(code)[-1] == ("reply", "green", at(2026, 6, 11, 10))


def test_the_sign_for_verdict_is_frozen_when_the_stage_ends(api, clock):
    clock.set(2026, 6, 12, 16)
    code, _key = api.letter("forwarded")  # due 16 June 00:00
    clock.set(2026, 6, 16, 10)
    signed = api.ok(code, "sign", "handler_a")
    assert signed["sign_on_time"] is False
    # 5 working days after 16 June: 17, 18, (19–21), 22, 23, 24.
    assert signed["reply_deadline"] == iso(2026, 6, 25)

    # Had 15 June been a holiday, the signing would have been on time; entering it later
    # changes neither the verdict nor the closed stage's deadline, but moves the open one.
    year = CalendarYear.objects.get(year=2026)
    CalendarDay.objects.create(calendar=year, date=dt.date(2026, 6, 15), is_working_day=False, name="假")
    CalendarDay.objects.create(calendar=year, date=dt.date(2026, 6, 17), is_working_day=False, name="假")
    calendar_changed([2026])
    letter = Letter.objects.get(code=code)
    assert letter.sign_on_time is False
    assert letter.sign_deadline == at(2026, 6, 16)
    assert letter.reply_deadline == at(2026, 6, 26)


def test_the_reply_verdict_is_frozen_when_the_letter_is_replied(api, clock):
    code, _key = api.letter("signed")  # due 16 June 00:00
    clock.set(2026, 6, 17, 10)
    assert api.ok(code, "reply", "handler_a", text="迟复")["reply_on_time"] is False
    year = CalendarYear.objects.get(year=2026)
    for day in (9, 10, 11):
        CalendarDay.objects.create(calendar=year, date=dt.date(2026, 6, day), is_working_day=False)
    calendar_changed([2026])
    letter = Letter.objects.get(code=code)
    assert letter.reply_on_time is False and letter.reply_deadline == at(2026, 6, 16)


# --- 8. recompute when a year's calendar is entered -------------------------------------------


def test_entering_next_years_calendar_in_the_admin_moves_open_deadlines_only(api, clock):
    clock.set(2026, 12, 28, 10)  # Monday
    open_reply, _ = api.letter("signed")
    closed, closed_key = api.letter("signed")
    clock.set(2026, 12, 31, 10)
    open_sign, _ = api.letter("forwarded")
    clock.set(2026, 12, 31, 15)
    api.ok(closed, "reply", "handler_a", text="已答复")
    api.ok(closed, "evaluation", None, key=closed_key, rating="satisfied")

    # 2027 has no calendar yet: Monday to Friday, so 1 January counts as a working day.
    assert not CalendarYear.objects.filter(year=2027).exists()
    assert Letter.objects.get(code=open_reply).reply_deadline == at(2027, 1, 5)  # 29, 30, 31, 1, 4
    assert Letter.objects.get(code=open_sign).sign_deadline == at(2027, 1, 2)  # 1 January 24:00
    closed_before = snapshot(closed)
    assert closed_before[0]["status"] == "closed"
    assert closed_before[0]["reply_on_time"] is True and closed_before[0]["reply_deadline"] == at(2027, 1, 5)

    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw-root")
    browser = Client()
    browser.force_login(admin)
    response = browser.post(
        "/admin/letters/calendaryear/add/",
        {
            "year": "2027",
            "note": "国务院办公厅通知",
            "days-TOTAL_FORMS": "1",
            "days-INITIAL_FORMS": "0",
            "days-MIN_NUM_FORMS": "0",
            "days-MAX_NUM_FORMS": "1000",
            "days-0-date": "2027-01-01",
            "days-0-name": "元旦",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert CalendarDay.objects.get(date=dt.date(2027, 1, 1)).is_working_day is False

    assert Letter.objects.get(code=open_reply).reply_deadline == at(2027, 1, 6)
    assert Letter.objects.get(code=open_sign).sign_deadline == at(2027, 1, 5)
    assert snapshot(closed) == closed_before
    data = api.get(f"/api/letters/{open_reply}/", "supervisor").json()
    assert data["reply_deadline"] == iso(2027, 1, 6)


def test_calendar_changed_moves_open_deadlines_and_their_yellow_moments(api, clock):
    clock.set(2026, 12, 30, 10)  # Wednesday
    code, _key = api.letter("signed")  # 31, 1, 4, 5, 6 → 7 January 00:00
    letter = Letter.objects.get(code=code)
    assert letter.reply_deadline == at(2027, 1, 7)
    assert letter.reply_yellow_at == at(2027, 1, 1, 16)  # 40 of 120 working hours
    year = CalendarYear.objects.create(year=2027, source="operator")
    CalendarDay.objects.create(calendar=year, date=dt.date(2027, 1, 1), is_working_day=False, name="元旦")
    calendar_changed([2027])
    letter = Letter.objects.get(code=code)
    assert letter.reply_deadline == at(2027, 1, 8)
    assert letter.reply_yellow_at == at(2027, 1, 4, 16)
    assert light_at(letter, at(2027, 1, 2, 12)) == "green"


# --- 9. the supervise command ------------------------------------------------------------------


def test_the_supervise_command_prints_how_many_lights_changed(api, clock):
    clock.set(2026, 6, 12, 16)
    api.letter("forwarded")
    api.letter("forwarded")
    clock.set(2026, 6, 8, 11)
    api.letter("signed")
    clock.set(2026, 6, 15, 9)
    out = StringIO()
    call_command("supervise", stdout=out)
    assert out.getvalue().strip() == "green=0 yellow=3 red=0"
    assert LightChange.objects.filter(light="yellow", at=at(2026, 6, 15, 9)).count() == 3
    out = StringIO()
    call_command("supervise", stdout=out)
    assert out.getvalue().strip() == "green=0 yellow=0 red=0"


# --- one rule, three readings (letters/lights.py) -----------------------------------------------

LIGHT_EXAMPLES = int(os.environ.get("MINXIN_LIGHT_EXAMPLES", "60"))
SOMEWHEN = dt.datetime(2026, 6, 15, 8, tzinfo=dt.UTC)
# Moments relative to `now`: on it, a microsecond, a second, hours and days either side, or anywhere
# within about three years.
offsets = st.one_of(
    st.sampled_from([0, 1, -1, 10**6, -(10**6), 3 * 3600 * 10**6, -3 * 3600 * 10**6, 2 * 86400 * 10**6]),
    st.integers(min_value=-(10**14), max_value=10**14),
).map(lambda microseconds: dt.timedelta(microseconds=microseconds))
moments = st.none() | offsets
letter_states = st.fixed_dictionaries(
    {
        "status": st.sampled_from(list(LetterStatus)),
        "sign_deadline": moments,
        "sign_yellow_at": moments,
        "reply_deadline": moments,
        "reply_yellow_at": moments,
        "light": st.sampled_from(["", "green", "yellow", "red"]),  # as the last sweep stored it
    }
)


@hypothesis_settings(
    max_examples=LIGHT_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)
@given(
    states=st.lists(letter_states, min_size=1, max_size=8),
    now_offset=offsets,
    zone=st.sampled_from([dt.UTC, TZ]),
)
def test_light_at_the_database_expression_and_the_sweep_agree_on_every_letter(db, states, now_offset, zone):
    now = (SOMEWHEN + now_offset).astimezone(zone)
    with transaction.atomic():
        stored = Letter.objects.bulk_create(
            Letter(
                code=f"MXLIGHT{i:03d}",
                key_hash="0" * 64,
                kind="consultation",
                subject="路灯",
                body="路灯不亮",
                name="李女士",
                contact="13000000000",
                submitted_at=now - dt.timedelta(days=30),
                **{
                    field: now + value if isinstance(value, dt.timedelta) else value
                    for field, value in state.items()
                },
            )
            for i, state in enumerate(states)
        )
        ids = [letter.pk for letter in stored]
        before = {letter.pk: letter for letter in Letter.objects.filter(pk__in=ids)}  # as stored
        python = {pk: light_at(letter, now) or "" for pk, letter in before.items()}

        # The database expression: annotated, filtered by and ordered by, as the pages use it.
        annotated = Letter.objects.filter(pk__in=ids).annotate(now_light=light_case(now))
        assert dict(annotated.values_list("pk", "now_light")) == python
        for light in ("red", "yellow", "green", ""):
            wanted = {pk for pk, value in python.items() if value == light}
            assert set(annotated.filter(now_light=light).values_list("pk", flat=True)) == wanted
        ordered = list(annotated.order_by("now_light", "pk").values_list("pk", flat=True))
        assert ordered == sorted(ids, key=lambda pk: (python[pk], pk))

        # The sweep: it stores the light light_at computes and records each change once.
        moved = {pk: light for pk, light in python.items() if light and light != before[pk].light}
        counts = supervision.sweep(now)
        assert counts == {
            light: sum(1 for value in moved.values() if value == light)
            for light in ("green", "yellow", "red")
        }
        after = dict(Letter.objects.filter(pk__in=ids).values_list("pk", "light"))
        assert after == {pk: python[pk] or before[pk].light for pk in ids}
        changes = LightChange.objects.filter(letter_id__in=ids)
        assert sorted(changes.values_list("letter_id", "stage", "light", "at")) == sorted(
            (pk, stage_of(before[pk]).name, light, now)  # type: ignore[union-attr]
            for pk, light in moved.items()
        )
        assert supervision.sweep(now) == {"green": 0, "yellow": 0, "red": 0}
        transaction.set_rollback(True)
