"""Who a netizen is without an account: an opaque id derived from the session, the same over
WebSocket and HTTP, so that questions, 附议 and the letters they become follow one browser."""

import hashlib

from django.http import HttpRequest


def session_netizen_key(session_key: str) -> str:
    """The netizen id of a session. Hashed, so that nothing stored holds a usable session credential."""
    return "s" + hashlib.sha256(session_key.encode()).hexdigest()[:40]


def request_netizen_key(request: HttpRequest) -> str:
    """The netizen id of an HTTP request's session, starting a session when there is none."""
    if not request.session.session_key:
        request.session.save()
    return session_netizen_key(request.session.session_key or "")


def existing_netizen_key(request: HttpRequest) -> str | None:
    """The netizen id of the request's session if it has one; never starts a session."""
    key = request.session.session_key
    return session_netizen_key(key) if key else None
