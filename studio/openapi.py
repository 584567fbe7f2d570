"""Studio's piece of the OpenAPI document (assembled in settings/openapi.py): the programme routes of
studio/views.py (list, detail, event log, asking a question over HTTP) and their schemas."""

from __future__ import annotations

from core.openapi import (
    DATE_TIME,
    INTEGER,
    READ_SECURITY,
    STRING,
    WRITE_SECURITY,
    Schema,
    body,
    errors,
    json_response,
    obj,
    path_param,
    query,
    ref,
)
from studio.models import BroadcastStatus, EventKind

BROADCAST_ID = {"$ref": "#/components/parameters/BroadcastId"}


def schemas() -> dict[str, Schema]:
    return {
        "Broadcast": obj(
            {
                "id": INTEGER,
                "number": INTEGER,
                "title": STRING,
                "summary": STRING,
                "department": ref("Department"),
                "status": {"type": "string", "enum": BroadcastStatus.values},
                "starts_at": DATE_TIME,
                "planned_minutes": INTEGER,
                "stream_url": {
                    "type": ["string", "null"],
                    "description": "HLS (.m3u8), MP4/WebM or audio: a path on this site or an http(s) URL",
                },
                "last_seq": {"type": "integer", "minimum": 0},
            }
        ),
        "Guest": obj({"name": STRING, "title": STRING}),
        "BroadcastDetail": {
            "allOf": [
                ref("Broadcast"),
                obj(
                    {
                        "guests": {
                            "type": "array",
                            "items": {"allOf": [ref("Guest"), obj({"id": INTEGER})]},
                            "description": "`id` is what an on-air answer's `guest_id` names.",
                        },
                        "counts": obj({"questions_asked": INTEGER, "questions_answered": INTEGER}),
                    }
                ),
            ]
        },
        "Event": obj(
            {
                "type": {"const": "event"},
                "seq": {"type": "integer", "minimum": 1},
                "kind": {"type": "string", "enum": EventKind.values},
                "at": DATE_TIME,
                "data": {"type": "object", "description": "Per kind, as PROTOCOL.md §1.1 describes."},
            }
        ),
        "Answer": obj(
            {
                "id": INTEGER,
                "question_id": {"type": ["integer", "null"]},
                "text": STRING,
                "guest": ref("Guest"),
                "answered_at": DATE_TIME,
                "on_air": {
                    "type": "boolean",
                    "const": True,
                    "description": "Present (true) only for a question answered by voice on air; `text` is its summary.",
                },
            },
            required=["id", "question_id", "text", "guest", "answered_at"],
        ),
    }


def parameters() -> dict[str, dict]:
    return {
        "BroadcastId": path_param("broadcast_id", {"type": "integer", "minimum": 0}, "The programme's id.")
    }


def paths() -> dict[str, dict]:
    return {
        "/api/broadcasts/": {
            "get": {
                "operationId": "listBroadcasts",
                "tags": ["broadcasts"],
                "summary": "Programmes (at most 500)",
                "security": READ_SECURITY,
                "parameters": [
                    query(
                        "status",
                        {"type": "string", "enum": BroadcastStatus.values},
                        "Only programmes in this status.",
                    ),
                    query("department", STRING, "Only this department's programmes (its code)."),
                ],
                "responses": {
                    "200": json_response(
                        obj({"broadcasts": {"type": "array", "items": ref("Broadcast")}}),
                        "The programmes.",
                    ),
                    **errors(400),
                },
            }
        },
        "/api/broadcasts/{broadcast_id}/": {
            "get": {
                "operationId": "getBroadcast",
                "tags": ["broadcasts"],
                "summary": "A programme with its guests and question counts",
                "security": READ_SECURITY,
                "parameters": [BROADCAST_ID],
                "responses": {"200": json_response(ref("BroadcastDetail"), "The programme."), **errors(404)},
            }
        },
        "/api/broadcasts/{broadcast_id}/events/": {"get": _events()},
        "/api/broadcasts/{broadcast_id}/questions/": {"post": _ask()},
        "/api/netizen/": {
            "get": {
                "operationId": "getNetizenIdentity",
                "tags": ["broadcasts"],
                "summary": "This browser's netizen identity, issued if it has none",
                "description": "A request without a session or a valid `minxin_netizen` cookie gets one "
                "(signed, HttpOnly, a year) and the `csrftoken` cookie. Questions and 附议 sent with it, "
                "over /ws/live/ (whose handshake reads it) or HTTP, belong to this browser. The live "
                "page asks for it before its first question or 附议 (docs/PROTOCOL.md §4).",
                "security": READ_SECURITY,
                "responses": {
                    "200": json_response(
                        obj({"identity": {"type": "string", "enum": ["new", "known"]}}),
                        "`new` when this answer issued it, `known` when the request had one.",
                    ),
                },
            }
        },
    }


def _events() -> dict:
    return {
        "operationId": "listBroadcastEvents",
        "tags": ["broadcasts"],
        "summary": "The programme's public event log (the replay reads it)",
        "security": READ_SECURITY,
        "parameters": [
            BROADCAST_ID,
            query(
                "after",
                {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
                "Only events with a greater seq (default 0).",
            ),
            query(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": 1000},
                "At most this many (default 1000).",
            ),
        ],
        "responses": {
            "200": json_response(
                obj({"events": {"type": "array", "items": ref("Event")}, "last_seq": INTEGER}),
                "Events in seq order, and the programme's last seq.",
            ),
            **errors(400, 404),
        },
    }


def _ask() -> dict:
    return {
        "operationId": "askQuestion",
        "tags": ["broadcasts"],
        "summary": "Ask a question: the HTTP twin of the `ask` frame",
        "description": "Idempotent on `client_id` within the programme. Taken while the programme is "
        "scheduled or live; a repeat is answered before the rate limit.",
        "security": WRITE_SECURITY,
        "parameters": [BROADCAST_ID],
        "requestBody": body(
            obj(
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
            "201": json_response(ref("AskResult"), "A new question, stored and waiting for screening."),
            "200": json_response(ref("AskResult"), "A repeated client_id: the question asked before."),
            **errors(400, 403, 404, 409, 413, 429),
        },
    }
