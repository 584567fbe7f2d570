"""The reports on their schedule (docs/REPORTS.md): the half-year 通报 in June and the year-end
assessment at the end of November, per unit and ranked, stored, downloadable and sent to each unit.

The figures are letters.reports.assessment's, called by name and stored as produced (the rows and
the columns of the day), so a later change of the formula does not rewrite a report already sent.
The clock (archive/clock.py `reports`) produces each kind once per period; `manage.py report`, the
supervisors' form and POST /api/reports/ produce any period by hand.
"""

import datetime as dt
import io
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from core import clock, exports, params
from core.errors import ServiceError
from departments.models import Department
from departments.roles import ROLES, has_role
from letters import reports
from letters.models import Report, ReportNotice

Kind = Report.Kind
SCHEDULED = (Kind.HALF_YEAR, Kind.YEAR_END)
RANK = "排名"


# --- periods ------------------------------------------------------------------------------------


def _config() -> dict[str, Any]:
    return settings.MINXIN_REPORTS


def _month_day(value: str) -> tuple[int, int]:
    month, day = value.split("-")
    return int(month), int(day)


def period_of(kind: str, year: int) -> tuple[dt.date, dt.date]:
    """The first and last day of a scheduled kind's period that ends in `year`."""
    spec = _config()[kind]
    first, last = _month_day(spec["from"]), _month_day(spec["to"])
    return dt.date(year if first <= last else year - 1, *first), dt.date(year, *last)


def due_at(kind: str, year: int) -> dt.datetime:
    """When the clock produces the report of the period ending in `year`: the midnight after its
    last day, `delay_days` later."""
    _first, last = period_of(kind, year)
    return params.day_start(last + dt.timedelta(days=1 + _config()["delay_days"]))


def title(report: Report) -> str:
    """The report's name in the active language: “2026 年上半年通报”."""
    if report.kind == Kind.HALF_YEAR:
        return _("%(year)s half-year report") % {"year": report.period_to.year}
    if report.kind == Kind.YEAR_END:
        return _("%(year)s year-end assessment") % {"year": report.period_to.year}
    return _("Report %(from)s to %(to)s") % {
        "from": report.period_from.isoformat(),
        "to": report.period_to.isoformat(),
    }


# --- producing ----------------------------------------------------------------------------------


def _ranked(rows: list[dict]) -> list[dict]:
    """The assessment's rows (best first) with their place; a unit without a score is not ranked."""
    ordered = sorted(rows, key=lambda r: (r.get("score") is None, -(r.get("score") or 0)))
    place, out = 0, []
    for row in ordered:
        if row.get("score") is not None:
            place += 1
        out.append({**row, "rank": place if row.get("score") is not None else None})
    return out


def produce(
    kind: str, first: dt.date, last: dt.date, by: str = "", now: dt.datetime | None = None
) -> tuple[Report, bool]:
    """The report of a period, and whether it was made now: a scheduled kind's report of a period
    that exists already is returned as it is (one per kind and period, whoever asks)."""
    if kind not in Kind.values:
        raise ServiceError("bad_request", _("Unknown kind of report."), {"kind": "unknown"})
    if last < first:
        raise ServiceError("bad_request", _("The period ends before it starts."), {"to": "before_from"})
    if kind != Kind.CUSTOM:
        found = Report.objects.filter(kind=kind, period_from=first, period_to=last).first()
        if found is not None:
            return found, False
    rows = _ranked(reports.assessment(reports.Period(params.day_start(first), params.day_end(last))))
    content = {
        "columns": [[key, label] for key, label in reports.COLUMNS],
        "departments": rows,
        "ranked": sum(1 for row in rows if row["rank"] is not None),
    }
    try:
        with transaction.atomic():
            report = Report.objects.create(
                kind=kind,
                period_from=first,
                period_to=last,
                produced_at=now or clock.now(),
                produced_by=by,
                rows=content,
            )
            _send(report)
    except IntegrityError:  # another clock or supervisor made the same one at the same moment
        return Report.objects.get(kind=kind, period_from=first, period_to=last), False
    return report, True


def _send(report: Report) -> None:
    """One notice per unit in the report ('sent to each unit's coordinator in the app')."""
    codes = {row["department"]["code"]: row.get("rank") for row in report.rows["departments"]}
    ReportNotice.objects.bulk_create(
        [
            ReportNotice(report=report, department=d, rank=codes[d.code], ranked=report.rows["ranked"])
            for d in Department.objects.filter(code__in=codes)
        ]
    )


def last_due_year(kind: str, now: dt.datetime) -> int:
    """The year of the latest period of this kind that is due at `now`."""
    year = timezone.localtime(now).year
    return max(y for y in (year + 1, year, year - 1) if due_at(kind, y) <= now)


def produce_due(now: dt.datetime | None = None) -> list[Report]:
    """The clock's job: each scheduled kind's latest period that is due and not yet produced.

    A period is produced from its due moment for `catch_up_days` (a clock that was down catches
    up); an older one only by hand, so a new installation does not fill up with old years."""
    now = now or clock.now()
    catch_up = dt.timedelta(days=_config()["catch_up_days"])
    made = []
    for kind in SCHEDULED:
        year = last_due_year(kind, now)
        if now >= due_at(kind, year) + catch_up:
            continue
        report, created = produce(kind, *period_of(kind, year), now=now)
        if created:
            made.append(report)
    return made


