"""Site-wide protections: a Content-Security-Policy without inline script, and login throttling."""

import unicodedata
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.contrib.auth import views as auth_views
from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _

from core import ratelimit


# Pages load only our own scripts, styles and sockets. A programme's stream plays from this site, from
# any https host (a <video>/<audio> source), or from the stream hosts of MINXIN_STREAM_ORIGINS;
# `blob:` in media-src is the MediaSource object URL hls.js plays through (static/js/player.js),
# and hls.js fetches playlists and segments itself, hence the stream hosts in connect-src too.
# The admin (Django's own pages) keeps Django's defaults.
def content_security_policy(stream_origins: list[str]) -> str:
    streams = "".join(f" {origin}" for origin in stream_origins)
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            f"media-src 'self' blob: https:{streams}",
            f"connect-src 'self' ws: wss:{streams}",
            "frame-ancestors 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "object-src 'none'",
        ]
    )


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not request.path.startswith("/admin/"):
            response.setdefault(
                "Content-Security-Policy", content_security_policy(settings.MINXIN_STREAM_ORIGINS)
            )
        if "Cache-Control" not in response and response.get("Content-Type", "").startswith("text/html"):
            # A page carries a CSRF token (the language form, a form of its own) or a staff member's
            # session: a proxy or CDN must not keep one for the next visitor (README › Operations).
            # The one page that is the same for everyone, the live page a netizen opens, says so
            # itself (studio.views.live_page).
            response["Cache-Control"] = "private, no-cache"
        return response


