"""The OpenAPI 3.1 description of the HTTP JSON API (PROTOCOL.md §2 and §4), served at /api/schema/.

Assembled here, beside the URL tables, from one piece per app that sits beside the app's views
(`departments/openapi.py`, `studio/openapi.py`, `moderation/openapi.py`, `archive/openapi.py`,
`letters/openapi.py`, `letters/openapi_units.py`: each has `schemas()`, `parameters()` and
`paths()`) and the building blocks they share (`core/openapi.py`: constructors, common schemas, the
error body and responses, security).

The document is built in Python rather than kept as a YAML file, so that it cannot drift from the
code on the points that drift most: every enum (statuses, kinds, ratings, lights, department kinds,
error codes and the HTTP status of each) and the cookie names are read from the models and settings
themselves, and the shapes used by several endpoints (the error body, a letter, a broadcast) are
written once. Every operation has a stable `operationId` (clients generated from the document are
named after them: never rename one). tests/test_openapi.py checks that every route of the `api` URL
list is described, that the operationIds are unique, and runs schemathesis' generated requests
against the real application.
"""

from __future__ import annotations

import json
from functools import cache
from types import ModuleType

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

import archive.openapi
import core.openapi
import departments.openapi
import letters.openapi
import letters.openapi_reports
import letters.openapi_scores
import letters.openapi_units
import moderation.openapi
import studio.openapi
from core.openapi import READ_SECURITY, error_ref, json_response

OPENAPI_VERSION = "3.1.0"

PIECES: tuple[ModuleType, ...] = (
    departments.openapi,
    studio.openapi,
    moderation.openapi,
    archive.openapi,
    letters.openapi,
    letters.openapi_scores,
    letters.openapi_reports,
    letters.openapi_units,
)

INFO = {
    "title": "Minxin 民心线 HTTP API",
    "version": "1",
    "description": "The JSON API of docs/PROTOCOL.md §2 and §4. Times are ISO 8601 with offset; ids "
    'are integers. Errors are `{"error": {"code", "message", "fields"}}`; an unexpected server '
    "error is 500 with code `internal`. Reading needs no "
    "login; staff steps need Django's session, and every unsafe request that carries the session "
    "cookie or a netizen's identity cookie (`minxin_netizen`) must send the CSRF cookie's value as "
    "`X-CSRFToken`. The WebSocket endpoints "
    "(PROTOCOL.md §1) are not described here.",
}

TAGS = [
    {"name": "broadcasts", "description": "The live programme 走进直播间"},
    {"name": "archive", "description": "Transcripts, search and statistics"},
    {"name": "letters", "description": "The letter module 留言板, netizen side"},
    {"name": "letters (staff)", "description": "Letter steps by role and department"},
    {"name": "departments", "description": "The department registry"},
    {"name": "meta", "description": "This document"},
]

SCHEMA_PATH = "/api/schema/"


def _meta_paths() -> dict[str, dict]:
    """This document's own route (settings/urls.py serves it)."""
    return {
        SCHEMA_PATH: {
            "get": {
                "operationId": "getOpenApiDocument",
                "tags": ["meta"],
                "summary": "This document",
                "security": READ_SECURITY,
                "responses": {"200": json_response({"type": "object"}, "The OpenAPI document.")},
            }
        }
    }


def _merge(parts: list[dict], what: str) -> dict:
    """One dict from the pieces' dicts; two pieces describing the same key is a mistake."""
    merged: dict = {}
    for part in parts:
        clash = merged.keys() & part.keys()
        if clash:
            raise ValueError(f"OpenAPI {what} described by two pieces: {sorted(clash)}")
        merged.update(part)
    return merged


@cache
def document() -> dict:
    """The whole OpenAPI document (built once per process: everything in it is fixed at start-up)."""
    paths = _merge([_meta_paths(), *(piece.paths() for piece in PIECES)], "paths")
    for path, operations in paths.items():
        if path != SCHEMA_PATH:  # every route but this document's reads or writes the database
            for operation in operations.values():
                operation["responses"]["503"] = error_ref(503)
    components = {
        "schemas": _merge([core.openapi.schemas(), *(piece.schemas() for piece in PIECES)], "schemas"),
        "responses": core.openapi.responses(),
        "securitySchemes": core.openapi.security_schemes(),
        "parameters": _merge([piece.parameters() for piece in PIECES], "parameters"),
    }
    return {
        "openapi": OPENAPI_VERSION,
        "info": INFO,
        "servers": [{"url": "/"}],
        "tags": TAGS,
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
