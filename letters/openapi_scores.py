"""The scoreboard's and the assessment's piece of the OpenAPI document (letters/views.py, its
figures from letters/reports.py); assembled in settings/openapi.py beside letters/openapi.py."""

from __future__ import annotations

from core.openapi import (
    DATE,
    DATE_TIME,
    DAYS,
    FORMAT,
    INTEGER,
    RATE,
    READ_SECURITY,
    STRING,
    Schema,
    downloadable,
    errors,
    obj,
    query,
    ref,
)


def schemas() -> dict[str, Schema]:
    return {"Scoreboard": _scoreboard(), "Assessment": _assessment()}


def parameters() -> dict[str, dict]:
    return {}


def paths() -> dict[str, dict]:
    return {
        "/api/departments/scoreboard/": {"get": _scoreboard_operation()},
        "/api/assessment/": {"get": _assessment_operation()},
    }


def _scoreboard() -> Schema:
    return obj(
        {
            "from": {**DATE, "description": "With a period only."},
            "to": {**DATE, "description": "With a period only: its last day."},
            "computed_at": DATE_TIME,
            "minimum_for_ranking": INTEGER,
            "departments": {
                "type": "array",
                "items": obj(
                    {
                        "department": obj({"code": STRING, "name": STRING, "short_name": STRING}),
                        "received": INTEGER,
                        "phone": {**INTEGER, "description": "Of which taken by phone."},
                        "replied": INTEGER,
                        "reply_rate": RATE,
                        "on_time_rate": RATE,
                        "satisfaction_rate": RATE,
                        "closed": INTEGER,
                        "closed_unrated": {**INTEGER, "description": "Of `closed`, closed without a rating."},
                        "closure_rate": {**RATE, "description": "Closed ÷ received."},
                        "thanks": {**INTEGER, "description": "Thank-you letters (not among `received`)."},
                        "ranked": {"type": "boolean"},
                        "rank": {"type": ["integer", "null"], "minimum": 1},
                    }
                ),
            },
        },
        required=["computed_at", "minimum_for_ranking", "departments"],
    )


_ASSESSMENT_COUNTS = {
    "assessed": "Letters with a verdict (signed for, or past the sign-for limit): the volume weighted by.",
    "pending": "Still within the sign-for limit: neither credit nor failure.",
    "overdue": "Open past the limit of their stage: failures.",
    "extensions": "Letters for which the department asked an extension.",
    "wrong_sign_fors": "Returns after signing for.",
    "wrong_closures": "Closures marked wrong.",
    "complaints": "Letters rated unsatisfied or sent back for redo.",
    "unsatisfied": "Letters rated unsatisfied.",
    "redone": "Letters sent back for redo.",
}


def _assessment() -> Schema:
    return obj(
        {
            "from": DATE,
            "to": {**DATE, "description": "The day after the period's last day."},
            "departments": {
                "type": "array",
                "items": obj(
                    {
                        "department": ref("DepartmentName"),
                        "letters": INTEGER,
                        **{
                            name: {**INTEGER, "description": text}
                            for name, text in _ASSESSMENT_COUNTS.items()
                        },
                        "counts": {
                            "type": "object",
                            "description": "Each measure's credit and due (measure = credit ÷ due).",
                            "additionalProperties": obj({"credit": INTEGER, "due": INTEGER}),
                        },
                        "phone_letters": {**INTEGER, "description": "Of which taken by phone."},
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
    )


def _scoreboard_operation() -> dict:
    return {
        "operationId": "getScoreboard",
        "tags": ["letters"],
        "summary": "The public scoreboard per active department (cached up to two minutes)",
        "security": READ_SECURITY,
        "parameters": [
            query("from", DATE, "With from/to: only letters forwarded in the period; first day." + DAYS),
            query("to", DATE, "Last day (YYYY-MM-DD), inclusive, not before from." + DAYS),
            FORMAT,
        ],
        "responses": {"200": downloadable(ref("Scoreboard"), "The scoreboard."), **errors(400)},
    }


def _assessment_operation() -> dict:
    return {
        "operationId": "getAssessment",
        "tags": ["letters (staff)"],
        "summary": "Assessment scores per department (supervisors and operators)",
        "description": "See docs/ASSESSMENT.md. The period defaults to the year so far.",
        "security": [{"session": []}],
        "parameters": [
            query("from", DATE, "First day (YYYY-MM-DD), default 1 January." + DAYS),
            query("to", DATE, "Last day (YYYY-MM-DD), inclusive, default today, not before from." + DAYS),
            query("format", {"type": "string", "enum": ["json", "csv", "xlsx"]}, "Default json."),
        ],
        "responses": {
            "200": {
                "description": "The assessment; csv and xlsx come as attachments.",
                "content": {
                    "application/json": {"schema": ref("Assessment")},
                    "text/csv": {"schema": STRING},
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                        "schema": {"type": "string", "contentEncoding": "binary"}
                    },
                },
            },
            **errors(400, 403),
        },
    }
