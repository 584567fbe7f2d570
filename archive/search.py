"""Search across every programme's transcript, in Chinese.

jieba cuts the text into words (search mode: 一卡通 also yields 卡通), the words are stored
space-separated in TranscriptEntry.tokens, and a query matches an entry holding every one of the
query's words. PostgreSQL ranks with its full-text search ('simple' configuration over the stored
words, GIN-indexed); the embedded SQLite default matches the same words with LIKE and ranks by
how many times they occur. What matches and what does not is in docs/SEARCH.md and tested.
"""

import html
import logging
import re
from functools import reduce
from operator import and_
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from archive.models import TranscriptEntry
from archive.transcripts import plain_text, transcript
from studio.models import Broadcast

STOPWORDS = set("的 了 吗 呢 啊 吧 呀 是 在 和 与 及 或 就 都 也 还 请问 怎么 什么 如何 能否 可以".split())
MAX_RESULTS = 50
SNIPPET = 40  # characters either side of the first match

_jieba: Any = None


def _segmenter() -> Any:
    global _jieba
    if _jieba is None:
        import jieba

        jieba.setLogLevel(logging.WARNING)
        jieba.initialize()  # loads the dictionary once per process (about a second)
        _jieba = jieba
    return _jieba


def _is_word(token: str) -> bool:
    return bool(token.strip()) and bool(re.search(r"\w", token))


def index_words(text: str) -> list[str]:
    """Every word jieba finds in search mode, lower-cased, punctuation dropped."""
    return [w.lower() for w in _segmenter().cut_for_search(text) if _is_word(w)]


def query_words(query: str) -> list[str]:
    """The words a query must match: jieba's precise cut, without particles and question words."""
    words = [w.lower() for w in _segmenter().cut(query) if _is_word(w)]
    kept = [w for w in words if w not in STOPWORDS]
    return list(dict.fromkeys(kept or words))


def index_programme(broadcast: Broadcast, **kwargs: Any) -> int:
    """(Re)build a programme's entries from its transcript; also the receiver of programme_ended."""
    entries = []
    for item in transcript(broadcast)["items"]:
        parts = []
        if item["type"] == "question":
            parts.append(("question", item["seq"], item["at"], item["question"]["text"]))
            parts += [("answer", a["seq"], a["at"], a["text"]) for a in item["answers"]]
        elif item["type"] == "statement":
            parts.append(("answer", item["seq"], item["at"], item["answer"]["text"]))
        else:
            parts.append(("host", item["seq"], item["at"], item["message"]["text"]))
        for kind, seq, at, fragment in parts:
            text = plain_text(fragment)
            entries.append(
                TranscriptEntry(
                    broadcast=broadcast,
                    department_id=broadcast.department_id,
                    seq=seq,
                    kind=kind,
                    at=at,
                    text=text,
                    tokens=" " + " ".join(index_words(text)) + " ",
                )
            )
    with transaction.atomic():
        TranscriptEntry.objects.filter(broadcast=broadcast).delete()
        TranscriptEntry.objects.bulk_create(entries)
    return len(entries)


def search(query: str, department: str | None = None, start: Any = None, end: Any = None) -> dict:
    words = query_words(query)
    if not words:
        return {"query": query, "words": [], "results": []}
    found = TranscriptEntry.objects.select_related("broadcast", "department")
    if department:
        found = found.filter(department__code=department)
    if start:
        found = found.filter(at__gte=start)
    if end:
        found = found.filter(at__lt=end)
    rows: list[TranscriptEntry]
    if connection.vendor == "postgresql":
        from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector

        vector = SearchVector("tokens", config="simple")
        terms = reduce(and_, [SearchQuery(w, config="simple", search_type="plain") for w in words])
        ranked = (
            found.annotate(document=vector, rank=SearchRank(vector, terms))
            .filter(document=terms)  # tokens @@ query: every word present
            .order_by("-rank", "-at")
        )
        rows = list(ranked[:MAX_RESULTS])
    else:
        rows = list(found.filter(reduce(and_, [Q(tokens__contains=f" {w} ") for w in words]))[:500])
        rows.sort(key=lambda e: (-sum(e.tokens.count(f" {w} ") for w in words), -e.at.timestamp()))
        rows = rows[:MAX_RESULTS]
    return {
        "query": query,
        "words": words,
        "results": [
            {
                "broadcast": {"id": e.broadcast_id, "number": e.broadcast.number, "title": e.broadcast.title},
                "department": {"code": e.department.code, "name": e.department.name},
                "seq": e.seq,
                "kind": e.kind,
                "at": timezone.localtime(e.at).isoformat(timespec="seconds"),
                "snippet": snippet(e.text, words),
            }
            for e in rows
        ],
    }


def snippet(text: str, words: list[str]) -> str:
    """Escaped HTML around the first match, the query's words wrapped in <mark>."""
    lower = text.lower()
    hits = [lower.find(w) for w in words if lower.find(w) >= 0]
    first = min(hits) if hits else 0
    begin, finish = max(first - SNIPPET, 0), min(first + SNIPPET, len(text))
    # Matched in the raw text and escaped piece by piece, so that a word like "gt" never marks the
    # inside of an escape code; one pass, longest words first, so marks never nest.
    raw = text[begin:finish]
    pattern = re.compile("|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)), re.IGNORECASE)
    parts, last = [], 0
    for found in pattern.finditer(raw):
        parts += [html.escape(raw[last : found.start()]), f"<mark>{html.escape(found.group(0))}</mark>"]
        last = found.end()
    piece = "".join([*parts, html.escape(raw[last:])])
    return ("…" if begin else "") + piece + ("…" if finish < len(text) else "")
