"""Letters taken by phone (issue #16, PROTOCOL.md §4): an operator records the caller's letter, reads
the code and key back, and records the rating in the 回访 call once it is replied. Bad input stores
nothing; a resent form or request stores one letter; reports count the phone letters."""

import csv
import io
import re

import pytest
from django.test import Client

from letters.models import Letter, LetterLog
from tests import test_letters
from tests.test_letters import Api, refused, snapshot

pytestmark = pytest.mark.django_db

# The fixtures of tests/test_letters.py: the clock, the 2026 calendar, the API and its personas.
api, clock, calendar_2026, _empty_cache = (
    test_letters.api,
    test_letters.clock,
    test_letters.calendar_2026,
    test_letters._empty_cache,
)

CALL = {
    "kind": "complaint",
    "subject": "小区供暖不热",
    "body": "来电反映小区暖气温度不足十六度。",
    "name": "赵大爷",
    "contact": "13900001111",
    "public": True,
    "consent": True,
}


def take(api: Api, who: str | None = "operator", key: str | None = None, **changes):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return api.post("/api/letters/phone/", {**CALL, **changes}, who, **headers)


def replied_phone_letter(api: Api) -> tuple[str, str]:
    response = take(api)
    code, key = response.json()["code"], response.json()["key"]
    api.ok(code, "forward", "operator", department="jtw")
    api.ok(code, "sign", "handler_a")
    api.ok(code, "reply", "handler_a", text="已联系供热公司处理。")
    return code, key


def test_an_operator_takes_a_letter_by_phone_and_the_caller_follows_it_with_code_and_key(api):
    response = take(api)
    assert response.status_code == 201
    answer = response.json()
    assert set(answer) == {"code", "key", "channel"} and answer["channel"] == "phone"
    letter = Letter.objects.get(code=answer["code"])
    assert (letter.channel, letter.contact, letter.status) == ("phone", "13900001111", "submitted")
    assert letter.consent_at is not None
    entry = LetterLog.objects.get(letter=letter, action="submit")
    assert (entry.by, entry.data) == ("olga", {"channel": "phone"})
    mine = api.get(f"/api/letters/{answer['code']}/", key=answer["key"]).json()
    assert mine["contact"] == "13900001111" and mine["status"] == "submitted"
    staff = api.get(f"/api/letters/{answer['code']}/", "operator").json()
    assert staff["channel"] == "phone"


@pytest.mark.parametrize("who", [None, "handler_a", "supervisor"])
def test_only_operators_take_letters_by_phone(api, who):
    refused(take(api, who), 403, "forbidden")
    assert not Letter.objects.exists()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"contact": ""}, "contact"),
        ({"contact": None}, "contact"),
        ({"name": "  "}, "name"),
        ({"body": "长" * 5001}, "body"),
        ({"subject": "长" * 101}, "subject"),
        ({"kind": "praise"}, "kind"),
        ({"consent": False}, "consent"),
        ({"consent": None}, "consent"),
        ({"public": "yes"}, "public"),
    ],
)
def test_a_phone_letter_with_a_bad_field_is_a_400_naming_it_and_stores_nothing(api, changes, field):
    error = refused(take(api, **changes), 400, "bad_request")
    assert field in error["fields"]
    assert not Letter.objects.exists() and not LetterLog.objects.exists()


def test_a_phone_letter_sent_twice_with_the_same_key_is_stored_once(api):
    first = take(api, key="call-0001")
    again = take(api, key="call-0001")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert Letter.objects.count() == 1
    refused(take(api, key="call-0001", subject="另一件事"), 409, "conflict")
    by_body = api.post("/api/letters/phone/", {**CALL, "client_id": "call-0002"}, "operator")
    assert by_body.status_code == 201
    assert api.post("/api/letters/phone/", {**CALL, "client_id": "call-0002"}, "operator").status_code == 200
    assert Letter.objects.count() == 2


def test_a_phone_letter_body_that_is_not_an_object_or_too_big_is_refused(api):
    refused(api.post("/api/letters/phone/", "[1, 2]", "operator"), 400, "bad_json")
    refused(api.post("/api/letters/phone/", "x" * 70000, "operator"), 413)
    assert not Letter.objects.exists()


def test_the_callback_records_the_callers_rating_and_closes_the_letter(api):
    code, key = replied_phone_letter(api)
    letter = api.ok(code, "callback", "operator", rating="basic", comment="基本满意，希望再快些")
    assert letter["status"] == "closed" and letter["rating"] == "basic"
    assert letter["closure"] == "rated"  # closed with a rating, not 未评价办结
    steps = [step["step"] for step in letter["trail"]]
    assert steps[-2:] == ["rated", "closed"]  # the public trail shows the caller's rating
    assert letter["trail"][-2]["rating"] == "basic"
    stored = Letter.objects.get(code=code)
    assert stored.rating_comment == "基本满意，希望再快些" and stored.closed_at is not None
    entry = LetterLog.objects.get(letter=stored, action="callback")
    assert (entry.by, entry.from_status, entry.to_status, entry.data) == (
        "olga",
        "replied",
        "closed",
        {"rating": "basic"},
    )
    # Rated once: the writer's own rating is a conflict now, as after any rating.
    refused(api.act(code, "evaluation", None, key=key, rating="satisfied"), 409, "conflict")


