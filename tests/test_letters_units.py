"""Handling inside a unit with divisions (issue #16, PROTOCOL.md §4): the coordinator (the unit's 纠风
office) signs for a letter and assigns it to a division (业务处室); the division's handler drafts the
reply; the coordinator sends it or sends it back. A unit without divisions works as before.

The API, the clock and the personas come from tests/test_letters.py; jtw gets two divisions here.
"""

import threading

import pytest
from django.db import connection
from django.test import Client

from departments.models import Department, Division
from letters import handling
from letters.models import ContactAccess, Letter, LetterLog
from tests import test_letters
from tests.conftest import make_staff
from tests.test_letters import Api, log_of, refused, snapshot

# The fixtures of tests/test_letters.py: the clock, the 2026 calendar, the API and its personas.
api, clock, calendar_2026, _empty_cache = (
    test_letters.api,
    test_letters.clock,
    test_letters.calendar_2026,
    test_letters._empty_cache,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def unit(api: Api) -> Api:
    """jtw with two divisions, its coordinator and a handler in each division (hank, jtw's handler of
    no division, stays); swj keeps no divisions."""
    roads = Division.objects.create(department_id=_jtw(), code="roads", name="道路处")
    transit = Division.objects.create(department_id=_jtw(), code="transit", name="公交处")
    api.personas["coordinator"] = make_staff("cora", "coordinator", "jtw", name="纠风办")
    api.personas["roads"] = make_staff("dora", "handler", "jtw")
    api.personas["transit"] = make_staff("tom", "handler", "jtw")
    for who, division in (("roads", roads), ("transit", transit)):
        profile = api.personas[who].staff
        profile.division = division
        profile.save()
    api.personas["swj_coordinator"] = make_staff("sven", "coordinator", "swj")
    return api


def _jtw() -> int:
    return Department.objects.get(code="jtw").pk


def signed(unit: Api, division: str | None = None) -> tuple[str, str]:
    code, key = unit.write()
    unit.ok(code, "forward", "operator", department="jtw")
    unit.ok(code, "sign", "coordinator")
    if division:
        unit.ok(code, "assign", "coordinator", division=division)
    return code, key


def test_the_coordinator_signs_assigns_and_sends_the_divisions_draft_and_every_step_is_logged(unit, clock):
    clock.set(2026, 6, 8, 9)
    code, key = unit.write()
    unit.ok(code, "forward", "operator", department="jtw")
    refused(unit.act(code, "sign", "handler_a"), 403, "forbidden")  # jtw's coordinator signs now
    clock.set(2026, 6, 8, 11)
    letter = unit.ok(code, "sign", "coordinator")
    assert letter["status"] == "signed" and letter["sign_on_time"] is True
    assert letter["division"] is None
    letter = unit.ok(code, "assign", "coordinator", division="roads")
    assert letter["division"] == {"code": "roads", "name": "道路处"}
    assert letter["status"] == "signed"

    clock.set(2026, 6, 9, 10)
    letter = unit.ok(code, "draft", "roads", text="已安排<b>清理</b>排水口。")
    assert letter["status"] == "signed" and letter["draft"] == "已安排<b>清理</b>排水口。"
    assert letter["draft_by"] == "dora" and letter["reply"] is None
    # The writer sees no draft: the reply is not sent yet.
    mine = unit.get(f"/api/letters/{code}/", key=key).json()
    assert mine["reply"] is None and "draft" not in mine and mine["status"] == "signed"

    clock.set(2026, 6, 9, 15)
    letter = unit.ok(code, "approve-draft", "coordinator")
    assert letter["status"] == "replied"
    assert letter["reply"] == "已安排<b>清理</b>排水口。" and letter["draft"] is None
    assert letter["reply_on_time"] is True
    assert unit.get(f"/api/letters/{code}/", key=key).json()["reply"] == "已安排<b>清理</b>排水口。"
    assert log_of(code) == [
        ("submit", "", "", "submitted"),
        ("forward", "olga", "submitted", "forwarded"),
        ("sign", "cora", "forwarded", "signed"),
        ("assign", "cora", "signed", "signed"),
        ("draft", "dora", "signed", "signed"),
        ("approve_draft", "cora", "signed", "signed"),
        ("reply", "cora", "signed", "replied"),
    ]
    assign = LetterLog.objects.get(letter__code=code, action="assign")
    assert assign.data["division"] == "roads" and assign.data["previous"] is None


def test_a_draft_sent_back_is_redrafted_with_the_reason_logged(unit):
    code, _key = signed(unit, "roads")
    unit.ok(code, "draft", "roads", text="初稿")
    letter = unit.ok(code, "return-draft", "coordinator", reason="请写明处理时限")
    assert letter["draft"] is None and letter["status"] == "signed"
    entry = LetterLog.objects.get(letter__code=code, action="return_draft")
    assert (entry.by, entry.note, entry.data["drafted_by"]) == ("cora", "请写明处理时限", "dora")
    refused(unit.act(code, "approve-draft", "coordinator"), 409, "conflict")  # nothing to approve
    unit.ok(code, "draft", "roads", text="已安排，本周五前清理完毕。")
    assert unit.ok(code, "approve-draft", "coordinator")["reply"] == "已安排，本周五前清理完毕。"


def test_reassigning_drops_the_draft_and_moves_the_letter_to_the_other_division(unit):
    code, _key = signed(unit, "roads")
    unit.ok(code, "draft", "roads", text="道路处初稿")
    letter = unit.ok(code, "assign", "coordinator", division="transit")
    assert letter["division"]["code"] == "transit" and letter["draft"] is None
    entry = LetterLog.objects.filter(letter__code=code, action="assign").last()
    assert entry is not None
    assert entry.data == {"division": "transit", "previous": "roads", "dropped_draft": True}
    refused(unit.act(code, "draft", "roads", text="还是我们答"), 403, "forbidden")
    unit.ok(code, "draft", "transit", text="公交处答复")


@pytest.mark.parametrize(
    ("division", "action", "who", "data"),
    [
        (None, "assign", "roads", {"division": "roads"}),
        (None, "assign", "handler_a", {"division": "roads"}),
        (None, "assign", "operator", {"division": "roads"}),
        (None, "assign", "swj_coordinator", {"division": "roads"}),
        (None, "assign", None, {"division": "roads"}),
        ("roads", "draft", "transit", {"text": "越权"}),
        ("roads", "draft", "coordinator", {"text": "越权"}),
        ("roads", "draft", "handler_a", {"text": "越权"}),
        ("roads", "draft", "handler_b", {"text": "越权"}),
        ("roads", "reply", "roads", {"text": "直接答复"}),
        ("roads", "reply", "handler_a", {"text": "直接答复"}),
        ("roads", "extend", "roads", {"days": 2, "reason": "协调"}),
        ("roads", "return", "roads", {"reason": "不是我们的"}),
    ],
)
def test_a_unit_step_outside_ones_place_is_a_403_that_changes_nothing(unit, division, action, who, data):
    code, _key = signed(unit, division)
    before = snapshot(code)
    refused(unit.act(code, action, who, **data), 403, "forbidden")
    assert snapshot(code) == before


@pytest.mark.parametrize("who", ["roads", "transit", "handler_a", "operator", "swj_coordinator"])
def test_only_the_coordinator_approves_or_sends_back_a_draft(unit, who):
    code, _key = signed(unit, "roads")
    unit.ok(code, "draft", "roads", text="初稿")
    before = snapshot(code)
    refused(unit.act(code, "approve-draft", who), 403, "forbidden")
    refused(unit.act(code, "return-draft", who, reason="不行"), 403, "forbidden")
    assert snapshot(code) == before


def test_a_unit_step_in_the_wrong_status_is_a_409_that_changes_nothing(unit):
    code, _key = unit.write()
    unit.ok(code, "forward", "operator", department="jtw")
    before = snapshot(code)
    refused(unit.act(code, "assign", "coordinator", division="roads"), 409, "conflict")  # not signed
    assert snapshot(code) == before
    unit.ok(code, "sign", "coordinator")
    before = snapshot(code)
    refused(unit.act(code, "draft", "roads", text="未分办"), 409, "conflict")  # not assigned
    refused(unit.act(code, "approve-draft", "coordinator"), 409, "conflict")  # no draft
    refused(unit.act(code, "return-draft", "coordinator", reason="x"), 409, "conflict")
    assert snapshot(code) == before
    unit.ok(code, "assign", "coordinator", division="roads")
    before = snapshot(code)
    refused(unit.act(code, "assign", "coordinator", division="roads"), 409, "conflict")  # already there
    assert snapshot(code) == before
    unit.ok(code, "draft", "roads", text="答复")
    unit.ok(code, "approve-draft", "coordinator")
    before = snapshot(code)
    refused(unit.act(code, "approve-draft", "coordinator"), 409, "conflict")
    refused(unit.act(code, "draft", "roads", text="再答"), 409, "conflict")
    refused(unit.act(code, "assign", "coordinator", division="transit"), 409, "conflict")
    assert snapshot(code) == before


@pytest.mark.parametrize(
    ("action", "data", "field"),
    [
        ("assign", {"division": "nowhere"}, "division"),
        ("assign", {}, "division"),
        ("assign", {"division": 3}, "division"),
        ("draft", {"text": ""}, "text"),
        ("draft", {"text": "长" * 10001}, "text"),
        ("return-draft", {"reason": ""}, "reason"),
    ],
)
def test_a_unit_step_with_a_bad_field_is_a_400_naming_it(unit, action, data, field):
    code, _key = signed(unit, "roads")
    unit.ok(code, "draft", "roads", text="初稿")
    who = "roads" if action == "draft" else "coordinator"
    before = snapshot(code)
    assert field in refused(unit.act(code, action, who, **data), 400, "bad_request")["fields"]
    assert snapshot(code) == before


def test_a_division_of_another_unit_cannot_be_assigned(unit):
    Division.objects.create(department=Department.objects.get(code="swj"), code="water", name="供水处")
    code, _key = signed(unit)
    refused(unit.act(code, "assign", "coordinator", division="water"), 400, "bad_request")


def test_a_divisions_handler_sees_only_its_own_divisions_letters_and_contacts(unit):
    ours, _ = signed(unit, "roads")
    theirs, _ = signed(unit, "transit")
    listed = unit.get("/api/letters/", "roads", department="jtw").json()["letters"]
    assert [x["code"] for x in listed] == [ours]
    assert listed[0]["contact"] == "13800000000"
    # Another division's letter reads as to the public: not there (it is not replied yet).
    refused(unit.get(f"/api/letters/{theirs}/", "roads"), 404, "not_found")
    refused(unit.act(theirs, "contact", "roads"), 403, "forbidden")
    assert not ContactAccess.objects.filter(letter__code=theirs, by="dora").exists()
    assert unit.ok(ours, "contact", "roads")["contact"] == "13800000000"
    # The coordinator sees the unit's letters, and its openings are recorded as a coordinator's.
    listed = unit.get("/api/letters/", "coordinator", department="jtw").json()["letters"]
    assert {x["code"] for x in listed} == {ours, theirs}
    unit.ok(theirs, "contact", "coordinator")
    assert ContactAccess.objects.filter(letter__code=theirs, by="cora").last().role == "coordinator"


def test_a_unit_without_divisions_lets_its_coordinator_and_handlers_act_as_before(unit):
    code, _key = unit.write()
    unit.ok(code, "forward", "operator", department="swj")
    unit.ok(code, "sign", "handler_b")
    refused(unit.act(code, "assign", "swj_coordinator", division="roads"), 400, "bad_request")
    assert unit.ok(code, "reply", "swj_coordinator", text="已处理。")["status"] == "replied"


def test_the_reply_light_runs_through_the_draft_until_the_reply_is_sent(unit, clock):
    clock.set(2026, 6, 8, 10)
    code, _key = signed(unit, "roads")  # a consultation: 5 working days to reply
    unit.ok(code, "draft", "roads", text="初稿")
    clock.set(2026, 6, 16, 10)
    letter = unit.get(f"/api/letters/{code}/", "coordinator").json()
    assert letter["light"] == "red" and letter["draft"] == "初稿"
    letter = unit.ok(code, "approve-draft", "coordinator")
    assert letter["reply_on_time"] is False and letter["light"] is None


def test_the_coordinator_asks_for_extensions_and_returns_letters_in_a_unit_with_divisions(unit):
    code, _key = signed(unit, "roads")
    assert (
        unit.post(
            f"/api/letters/{code}/extend/", {"days": 3, "reason": "需现场勘查"}, "coordinator"
        ).status_code
        == 201
    )
    unit.ok(code, "draft", "roads", text="初稿")
    letter = unit.ok(code, "return", "coordinator", reason="应由区政府办理")
    assert letter["status"] == "submitted" and letter["division"] is None and letter["draft"] is None


@pytest.mark.postgres  # SQLite has no row locks: its writers are serialised whole
@pytest.mark.django_db(transaction=True)
def test_two_approvals_at_once_send_one_reply(unit):
    code, _key = signed(unit, "roads")
    unit.ok(code, "draft", "roads", text="初稿")
    coordinator = unit.personas["coordinator"]
    results: list[str] = []
    barrier = threading.Barrier(2)

    def approve() -> None:
        barrier.wait()
        try:
            handling.approve_draft(code, coordinator)
            results.append("sent")
        except Exception as error:
            results.append(getattr(error, "code", repr(error)))
        finally:
            connection.close()

    threads = [threading.Thread(target=approve) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["conflict", "sent"]
    assert LetterLog.objects.filter(letter__code=code, action="reply").count() == 1


# --- the handler page ---------------------------------------------------------------------------


def page(unit: Api, who: str) -> Client:
    client = Client()
    client.force_login(unit.personas[who])
    return client


def test_the_coordinators_page_assigns_and_approves_and_a_divisions_page_drafts(unit):
    code, _key = signed(unit)
    coordinator, roads = page(unit, "coordinator"), page(unit, "roads")
    html = coordinator.get("/letters/handler/").content.decode()
    assert f'id="division-{code}"' in html and "道路处" in html and "公交处" in html
    response = coordinator.post("/letters/handler/", {"code": code, "action": "assign", "division": "roads"})
    assert response.status_code == 302
    html = roads.get("/letters/handler/").content.decode()
    assert f'id="draft-{code}"' in html and 'value="sign"' not in html
    response = roads.post("/letters/handler/", {"code": code, "action": "draft", "text": "页面初稿"})
    assert response.status_code == 302
    html = coordinator.get("/letters/handler/").content.decode()
    assert "页面初稿" in html and 'value="approve-draft"' in html
    response = coordinator.post("/letters/handler/", {"code": code, "action": "return-draft", "reason": ""})
    assert response.status_code == 400 and "页面初稿" in response.content.decode()
    response = coordinator.post("/letters/handler/", {"code": code, "action": "approve-draft"})
    assert response.status_code == 302
    assert Letter.objects.get(code=code).reply == "页面初稿"


def test_a_divisions_page_lists_only_its_division_and_another_division_cannot_draft_there(unit):
    ours, _ = signed(unit, "roads")
    theirs, _ = signed(unit, "transit")
    html = page(unit, "roads").get("/letters/handler/").content.decode()
    assert ours in html and theirs not in html
    response = page(unit, "roads").post(
        "/letters/handler/", {"code": theirs, "action": "draft", "text": "越权"}
    )
    assert response.status_code == 403
    assert Letter.objects.get(code=theirs).draft == ""


def test_a_handler_of_no_division_in_a_unit_with_divisions_reads_but_has_no_controls(unit):
    code, _key = signed(unit, "roads")
    html = page(unit, "handler_a").get("/letters/handler/").content.decode()
    assert code in html and 'value="reply"' not in html and 'value="sign"' not in html


# --- the registry -------------------------------------------------------------------------------


def test_createstaff_puts_a_handler_in_a_division_and_refuses_an_unknown_one(unit):
    from django.core.management import CommandError, call_command

    user = make_staff("ivy", "handler", "jtw")
    call_command("createstaff", "ivy", role="handler", department="jtw", division="transit", password="pw")
    user.refresh_from_db()
    assert user.staff.division.code == "transit"
    with pytest.raises(CommandError, match="Unknown division"):
        call_command("createstaff", "ivy", role="handler", department="jtw", division="nope", password="pw")
    with pytest.raises(CommandError, match="--division is for a handler"):
        call_command(
            "createstaff", "cy", role="coordinator", department="jtw", division="roads", password="pw"
        )
    with pytest.raises(CommandError, match="belongs to one department"):
        call_command("createstaff", "cy", role="coordinator", password="pw")


def test_operators_keep_the_divisions_in_the_admin(unit):
    client = page(unit, "operator")
    response = client.post(
        "/admin/departments/division/add/",
        {"department": _jtw(), "code": "safety", "name": "安全监管处"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Division.objects.filter(department_id=_jtw(), code="safety").exists()
    response = client.post(
        "/admin/departments/division/add/", {"department": _jtw(), "code": "roads", "name": "重复"}
    )
    assert response.status_code == 200  # the form again, with the error: one code per unit
    assert Division.objects.filter(code="roads").count() == 1


def test_the_registry_lists_each_units_divisions(unit):
    departments = {d["code"]: d for d in unit.get("/api/departments/").json()["departments"]}
    assert departments["jtw"]["divisions"] == [
        {"code": "roads", "name": "道路处"},
        {"code": "transit", "name": "公交处"},
    ]
    assert departments["swj"]["divisions"] == []
