"""JSON API helpers for every app (they live here because every app may depend on departments)."""

import json
from typing import Any

from django.http import HttpRequest, JsonResponse

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
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("bad_json", "The body is not valid UTF-8 JSON.") from None
    if not isinstance(data, dict):
        raise BadRequest("bad_json", "The body must be a JSON object.")
    return data
