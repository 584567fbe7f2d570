"""The reports on their schedule (issue #16, docs/REPORTS.md): the half-year 通报 and the year-end
assessment produced by the clock once per period, stored, downloadable by the supervisors and sent
to each unit; any period by hand (the form, the API, `manage.py report`)."""

import csv
import io
import zipfile
from collections.abc import Iterator
from io import StringIO

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client

from archive import clock as clock_module
from core import clock as core_clock
from departments.models import Department
from letters import periodic
from letters.models import Report, ReportNotice
from tests.test_letters import Api, Clock, at

pytestmark = pytest.mark.django_db


@pytest.fixture
def clock(monkeypatch) -> Iterator[Clock]:
    """The one time source of the services, the views and the clock's jobs (django.utils.timezone.now)."""
    cache.clear()
    clock = Clock()
    with core_clock.use(clock):
        yield clock


@pytest.fixture
def api(personas, clock) -> Api:
    call_command("loadcalendar", "2026", stdout=StringIO())
    return Api(personas)


def letters_in_the_first_half(api: Api, clock: Clock) -> None:
    """Three letters to 交通委 (one answered late) and two to 水务局, all rated, in March 2026."""
    clock.set(2026, 3, 2, 9)
    for department in ("jtw", "jtw", "swj", "swj", "jtw"):
        api.letter("closed", department=department)


def run_reports_job() -> list[str]:
    return clock_module.run_jobs([("reports", clock_module.reports)])


def test_the_clock_produces_the_half_year_report_once_at_its_date(api, clock):
    letters_in_the_first_half(api, clock)
    clock.set(2026, 6, 30, 23, 59)
    assert run_reports_job() == []
    assert not Report.objects.exists()
    clock.set(2026, 7, 1, 0, 0)
    run_reports_job()
    clock.set(2026, 7, 1, 0, 1)
    run_reports_job()
    clock.set(2026, 7, 20)
    run_reports_job()
    report = Report.objects.get()
    assert (report.kind, str(report.period_from), str(report.period_to)) == (
        "half_year",
        "2026-01-01",
        "2026-06-30",
    )
    assert report.produced_at == at(2026, 7, 1) and report.produced_by == ""
    notices = {n.department.code: n for n in ReportNotice.objects.filter(report=report)}
    assert set(notices) == {"jtw", "swj"}
    assert sorted(n.rank for n in notices.values()) == [1, 2] and notices["jtw"].ranked == 2
    assert sum(row["letters"] for row in report.rows["departments"]) == 5
    clock.set(2026, 8, 15)  # past the catch-up window: nothing new, nothing twice
    run_reports_job()
    assert Report.objects.count() == 1


def test_the_clock_produces_the_year_end_assessment_from_december_to_november(api, clock):
    letters_in_the_first_half(api, clock)
    clock.set(2026, 11, 30, 23, 59)
    run_reports_job()
    assert not Report.objects.filter(kind="year_end").exists()
    clock.set(2026, 12, 1, 0, 0)
    run_reports_job()
    run_reports_job()
    report = Report.objects.get(kind="year_end")
    assert (str(report.period_from), str(report.period_to)) == ("2025-12-01", "2026-11-30")
    assert report.notices.count() == 2


def test_the_periods_and_dates_follow_the_settings(settings):
    settings.MINXIN_REPORTS = {
        "half_year": {"from": "12-01", "to": "05-31"},
        "year_end": {"from": "01-01", "to": "12-31"},
        "delay_days": 3,
        "catch_up_days": 30,
    }
    assert [str(d) for d in periodic.period_of("half_year", 2026)] == ["2025-12-01", "2026-05-31"]
    assert [str(d) for d in periodic.period_of("year_end", 2026)] == ["2026-01-01", "2026-12-31"]
    assert periodic.due_at("half_year", 2026) == at(2026, 6, 4)


