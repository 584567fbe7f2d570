"""Site-wide protections: a Content-Security-Policy without inline script, and login throttling."""

from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _

from core.ratelimit import hit

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
