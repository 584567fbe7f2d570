"""The public scoreboard and the supervisors' assessment, computed with aggregate queries.

The scoreboard is "current to the minute": the clock process (`supervise --loop`) recomputes it
every minute into the cache, so a page view reads one cache entry, never a million rows; a cold
cache computes it once. The assessment's formula is written down in docs/ASSESSMENT.md.
"""

import csv
import datetime as dt
import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Q
from django.utils import timezone

from core import exports, params
from departments.models import Department
from letters.models import Channel, Extension, Letter, LetterLog, Rating

SCOREBOARD_KEY = "minxin:scoreboard"
SCOREBOARD_SECONDS = 120  # the clock refreshes every 60 s; twice that survives one missed round


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def compute_scoreboard(period: "Period | None" = None) -> dict:
    """Per department: letters received, replied, reply rate, on-time rate, satisfaction rate.

    With a period, only the letters forwarded to the department in it (as the assessment counts).
    """
    letters = Letter.objects.filter(department__isnull=False)
    if period is not None:
        letters = letters.filter(forwarded_at__gte=period.start, forwarded_at__lt=period.end)
    counts = letters.values("department_id").annotate(
        received=Count("id"),
        replied=Count("id", filter=Q(replied_at__isnull=False)),
        on_time=Count("id", filter=Q(reply_on_time=True)),
        rated=Count("id", filter=~Q(rating="")),
        satisfied=Count("id", filter=Q(rating__in=[Rating.SATISFIED, Rating.BASIC])),
        phone=Count("id", filter=Q(channel=Channel.PHONE)),
    )
    by_department = {row["department_id"]: row for row in counts}
    minimum = settings.MINXIN_SCOREBOARD_MIN_LETTERS
    rows = []
    for department in Department.objects.filter(active=True):
        row = by_department.get(department.pk, {})
        received, replied = row.get("received", 0), row.get("replied", 0)
        rows.append(
            {
                "department": {
                    "code": department.code,
                    "name": department.name,
                    "short_name": department.short_name,
                },
                "received": received,
                "phone": row.get("phone", 0),  # of which taken by phone
                "replied": replied,
                "reply_rate": _rate(replied, received),
                "on_time_rate": _rate(row.get("on_time", 0), replied),
                "satisfaction_rate": _rate(row.get("satisfied", 0), row.get("rated", 0)),
                "ranked": received >= minimum,
            }
        )
    # Rankings only above a minimum volume: two letters answered on time prove little.
    ranked = sorted(
        (r for r in rows if r["ranked"]),
        key=lambda r: (-(r["satisfaction_rate"] or 0), -(r["reply_rate"] or 0)),
    )
    for place, row in enumerate(ranked, start=1):
        row["rank"] = place
    for row in rows:
        row.setdefault("rank", None)
    data = {
        "computed_at": timezone.localtime().isoformat(timespec="seconds"),
        "minimum_for_ranking": minimum,
        "departments": rows,
    }
    if period is not None:
        data["from"] = period.start.date().isoformat()
        data["to"] = (period.end - dt.timedelta(days=1)).date().isoformat()
    return data


def scoreboard(refresh: bool = False, period: "Period | None" = None) -> dict:
    """The scoreboard from the cache (all time, refreshed by the clock), or for a period (cached
    as long, computed on a miss)."""
    key = SCOREBOARD_KEY
    if period is not None:
        key += f":{period.start:%Y%m%d}-{period.end:%Y%m%d}"
    data = None if refresh else cache.get(key)
    if data is None:
        data = compute_scoreboard(period)
        cache.set(key, data, SCOREBOARD_SECONDS)
    return data


SCOREBOARD_HEADER = ["排名", "部门代码", "部门", "收到信件", "已回复", "回复率", "按时回复率", "满意率"]


def _scoreboard_rows(data: dict, rate: Callable[[float | None], object]) -> list[list]:
    """The rows in the page's order: ranked departments first, then by letters received."""
    rows = sorted(data["departments"], key=lambda r: (r["rank"] is None, r["rank"] or 0, -r["received"]))
    return [
        [
            row["rank"] if row["rank"] is not None else "",
            row["department"]["code"],
            row["department"]["name"],
            row["received"],
            row["replied"],
            rate(row["reply_rate"]),
            rate(row["on_time_rate"]),
            rate(row["satisfaction_rate"]),
        ]
        for row in rows
    ]


