"""The letter module's piece of the OpenAPI document (assembled in settings/openapi.py): the routes of
letters/views.py (writing, following, rating and erasing a letter; the staff steps) and the letter
schemas. The scoreboard and the assessment are letters/openapi_scores.py's piece."""

from __future__ import annotations

from typing import Any

from core.openapi import (
    DATE_TIME,
    INTEGER,
    READ_SECURITY,
    STAFF_SECURITY,
    STRING,
    WRITE_SECURITY,
    Schema,
    body,
    error_ref,
    errors,
    json_response,
    nullable,
    obj,
    path_param,
    query,
    ref,
)
from departments.models import LetterKind
from letters.models import Channel, Closure, LetterStatus, Light, Rating

LETTER_CODE = {"$ref": "#/components/parameters/LetterCode"}
NULLABLE_DATE_TIME: Schema = {"type": ["string", "null"], "format": "date-time"}


def schemas() -> dict[str, Schema]:
    return {
        "Letter": obj(
            {
                "code": STRING,
                "kind": {"type": "string", "enum": LetterKind.values},
                "subject": STRING,
                "body": STRING,
                "status": {"type": "string", "enum": LetterStatus.values},
                "department": nullable(ref("DepartmentName")),
                "submitted_at": NULLABLE_DATE_TIME,
                "sign_deadline": NULLABLE_DATE_TIME,
                "reply_deadline": NULLABLE_DATE_TIME,
                "light": {"type": ["string", "null"], "enum": [*Light.values, None]},
                "reply": {"type": ["string", "null"]},
                "replied_at": NULLABLE_DATE_TIME,
                "rating": {"type": ["string", "null"], "enum": [*Rating.values, None]},
                "closure": {
                    "type": ["string", "null"],
                    "enum": [*Closure.values, None],
                    "description": "How a closed letter was closed: with the writer's rating, without one "
                    "(未评价办结, by the clock after MINXIN_UNRATED_CLOSE_WORKDAYS working days), or "
                    "delivered (a thank-you letter); null while open.",
                },
                "trail": {"type": "array", "items": ref("TrailStep")},
            },
            description="What anyone may read of a public, replied letter.",
        ),
        "TrailStep": _trail_step(),
        "LetterPrivate": _letter_private(),
        "LetterCreated": obj(
            {
                "code": STRING,
                "key": {
                    "type": "string",
                    "description": "The secret to follow and rate the letter; shown once.",
                },
            },
            required=["code"],
        ),
    }


# Present for the key's holder and for staff; staff JSON also carries redo_reason and reminders.
_PRIVATE_ALWAYS = (
    "name contact contact_erased_at erasure public signed_at sign_on_time reply_on_time extension_days "
    "redo_count wrong_closure pending_extensions"
).split()


def _trail_step() -> Schema:
    return obj(
        {
            "at": DATE_TIME,
            "step": {
                "type": "string",
                "description": "submitted, forwarded, returned, signed, extension_requested, extended, "
                "extension_refused, replied, rated, closed, redo; more may be added (show an unknown "
                "one as a generic step).",
            },
            "department": nullable(ref("DepartmentName")),
            "reason": {
                "type": ["string", "null"],
                "description": "The staff's reason (returned, extension_requested, redo), personal data masked.",
            },
            "until": {**NULLABLE_DATE_TIME, "description": "extended: the new reply deadline."},
            "rating": {"type": ["string", "null"], "enum": [*Rating.values, None]},
        },
        description="One public step of a letter (letters/trail.py); the staff member is never named.",
    )


def _letter_private() -> Schema:
    return {
        "description": "A letter as its key's holder and the department's staff see it.",
        "allOf": [
            ref("Letter"),
            obj(
                {
                    "name": {"type": "string", "description": "Empty once erased."},
                    "contact": {
                        "type": "string",
                        "description": "Empty once erased. Each staff response carrying it is recorded "
                        "(GET /api/contact-accesses/).",
                    },
                    "contact_erased_at": NULLABLE_DATE_TIME,
                    "erasure": {
                        "type": ["string", "null"],
                        "enum": ["retention", "writer", None],
                        "description": "Why name and contact were erased: the retention period ended, "
                        "or the writer asked.",
                    },
                    "public": {"type": "boolean"},
                    "signed_at": NULLABLE_DATE_TIME,
                    "sign_on_time": {"type": ["boolean", "null"]},
                    "reply_on_time": {"type": ["boolean", "null"]},
                    "extension_days": {"type": "integer", "minimum": 0},
                    "redo_count": {"type": "integer", "minimum": 0},
                    "wrong_closure": {"type": "boolean"},
                    "pending_extensions": {
                        "type": "array",
                        "items": obj({"id": INTEGER, "days": INTEGER, "reason": STRING}),
                    },
                    "redo_reason": {
                        "type": ["string", "null"],
                        "description": "Staff only (not the writer): the supervisor's reason for the last "
                        "redo; null if never redone.",
                    },
                    "reminders": {
                        "type": "array",
                        "description": "Staff only (not the writer): reminders (催办) supervisors sent since "
                        "the letter reached its department, oldest first.",
                        "items": obj({"at": DATE_TIME, "by": STRING, "note": {"type": ["string", "null"]}}),
                    },
                },
                required=[*_PRIVATE_ALWAYS],
            ),
            obj(
                {
                    "channel": {"type": "string", "enum": Channel.values},
                    "division": nullable(obj({"code": STRING, "name": STRING})),
                    "draft": {
                        "type": ["string", "null"],
                        "description": "A division's draft reply waiting for the coordinator.",
                    },
                    "draft_by": {"type": ["string", "null"]},
                },
                required=[],
                description="For the department's staff only (not the key's holder).",
            ),
        ],
    }


