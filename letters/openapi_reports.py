"""The stored reports' piece of the OpenAPI document (letters/report_views.py, docs/REPORTS.md);
assembled in settings/openapi.py beside letters/openapi.py."""

from __future__ import annotations

from core.openapi import (
    DATE,
    DATE_TIME,
    INTEGER,
    STAFF_SECURITY,
    STRING,
    Schema,
    body,
    errors,
    json_response,
    obj,
    path_param,
    query,
    ref,
)
from letters.models import Report

KINDS = {"type": "string", "enum": Report.Kind.values}


def schemas() -> dict[str, Schema]:
    summary = {
        "id": INTEGER,
        "kind": KINDS,
        "title": {"type": "string", "description": "In the request's language: “2026 年上半年通报”."},
        "from": DATE,
        "to": {**DATE, "description": "The period's last day, included."},
        "produced_at": DATE_TIME,
        "by_clock": {"type": "boolean"},
        "ranked": {"type": "integer", "minimum": 0, "description": "How many units have a rank."},
    }
    notice = obj(
        {
            "id": INTEGER,
            "department": STRING,
            "rank": {"type": ["integer", "null"], "minimum": 1},
            "ranked": INTEGER,
            "read_at": {"type": ["string", "null"], "format": "date-time"},
        }
    )
    return {
        "ReportSummary": obj({**summary, "notice": notice}, required=list(summary)),
        "Report": obj(
            {
                **summary,
                "columns": {"type": "array", "items": obj({"key": STRING, "label": STRING})},
                "departments": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "description": "The assessment's row as produced (see Assessment), with its rank.",
                        "properties": {
                            "department": ref("DepartmentName"),
                            "rank": {"type": ["integer", "null"], "minimum": 1},
                        },
                        "required": ["department", "rank"],
                    },
                },
            }
        ),
    }


def parameters() -> dict[str, dict]:
    return {}


def paths() -> dict[str, dict]:
    return {
        "/api/reports/": {"get": _list(), "post": _produce()},
        "/api/reports/{report_id}/": {"get": _detail()},
    }


def _list() -> dict:
    return {
        "operationId": "listReports",
        "tags": ["letters (staff)"],
        "summary": "The stored reports (supervisors), or those sent to the user's unit with its notice",
        "description": "A unit's reports go to its coordinators, else its handlers (docs/REPORTS.md).",
        "security": [{"session": []}],
        "responses": {
            "200": json_response(
                obj({"reports": {"type": "array", "items": ref("ReportSummary")}}), "The reports."
            ),
            **errors(403),
        },
    }


def _produce() -> dict:
    return {
        "operationId": "produceReport",
        "tags": ["letters (staff)"],
        "summary": "Produce a report and send it to the units (supervisors)",
        "description": "A custom period, or a scheduled kind of a year; a scheduled kind's period that "
        "exists already answers 200 with that report.",
        "security": STAFF_SECURITY,
        "requestBody": body(
            obj(
                {
                    "kind": KINDS,
                    "from": {**DATE, "description": "custom: the first day."},
                    "to": {**DATE, "description": "custom: the last day, not before from."},
                    "year": {
                        "type": "integer",
                        "minimum": 2000,
                        "maximum": 2100,
                        "description": "half_year, year_end.",
                    },
                },
                required=["kind"],
            ),
            "What to produce.",
        ),
        "responses": {
            "201": json_response(ref("Report"), "Produced and sent."),
            "200": json_response(ref("Report"), "Produced before: the same report."),
            **errors(400, 403, 413),
        },
    }


def _detail() -> dict:
    return {
        "operationId": "getReport",
        "tags": ["letters (staff)"],
        "summary": "One report; ?format=csv|md|xlsx downloads it",
        "security": [{"session": []}],
        "parameters": [
            path_param("report_id", {"type": "integer", "minimum": 0}, "The report's id."),
            query("format", {"type": "string", "enum": ["json", "csv", "md", "xlsx"]}, "Download as a file."),
        ],
        "responses": {
            "200": {
                "description": "The report; with ?format= as an attachment.",
                "content": {
                    "application/json": {"schema": ref("Report")},
                    "text/csv": {"schema": STRING},
                    "text/markdown": {"schema": STRING},
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                        "schema": {"type": "string", "contentEncoding": "binary"}
                    },
                },
            },
            **errors(400, 403, 404),
        },
    }
