"""The letter module's second piece of the OpenAPI document (assembled in settings/openapi.py):
handling inside a unit with divisions (letters/handling.py) and letters taken by phone
(letters/phone.py), both served by letters/views.py."""

from __future__ import annotations

from core.openapi import STAFF_SECURITY, STRING, Schema, body, errors, json_response, obj
from departments.models import LetterKind
from letters.models import Rating
from letters.openapi import _step


def schemas() -> dict[str, Schema]:
    return {}


def parameters() -> dict[str, dict]:
    return {}


def paths() -> dict[str, dict]:
    reason = obj({"reason": {"type": "string", "minLength": 1, "maxLength": 500}})
    return {
        "/api/letters/phone/": {"post": _phone()},
        "/api/letters/{code}/assign/": _step(
            "assignLetterToDivision",
            "The unit's coordinator assigns a signed letter to one of its divisions (业务处室), or "
            "reassigns it (a waiting draft is dropped)",
            obj({"division": {"type": "string", "description": "A division code of the letter's unit."}}),
        ),
        "/api/letters/{code}/draft/": _step(
            "draftLetterReply",
            "A handler of the letter's division drafts the reply; not sent until the coordinator "
            "approves it (saving again replaces the draft)",
            obj({"text": {"type": "string", "minLength": 1, "maxLength": 10000}}),
        ),
        "/api/letters/{code}/approve-draft/": _step(
            "approveLetterDraft",
            "The coordinator approves the draft: it becomes the reply, sent to the writer (no body)",
            None,
            extra_errors=(),
        ),
        "/api/letters/{code}/return-draft/": _step(
            "returnLetterDraft", "The coordinator sends the draft back to the division, with a reason", reason
        ),
        "/api/letters/{code}/callback/": _step(
            "recordLetterCallback",
            "回访: an operator records the rating a phone letter's writer gave on the phone; it closes "
            "the letter as a writer's rating does",
            obj(
                {
                    "rating": {"type": "string", "enum": Rating.values},
                    "comment": {"type": "string", "maxLength": 500},
                },
                required=["rating"],
            ),
        ),
    }


def _phone() -> dict:
    return {
        "operationId": "takePhoneLetter",
        "tags": ["letters (staff)"],
        "summary": "An operator records a letter taken by phone",
        "description": "Like `POST /api/letters/`, with `channel` phone and `consent` required to be "
        "true (the operator read the privacy notice to the caller). Read the code and key back to "
        "the caller: the key is shown once. A repeat with the same `Idempotency-Key` (or "
        "`client_id`) by the same operator within a day answers 200 with the same code and key, "
        "storing nothing; the same key with another letter is 409.",
        "security": STAFF_SECURITY,
        "parameters": [
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "minLength": 1, "maxLength": 64},
                "description": "Makes a retried POST safe (or send `client_id` in the body).",
            }
        ],
        "requestBody": body(
            obj(
                {
                    "kind": {"type": "string", "enum": LetterKind.values},
                    "subject": {"type": "string", "minLength": 1, "maxLength": 100},
                    "body": {"type": "string", "minLength": 1, "maxLength": 5000},
                    "name": {"type": "string", "minLength": 1, "maxLength": 50},
                    "contact": {"type": "string", "minLength": 1, "maxLength": 100},
                    "public": {"type": "boolean", "default": True},
                    "consent": {"type": "boolean", "const": True},
                    "client_id": {"type": "string", "minLength": 1, "maxLength": 64},
                },
                required=["kind", "subject", "body", "name", "contact", "consent"],
            ),
            "The caller's letter.",
        ),
        "responses": {
            "201": json_response(
                obj({"code": STRING, "key": STRING, "channel": {"type": "string", "enum": ["phone"]}}),
                "Stored: read the code and the key to the caller.",
            ),
            "200": json_response(
                obj(
                    {"code": STRING, "key": STRING, "channel": {"type": "string", "enum": ["phone"]}},
                    required=["code", "channel"],
                ),
                "A repeat of an idempotency key.",
            ),
            **errors(400, 403, 409, 413),
        },
    }