def test_the_command_and_the_api_produce_one_report_per_kind_and_period(api, clock):
    letters_in_the_first_half(api, clock)
    out = StringIO()
    call_command("report", kind="half_year", year=2026, stdout=out)
    call_command("report", kind="half_year", year=2026, stdout=out)
    assert "produced" in out.getvalue() and "exists already" in out.getvalue()
    assert Report.objects.filter(kind="half_year").count() == 1
    again = api.post("/api/reports/", {"kind": "half_year", "year": 2026}, "supervisor")
    assert again.status_code == 200 and again.json()["kind"] == "half_year"
    custom = api.post(
        "/api/reports/", {"kind": "custom", "from": "2026-03-01", "to": "2026-03-31"}, "supervisor"
    )
    assert custom.status_code == 201, custom.content
    data = custom.json()
    assert data["from"] == "2026-03-01" and data["to"] == "2026-03-31" and data["ranked"] == 2
    assert [row["rank"] for row in data["departments"]] == [1, 2]
    for bad, field in (
        ({"kind": "custom", "from": "2026-03-31", "to": "2026-03-01"}, "to"),
        ({"kind": "custom", "from": "31/3/2026", "to": "2026-04-01"}, "from"),
        ({"kind": "weekly"}, "kind"),
        ({"kind": "half_year", "year": "2026"}, "year"),
    ):
        refused = api.post("/api/reports/", bad, "supervisor")
        assert refused.status_code == 400 and field in refused.json()["error"]["fields"], refused.content
    assert Report.objects.count() == 2


def test_the_files_open_and_neutralise_what_could_run(api, clock):
    letters_in_the_first_half(api, clock)
    Department.objects.filter(code="jtw").update(name='=HYPERLINK("x") | *交通委* [a](b)')
    report, _created = periodic.produce("custom", at(2026, 1, 1).date(), at(2026, 6, 30).date(), by="sam")
    client = api.client("supervisor")
    xlsx = client.get(f"/api/reports/{report.pk}/", {"format": "xlsx"})
    assert xlsx.status_code == 200 and xlsx["Content-Type"].startswith("application/vnd.openxmlformats")
    with zipfile.ZipFile(io.BytesIO(xlsx.content)) as book:
        strings = book.read("xl/sharedStrings.xml").decode()
        sheet = book.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet  # the department name is a string, never a formula
    assert "=HYPERLINK" in strings and "排名" in strings
    response = client.get(f"/api/reports/{report.pk}/", {"format": "csv"})
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(StringIO(text.lstrip("\ufeff"))))
    assert rows[0][:3] == ["排名", "部门", "信件数"]
    assert any(row[1] == '\'=HYPERLINK("x") | *交通委* [a](b)' for row in rows[1:])
    markdown = client.get(f"/api/reports/{report.pk}/", {"format": "md"}).content.decode()
    assert "\\*交通委\\*" in markdown and "\\| " in markdown and "\\[a\\](b)" in markdown
    assert "attachment" in response["Content-Disposition"]
    assert client.get(f"/api/reports/{report.pk}/", {"format": "pdf"}).status_code == 400


def test_only_supervisors_and_the_units_sent_to_read_reports(api, clock):
    letters_in_the_first_half(api, clock)
    report, _ = periodic.produce("half_year", *periodic.period_of("half_year", 2026))
    other, _ = periodic.produce(
        "custom", at(2026, 4, 1).date(), at(2026, 4, 30).date()
    )  # no letters: no units
    for who in (None, "operator", "moderator", "guest"):
        assert api.get("/api/reports/", who).status_code == 403
        assert api.get(f"/api/reports/{report.pk}/", who).status_code == 403
    for who in ("operator", "handler_a"):
        refused = api.post("/api/reports/", {"kind": "custom", "from": "2026-01-01", "to": "2026-01-31"}, who)
        assert refused.status_code == 403
    mine = api.get("/api/reports/", "handler_a").json()["reports"]
    assert [(r["id"], r["notice"]["department"]) for r in mine] == [(report.pk, "jtw")]
    assert api.get(f"/api/reports/{report.pk}/", "handler_a").status_code == 200
    assert api.get(f"/api/reports/{other.pk}/", "handler_a").status_code == 404
    listed = api.get("/api/reports/", "supervisor").json()["reports"]
    assert {r["id"] for r in listed} == {report.pk, other.pk}