def scoreboard_csv(data: dict) -> str:
    """Rates as fractions (0.6652), as in the JSON; no rank below the minimum number of letters."""
    return exports.as_csv(SCOREBOARD_HEADER, _scoreboard_rows(data, lambda rate: rate))


def scoreboard_markdown(data: dict) -> str:
    period = f"{data['from']} 至 {data['to']}" if "from" in data else "全部"
    lines = [
        "# 各部门信件办理情况",
        "",
        f"期间：{period} · 统计时间 {data['computed_at']} · 收到至少 {data['minimum_for_ranking']} 件的部门参与排名",
        "",
    ]
    lines += exports.md_table(SCOREBOARD_HEADER, _scoreboard_rows(data, exports.percent))
    return "\n".join(lines) + "\n"


# --- the assessment ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    start: dt.datetime
    end: dt.datetime


def parse_period(query: Mapping[str, str], today: dt.date | None = None) -> Period:
    """?from=&to= as dates (inclusive); by default the year so far, as the late-November assessment.

    Raises core.params.ParameterError (400 `bad_request`) for a bad, out-of-range or
    reversed period.
    """
    today = today or timezone.localdate()
    first, last = params.period(query, dt.date(today.year, 1, 1), today)
    assert first is not None and last is not None
    return Period(params.day_start(first), params.day_end(last))


def assessment(period: Period) -> list[dict]:
    """Efficiency and quality per department over a period, and the weighted, volume-adjusted score."""
    weights = settings.MINXIN_ASSESSMENT_WEIGHTS
    prior = settings.MINXIN_ASSESSMENT_PRIOR_LETTERS
    in_period = Q(forwarded_at__gte=period.start, forwarded_at__lt=period.end)
    rows = {
        row["department_id"]: row
        for row in Letter.objects.filter(in_period, department__isnull=False)
        .values("department_id")
        .annotate(
            letters=Count("id"),
            signed=Count("id", filter=Q(sign_on_time__isnull=False)),
            signed_on_time=Count("id", filter=Q(sign_on_time=True)),
            replied=Count("id", filter=Q(reply_on_time__isnull=False)),
            replied_on_time=Count("id", filter=Q(reply_on_time=True)),
            wrong_closures=Count("id", filter=Q(wrong_closure=True)),
            complaints=Count("id", filter=Q(rating=Rating.UNSATISFIED)),
            rated=Count("id", filter=~Q(rating="")),
            redone=Count("id", filter=Q(redo_count__gt=0)),
            closed=Count("id", filter=Q(closed_at__isnull=False)),
            phone_letters=Count("id", filter=Q(channel=Channel.PHONE)),
        )
    }
    # Letters of the period for which an extension was asked (however many times).
    extensions = dict(
        Extension.objects.filter(letter__in=Letter.objects.filter(in_period))
        .values_list("letter__department_id")
        .annotate(n=Count("letter", distinct=True))
    )
    # A return after signing for is a wrong sign-for; the log keeps the department it left.
    wrong_signs: dict[str, int] = {}
    for log in LetterLog.objects.filter(
        action="return", from_status="signed", at__gte=period.start, at__lt=period.end
    ).values_list("data", flat=True):
        code = (log or {}).get("department")
        if code:
            wrong_signs[code] = wrong_signs.get(code, 0) + 1
    departments = {d.pk: d for d in Department.objects.filter(pk__in=rows.keys())}
    results = []
    for department_id, row in rows.items():
        department = departments[department_id]
        n = row["letters"]
        measures = {
            "timely_sign_for": _rate(row["signed_on_time"], row["signed"]),
            "timely_reply": _rate(row["replied_on_time"], row["replied"]),
            "no_extension": _rate(n - extensions.get(department_id, 0), n),
            "no_wrong_sign_for": _rate(max(n - wrong_signs.get(department.code, 0), 0), n),
            "no_wrong_closure": _rate(row["closed"] - row["wrong_closures"], row["closed"]),
            "no_complaint": _rate(row["rated"] - row["complaints"], row["rated"]),
            "substantive_closure": _rate(row["closed"] - row["redone"], row["closed"]),
        }
        raw = _weighted(measures, weights)
        results.append(
            {
                "department": {"code": department.code, "name": department.name},
                "letters": n,
                "phone_letters": row["phone_letters"],  # of which taken by phone
                "extensions": extensions.get(department_id, 0),
                "wrong_sign_fors": wrong_signs.get(department.code, 0),
                "wrong_closures": row["wrong_closures"],
                "complaints": row["complaints"],
                "measures": measures,
                "raw_score": raw,
            }
        )
    # Volume adjustment: each score is pulled toward the mean by `prior` imaginary letters, so a
    # department with 3 letters cannot top one with 300 by luck (docs/ASSESSMENT.md).
    scored = [r["raw_score"] for r in results if r["raw_score"] is not None]
    mean = sum(scored) / len(scored) if scored else 0.0
    for r in results:
        if r["raw_score"] is None:
            r["score"] = None
        else:
            r["score"] = round((r["letters"] * r["raw_score"] + prior * mean) / (r["letters"] + prior), 2)
    results.sort(key=lambda r: (r["score"] is None, -(r["score"] or 0), r["department"]["code"]))
    return results


