"""Moderation's piece of the OpenAPI document (assembled in settings/openapi.py): the schemas of a
question as the public sees it and as its asker is told it was taken, and the one JSON route of
moderation's own, the 附议 counts. The routes that take and show questions describe themselves
beside their views (studio, archive) and refer to these."""

from __future__ import annotations

from core.openapi import DATE_TIME, INTEGER, READ_SECURITY, STRING, Schema, errors, json_response, obj, ref
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
        "SupportCounts": obj(
            {
                "counts": {
                    "type": "object",
                    "additionalProperties": {"type": "integer", "minimum": 1},
                    "description": "附议 count per question id, of the published questions not "
                    "withdrawn; a question nobody supported is left out (its count is 0).",
                },
                "mine": {
                    "type": "array",
                    "items": INTEGER,
                    "description": "The ids of those questions this browser supported "
                    "(empty for a browser without an identity).",
                },
                "identified": {
                    "type": "boolean",
                    "description": "Whether the request carried a netizen identity (its session or "
                    "`minxin_netizen` cookie); without one the answer is the same for everyone and "
                    "may be kept 2 s by a shared cache.",
                },
            }
        ),
    }


def parameters() -> dict[str, dict]:
    return {}


def paths() -> dict[str, dict]:
    return {
        "/api/broadcasts/{broadcast_id}/supports/": {
            "get": {
                "operationId": "getSupportCounts",
                "tags": ["broadcasts"],
                "summary": "附议 counts of the programme's questions, and which this browser supported",
                "description": "Read by the live page when it loads; later changes arrive in the "
                "`support` frames of /ws/live/. The counts may be up to a few seconds old, except "
                "that a support of this browser is counted at once. A request without a netizen "
                "identity gets the counts shared by everyone (`public, s-maxage=2`); the identity "
                "itself comes from GET /api/netizen/.",
                "security": READ_SECURITY,
                "parameters": [{"$ref": "#/components/parameters/BroadcastId"}],
                "responses": {
                    "200": json_response(ref("SupportCounts"), "The counts."),
                    **errors(404),
                },
            }
        }
    }
