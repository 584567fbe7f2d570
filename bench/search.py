"""Search benchmark (issue #17): transcripts and public letters at a year's scale, old path and new.

One command, against its own PostgreSQL database:

    .venv/bin/python -m bench.search            # --entries 20000 --letters 46510 --repeat 20
    .venv/bin/python -m bench.search --keep     # the same data again (a second or third run)

It fills the database (bench/search_data.py) with generated transcript entries — a seed year is
54 programmes, 7,603 questions, 1,891 answers and the hosts' lines, about 12,000 entries; the
default rounds that up — and 46,510 letters (the seed's year), of which `--public-share` are public
and `--replied-share` replied or closed: those are the letters search finds. Words are drawn from
jieba's dictionary with Zipf frequencies, so a common word matches most letters and a rare one a
few dozen. Then, in the same run, for a common, a middling, a rare and a two-word query:

- before: the old path — each table matched and ranked over `to_tsvector('simple',
  COALESCE(tokens, ''))` through migration 0005's expression index (created here on both tables;
  letters were not searched before, so this is what the old way would cost if they were), every
  match ranked, best 50 entries and 20 letters kept;
- after: the site's search (`archive.search.search`): the stored `document` columns of migration
  0006, the newest RANKED matches ranked, one page.

It prints p50/p95 of the whole search over `--repeat` runs, the load average before and after, the
scan of each plan and, for the common word, the whole `EXPLAIN ANALYZE` of both ways.

Where it keeps its data: `--database-url`, else DATABASE_URL with `_bench_search` appended to the
name, else postgres://postgres@127.0.0.1:5432/minxin_bench_search. Its generated programmes and
letters are replaced on every run without --keep, so its name must contain "bench".
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from functools import reduce
from operator import and_
from pathlib import Path
from typing import Any

from bench.database import database_name, ensure_database, with_database_name
from bench.report import percentile, print_grid
from bench.search_data import Words, fill_letters, fill_transcripts

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/minxin_bench_search"
OLD_INDEXES = {  # migration 0005's expression index, on both tables
    table: f"CREATE INDEX IF NOT EXISTS bench_old_{table}_gin ON {table} "
    "USING gin (to_tsvector('simple'::regconfig, COALESCE(tokens, '')))"
    for table in ("archive_transcriptentry", "archive_letterentry")
}


def queries(words: list[str]) -> dict[str, str]:
    return {
        "common word": words[5],
        "middling word": words[400],
        "rare word": words[4000],
        "two words": words[30] + " " + words[900],
    }


def old_search(query: str) -> dict:
    """The search before migration 0006, over both tables: every match ranked over a vector
    rebuilt from `tokens`, as archive/search.py did."""
    from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector

    from archive.models import LetterEntry, TranscriptEntry
    from archive.search_index import query_words, snippet
    from archive.search_letters import VISIBLE

    words = query_words(query)
    vector = SearchVector("tokens", config="simple")
    terms = reduce(and_, [SearchQuery(w, config="simple", search_type="plain") for w in words])
    found: dict[str, Any] = {}
    for name, entries, size in (
        ("results", TranscriptEntry.objects.select_related("broadcast", "department"), 50),
        (
            "letters",
            LetterEntry.objects.select_related("letter", "department").filter(
                letter__public=True, letter__status__in=VISIBLE
            ),
            20,
        ),
    ):
        ranked = entries.annotate(document=vector, rank=SearchRank(vector, terms)).filter(document=terms)
        found[name] = [snippet(e.text, words) for e in ranked.order_by("-rank", "-at")[:size]]
    return found


def new_search(query: str) -> dict:
    from archive import search

    return search.search(query)


def plans(query: str, way: Any) -> dict[str, list[str]]:
    """EXPLAIN ANALYZE of each ranked query a search sends, by table."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        way(query)
    found = {}
    for sql in (q["sql"] for q in captured.captured_queries if "@@" in q["sql"]):
        table = "letters" if "archive_letterentry" in sql else "transcripts"
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, COSTS OFF) " + sql)
            found[table] = [row[0] for row in cursor.fetchall()]
    return found


def scan(plan: list[str]) -> str:
    """How the plan finds the matches: the scan of the entry table (not the joins by primary key)."""
    scans = [line.strip().lstrip("-> ").split("  ")[0] for line in plan if "Scan" in line]
    wanted = [s for s in scans if "pkey" not in s and ("Index Scan" in s or "Seq Scan on archive_" in s)]
    return wanted[0] if wanted else "?"


