"""Moderation's piece of the OpenAPI document (assembled in settings/openapi.py): the schemas of a
question as the public sees it and as its asker is told it was taken. Moderation serves no JSON API
of its own (its console and audit export are pages), so it has no paths; the routes that take and
show questions describe themselves beside their views (studio, archive) and refer to these."""

from __future__ import annotations

from core.openapi import DATE_TIME, INTEGER, STRING, Schema, obj
from moderation.models import QuestionStatus


def schemas() -> dict[str, Schema]:
    return {
        "PublicQuestion": obj({"id": INTEGER, "text": STRING, "nickname": STRING, "asked_at": DATE_TIME}),
        "AskResult": obj(
            {
                "question_id": INTEGER,
                "status": {"type": "string", "enum": QuestionStatus.values},
                "ref": {"type": "string", "description": "The client_id."},
            }
        ),
    }


def parameters() -> dict[str, dict]:
    return {}


def paths() -> dict[str, dict]:
    return {}