def test_a_callback_on_a_web_letter_or_an_unreplied_one_is_a_409(api):
    web, _key = api.letter("replied")
    before = snapshot(web)
    refused(api.act(web, "callback", "operator", rating="satisfied"), 409, "conflict")
    assert snapshot(web) == before
    code = take(api).json()["code"]
    api.ok(code, "forward", "operator", department="jtw")
    before = snapshot(code)
    refused(api.act(code, "callback", "operator", rating="satisfied"), 409, "conflict")
    assert snapshot(code) == before


@pytest.mark.parametrize("who", [None, "handler_a", "supervisor"])
def test_only_operators_record_a_callback(api, who):
    code, _key = replied_phone_letter(api)
    before = snapshot(code)
    refused(api.act(code, "callback", who, rating="satisfied"), 403, "forbidden")
    assert snapshot(code) == before


@pytest.mark.parametrize(("data", "field"), [({"rating": "great"}, "rating"), ({}, "rating")])
def test_a_callback_with_a_bad_rating_is_a_400(api, data, field):
    code, _key = replied_phone_letter(api)
    before = snapshot(code)
    assert field in refused(api.act(code, "callback", "operator", **data), 400, "bad_request")["fields"]
    assert snapshot(code) == before


def test_reports_count_the_phone_letters(api):
    replied_phone_letter(api)
    api.letter("replied")
    stats = api.get("/api/stats/").json()["letters"]
    assert (stats["received"], stats["phone"]) == (2, 1)
    board = api.get("/api/departments/scoreboard/").json()
    row = next(r for r in board["departments"] if r["department"]["code"] == "jtw")
    assert (row["received"], row["phone"]) == (2, 1)
    assessment = api.get("/api/assessment/", "supervisor", **{"from": "2026-06-01", "to": "2026-06-30"})
    row = next(r for r in assessment.json()["departments"] if r["department"]["code"] == "jtw")
    assert (row["letters"], row["phone_letters"]) == (2, 1)
    response = api.get(
        "/api/assessment/", "supervisor", **{"from": "2026-06-01", "to": "2026-06-30", "format": "csv"}
    )
    table = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    column = table[0].index("其中电话来信")
    assert table[0][column - 1] == "信件数" and table[1][column] == "1"
    assert "其中电话来信" in api.get("/api/stats/", format="csv").content.decode("utf-8-sig")


# --- the operator page --------------------------------------------------------------------------


def operator_page(api: Api) -> Client:
    client = Client()
    client.force_login(api.personas["operator"])
    return client


def form(client_id: str = "form-1", **changes) -> dict:
    data = {**CALL, "public": "on", "consent": "on", "action": "phone", "client_id": client_id}
    return {key: value for key, value in {**data, **changes}.items() if value is not None}


def test_the_operator_page_takes_a_phone_letter_shows_its_key_and_a_resent_form_stores_one(api):
    page = operator_page(api)
    html = page.get("/letters/operator/").content.decode()
    client_id = re.search(r'name="client_id" value="([0-9a-f]+)"', html)
    assert client_id and 'id="phone-form"' in html
    response = page.post("/letters/operator/", form(client_id[1]))
    assert response.status_code == 200
    html = response.content.decode()
    letter = Letter.objects.get()
    assert letter.channel == "phone" and f'id="phone-code">{letter.code}<' in html
    key = re.search(r'id="phone-key">([^<]+)<', html)
    assert key and api.get(f"/api/letters/{letter.code}/", key=key[1]).status_code == 200
    # Sent again (the answer was lost, or the form reloaded): the same letter and the same answer
    # to the same operator, as a repeated POST /api/letters/ gets; nothing more is stored.
    again = page.post("/letters/operator/", form(client_id[1])).content.decode()
    assert Letter.objects.count() == 1 and f'id="phone-code">{letter.code}<' in again
    assert f'id="phone-key">{key[1]}<' in again
    # The page itself keeps no key: a new visit shows none, and a new form has a new id.
    fresh = page.get("/letters/operator/").content.decode()
    assert 'id="phone-key"' not in fresh and f'value="{client_id[1]}"' not in fresh


def test_the_operator_page_keeps_a_refused_phone_letter_typed_and_its_id(api):
    page = operator_page(api)
    response = page.post("/letters/operator/", form("form-2", contact=""))
    assert response.status_code == 400
    html = response.content.decode()
    assert "来电反映小区暖气温度不足十六度。" in html and 'value="form-2"' in html
    response = page.post("/letters/operator/", form("form-2", consent=None))
    assert response.status_code == 400 and not Letter.objects.exists()


def test_the_operator_page_opens_the_callers_contact_and_records_the_callback(api):
    code, _key = replied_phone_letter(api)
    page = operator_page(api)
    html = page.get("/letters/operator/").content.decode()
    assert code in html and "13900001111" not in html  # the contact is opened on purpose only
    openings = Letter.objects.get(code=code).contact_accesses
    before = openings.count()
    html = page.post("/letters/operator/", {"action": "contact", "code": code}).content.decode()
    assert "13900001111" in html
    assert openings.count() == before + 1 and openings.first().via == "page"
    response = page.post(
        "/letters/operator/", {"action": "callback", "code": code, "rating": "satisfied", "comment": ""}
    )
    assert response.status_code == 302
    assert Letter.objects.get(code=code).status == "closed"