def parameters() -> dict[str, dict]:
    return {
        "LetterCode": path_param(
            "code",
            {"type": "string", "pattern": "^[^/]+$", "minLength": 1},
            "The letter's code (MXyymmddXXXXXX).",
        ),
    }


def paths() -> dict[str, dict]:
    return {
        "/api/letters/": {"get": _list_letters(), "post": _post_letter()},
        "/api/letters/{code}/": {"get": _get_letter()},
        "/api/letters/{code}/evaluation/": {"post": _evaluation()},
        "/api/letters/{code}/erasure/": {"post": _erasure()},
        "/api/letters/{code}/contact/": {"post": _contact()},
        "/api/contact-accesses/": {"get": _contact_accesses()},
        **_steps(),
    }


def _list_letters() -> dict:
    return {
        "operationId": "listLetters",
        "tags": ["letters"],
        "summary": "Letters (at most 100, newest first)",
        "description": "For the public: public letters with their replies. For operators, supervisors "
        "and the department's own handlers (asking for their department): every letter, with the "
        "writer's contact.",
        "security": READ_SECURITY,
        "parameters": [
            query("department", STRING, "A department code."),
            query("status", {"type": "string", "enum": LetterStatus.values}, "Only letters in this status."),
        ],
        "responses": {
            "200": json_response(
                obj(
                    {"letters": {"type": "array", "items": {"anyOf": [ref("LetterPrivate"), ref("Letter")]}}}
                ),
                "The letters.",
            ),
            **errors(400),
        },
    }