class SharedAnswerGuardMiddleware:
    """An answer marked for shared caches (`public`: the live page, the counts) that sets a cookie
    after all — Django's CSRF middleware renews a malformed `csrftoken` cookie on any answer — is
    made private: a cache that keeps answers with Set-Cookie (some CDNs do; nginx does not) would
    otherwise hand that cookie to everyone. Listed before CsrfViewMiddleware, so it sees the answer
    after that has set its cookie."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.cookies and "public" in response.get("Cache-Control", ""):
            response["Cache-Control"] = "private, no-cache"
        return response


DEVICE_COOKIE = "minxin_device"
DEVICE_SALT = "minxin.login.device"
DEVICE_MAX_AGE = 90 * 24 * 3600


def login_name(raw: object) -> str:
    """The user name a login attempt is counted under: what the login form looks up.

    The form strips it and applies NFKC (UsernameField), so " supervisor", "supervisor\t" and
    "ｓｕｐｅｒｖｉｓｏｒ" all try the account "supervisor" and must share its counters (issue #13).
    Case is folded too: Django's lookup is exact, so this only joins names that differ in case,
    which errs towards counting more, never less.
    """
    name = raw if isinstance(raw, str) else ""
    return unicodedata.normalize("NFKC", name.strip()).strip()[:150].lower()


def trusted_device(request: HttpRequest, name: str) -> bool:
    """Whether this browser has logged in to the account before (a signed cookie set then)."""
    value = request.COOKIES.get(DEVICE_COOKIE)
    if not value:
        return False
    try:
        return signing.loads(value, salt=DEVICE_SALT, max_age=DEVICE_MAX_AGE) == name
    except signing.BadSignature:
        return False


def remember_device(response: HttpResponse, name: str) -> None:
    response.set_cookie(
        DEVICE_COOKIE,
        signing.dumps(name, salt=DEVICE_SALT),
        max_age=DEVICE_MAX_AGE,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )


def login_wait(request: HttpRequest) -> int | None:
    """Count a login attempt; the seconds to wait if it is over a limit.

    Per address, per address + account (a guesser at one address), and per account from
    anywhere (a guesser spread over many addresses). The last one could be filled by a stranger
    to keep a moderator out in the middle of a programme, so it only ever delays (at most an
    hour's window), and a browser that has logged in to the account before (its device cookie)
    is not held by it at all. Counted in Redis, shared by every process; while Redis is down, in
    each process's memory, so that a Redis outage does not open the door to guessing.
    """
    address = ratelimit.address_key(request.META.get("REMOTE_ADDR")) or "?"
    name = login_name(request.POST.get("username"))
    hits = [
        ("login-ip", address, settings.MINXIN_LOGIN_LIMITS_PER_ADDRESS),
        ("login-user", f"{address}:{name}", settings.MINXIN_LOGIN_LIMITS_PER_USER),
    ]
    if not trusted_device(request, name):
        hits.append(("login-account", name, settings.MINXIN_LOGIN_LIMITS_PER_ACCOUNT))
    waits = ratelimit.hit_many(hits, local_when_down=True)
    return max((wait for wait in waits if wait is not None), default=None)


def too_many_attempts(wait: int) -> str:
    return _("Too many attempts; please wait %(seconds)d seconds.") % {"seconds": wait}


def _logged_in(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    if response.status_code == 302 and request.user.is_authenticated:
        remember_device(response, login_name(request.user.get_username()))
    return response


class ThrottledLoginView(auth_views.LoginView):
    """Login, with attempts limited per address, per user name and per account (login_wait)."""

    def post(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        wait = login_wait(request)
        if wait is not None:
            form = self.get_form()
            form.add_error(None, too_many_attempts(wait))
            response = self.render_to_response(self.get_context_data(form=form))
            response.status_code = 429
            response["Retry-After"] = str(wait)
            return response
        return _logged_in(request, super().post(request, *args, **kwargs))


def throttled_admin_login(request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
    """/admin/login/ under the same limits as /accounts/login/ (it is another way in)."""
    from django.contrib import admin, messages

    if request.method == "POST":
        wait = login_wait(request)
        if wait is not None:
            messages.error(request, too_many_attempts(wait))
            request.method = "GET"  # the login page again, its form empty, the message above it
            response = admin.site.login(request, extra_context)
            response.status_code = 429
            response["Retry-After"] = str(wait)
            return response
    return _logged_in(request, admin.site.login(request, extra_context))


DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(scheme: str, netloc: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an origin, the default port filled in; None if it is not one."""
    try:
        parts = urlsplit(f"{scheme}://{netloc}")
        port = parts.port
    except ValueError:
        return None
    if scheme not in DEFAULT_PORTS or not parts.hostname or parts.path or parts.query or parts.username:
        return None
    return scheme, parts.hostname.lower(), port or DEFAULT_PORTS[scheme]


def _parse_origin(value: str) -> tuple[str, str, int] | None:
    scheme, sep, rest = value.partition("://")
    return _origin(scheme.lower(), rest) if sep else None


def site_origins(scope: dict) -> set[tuple[str, str, int]]:
    """The origins a staff page of this site is served from: the request's own scheme and Host
    (https behind a proxy that says so in SECURE_PROXY_SSL_HEADER, as Django's CSRF check reads
    it), and every origin in CSRF_TRUSTED_ORIGINS."""
    headers = dict(scope.get("headers") or [])
    secure = scope.get("scheme") in ("wss", "https")
    proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy:
        name, value = proxy
        header = name.removeprefix("HTTP_").replace("_", "-").lower().encode("latin-1")
        forwarded = headers.get(header, b"").decode("latin-1").split(",")[0].strip()
        secure = secure or forwarded == value
    found = set()
    host = headers.get(b"host")
    if host:
        own = _origin("https" if secure else "http", host.decode("latin-1"))
        if own is not None:
            found.add(own)
    for trusted in settings.CSRF_TRUSTED_ORIGINS:
        parsed = _parse_origin(trusted)
        if parsed is not None:
            found.add(parsed)
    return found


class ExactOriginValidator:
    """Staff WebSockets only from this site's exact origin: scheme, host name and port.

    AllowedHostsOriginValidator compares the host name alone, so a page on another port or over
    plain http on an allowed name (another service on the same host, say) could open a
    moderator's console with the moderator's cookies (issue #13). A refusal is the handshake's
    HTTP 403, as for a foreign host.
    """

    def __init__(self, application: Any):
        self.application = application

    async def __call__(self, scope: dict, receive: Any, send: Any) -> Any:
        origin = None
        for name, value in scope.get("headers") or []:
            if name == b"origin":
                origin = _parse_origin(value.decode("latin-1"))
        if origin is not None and origin in site_origins(scope):
            return await self.application(scope, receive, send)
        return await WebsocketDenier()(scope, receive, send)
