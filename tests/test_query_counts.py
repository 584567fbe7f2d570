"""No page does a query per row (issue #17): every page and API a citizen or staff member uses
(bench/pages_data.py's PAGES) makes as many SQL queries on the demo as on the demo with many more
rows of what it lists — letters in every state, questions answered, waiting and pending, a programme
with many questions and answers.

Counted with CaptureQueriesContext through Django's test Client, logged in as the page's role.
"""

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from bench import pages_data

pytestmark = pytest.mark.django_db

MORE = 40  # rows added of every kind: enough that a query per row shows as +40
SLACK = 2  # a paginated list may reach a next page's link


# The pages whose answer lists every added row: they must be longer with them (the data did grow).
# (The public letters are 20 a page: page one is as long with more of them.)
LISTING = [
    "transcript", "api-events", "api-transcript", "api-letters",
    "letters-operator", "letters-handler", "letters-coordinator", "letters-division",
    "letters-supervisor", "api-letters-handler",
]  # fmt: skip


class Counted:
    def __init__(self, status: int, size: int, sql: list[str]) -> None:
        self.status, self.size, self.sql = status, size, sql

    @property
    def queries(self) -> int:
        return len(self.sql)


def count(client: Client, url: str) -> Counted:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    return Counted(response.status_code, len(response.content), [q["sql"] for q in queries.captured_queries])


def counts(context: dict) -> dict[str, Counted]:
    from django.contrib.auth import get_user_model

    users = {u.username: u for u in get_user_model().objects.filter(username__in=pages_data.ROLES)}
    found = {}
    for page in pages_data.PAGES:
        client = Client()
        if page.role:
            client.force_login(users[page.role])
        url = page.url(context)
        client.get(url)  # the first request warms caches (sessions, the registry, the scoreboard)
        found[page.name] = count(client, url)
    return found


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
