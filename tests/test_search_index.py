"""Search matches through GIN indexes on stored vectors on PostgreSQL (issue #17).

Migration 0005 indexed the expression `to_tsvector('simple'::regconfig, COALESCE(tokens, ''))`,
so ranking rebuilt the vector of every match; migration 0006 stores it (`document`, generated
from `tokens`) for transcript entries and public letters alike. With sequential scans (and the walk
of the `at` index a very common word takes) disabled the planner must still find the GIN index for
the exact SQL the search sends; the benchmark (bench/search.py) shows the plans and times on a year.
"""

import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from archive import search
from tests.conftest import ROOT

pytestmark = pytest.mark.postgres


def plans_of_the_search(query: str) -> dict[str, str]:
    """The plan of each ranked query the search sends, by table, with sequential scans disabled."""
    with CaptureQueriesContext(connection) as captured:
        search.search(query)
    plans = {}
    for sql in (q["sql"] for q in captured.captured_queries if "@@" in q["sql"]):
        table = "archive_letterentry" if "archive_letterentry" in sql else "archive_transcriptentry"
        with connection.cursor() as cursor:
            # The only other ways: read every row, or walk the `at` index (chosen for a very common
            # word on a big table; bench/search.py shows both).
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("SET LOCAL enable_indexscan = off")
            cursor.execute("EXPLAIN " + sql)
            plans[table] = "\n".join(row[0] for row in cursor.fetchall())
    return plans


def test_transcripts_and_letters_are_matched_through_the_gin_index_on_the_stored_vector(live_broadcast):
    plans = plans_of_the_search("公交 线路")
    assert set(plans) == {"archive_transcriptentry", "archive_letterentry"}
    for table, plan in plans.items():
        assert f"{table}_stored_gin" in plan, plan
        assert "to_tsvector" not in plan, plan  # read from the column, never recomputed


def test_the_stored_vector_follows_the_tokens_on_every_write(live_broadcast):
    from archive.models import TranscriptEntry

    entry = TranscriptEntry.objects.create(
        broadcast=live_broadcast,
        department_id=live_broadcast.department_id,
        seq=1,
        kind="host",
        at=live_broadcast.starts_at,
        text="公交",
        tokens=" 公交 ",
    )
    TranscriptEntry.objects.filter(pk=entry.pk).update(tokens=" 地铁 ")  # no save(), no Python hook
    with connection.cursor() as cursor:
        cursor.execute("SELECT document::text FROM archive_transcriptentry WHERE id = %s", [entry.pk])
        assert cursor.fetchone()[0] == "'地铁':1"


def test_the_search_bench_compares_the_old_path_with_the_stored_vectors():
    db = settings.DATABASES["default"]
    url = f"postgres://{db['USER']}:{db.get('PASSWORD') or ''}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {**os.environ, "DATABASE_URL": url}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.search",
            "--entries",
            "3000",
            "--letters",
            "3000",
            "--programmes",
            "6",
            "--repeat",
            "3",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    table = [line for line in out.splitlines() if line.startswith(("before ", "after ")) and "|" in line]
    assert len(table) == 8, out
    before = [line for line in table if line.startswith("before")]
    after = [line for line in table if line.startswith("after")]
    assert all("bench_old_archive_transcriptentry_gin" in line for line in before), out
    # After: the stored vector's GIN index, or for a word most entries hold, the newest entries.
    assert all("stored_gin" in line or "Index Scan Backward" in line for line in after), out
    assert any("archive_letterentry_stored_gin" in line for line in after), out
    assert "EXPLAIN ANALYZE, common word" in out and "load average" in out