def _weighted(measures: dict[str, float | None], weights: Mapping[str, float]) -> float | None:
    """100 × the weighted mean of the measures that have data (a measure without letters is left out)."""
    present = {name: value for name, value in measures.items() if value is not None}
    total = sum(weights[name] for name in present)
    if not total:
        return None
    return round(100 * sum(weights[name] * value for name, value in present.items()) / total, 2)


COLUMNS = [
    ("department", "部门"),
    ("letters", "信件数"),
    ("phone_letters", "其中电话来信"),
    ("timely_sign_for", "及时签收率"),
    ("timely_reply", "及时回复率"),
    ("no_extension", "未延期率"),
    ("extensions", "延期次数"),
    ("no_wrong_sign_for", "无误签收率"),
    ("wrong_sign_fors", "误签收"),
    ("no_wrong_closure", "无误办结率"),
    ("wrong_closures", "误办结"),
    ("no_complaint", "无投诉率"),
    ("complaints", "对回复的投诉"),
    ("substantive_closure", "实质性办结率"),
    ("raw_score", "加权得分"),
    ("score", "考核得分（按数量调整）"),
]


def _cells(row: dict) -> list:
    values = {**row, **row["measures"], "department": row["department"]["name"]}
    return [values[key] for key, _label in COLUMNS]


def assessment_csv(rows: list[dict]) -> str:
    out = io.StringIO()
    out.write("\ufeff")  # so that spreadsheet programs read the Chinese as UTF-8
    writer = csv.writer(out)
    writer.writerow([label for _key, label in COLUMNS])
    for row in rows:
        writer.writerow(["" if v is None else v for v in _cells(row)])
    return out.getvalue()


def assessment_xlsx(rows: list[dict], period: Period) -> bytes:
    import xlsxwriter

    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    sheet = book.add_worksheet("考核")
    bold = book.add_format({"bold": True})
    percent = book.add_format({"num_format": "0.0%"})
    last_day = (period.end - dt.timedelta(days=1)).date()
    sheet.write(0, 0, f"考核期间 {period.start.date()} 至 {last_day}", bold)
    for col, (_key, label) in enumerate(COLUMNS):
        sheet.write(2, col, label, bold)
    for line, row in enumerate(rows, start=3):
        for col, ((key, _label), value) in enumerate(zip(COLUMNS, _cells(row), strict=True)):
            if value is None:
                continue
            is_rate = key in row["measures"]
            sheet.write(line, col, value, percent if is_rate else None)
    sheet.set_column(0, 0, 28)
    sheet.set_column(1, len(COLUMNS) - 1, 12)
    book.close()
    return out.getvalue()
