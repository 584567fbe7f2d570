"""Generated hostile input for the WebSocket endpoints and the JSON API (hypothesis).

Whatever arrives, the answer is a documented error (or a normal answer to a valid request), the
connection stays open, nothing crashes, and nothing stored changes. The number of examples is
bounded for CI; `MINXIN_FUZZ_EXAMPLES=2000 python3.11 dev.py test tests/test_fuzz.py` runs longer.
"""

import asyncio
import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import make_broadcast

pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLES = int(os.environ.get("MINXIN_FUZZ_EXAMPLES", "25"))
FRAME_CODES = {
    "bad_json",
    "bad_frame",
    "too_long",
    "empty",
    "rate_limited",
    "forbidden",
    "not_found",
    "closed",
    "conflict",
    "blocked_content",
}
API_CODES = FRAME_CODES | {"bad_request"}
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
types = st.sampled_from(
    [
        "ask",
        "answer",
        "ping",
        "approve",
        "reject",
        "merge",
        "edit",
        "withdraw",
        "start",
        "end",
        "host.message",
        "support",
        "",
        "ASK",
        "event",
    ]
)
fields = st.sampled_from(
    ["client_id", "text", "nickname", "question_id", "action_id", "publish", "into", "reason", "seq", "type"]
)
frames = st.one_of(
    st.dictionaries(fields, json_values, max_size=6).flatmap(
        lambda d: types.map(lambda t: json.dumps({"type": t, **d}, ensure_ascii=False))
    ),
    json_values.map(json.dumps),
    st.text(max_size=300),  # not JSON at all, control characters and lone surrogates included
    st.integers(min_value=8150, max_value=8250).map(
        lambda n: json.dumps({"type": "ask", "text": "问" * (n // 3)})
    ),
    st.binary(max_size=64),
)


def stored(broadcast_id: int) -> tuple:
    from moderation.models import Question
    from studio.models import Answer, Broadcast, Event

    return (
        Question.objects.filter(broadcast_id=broadcast_id).exclude(status="pending").count(),
        Answer.objects.filter(broadcast_id=broadcast_id).count(),
        Event.objects.filter(broadcast_id=broadcast_id).count(),
        Broadcast.objects.get(pk=broadcast_id).status,
    )


async def exchange(path: str, user, batch: list) -> list:
    """Send a batch of generated frames on one connection; check every answer, then that it still pongs."""
    from channels.testing import WebsocketCommunicator

    from asgi import application
    from tests.conftest import HOST, ORIGIN, session_cookie

    headers = [ORIGIN, HOST]
    if user is not None:
        from channels.db import database_sync_to_async

        headers.append((b"cookie", await database_sync_to_async(session_cookie)(user)))
    socket = WebsocketCommunicator(application, path, headers=headers)
    assert (await socket.connect(timeout=5))[0]
    try:
        while not await socket.receive_nothing(timeout=0.2):  # hello / queue
            await socket.receive_output(timeout=1)
        for frame in batch:
            # Straight to the application: the communicator refuses empty frames, a client may not.
            key = "bytes" if isinstance(frame, bytes) else "text"
            await socket.send_input({"type": "websocket.receive", key: frame})
            size = len(frame) if isinstance(frame, bytes) else len(frame.encode("utf-8", "surrogatepass"))
            if size > 8192 and not isinstance(frame, bytes):
                closed = await socket.receive_output(timeout=5)
                assert closed == {"type": "websocket.close", "code": 4009}
                return batch
            while not await socket.receive_nothing(timeout=0.05):
                answer = await socket.receive_output(timeout=2)
                assert answer["type"] == "websocket.send", answer
                data = json.loads(answer["text"])
                if data["type"] == "error":
                    assert data["code"] in FRAME_CODES and data["message"]
        await socket.send_json_to({"type": "ping"})
        while True:  # the connection is still serving
            if (await socket.receive_json_from(timeout=5))["type"] == "pong":
                break
    finally:
        await socket.disconnect()
    return batch


@FUZZ
@given(batch=st.lists(frames, min_size=1, max_size=12))
def test_generated_frames_get_documented_errors_and_change_nothing_on_the_staff_endpoints(batch, personas):
    broadcast = make_broadcast("jtw", personas["host"], [personas["guest"]], status="live")
    before = stored(broadcast.pk)
    for path, user in [
        (f"/ws/moderate/{broadcast.pk}/", personas["moderator"]),
        (f"/ws/studio/{broadcast.pk}/", personas["guest"]),
    ]:
        # Generated frames never name real questions or events with valid shapes often enough to
        # act; when they do act validly, that is not an error — so compare only what needs ids.
        asyncio.run(exchange(path, user, [f for f in batch if not _acts(f)]))
    assert stored(broadcast.pk) == before


def _acts(frame) -> bool:
    """A generated frame that would be a valid, state-changing staff request (kept out of the batch)."""
    try:
        data = json.loads(frame)
    except (TypeError, ValueError):
        return False
    return (
        isinstance(data, dict)
        and isinstance(data.get("type"), str)
        and data["type"] in {"start", "end", "answer", "host.message"}
        and all(isinstance(data.get(k), str) for k in ("client_id", "action_id", "text") if k in data)
    )


@FUZZ
@given(batch=st.lists(frames, min_size=1, max_size=12))
def test_generated_frames_never_break_the_live_endpoint(batch, personas):
    broadcast = make_broadcast("jtw", personas["host"], [personas["guest"]], status="live")
    before = stored(broadcast.pk)
    asyncio.run(exchange(f"/ws/live/{broadcast.pk}/", None, batch))
    # Asks may store pending questions (that is their job); nothing else may change.
    assert stored(broadcast.pk) == before


bodies = st.one_of(
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200),  # invalid UTF-8 included
    st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.just(b"[" * 5000 + b"]" * 5000),  # deep nesting
    st.integers(min_value=65_000, max_value=66_000).map(lambda n: b'{"text": "' + b"a" * n + b'"}'),
)
endpoints = st.sampled_from(
    ["/api/letters/", "/api/broadcasts/{id}/questions/", "/api/letters/NOPE/evaluation/"]
)


@FUZZ
@given(body=bodies, endpoint=endpoints)
def test_generated_json_bodies_get_json_errors_never_a_500(body, endpoint, personas):
    from django.test import Client

    from letters.models import Letter

    broadcast = make_broadcast("jtw", personas["host"], [personas["guest"]], status="live")
    letters_before = Letter.objects.count()
    response = Client().post(endpoint.format(id=broadcast.pk), body, content_type="application/json")
    assert response.status_code < 500
    if response.status_code >= 400:
        assert response.json()["error"]["code"] in API_CODES
    else:  # a generated body happened to be a valid letter or question: it was stored once
        assert response.status_code in (200, 201)
    if response.status_code >= 400 and endpoint == "/api/letters/":
        assert Letter.objects.count() == letters_before
