"""Search benchmark (issue #17): does transcript search use its index, and how fast is it on a year?

One command, against its own PostgreSQL database:

    .venv/bin/python -m bench.search                      # --entries 20000 --programmes 54 --repeat 20
    .venv/bin/python -m bench.search --entries 200000     # ten years of programmes

It fills the database with generated transcript entries — a year at the seed's scale is 54
programmes, 7,603 questions, 1,891 answers and the hosts' lines, about 12,000 entries; the default
rounds that up — whose words are drawn from jieba's own dictionary with the frequencies of real
text (a Zipf law), so common words match thousands of entries and rare words a few. It then runs
the search the site runs (`archive.search.search`) for common, middling, rare and two-word queries
twice, in the same run: once with the index migration 0002 made (`to_tsvector('simple', tokens)`,
which the query's `COALESCE(tokens, '')` does not match) and once with the index of migration 0005
(the queried expression). For each it prints the plan's scan (from `EXPLAIN ANALYZE` of the exact
SQL Django sends) and p50/p95 of the whole search over `--repeat` runs.

Where it keeps its data: `--database-url`, else DATABASE_URL with `_bench_search` appended to the
name, else postgres://postgres@127.0.0.1:5432/minxin_bench_search. Its transcript entries and
generated programmes are replaced on every run, so its name must contain "bench".
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sys
import time
from pathlib import Path

from bench.database import database_name, ensure_database, with_database_name
from bench.report import percentile, print_grid

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/minxin_bench_search"
INDEXES = {
    "0002 (tokens)": "CREATE INDEX bench_search_gin ON archive_transcriptentry "
    "USING gin (to_tsvector('simple', tokens))",
    "0005 (as queried)": "CREATE INDEX bench_search_gin ON archive_transcriptentry "
    "USING gin (to_tsvector('simple'::regconfig, COALESCE(tokens, '')))",
}
DROP_ALL = (
    "DROP INDEX IF EXISTS bench_search_gin",
    "DROP INDEX IF EXISTS archive_transcriptentry_tokens_gin",
    "DROP INDEX IF EXISTS archive_transcriptentry_document_gin",
)


def vocabulary(size: int) -> list[str]:
    """The `size` most frequent words of jieba's dictionary, most frequent first."""
    import jieba

    rows = []
    with open(Path(jieba.__file__).parent / "dict.txt", encoding="utf-8") as words:
        for line in words:
            word, count = line.split()[:2]
            if len(word) >= 2:  # single characters are mostly particles the search drops
                rows.append((int(count), word))
    rows.sort(reverse=True)
    return [word for _count, word in rows[:size]]


