"""Transcript search uses its GIN index on PostgreSQL (issue #17).

The index of migration 0002 was on `to_tsvector('simple', tokens)` while Django's SearchVector asks
for `to_tsvector('simple'::regconfig, COALESCE(tokens, ''))`: PostgreSQL uses an expression index
only for the same expression, so every search read the whole table. With sequential scans
disabled the planner must still find an index it can use for the exact SQL the search sends; the
benchmark (bench/search.py) shows the plans and times on a year of generated transcripts.
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
            cursor.execute("SET LOCAL enable_seqscan = off")
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


def test_the_search_bench_shows_the_old_index_unused_and_the_new_one_used():
    db = settings.DATABASES["default"]
    url = f"postgres://{db['USER']}:{db.get('PASSWORD') or ''}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {**os.environ, "DATABASE_URL": url}
    out = subprocess.run(
        [sys.executable, "-m", "bench.search", "--entries", "3000", "--programmes", "6", "--repeat", "3"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    rows = [line for line in out.splitlines() if line.startswith(("0002", "0005"))]
    table = [line for line in rows if "|" in line]
    assert len(table) == 8, out
    assert all("Seq Scan" in line for line in table if line.startswith("0002")), out
    assert all("Bitmap Heap Scan" in line for line in table if line.startswith("0005")), out
