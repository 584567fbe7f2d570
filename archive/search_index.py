"""What transcript and letter search share: words, the ranked query, snippets (docs/SEARCH.md).

jieba cuts the text into words (search mode: 一卡通 also yields 卡通); the words are stored
space-separated in each entry's `tokens`. On PostgreSQL migration 0006 adds `document`, a stored
tsvector generated from `tokens` with a GIN index, and the search asks that column: nothing is
recomputed per row at query time. The embedded SQLite default matches the same words with LIKE.
"""

import html
import logging
import re
from typing import Any

from django.db import connection

STOPWORDS = set("的 了 吗 呢 啊 吧 呀 是 在 和 与 及 或 就 都 也 还 请问 怎么 什么 如何 能否 可以".split())
SNIPPET = 40  # characters either side of the first match
# How many of the newest matches are ranked. A word in a quarter of a year's entries matches
# thousands; ranking all of them costs more than the 100 ms budget on a loaded machine, and past
# the first pages nobody reads. So the newest RANKED matches are ranked and paged; an older match
# of a very common word is found by adding a word or a date range (docs/SEARCH.md).
RANKED = 1000
LIKE_SCAN = 500  # SQLite: matches read at most (the embedded default is for a small office)

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


def tokens_of(text: str) -> str:
    """The stored form: words between spaces, so that SQLite's LIKE '% word %' matches whole words."""
    return " " + " ".join(index_words(text)) + " "


def query_words(query: str) -> list[str]:
    """The words a query must match: jieba's precise cut, without particles and question words."""
    words = [w.lower() for w in _segmenter().cut(query) if _is_word(w)]
    kept = [w for w in words if w not in STOPWORDS]
    return list(dict.fromkeys(kept or words))


def ranked_sql(
    table: str, columns: str, joins: str, filters: dict[str, Any], limit: int, offset: int
) -> tuple[str, list[Any]]:
    """PostgreSQL: one page of `table`'s entries (as `e`) holding every word, best first, with
    `columns` of `e` and of the `joins`; the parameters lack the words (ranked_rows sets them).

    The innermost query finds the matches through the GIN index on the stored `document` (or, for
    a very common word, walks the `at` index backwards) and keeps the newest RANKED; only those are
    ranked with ts_rank over the stored vector; one page of them is joined to what it shows.
    `filters` maps a column of the table's own (department_id, at) and an operator to a value.
    """
    where = "".join(f" AND {column} %s" for column in filters)
    sql = (
        f"SELECT {columns} FROM ("
        "SELECT id, at, ts_rank(document, query) AS rank FROM ("
        f"SELECT id, at, document FROM {table} WHERE document @@ plainto_tsquery('simple', %s){where}"
        f" ORDER BY at DESC LIMIT {RANKED}) AS newest, plainto_tsquery('simple', %s) AS query"
        f" ORDER BY rank DESC, at DESC, id DESC LIMIT {limit} OFFSET {offset}) AS page"
        f" JOIN {table} e ON e.id = page.id {joins}"
        " ORDER BY page.rank DESC, page.at DESC, page.id DESC"
    )
    return sql, [None, *filters.values(), None]


def ranked_rows(
    table: str, columns: str, joins: str, words: list[str], filters: dict[str, Any], limit: int, offset: int
) -> list[tuple]:
    sql, params = ranked_sql(table, columns, joins, filters, limit, offset)
    params[0] = params[-1] = " ".join(words)  # plainto_tsquery ANDs the words: every word must occur
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def like_page(found: Any, words: list[str], limit: int, offset: int) -> list[Any]:
    """SQLite: entries holding every word, ranked by how often the words occur, then newest."""
    for word in words:
        found = found.filter(tokens__contains=f" {word} ")
    rows = list(found.order_by("-at")[:LIKE_SCAN])
    rows.sort(key=lambda e: (-sum(e.tokens.count(f" {w} ") for w in words), -e.at.timestamp(), -e.pk))
    return rows[offset : offset + limit]


def filters_of(department_id: int | None, start: Any, end: Any) -> dict[str, Any]:
    filters: dict[str, Any] = {}
    if department_id is not None:
        filters["department_id ="] = department_id
    if start:
        filters["at >="] = start
    if end:
        filters["at <"] = end
    return filters


LOOKUPS = {" =": "", " >=": "__gte", " <": "__lt"}


def as_lookups(filters: dict[str, Any]) -> dict[str, Any]:
    """filters_of's filters as the ORM's keyword lookups, for the path without PostgreSQL."""
    lookups = {}
    for key, value in filters.items():
        column, operator = key.split(" ")
        lookups[column + LOOKUPS[" " + operator]] = value
    return lookups


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
