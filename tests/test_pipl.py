"""Personal information as China's PIPL expects (issue 13 §6; letters/privacy.py): the notice and
consent on both forms and in the APIs, the retention period of writers' contacts and the clock job
that ends it, erasure at the writer's request, and the record of every staff opening of a contact.
"""

import datetime as dt
from collections.abc import Iterator
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from core import clock as core_clock
from letters import privacy
from letters.models import ContactAccess, Letter, LetterLog
from tests.test_letters import HANDLER, Api, Clock, at, refused, snapshot

pytestmark = pytest.mark.django_db

LETTER = {
    "kind": "consultation",
    "subject": "公交站台积水",
    "body": "我是王芳，电话13912345678，邮箱wangfang@example.com，雨天站台积水严重。",
    "name": "王芳",
    "contact": "13800000000",
    "public": True,
}


@pytest.fixture
def clock(monkeypatch) -> Iterator[Clock]:
    clock = Clock()
    with core_clock.use(clock):
        yield clock


@pytest.fixture
def api(personas, clock) -> Api:
    call_command("loadcalendar", "2026", stdout=StringIO())
    return Api(personas)


def closed_letter(api: Api, clock: Clock, when: dt.datetime) -> str:
    """A letter to jtw, closed (rated) at `when`."""
    clock.now = when - dt.timedelta(days=3)
    code, _key = api.letter("closed", consent=True, **{k: v for k, v in LETTER.items() if k != "kind"})
    Letter.objects.filter(code=code).update(closed_at=when)
    return code


# --- (a) notice and consent -------------------------------------------------------------------


