"""The statistics the seed reports (54 programmes, 36 departments, 257 guests, 7,436 netizens online,
7,603 questions asked, 1,891 answered; 46,510 letters, 120 a day, replies, 6,773 ratings, 4,506
satisfied, 66.5 %), computed from the data.

Definitions (also in docs/PROTOCOL.md §4): a programme is held once it has gone live; departments
are those that held one; guests are guest appearances in held programmes; netizens who took part
are distinct netizens (by session) who asked or supported (附议) a question; letters received are
all letters, the daily average over the days since the first. Counting a million rows takes
time, so figures are cached for two minutes and the clock process refreshes the overall ones every
minute: no request for them scans every row (a department's figures are computed on a cache miss).
"""

from django.core.cache import cache
from django.db.models import Count, Min, Q
from django.utils import timezone

from archive.topics import hot_topics
from letters.models import Letter, Rating
from moderation.models import Question, QuestionStatus, Support
from studio.models import Broadcast, BroadcastStatus, Guest

CACHE_SECONDS = 120


def figures(department: str | None = None, refresh: bool = False) -> dict:
    key = f"minxin:stats:{department or '*'}"
    data = None if refresh else cache.get(key)
    if data is None:
        data = compute(department)
        if department is None:
            data["hot_topics"] = {"week": hot_topics("week"), "month": hot_topics("month")}
        cache.set(key, data, CACHE_SECONDS)
    return data


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
    askers = set(questions.exclude(netizen_key="").values_list("netizen_key", flat=True).distinct())
    supporters = set(
        Support.objects.filter(question__broadcast__in=held).values_list("netizen_key", flat=True).distinct()
    )
    counts = questions.aggregate(
        asked=Count("id"), answered=Count("id", filter=Q(status=QuestionStatus.ANSWERED))
    )
    letter_counts = letters.aggregate(
        received=Count("id"),
        replied=Count("id", filter=Q(replied_at__isnull=False)),
        rated=Count("id", filter=~Q(rating="")),
        satisfied=Count("id", filter=Q(rating=Rating.SATISFIED)),
        first=Min("submitted_at"),
    )
    first = letter_counts.pop("first")
    days = max((timezone.now() - first).days + 1, 1) if first else 0
    received = letter_counts["received"]
    return {
        "department": department,
        "broadcasts": held.count(),
        "departments": held.values("department").distinct().count(),
        "guests": Guest.objects.filter(broadcast__in=held).count(),
        "participants": len(askers | supporters),
        "questions_asked": counts["asked"],
        "questions_answered": counts["answered"],
        "letters": {
            **letter_counts,
            "daily_average": round(received / days, 1) if days else 0,
            "reply_rate": round(letter_counts["replied"] / received, 4) if received else None,
            "satisfaction_rate": (
                round(letter_counts["satisfied"] / letter_counts["rated"], 4)
                if letter_counts["rated"]
                else None
            ),
        },
        "computed_at": timezone.localtime().isoformat(timespec="seconds"),
    }
