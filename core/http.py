"""JSON API helpers for every app (they live here because every app may depend on departments)."""

import json
import logging
import mimetypes
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.exceptions import SuspiciousFileOperation
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from core.errors import ServiceError
from core.netizens import has_identity_cookie

log = logging.getLogger(__name__)

MAX_JSON_BODY = 64 * 1024


def api_error(
    status: int, code: str, message: str, fields: dict | None = None, retry_after: int | None = None
) -> JsonResponse:
    body: dict[str, Any] = {"code": code, "message": str(message)}
    if fields:
        body["fields"] = fields
    response = JsonResponse({"error": body}, status=status, json_dumps_params={"ensure_ascii": False})
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


def error_response(error: ServiceError) -> JsonResponse:
    """A refusal as the API's JSON error body, with its status and Retry-After."""
    return api_error(error.http_status, error.code, error.message, error.fields, error.retry_after)


def api_view(view: Callable) -> Callable:
    """The one wrapper of the JSON API's views: a refusal (ServiceError) or a 404 becomes the JSON
    error body instead of an exception."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except ServiceError as error:
            return error_response(error)
        except Http404:
            return api_error(404, "not_found", ServiceError("not_found").message)

    return wrapper


def json_body(request: HttpRequest) -> dict:
    """The request's JSON object, or ServiceError with a message a client developer can act on."""
    if len(request.body) > MAX_JSON_BODY:
        raise ServiceError("too_long", f"The body is over {MAX_JSON_BODY} bytes.", status=413)
    try:
        data = json.loads(request.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: [[[[… nested thousands deep
        raise ServiceError("bad_json", "The body is not valid UTF-8 JSON.") from None
    if not isinstance(data, dict):
        raise ServiceError("bad_json", "The body must be a JSON object.")
    return data


def csrf_for_sessions(view: Callable) -> Callable:
    """CSRF for JSON endpoints that anonymous clients also call (ask, write a letter, rate a reply).

    A client without a cookie that names it (a third-party app, a script) is not riding anyone's
    identity, so it needs no token; a request that carries the session or the netizen identity
    cookie — a browser — must bring the token, so that no other site can act in its user's name.
    When an answer gives a client its identity (an anonymous ask), it also sets the CSRF cookie
    (core.netizens.NetizenCookieMiddleware): the client's next POST carries the identity and needs
    the token (issue #13).
    """
    protected = csrf_protect(view)

    @csrf_exempt
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if has_identity_cookie(request):
            return protected(request, *args, **kwargs)
        return view(request, *args, **kwargs)

    return wrapper


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF refusals: JSON for the API, Django's page elsewhere (settings.CSRF_FAILURE_VIEW)."""
    if request.path.startswith("/api/"):
        return api_error(
            403, "forbidden", "CSRF check failed: send the csrftoken cookie's value as X-CSRFToken."
        )
    from django.views.csrf import csrf_failure as django_csrf_failure

    return django_csrf_failure(request, reason)


class DatabaseUnavailableMiddleware:
    """A database outage answers 503 `unavailable` with Retry-After, not a 500 page.

    The request changed nothing (its transaction did not commit), so a client may safely send it
    again; JSON for the API, a short page elsewhere.
    """

    RETRY_AFTER = 2

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        from django.db import InterfaceError, OperationalError

        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        log.warning("%s %s refused, database unavailable: %s", request.method, request.path, exception)
        message = ServiceError("unavailable").message
        if request.path.startswith("/api/"):
            return api_error(503, "unavailable", message, retry_after=self.RETRY_AFTER)
        response = HttpResponse(message, status=503, content_type="text/plain; charset=utf-8")
        response["Retry-After"] = str(self.RETRY_AFTER)
        return response


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """404s (settings.urls handler404): the JSON error body under /api/, Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return api_error(404, "not_found", ServiceError("not_found").message)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception or Exception())


def server_error(request: HttpRequest) -> HttpResponse:
    """500s (settings.urls handler500): under /api/ the JSON error body with code `internal`, so that a
    client parses every answer of the API the same way; Django's page elsewhere. The details are in
    the log, under the request id, never in the answer."""
    if request.path.startswith("/api/"):
        from django.utils.translation import gettext

        return api_error(
            500, "internal", gettext("Something went wrong on our side. Please try again later.")
        )
    from django.views.defaults import server_error as django_server_error

    return django_server_error(request)


# Streams served from /static (the demo programme's clip): the content types players expect. The
# system's mime.types decides otherwise on some machines (Debian's says .ts is a Qt translation).
STREAM_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".ts": "video/mp2t",
    ".m4s": "video/iso.segment",
    ".m4a": "audio/mp4",
    ".opus": "audio/ogg",
}
for _extension, _type in STREAM_TYPES.items():
    mimetypes.add_type(_type, _extension)


class StaticFilesHandler(ASGIStaticFilesHandler):
    """The app's own static files (asgi.py), where a path out of the static folders is a 404.

    Django's handler lets SuspiciousFileOperation escape for `/static/%2e%2e/settings/prod.py`
    (daphne decodes it to `..`), which daphne answered with a 500; nothing is served either way.
    """

    def serve(self, request: HttpRequest) -> FileResponse:
        try:
            return super().serve(request)
        except SuspiciousFileOperation:
            raise Http404("No such static file.") from None
