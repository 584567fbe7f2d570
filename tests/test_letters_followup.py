"""Following letters up (issue #16): replied letters left unrated are closed by the clock as
未评价办结 and counted apart; thank-you letters (感谢信) have no limit, no light and no place in the
assessment; a handler sees why a letter came back for redo; reminders (催办) before a limit runs out.

Time is the `clock` of tests/test_letters.py: Monday 8 June 2026, with the 2026 calendar (Friday
19 June is the Dragon Boat Festival). Consultations: 1 working day to sign for, 5 to reply.
"""

import datetime as dt
from collections.abc import Iterator
from io import StringIO

import pytest
from django.core.cache import cache
from django.core.management import call_command

from archive import clock as clock_jobs
from core import clock as core_clock
from letters import followup, privacy, reports, supervision
from letters.models import Letter, LetterLog, LightChange
from tests.test_letters import HANDLER, Api, Clock, at

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    cache.clear()


@pytest.fixture
def clock(monkeypatch) -> Iterator[Clock]:
    clock = Clock()
    with core_clock.use(clock):
        yield clock


@pytest.fixture
def api(personas, clock, db) -> Api:
    call_command("loadcalendar", "2026", stdout=StringIO())
    return Api(personas)


def stats(api: Api) -> dict:
    cache.clear()
    return api.get("/api/stats/").json()["letters"]


def scoreboard_row(api: Api, department: str) -> dict:
    cache.clear()
    rows = api.get("/api/departments/scoreboard/").json()["departments"]
    return next(row for row in rows if row["department"]["code"] == department)


# --- 未评价办结 ---------------------------------------------------------------------------------


def test_the_clock_closes_exactly_the_replied_letters_left_unrated_past_seven_working_days(api, clock):
    clock.set(2026, 6, 8, 9)
    old, _ = api.letter("replied")  # replied Monday 8 June
    rated, _ = api.letter("closed")
    clock.set(2026, 6, 18, 9)
    recent, _ = api.letter("replied")  # replied Thursday 18 June, before the holiday
    # 7 working days after 8 June: 9, 10, 11, 12, 15, 16, 17 → closed from Thursday 18 June 00:00.
    clock.set(2026, 6, 17, 23, 59)
    assert followup.close_unrated() == 0
    clock.set(2026, 6, 18, 0, 0)
    assert followup.close_unrated() == 1
    closed = Letter.objects.get(code=old)
    assert (closed.status, closed.closure, closed.closed_at) == ("closed", "unrated", at(2026, 6, 18))
    assert Letter.objects.get(code=rated).closure == "rated"
    # After 18 June: 22, 23, 24, 25, 26, 29, 30 (19 June is a holiday) → 1 July 00:00.
    clock.set(2026, 6, 30, 23, 59)
    assert followup.close_unrated() == 0
    assert Letter.objects.get(code=recent).status == "replied"
    clock.set(2026, 7, 1, 0, 0)
    assert followup.close_unrated() == 1
    assert followup.close_unrated() == 0  # idempotent: nothing closes twice
    assert LetterLog.objects.filter(action="close_unrated").count() == 2
    entry = LetterLog.objects.get(letter__code=old, action="close_unrated")
    assert (entry.from_status, entry.to_status, entry.data) == ("replied", "closed", {"workdays": 7})


def test_the_wait_is_configurable(api, clock, settings):
    settings.MINXIN_UNRATED_CLOSE_WORKDAYS = 1
    clock.set(2026, 6, 8, 9)
    code, _ = api.letter("replied")
    clock.set(2026, 6, 9, 23)
    assert followup.close_unrated() == 0
    clock.set(2026, 6, 10, 0)
    assert followup.close_unrated() == 1 and Letter.objects.get(code=code).closure == "unrated"


