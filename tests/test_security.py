"""Web security: the Content-Security-Policy and login throttling."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_counters():
    """Rate-limit counters outlive a test in the in-memory cache (Redis is flushed per test)."""
    from django.core.cache import cache

    from core import ratelimit

    cache.clear()
    ratelimit._local_fallback.clear()


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


@pytest.mark.parametrize("variant", [" mona", "mona\t", "MONA", "\u3000ｍｏｎａ\n"])
def test_a_user_name_padded_or_recased_counts_against_the_same_account(client, personas, settings, variant):
    """Issue #13: the form strips the name (and applies NFKC), the throttle key did not, so
    " mona" or "mona\t" tried mona's password on a fresh counter every time."""
    settings.MINXIN_LOGIN_LIMITS_PER_USER = [(86400, 3)]
    for _ in range(3):
        assert client.post("/accounts/login/", {"username": variant, "password": "wrong"}).status_code == 200
    for name in (variant, "mona"):
        throttled = client.post("/accounts/login/", {"username": name, "password": "pw-mona"})
        assert throttled.status_code == 429 and int(throttled["Retry-After"]) > 0
    assert "_auth_user_id" not in client.session


def test_one_accounts_attempts_from_many_addresses_are_slowed_but_its_own_browser_gets_in(
    client, personas, settings
):
    """A guesser spread over many addresses is held per account; a stranger filling that limit
    only delays a moderator on a new browser, and never one whose browser logged in before."""
    from django.test import Client

    settings.MINXIN_LOGIN_LIMITS_PER_ACCOUNT = [(86400, 4)]
    moderator_browser = Client()
    assert (
        moderator_browser.post("/accounts/login/", {"username": "mona", "password": "pw-mona"}).status_code
        == 302
    )
    assert "minxin_device" in moderator_browser.cookies  # (that login counted once)
    moderator_browser.post("/accounts/logout/")
    for n in range(3):
        wrong = client.post(
            "/accounts/login/", {"username": "mona", "password": "x"}, REMOTE_ADDR=f"198.51.100.{n}"
        )
        assert wrong.status_code == 200
    throttled = client.post(
        "/accounts/login/", {"username": "mona", "password": "pw-mona"}, REMOTE_ADDR="192.0.2.1"
    )
    assert throttled.status_code == 429 and 0 < int(throttled["Retry-After"]) <= 86401
    assert "_auth_user_id" not in client.session
    # Another account is not held back, and mona's own browser logs in at once.
    assert Client().post("/accounts/login/", {"username": "harry", "password": "pw-harry"}).status_code == 302
    again = moderator_browser.post("/accounts/login/", {"username": "mona", "password": "pw-mona"})
    assert again.status_code == 302 and "_auth_user_id" in moderator_browser.session
    # A forged or another account's device cookie does not count.
    client.cookies["minxin_device"] = "mona:forged"
    assert client.post("/accounts/login/", {"username": "mona", "password": "pw-mona"}).status_code == 429


def test_the_admin_login_is_throttled_like_the_site_login(client, personas, settings):
    settings.MINXIN_LOGIN_LIMITS_PER_USER = [(86400, 2)]
    for _ in range(2):
        page = client.post("/admin/login/", {"username": "supervisor ", "password": "wrong"})
        assert page.status_code == 200 and "_auth_user_id" not in client.session
    throttled = client.post(
        "/admin/login/?next=/admin/", {"username": "supervisor", "password": "pw-supervisor"}
    )
    assert throttled.status_code == 429 and int(throttled["Retry-After"]) > 0
    assert "_auth_user_id" not in client.session
    assert "seconds" in throttled.content.decode() or "秒" in throttled.content.decode()
    # The two login pages share the counters.
    assert (
        client.post("/accounts/login/", {"username": "supervisor", "password": "pw-supervisor"}).status_code
        == 429
    )