def test_the_units_page_shows_its_new_report_and_its_rank(api, clock):
    letters_in_the_first_half(api, clock)
    report, _ = periodic.produce("half_year", *periodic.period_of("half_year", 2026))
    rank = ReportNotice.objects.get(report=report, department__code="jtw").rank
    client = api.client("handler_a")
    html = client.get("/letters/handler/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "2026 年上半年通报" in html and f"本单位排名第 {rank} 位（共 2 个单位）" in html
    notice = ReportNotice.objects.get(report=report, department__code="jtw")
    other = ReportNotice.objects.get(report=report, department__code="swj")
    assert client.post(f"/letters/reports/notices/{other.pk}/read/").status_code == 302
    other.refresh_from_db()
    assert other.read_at is None  # another unit's notice is not this handler's to read
    client.post(f"/letters/reports/notices/{notice.pk}/read/")
    notice.refresh_from_db()
    assert notice.read_at is not None and notice.read_by == "hank"


def test_the_supervisor_produces_a_report_from_the_page(api, clock):
    letters_in_the_first_half(api, clock)
    client = api.client("supervisor")
    response = client.post(
        "/letters/supervisor/reports/", {"kind": "custom", "from": "2026-01-01", "to": "2026-06-30"}
    )
    assert response.status_code == 302
    page = client.get("/letters/supervisor/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    report = Report.objects.get()
    assert f'data-report="{report.pk}"' in page and f"/api/reports/{report.pk}/?format=xlsx" in page
    bad = client.post(
        "/letters/supervisor/reports/", {"kind": "custom", "from": "2026-06-30", "to": "2026-01-01"}
    )
    assert bad.status_code == 400 and Report.objects.count() == 1
    assert api.client("operator").post("/letters/supervisor/reports/", {"kind": "custom"}).status_code == 403


def test_the_demo_shows_every_status_every_light_and_both_reports(db):
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from letters.lights import light_at
    from letters.models import Letter, LetterStatus

    call_command("demo", quiet=True)
    now = timezone.now()
    assert set(Letter.objects.values_list("status", flat=True)) == set(LetterStatus.values)
    open_letters = Letter.objects.filter(status__in=["forwarded", "signed"])
    assert {light_at(letter, now) for letter in open_letters} == {"green", "yellow", "red"}
    assert {"satisfied", "basic", "unsatisfied"} <= set(Letter.objects.values_list("rating", flat=True))
    assert set(Report.objects.values_list("kind", flat=True)) == {"half_year", "year_end"}
    assert all(report.rows["ranked"] >= 3 for report in Report.objects.all())
    assert get_user_model().objects.get(username="handler_wjw").staff.department.code == "wjw"
    assert Letter.objects.filter(department__code="wjw", status__in=["forwarded", "signed"]).exists()
    # A unit with divisions: its coordinator has a division's draft to send, and a letter waits for
    # the other division's draft; letters by phone, one closed by the operator's 回访.
    coordinator = Client()
    coordinator.force_login(get_user_model().objects.get(username="coordinator_rsj"))
    page = coordinator.get("/letters/handler/").content.decode()
    assert "就业促进处" in page and "劳动关系处" in page and "您的失业保险金申领已受理" in page
    division = Client()
    division.force_login(get_user_model().objects.get(username="handler_rsj_laodong"))
    assert "劳动合同到期后单位不续签有无补偿" in division.get("/letters/handler/").content.decode()
    by_phone = Letter.objects.filter(channel="phone")
    assert by_phone.count() == 2 and by_phone.filter(status="closed", closure="rated").count() == 1
    counts = (Letter.objects.count(), Report.objects.count(), ReportNotice.objects.count())
    call_command("demo", quiet=True)  # a second run keeps what exists
    assert (Letter.objects.count(), Report.objects.count(), ReportNotice.objects.count()) == counts
