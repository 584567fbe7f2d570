"""Smoke test of the page benchmark (bench/pages.py) at a tiny size: every page and API of
bench/pages_data.py's PAGES measured on both datasets, each answering 200, with its query count.

The bench keeps its own PostgreSQL databases (the test run's DATABASE_URL name + "_bench_pages_smoke"
+ the dataset) and loads them in `manage.py shell` processes; its daphne processes run settings.prod,
so it never touches the test database.
"""

import os

import pytest
from django.conf import settings

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


def test_the_year_dataset_says_what_it_needs(capsys):
    with pytest.raises(SystemExit) as exit:
        bench.main(["--dataset", "year"])
    assert exit.value.code == 2
    assert "manage.py simulate (issue #17)" in capsys.readouterr().err
