"""Who a netizen is without an account: an opaque id, the same over WebSocket and HTTP, so that
questions, 附议 and the letters they become follow one browser.

The id comes from a signed cookie of its own (`minxin_netizen`), not from a session: a session is a
database row written on the first visit, and it made every visitor's live page personal (a new
session, a CSRF token), so that no cache could answer the start-of-programme rush (issue #18). The
cookie is issued by the first request that needs an identity — `GET /api/netizen/`, which the live
page asks before a first question or 附议, or an HTTP ask — and nothing is stored for it. A browser
that already has a session (from before, or a member of staff) keeps the id its session gave it.
"""

import hashlib
import secrets
from collections.abc import Callable, Mapping

from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token

NETIZEN_COOKIE = "minxin_netizen"
NETIZEN_SALT = "minxin.netizen"
NETIZEN_MAX_AGE = 365 * 24 * 3600
# The attribute a request carries when this answer gives the browser its identity.
_ISSUED = "minxin_new_netizen"


def session_netizen_key(session_key: str) -> str:
    """The netizen id of a session. Hashed, so that nothing stored holds a usable session credential."""
    return "s" + hashlib.sha256(session_key.encode()).hexdigest()[:40]


def token_netizen_key(token: str) -> str:
    """The netizen id of an identity cookie's token. Hashed, like a session's."""
    return "n" + hashlib.sha256(token.encode()).hexdigest()[:40]


def cookie_netizen_key(value: str | None) -> str | None:
    """The netizen id an identity cookie proves, or None for no cookie or one this site did not sign.

    Signed so that a made-up value (`minxin_netizen=1`) is no identity at all: ids are only ever
    the server's random tokens, however a client picks its cookies.
    """
    if not value or len(value) > 200:
        return None
    try:
        token = signing.Signer(salt=NETIZEN_SALT).unsign(value)
    except signing.BadSignature:
        return None
    return token_netizen_key(token)


def cookies_netizen_key(cookies: Mapping[str, str], session_key: str | None) -> str | None:
    """The netizen id of a request's cookies: its session's if it has one, else its identity cookie's."""
    if session_key:
        return session_netizen_key(session_key)
    return cookie_netizen_key(cookies.get(NETIZEN_COOKIE))


def _session_key(request: HttpRequest) -> str | None:
    # Only a request that sent the session cookie has a session to read: looking at request.session
    # otherwise would mark it accessed (Vary: Cookie) for nothing.
    if settings.SESSION_COOKIE_NAME not in request.COOKIES:
        return None
    session = getattr(request, "session", None)
    return session.session_key if session is not None else None


def existing_netizen_key(request: HttpRequest) -> str | None:
    """The netizen id of the request if it has one; never issues one."""
    issued = getattr(request, _ISSUED, None)
    if issued:
        return issued[1]
    return cookies_netizen_key(request.COOKIES, _session_key(request))


def request_netizen_key(request: HttpRequest) -> str:
    """The netizen id of an HTTP request, issuing a new identity cookie when it has none.

    The cookie (and a CSRF cookie beside it: from now on this browser's unsafe requests carry an
    identity, so they must bring the token, issue #13) is set on the answer by NetizenCookieMiddleware.
    """
    key = existing_netizen_key(request)
    if key:
        return key
    token = secrets.token_urlsafe(24)
    key = token_netizen_key(token)
    if request.headers.get("Sec-Fetch-Site") == "cross-site":
        # Another site's page made the browser send this (a form posted to our API: SameSite=Lax
        # keeps its cookie back, so it looks identity-less). An identity issued now would replace
        # the browser's own, and the other site's question would become its. Used once, never set.
        return key
    setattr(request, _ISSUED, (signing.Signer(salt=NETIZEN_SALT).sign(token), key))
    return key


def keep_csrf_cookie(request: HttpRequest) -> None:
    """A browser with an identity must send the CSRF token with its unsafe requests (issue #13), and
    the shared live page carries none: give it the cookie it takes the token from, if it has none."""
    if settings.CSRF_COOKIE_NAME not in request.COOKIES:
        get_token(request)  # CsrfViewMiddleware sets the cookie on the way out


def has_identity_cookie(request: HttpRequest) -> bool:
    """Whether the request carries a cookie that names its sender (session or identity): such a
    request may be a forged one riding a browser's identity, so it must bring the CSRF token."""
    return settings.SESSION_COOKIE_NAME in request.COOKIES or NETIZEN_COOKIE in request.COOKIES


class NetizenCookieMiddleware:
    """Sets the identity cookie a view issued (request_netizen_key), with the CSRF cookie.

    Listed after CsrfViewMiddleware, so that the token asked for here is set on the answer by it.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        issued = getattr(request, _ISSUED, None)
        if issued and response.status_code < 500:
            response.set_cookie(
                NETIZEN_COOKIE,
                issued[0],
                max_age=NETIZEN_MAX_AGE,
                secure=settings.SESSION_COOKIE_SECURE,
                httponly=True,
                samesite="Lax",
            )
            get_token(request)
        return response
