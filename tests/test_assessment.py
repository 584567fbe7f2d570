"""The assessment (docs/ASSESSMENT.md): the formula on cases computed by hand, and the worked example
of the document built through the workflow — the idle department ranks last.

Time is the `clock` of tests/test_letters.py (Monday 8 June 2026; Friday 19 June is the Dragon Boat
Festival). Consultations: 1 working day to sign for, 5 to reply.
"""

from collections.abc import Iterator
from io import StringIO

import pytest
from django.core.management import call_command

from core import clock as core_clock
from letters import followup, reports, services
from letters.models import Letter
from tests.conftest import make_staff
from tests.test_letters import Clock, at

pytestmark = pytest.mark.django_db

WEIGHTS = {
    "timely_sign_for": 15,
    "timely_reply": 25,
    "no_extension": 10,
    "no_wrong_sign_for": 10,
    "no_wrong_closure": 10,
    "no_complaint": 15,
    "substantive_closure": 15,
}
# The worked example's counts (credit, due), as the table of docs/ASSESSMENT.md gives them.
IDLE = {"timely_sign_for": (0, 5), "timely_reply": (0, 5), "no_extension": (0, 5)}
IDLE |= {m: (0, 0) for m in ("no_wrong_sign_for", "no_wrong_closure", "no_complaint", "substantive_closure")}
ONE_GOOD = {measure: (1, 1) for measure in WEIGHTS}
BUSY = {
    "timely_sign_for": (9, 10),
    "timely_reply": (8, 9),
    "no_extension": (7, 9),
    "no_wrong_sign_for": (10, 11),
    "no_wrong_closure": (7, 8),
    "no_complaint": (5, 7),
    "substantive_closure": (7, 9),
}


def score(counts: dict, assessed: int) -> tuple[float | None, float | None]:
    _measures, raw, final = reports.score_of(counts, assessed, WEIGHTS, prior_letters=20, prior_score=60)
    return raw, final


def test_the_worked_example_scores_as_computed_by_hand():
    assert score(IDLE, 5) == (0.0, 0.0)
    assert score(ONE_GOOD, 1) == (100.0, 61.9)  # (1 × 100 + 20 × 60) ÷ 21 = 61.904…
    assert score(BUSY, 10) == (83.72, 67.91)  # (10 × 83.72 + 20 × 60) ÷ 30 = 67.906…


def test_a_department_that_handles_nothing_never_outranks_one_that_handled_a_letter():
    # Five letters unsigned past their limit are five failures, not five absences.
    _raw, idle = score(IDLE, 5)
    for handled in (ONE_GOOD, BUSY):
        assert score(handled, 1)[1] > idle  # type: ignore[operator]
    # However few or many letters the idle department has.
    for n in (1, 2, 50, 500):
        idle_n = {**IDLE, **{m: (0, n) for m in ("timely_sign_for", "timely_reply", "no_extension")}}
        assert score(idle_n, n) == (0.0, 0.0)


def test_a_measure_with_nothing_due_is_left_out_and_nothing_due_at_all_has_no_score():
    only_signed = {m: (0, 0) for m in WEIGHTS} | {"timely_sign_for": (1, 2), "no_wrong_sign_for": (2, 2)}
    # 100 × (15 × 0.5 + 10 × 1) ÷ 25 = 70; above 60, so weighted: (2 × 70 + 20 × 60) ÷ 22 = 60.909…
    assert score(only_signed, 2) == (70.0, 60.91)
    assert score({m: (0, 0) for m in WEIGHTS}, 0) == (None, None)


def test_a_raw_score_at_or_below_the_pass_mark_is_kept_and_above_it_is_weighted_by_volume():
    half = {m: (1, 2) for m in WEIGHTS}
    assert score(half, 1) == (50.0, 50.0)  # few letters never lift a poor score
    assert score(half, 1000) == (50.0, 50.0)
    perfect = {m: (3, 3) for m in WEIGHTS}
    assert score(perfect, 3) == (100.0, 65.22)  # (3 × 100 + 1200) ÷ 23
    assert score(perfect, 300) == (100.0, 97.5)  # (30000 + 1200) ÷ 320
    # 300 letters at 95 rank above 3 perfect ones.
    nearly = {m: (19, 20) for m in WEIGHTS}
    assert score(nearly, 300)[1] > score(perfect, 3)[1]  # type: ignore[operator]


# --- the worked example, through the workflow --------------------------------------------------


@pytest.fixture
def calendar_2026(db) -> None:
    call_command("loadcalendar", "2026", stdout=StringIO())


@pytest.fixture
def clock(monkeypatch) -> Iterator[Clock]:
    clock = Clock()
    with core_clock.use(clock):
        yield clock


def write(kind: str = "consultation") -> tuple[str, str]:
    answer, _created = services.submit(
        {
            "kind": kind,
            "subject": "公交站台积水",
            "body": "请处理。",
            "name": "王芳",
            "contact": "13800000000",
        }
    )
    return answer["code"], answer["key"]


def sent(department: str, operator, n: int = 1) -> list[tuple[str, str]]:
    letters = [write() for _ in range(n)]
    for code, _key in letters:
        services.forward(code, department, operator)
    return letters


