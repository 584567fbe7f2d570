"""The OpenAPI 3.1 description of the HTTP JSON API (PROTOCOL.md §2 and §4), served at /api/schema/.

The document is built here in Python rather than kept as a YAML file, so that it cannot drift from
the code on the points that drift most: every enum (statuses, kinds, ratings, lights, department
kinds, error codes and the HTTP status of each) and the cookie names are read from the models and
settings themselves, and the shapes used by several endpoints (the error body, a letter, a
broadcast) are written once. tests/test_openapi.py checks that every route of the `api` URL list is
described here and runs schemathesis' generated requests against the real application.

The other apps' modules are imported inside `document()`, not at the top, because every app may
depend on departments but departments depends on none of them.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

OPENAPI_VERSION = "3.1.0"

Schema = dict[str, Any]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: Schema) -> Schema:
    kind = schema.get("type")
    if isinstance(kind, str):
        return {**schema, "type": [kind, "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


def _object(properties: dict[str, Schema], required: list[str] | None = None, **extra: Any) -> Schema:
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


def _json(schema: Schema, description: str, headers: dict | None = None) -> dict:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": schema}},
    }
    if headers:
        response["headers"] = headers
    return response


def _error_ref(status: int) -> dict:
    return {"$ref": f"#/components/responses/Error{status}"}


def _errors(*statuses: int) -> dict[str, dict]:
    return {str(status): _error_ref(status) for status in statuses}


def _query(name: str, schema: Schema, description: str, required: bool = False) -> dict:
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": description}


def _path(name: str, schema: Schema, description: str) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": schema, "description": description}


def _body(schema: Schema, description: str, required: bool = True) -> dict:
    return {
        "required": required,
        "description": description,
        "content": {"application/json": {"schema": schema}},
    }


# Reading is open to everyone; a session (staff, or a netizen's browser) may see more.
READ_SECURITY: list[dict] = [{}, {"session": []}]
# Writing without a session needs nothing; with the session cookie it needs the CSRF pair too
# (core.http.csrf_for_sessions), or it is refused 403 `forbidden`.
WRITE_SECURITY: list[dict] = [{}, {"session": [], "csrfCookie": [], "csrfHeader": []}]
STAFF_SECURITY: list[dict] = [{"session": [], "csrfCookie": [], "csrfHeader": []}]


def _error_codes() -> dict[int, list[str]]:
    """The error codes each HTTP status carries, from the services' own tables."""
    from core.errors import HTTP_STATUS

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


