"""The public trail (issue #16): every step of a letter on the writer's tracking page, on the public
page and in the letter's JSON, with the departments named and the staff never."""

import re
from collections.abc import Iterator
from io import StringIO

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client

from core import clock as core_clock
from letters import trail
from letters.models import LetterLog
from tests.test_letters import Api, Clock

pytestmark = pytest.mark.django_db


@pytest.fixture
def clock(monkeypatch) -> Iterator[Clock]:
    cache.clear()  # idempotency answers outlive the database rollback
    clock = Clock()
    with core_clock.use(clock):
        yield clock


@pytest.fixture
def api(personas, clock) -> Api:
    call_command("loadcalendar", "2026", stdout=StringIO())
    return Api(personas)


STEPS = [
    "submitted",
    "forwarded",
    "returned",
    "forwarded",
    "signed",
    "extension_requested",
    "extended",
    "replied",
    "rated",
    "closed",
    "redo",
    "replied",
    "rated",
    "closed",
]
# A handler typed a citizen's phone number into the return reason by mistake.
RETURN_REASON = "属于供水管网维修，不归我局。联系人电话 13912345678"


def walk(api: Api, clock) -> tuple[str, str]:
    """forward → return (with reason) → re-forward → sign → extend → reply → rate → redo → reply → rate."""
    code, key = api.write(subject="小区停水三天", body="家里停水三天了，什么时候恢复？")
    clock.set(2026, 6, 8, 11)
    api.ok(code, "forward", "operator", department="swj")
    clock.set(2026, 6, 8, 14)
    api.ok(code, "return", "handler_b", reason=RETURN_REASON)
    clock.set(2026, 6, 8, 15)
    api.ok(code, "forward", "operator", department="jtw")
    clock.set(2026, 6, 9, 9)
    api.ok(code, "sign", "handler_a")
    clock.set(2026, 6, 9, 10)
    extension = api.ok(code, "extend", "handler_a", days=3, reason="需要现场勘察")["extension"]
    clock.set(2026, 6, 9, 11)
    response = api.decide(code, extension["id"], "approve", "supervisor")
    assert response.status_code == 200, response.content
    clock.set(2026, 6, 10, 9)
    api.ok(code, "reply", "handler_a", text="已协调恢复供水。")
    clock.set(2026, 6, 10, 12)
    api.ok(code, "evaluation", None, key=key, rating="unsatisfied", comment="还是没水")
    clock.set(2026, 6, 11, 9)
    api.ok(code, "redo", "supervisor", reason="答复与实际不符")
    clock.set(2026, 6, 12, 9)
    api.ok(code, "reply", "handler_a", text="已恢复供水，并检修了管道。")
    clock.set(2026, 6, 12, 18)
    api.ok(code, "evaluation", None, key=key, rating="satisfied", comment="")
    return code, key


def staff_names() -> set[str]:
    return set(LetterLog.objects.exclude(by="").values_list("by", flat=True))


def trail_items(html: str, trail_id: str) -> list[tuple[str, str]]:
    """(step, text) of each item of the trail list with this id, in the page's order."""
    found = re.search(rf'<ol class="trail" id="{trail_id}"[^>]*>(.*?)</ol>', html, re.S)
    assert found, f"no trail {trail_id} on the page"
    items = re.findall(r'<li data-step="([a-z_]+)">(.*?)</li>', found.group(1), re.S)
    return [(step, re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text)).strip()) for step, text in items]


def test_every_step_shows_in_order_on_the_tracking_page_without_staff_names(api, clock):
    code, key = walk(api, clock)
    response = Client().post("/letters/track/", {"code": code, "key": key}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 200
    html = response.content.decode()
    items = trail_items(html, "letter-trail")
    assert [step for step, _text in items] == STEPS
    texts = [text for _step, text in items]
    assert "转至 北京市水务局" in texts[1]
    assert "北京市水务局 退回" in texts[2] and "139******78" in texts[2] and "13912345678" not in html
    assert "转至 北京市交通" in texts[3] and "北京市交通" in texts[4] and "已签收" in texts[4]
    assert "答复期限延至 2026年6月23日" in texts[6]
    assert "来信人评价：不满意" in texts[8] and "信件已办结" in texts[9]
    assert "需要现场勘察" in texts[5] and "答复与实际不符" in texts[10]
    for name in staff_names():
        assert name not in html


def test_the_public_page_shows_the_same_trail(api, clock):
    code, _key = walk(api, clock)
    html = Client().get("/letters/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    items = trail_items(html, f"trail-{code}")
    assert [step for step, _text in items] == STEPS
    assert "Returned" in items[2][1] or "returned" in items[2][1]
    assert "13912345678" not in html
    # In what the letters show (the filter's fixed labels above hold "T-hank-you letter").
    listing = html[html.index('id="public-letters"') :]
    for name in staff_names():
        assert name not in listing


def test_the_letter_json_carries_the_trail(api, clock):
    code, key = walk(api, clock)
    for who, params in ((None, {}), (None, {"key": key}), ("supervisor", {})):
        data = api.get(f"/api/letters/{code}/", who, **params).json()
        steps = data["trail"]
        assert [s["step"] for s in steps] == STEPS
        assert set(steps[0]) == {"at", "step", "department", "reason", "until", "rating"}
        assert steps[1]["department"]["code"] == "swj"
        assert steps[2]["reason"] == "属于供水管网维修，不归我局。联系人电话 139******78"
        assert steps[3]["department"]["code"] == "jtw"
        assert steps[6]["until"] == "2026-06-23T00:00:00+08:00"  # the deadline the approval set
        assert steps[8]["rating"] == "unsatisfied" and steps[12]["rating"] == "satisfied"
        assert steps[0]["department"] is None
        text = str(data["trail"])
        for name in staff_names():
            assert name not in text
    listed = api.get("/api/letters/").json()["letters"]
    assert [s["step"] for s in next(x for x in listed if x["code"] == code)["trail"]] == STEPS


def test_an_unknown_step_stays_hidden_and_a_new_one_is_one_row(api, clock):
    code, _key = api.letter("signed")
    letter = LetterLog.objects.filter(letter__code=code).first().letter
    LetterLog.objects.create(
        letter=letter, at=clock(), action="assign", by="hank", data={"division": "运输处"}
    )
    assert [s["step"] for s in trail.trail(letter)] == ["submitted", "forwarded", "signed"]
    trail.ACTIONS["assign"] = ("assigned",)
    try:
        assert [s["step"] for s in trail.trail(letter)][-1] == "assigned"
    finally:
        del trail.ACTIONS["assign"]
