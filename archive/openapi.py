"""The archive's piece of the OpenAPI document (assembled in settings/openapi.py): search, statistics,
transcripts and a session's own questions (archive/views.py), and their schemas."""

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
    json_response,
    nullable,
    obj,
    query,
    ref,
)
from letters.models import LetterStatus
from moderation.models import QuestionStatus
from studio.models import BroadcastStatus

BROADCAST_ID = {"$ref": "#/components/parameters/BroadcastId"}


def schemas() -> dict[str, Schema]:
    return {
        **_transcript_schemas(),
        "MyQuestion": obj(
            {
                "question_id": INTEGER,
                "status": {"type": "string", "enum": QuestionStatus.values},
                "text": STRING,
                "reason": STRING,
                "letter": obj(
                    {
                        "code": STRING,
                        "status": {"type": "string", "enum": LetterStatus.values},
                        "department": {"type": ["string", "null"]},
                        "reply": {"type": ["string", "null"]},
                    }
                ),
            },
            required=["question_id", "status", "text", "reason"],
        ),
        "SearchResult": obj(
            {
                "query": STRING,
                "words": {"type": "array", "items": STRING},
                "results": {
                    "type": "array",
                    "items": obj(
                        {
                            "broadcast": obj({"id": INTEGER, "number": INTEGER, "title": STRING}),
                            "department": ref("DepartmentName"),
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
                "letters": {
                    "type": "array",
                    "description": "Public letters with a reply; personal data masked (docs/SEARCH.md).",
                    "items": obj(
                        {
                            "code": STRING,
                            "kind": STRING,
                            "subject": STRING,
                            "department": nullable(ref("DepartmentName")),
                            "at": DATE_TIME,
                            "snippet": {
                                "type": "string",
                                "description": "Escaped HTML; matched words in <mark>.",
                            },
                        }
                    ),
                },
                "page": INTEGER,
                "more": {"type": "boolean", "description": "Either list goes on on the next page."},
            }
        ),
        "HotTopic": obj({"term": STRING, "count": INTEGER, "score": {"type": "number"}}),
        "Stats": _stats(),
    }


def _transcript_schemas() -> dict[str, Schema]:
    def item(kind: str, **fields: Schema) -> Schema:
        return obj({"type": {"const": kind}, "seq": INTEGER, "at": DATE_TIME, **fields})

    return {
        "TranscriptAnswer": {
            "allOf": [ref("Answer"), obj({"seq": INTEGER, "at": DATE_TIME})],
        },
        "TranscriptItem": {
            "oneOf": [
                item(
                    "question",
                    question=ref("PublicQuestion"),
                    answers={"type": "array", "items": ref("TranscriptAnswer")},
                ),
                item("statement", answer=ref("TranscriptAnswer")),
                item("host", message=obj({"id": INTEGER, "text": STRING, "author": STRING})),
            ]
        },
        "Transcript": obj(
            {
                "broadcast": obj(
                    {
                        "id": INTEGER,
                        "number": INTEGER,
                        "title": STRING,
                        "department": {"type": "string", "description": "The department's name."},
                        "starts_at": DATE_TIME,
                        "status": {"type": "string", "enum": BroadcastStatus.values},
                        "guests": {"type": "array", "items": ref("Guest")},
                    }
                ),
                "items": {"type": "array", "items": ref("TranscriptItem")},
            }
        ),
    }


def _stats() -> Schema:
    return obj(
        {
            "department": {"type": ["string", "null"]},
            "broadcasts": INTEGER,
            "departments": INTEGER,
            "guests": INTEGER,
            "participants": INTEGER,
            "questions_asked": INTEGER,
            "questions_answered": INTEGER,
            "letters": obj(
                {
                    "received": INTEGER,
                    "phone": {**INTEGER, "description": "Of which taken by phone."},
                    "replied": INTEGER,
                    "rated": INTEGER,
                    "satisfied": INTEGER,
                    "daily_average": {"type": "number"},
                    "reply_rate": RATE,
                    "satisfaction_rate": {
                        **RATE,
                        "description": "Satisfied ÷ rated (the seed's 4,506 ÷ 6,773 = 66.5%).",
                    },
                    "closed": {**INTEGER, "description": "Closed, with a rating or without (未评价办结)."},
                    "closed_unrated": {
                        **INTEGER,
                        "description": "Closed by the clock: replied and not rated within "
                        "MINXIN_UNRATED_CLOSE_WORKDAYS working days.",
                    },
                    "closure_rate": {**RATE, "description": "办结率: closed ÷ received."},
                    "thanks": {
                        **INTEGER,
                        "description": "Thank-you letters (感谢信), not counted among the letters received.",
                    },
                }
            ),
            "hot_topics": {
                **obj(
                    {
                        "week": {"type": "array", "items": ref("HotTopic")},
                        "month": {"type": "array", "items": ref("HotTopic")},
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
    )


def parameters() -> dict[str, dict]:
    return {}


def paths() -> dict[str, dict]:
    return {
        "/api/search/": {
            "get": {
                "operationId": "searchTranscripts",
                "tags": ["archive"],
                "summary": "Search every transcript and the public letters (Chinese text; docs/SEARCH.md)",
                "security": READ_SECURITY,
                "parameters": [
                    query(
                        "q",
                        {"type": "string", "minLength": 1, "maxLength": 100},
                        "Words to find (1–100 characters after trimming).",
                        required=True,
                    ),
                    query("department", STRING, "A department code."),
                    query("from", DATE, "First day (YYYY-MM-DD)." + DAYS),
                    query("to", DATE, "Last day (YYYY-MM-DD), inclusive, not before from." + DAYS),
                    query(
                        "page",
                        {"type": "integer", "minimum": 1, "maximum": 50, "default": 1},
                        "Page of both lists: 50 transcript entries and 20 letters a page.",
                    ),
                ],
                "responses": {
                    "200": json_response(ref("SearchResult"), "Matches, best first."),
                    **errors(400),
                },
            }
        },
        "/api/stats/": {
            "get": {
                "operationId": "getStats",
                "tags": ["archive"],
                "summary": "Figures of programmes held and letters (cached up to two minutes)",
                "security": READ_SECURITY,
                "parameters": [query("department", STRING, "A department code: its figures only."), FORMAT],
                "responses": {"200": downloadable(ref("Stats"), "The figures."), **errors(400)},
            }
        },
        "/api/broadcasts/{broadcast_id}/my-questions/": {
            "get": {
                "operationId": "listMyQuestions",
                "tags": ["broadcasts"],
                "summary": "This browser's questions in the programme, with their statuses",
                "description": "Empty for a browser without a netizen identity (its session or "
                "`minxin_netizen` cookie) and for a programme that does not exist.",
                "security": READ_SECURITY,
                "parameters": [BROADCAST_ID],
                "responses": {
                    "200": json_response(
                        obj({"questions": {"type": "array", "items": ref("MyQuestion")}}),
                        "The questions.",
                    ),
                },
            }
        },
        "/api/broadcasts/{broadcast_id}/transcript/": {
            "get": {
                "operationId": "getTranscript",
                "tags": ["archive"],
                "summary": "Question–answer pairs and host messages in order (withdrawn events left out)",
                "security": READ_SECURITY,
                "parameters": [BROADCAST_ID, FORMAT],
                "responses": {
                    "200": downloadable(ref("Transcript"), "The transcript."),
                    **errors(400, 404),
                },
            }
        },
    }
