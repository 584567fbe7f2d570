"""Smoke test of the page benchmark (bench/pages.py) at a tiny size: every page and API of
bench/pages_data.py's PAGES measured on both datasets, each answering 200, with its query count.

The bench keeps its own PostgreSQL databases (the test run's DATABASE_URL name + "_bench_pages_smoke"
+ the dataset) and loads them in `manage.py shell` processes; its daphne processes run settings.prod,
so it never touches the test database.
"""

import os

import psycopg
import pytest
from django.conf import settings

from bench import figures as bench_figures
from bench import pages as bench
from bench.database import database_name, with_database_name
from bench.pages_data import PAGES


@pytest.mark.postgres
def test_the_page_bench_times_every_page_on_the_demo_and_a_bigger_demo(capsys):
    base = bench.default_database_url(dict(os.environ))
    url = with_database_name(base, database_name(base) + "_smoke")
    test_database = settings.DATABASES["default"]["NAME"]
    assert database_name(url) not in (test_database, f"test_{test_database}")

    argv = ["--dataset", "demo", "--dataset", "demo+6", "--repeat", "3", "--clients", "2"]
    result = bench.main([*argv, "--database-url", url])
    out = capsys.readouterr().out

    assert result.datasets == ["demo", "demo+6"]
    assert [(row.dataset, row.page) for row in result.rows] == [
        (dataset, page.name) for dataset in result.datasets for page in PAGES
    ]
    for row in result.rows:
        assert row.statuses == {200: 3}, row
        assert len(row.times_ms) == 3 and 0 < row.p50 <= row.p95, row
    by_page = {(row.dataset, row.page): row for row in result.rows}
    for page in PAGES:  # the same queries on either dataset: no query per row
        assert by_page[("demo+6", page.name)].queries <= by_page[("demo", page.name)].queries + 2, page
    assert by_page[("demo", "letters-supervisor")].queries > 0

    table = [line for line in out.splitlines() if " | " in line]
    assert [cell.strip() for cell in table[0].split("|")][:8] == [
        "page", "role", "kind", "target", "demo queries", "p50 ms", "p95 ms", "met?",
    ]  # fmt: skip
    assert [line.split(" | ")[0].strip() for line in table[1:]] == [page.name for page in PAGES]
    assert "load average" in out and "PostgreSQL" in out


@pytest.mark.postgres
def test_the_page_bench_serves_every_page_on_a_simulated_year(capsys):
    """year@F: the seed's year simulated by manage.py simulate at scale F, kept as a template
    database, with a live programme added; every page answers on it with no query per row."""
    base = bench.default_database_url(dict(os.environ))
    url = with_database_name(base, database_name(base) + "_smoke")
    template = bench.year_template_url(url, 0.001, 1)
    with psycopg.connect(with_database_name(url, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database_name(template)}" WITH (FORCE)')  # simulated anew
    result = bench.main(["--dataset", "year@0.001", "--repeat", "2", "--clients", "1", "--database-url", url])
    assert result.datasets == ["year@0.001"]
    for row in result.rows:
        assert row.statuses == {200: 2}, row
    assert "year@0.001" in capsys.readouterr().out
    # The kept template holds the simulated year: the seed's figures at 0.1 %.
    with psycopg.connect(template) as conn:
        letters = conn.execute("SELECT count(*) FROM letters_letter WHERE kind <> 'thanks'").fetchone()
        programmes = conn.execute("SELECT count(*) FROM studio_broadcast").fetchone()
    assert (letters, programmes) == ((47,), (1,))
    # bench/figures times the computed figures on it: statistics, hot topics, scoreboard, assessment,
    # the half-year report (made and rolled back).
    assert bench_figures.main(["--database-url", template, "--redis-url", os.environ.get("REDIS_URL", ""),
                               "--repeat", "1"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    for figure in ("statistics", "hot topics, week", "scoreboard", "assessment", "half-year report"):
        assert figure in out, figure
    assert "load average" in out and "2006-" in out  # the clock at the end of the simulated data


def test_an_unknown_dataset_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit:
        bench.main(["--dataset", "decade"])
    assert exit.value.code == 2
    assert "demo, demo+N, year, year@F or year@F+N" in capsys.readouterr().err
