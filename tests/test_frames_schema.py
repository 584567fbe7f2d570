"""docs/frames.schema.json: a valid Draft 2020-12 schema that names every frame the server code can
send and accept. (That every frame the suite receives validates against it is checked by
conftest.py on every WebSocket communicator, and by minxin_client in tests/test_client.py and
tests/test_faults.py.)
"""

import re
import uuid
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from minxin_client.schema import FrameValidator, load_schema

ROOT = Path(__file__).resolve().parent.parent
SERVER_SOURCES = ["studio", "moderation"]
# `"type": "staff.push"` names a channel-layer message to the staff consumers, not a frame.
NOT_FRAMES = {"staff.push"}
FRAME_TYPE = re.compile(r"""["']type["']\s*:\s*["']([\w.]+)["']""")


def types_in_source() -> set[str]:
    found = set()
    for folder in SERVER_SOURCES:
        for path in (ROOT / folder).rglob("*.py"):
            # openapi.py holds JSON Schema ("type": "string"), not frames.
            if "migrations" not in path.parts and path.name != "openapi.py":
                found |= set(FRAME_TYPE.findall(path.read_text(encoding="utf-8")))
    return found - NOT_FRAMES


def test_the_schema_is_a_valid_draft_2020_12_schema():
    Draft202012Validator.check_schema(load_schema())


def test_every_frame_type_the_server_code_sends_is_in_the_schema_and_nothing_else():
    validator = FrameValidator()
    in_schema = set().union(*(validator.types(e, "server") for e in ("live", "moderate", "studio")))
    source = types_in_source()
    assert source, "the grep found no frame types: the pattern no longer matches the code"
    assert source == in_schema, (
        f"only in the code: {source - in_schema}; only in the schema: {in_schema - source}"
    )


def test_event_kinds_and_error_codes_match_the_server():
    from core.errors import HTTP_ONLY, MESSAGES
    from studio.models import EventKind

    defs = load_schema()["$defs"]
    assert set(defs["event"]["properties"]["kind"]["enum"]) == set(EventKind.values)
    assert set(defs["error"]["properties"]["code"]["enum"]) == set(MESSAGES) - HTTP_ONLY


def test_each_endpoint_accepts_exactly_the_client_frames_the_schema_names():
    from moderation.consumers import ModerateConsumer
    from studio.consumers import LiveConsumer, StudioConsumer

    validator = FrameValidator()
    for endpoint, consumer in (
        ("live", LiveConsumer),
        ("moderate", ModerateConsumer),
        ("studio", StudioConsumer),
    ):
        assert validator.types(endpoint, "client") == set(consumer.frames), endpoint
        for kind, fields in consumer.frames.items():  # what the server requires, the schema requires
            required = set(load_schema()["$defs"][_def_of(endpoint, kind)].get("required", []))
            assert set(fields) | {"type"} <= required, (endpoint, kind)


def _def_of(endpoint: str, kind: str) -> str:
    schema = load_schema()
    for branch in schema["$defs"][f"{endpoint}.client"]["oneOf"]:
        name = branch["$ref"].rsplit("/", 1)[1]
        if schema["$defs"][name]["properties"]["type"]["const"] == kind:
            return name
    raise KeyError(kind)


@pytest.mark.parametrize(
    ("endpoint", "frame", "valid"),
    [
        ("live", {"type": "presence", "online": 3}, True),
        ("moderate", {"type": "presence", "online": 3}, False),  # a viewers-only frame
        ("live", {"type": "error", "code": "rate_limited", "message": "稍后", "retry_after": 3}, True),
        ("live", {"type": "error", "code": "rate_limited", "message": "稍后"}, False),
        ("live", {"type": "my_question", "question_id": 9, "status": "merged", "merged_into": 8}, True),
        ("live", {"type": "my_question", "question_id": 9, "status": "merged"}, False),
        ("studio", {"type": "support", "counts": {"991": 12}}, True),
        ("studio", {"type": "support", "counts": {"x": 12}}, False),
    ],
)
def test_the_schema_tells_endpoints_and_conditional_fields_apart(endpoint, frame, valid):
    from minxin_client.schema import FrameSchemaError

    validator = FrameValidator()
    if valid:
        validator.validate(frame, endpoint)
    else:
        with pytest.raises(FrameSchemaError):
            validator.validate(frame, endpoint)


@pytest.mark.django_db(transaction=True)
async def test_an_edit_tells_the_netizen_only_statuses_the_protocol_names(sockets, live_broadcast, personas):
    from tests.test_moderation import act, ask_over_socket, open_console, open_viewer

    netizen = await open_viewer(sockets, live_broadcast.pk)
    question_id = await ask_over_socket(netizen)
    console, _queue = await open_console(sockets, live_broadcast.pk, personas["moderator"])
    edit = {
        "type": "edit",
        "action_id": uuid.uuid4().hex,
        "question_id": question_id,
        "text": "地铁末班车何时延后？",
    }
    assert (await act(console, edit))["type"] == "ack"
    # An edit changes no status, so the netizen is told nothing; the next decision is told as usual.
    assert await netizen.receive_nothing(timeout=1)
    approve = {"type": "approve", "action_id": uuid.uuid4().hex, "question_id": question_id}
    assert (await act(console, approve))["type"] == "ack"
    told = await netizen.receive_json_from(timeout=3)
    assert (told["type"], told["question_id"], told["status"]) == ("my_question", question_id, "approved")
