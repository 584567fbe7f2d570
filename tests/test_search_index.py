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


def test_the_search_query_can_use_the_gin_index(live_broadcast):
    with CaptureQueriesContext(connection) as captured:
        assert search.search("公交 线路")["results"] == []
    sql = next(q["sql"] for q in captured.captured_queries if "to_tsvector" in q["sql"])
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "archive_transcriptentry_document_gin" in plan, plan


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