@pytest.fixture
def example(personas, clock, calendar_2026):
    """A (jtw): 5 letters never signed for. B (swj): 1 letter handled on time and rated satisfied.
    C (wjw): the 11 letters and the wrong sign-for of docs/ASSESSMENT.md. Assessed on Friday 19 June."""
    operator, supervisor = personas["operator"], personas["supervisor"]
    handler_b, handler_c = personas["handler_b"], make_staff("henry", "handler", "wjw")
    clock.set(2026, 6, 8, 10)
    sent("jtw", operator, 5)
    (b, b_key), *_ = sent("swj", operator)
    c = sent("wjw", operator, 10)
    rated, unrated, late, redone, overdue = c[0:5], c[5:7], c[7], c[8], c[9]
    (wrong, _), *_ = sent("wjw", operator)
    clock.set(2026, 6, 8, 11)
    for code, _key in [(b, b_key)]:
        services.sign(code, handler_b)
    for code, _key in [*rated, *unrated, redone, overdue, (wrong, "")]:
        services.sign(code, handler_c)
    services.return_letter(wrong, "不属于本单位职责", handler_c)  # a wrong sign-for
    clock.set(2026, 6, 9, 10)
    services.reply(b, "已处理。", handler_b)
    services.evaluate(b, b_key, "satisfied", "")
    for code, key in [*rated, *unrated, redone]:
        services.reply(code, "已处理。", handler_c)
        if (code, key) in rated:
            services.evaluate(code, key, "satisfied", "")
    clock.set(2026, 6, 10, 10)  # the sign-for limit (Tuesday 24:00) has passed
    services.sign(late[0], handler_c)
    extension = services.request_extension(late[0], 3, "需要现场勘察", handler_c)
    services.decide_extension(late[0], extension.pk, True, supervisor)
    clock.set(2026, 6, 11, 10)
    services.reply(late[0], "已处理。", handler_c)
    services.evaluate(late[0], late[1], "unsatisfied", "没有解决")
    clock.set(2026, 6, 18, 10)
    services.redo(redone[0], "答复没有说明处理时限", supervisor)  # a new limit: 26 June
    clock.set(2026, 6, 19, 9)
    pending, _ = write()
    services.forward(pending, "wjw", operator)  # due Monday 22 June: still in time
    clock.set(2026, 6, 19, 10)
    assert followup.close_unrated() == 2  # replied 9 June: 7 working days are over on 18 June
    services.mark_wrong_closure(unrated[0][0], "答复未针对来信问题", supervisor)
    return {"overdue": overdue[0], "pending": pending}


def by_code(rows: list[dict]) -> dict[str, dict]:
    return {row["department"]["code"]: row for row in rows}


def test_the_worked_example_of_the_document_is_what_the_assessment_computes(example, settings):
    settings.MINXIN_ASSESSMENT_WEIGHTS = WEIGHTS
    settings.MINXIN_ASSESSMENT_PRIOR_LETTERS, settings.MINXIN_ASSESSMENT_PRIOR_SCORE = 20, 60
    period = reports.Period(at(2026, 6, 1), at(2026, 7, 1))
    rows = reports.assessment(period)
    assert [row["department"]["code"] for row in rows] == ["wjw", "swj", "jtw"]
    found = by_code(rows)
    counts = {
        code: {m: (c["credit"], c["due"]) for m, c in row["counts"].items()} for code, row in found.items()
    }
    assert counts["jtw"] == IDLE
    assert counts["swj"] == ONE_GOOD
    assert counts["wjw"] == BUSY
    summary = {
        code: (r["letters"], r["assessed"], r["pending"], r["overdue"], r["raw_score"], r["score"])
        for code, r in found.items()
    }
    assert summary == {
        "jtw": (5, 5, 0, 5, 0.0, 0.0),
        "swj": (1, 1, 0, 0, 100.0, 61.9),
        "wjw": (11, 10, 1, 1, 83.72, 67.91),
    }
    c = found["wjw"]
    assert (c["extensions"], c["wrong_sign_fors"], c["wrong_closures"]) == (1, 1, 1)
    assert (c["complaints"], c["unsatisfied"], c["redone"]) == (2, 1, 1)
    assert c["measures"]["timely_sign_for"] == 0.9


def test_a_letter_in_time_is_neither_credit_nor_failure_and_past_its_limit_is_a_failure(example, clock):
    period = reports.Period(at(2026, 6, 1), at(2026, 7, 1))
    # Monday 22 June 24:00 passes: the pending letter is now unsigned past its limit.
    clock.set(2026, 6, 23, 0, 1)
    c = by_code(reports.assessment(period))["wjw"]
    assert (c["pending"], c["overdue"]) == (0, 2)
    assert c["counts"]["timely_sign_for"] == {"credit": 9, "due": 11}
    assert Letter.objects.get(code=example["pending"]).status == "forwarded"


def test_the_api_answers_the_assessment_with_its_old_keys_and_the_new_ones(example, client, personas):
    client.force_login(personas["supervisor"])
    data = client.get("/api/assessment/", {"from": "2026-06-01", "to": "2026-06-30"}).json()
    assert {"from", "to", "departments"} <= set(data)
    first = data["departments"][0]
    old = {"department", "letters", "measures", "raw_score", "score", "extensions", "wrong_sign_fors"}
    assert old | {"wrong_closures", "complaints", "assessed", "pending", "overdue", "counts"} <= set(first)
    assert [row["department"]["code"] for row in data["departments"]][-1] == "jtw"
    csv = client.get("/api/assessment/", {"from": "2026-06-01", "to": "2026-06-30", "format": "csv"})
    assert "已考核信件" in csv.content.decode()
    page = client.get("/letters/supervisor/", {"from": "2026-06-01", "to": "2026-06-30"}).content.decode()
    rows = page[page.index('id="assessment"') :]
    assert rows.index('data-department="wjw"') < rows.index('data-department="jtw"')
