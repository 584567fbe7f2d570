"""Validation of frames against the frames' JSON Schema, per endpoint and direction.

Used by the client when validation is on (tests) and by the test suite's communicators; never on
the client's hot path otherwise. Needs the `jsonschema` package (the `validate` extra).

The schema ships inside the package (`frames.schema.json`), a byte-for-byte copy of the server's
docs/frames.schema.json, which stays the one source (tests/test_client_package.py compares them);
MINXIN_FRAMES_SCHEMA names another file to validate against (the server's suite points it at docs/).
"""

from __future__ import annotations

import json
import os
import re
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

SCHEMA_FILE = "frames.schema.json"  # package data of minxin_client
SCHEMA_ID = "urn:minxin:frames"
ENDPOINTS = ("live", "moderate", "studio")
DIRECTIONS = ("server", "client")
_PATH = re.compile(r"^/ws/(live|moderate|studio)/")


class FrameSchemaError(ValueError):
    """A frame that the schema does not allow on this endpoint in this direction."""

    def __init__(self, message: str, frame: object):
        super().__init__(message)
        self.frame = frame


def endpoint_of(path: str) -> str | None:
    """`/ws/live/7/?after=3` → "live"; None for a path that is not one of ours."""
    found = _PATH.match(path)
    return found.group(1) if found else None


@cache
def load_schema(path: Path | None = None) -> dict[str, Any]:
    """The schema shipped in the package, or the file `path` or MINXIN_FRAMES_SCHEMA names."""
    override = path or os.environ.get("MINXIN_FRAMES_SCHEMA")
    if override:
        with open(override, encoding="utf-8") as f:
            return json.load(f)
    return json.loads(files("minxin_client").joinpath(SCHEMA_FILE).read_text(encoding="utf-8"))


class FrameValidator:
    """Checks frames against `#/$defs/<endpoint>.<direction>` of the schema.

    The whole union decides validity; when a frame fails, the branch of its `type` gives the
    precise reason (a plain oneOf error would only say "not valid under any of the given schemas").
    """

    def __init__(self, schema: dict[str, Any] | None = None):
        try:
            from jsonschema import Draft202012Validator
            from referencing import Registry, Resource
        except ImportError as error:
            raise ImportError(
                "frame validation needs jsonschema: pip install 'minxin-client[validate]' "
                "(or leave validate and MINXIN_CLIENT_VALIDATE off)"
            ) from error

        self.schema = schema if schema is not None else load_schema()
        registry: Registry = Registry().with_resource(SCHEMA_ID, Resource.from_contents(self.schema))

        def validator(pointer: str) -> Draft202012Validator:
            return Draft202012Validator({"$ref": f"{SCHEMA_ID}#/$defs/{pointer}"}, registry=registry)

        defs = self.schema["$defs"]
        self.counts: dict[str, int] = {}  # valid frames seen, per "<endpoint>.<direction>"
        self.unions = {}
        self.branches: dict[str, dict[str, Any]] = {}
        for endpoint in ENDPOINTS:
            for direction in DIRECTIONS:
                name = f"{endpoint}.{direction}"
                self.unions[name] = validator(name)
                self.branches[name] = {}
                for branch in defs[name]["oneOf"]:
                    def_name = branch["$ref"].rsplit("/", 1)[1]
                    frame_type = defs[def_name]["properties"]["type"]["const"]
                    self.branches[name][frame_type] = validator(def_name)

    def types(self, endpoint: str, direction: str) -> set[str]:
        """The frame types the schema allows on this endpoint in this direction."""
        return set(self.branches[f"{endpoint}.{direction}"])

    def validate(self, frame: object, endpoint: str, direction: str = "server") -> None:
        """Raise FrameSchemaError naming the reason when `frame` is not valid here."""
        from jsonschema.exceptions import best_match

        name = f"{endpoint}.{direction}"
        if self.unions[name].is_valid(frame):
            self.counts[name] = self.counts.get(name, 0) + 1
            return
        shown = json.dumps(frame, ensure_ascii=False)[:2000]
        kind = frame.get("type") if isinstance(frame, dict) else None
        branch = self.branches[name].get(kind) if isinstance(kind, str) else None
        if branch is None:
            allowed = ", ".join(sorted(self.branches[name]))
            reason = f"type {kind!r} is not a {direction} frame of /ws/{endpoint}/ (allowed: {allowed})"
        else:
            error = best_match(branch.iter_errors(frame))
            where = "/".join(str(p) for p in error.absolute_path) if error is not None else ""
            reason = f"{error.message if error is not None else 'invalid'} (at /{where})"
        raise FrameSchemaError(
            f"{direction} frame not valid for /ws/{endpoint}/: {reason}; frame: {shown}", frame
        )


@cache
def default_validator() -> FrameValidator:
    return FrameValidator()
