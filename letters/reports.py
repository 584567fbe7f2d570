"""The public scoreboard and the supervisors' assessment, computed with aggregate queries.

The scoreboard is "current to the minute": the clock process (`supervise --loop`) recomputes it
every minute into the cache, so a page view reads one cache entry, never a million rows; a cold
cache computes it once. The assessment's formula is written down in docs/ASSESSMENT.md.
"""

import csv
import datetime as dt
import io
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, F, Q

from core import clock, exports, params
from departments.models import Department, LetterKind
from letters.models import Channel, Closure, Letter, LetterLog, LetterStatus, Rating

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
    # Thank-you letters ask nothing: counted apart, not among the letters received and handled.
    handled = ~Q(kind=LetterKind.THANKS)
    counts = letters.values("department_id").annotate(
        received=Count("id", filter=handled),
        replied=Count("id", filter=handled & Q(replied_at__isnull=False)),
        on_time=Count("id", filter=handled & Q(reply_on_time=True)),
        rated=Count("id", filter=handled & ~Q(rating="")),
        satisfied=Count("id", filter=handled & Q(rating__in=[Rating.SATISFIED, Rating.BASIC])),
        closed=Count("id", filter=handled & Q(status=LetterStatus.CLOSED)),
        closed_unrated=Count("id", filter=handled & Q(closure=Closure.UNRATED)),
        thanks=Count("id", filter=Q(kind=LetterKind.THANKS)),
        phone=Count("id", filter=handled & Q(channel=Channel.PHONE)),
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
                "closed": row.get("closed", 0),
                "closed_unrated": row.get("closed_unrated", 0),
                "closure_rate": _rate(row.get("closed", 0), received),
                "thanks": row.get("thanks", 0),
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
        "computed_at": clock.localtime().isoformat(timespec="seconds"),
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
    return clock.cached(key, SCOREBOARD_SECONDS, lambda: compute_scoreboard(period), refresh=refresh)


SCOREBOARD_HEADER = [
    "排名",
    "部门代码",
    "部门",
    "收到信件",
    "已回复",
    "回复率",
    "按时回复率",
    "满意率",
    "办结",
    "其中未评价办结",
    "办结率",
    "感谢信",
]


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
            row["closed"],
            row["closed_unrated"],
            rate(row["closure_rate"]),
            row["thanks"],
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
    today = today or clock.localdate()
    first, last = params.period(query, dt.date(today.year, 1, 1), today)
    assert first is not None and last is not None
    return Period(params.day_start(first), params.day_end(last))


MEASURES = (
    "timely_sign_for",
    "timely_reply",
    "no_extension",
    "no_wrong_sign_for",
    "no_wrong_closure",
    "no_complaint",
    "substantive_closure",
)


def assessment(period: Period, now: dt.datetime | None = None) -> list[dict]:
    """Efficiency and quality per department over a period, and the volume-weighted score.

    Each measure is credit ÷ due over the letters whose verdict for it is in at `now`: a letter still
    within its limit is neither credit nor failure, one past its limit without the step is a failure
    (docs/ASSESSMENT.md defines each measure and works an example by hand).
    """
    now = now or clock.now()
    rows = _assessment_counts(period, now)
    wrong_signs = _wrong_sign_fors(period)
    departments = {d.pk: d for d in Department.objects.filter(pk__in=rows.keys())}
    results = []
    for department_id, row in rows.items():
        department = departments[department_id]
        row["wrong_sign_fors"] = wrong_signs.get(department.code, 0)
        counts = _measure_counts(row)
        measures, raw, score = score_of(counts, row["assessed"])
        results.append(
            {
                "department": {"code": department.code, "name": department.name},
                "letters": row["letters"],
                "phone_letters": row["phone_letters"],  # of which taken by phone
                "assessed": row["assessed"],
                "pending": row["letters"] - row["assessed"],
                "overdue": row["sign_overdue"] + row["reply_overdue"],
                "extensions": row["extensions"],
                "wrong_sign_fors": row["wrong_sign_fors"],
                "wrong_closures": row["wrong_closures"],
                "complaints": row["complaints"],
                "unsatisfied": row["unsatisfied"],
                "redone": row["redone"],
                "counts": {name: {"credit": credit, "due": due} for name, (credit, due) in counts.items()},
                "measures": measures,
                "raw_score": raw,
                "score": score,
            }
        )
    results.sort(key=lambda r: (r["score"] is None, -(r["score"] or 0), r["department"]["code"]))
    return results


ASSESSMENT_SECONDS = 60


ASSESSMENT_GENERATION_KEY = "assessment:generation"


def recent_assessment(period: Period) -> list[dict]:
    """The assessment as the supervisor's page shows it: computed at most once a minute per period
    (two passes over the period's letters, ~70 ms on the seed's year, on every visit otherwise), and
    anew after a redo, a wrong closure or an extension decided (`assessment_changed`, called by
    letters.services whether the step came from a page or the API). The API and the exports
    compute it afresh."""
    try:
        generation = cache.get(ASSESSMENT_GENERATION_KEY, 0)
    except Exception:  # the cache is down: clock.cached computes it anyway
        generation = 0
    key = f"assessment:{generation}:{period.start:%Y%m%d%H%M}-{period.end:%Y%m%d%H%M}"
    return clock.cached(key, ASSESSMENT_SECONDS, lambda: assessment(period))


def assessment_changed() -> None:
    """After a redo, a wrong closure or an extension decided, once committed (so that no request
    caches the figures from before it under the new key): the supervisor's page that follows shows
    the assessment with it, not up to a minute later (every period's cached table is left behind)."""
    try:
        cache.set(ASSESSMENT_GENERATION_KEY, uuid.uuid4().hex, None)  # unlike the clock, never repeats
    except Exception:
        pass


def _assessment_counts(period: Period, now: dt.datetime) -> dict[int, dict]:
    """The counts behind the measures, per department id: one aggregate query, one for extensions."""
    S = LetterStatus
    letters = Letter.objects.filter(
        forwarded_at__gte=period.start, forwarded_at__lt=period.end, department__isnull=False
    ).exclude(kind=LetterKind.THANKS)
    done = Q(status__in=[S.REPLIED, S.CLOSED])
    sign_overdue = Q(status=S.FORWARDED, sign_deadline__lte=now)
    redone = Q(redo_count__gt=0)
    rows = {
        row.pop("department_id"): row
        for row in letters.values("department_id").annotate(
            letters=Count("id"),
            signed=Count("id", filter=Q(signed_at__isnull=False)),
            signed_on_time=Count("id", filter=Q(sign_on_time=True)),
            sign_overdue=Count("id", filter=sign_overdue),
            assessed=Count("id", filter=Q(signed_at__isnull=False) | sign_overdue),
            done=Count("id", filter=done),
            reply_overdue=Count("id", filter=Q(status=S.SIGNED, reply_deadline__lte=now)),
            replied_on_time=Count("id", filter=done & Q(reply_on_time=True)),
            closed_or_wrong=Count("id", filter=Q(status=S.CLOSED) | Q(wrong_closure=True)),
            wrong_closures=Count("id", filter=Q(wrong_closure=True)),
            judged=Count("id", filter=~Q(rating="") | redone),
            complaints=Count("id", filter=Q(rating=Rating.UNSATISFIED) | redone),
            unsatisfied=Count("id", filter=Q(rating=Rating.UNSATISFIED)),
            redone=Count("id", filter=redone),
            closure_judged=Count("id", filter=Q(status=S.CLOSED) | redone | Q(wrong_closure=True)),
            substantive=Count("id", filter=Q(status=S.CLOSED, redo_count=0, wrong_closure=False)),
            phone_letters=Count("id", filter=Q(channel=Channel.PHONE)),
        )
    }
    # Letters for which the department asked an extension (however many times), and those of them
    # that are done: an extension asked on the letter's stay at an earlier department does not count.
    asked = letters.filter(extensions__requested_at__gte=F("forwarded_at")).values("department_id")
    extended = {
        row["department_id"]: row
        for row in asked.annotate(
            extended=Count("id", distinct=True), extended_done=Count("id", distinct=True, filter=done)
        )
    }
    for department_id, row in rows.items():
        row["extensions"] = extended.get(department_id, {}).get("extended", 0)
        row["extended_done"] = extended.get(department_id, {}).get("extended_done", 0)
    return rows


def _wrong_sign_fors(period: Period) -> dict[str, int]:
    """A return after signing for is a wrong sign-for; the log keeps the department it left."""
    wrong_signs: dict[str, int] = {}
    for log in LetterLog.objects.filter(
        action="return", from_status="signed", at__gte=period.start, at__lt=period.end
    ).values_list("data", flat=True):
        code = (log or {}).get("department")
        if code:
            wrong_signs[code] = wrong_signs.get(code, 0) + 1
    return wrong_signs


def _measure_counts(row: Mapping[str, int]) -> dict[str, tuple[int, int]]:
    """(credit, due) of each measure from a department's counts (docs/ASSESSMENT.md, "Measures")."""
    handling_due = row["done"] + row["sign_overdue"] + row["reply_overdue"]
    return {
        "timely_sign_for": (row["signed_on_time"], row["signed"] + row["sign_overdue"]),
        "timely_reply": (row["replied_on_time"], handling_due),
        "no_extension": (row["done"] - row["extended_done"], handling_due),
        "no_wrong_sign_for": (row["signed"], row["signed"] + row["wrong_sign_fors"]),
        "no_wrong_closure": (row["closed_or_wrong"] - row["wrong_closures"], row["closed_or_wrong"]),
        "no_complaint": (row["judged"] - row["complaints"], row["judged"]),
        "substantive_closure": (row["substantive"], row["closure_judged"]),
    }


def score_of(
    counts: Mapping[str, tuple[int, int]],
    assessed: int,
    weights: Mapping[str, float] | None = None,
    prior_letters: int | None = None,
    prior_score: float | None = None,
) -> tuple[dict[str, float | None], float | None, float | None]:
    """(measures, raw score, score) from each measure's (credit, due) and the letters assessed.

    raw = 100 × Σ weight × credit/due ÷ Σ weight over the measures with something due; the score
    weights it by volume: a raw score above the prior is pulled toward it as if `prior_letters` more
    letters had scored the prior, so a few perfect letters cannot top many good ones; a raw score at
    or below the prior is kept, so that few letters never lift a poor (or idle) department.
    """
    weights = settings.MINXIN_ASSESSMENT_WEIGHTS if weights is None else weights
    k = settings.MINXIN_ASSESSMENT_PRIOR_LETTERS if prior_letters is None else prior_letters
    prior = settings.MINXIN_ASSESSMENT_PRIOR_SCORE if prior_score is None else prior_score
    measures = {name: _rate(credit, due) for name, (credit, due) in counts.items()}
    raw = _weighted(measures, weights)
    if raw is None:
        return measures, None, None
    score = raw if raw <= prior else (assessed * raw + k * prior) / (assessed + k)
    return measures, raw, round(score, 2)


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
    ("assessed", "已考核信件"),
    ("pending", "期限内未到考核"),
    ("overdue", "超期未办"),
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
    ("redone", "重办"),
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
