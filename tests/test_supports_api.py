"""GET /api/broadcasts/<id>/supports/ (PROTOCOL.md §4): the 附议 counts a reloaded live page shows,
and which questions this browser session already supported."""

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import Client

from core.netizens import NETIZEN_COOKIE, cookie_netizen_key
from moderation.actions import approve_question, withdraw_event
from moderation.asking import ask_question
from moderation.supports import support_question

from .conftest import netizen_cookie

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()  # the counts are cached per programme id, and ids repeat between SQLite tests
    yield


def netizen(broadcast_id: int) -> tuple[Client, str]:
    """A browser that opened the live page and got its identity (GET /api/netizen/), and its key."""
    client = Client()
    cookie = netizen_cookie(client, broadcast_id)
    return client, cookie_netizen_key(cookie.split("=", 1)[1]) or ""


def question(broadcast_id: int, n: int, publish: bool = True) -> int:
    asked, _ = ask_question(
        broadcast_id, f"q{n}", f"第{n}个问题：末班车能否延后？", "网友", f"asker-{n}", None
    )
    approve_question(broadcast_id, asked.pk, publish)
    return asked.pk


def shared_counts(broadcast_id: int) -> dict:
    """The answer every browser without an identity gets."""
    response = Client().get(f"/api/broadcasts/{broadcast_id}/supports/")
    assert response.status_code == 200 and response["Cache-Control"] == "public, max-age=0, s-maxage=2"
    return response.json()


def supports(client: Client, broadcast_id: int) -> dict:
    """The answer as a browser with an identity gets it: its own, never kept by a shared cache."""
    response = client.get(f"/api/broadcasts/{broadcast_id}/supports/")
    assert response.status_code == 200
    assert response["Cache-Control"] == "private, no-cache"
    body = response.json()
    assert body.pop("identified") is True
    return body


def test_a_reloaded_page_gets_the_counts_of_shown_questions_and_what_this_session_supported(live_broadcast):
    pk = live_broadcast.pk
    first, second, third = (question(pk, n) for n in (1, 2, 3))
    alice, alice_key = netizen(pk)
    bob, bob_key = netizen(pk)
    support_question(pk, first, alice_key)
    support_question(pk, first, bob_key)
    support_question(pk, second, bob_key)
    support_question(pk, third, bob_key)
    withdraw_event(pk, 3, by="mona")  # the third question's publication: off every screen

    assert supports(alice, pk) == {"counts": {str(first): 2, str(second): 1}, "mine": [first]}
    assert supports(bob, pk) == {"counts": {str(first): 2, str(second): 1}, "mine": [first, second]}
    # A browser without an identity has supported nothing, and its answer is the one everybody
    # without one gets: no cookie, and a shared cache may keep it 2 s.
    stranger = Client()
    response = stranger.get(f"/api/broadcasts/{pk}/supports/")
    assert response.json() == {"counts": {str(first): 2, str(second): 1}, "mine": [], "identified": False}
    assert response["Cache-Control"] == "public, max-age=0, s-maxage=2" and not response.cookies
    assert "cookie" not in response.get("Vary", "").lower()
    # Its identity comes when it first asks or supports (signed, HttpOnly, a year), with a CSRF
    # cookie beside it, but no session: nothing is stored for it.
    assert stranger.get("/api/netizen/").json() == {"identity": "new"}
    assert settings.SESSION_COOKIE_NAME not in stranger.cookies
    identity = stranger.cookies[NETIZEN_COOKIE]
    assert identity["httponly"] and identity["samesite"] == "Lax" and identity["max-age"] == 365 * 24 * 3600
    assert cookie_netizen_key(identity.value) not in (None, alice_key, bob_key)
    assert settings.CSRF_COOKIE_NAME in stranger.cookies
    # From then on its answers are its own, and the identity stays.
    assert supports(stranger, pk)["mine"] == []
    assert stranger.get("/api/netizen/").json() == {"identity": "known"}
    assert stranger.cookies[NETIZEN_COOKIE].value == identity.value


def test_a_made_up_or_tampered_identity_cookie_is_no_identity(live_broadcast):
    pk = live_broadcast.pk
    first = question(pk, 1)
    alice, alice_key = netizen(pk)
    support_question(pk, first, alice_key)
    genuine = alice.cookies[NETIZEN_COOKIE].value
    for forged in ("1", alice_key, genuine[:-1] + ("A" if genuine[-1] != "A" else "B"), "x" * 5000):
        forger = Client()
        forger.cookies[NETIZEN_COOKIE] = forged
        assert cookie_netizen_key(forged) is None
        answer = forger.get(f"/api/broadcasts/{pk}/supports/").json()
        assert (answer["mine"], answer["identified"]) == ([], False)  # not alice's 附议
        # Asking for an identity with it gets a new, genuine one.
        assert forger.get("/api/netizen/").json() == {"identity": "new"}
        assert cookie_netizen_key(forger.cookies[NETIZEN_COOKIE].value) not in (None, alice_key)
    assert supports(alice, pk)["mine"] == [first]


def test_a_question_nobody_supported_or_not_shown_has_no_count(live_broadcast):
    pk = live_broadcast.pk
    question(pk, 1)
    question(pk, 2, publish=False)
    assert shared_counts(pk) == {"counts": {}, "mine": [], "identified": False}


def test_a_support_counts_at_once_for_the_session_that_gave_it_despite_the_cache(live_broadcast):
    pk = live_broadcast.pk
    first = question(pk, 1)
    alice, alice_key = netizen(pk)
    assert supports(alice, pk)["counts"] == {}  # now cached
    support_question(pk, first, alice_key)
    assert supports(alice, pk) == {"counts": {str(first): 1}, "mine": [first]}


def test_every_viewer_loading_the_page_costs_at_most_one_query_once_the_counts_are_cached(
    live_broadcast, django_assert_max_num_queries
):
    pk = live_broadcast.pk
    first = question(pk, 1)
    alice, alice_key = netizen(pk)
    support_question(pk, first, alice_key)
    with django_assert_max_num_queries(4):
        supports(alice, pk)
    with django_assert_max_num_queries(0):
        shared_counts(pk)
    with django_assert_max_num_queries(1 + (0 if settings.REDIS_URL else 1)):
        supports(alice, pk)


def test_an_unknown_programme_is_the_json_404(db):
    response = Client().get("/api/broadcasts/987654/supports/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
