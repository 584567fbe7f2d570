"""Generated hostile input for the WebSocket endpoints and the JSON API (hypothesis).

Whatever arrives, the answer is a documented error (or a normal answer to a valid request), the
connection stays open, nothing crashes, and nothing stored changes. The number of examples is
bounded for CI; `MINXIN_FUZZ_EXAMPLES=2000 python3.11 dev.py test tests/test_fuzz.py` runs longer.

The runs are deterministic (`derandomize=True`): the same examples on every run and machine, so
that CI fails on a change, never on a lucky draw (issue #13: a date overflow was found "only
sometimes"). `MINXIN_FUZZ_SEED=<n>` explores other examples locally. Every query parameter of
every endpoint also gets its boundaries explicitly (`BOUNDARIES`), on SQLite and PostgreSQL alike.
"""

import asyncio
import json
import os

import pytest
from django.conf import settings as django_settings
from hypothesis import HealthCheck, given, seed, settings
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
SEED = os.environ.get("MINXIN_FUZZ_SEED")
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=SEED is None,
    database=None,  # no examples carried over from earlier runs: the same run every time
)


def fuzz(test):
    """FUZZ, and with MINXIN_FUZZ_SEED a seeded (still reproducible) exploration instead."""
    return seed(int(SEED))(FUZZ(test)) if SEED is not None else FUZZ(test)


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
    st.integers(min_value=-100, max_value=100).map(  # about the frame limit, either side of it
        lambda n: json.dumps(
            {"type": "ask", "text": "问" * ((django_settings.MINXIN_MAX_FRAME_BYTES + n) // 3)},
            ensure_ascii=False,
        )
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
    """Send a batch of generated frames on one connection; check every answer, then that it still pongs.

    No quiet period is taken to mean "every answer is in": on a loaded machine the greeting (a few
    database round trips) or an answer can come later than any such wait, and was then read in place
    of the 4009 close of an oversized frame. Instead the wait is for something the server owes: it
    handles a connection's frames one after another, so the close comes after every answer to the
    frames before it, and the pong to a ping sent after the batch after every answer to the batch.
    """
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
        greeting = await socket.receive_json_from(timeout=5)
        assert greeting["type"] == ("hello" if path.startswith("/ws/live/") else "queue"), greeting
        pongs = 1  # owed for the ping after the batch, and one for every generated frame that is a ping
        for frame in batch:
            # Straight to the application: the communicator refuses empty frames, a client may not.
            key = "bytes" if isinstance(frame, bytes) else "text"
            await socket.send_input({"type": "websocket.receive", key: frame})
            size = len(frame) if isinstance(frame, bytes) else len(frame.encode("utf-8", "surrogatepass"))
            if size > django_settings.MINXIN_MAX_FRAME_BYTES and not isinstance(frame, bytes):
                while (output := await socket.receive_output(timeout=5))["type"] != "websocket.close":
                    _checked_answer(output)  # to an earlier frame
                assert output == {"type": "websocket.close", "code": 4009}
                return batch
            pongs += int(_is_ping(frame))
        await socket.send_json_to({"type": "ping"})
        while pongs:  # the connection is still serving, and has answered the whole batch
            pongs -= _checked_answer(await socket.receive_output(timeout=5))
    finally:
        await socket.disconnect()
    return batch


def _checked_answer(output: dict) -> bool:
    """Check one frame from the server (an answer or a push); whether it is a pong."""
    assert output["type"] == "websocket.send", output
    data = json.loads(output["text"])
    if data["type"] == "error":
        assert data["code"] in FRAME_CODES and data["message"], data
    return data["type"] == "pong"


def _is_ping(frame) -> bool:
    """Whether the server answers this generated frame with a pong (PROTOCOL.md §1: any JSON text
    object of type ping, on every endpoint)."""
    try:
        data = json.loads(frame) if isinstance(frame, str) else None
    except (ValueError, RecursionError):
        return False
    return isinstance(data, dict) and data.get("type") == "ping"


@fuzz
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


@fuzz
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


@fuzz
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


# --- query parameters ----------------------------------------------------------------------------

DATE_PARAMETERS = ("from", "to")
# Every query parameter of every endpoint that takes one, with the other parameters it needs to get
# that far (a search needs its words). `{id}` is a real programme, `{code}` a real letter.
QUERY_PARAMETERS = [
    ("/api/departments/", {}, ["kind", "all"]),
    ("/api/departments/scoreboard/", {}, ["from", "to", "format"]),
    ("/api/assessment/", {}, ["from", "to", "format"]),
    ("/api/search/", {"q": "公交"}, ["q", "department", "from", "to", "page"]),
    ("/api/stats/", {}, ["department", "format"]),
    ("/api/broadcasts/", {}, ["status", "department"]),
    ("/api/broadcasts/{id}/events/", {}, ["after", "limit"]),
    ("/api/broadcasts/{id}/transcript/", {}, ["format"]),
    ("/api/letters/", {}, ["department", "status"]),
    ("/api/letters/{code}/", {}, ["key"]),
    ("/letters/", {}, ["department", "page"]),
    ("/letters/scoreboard/", {}, ["from", "to"]),
    ("/letters/supervisor/", {}, ["from", "to"]),
    ("/search/", {"q": "公交"}, ["q", "department", "page"]),
]
BOUNDARIES = [
    "",
    " ",
    "0001-01-01",
    "9999-12-31",
    "1999-12-31",
    "2000-01-01",
    "2100-12-31",
    "2101-01-01",
    "2026-02-29",
    "2026-13-01",
    "2026-1-1",
    "20260101",
    "２０２６-０１-０１",
    "-1",
    "0",
    "1",
    "1000",
    "1001",
    "2147483647",
    "2147483648",
    "-9223372036854775809",
    "99999999999999999999999999999999",
    "1e3",
    "0x10",
    "NaN",
    "abc",
    "公交",
    "x" * 300,
    "%",
    "<script>",
]
# Sent as they are in the query string: a lone surrogate's UTF-8, bytes that are no UTF-8, a NUL.
RAW_BOUNDARIES = ["%ED%A0%80", "%FF%FE", "%00", "2026-01-01%00"]


def _world(personas) -> dict:
    from letters import services

    broadcast = make_broadcast("jtw", personas["host"], [personas["guest"]], status="ended")
    code, _key = services.submit(
        {"kind": "opinion", "subject": "站牌", "body": "站牌有误", "name": "王", "contact": "x"}
    )[0].values()
    return {"id": broadcast.pk, "code": code}


def _check(client, path: str, query: dict, raw: str = "") -> tuple[int, dict | None]:
    from urllib.parse import urlencode

    response = client.get(f"{path}?{urlencode(query)}{raw}")
    assert response.status_code < 500, (path, query, response.status_code)
    error = None
    if path.startswith("/api/") and response.status_code >= 400:
        assert response["Content-Type"].startswith("application/json"), (path, query)
        error = response.json()["error"]
        assert error["code"] in API_CODES and error["message"], (path, query, error)
    elif not path.startswith("/api/"):
        assert response.status_code in (200, 400), (path, query, response.status_code)
    return response.status_code, error


def _supervisor_client(personas):
    from django.test import Client

    client = Client()
    client.force_login(personas["supervisor"])  # sees the assessment and the supervisor page
    return client


def _stored() -> tuple:
    from letters.models import Letter, LetterLog
    from moderation.models import Question
    from studio.models import Event

    return (
        Letter.objects.count(),
        LetterLog.objects.count(),
        Question.objects.count(),
        Event.objects.count(),
    )


@pytest.mark.django_db
def test_every_query_parameter_at_its_boundaries_is_an_answer_or_a_400_never_a_500(personas):
    """Explicit cases for each parameter: min/max dates and beyond, year 1 and 9999, impossible
    dates, negative, huge and non-numbers, empty, text; then reversed periods."""
    world = _world(personas)
    client = _supervisor_client(personas)
    before = _stored()
    for template, base, names in QUERY_PARAMETERS:
        path = template.format(**world)
        for name in names:
            for value in BOUNDARIES:
                status, error = _check(client, path, {**base, name: value})
                if name in DATE_PARAMETERS and value in (
                    "0001-01-01",
                    "9999-12-31",
                    "1999-12-31",
                    "2101-01-01",
                ):
                    assert status == 400, (path, name, value)
                    if error is not None:
                        assert error == {**error, "code": "bad_request", "fields": {name: "out_of_range"}}
                if (name, value) in (("from", "2000-01-01"), ("to", "2100-12-31")):  # the bounds themselves
                    assert status == 200, (path, name, value)
                if name in ("after", "limit") and value in ("-1", "99999999999999999999999999999999", "abc"):
                    assert status == 400 and error is not None and name in error["fields"]
            for raw in RAW_BOUNDARIES:
                _check(client, path, base, f"&{name}={raw}")
        if "from" in names:
            for query in (
                {"from": "2026-06-30", "to": "2026-06-01"},
                {"from": "2100-12-31", "to": "2000-01-01"},
            ):
                status, error = _check(client, path, {**base, **query})
                assert status == 400, (path, query)
                if error is not None:
                    assert error["fields"] == {"to": "before_from"}
            status, _error = _check(client, path, {**base, "from": "2000-01-01", "to": "2100-12-31"})
            assert status == 200, path
    assert _stored() == before


query_values = st.one_of(
    st.sampled_from(BOUNDARIES),
    st.dates().map(lambda d: d.isoformat()),  # year 1 to 9999
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.text(st.characters(exclude_categories=["Cs"]), max_size=30),  # a URL cannot carry a lone surrogate
)
query_names = st.sampled_from(sorted({name for _path, _base, names in QUERY_PARAMETERS for name in names}))


@pytest.mark.django_db
@fuzz
@given(queries=st.lists(st.dictionaries(query_names, query_values, max_size=4), min_size=1, max_size=3))
def test_generated_query_strings_get_an_answer_or_a_400_never_a_500(queries, personas):
    world = _world(personas)
    client = _supervisor_client(personas)
    before = _stored()
    for query in queries:
        for template, base, _names in QUERY_PARAMETERS:
            _check(client, template.format(**world), {**base, **query})
    assert _stored() == before