def fill(entries: int, programmes: int, seed: int) -> list[str]:
    """Replace the bench programmes' transcripts with generated ones; returns the vocabulary."""
    from django.db import connection

    from archive.models import TranscriptEntry
    from departments.models import Department
    from departments.registry import load_registry
    from studio.models import Broadcast

    load_registry()
    rng = random.Random(seed)
    words = vocabulary(5000)
    weights = [1 / (rank + 1) for rank in range(len(words))]  # Zipf: the n-th word 1/n as often
    departments = list(Department.objects.all()[:36])
    TranscriptEntry.objects.all().delete()
    Broadcast.objects.filter(title__startswith="bench-search ").delete()
    start = dt.datetime(2005, 5, 12, 14, tzinfo=dt.UTC)
    made = [
        Broadcast.objects.create(
            number=10_000 + n,
            title=f"bench-search {n}",
            department=departments[n % len(departments)],
            starts_at=start + dt.timedelta(weeks=n),
            status="ended",
        )
        for n in range(programmes)
    ]
    batch: list[TranscriptEntry] = []
    for i in range(entries):
        broadcast = made[i % programmes]
        chosen = rng.choices(words, weights, k=rng.randint(6, 30))
        batch.append(
            TranscriptEntry(
                broadcast=broadcast,
                department_id=broadcast.department_id,
                seq=i // programmes + 1,
                kind=("question", "answer", "host")[i % 3],
                at=broadcast.starts_at + dt.timedelta(seconds=i // programmes),
                text="".join(chosen),
                tokens=" " + " ".join(chosen) + " ",
            )
        )
        if len(batch) == 5000:
            TranscriptEntry.objects.bulk_create(batch)
            batch = []
    TranscriptEntry.objects.bulk_create(batch)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE archive_transcriptentry")
    return words


def queries(words: list[str]) -> dict[str, str]:
    return {
        "common word": words[5],
        "middling word": words[400],
        "rare word": words[4000],
        "two words": words[30] + " " + words[900],
    }


def scan_of(query: str) -> tuple[str, str]:
    """The plan's scan node and its execution time, from EXPLAIN ANALYZE of the SQL Django sends."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from archive import search

    with CaptureQueriesContext(connection) as captured:
        search.search(query)
    sql = next(q["sql"] for q in captured.captured_queries if "to_tsvector" in q["sql"])
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, COSTS OFF) " + sql)
        plan = [row[0] for row in cursor.fetchall()]
    scans = [line.strip().lstrip("-> ").split("  ")[0] for line in plan if "Scan" in line]
    scan = next((s for s in scans if "transcriptentry" in s), scans[0] if scans else "?")
    executed = next((line.split(":")[1].strip() for line in plan if line.startswith("Execution Time")), "?")
    return scan, executed


def timed(query: str, repeat: int) -> tuple[float, float, int]:
    from archive import search

    search.search(query)  # warm: jieba, the plan cache, the buffers
    times = []
    found = 0
    for _ in range(repeat):
        began = time.perf_counter()
        found = len(search.search(query)["results"])
        times.append((time.perf_counter() - began) * 1000)
    times.sort()
    return percentile(times, 50), percentile(times, 95), found


def run(args: argparse.Namespace) -> int:
    from django.db import connection

    began = time.perf_counter()
    words = fill(args.entries, args.programmes, args.seed)
    print(
        f"filled {args.entries} entries over {args.programmes} programmes in {time.perf_counter() - began:.1f} s"
    )
    rows: list[tuple[str, ...]] = []
    plans: list[str] = []
    measured: dict[tuple[str, str], tuple[float, float]] = {}
    for label, create in INDEXES.items():
        with connection.cursor() as cursor:
            for drop in DROP_ALL:
                cursor.execute(drop)
            cursor.execute(create)
            cursor.execute("ANALYZE archive_transcriptentry")
        for name, query in queries(words).items():
            scan, executed = scan_of(query)
            p50, p95, found = timed(query, args.repeat)
            measured[(label, name)] = (p50, p95)
            rows.append((label, name, query, str(found), scan, f"{p50:.1f}", f"{p95:.1f}"))
            plans.append(f"{label:18} {name:14} {scan}  (executed in {executed})")
    with connection.cursor() as cursor:  # leave the database as migration 0005 does
        for drop in DROP_ALL:
            cursor.execute(drop)
        cursor.execute(
            INDEXES["0005 (as queried)"].replace("bench_search_gin", "archive_transcriptentry_document_gin")
        )
    print(f"\nload average {os.getloadavg()[0]:.2f}; search p50/p95 over {args.repeat} runs (ms)\n")
    print_grid(("index", "query", "words", "results", "scan of the entries", "p50", "p95"), rows)
    print("\nEXPLAIN ANALYZE, scan node per query:\n" + "\n".join(plans))
    worst = max(p95 for (label, _name), (_p50, p95) in measured.items() if label.startswith("0005"))
    verdict = "MET" if worst <= args.target_ms else "NOT MET"
    print(f"\nworst p95 with the 0005 index: {worst:.1f} ms (target {args.target_ms:.0f} ms): {verdict}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=20000)
    parser.add_argument("--programmes", type=int, default=54)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
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
