"""No page does a query per row (issue #17): every page and API a citizen or staff member uses
(bench/pages_data.py's PAGES) makes as many SQL queries on the demo as on the demo with many more
rows of what it lists — letters in every state, questions answered, waiting and pending, a programme
with many questions and answers.

Counted with CaptureQueriesContext through Django's test Client, logged in as the page's role
(bench/pages_data.py's count_queries, which the page benchmark prints beside its timings).
"""

import pytest
from django.core.management import call_command

from bench import pages_data

pytestmark = pytest.mark.django_db

MORE = 60  # rows added (60 letters, 20 questions of each state, 15 answered in a new programme)
SLACK = 2  # a paginated list may reach a next page's link


# The pages whose answer lists every added row: they must be longer with them (the data did grow).
# (The public letters are 20 a page: page one is as long with more of them.)
LISTING = [
    "transcript", "api-events", "api-transcript", "api-letters",
    "letters-operator", "letters-handler", "letters-coordinator", "letters-division",
    "letters-supervisor", "api-letters-handler",
]  # fmt: skip


def counts(context: dict) -> dict[str, pages_data.Counted]:
    return pages_data.count_queries(context)[0]


def test_no_page_or_api_makes_a_query_per_row(registry) -> None:
    call_command("demo", quiet=True)
    letter = pages_data.prepare()
    small = counts(pages_data.context(letter))
    big = counts(pages_data.grow(MORE, letter))

    assert {name: c.status for name, c in small.items()} == {p.name: 200 for p in pages_data.PAGES}
    assert {name: c.status for name, c in big.items()} == {p.name: 200 for p in pages_data.PAGES}
    assert [name for name in LISTING if big[name].size < small[name].size + 1000] == []
    grown = {
        name: (small[name].queries, big[name].queries)
        for name in small
        if big[name].queries > small[name].queries + SLACK
    }
    if grown:
        name = next(iter(grown))
        sample = "\n".join(big[name].sql[-6:])
        pytest.fail(f"queries grow with the rows (demo, demo+{MORE}): {grown}\nlast of {name}:\n{sample}")
