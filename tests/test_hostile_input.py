"""Abuse and hostile input found by a probe (issue #13 §4): each sends the input, checks the clear
error, and that nothing stored changed."""

import asyncio
import json

import pytest
from django.core.cache import cache
from django.test import Client

from tests.conftest import make_broadcast

pytestmark = pytest.mark.django_db

LETTER = {
    "kind": "opinion",
    "subject": "路灯不亮",
    "body": "小区门口路灯坏了",
    "name": "王芳",
    "contact": "13800000000",
}


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    cache.clear()  # idempotency answers and rate-limit counters outlive the rolled-back database


def stored() -> tuple:
    from letters.models import Letter, LetterLog
    from moderation.models import Question

    return (
        sorted(Letter.objects.values_list("code", "status", "rating", "idempotency_key")),
        LetterLog.objects.count(),
        Question.objects.count(),
    )


def post_letter(data: dict, key: str, address: str = "127.0.0.1", client: Client | None = None):
    return (client or Client()).post(
        "/api/letters/",
        json.dumps(data),
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=key,
        REMOTE_ADDR=address,
    )


# --- (a) an Idempotency-Key is the client's, for one letter ----------------------------------------


def test_the_same_idempotency_key_from_another_client_never_learns_the_first_writers_code_or_key(registry):
    first = post_letter(LETTER, "guessable-1", address="10.0.0.1")
    assert first.status_code == 201
    for address, data in (("10.0.0.2", LETTER), ("10.0.0.3", {**LETTER, "subject": "另一件事"})):
        replay = post_letter(data, "guessable-1", address=address)
        assert replay.status_code == 201, replay.content  # simply another letter of its own
        assert replay.json()["code"] != first.json()["code"]
        assert replay.json()["key"] != first.json()["key"]
        assert first.json()["key"] not in replay.content.decode()
    # The first writer's own repeat still answers with its code and key.
    again = post_letter(LETTER, "guessable-1", address="10.0.0.1")
    assert again.status_code == 200 and again.json() == first.json()


def test_a_browser_sessions_key_is_its_own_even_behind_one_address(registry):
    """Two browsers behind one office NAT: each session's keys are separate."""
    from django.contrib.sessions.backends.db import SessionStore

    one, two = Client(), Client()
    for browser in (one, two):
        session = SessionStore()
        session.create()
        browser.cookies["sessionid"] = session.session_key
    token = "csrf-token-of-this-test-0123456789"
    for browser in (one, two):
        browser.cookies["csrftoken"] = token
    answers = [
        browser.post(
            "/api/letters/",
            json.dumps(LETTER),
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY="k-1",
            HTTP_X_CSRFTOKEN=token,
        )
        for browser in (one, two)
    ]
    assert [a.status_code for a in answers] == [201, 201]
    assert answers[0].json()["code"] != answers[1].json()["code"]


def test_the_same_key_with_another_letter_is_a_409_that_stores_nothing(registry):
    first = post_letter(LETTER, "k-7")
    assert first.status_code == 201
    before = stored()
    for forget in (False, True):  # from the cache, then after the cache forgot (the database)
        if forget:
            cache.clear()
        other = post_letter({**LETTER, "body": "另一封信的内容"}, "k-7")
        assert other.status_code == 409, other.content
        error = other.json()["error"]
        assert error["code"] == "conflict" and error["fields"] == {"client_id": "reused"}
        assert first.json()["key"] not in other.content.decode()
        assert stored() == before
    same = post_letter(LETTER, "k-7")  # the true repeat is still recognised (the code only, now)
    assert same.status_code == 200 and same.json() == {"code": first.json()["code"]}
    assert stored() == before


# --- (b) no HTML 500 and no 500 for a path out of the static folder ------------------------------


