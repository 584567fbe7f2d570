"""The registry's piece of the OpenAPI document (assembled in settings/openapi.py): GET /api/departments/
(departments/views.py) and the department schemas the other pieces refer to."""

from __future__ import annotations

from core.openapi import READ_SECURITY, STRING, Schema, errors, json_response, nullable, obj, query, ref
from departments.models import DepartmentKind, LetterKind, TimeUnit


def _limit() -> Schema:
    return obj(
        {
            "limit": {"type": "integer", "minimum": 1},
            "unit": {"type": "string", "enum": TimeUnit.values},
        }
    )


def schemas() -> dict[str, Schema]:
    return {
        "Department": obj(
            {
                "code": STRING,
                "name": STRING,
                "short_name": STRING,
                "kind": {"type": "string", "enum": DepartmentKind.values},
                "active": {"type": "boolean"},
            }
        ),
        "DepartmentName": obj({"code": STRING, "name": STRING}),
        "TimeLimit": obj(
            {
                "sign": _limit(),
                "reply": _limit(),
                "yellow_share": {"type": "string", "pattern": r"^[0-9]+/[0-9]+$"},
            }
        ),
        "RegistryDepartment": {
            "allOf": [
                ref("Department"),
                obj(
                    {
                        "time_limits": {
                            "type": "object",
                            "description": "Per kind of letter (the department's own limit, else the default).",
                            "propertyNames": {"enum": LetterKind.values},
                            "additionalProperties": nullable(ref("TimeLimit")),
                        },
                        "divisions": {
                            "type": "array",
                            "description": "The unit's divisions (业务处室), to assign its letters to; "
                            "empty for a unit whose handlers handle them all.",
                            "items": obj({"code": STRING, "name": STRING}),
                        },
                    }
                ),
            ]
        },
    }


def paths() -> dict[str, dict]:
    return {
        "/api/departments/": {
            "get": {
                "operationId": "listDepartments",
                "tags": ["departments"],
                "summary": "The department registry with each department's letter time limits",
                "security": READ_SECURITY,
                "parameters": [
                    query(
                        "kind",
                        {"type": "string", "enum": DepartmentKind.values},
                        "Only departments of this kind.",
                    ),
                    query("all", {"type": "string", "enum": ["1"]}, "`1`: inactive departments too."),
                ],
                "responses": {
                    "200": json_response(
                        obj({"departments": {"type": "array", "items": ref("RegistryDepartment")}}),
                        "The registry, in display order.",
                    ),
                    **errors(400),
                },
            }
        },
    }


def parameters() -> dict[str, dict]:
    return {}