def _components() -> dict:
    from departments.models import DepartmentKind, LetterKind, TimeUnit
    from letters.models import LetterStatus as LS
    from letters.models import Light, Rating
    from moderation.models import QuestionStatus
    from studio.models import BroadcastStatus, EventKind

    codes = _error_codes()
    schemas: dict[str, Schema] = {
        "Error": _object(
            {
                "error": _object(
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
        "Department": _object(
            {
                "code": STRING,
                "name": STRING,
                "short_name": STRING,
                "kind": {"type": "string", "enum": DepartmentKind.values},
                "active": {"type": "boolean"},
            }
        ),
        "DepartmentName": _object({"code": STRING, "name": STRING}),
        "TimeLimit": _object(
            {
                "sign": _object(
                    {
                        "limit": {"type": "integer", "minimum": 1},
                        "unit": {"type": "string", "enum": TimeUnit.values},
                    }
                ),
                "reply": _object(
                    {
                        "limit": {"type": "integer", "minimum": 1},
                        "unit": {"type": "string", "enum": TimeUnit.values},
                    }
                ),
                "yellow_share": {"type": "string", "pattern": r"^[0-9]+/[0-9]+$"},
            }
        ),
        "RegistryDepartment": {
            "allOf": [
                _ref("Department"),
                _object(
                    {
                        "time_limits": {
                            "type": "object",
                            "description": "Per kind of letter (the department's own limit, else the default).",
                            "propertyNames": {"enum": LetterKind.values},
                            "additionalProperties": _nullable(_ref("TimeLimit")),
                        }
                    }
                ),
            ]
        },
        "Broadcast": _object(
            {
                "id": INTEGER,
                "number": INTEGER,
                "title": STRING,
                "summary": STRING,
                "department": _ref("Department"),
                "status": {"type": "string", "enum": BroadcastStatus.values},
                "starts_at": DATE_TIME,
                "planned_minutes": INTEGER,
                "stream_url": {"type": ["string", "null"]},
                "last_seq": {"type": "integer", "minimum": 0},
            }
        ),
        "Guest": _object({"name": STRING, "title": STRING}),
        "BroadcastDetail": {
            "allOf": [
                _ref("Broadcast"),
                _object(
                    {
                        "guests": {"type": "array", "items": _ref("Guest")},
                        "counts": _object({"questions_asked": INTEGER, "questions_answered": INTEGER}),
                    }
                ),
            ]
        },
        "Event": _object(
            {
                "type": {"const": "event"},
                "seq": {"type": "integer", "minimum": 1},
                "kind": {"type": "string", "enum": EventKind.values},
                "at": DATE_TIME,
                "data": {"type": "object", "description": "Per kind, as PROTOCOL.md §1.1 describes."},
            }
        ),
        "PublicQuestion": _object({"id": INTEGER, "text": STRING, "nickname": STRING, "asked_at": DATE_TIME}),
        "Answer": _object(
            {
                "id": INTEGER,
                "question_id": {"type": ["integer", "null"]},
                "text": STRING,
                "guest": _ref("Guest"),
                "answered_at": DATE_TIME,
            }
        ),
        "TranscriptAnswer": {
            "allOf": [_ref("Answer"), _object({"seq": INTEGER, "at": DATE_TIME})],
        },
        "TranscriptItem": {
            "oneOf": [
                _object(
                    {
                        "type": {"const": "question"},
                        "seq": INTEGER,
                        "at": DATE_TIME,
                        "question": _ref("PublicQuestion"),
                        "answers": {"type": "array", "items": _ref("TranscriptAnswer")},
                    }
                ),
                _object(
                    {
                        "type": {"const": "statement"},
                        "seq": INTEGER,
                        "at": DATE_TIME,
                        "answer": _ref("TranscriptAnswer"),
                    }
                ),
                _object(
                    {
                        "type": {"const": "host"},
                        "seq": INTEGER,
                        "at": DATE_TIME,
                        "message": _object({"id": INTEGER, "text": STRING, "author": STRING}),
                    }
                ),
            ]
        },
        "Transcript": _object(
            {
                "broadcast": _object(
                    {
                        "id": INTEGER,
                        "number": INTEGER,
                        "title": STRING,
                        "department": {"type": "string", "description": "The department's name."},
                        "starts_at": DATE_TIME,
                        "status": {"type": "string", "enum": BroadcastStatus.values},
                        "guests": {"type": "array", "items": _ref("Guest")},
                    }
                ),
                "items": {"type": "array", "items": _ref("TranscriptItem")},
            }
        ),
        "MyQuestion": _object(
            {
                "question_id": INTEGER,
                "status": {"type": "string", "enum": QuestionStatus.values},
                "text": STRING,
                "reason": STRING,
                "letter": _object(
                    {
                        "code": STRING,
                        "status": {"type": "string", "enum": LS.values},
                        "department": {"type": ["string", "null"]},
                        "reply": {"type": ["string", "null"]},
                    }
                ),
            },
            required=["question_id", "status", "text", "reason"],
        ),
        "AskResult": _object(
            {
                "question_id": INTEGER,
                "status": {"type": "string", "enum": QuestionStatus.values},
                "ref": {"type": "string", "description": "The client_id."},
            }
        ),
        "SearchResult": _object(
            {
                "query": STRING,
                "words": {"type": "array", "items": STRING},
                "results": {
                    "type": "array",
                    "items": _object(
                        {
                            "broadcast": _object({"id": INTEGER, "number": INTEGER, "title": STRING}),
                            "department": _ref("DepartmentName"),
                            "seq": INTEGER,
                            "kind": {"type": "string", "enum": ["question", "answer", "host"]},
                            "at": DATE_TIME,
                            "snippet": {
                                "type": "string",
                                "description": "Escaped HTML; matched words in <mark>.",
                            },
                        }
                    ),
                },
            }
        ),
        "HotTopic": _object({"term": STRING, "count": INTEGER, "score": {"type": "number"}}),
        "Stats": _object(
            {
                "department": {"type": ["string", "null"]},
                "broadcasts": INTEGER,
                "departments": INTEGER,
                "guests": INTEGER,
                "participants": INTEGER,
                "questions_asked": INTEGER,
                "questions_answered": INTEGER,
                "letters": _object(
                    {
                        "received": INTEGER,
                        "replied": INTEGER,
                        "rated": INTEGER,
                        "satisfied": INTEGER,
                        "daily_average": {"type": "number"},
                        "reply_rate": RATE,
                        "satisfaction_rate": RATE,
                    }
                ),
                "hot_topics": {
                    **_object(
                        {
                            "week": {"type": "array", "items": _ref("HotTopic")},
                            "month": {"type": "array", "items": _ref("HotTopic")},
                        }
                    ),
                    "description": "All departments only (without ?department=).",
                },
                "computed_at": DATE_TIME,
            },
            required=[
                "department",
                "broadcasts",
                "departments",
                "guests",
                "participants",
                "questions_asked",
                "questions_answered",
                "letters",
                "computed_at",
            ],
        ),
        "Letter": _object(
            {
                "code": STRING,
                "kind": {"type": "string", "enum": LetterKind.values},
                "subject": STRING,
                "body": STRING,
                "status": {"type": "string", "enum": LS.values},
                "department": _nullable(_ref("DepartmentName")),
                "submitted_at": {"type": ["string", "null"], "format": "date-time"},
                "sign_deadline": {"type": ["string", "null"], "format": "date-time"},
                "reply_deadline": {"type": ["string", "null"], "format": "date-time"},
                "light": {"type": ["string", "null"], "enum": [*Light.values, None]},
                "reply": {"type": ["string", "null"]},
                "replied_at": {"type": ["string", "null"], "format": "date-time"},
                "rating": {"type": ["string", "null"], "enum": [*Rating.values, None]},
            },
            description="What anyone may read of a public, replied letter.",
        ),
        "LetterPrivate": {
            "description": "A letter as its key's holder and the department's staff see it.",
            "allOf": [
                _ref("Letter"),
                _object(
                    {
                        "name": {"type": "string", "description": "Empty once erased."},
                        "contact": {
                            "type": "string",
                            "description": "Empty once erased. Each staff response carrying it is recorded "
                            "(GET /api/contact-accesses/).",
                        },
                        "contact_erased_at": {"type": ["string", "null"], "format": "date-time"},
                        "erasure": {
                            "type": ["string", "null"],
                            "enum": ["retention", "writer", None],
                            "description": "Why name and contact were erased: the retention period ended, "
                            "or the writer asked.",
                        },
                        "public": {"type": "boolean"},
                        "signed_at": {"type": ["string", "null"], "format": "date-time"},
                        "sign_on_time": {"type": ["boolean", "null"]},
                        "reply_on_time": {"type": ["boolean", "null"]},
                        "extension_days": {"type": "integer", "minimum": 0},
                        "redo_count": {"type": "integer", "minimum": 0},
                        "wrong_closure": {"type": "boolean"},
                        "pending_extensions": {
                            "type": "array",
                            "items": _object({"id": INTEGER, "days": INTEGER, "reason": STRING}),
                        },
                    }
                ),
            ],
        },
        "LetterCreated": _object(
            {
                "code": STRING,
                "key": {
                    "type": "string",
                    "description": "The secret to follow and rate the letter; shown once.",
                },
            },
            required=["code"],
        ),
        "Scoreboard": _object(
            {
                "from": {**DATE, "description": "With a period only."},
                "to": {**DATE, "description": "With a period only: its last day."},
                "computed_at": DATE_TIME,
                "minimum_for_ranking": INTEGER,
                "departments": {
                    "type": "array",
                    "items": _object(
                        {
                            "department": _object({"code": STRING, "name": STRING, "short_name": STRING}),
                            "received": INTEGER,
                            "replied": INTEGER,
                            "reply_rate": RATE,
                            "on_time_rate": RATE,
                            "satisfaction_rate": RATE,
                            "ranked": {"type": "boolean"},
                            "rank": {"type": ["integer", "null"], "minimum": 1},
                        }
                    ),
                },
            },
            required=["computed_at", "minimum_for_ranking", "departments"],
        ),
        "Assessment": _object(
            {
                "from": DATE,
                "to": {**DATE, "description": "The day after the period's last day."},
                "departments": {
                    "type": "array",
                    "items": _object(
                        {
                            "department": _ref("DepartmentName"),
                            "letters": INTEGER,
                            "extensions": INTEGER,
                            "wrong_sign_fors": INTEGER,
                            "wrong_closures": INTEGER,
                            "complaints": INTEGER,
                            "measures": {
                                "type": "object",
                                "additionalProperties": RATE,
                                "required": [
                                    "timely_sign_for",
                                    "timely_reply",
                                    "no_extension",
                                    "no_wrong_sign_for",
                                    "no_wrong_closure",
                                    "no_complaint",
                                    "substantive_closure",
                                ],
                            },
                            "raw_score": {"type": ["number", "null"]},
                            "score": {"type": ["number", "null"]},
                        }
                    ),
                },
            }
        ),
    }
    responses = {}
    for status, status_codes in codes.items():
        error = {
            "allOf": [
                _ref("Error"),
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
        responses[f"Error{status}"] = _json(error, ERROR_DESCRIPTIONS[status], headers)
    return {
        "schemas": schemas,
        "responses": responses,
        "securitySchemes": {
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
        },
    }


FORMAT = _query(
    "format",
    {"type": "string", "enum": ["json", "csv", "md"]},
    "Download as a file (an attachment) in this format; without it, plain JSON.",
)


def _downloadable(schema: Schema, description: str) -> dict:
    return {
        "description": description + " With ?format= as an attachment.",
        "content": {
            "application/json": {"schema": schema},
            "text/csv": {"schema": STRING},
            "text/markdown": {"schema": STRING},
        },
    }


def _letter_step(summary: str, body: Schema | None, extra_errors: tuple[int, ...] = (400,)) -> dict:
    operation: dict[str, Any] = {
        "tags": ["letters (staff)"],
        "summary": summary,
        "security": STAFF_SECURITY,
        "parameters": [{"$ref": "#/components/parameters/LetterCode"}],
        "responses": {
            "200": _json(_ref("LetterPrivate"), "The letter after the step."),
            **_errors(*sorted({*extra_errors, 403, 404, 409})),
        },
    }
    if body is not None:
        operation["requestBody"] = _body(body, "The step's fields.")
        operation["responses"]["413"] = _error_ref(413)
    return {"post": operation}


def _paths() -> dict:
    from departments.models import DepartmentKind, LetterKind
    from letters.models import LetterStatus, Rating
    from studio.models import BroadcastStatus

    broadcast_id = {"$ref": "#/components/parameters/BroadcastId"}
    reason = _object({"reason": {"type": "string", "minLength": 1, "maxLength": 500}})
    return {
        "/api/schema/": {
            "get": {
                "tags": ["meta"],
                "summary": "This document",
                "security": READ_SECURITY,
                "responses": {"200": _json({"type": "object"}, "The OpenAPI document.")},
            }
        },
        "/api/departments/": {
            "get": {
                "tags": ["departments"],
                "summary": "The department registry with each department's letter time limits",
                "security": READ_SECURITY,
                "parameters": [
                    _query(
                        "kind",
                        {"type": "string", "enum": DepartmentKind.values},
                        "Only departments of this kind.",
                    ),
                    _query("all", {"type": "string", "enum": ["1"]}, "`1`: inactive departments too."),
                ],
                "responses": {
                    "200": _json(
                        _object({"departments": {"type": "array", "items": _ref("RegistryDepartment")}}),
                        "The registry, in display order.",
                    ),
                    **_errors(400),
                },
            }
        },
        "/api/departments/scoreboard/": {
            "get": {
                "tags": ["letters"],
                "summary": "The public scoreboard per active department (cached up to two minutes)",
                "security": READ_SECURITY,
                "parameters": [
                    _query(
                        "from", DATE, "With from/to: only letters forwarded in the period; first day." + DAYS
                    ),
                    _query("to", DATE, "Last day (YYYY-MM-DD), inclusive, not before from." + DAYS),
                    FORMAT,
                ],
                "responses": {"200": _downloadable(_ref("Scoreboard"), "The scoreboard."), **_errors(400)},
            }
        },
        "/api/assessment/": {
            "get": {
                "tags": ["letters (staff)"],
                "summary": "Assessment scores per department (supervisors and operators)",
                "description": "See docs/ASSESSMENT.md. The period defaults to the year so far.",
                "security": [{"session": []}],
                "parameters": [
                    _query("from", DATE, "First day (YYYY-MM-DD), default 1 January." + DAYS),
                    _query(
                        "to", DATE, "Last day (YYYY-MM-DD), inclusive, default today, not before from." + DAYS
                    ),
                    _query("format", {"type": "string", "enum": ["json", "csv", "xlsx"]}, "Default json."),
                ],
                "responses": {
                    "200": {
                        "description": "The assessment; csv and xlsx come as attachments.",
                        "content": {
                            "application/json": {"schema": _ref("Assessment")},
                            "text/csv": {"schema": STRING},
                            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                                "schema": {"type": "string", "contentEncoding": "binary"}
                            },
                        },
                    },
                    **_errors(400, 403),
                },
            }
        },
        "/api/search/": {
            "get": {
                "tags": ["archive"],
                "summary": "Search every transcript (Chinese text; docs/SEARCH.md)",
                "security": READ_SECURITY,
                "parameters": [
                    _query(
                        "q",
                        {"type": "string", "minLength": 1, "maxLength": 100},
                        "Words to find (1–100 characters after trimming).",
                        required=True,
                    ),
                    _query("department", STRING, "A department code."),
                    _query("from", DATE, "First day (YYYY-MM-DD)." + DAYS),
                    _query("to", DATE, "Last day (YYYY-MM-DD), inclusive, not before from." + DAYS),
                ],
                "responses": {"200": _json(_ref("SearchResult"), "Matches, best first."), **_errors(400)},
            }
        },
        "/api/stats/": {
            "get": {
                "tags": ["archive"],
                "summary": "Figures of programmes held and letters (cached up to two minutes)",
                "security": READ_SECURITY,
                "parameters": [_query("department", STRING, "A department code: its figures only."), FORMAT],
                "responses": {"200": _downloadable(_ref("Stats"), "The figures."), **_errors(400)},
            }
        },
        "/api/broadcasts/": {
            "get": {
                "tags": ["broadcasts"],
                "summary": "Programmes (at most 500)",
                "security": READ_SECURITY,
                "parameters": [
                    _query(
                        "status",
                        {"type": "string", "enum": BroadcastStatus.values},
                        "Only programmes in this status.",
                    ),
                    _query("department", STRING, "Only this department's programmes (its code)."),
                ],
                "responses": {
                    "200": _json(
                        _object({"broadcasts": {"type": "array", "items": _ref("Broadcast")}}),
                        "The programmes.",
                    ),
                    **_errors(400),
                },
            }
        },
        "/api/broadcasts/{broadcast_id}/": {
            "get": {
                "tags": ["broadcasts"],
                "summary": "A programme with its guests and question counts",
                "security": READ_SECURITY,
                "parameters": [broadcast_id],
                "responses": {"200": _json(_ref("BroadcastDetail"), "The programme."), **_errors(404)},
            }
        },
        "/api/broadcasts/{broadcast_id}/events/": {
            "get": {
                "tags": ["broadcasts"],
                "summary": "The programme's public event log (the replay reads it)",
                "security": READ_SECURITY,
                "parameters": [
                    broadcast_id,
                    _query(
                        "after",
                        {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
                        "Only events with a greater seq (default 0).",
                    ),
                    _query(
                        "limit",
                        {"type": "integer", "minimum": 1, "maximum": 1000},
                        "At most this many (default 1000).",
                    ),
                ],
                "responses": {
                    "200": _json(
                        _object({"events": {"type": "array", "items": _ref("Event")}, "last_seq": INTEGER}),
                        "Events in seq order, and the programme's last seq.",
                    ),
                    **_errors(400, 404),
                },
            }
        },
        "/api/broadcasts/{broadcast_id}/questions/": {
            "post": {
                "tags": ["broadcasts"],
                "summary": "Ask a question: the HTTP twin of the `ask` frame",
                "description": "Idempotent on `client_id` within the programme. Taken while the programme is "
                "scheduled or live; a repeat is answered before the rate limit.",
                "security": WRITE_SECURITY,
                "parameters": [broadcast_id],
                "requestBody": _body(
                    _object(
                        {
                            "client_id": {"type": "string", "minLength": 1, "maxLength": 64},
                            "text": {"type": "string", "minLength": 1, "maxLength": 500},
                            "nickname": {
                                "type": ["string", "null"],
                                "maxLength": 30,
                                "description": "Default 网友.",
                            },
                            "consent": {
                                "type": "boolean",
                                "description": "Optional: true once the netizen agreed to the privacy "
                                "notice; false (declined) is refused with bad_frame and nothing is stored.",
                            },
                        },
                        required=["client_id", "text"],
                    ),
                    "The question.",
                ),
                "responses": {
                    "201": _json(_ref("AskResult"), "A new question, stored and waiting for screening."),
                    "200": _json(_ref("AskResult"), "A repeated client_id: the question asked before."),
                    **_errors(400, 403, 404, 409, 413, 429),
                },
            }
        },
        "/api/broadcasts/{broadcast_id}/my-questions/": {
            "get": {
                "tags": ["broadcasts"],
                "summary": "This browser session's questions in the programme, with their statuses",
                "description": "Empty without a session (and for a programme that does not exist).",
                "security": READ_SECURITY,
                "parameters": [broadcast_id],
                "responses": {
                    "200": _json(
                        _object({"questions": {"type": "array", "items": _ref("MyQuestion")}}),
                        "The questions.",
                    ),
                },
            }
        },
        "/api/broadcasts/{broadcast_id}/transcript/": {
            "get": {
                "tags": ["archive"],
                "summary": "Question–answer pairs and host messages in order (withdrawn events left out)",
                "security": READ_SECURITY,
                "parameters": [
                    broadcast_id,
                    FORMAT,
                ],
                "responses": {
                    "200": _downloadable(_ref("Transcript"), "The transcript."),
                    **_errors(400, 404),
                },
            }
        },
        "/api/letters/": {
            "get": {
                "tags": ["letters"],
                "summary": "Letters (at most 100, newest first)",
                "description": "For the public: public letters with their replies. For operators, supervisors "
                "and the department's own handlers (asking for their department): every letter, with the "
                "writer's contact.",
                "security": READ_SECURITY,
                "parameters": [
                    _query("department", STRING, "A department code."),
                    _query(
                        "status",
                        {"type": "string", "enum": LetterStatus.values},
                        "Only letters in this status.",
                    ),
                ],
                "responses": {
                    "200": _json(
                        _object(
                            {
                                "letters": {
                                    "type": "array",
                                    "items": {"anyOf": [_ref("LetterPrivate"), _ref("Letter")]},
                                }
                            }
                        ),
                        "The letters.",
                    ),
                    **_errors(400),
                },
            },
            "post": {
                "tags": ["letters"],
                "summary": "Write a letter",
                "description": "A repeat of the same letter with the same idempotency key by the same client "
                "(its session, else its address) within a day answers 200 with the same code and key; later, "
                "the same code only. The same key with another letter is 409 `conflict` (`fields`: "
                "`client_id: reused`); from another client it is simply another letter.",
                "security": WRITE_SECURITY,
                "parameters": [
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string", "minLength": 1, "maxLength": 64},
                        "description": "Makes a retried POST safe (or send `client_id` in the body); "
                        "it is this client's key for this letter only.",
                    }
                ],
                "requestBody": _body(
                    _object(
                        {
                            "kind": {"type": "string", "enum": LetterKind.values},
                            "subject": {"type": "string", "minLength": 1, "maxLength": 100},
                            "body": {"type": "string", "minLength": 1, "maxLength": 5000},
                            "name": {"type": "string", "minLength": 1, "maxLength": 50},
                            "contact": {"type": "string", "minLength": 1, "maxLength": 100},
                            "public": {"type": "boolean", "default": True},
                            "consent": {
                                "type": "boolean",
                                "description": "true: the writer agreed to the privacy notice (recorded); "
                                "false: refused with fields.consent = required, nothing stored; absent: "
                                "accepted as before, no consent recorded (clients must show the notice).",
                            },
                            "client_id": {"type": "string", "minLength": 1, "maxLength": 64},
                        },
                        required=["kind", "subject", "body", "name", "contact"],
                    ),
                    "The letter.",
                ),
                "responses": {
                    "201": _json(_ref("LetterCreated"), "Stored: keep the code and the key."),
                    "200": _json(_ref("LetterCreated"), "A repeat of an idempotency key."),
                    **_errors(400, 403, 409, 413),
                },
            },
        },
        "/api/letters/{code}/": {
            "get": {
                "tags": ["letters"],
                "summary": "A letter: status, department, deadlines, light, reply",
                "description": "Everything with its key (or as the department's staff); a public replied "
                "letter without it; otherwise 404, exactly as for a code that does not exist. Look-ups are "
                "limited per address (429).",
                "security": READ_SECURITY,
                "parameters": [
                    {"$ref": "#/components/parameters/LetterCode"},
                    _query("key", STRING, "The letter's secret key."),
                ],
                "responses": {
                    "200": _json({"anyOf": [_ref("LetterPrivate"), _ref("Letter")]}, "The letter."),
                    **_errors(404, 429),
                },
            }
        },
        "/api/letters/{code}/evaluation/": {
            "post": {
                "tags": ["letters"],
                "summary": "The writer rates the reply (with the letter's key); that closes the letter",
                "description": "A wrong key is the 404 of a code that does not exist; counted with look-ups "
                "per address (429).",
                "security": WRITE_SECURITY,
                "parameters": [{"$ref": "#/components/parameters/LetterCode"}],
                "requestBody": _body(
                    _object(
                        {
                            "key": STRING,
                            "rating": {"type": "string", "enum": Rating.values},
                            "comment": {"type": "string", "maxLength": 500},
                        },
                        required=["key", "rating"],
                    ),
                    "The rating.",
                ),
                "responses": {
                    "200": _json(
                        _object({"code": STRING, "status": {"type": "string", "enum": LetterStatus.values}}),
                        "Rated and closed.",
                    ),
                    **_errors(400, 403, 404, 409, 413, 429),
                },
            }
        },
        "/api/letters/{code}/erasure/": {
            "post": {
                "tags": ["letters"],
                "summary": "The writer has the letter's personal data erased (with the letter's key)",
                "description": "Name and contact are blanked; phone, ID and e-mail numbers and the writer's "
                "name are masked in subject, body and rating comment. Department, status, dates and rating "
                "stay for the statistics. A repeat changes nothing; a wrong key is 403 and changes nothing.",
                "security": WRITE_SECURITY,
                "parameters": [{"$ref": "#/components/parameters/LetterCode"}],
                "requestBody": _body(_object({"key": STRING}), "The letter's secret key."),
                "responses": {
                    "200": _json(
                        _object(
                            {
                                "code": STRING,
                                "status": {"type": "string", "enum": LetterStatus.values},
                                "contact_erased_at": DATE_TIME,
                                "erasure": {"type": "string", "enum": ["writer"]},
                            }
                        ),
                        "Erased.",
                    ),
                    **_errors(400, 403, 404, 413),
                },
            }
        },
        "/api/letters/{code}/contact/": {
            "post": {
                "tags": ["letters (staff)"],
                "summary": "Open the writer's name and contact (查看联系方式); the opening is recorded",
                "description": "For the letter's department's handlers, operators and supervisors.",
                "security": STAFF_SECURITY,
                "parameters": [{"$ref": "#/components/parameters/LetterCode"}],
                "responses": {
                    "200": _json(
                        _object(
                            {
                                "code": STRING,
                                "name": STRING,
                                "contact": STRING,
                                "contact_erased_at": {"type": ["string", "null"], "format": "date-time"},
                            }
                        ),
                        "The writer's name and contact (empty once erased).",
                    ),
                    **_errors(400, 403, 404, 413),
                },
            }
        },
        "/api/contact-accesses/": {
            "get": {
                "tags": ["letters (staff)"],
                "summary": "Who opened writers' contacts, newest first, 100 a page (supervisors)",
                "security": [{"session": []}],
                "parameters": [
                    _query("letter", STRING, "Only this letter (its tracking code)."),
                    _query("by", STRING, "Only this staff member (user name)."),
                    _query("page", {"type": "integer", "minimum": 1}, "Page number, from 1."),
                ],
                "responses": {
                    "200": _json(
                        _object(
                            {
                                "accesses": {
                                    "type": "array",
                                    "items": _object(
                                        {
                                            "letter": STRING,
                                            "by": STRING,
                                            "role": {
                                                "type": ["string", "null"],
                                                "enum": ["supervisor", "operator", "handler", None],
                                            },
                                            "via": {"type": "string", "enum": ["page", "api"]},
                                            "at": DATE_TIME,
                                        }
                                    ),
                                },
                                "page": INTEGER,
                                "more": {"type": "boolean"},
                            }
                        ),
                        "The openings.",
                    ),
                    **_errors(400, 403),
                },
            }
        },
        "/api/letters/{code}/forward/": _letter_step(
            "An operator forwards the letter to a department",
            _object({"department": {"type": "string", "description": "An active department's code."}}),
        ),
        "/api/letters/{code}/sign/": _letter_step(
            "The department's handler signs for the letter (no body needed)", None, extra_errors=()
        ),
        "/api/letters/{code}/return/": _letter_step(
            "The handler returns a letter that is not the department's to the operators", reason
        ),
        "/api/letters/{code}/extend/": {
            "post": {
                **_letter_step("", None)["post"],
                "summary": "The handler asks for more days before the reply deadline",
                "requestBody": _body(
                    _object(
                        {
                            "days": {"type": "integer", "minimum": 1, "maximum": 30},
                            "reason": {"type": "string", "minLength": 1, "maxLength": 500},
                        }
                    ),
                    "How many working days, and why.",
                ),
                "responses": {
                    "201": _json(
                        _object({"code": STRING, "extension": _object({"id": INTEGER, "days": INTEGER})}),
                        "Asked; an operator or supervisor decides.",
                    ),
                    **_errors(400, 403, 404, 409, 413),
                },
            }
        },
        "/api/letters/{code}/reply/": _letter_step(
            "The handler replies (a small safe subset of HTML is kept)",
            _object({"text": {"type": "string", "minLength": 1, "maxLength": 10000}}),
        ),
        "/api/letters/{code}/redo/": _letter_step(
            "A supervisor orders a replied or closed letter handled again", reason
        ),
        "/api/letters/{code}/wrong-closure/": _letter_step(
            "A supervisor marks a closed letter's closure wrong", reason
        ),
        "/api/letters/{code}/extensions/{extension_id}/{decision}/": {
            "post": {
                "tags": ["letters (staff)"],
                "summary": "An operator or supervisor approves or refuses an extension",
                "security": STAFF_SECURITY,
                "parameters": [
                    {"$ref": "#/components/parameters/LetterCode"},
                    _path("extension_id", {"type": "integer", "minimum": 0}, "The extension's id."),
                    _path("decision", {"type": "string", "enum": ["approve", "refuse"]}, "The decision."),
                ],
                "responses": {
                    "200": _json(_ref("LetterPrivate"), "The letter with its new deadline (when approved)."),
                    **_errors(403, 404, 409),
                },
            }
        },
    }


@cache
def document() -> dict:
    """The whole OpenAPI document (built once per process: everything in it is fixed at start-up)."""
    components = _components()
    components["parameters"] = {
        "BroadcastId": _path("broadcast_id", {"type": "integer", "minimum": 0}, "The programme's id."),
        "LetterCode": _path(
            "code",
            {"type": "string", "pattern": "^[^/]+$", "minLength": 1},
            "The letter's code (MXyymmddXXXXXX).",
        ),
    }
    paths = _paths()
    for path, operations in paths.items():
        if path != "/api/schema/":
            for operation in operations.values():
                operation["responses"]["503"] = _error_ref(503)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Minxin 民心线 HTTP API",
            "version": "1",
            "description": "The JSON API of docs/PROTOCOL.md §2 and §4. Times are ISO 8601 with offset; ids "
            'are integers. Errors are `{"error": {"code", "message", "fields"}}`; an unexpected server '
            "error is 500 with code `internal`. Reading needs no "
            "login; staff steps need Django's session, and every unsafe request that carries the session "
            "cookie must send the CSRF cookie's value as `X-CSRFToken`. The WebSocket endpoints "
            "(PROTOCOL.md §1) are not described here.",
        },
        "servers": [{"url": "/"}],
        "tags": [
            {"name": "broadcasts", "description": "The live programme 走进直播间"},
            {"name": "archive", "description": "Transcripts, search and statistics"},
            {"name": "letters", "description": "The letter module 留言板, netizen side"},
            {"name": "letters (staff)", "description": "Letter steps by role and department"},
            {"name": "departments", "description": "The department registry"},
            {"name": "meta", "description": "This document"},
        ],
        "paths": paths,
        "components": components,
    }


@require_GET
def schema_view(request: HttpRequest) -> HttpResponse:
    """GET /api/schema/: the OpenAPI document as JSON."""
    return HttpResponse(
        json.dumps(document(), ensure_ascii=False, indent=1),
        content_type="application/json",
    )