async def _asgi_get(path: str) -> tuple[int, dict, bytes]:
    from asgi import application

    messages: list[dict] = []
    inbox: asyncio.Queue = asyncio.Queue()
    await inbox.put({"type": "http.request", "body": b"", "more_body": False})
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,  # daphne hands the application the decoded path: %2e%2e is `..` here
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }

    async def send(message: dict) -> None:
        messages.append(message)

    await asyncio.wait_for(application(scope, inbox.get, send), 10)
    start = next(m for m in messages if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    return start["status"], dict(start["headers"]), body


@pytest.mark.parametrize(
    "path", ["/static/../settings/prod.py", "/static/..%2fsettings/prod.py", "/static/css/../../asgi.py"]
)
def test_a_static_path_out_of_the_static_folder_is_a_404_not_a_500(path):
    status, _headers, body = asyncio.run(_asgi_get(path))
    assert status == 404
    assert b"SECRET_KEY" not in body and b"application" not in body


def test_the_static_files_themselves_are_still_served():
    status, headers, body = asyncio.run(_asgi_get("/static/favicon.svg"))
    content_type = {name.lower(): value for name, value in headers.items()}[b"content-type"]
    assert status == 200 and b"<svg" in body and content_type.startswith(b"image/svg")


def test_an_unexpected_error_under_api_is_the_json_error_body(registry, monkeypatch):
    def broken(*_args, **_kwargs):
        raise RuntimeError("a bug, say")

    monkeypatch.setattr("archive.stats.figures", broken)
    client = Client(raise_request_exception=False)
    response = client.get("/api/stats/")
    assert response.status_code == 500
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == "internal" and error["message"] and "a bug" not in error["message"]
    page = client.get("/stats/")  # a page stays a page
    assert page.status_code == 500 and page["Content-Type"].startswith("text/html")


# --- (c) letter codes cannot be probed -----------------------------------------------------------


def write_letter(status: str = "submitted", public: bool = False) -> tuple[str, str]:
    from letters import services

    answer, _created = services.submit({**LETTER, "public": public})
    return answer["code"], answer["key"]


def test_a_wrong_key_answers_exactly_as_a_missing_code(registry):
    code, key = write_letter()
    client = Client()
    wrong = client.get(f"/api/letters/{code}/", {"key": "guess"})
    keyless = client.get(f"/api/letters/{code}/")
    missing = client.get("/api/letters/MX260101ZZZZZZ/", {"key": "guess"})
    assert wrong.status_code == keyless.status_code == missing.status_code == 404
    assert wrong.content == keyless.content == missing.content
    assert client.get(f"/api/letters/{code}/", {"key": key}).status_code == 200
    # The tracking page too: one message, one status for both.
    pages = [client.post("/letters/track/", {"code": c, "key": "guess"}) for c in (code, "MX260101ZZZZZZ")]
    assert [p.status_code for p in pages] == [404, 404]
    assert pages[0].context["error"] == pages[1].context["error"]


def test_letter_lookups_are_limited_per_address_and_a_refused_one_changes_nothing(registry, settings):
    settings.MINXIN_LETTER_LOOKUP_LIMITS_PER_ADDRESS = [(86400, 3)]  # a day: no window boundary mid-test
    code, key = write_letter()
    before = stored()
    prober = Client(REMOTE_ADDR="10.9.9.9")
    for n in range(3):
        assert prober.get(f"/api/letters/MX2601010000{n:02d}/").status_code == 404
    refused = prober.get(f"/api/letters/{code}/", {"key": key})  # even the right key waits
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert refused.json()["error"]["code"] == "rate_limited"
    rating = prober.post(
        f"/api/letters/{code}/evaluation/",
        json.dumps({"key": key, "rating": "satisfied"}),
        content_type="application/json",
    )
    assert rating.status_code == 429
    page = prober.post("/letters/track/", {"code": code, "key": key})
    assert page.status_code == 429 and int(page["Retry-After"]) > 0
    assert stored() == before
    # Another address (another citizen) is not held back.
    assert Client(REMOTE_ADDR="10.9.9.10").get(f"/api/letters/{code}/", {"key": key}).status_code == 200


def test_the_default_lookup_limit_lets_a_citizen_check_a_handful_of_letters():
    from settings import base

    assert (60, 20) in base.MINXIN_LETTER_LOOKUP_LIMITS_PER_ADDRESS


# --- (d) an anonymous ask gets the CSRF cookie its next POST needs -------------------------------


def test_after_an_anonymous_ask_the_next_post_with_the_cookie_and_header_succeeds(personas):
    from moderation.models import Question

    broadcast = make_broadcast("jtw", personas["host"], [personas["guest"]], status="live")
    browser = Client(enforce_csrf_checks=True)
    path = f"/api/broadcasts/{broadcast.pk}/questions/"
    first = browser.post(path, json.dumps({"client_id": "c1", "text": "末班车能延后吗"}), "application/json")
    assert first.status_code == 201
    # Its identity (core/netizens.py; no session is written for it) and the token its next POST needs.
    assert "minxin_netizen" in first.cookies and "csrftoken" in first.cookies
    assert "sessionid" not in first.cookies
    token = browser.cookies["csrftoken"].value
    # Without the header the identity cookie makes it a refused (CSRF) request that stores nothing.
    asked = Question.objects.count()
    refused = browser.post(path, json.dumps({"client_id": "c2", "text": "第二个问题"}), "application/json")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    assert Question.objects.count() == asked
    second = browser.post(
        path,
        json.dumps({"client_id": "c2", "text": "第二个问题"}),
        "application/json",
        HTTP_X_CSRFTOKEN=token,
    )
    assert second.status_code == 201, second.content
    letter = browser.post("/api/letters/", json.dumps(LETTER), "application/json", HTTP_X_CSRFTOKEN=token)
    assert letter.status_code == 201
    assert Question.objects.count() == asked + 1
    assert len(set(Question.objects.values_list("netizen_key", flat=True))) == 1  # one browser