def _post_letter() -> dict:
    return {
        "operationId": "postLetter",
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
        "requestBody": body(
            obj(
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
            "201": json_response(ref("LetterCreated"), "Stored: keep the code and the key."),
            "200": json_response(ref("LetterCreated"), "A repeat of an idempotency key."),
            **errors(400, 403, 409, 413),
        },
    }


def _get_letter() -> dict:
    return {
        "operationId": "getLetter",
        "tags": ["letters"],
        "summary": "A letter: status, department, deadlines, light, reply",
        "description": "Everything with its key (or as the department's staff); a public replied "
        "letter without it; otherwise 404, exactly as for a code that does not exist. Look-ups are "
        "limited per address (429).",
        "security": READ_SECURITY,
        "parameters": [LETTER_CODE, query("key", STRING, "The letter's secret key.")],
        "responses": {
            "200": json_response({"anyOf": [ref("LetterPrivate"), ref("Letter")]}, "The letter."),
            **errors(404, 429),
        },
    }


def _evaluation() -> dict:
    return {
        "operationId": "postLetterEvaluation",
        "tags": ["letters"],
        "summary": "The writer rates the reply (with the letter's key); that closes the letter",
        "description": "A wrong key is the 404 of a code that does not exist; counted with look-ups "
        "per address (429).",
        "security": WRITE_SECURITY,
        "parameters": [LETTER_CODE],
        "requestBody": body(
            obj(
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
            "200": json_response(
                obj({"code": STRING, "status": {"type": "string", "enum": LetterStatus.values}}),
                "Rated and closed.",
            ),
            **errors(400, 403, 404, 409, 413, 429),
        },
    }


def _erasure() -> dict:
    return {
        "operationId": "postLetterErasure",
        "tags": ["letters"],
        "summary": "The writer has the letter's personal data erased (with the letter's key)",
        "description": "Name and contact are blanked; phone, ID and e-mail numbers and the writer's "
        "name are masked in subject, body and rating comment. Department, status, dates and rating "
        "stay for the statistics. A repeat changes nothing; a wrong key is 404, as for a code that does "
        "not exist, and changes nothing; key checks count against the per-address look-up limit (429).",
        "security": WRITE_SECURITY,
        "parameters": [LETTER_CODE],
        "requestBody": body(obj({"key": STRING}), "The letter's secret key."),
        "responses": {
            "200": json_response(
                obj(
                    {
                        "code": STRING,
                        "status": {"type": "string", "enum": LetterStatus.values},
                        "contact_erased_at": DATE_TIME,
                        "erasure": {"type": "string", "enum": ["writer"]},
                    }
                ),
                "Erased.",
            ),
            **errors(400, 403, 404, 413, 429),
        },
    }


def _contact() -> dict:
    return {
        "operationId": "openLetterContact",
        "tags": ["letters (staff)"],
        "summary": "Open the writer's name and contact (查看联系方式); the opening is recorded",
        "description": "For the letter's department's handlers, operators and supervisors.",
        "security": STAFF_SECURITY,
        "parameters": [LETTER_CODE],
        "responses": {
            "200": json_response(
                obj(
                    {
                        "code": STRING,
                        "name": STRING,
                        "contact": STRING,
                        "contact_erased_at": NULLABLE_DATE_TIME,
                    }
                ),
                "The writer's name and contact (empty once erased).",
            ),
            **errors(400, 403, 404, 413),
        },
    }


def _contact_accesses() -> dict:
    access = obj(
        {
            "letter": STRING,
            "by": STRING,
            "role": {"type": ["string", "null"], "enum": ["supervisor", "operator", "handler", None]},
            "via": {"type": "string", "enum": ["page", "api"]},
            "at": DATE_TIME,
        }
    )
    return {
        "operationId": "listContactAccesses",
        "tags": ["letters (staff)"],
        "summary": "Who opened writers' contacts, newest first, 100 a page (supervisors)",
        "security": [{"session": []}],
        "parameters": [
            query("letter", STRING, "Only this letter (its tracking code)."),
            query("by", STRING, "Only this staff member (user name)."),
            query("page", {"type": "integer", "minimum": 1}, "Page number, from 1."),
        ],
        "responses": {
            "200": json_response(
                obj(
                    {
                        "accesses": {"type": "array", "items": access},
                        "page": INTEGER,
                        "more": {"type": "boolean"},
                    }
                ),
                "The openings.",
            ),
            **errors(400, 403),
        },
    }


def _step(
    operation_id: str, summary: str, step_body: Schema | None, extra_errors: tuple[int, ...] = (400,)
) -> dict:
    """A staff step on `letters/<code>/<action>/` (letters/views.py:letter_action)."""
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "tags": ["letters (staff)"],
        "summary": summary,
        "security": STAFF_SECURITY,
        "parameters": [LETTER_CODE],
        "responses": {
            "200": json_response(ref("LetterPrivate"), "The letter after the step."),
            **errors(*sorted({*extra_errors, 403, 404, 409})),
        },
    }
    if step_body is not None:
        operation["requestBody"] = body(step_body, "The step's fields.")
        operation["responses"]["413"] = error_ref(413)
    return {"post": operation}


def _steps() -> dict[str, dict]:
    reason = obj({"reason": {"type": "string", "minLength": 1, "maxLength": 500}})
    return {
        "/api/letters/{code}/forward/": _step(
            "forwardLetter",
            "An operator forwards the letter to a department",
            obj({"department": {"type": "string", "description": "An active department's code."}}),
        ),
        "/api/letters/{code}/sign/": _step(
            "signLetter",
            "The department's handler signs for the letter (no body needed)",
            None,
            extra_errors=(),
        ),
        "/api/letters/{code}/return/": _step(
            "returnLetter",
            "The handler returns a letter that is not the department's to the operators",
            reason,
        ),
        "/api/letters/{code}/extend/": {"post": _extend()},
        "/api/letters/{code}/reply/": _step(
            "replyToLetter",
            "The handler replies (a small safe subset of HTML is kept)",
            obj({"text": {"type": "string", "minLength": 1, "maxLength": 10000}}),
        ),
        "/api/letters/{code}/redo/": _step(
            "redoLetter", "A supervisor orders a replied or closed letter handled again", reason
        ),
        "/api/letters/{code}/wrong-closure/": _step(
            "markLetterWrongClosure", "A supervisor marks a closed letter's closure wrong", reason
        ),
        "/api/letters/{code}/remind/": _step(
            "remindLetter", "A supervisor sends the department a reminder (催办)", obj({"note": STRING}, [])
        ),
        "/api/letters/{code}/extensions/{extension_id}/{decision}/": {"post": _extension_decision()},
    }


def _extend() -> dict:
    return {
        **_step("requestLetterExtension", "", None)["post"],
        "summary": "The handler asks for more days before the reply deadline",
        "requestBody": body(
            obj(
                {
                    "days": {"type": "integer", "minimum": 1, "maximum": 30},
                    "reason": {"type": "string", "minLength": 1, "maxLength": 500},
                }
            ),
            "How many working days, and why.",
        ),
        "responses": {
            "201": json_response(
                obj({"code": STRING, "extension": obj({"id": INTEGER, "days": INTEGER})}),
                "Asked; an operator or supervisor decides.",
            ),
            **errors(400, 403, 404, 409, 413),
        },
    }


def _extension_decision() -> dict:
    return {
        "operationId": "decideLetterExtension",
        "tags": ["letters (staff)"],
        "summary": "An operator or supervisor approves or refuses an extension",
        "security": STAFF_SECURITY,
        "parameters": [
            LETTER_CODE,
            path_param("extension_id", {"type": "integer", "minimum": 0}, "The extension's id."),
            path_param("decision", {"type": "string", "enum": ["approve", "refuse"]}, "The decision."),
        ],
        "responses": {
            "200": json_response(ref("LetterPrivate"), "The letter with its new deadline (when approved)."),
            **errors(403, 404, 409),
        },
    }