def timed(query: str, way: Any, repeat: int) -> tuple[float, float, dict]:
    way(query)  # warm: jieba, the plan cache, the buffers
    times = []
    found: dict = {}
    for _ in range(repeat):
        began = time.perf_counter()
        found = way(query)
        times.append((time.perf_counter() - began) * 1000)
    times.sort()
    return percentile(times, 50), percentile(times, 95), found


def matches(query: str) -> str:
    """How many entries of each table hold every word (the ranked set before the bound)."""
    from django.db import connection

    from archive.search_index import query_words

    counts = []
    for table in ("archive_transcriptentry", "archive_letterentry"):
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT count(*) FROM {table} WHERE document @@ plainto_tsquery('simple', %s)",
                [" ".join(query_words(query))],
            )
            counts.append(f"{cursor.fetchone()[0]:,}")
    return " / ".join(counts)


def load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def fill(args: argparse.Namespace) -> list[str]:
    from django.db import connection

    from departments.registry import load_registry

    words = Words(args.seed)
    if args.keep:
        return words.words
    load_registry()
    began = time.perf_counter()
    fill_transcripts(words, args.entries, args.programmes)
    visible = fill_letters(words, args.letters, args.public_share, args.replied_share)
    with connection.cursor() as cursor:
        # As autovacuum does after a bulk load: statistics, and the GIN indexes' pending lists merged
        # (until then every search also scans the pending list: 9 ms for a rare word here).
        for table in ("archive_transcriptentry", "archive_letterentry", "letters_letter"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    print(
        f"filled {args.entries:,} transcript entries over {args.programmes} programmes and {args.letters:,} "
        f"letters ({visible:,} public and replied) in {time.perf_counter() - began:.1f} s"
    )
    return words.words


def run(args: argparse.Namespace) -> int:
    from django.db import connection

    words = fill(args)
    with connection.cursor() as cursor:
        for create in OLD_INDEXES.values():
            cursor.execute(create)
    print(f"load average before: {load()}")
    rows: list[tuple[str, ...]] = []
    shown: list[str] = []
    worst = 0.0
    for name, query in queries(words).items():
        for label, way in (("before", old_search), ("after", new_search)):
            explained = plans(query, way)
            p50, p95, found = timed(query, way, args.repeat)
            if label == "after":
                worst = max(worst, p95)
            scans = " · ".join(f"{table}: {scan(plan)}" for table, plan in sorted(explained.items()))
            results = f"{len(found['results'])} / {len(found['letters'])}"
            rows.append((label, name, query, matches(query), results, f"{p50:.1f}", f"{p95:.1f}", scans))
            if name == "common word":
                for table, plan in sorted(explained.items()):
                    shown.append(f"\n{label}, {table}, {query}:\n" + "\n".join(plan))
    with connection.cursor() as cursor:  # leave the database as migration 0006 does
        for table in OLD_INDEXES:
            cursor.execute(f"DROP INDEX IF EXISTS bench_old_{table}_gin")
    print(f"load average after: {load()}; search p50/p95 over {args.repeat} runs (ms)\n")
    print_grid(
        ("way", "query", "words", "matches (transcripts / letters)", "shown", "p50", "p95", "scans"), rows
    )
    print("\nEXPLAIN ANALYZE, common word:" + "\n".join(shown))
    verdict = "MET" if worst <= args.target_ms else "NOT MET"
    print(f"\nworst p95 after: {worst:.1f} ms (target {args.target_ms:.0f} ms): {verdict}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=20000)
    parser.add_argument("--programmes", type=int, default=54)
    parser.add_argument("--letters", type=int, default=46510)
    parser.add_argument("--public-share", type=float, default=0.6)
    parser.add_argument("--replied-share", type=float, default=0.9)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="search the data a previous run left")
    parser.add_argument("--target-ms", type=float, default=100.0)
    parser.add_argument("--database-url")
    args = parser.parse_args(argv)
    url = args.database_url or (
        with_database_name(
            os.environ["DATABASE_URL"], database_name(os.environ["DATABASE_URL"]) + "_bench_search"
        )
        if os.environ.get("DATABASE_URL", "").startswith("postgres")
        else DEFAULT_DATABASE_URL
    )
    if "bench" not in database_name(url):
        sys.exit(
            f"refusing {database_name(url)!r}: the benchmark replaces its data, so its name must contain 'bench'"
        )
    ensure_database(url)
    os.environ["DATABASE_URL"] = url
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings.dev")
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