def test_the_letter_form_says_what_is_collected_and_why_and_has_a_labelled_required_consent_box(db):
    page = Client().get("/letters/write/").content.decode()
    assert "个人信息" in page and "180" in page  # the notice, with the retention period
    assert '<input type="checkbox" id="consent" name="consent" required' in page
    assert '<label for="consent">' in page
    english = Client().get("/letters/write/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "How we use your personal information" in english
    assert "180 days after your letter is closed" in english


def test_the_ask_form_on_the_live_page_has_the_notice_and_the_consent_box(live_broadcast):
    page = Client().get(f"/live/{live_broadcast.pk}/").content.decode()
    assert 'id="privacy-notice"' in page and "个人信息" in page
    assert '<input type="checkbox" id="consent" name="consent" required' in page


def test_a_letter_with_consent_records_when_it_was_given(api, clock):
    code, _key = api.write(consent=True)
    assert Letter.objects.get(code=code).consent_at == clock.now


@pytest.mark.parametrize("consent", [False, "yes", 1])
def test_a_letter_whose_writer_declined_the_notice_is_refused_and_nothing_is_stored(api, consent):
    data = {**LETTER, "consent": consent}
    error = refused(api.post("/api/letters/", data), 400, "bad_request")
    assert "consent" in error["fields"]
    assert not Letter.objects.exists()


def test_a_client_from_before_the_consent_field_can_still_write_and_nothing_is_recorded_as_consent(api):
    code, _key = api.write()  # no consent field: PROTOCOL.md §2 as it was
    assert Letter.objects.get(code=code).consent_at is None


# --- (b) retention ----------------------------------------------------------------------------


def test_the_clock_erases_contacts_of_letters_closed_long_ago_and_keeps_recent_ones(
    api, clock, settings, caplog
):
    settings.MINXIN_CONTACT_RETENTION_DAYS = 180
    old = closed_letter(api, clock, at(2026, 1, 5, 10))
    recent = closed_letter(api, clock, at(2026, 6, 1, 10))
    open_code, _key = api.letter("signed")
    clock.now = at(2026, 7, 10, 12)  # 186 days after the old one closed, 39 after the recent one
    with caplog.at_level("INFO", logger="archive.clock"):
        call_command("clock", "--once")
    assert "contacts erased past their retention period: 1" in caplog.text

    erased = Letter.objects.get(code=old)
    assert (erased.name, erased.contact, erased.erasure) == ("", "", "retention")
    assert erased.contact_erased_at == clock.now
    # The letter itself stays for the statistics.
    assert erased.status == "closed" and erased.department.code == "jtw" and erased.rating == "satisfied"
    assert erased.body == LETTER["body"]  # retention erases the contact, not the text
    assert LetterLog.objects.filter(letter=erased, action="erase_contact").count() == 1
    for code in (recent, open_code):
        kept = Letter.objects.get(code=code)
        assert kept.contact == "13800000000" and kept.contact_erased_at is None
    assert privacy.erase_expired() == 0  # a second run finds nothing more


def test_a_replied_letter_never_rated_counts_its_retention_from_the_reply(api, clock, settings):
    settings.MINXIN_CONTACT_RETENTION_DAYS = 30
    code, _key = api.letter("replied")
    clock.now += dt.timedelta(days=29)
    assert privacy.erase_expired() == 0
    clock.now += dt.timedelta(days=2)
    assert privacy.erase_expired() == 1
    assert Letter.objects.get(code=code).contact == ""


# --- (c) erasure at the writer's request ------------------------------------------------------


def test_the_writer_erases_a_letters_personal_data_with_the_right_key(api, clock):
    code, key = api.letter("closed", **{k: v for k, v in LETTER.items() if k != "kind"})
    Letter.objects.filter(code=code).update(rating_comment="请打13912345678")
    before = Letter.objects.get(code=code)
    answer = api.ok(code, "erasure", None, key=key)
    assert answer["erasure"] == "writer" and answer["contact_erased_at"]
    letter = Letter.objects.get(code=code)
    assert letter.name == "" and letter.contact == ""
    assert "13912345678" not in letter.body and "wangfang@example.com" not in letter.body
    assert "王芳" not in letter.body and "积水严重" in letter.body
    assert "13912345678" not in letter.rating_comment
    # Kept for the statistics: department, status, dates, rating.
    kept = ("department_id", "status", "submitted_at", "replied_at", "closed_at", "rating", "reply_on_time")
    assert all(getattr(letter, f) == getattr(before, f) for f in kept)
    assert LetterLog.objects.filter(letter=letter, action="erase_personal_data").count() == 1
    # The writer sees it with the key; a repeat changes nothing.
    detail = api.get(f"/api/letters/{code}/", key=key).json()
    assert detail["name"] == "" and detail["contact"] == "" and detail["erasure"] == "writer"
    assert api.ok(code, "erasure", None, key=key)["contact_erased_at"] == answer["contact_erased_at"]


def test_erasure_with_a_wrong_key_changes_nothing(api):
    code, _key = api.letter("signed")
    before = snapshot(code)
    # Probe-proof like a look-up: a wrong key answers as a code that does not exist.
    refused(api.act(code, "erasure", None, key="not-the-key"), 404, "not_found")
    refused(api.act(code, "erasure", None), 404, "not_found")
    assert snapshot(code) == before


def test_the_tracking_page_erases_after_confirmation(api):
    code, key = api.letter("signed", **{k: v for k, v in LETTER.items() if k != "kind"})
    client = Client()
    page = client.post("/letters/track/", {"code": code, "key": key}).content.decode()
    assert 'id="erase-form"' in page and 'for="erase-confirm"' in page
    unconfirmed = client.post("/letters/track/", {"code": code, "key": key, "action": "erase"})
    assert unconfirmed.status_code == 400 and Letter.objects.get(code=code).contact
    done = client.post("/letters/track/", {"code": code, "key": key, "action": "erase", "confirm": "yes"})
    assert done.status_code == 200 and 'id="track-done"' in done.content.decode()
    assert 'id="erase-form"' not in done.content.decode()
    assert Letter.objects.get(code=code).contact == ""
    wrong = client.post(
        "/letters/track/", {"code": code, "key": "wrong", "action": "erase", "confirm": "yes"}
    )
    assert wrong.status_code == 404


# --- (d) the record of staff opening contacts -------------------------------------------------


def forwarded(api: Api) -> str:
    """A letter at jtw; the operator's forward over the API was shown the contact: start afresh."""
    code, _key = api.letter("forwarded")
    assert ContactAccess.objects.filter(letter__code=code, by="olga", via="api").exists()
    ContactAccess.objects.all().delete()
    return code


def test_the_handler_queue_hides_contacts_until_opened_and_each_opening_is_recorded(api, personas):
    code = forwarded(api)
    hank = api.client(HANDLER["jtw"])
    queue = hank.get("/letters/handler/").content.decode()
    assert "13800000000" not in queue and 'value="contact"' in queue
    opened = hank.post("/letters/handler/", {"code": code, "action": "contact"})
    assert opened.status_code == 200 and "13800000000" in opened.content.decode()
    access = ContactAccess.objects.get()
    assert (access.letter.code, access.by, access.role, access.via) == (code, "hank", "handler", "page")
    assert access.at is not None


def test_a_handler_of_another_department_cannot_open_the_contact(api):
    code = forwarded(api)
    other = api.client(HANDLER["swj"]).post("/letters/handler/", {"code": code, "action": "contact"})
    assert other.status_code == 403 and "13800000000" not in other.content.decode()
    refused(api.act(code, "contact", HANDLER["swj"]), 403, "forbidden")
    refused(api.act(code, "contact", None), 403, "forbidden")
    assert not ContactAccess.objects.exists()


def test_the_supervisor_reads_the_record_on_a_page_and_in_the_api(api):
    code = forwarded(api)
    assert api.ok(code, "contact", HANDLER["jtw"])["contact"] == "13800000000"
    page = api.client("supervisor").get("/letters/supervisor/contact-access/", {"letter": code})
    assert page.status_code == 200
    html = page.content.decode()
    assert f'data-code="{code}" data-by="hank"' in html and "13800000000" not in html
    listed = api.get("/api/contact-accesses/", "supervisor", letter=code).json()
    assert listed["accesses"][0] | {"at": None} == {
        "letter": code,
        "by": "hank",
        "role": "handler",
        "via": "api",
        "at": None,
    }
    assert api.client(HANDLER["jtw"]).get("/letters/supervisor/contact-access/").status_code == 403
    refused(api.get("/api/contact-accesses/", HANDLER["jtw"]), 403, "forbidden")


def test_staff_json_with_contacts_is_recorded_and_the_writers_own_reading_is_not(api):
    code, key = api.letter("forwarded")
    ContactAccess.objects.all().delete()  # the operator's forward answered with the letter too
    api.get(f"/api/letters/{code}/", key=key)
    assert not ContactAccess.objects.exists()
    api.get("/api/letters/", HANDLER["jtw"], department="jtw")
    api.get(f"/api/letters/{code}/", "supervisor")
    assert sorted(ContactAccess.objects.values_list("by", "via")) == [("hank", "api"), ("sam", "api")]


def test_the_admin_letter_page_does_not_show_the_contact(api, personas):
    code, _key = api.letter("forwarded")
    from django.contrib.auth import get_user_model

    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw-root-123")
    client = Client()
    client.force_login(admin)
    letter = Letter.objects.get(code=code)
    page = client.get(f"/admin/letters/letter/{letter.pk}/change/").content.decode()
    assert "13800000000" not in page