def test_login_throttling_holds_while_redis_is_down(client, personas, settings):
    """Counters live in Redis; while it is unreachable each process counts in its own memory
    instead of letting every guess through."""
    from django.core.cache import caches

    settings.MINXIN_LOGIN_LIMITS_PER_USER = [(86400, 2)]
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }
    try:
        for _ in range(2):
            assert client.post("/accounts/login/", {"username": "harry", "password": "no"}).status_code == 200
        assert (
            client.post("/accounts/login/", {"username": "harry", "password": "pw-harry"}).status_code == 429
        )
        assert client.post("/admin/login/", {"username": "harry", "password": "pw-harry"}).status_code == 429
        assert "_auth_user_id" not in client.session
    finally:
        caches.close_all()


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


# --- staff WebSockets only from the site's exact origin (issue #13) ---------------------------


def _origin_headers(origin: bytes, host: bytes = b"127.0.0.1:8000", **extra: bytes) -> list:
    return [
        (b"origin", origin),
        (b"host", host),
        *[(k.replace("_", "-").encode(), v) for k, v in extra.items()],
    ]


async def _staff_connect(path: str, user, headers: list) -> tuple[bool, dict | None]:
    """Opens a staff socket with exactly these headers (and the user's cookie); (accepted, first output)."""
    from channels.db import database_sync_to_async
    from channels.testing import WebsocketCommunicator

    from asgi import application
    from tests.conftest import session_cookie

    cookie = await database_sync_to_async(session_cookie)(user)
    ws = WebsocketCommunicator(application, path, headers=[*headers, (b"cookie", cookie)])
    try:
        accepted, _ = await ws.connect(timeout=5)
        first = await ws.receive_json_from(timeout=5) if accepted else None
        return accepted, first
    finally:
        await ws.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("console", ["moderate", "studio"])
@pytest.mark.parametrize(
    "origin",
    [
        b"http://127.0.0.1:8001",  # another port on the same host name
        b"https://127.0.0.1:8000",  # another scheme
        b"http://127.0.0.1",  # the default port is another port
        b"http://localhost:8000",  # an allowed host name, but not this site's origin
        b"null",  # a sandboxed frame or a file
    ],
)
async def test_a_staff_socket_from_another_origin_on_an_allowed_host_is_refused(
    personas, live_broadcast, console, origin, close_worker_connections
):
    user = personas["moderator"] if console == "moderate" else personas["host"]
    path = f"/ws/{console}/{live_broadcast.pk}/"
    accepted, _ = await _staff_connect(path, user, _origin_headers(origin))
    assert not accepted
    # The same user from the page's own origin gets the console.
    accepted, first = await _staff_connect(path, user, _origin_headers(b"http://127.0.0.1:8000"))
    assert accepted and first["type"] == "queue"


@pytest.mark.django_db(transaction=True)
async def test_a_staff_socket_behind_a_tls_proxy_is_matched_as_https(
    personas, live_broadcast, settings, close_worker_connections
):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    path = f"/ws/moderate/{live_broadcast.pk}/"
    behind_proxy = _origin_headers(b"https://127.0.0.1:443", b"127.0.0.1", x_forwarded_proto=b"https")
    assert (await _staff_connect(path, personas["moderator"], behind_proxy))[0]
    plain = _origin_headers(b"http://127.0.0.1", b"127.0.0.1", x_forwarded_proto=b"https")
    assert not (await _staff_connect(path, personas["moderator"], plain))[0]
    # Or the operator names the public origin.
    settings.CSRF_TRUSTED_ORIGINS = ["https://127.0.0.1"]
    assert (
        await _staff_connect(path, personas["moderator"], _origin_headers(b"https://127.0.0.1", b"127.0.0.1"))
    )[0]


@pytest.mark.django_db(transaction=True)
async def test_a_viewer_socket_still_takes_any_allowed_host_origin(sockets, live_broadcast):
    ws = await sockets.open(
        f"/ws/live/{live_broadcast.pk}/", headers=_origin_headers(b"http://localhost:9999")
    )
    assert (await ws.receive_json_from(timeout=5))["type"] == "hello"
