"""Search across every programme's transcript and the public letters, in Chinese.

A query matches an entry holding every one of the query's words (archive/search_index.py: how
words are cut, stored and ranked). Transcript entries are built here when a programme ends; public
letters' entries in archive/search_letters.py. What matches and what does not is in
docs/SEARCH.md and tested.
"""

from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from archive.models import TranscriptEntry
from archive.search_index import (
    RANKED,
    STOPWORDS,
    as_lookups,
    filters_of,
    index_words,
    like_page,
    query_words,
    ranked_rows,
    snippet,
    tokens_of,
)
from archive.search_letters import letter_results
from archive.transcripts import plain_text, transcript
from departments.models import Department
from studio.models import Broadcast

__all__ = ["STOPWORDS", "index_programme", "index_words", "query_words", "search", "snippet"]

MAX_RESULTS = 50  # transcript entries a page
LETTERS_PER_PAGE = 20
MAX_PAGE = RANKED // LETTERS_PER_PAGE  # past it, only the unranked older matches remain


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
                    tokens=tokens_of(text),
                )
            )
    with transaction.atomic():
        TranscriptEntry.objects.filter(broadcast=broadcast).delete()
        TranscriptEntry.objects.bulk_create(entries)
    return len(entries)


def search(
    query: str, department: str | None = None, start: Any = None, end: Any = None, page: int = 1
) -> dict:
    """One page of transcript entries (`results`) and public letters (`letters`) holding every word
    of the query; `more` when either list goes on on the next page (PROTOCOL.md)."""
    words = query_words(query)
    empty = {"query": query, "words": words, "results": [], "letters": [], "page": page, "more": False}
    if not words:
        return empty
    department_id = None
    if department:
        department_id = Department.objects.filter(code=department).values_list("pk", flat=True).first()
        if department_id is None:
            return empty
    results = transcript_results(words, department_id, start, end, MAX_RESULTS, (page - 1) * MAX_RESULTS)
    letters = letter_results(
        words, department_id, start, end, LETTERS_PER_PAGE, (page - 1) * LETTERS_PER_PAGE
    )
    return {
        **empty,
        "results": results[:MAX_RESULTS],
        "letters": letters[:LETTERS_PER_PAGE],
        "more": len(results) > MAX_RESULTS or len(letters) > LETTERS_PER_PAGE,
    }


TRANSCRIPT_COLUMNS = "e.broadcast_id, b.number, b.title, d.code, d.name, e.seq, e.kind, e.at, e.text"
TRANSCRIPT_JOINS = (
    "JOIN studio_broadcast b ON b.id = e.broadcast_id JOIN departments_department d ON d.id = e.department_id"
)


def transcript_results(
    words: list[str], department_id: int | None, start: Any, end: Any, limit: int, offset: int
) -> list[dict]:
    """One page of transcript entries, best first, and one more if there is a next page."""
    rows: list[tuple]
    if connection.vendor == "postgresql":
        filters = filters_of(department_id, start, end)
        table = TranscriptEntry._meta.db_table
        rows = ranked_rows(table, TRANSCRIPT_COLUMNS, TRANSCRIPT_JOINS, words, filters, limit + 1, offset)
    else:
        found = TranscriptEntry.objects.select_related("broadcast", "department").filter(
            **as_lookups(filters_of(department_id, start, end))
        )
        rows = [
            (
                e.broadcast_id,
                e.broadcast.number,
                e.broadcast.title,
                e.department.code,
                e.department.name,
                e.seq,
                e.kind,
                e.at,
                e.text,
            )
            for e in like_page(found, words, limit + 1, offset)
        ]
    return [
        {
            "broadcast": {"id": broadcast_id, "number": number, "title": title},
            "department": {"code": code, "name": name},
            "seq": seq,
            "kind": kind,
            "at": timezone.localtime(at).isoformat(timespec="seconds"),
            "snippet": snippet(text, words),
        }
        for broadcast_id, number, title, code, name, seq, kind, at, text in rows
    ]