def test_the_clock_job_closes_them_and_the_statistics_count_them_apart(api, clock):
    clock.set(2026, 6, 8, 9)
    api.letter("replied")
    api.letter("closed")
    api.letter("forwarded")
    clock.set(2026, 6, 19, 10)
    assert clock_jobs.run_jobs([("close_unrated", clock_jobs.close_unrated)]) == []
    figures = stats(api)
    assert (figures["received"], figures["closed"], figures["closed_unrated"]) == (3, 2, 1)
    assert figures["closure_rate"] == 0.6667  # 办结率: closed (rated or not) ÷ received
    assert (figures["rated"], figures["satisfied"], figures["satisfaction_rate"]) == (1, 1, 1.0)
    row = scoreboard_row(api, "jtw")
    assert (row["closed"], row["closed_unrated"], row["closure_rate"]) == (2, 1, 0.6667)
    page = api.get("/stats/").content.decode()
    assert "其中未评价办结" in page and '<dd id="letters-closed-unrated">1</dd>' in page
    board = api.get("/letters/scoreboard/").content.decode()
    assert "未评价办结" in board and '<td class="closed-unrated">1</td>' in board


def test_a_writer_may_still_rate_a_letter_closed_unrated_for_30_days_and_a_redo_reopens_it(api, clock):
    clock.set(2026, 6, 8, 9)
    code, key = api.letter("replied")
    other, other_key = api.letter("replied")
    clock.set(2026, 6, 19, 10)
    followup.close_unrated()
    mine = api.get(f"/api/letters/{code}/", key=key).json()
    assert (mine["status"], mine["closure"]) == ("closed", "unrated")
    # The tracking page offers the rating still, and says why the letter is closed.
    page = api.client(None).post("/letters/track/", {"code": code, "key": key}).content.decode()
    assert 'id="rate-form"' in page and 'id="late-rating"' in page
    rated = api.client(None).post(
        "/letters/track/",
        {"code": code, "key": key, "action": "rate", "rating": "satisfied", "comment": "谢谢"},
    )
    assert rated.status_code in (200, 302)
    letter = Letter.objects.get(code=code)
    assert (letter.status, letter.closure, letter.rating) == ("closed", "unrated", "satisfied")
    assert letter.closed_at == at(2026, 6, 19, 10)  # when the clock closed it, not when rated
    again = api.act(code, "evaluation", None, key=key, rating="unsatisfied")
    assert again.status_code == 409 and Letter.objects.get(code=code).rating == "satisfied"
    figures = api.get("/api/stats/").json()["letters"]
    assert (figures["rated"], figures["satisfied"], figures["closed_unrated"]) == (1, 1, 2)
    # 30 days after the closure it is too late, with a clear reason; nothing changes.
    clock.set(2026, 7, 19, 10, 1)
    late = api.act(other, "evaluation", None, key=other_key, rating="satisfied")
    assert late.status_code == 409 and "30" in late.json()["error"]["message"]
    assert Letter.objects.get(code=other).rating == ""
    page = api.client(None).post("/letters/track/", {"code": other, "key": other_key}).content.decode()
    assert 'id="rate-form"' not in page
    reopened = api.ok(other, "redo", "supervisor", reason="答复过于简单")
    assert (reopened["status"], reopened["closure"]) == ("signed", None)


def test_a_writers_contact_is_still_erased_counting_from_the_reply_once_closed_unrated(api, clock, settings):
    settings.MINXIN_CONTACT_RETENTION_DAYS = 30
    clock.set(2026, 6, 8, 9)
    code, _ = api.letter("replied")
    clock.set(2026, 6, 19, 10)
    followup.close_unrated()
    clock.set(2026, 7, 8, 10)  # 30 days after the reply, 19 after the closure
    assert privacy.erase_expired() == 1
    assert Letter.objects.get(code=code).contact == ""


# --- 感谢信 -------------------------------------------------------------------------------------


def test_a_thank_you_letter_has_no_limit_no_light_and_counts_only_as_thanks(api, clock):
    form = api.get("/letters/write/").content.decode()
    assert '<option value="thanks">感谢信</option>' in form
    code, key = api.letter("forwarded", kind="thanks", subject="感谢交通委", body="站台积水很快处理好了。")
    api.letter("forwarded")
    letter = Letter.objects.get(code=code)
    assert (letter.status, letter.closure, letter.department.code) == ("closed", "delivered", "jtw")
    assert (letter.sign_deadline, letter.reply_deadline, letter.light) == (None, None, "")
    assert api.get(f"/api/letters/{code}/", key=key).json()["light"] is None
    clock.set(2026, 7, 30, 10)  # long past any limit
    supervision.sweep()
    assert not LightChange.objects.filter(letter=letter).exists()
    assert code not in api.get("/letters/handler/", HANDLER["jtw"]).content.decode()
    refused = api.act(code, "redo", "supervisor", reason="重办")
    assert refused.status_code == 409
    row = scoreboard_row(api, "jtw")
    assert (row["received"], row["thanks"]) == (1, 1)
    figures = stats(api)
    assert (figures["received"], figures["thanks"]) == (1, 1)
    period = reports.Period(at(2026, 1, 1), at(2027, 1, 1))
    assert [row["letters"] for row in reports.assessment(period)] == [1]
    board = api.get("/letters/scoreboard/").content.decode()
    row_html = board[board.index('data-department="jtw"') :]
    thanks_cell = row_html[row_html.index('<td class="thanks">') : row_html.index("</tr>")]
    assert 'href="/letters/?department=jtw&amp;kind=thanks"' in thanks_cell and ">1</a>" in thanks_cell