# --- who reads what -----------------------------------------------------------------------------


def recipient_role(department: Department) -> str:
    """Who receives a unit's reports: its coordinators (纠风 office) when the role exists and the
    unit has one, else its handlers."""
    coordinator = ROLES.get("coordinator")
    if coordinator is not None:
        users = get_user_model().objects.with_perm(f"departments.{coordinator.permission}")
        if users.filter(staff__department=department, is_active=True).exists():
            return "coordinator"
    return "handler"


def unit_of(user: Any) -> Department | None:
    """The unit whose notices this user receives, if any."""
    if not getattr(user, "is_authenticated", False):
        return None
    profile = getattr(user, "staff", None)
    department = profile.department if profile is not None else None
    if department is None:
        return None
    return department if has_role(user, recipient_role(department)) else None


def may_produce(user: Any) -> bool:
    return has_role(user, "supervisor")


def notices_for(user: Any) -> list[ReportNotice]:
    department = unit_of(user)
    if department is None:
        return []
    found = list(ReportNotice.objects.filter(department=department).select_related("report")[:20])
    for notice in found:
        notice.title = title(notice.report)  # type: ignore[attr-defined]
    return found


def readable(user: Any, report_id: object) -> Report:
    """A report for a supervisor, or for a unit it was sent to; 403 for anyone else."""
    report = Report.objects.filter(pk=report_id if isinstance(report_id, int) else -1).first()
    if may_produce(user):
        if report is None:
            raise ServiceError("not_found", _("No such report."))
        return report
    department = unit_of(user)
    if department is None:
        raise ServiceError("forbidden", _("Reports are for the supervisors and the units they were sent to."))
    if report is None or not report.notices.filter(department=department).exists():
        raise ServiceError("not_found", _("No such report."))
    return report


def mark_read(notice_id: int, user: Any) -> ReportNotice:
    department = unit_of(user)
    notice = ReportNotice.objects.filter(pk=notice_id, department=department).first()
    if department is None or notice is None:
        raise ServiceError("not_found", _("No such report."))
    if notice.read_at is None:
        notice.read_at, notice.read_by = clock.now(), user.get_username()
        notice.save(update_fields=["read_at", "read_by"])
    return notice


# --- the files ----------------------------------------------------------------------------------


def as_json(report: Report, rows: bool = True) -> dict:
    data: dict[str, Any] = {
        "id": report.pk,
        "kind": report.kind,
        "title": title(report),
        "from": report.period_from.isoformat(),
        "to": report.period_to.isoformat(),
        "produced_at": timezone.localtime(report.produced_at).isoformat(timespec="seconds"),
        "by_clock": not report.produced_by,
        "ranked": report.rows.get("ranked", 0),
    }
    if rows:
        data["columns"] = [{"key": key, "label": label} for key, label in report.rows.get("columns", [])]
        data["departments"] = report.rows.get("departments", [])
    return data


def _table(report: Report, rate) -> tuple[list[str], list[list]]:
    columns = report.rows.get("columns", [])
    header = [RANK] + [label for _key, label in columns]
    lines = []
    for row in report.rows.get("departments", []):
        measures = row.get("measures") or {}
        values = {**row, **measures, "department": row["department"]["name"]}
        cells = [rate(values.get(key)) if key in measures else values.get(key) for key, _label in columns]
        lines.append([row.get("rank"), *cells])
    return header, lines


def _file_title(report: Report) -> str:
    with translation.override("zh-hans"):
        return title(report)


def as_csv(report: Report) -> str:
    """Rates as fractions (0.6652), as the JSON and the scoreboard's CSV."""
    return exports.as_csv(*_table(report, lambda rate: rate))


def as_markdown(report: Report) -> str:
    header, lines = _table(report, exports.percent)
    produced = timezone.localtime(report.produced_at)
    intro = [
        f"# {exports.md_text(_file_title(report))}",
        "",
        f"期间：{report.period_from} 至 {report.period_to} · 生成时间 {produced:%Y-%m-%d %H:%M}",
        "",
    ]
    return "\n".join(intro + exports.md_table(header, lines)) + "\n"


def as_xlsx(report: Report) -> bytes:
    import xlsxwriter

    header, lines = _table(report, lambda rate: rate)
    measures = {key for row in report.rows.get("departments", []) for key in row.get("measures") or {}}
    rate_columns = {i + 1 for i, (key, _l) in enumerate(report.rows.get("columns", [])) if key in measures}
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True, "strings_to_formulas": False})
    sheet = book.add_worksheet("通报")
    bold = book.add_format({"bold": True})
    percent = book.add_format({"num_format": "0.0%"})
    sheet.write_string(0, 0, _file_title(report), bold)
    sheet.write_string(1, 0, f"期间 {report.period_from} 至 {report.period_to}")
    for col, label in enumerate(header):
        sheet.write_string(3, col, label, bold)
    for line, row in enumerate(lines, start=4):
        for col, value in enumerate(row):
            if value is None:
                continue
            if isinstance(value, str):
                sheet.write_string(line, col, value)
            else:
                sheet.write_number(line, col, value, percent if col in rate_columns else None)
    sheet.set_column(1, 1, 28)
    sheet.set_column(2, len(header) - 1, 12)
    book.close()
    return out.getvalue()
