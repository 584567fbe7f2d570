"""The statistics the seed reports (54 programmes, 36 departments, 257 guests, 7,436 netizens online,
7,603 questions asked, 1,891 answered; 46,510 letters, 120 a day, replies, 6,773 ratings, 4,506
satisfied, 66.5 %), computed from the data.

Definitions (also in docs/PROTOCOL.md §4): a programme is held once it has gone live; departments
are those that held one; guests are guest appearances in held programmes; netizens who took part
are distinct netizens (by session) who asked or supported (附议) a question; letters received are
all letters, the daily average over the days from the first letter to the latest. Counting a million rows takes
time, so figures are cached for two minutes and the clock process refreshes the overall ones every
minute: no request for them scans every row (a department's figures are computed on a cache miss).
"""

from django.db.models import Count, Max, Min, Q

from archive.topics import hot_topics
from core import clock, exports
from departments.models import LetterKind
from letters.models import Channel, Closure, Letter, LetterStatus, Rating
from moderation.models import Question, QuestionStatus, Support
from studio.models import Broadcast, BroadcastStatus, Guest

CACHE_SECONDS = 120


def figures(department: str | None = None, refresh: bool = False) -> dict:
    def fresh() -> dict:
        data = compute(department)
        if department is None:
            data["hot_topics"] = {"week": hot_topics("week"), "month": hot_topics("month")}
        return data

    return clock.cached(f"minxin:stats:{department or '*'}", CACHE_SECONDS, fresh, refresh=refresh)


def per_department() -> list[dict]:
    """Programmes, guests, questions asked and answered per department, for the statistics page."""
    rows = (
        Broadcast.objects.filter(status__in=[BroadcastStatus.LIVE, BroadcastStatus.ENDED])
        .values("department__short_name")
        .annotate(
            programmes=Count("id", distinct=True),
            asked=Count("questions", distinct=True),
            answered=Count("questions", filter=Q(questions__status=QuestionStatus.ANSWERED), distinct=True),
        )
        .order_by("-programmes", "department__short_name")
    )
    return list(rows)


def compute(department: str | None = None) -> dict:
    held = Broadcast.objects.filter(status__in=[BroadcastStatus.LIVE, BroadcastStatus.ENDED])
    letters = Letter.objects.all()
    if department:
        held = held.filter(department__code=department)
        letters = letters.filter(department__code=department)
    questions = Question.objects.filter(broadcast__in=held)
    # Distinct netizens who asked or supported, counted by the database (a UNION removes the
    # duplicates) rather than in Python sets of every key: a year holds tens of thousands.
    askers = questions.exclude(netizen_key="").order_by().values_list("netizen_key", flat=True)
    supporters = (
        Support.objects.filter(question__broadcast__in=held).order_by().values_list("netizen_key", flat=True)
    )
    counts = questions.aggregate(
        asked=Count("id"), answered=Count("id", filter=Q(status=QuestionStatus.ANSWERED))
    )
    # Thank-you letters (感谢信) ask nothing of a department: counted apart as `thanks`, not among
    # the letters received, replied and closed.
    handled = ~Q(kind=LetterKind.THANKS)
    letter_counts = letters.aggregate(
        received=Count("id", filter=handled),
        replied=Count("id", filter=handled & Q(replied_at__isnull=False)),
        rated=Count("id", filter=handled & ~Q(rating="")),
        satisfied=Count("id", filter=handled & Q(rating=Rating.SATISFIED)),
        closed=Count("id", filter=handled & Q(status=LetterStatus.CLOSED)),
        closed_unrated=Count("id", filter=handled & Q(closure=Closure.UNRATED)),
        thanks=Count("id", filter=Q(kind=LetterKind.THANKS)),
        first=Min("submitted_at", filter=handled),
        last=Max("submitted_at", filter=handled),
        phone=Count("id", filter=handled & Q(channel=Channel.PHONE)),
    )
    # Over the days letters have been arriving (first to latest letter), as the seed's "120 and
    # more a day" is over its year: a service whose letters stopped (an archive, the simulated
    # year read later) keeps its average instead of sinking with every day that passes.
    first, last = letter_counts.pop("first"), letter_counts.pop("last")
    days = ((last - first).days + 1) if first else 0
    received = letter_counts["received"]
    return {
        "department": department,
        "broadcasts": held.count(),
        "departments": held.values("department").distinct().count(),
        "guests": Guest.objects.filter(broadcast__in=held).count(),
        "participants": askers.union(supporters).count(),
        "questions_asked": counts["asked"],
        "questions_answered": counts["answered"],
        "letters": {
            **letter_counts,
            "daily_average": round(received / days, 1) if days else 0,
            "reply_rate": round(letter_counts["replied"] / received, 4) if received else None,
            # 办结率: closed (with a rating or, after the wait, without: 未评价办结) ÷ received.
            "closure_rate": round(letter_counts["closed"] / received, 4) if received else None,
            "satisfaction_rate": (
                round(letter_counts["satisfied"] / letter_counts["rated"], 4)
                if letter_counts["rated"]
                else None
            ),
        },
        "computed_at": clock.localtime().isoformat(timespec="seconds"),
    }


