"""Hot topics: the most discussed terms in questions and letters per week and per month.

Each period's questions and letters are one document: a term's weight is its count in the latest
period times log(1 + periods / periods containing it), so words every period uses (办理, 问题)
sink and words that surged this week rise (TF-IDF with the periods as documents).
"""

import datetime as dt
import html
import math
import re
from collections import Counter

from archive.search_index import STOPWORDS, _segmenter
from core import clock
from core.privacy import strip_personal_data
from letters.models import Letter, LetterStatus
from moderation.models import Question
from studio.models import Event, EventKind

PERIODS = 8  # compared periods, the latest included
TOP = 10
SAMPLE = 5000  # texts per period at most: enough to rank terms, bounded work on a busy year

# Words too common in this domain to be a topic.
COMMON = STOPWORDS | set(
    "不能 时间 需要 怎么办 问题 办理 什么 哪些 为什么 这个 那个 我们 你们 他们 现在 已经 没有 能不能 是否 一下 情况 相关 部门 市民 网友".split()
)


# Markup a netizen typed (<script>, &lt;) is text to show, never a topic.
_MARKUP = re.compile(r"<[^<>]{0,200}>|&#?\w{1,10};")


def _terms(text: str) -> list[str]:
    text = _MARKUP.sub(" ", strip_personal_data(html.unescape(text)))
    return [
        w for w in _segmenter().cut(text) if len(w) >= 2 and w not in COMMON and any(ch.isalnum() for ch in w)
    ]


def _texts(start: dt.datetime, end: dt.datetime) -> list[str]:
    """What the public could read in the period: questions published on screen and not withdrawn,
    and the subjects of public letters with a reply (as the public letter pages show them)."""
    published = Question.objects.filter(
        asked_at__gte=start, asked_at__lt=end, published_seq__isnull=False
    ).values_list("broadcast_id", "published_seq", "text")[:SAMPLE]
    withdrawn = {
        (broadcast_id, data.get("seq"))
        for broadcast_id, data in Event.objects.filter(
            kind=EventKind.WITHDRAWN, broadcast__in={b for b, _s, _t in published}
        ).values_list("broadcast_id", "data")
    }
    questions = [text for broadcast_id, seq, text in published if (broadcast_id, seq) not in withdrawn]
    letters = Letter.objects.filter(
        submitted_at__gte=start,
        submitted_at__lt=end,
        public=True,
        status__in=[LetterStatus.REPLIED, LetterStatus.CLOSED],
    ).values_list("subject", flat=True)[:SAMPLE]
    return [*questions, *letters]


def hot_topics(period: str, now: dt.datetime | None = None) -> list[dict]:
    """[{term, count, score}] for the latest week or month (rolling: the last 7 or 30 days)."""
    now = now or clock.now()
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