def test_the_public_list_shows_a_thank_you_letter_where_it_was_delivered_and_lists_a_units_thanks(api, clock):
    """Ordered by replied_at alone, PostgreSQL put every thank-you letter (no reply) first."""
    clock.set(2026, 6, 8, 9)
    slow, _ = api.letter("signed", subject="最早写来、最后答复")
    older, _ = api.letter("closed", subject="早先的答复")
    clock.set(2026, 6, 9, 9)
    thanks, _ = api.letter("forwarded", kind="thanks", subject="感谢交通委", body="站台积水很快处理好了。")
    clock.set(2026, 6, 10, 9)
    newer, _ = api.letter("replied", subject="后来的答复")
    other, _ = api.letter("forwarded", department="wjw", kind="thanks", subject="感谢卫健委")
    clock.set(2026, 6, 11, 9)
    api.ok(slow, "reply", HANDLER["jtw"], text="<p>已答复。</p>")  # written first, public last

    def listed(**params) -> list[str]:
        page = api.get("/letters/", **params).content.decode()
        shown = [code for code in (slow, older, thanks, newer, other) if f'data-code="{code}"' in page]
        return sorted(shown, key=lambda code: page.index(f'data-code="{code}"'))

    assert listed() == [slow, other, newer, thanks, older]
    page = api.get("/letters/").content.decode()
    item = page[page.index(f'data-code="{thanks}"') :]
    item = item[: item.index("</li>")]
    assert 'class="reply"' not in item  # no empty "replied" block
    delivered = item[item.index('class="meta delivered"') :]
    assert delivered.startswith('class="meta delivered">已送达北京市交通委员会 2026年6月9日')
    assert listed(kind="thanks") == [other, thanks]
    assert listed(department="jtw", kind="thanks") == [thanks]
    assert listed(kind="no-such-kind") == [slow, other, newer, thanks, older]  # unknown: all kinds
    assert listed(department="wjw", kind="complaint") == []


# --- the redo's reason --------------------------------------------------------------------------


def test_the_handler_sees_why_a_letter_was_sent_back_and_the_writer_does_not(api, clock):
    code, key = api.letter("closed")
    api.ok(code, "redo", "supervisor", reason="答复没有说明处理时限")
    page = api.get("/letters/handler/", HANDLER["jtw"]).content.decode()
    item = page[page.index(f'id="letter-{code}"') :]
    assert "重办理由: 答复没有说明处理时限" in item[: item.index("</li>")]
    staff = api.get(f"/api/letters/{code}/", HANDLER["jtw"]).json()
    assert staff["redo_reason"] == "答复没有说明处理时限"
    listed = api.get("/api/letters/", HANDLER["jtw"], department="jtw").json()["letters"]
    assert listed[0]["redo_reason"] == "答复没有说明处理时限"
    writer = api.get(f"/api/letters/{code}/", key=key).json()
    assert "redo_reason" not in writer and "reminders" not in writer
    never = api.letter("signed")[0]
    assert api.get(f"/api/letters/{never}/", HANDLER["jtw"]).json()["redo_reason"] is None


# --- 催办 ----------------------------------------------------------------------------------------


def reminder_of(api: Api, code: str, who: str = HANDLER["jtw"]) -> str:
    page = api.get("/letters/handler/", who).content.decode()
    item = page[page.index(f'id="letter-{code}"') :]
    return item[: item.index("</li>")]


