"""Smoke test of the rush benchmark (bench/rush.py) at a tiny size: 50 people open the live page,
its static files and the socket within 5 s; every one gets its `hello`, nothing fails — on the
project's processes alone, behind the documented nginx front proxy (docs/nginx.conf, which answers
the shared page from its cache), and on the bare reference beside them.

The bench keeps its own PostgreSQL database (the test run's name + "_bench") and its own Redis db
number, as the fan-out bench does.
"""

import os

import pytest
from django.conf import settings

from bench import rush

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.processes, pytest.mark.nginx]


def test_fifty_people_arriving_within_five_seconds_each_get_the_page_its_files_and_a_hello(capsys):
    args = rush.parse_args([])
    test_database = settings.DATABASES["default"]["NAME"]
    assert rush.database_name(args.database_url) not in (test_database, f"test_{test_database}")
    assert rush.redis_db(args.redis_url) != rush.redis_db(settings.REDIS_URL)

    result = rush.main(["--people", "50", "--window", "5", "--processes", "2", "--loadgens", "2"])
    out = capsys.readouterr().out

    assert [row.design for row in result.rows] == list(rush.DESIGNS)
    for row in result.rows:
        assert row.error is None, row.error
        assert row.errors == {}, row.errors
        assert (row.people, row.hellos) == (50, 50), row
        assert 0 < row.returning < 50  # some fetched the static files, some had them cached
        assert 0 < row.hello[0] <= row.hello[2] <= row.hello[3] < 30, row.hello
    by_design = {row.design: row for row in result.rows}
    # Behind nginx most pages come from its cache (the page is the same for every new visitor, kept
    # 2 s); without it, none.
    assert by_design["minxin behind nginx"].pages_from_cache > 25
    assert by_design["minxin"].pages_from_cache == 0
    table = [line for line in out.splitlines() if " | " in line]
    assert table[0].startswith("server") and "to hello p50/p95/p99/max ms" in table[0]
    assert [line.split(" | ")[0].strip() for line in table[1:]] == list(rush.DESIGNS)
    assert "load     average" in out
    assert os.environ.get("STATIC_ROOT")  # the run's collected files, served by the bench's servers
