"""Smoke test of the letters benchmark (bench/letters.py) at a tiny size: every row measured, the
sweep's changes recorded, the naive baselines agreeing with the app.

The bench keeps its own PostgreSQL database (the test run's DATABASE_URL name + "_bench_letters")
and runs in a child process with its own settings, so it never touches the test database.
"""

import os

import pytest
from django.conf import settings

from bench import letters as bench

pytestmark = pytest.mark.postgres


def test_the_letters_bench_times_the_scoreboard_and_the_sweep_beside_their_naive_baselines(capsys):
    database_url = bench.default_database_url(dict(os.environ))
    test_database = settings.DATABASES["default"]["NAME"]
    assert bench.database_name(database_url).endswith("_bench_letters")
    assert bench.database_name(database_url) not in (test_database, f"test_{test_database}")

    result = bench.main(["--letters", "2000", "--open", "200", "--database-url", database_url, "--explain"])
    out = capsys.readouterr().out

    assert sum(result.statuses.values()) == 2000
    assert result.statuses["forwarded"] + result.statuses["signed"] == 200
    assert result.statuses["closed"] > result.statuses["replied"] > 0
    assert result.scoreboard_agrees and result.sweep_agrees
    # The first sweep turned lights yellow and red and logged each change; later sweeps change little.
    assert result.first_sweep_changes["yellow"] > 0 and result.first_sweep_changes["red"] > 0
    assert result.light_changes_recorded == sum(result.first_sweep_changes.values())
    assert result.naive_sweep_changes == result.light_changes_recorded  # the sample is every open letter
    assert all(changes < 20 for changes in result.steady_sweep_changes)

    assert [row.what for row in result.rows] == list(bench.ROWS)
    for row in result.rows:
        assert 0 < row.median_ms <= row.p95_ms, row
    assert result.row(bench.SERVED).met and result.row(bench.HTTP).met
    assert result.row(bench.SWEEP_FIRST).met and result.row(bench.SWEEP_STEADY).met
    assert result.row(bench.SERVED).median_ms < result.row(bench.NAIVE_BOARD).median_ms
    assert result.row(bench.SWEEP_FIRST).median_ms < result.row(bench.NAIVE_SWEEP).median_ms

    table = [line for line in out.splitlines() if " | " in line]
    assert [cell.strip() for cell in table[0].split("|")] == [
        "what", "rows", "median ms", "p95 ms", "runs", "target", "met?",
    ]  # fmt: skip
    assert [line.split(" | ")[0].strip() for line in table[1:]] == list(bench.ROWS)
    assert "machine" in out and "PostgreSQL" in out and "load" in out
    assert "EXPLAIN ANALYZE" in out
