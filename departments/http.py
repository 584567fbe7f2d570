"""JSON API helpers for every app (they live here because every app may depend on departments)."""

import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt, csrf_protect

MAX_JSON_BODY = 64 * 1024


class BadRequest(Exception):
    def __init__(self, code: str, message: str, status: int = 400, fields: dict | None = None):
        super().__init__(message)
        self.code, self.message, self.status, self.fields = code, message, status, fields or {}


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


def json_body(request: HttpRequest) -> dict:
    """The request's JSON object, or BadRequest with a message a client developer can act on."""
    if len(request.body) > MAX_JSON_BODY:
        raise BadRequest("too_long", f"The body is over {MAX_JSON_BODY} bytes.", status=413)
    try:
        data = json.loads(request.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: [[[[… nested thousands deep
        raise BadRequest("bad_json", "The body is not valid UTF-8 JSON.") from None
    if not isinstance(data, dict):
        raise BadRequest("bad_json", "The body must be a JSON object.")
    return data


def csrf_for_sessions(view: Callable) -> Callable:
    """CSRF for JSON endpoints that anonymous clients also call (ask, write a letter, rate a reply).

    A client without our session cookie (a third-party app, a script) is not riding anyone's
    session, so it needs no token; a request that carries the cookie — a browser — must bring the
    token, so that no other site can act in its user's name.
    """
    protected = csrf_protect(view)

    @csrf_exempt
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if settings.SESSION_COOKIE_NAME in request.COOKIES:
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