def test_the_queues_flag_a_letter_whose_limit_runs_out_tomorrow_or_today(api, clock):
    clock.set(2026, 6, 8, 10)
    code, _ = api.letter("forwarded")  # to be signed for by Tuesday 24:00
    assert "催办：签收期限明天到期" in reminder_of(api, code)
    clock.set(2026, 6, 9, 8)
    assert "催办：签收期限今天到期" in reminder_of(api, code)
    operator = api.get("/letters/operator/", "operator").content.decode()
    assert "催办：签收期限今天到期" in operator[operator.index('id="due-soon"') :]
    api.ok(code, "sign", HANDLER["jtw"])  # reply by Tuesday 16 June 24:00: far away
    assert "催办" not in reminder_of(api, code)
    clock.set(2026, 6, 15, 9)
    assert "催办：答复期限明天到期" in reminder_of(api, code)
    clock.set(2026, 6, 17, 9)  # past the limit: a red light, no reminder
    assert "催办" not in reminder_of(api, code)


def test_a_reminder_over_a_weekend_names_the_day(api, clock):
    clock.set(2026, 6, 12, 10)  # Friday: to be signed for by Monday 15 June 24:00
    code, _ = api.letter("forwarded")
    assert "催办：签收期限6月15日到期" in reminder_of(api, code)


def test_a_supervisor_sends_a_reminder_that_the_handler_reads(api, clock):
    clock.set(2026, 6, 8, 10)
    code, key = api.letter("forwarded")
    sent = api.ok(code, "remind", "supervisor", note="请今天内签收")
    assert sent["reminders"] == [{"at": "2026-06-08T10:00:00+08:00", "by": "sam", "note": "请今天内签收"}]
    assert "纠风办催办（sam，" in reminder_of(api, code) and "请今天内签收" in reminder_of(api, code)
    entry = LetterLog.objects.get(letter__code=code, action="remind")
    assert (entry.by, entry.note, entry.data) == ("sam", "请今天内签收", {"stage": "sign"})
    assert api.act(code, "remind", HANDLER["jtw"]).status_code == 403
    assert api.act(code, "remind", "supervisor", note="x" * 501).status_code == 400
    replied, _ = api.letter("replied")
    assert api.act(replied, "remind", "supervisor").status_code == 409
    assert "reminders" not in api.get(f"/api/letters/{code}/", key=key).json()
    # From the supervision page too, without a note.
    page = api.client("supervisor").post("/letters/supervisor/", {"code": code, "action": "remind"})
    assert page.status_code == 302
    assert LetterLog.objects.filter(letter__code=code, action="remind").count() == 2
    supervision_page = api.get("/letters/supervisor/", "supervisor").content.decode()
    assert f'data-code="{code}"' in supervision_page[supervision_page.index('id="due-soon"') :]


def test_the_supervisors_assessment_shows_their_own_step_at_once_though_it_is_kept_a_minute(
    api, clock, django_capture_on_commit_callbacks
):
    """The page keeps the assessment a minute per period (~70 ms on a year), but a wrong closure the
    supervisor has just marked is in the table the redirect shows, not a minute later."""
    clock.set(2026, 6, 8, 9)
    code, _ = api.letter("closed")

    def wrong_closures() -> str:
        page = api.get("/letters/supervisor/", "supervisor").content.decode()
        row = page[page.index('<table id="assessment"') :]
        row = row[row.index('<tr data-department="jtw">') :]
        # The cells: letters, overdue, three rates, extensions, wrong sign-fors, wrong closures, …
        cells = row[: row.index("</tr>")].split("<td")
        return cells[8].split(">", 1)[1].split("<", 1)[0]

    assert wrong_closures() == "0"
    clock.now += dt.timedelta(seconds=20)  # the kept table is still fresh
    # The bump runs once the step's transaction commits (the test's own transaction never does).
    with django_capture_on_commit_callbacks(execute=True):
        done = api.client("supervisor").post(
            "/letters/supervisor/", {"action": "wrong-closure", "code": code, "reason": "并未实际解决"}
        )
    assert done.status_code == 302
    assert wrong_closures() == "1"
    # The same from the API: the step, not the page, moves the kept table.
    other, _ = api.letter("closed")
    assert wrong_closures() == "1"  # kept: a handler's letter closing does not bump it
    with django_capture_on_commit_callbacks(execute=True):
        api.ok(other, "wrong-closure", "supervisor", reason="答复未落实")
    assert wrong_closures() == "2"
