"""CSRF on unsafe methods: browsers with a session must bring the token; cookie-less clients need none."""

import json

import pytest
from django.test import Client

from tests.conftest import make_broadcast

pytestmark = pytest.mark.django_db

LETTER = {
    "kind": "opinion",
    "subject": "路灯不亮",
    "body": "小区门口路灯坏了",
    "name": "王",
    "contact": "138",
}


@pytest.fixture
def strict() -> Client:
    return Client(enforce_csrf_checks=True)


def test_a_client_without_our_cookie_can_write_a_letter_and_ask_without_a_token(strict, personas):
    from letters.models import Letter
    from moderation.models import Question

    broadcast = make_broadcast("jtw", personas["host"], [personas["guest"]], status="live")
    letter = strict.post("/api/letters/", json.dumps(LETTER), content_type="application/json")
    assert letter.status_code == 201 and Letter.objects.count() == 1
    asked = strict.post(
        f"/api/broadcasts/{broadcast.pk}/questions/",
        json.dumps({"client_id": "c1", "text": "末班车能延后吗"}),
        content_type="application/json",
    )
    assert asked.status_code == 201 and Question.objects.count() == 1


def test_a_browser_with_a_session_cookie_must_send_the_token(strict, personas):
    from letters.models import Letter

    strict.get("/letters/write/")  # the page sets the csrftoken cookie
    strict.cookies["sessionid"] = "a-session-a-forged-request-would-ride"
    refused = strict.post("/api/letters/", json.dumps(LETTER), content_type="application/json")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden" and "CSRF" in refused.json()["error"]["message"]
    assert Letter.objects.count() == 0
    token = strict.cookies["csrftoken"].value
    accepted = strict.post(
        "/api/letters/", json.dumps(LETTER), content_type="application/json", HTTP_X_CSRFTOKEN=token
    )
    assert accepted.status_code == 201 and Letter.objects.count() == 1


def test_a_browser_with_a_netizen_identity_cookie_must_send_the_token(strict, personas):
    """The identity cookie (core/netizens.py) names a browser as the session did: another site could
    make that browser send it (the first ask that gives it: tests/test_hostile_input.py)."""
    from letters.models import Letter

    strict.get("/letters/write/")  # the page sets the csrftoken cookie
    strict.cookies["minxin_netizen"] = "an-identity-a-forged-request-would-ride"
    refused = strict.post("/api/letters/", json.dumps(LETTER), content_type="application/json")
    assert refused.status_code == 403 and Letter.objects.count() == 0


def test_a_question_posted_from_another_site_gives_the_browser_no_identity(strict, personas):
    """SameSite=Lax keeps the browser's cookies off another site's POST, so it arrives without an
    identity; issuing one then would replace the browser's own and make that question its own."""
    from moderation.models import Question

    broadcast = make_broadcast("jtw", personas["host"], [personas["guest"]], status="live")
    asked = strict.post(
        f"/api/broadcasts/{broadcast.pk}/questions/",
        json.dumps({"client_id": "x1", "text": "别的网站代发的问题"}),
        content_type="application/json",
        HTTP_SEC_FETCH_SITE="cross-site",
    )
    assert asked.status_code == 201 and Question.objects.count() == 1
    assert "minxin_netizen" not in asked.cookies and "csrftoken" not in asked.cookies


def test_staff_actions_always_need_the_token(strict, personas):
    from letters import services

    answer, _ = services.submit(LETTER)
    strict.force_login(personas["operator"])
    refused = strict.post(
        f"/api/letters/{answer['code']}/forward/",
        json.dumps({"department": "jtw"}),
        content_type="application/json",
    )
    assert refused.status_code == 403
    from letters.models import Letter

    assert Letter.objects.get(code=answer["code"]).status == "submitted"
