"""Hot topics: the most discussed terms in questions and letters per week and per month.

Each period's questions and letters are one document: a term's weight is its count in the latest
period times log(1 + periods / periods containing it), so words every period uses (办理, 问题)
sink and words that surged this week rise (TF-IDF with the periods as documents).
"""

import datetime as dt
import math
from collections import Counter

from django.utils import timezone

from archive.search import STOPWORDS, _segmenter
from letters.models import Letter
from moderation.models import Question

PERIODS = 8  # compared periods, the latest included
TOP = 10
SAMPLE = 5000  # texts per period at most: enough to rank terms, bounded work on a busy year

# Words too common in this domain to be a topic.
COMMON = STOPWORDS | set(
    "不能 时间 需要 怎么办 问题 办理 什么 哪些 为什么 这个 那个 我们 你们 他们 现在 已经 没有 能不能 是否 一下 情况 相关 部门 市民 网友".split()
)


def _terms(text: str) -> list[str]:
    return [
        w for w in _segmenter().cut(text) if len(w) >= 2 and w not in COMMON and any(ch.isalnum() for ch in w)
    ]


def _texts(start: dt.datetime, end: dt.datetime) -> list[str]:
    questions = Question.objects.filter(asked_at__gte=start, asked_at__lt=end).values_list("text", flat=True)[
        :SAMPLE
    ]
    letters = Letter.objects.filter(submitted_at__gte=start, submitted_at__lt=end, public=True).values_list(
        "subject", flat=True
    )[:SAMPLE]
    return [*questions, *letters]


def hot_topics(period: str, now: dt.datetime | None = None) -> list[dict]:
    """[{term, count, score}] for the latest week or month (rolling: the last 7 or 30 days)."""
    now = now or timezone.now()
    length = dt.timedelta(days=7 if period == "week" else 30)
    counts: list[Counter] = []
    for back in range(PERIODS):
        end = now - back * length
        counter: Counter = Counter()
        for text in _texts(end - length, end):
            counter.update(_terms(text))
        counts.append(counter)
    latest = counts[0]
    present = Counter(term for counter in counts for term in counter)
    scored = [
        {"term": term, "count": n, "score": round(n * math.log(1 + PERIODS / present[term]), 3)}
        for term, n in latest.items()
    ]
    scored.sort(key=lambda t: (-t["score"], -t["count"], t["term"]))
    return scored[:TOP]
