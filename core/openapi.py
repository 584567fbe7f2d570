"""Building blocks of the OpenAPI document (served at /api/schema/) that every app's piece uses.

The document is assembled in `settings/openapi.py` from one piece per app, beside that app's views
(`<app>/openapi.py`: its paths and component schemas). What they share is here: the constructors,
the common schemas, the security requirements and schemes, and the error body with one response per
HTTP status, its codes read from `core.errors.HTTP_STATUS` so that they cannot drift. Like the rest
of core, this module imports no app.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from core.errors import HTTP_STATUS

Schema = dict[str, Any]


def ref(name: str) -> Schema:
    """A reference to a component schema."""
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    kind = schema.get("type")
    if isinstance(kind, str):
        return {**schema, "type": [kind, "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


def obj(properties: dict[str, Schema], required: list[str] | None = None, **extra: Any) -> Schema:
    """An object whose listed properties are always present (unless `required` says otherwise)."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
        **extra,
    }


STRING: Schema = {"type": "string"}
# Query dates are bounded (core/params.py): outside, 400 `bad_request` `out_of_range`.
DAYS = " Between 2000-01-01 and 2100-12-31."
INTEGER: Schema = {"type": "integer"}
RATE: Schema = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
DATE_TIME: Schema = {"type": "string", "format": "date-time"}
DATE: Schema = {"type": "string", "format": "date"}


def json_response(schema: Schema, description: str, headers: dict | None = None) -> dict:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": schema}},
    }
    if headers:
        response["headers"] = headers
    return response


def error_ref(status: int) -> dict:
    return {"$ref": f"#/components/responses/Error{status}"}


def errors(*statuses: int) -> dict[str, dict]:
    """The error responses of an operation, by HTTP status."""
    return {str(status): error_ref(status) for status in statuses}


def query(name: str, schema: Schema, description: str, required: bool = False) -> dict:
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": description}


def path_param(name: str, schema: Schema, description: str) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": schema, "description": description}


def body(schema: Schema, description: str, required: bool = True) -> dict:
    return {
        "required": required,
        "description": description,
        "content": {"application/json": {"schema": schema}},
    }


FORMAT = query(
    "format",
    {"type": "string", "enum": ["json", "csv", "md"]},
    "Download as a file (an attachment) in this format; without it, plain JSON.",
)


def downloadable(schema: Schema, description: str) -> dict:
    """A 200 response that ?format= (FORMAT) turns into an attachment."""
    return {
        "description": description + " With ?format= as an attachment.",
        "content": {
            "application/json": {"schema": schema},
            "text/csv": {"schema": STRING},
            "text/markdown": {"schema": STRING},
        },
    }


# Reading is open to everyone; a session (staff, or a netizen's browser) may see more.
READ_SECURITY: list[dict] = [{}, {"session": []}]
# Writing without a session needs nothing; with the session cookie it needs the CSRF pair too
# (core.http.csrf_for_sessions), or it is refused 403 `forbidden`.
WRITE_SECURITY: list[dict] = [{}, {"session": [], "csrfCookie": [], "csrfHeader": []}]
STAFF_SECURITY: list[dict] = [{"session": [], "csrfCookie": [], "csrfHeader": []}]


def error_codes() -> dict[int, list[str]]:
    """The error codes each HTTP status carries, from the services' own tables."""
    by_status: dict[int, set[str]] = {}
    for code, status in HTTP_STATUS.items():
        by_status.setdefault(status, set()).add(code)
    by_status.setdefault(413, set()).add("too_long")  # core.http.json_body: the body is over 64 KiB
    return {status: sorted(codes) for status, codes in sorted(by_status.items())}


ERROR_DESCRIPTIONS = {
    400: "Bad request: a bad parameter or body field (`fields` names it), or text that is empty, too long or "
    "blocked. For query parameters `fields` says what is wrong: `invalid` (not a date YYYY-MM-DD or not a "
    "whole number), `unknown` (not one of the values listed), `out_of_range` (a date outside "
    "2000-01-01..2100-12-31, a number outside its bounds), `before_from` (a period that ends before it starts).",
    403: "Forbidden: not logged in, the wrong role or department, or a failed CSRF check.",
    404: "No such item (a letter looked up without its right key answers the same).",
    409: "Conflict: the item's state does not allow the step (`conflict`), or the programme takes no questions (`closed`).",
    413: "The request body is over 64 KiB.",
    429: "Too many requests: wait `Retry-After` seconds.",
    503: "The database could not be reached; nothing was stored. Send the same request again after "
    "`Retry-After` seconds (writes are idempotent on their client_id).",
}


def schemas() -> dict[str, Schema]:
    """The error body every error response carries."""
    codes = error_codes()
    return {
        "Error": obj(
            {
                "error": obj(
                    {
                        "code": {"type": "string", "enum": sorted({c for cs in codes.values() for c in cs})},
                        "message": {
                            "type": "string",
                            "description": "Human readable, zh-hans or en per Accept-Language.",
                        },
                        "fields": {
                            "type": "object",
                            "additionalProperties": STRING,
                            "description": "The offending fields and what is wrong with each.",
                        },
                    },
                    required=["code", "message"],
                )
            }
        ),
    }


def responses() -> dict[str, dict]:
    """`Error<status>`: the error body narrowed to the codes of that status."""
    out = {}
    for status, status_codes in error_codes().items():
        error = {
            "allOf": [
                ref("Error"),
                {"properties": {"error": {"properties": {"code": {"enum": status_codes}}}}},
            ]
        }
        headers = None
        if status in (429, 503):
            headers = {
                "Retry-After": {
                    "description": "Seconds to wait.",
                    "schema": {"type": "string", "pattern": "^[0-9]+$"},
                }
            }
        out[f"Error{status}"] = json_response(error, ERROR_DESCRIPTIONS[status], headers)
    return out


def security_schemes() -> dict[str, dict]:
    """Django's session cookie and the CSRF cookie/header pair, with the names settings give them."""
    return {
        "session": {
            "type": "apiKey",
            "in": "cookie",
            "name": settings.SESSION_COOKIE_NAME,
            "description": "Django's session: GET /accounts/login/, then POST the form "
            "(username, password, csrfmiddlewaretoken). A netizen's browser has one too (its questions).",
        },
        "csrfCookie": {
            "type": "apiKey",
            "in": "cookie",
            "name": settings.CSRF_COOKIE_NAME,
            "description": "Set by any page; its value goes in the CSRF header.",
        },
        "csrfHeader": {
            "type": "apiKey",
            "in": "header",
            "name": "X-CSRFToken",
            "description": "The CSRF cookie's value; required on unsafe methods whenever the session cookie is sent.",
        },
    }
