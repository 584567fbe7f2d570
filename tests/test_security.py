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
