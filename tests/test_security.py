"""Web security: the Content-Security-Policy and login throttling."""

import pytest

pytestmark = pytest.mark.django_db


def test_pages_forbid_inline_script_and_foreign_sources(client, registry):
    policy = client.get("/")["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
    assert "connect-src 'self' ws: wss:" in policy
    assert client.get("/letters/write/").has_header("Content-Security-Policy")


def test_logins_are_throttled_per_address_and_user_name(client, personas, settings):
    settings.MINXIN_LOGIN_LIMITS_PER_USER = [(86400, 3)]  # a day-long window: no boundary mid-test
    for _ in range(3):
        wrong = client.post("/accounts/login/", {"username": "mona", "password": "wrong"})
        assert wrong.status_code == 200 and "_auth_user_id" not in client.session
    throttled = client.post("/accounts/login/", {"username": "mona", "password": "pw-mona"})
    assert throttled.status_code == 429 and int(throttled["Retry-After"]) > 0
    assert "_auth_user_id" not in client.session  # even the right password waits
    # Another user name from the same address is not held back by mona's attempts.
    other = client.post("/accounts/login/", {"username": "harry", "password": "pw-harry"})
    assert other.status_code == 302


def test_pages_sessions_and_rate_limits_keep_working_while_the_cache_is_down(client, personas, settings):
    """With Redis restarting, logins, pages and asks fall back to the database instead of a 500."""
    from django.core.cache import caches

    from tests.conftest import make_broadcast

    broadcast = make_broadcast("jtw", personas["host"], [personas["guest"]], status="live")
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }
    # (pytest-django's settings fixture makes Django rebuild its caches from the new setting.)
    assert caches["default"].__class__.__name__ == "RedisCache"
    try:
        assert client.post("/accounts/login/", {"username": "mona", "password": "pw-mona"}).status_code == 302
        assert client.get(f"/live/{broadcast.pk}/").status_code == 200
        asked = client.post(
            f"/api/broadcasts/{broadcast.pk}/questions/",
            '{"client_id": "c1", "text": "缓存不可用时也能提问吗"}',
            content_type="application/json",
        )
        assert asked.status_code == 201
    finally:
        caches.close_all()
