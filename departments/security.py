"""Site-wide protections: a Content-Security-Policy without inline script, and login throttling."""

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _

from departments.ratelimit import hit

# Pages load only our own scripts, styles and sockets; a programme's stream may come from any https
# host. The admin (Django's own pages) keeps Django's defaults.
CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "media-src 'self' https:",
        "connect-src 'self' ws: wss:",
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
            response.setdefault("Content-Security-Policy", CSP)
        return response


class ThrottledLoginView(auth_views.LoginView):
    """Login, with failed attempts limited per address and per user name (shared via the cache)."""

    def post(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        address = request.META.get("REMOTE_ADDR") or "?"
        username = (request.POST.get("username") or "")[:150].lower()
        waits = [
            hit("login-ip", address, settings.MINXIN_LOGIN_LIMITS_PER_ADDRESS),
            hit("login-user", f"{address}:{username}", settings.MINXIN_LOGIN_LIMITS_PER_USER),
        ]
        wait = max((w for w in waits if w is not None), default=None)
        if wait is not None:
            form = self.get_form()
            form.add_error(None, _("Too many attempts; please wait %(seconds)d seconds.") % {"seconds": wait})
            response = self.render_to_response(self.get_context_data(form=form))
            response.status_code = 429
            response["Retry-After"] = str(wait)
            return response
        return super().post(request, *args, **kwargs)


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