# --- downloads (docs/PROTOCOL.md §4): the same figures, as CSV and Markdown ----------------------

FIGURE_LABELS = [
    ("broadcasts", "举办节目期数"),
    ("departments", "参与部门"),
    ("guests", "嘉宾人次"),
    ("participants", "参与网友"),
    ("questions_asked", "网友提问"),
    ("questions_answered", "答复问题"),
    ("letters.received", "收到信件"),
    ("letters.phone", "其中电话来信"),
    ("letters.daily_average", "日均信件"),
    ("letters.replied", "已回复信件"),
    ("letters.reply_rate", "回复率"),
    ("letters.rated", "评价数"),
    ("letters.satisfied", "满意数"),
    ("letters.satisfaction_rate", "满意率"),
    ("letters.closed", "办结信件"),
    ("letters.closed_unrated", "其中未评价办结"),
    ("letters.closure_rate", "办结率"),
    ("letters.thanks", "感谢信"),
]


def _figure_rows(data: dict) -> list[tuple[str, str, object]]:
    rows = []
    for key, label in FIGURE_LABELS:
        value: object = data
        for part in key.split("."):
            value = value[part]  # type: ignore[index]
        rows.append((key, label, value))
    return rows


def as_csv(data: dict) -> str:
    rows = [[key, label, value] for key, label, value in _figure_rows(data)]
    for period in ("week", "month"):
        for place, topic in enumerate(data.get("hot_topics", {}).get(period, []), start=1):
            rows.append(
                [
                    f"hot_topics.{period}.{place}",
                    f"热点（{'本周' if period == 'week' else '本月'}）{topic['term']}",
                    topic["count"],
                ]
            )
    rows.append(["computed_at", "统计时间", data["computed_at"]])
    return exports.as_csv(["key", "指标", "数值"], rows)


def as_markdown(data: dict) -> str:
    title = "# 统计" + (f"（{exports.md_text(data['department'])}）" if data.get("department") else "")
    lines = [title, "", f"统计时间 {data['computed_at']}", ""]
    lines += exports.md_table(
        ["指标", "数值"],
        [
            [label, exports.percent(value) if key.endswith("_rate") else value]  # type: ignore[arg-type]
            for key, label, value in _figure_rows(data)
        ],
    )
    for period, heading in (("week", "本周热点"), ("month", "本月热点")):
        topics = data.get("hot_topics", {}).get(period)
        if topics is not None:
            lines += ["", f"## {heading}", ""]
            lines += [
                f"{place}. {exports.md_text(t['term'])}（{t['count']}）" for place, t in enumerate(topics, 1)
            ] or ["–"]
    return "\n".join(lines) + "\n"
