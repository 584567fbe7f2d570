"""Structured logs (core/logs.py): request and connection ids on every line, JSON one object a
line, nothing secret written."""

import io
import json
import logging
import re

import pytest
from django.http import HttpResponse
from django.test import AsyncClient, Client
from django.urls import path

from core.logs import JsonFormatter, TextFormatter, bind, logging_config, reset
from core.netizens import session_netizen_key

from .conftest import session_cookie

SANE = re.compile(r"[A-Za-z0-9._-]{1,64}")
view_log = logging.getLogger("tests.view")


def logging_view(request):
    view_log.info("inside the view")
    return HttpResponse("ok")


def failing_view(request):
    view_log.warning("about to fail")
    raise RuntimeError("boom")


urlpatterns = [path("logged/", logging_view), path("fails/", failing_view)]


class Captured:
    """Every record that reaches the root logger, formatted as production formats it."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    @property
    def lines(self) -> list[dict]:
        return [json.loads(line) for line in self.text.splitlines()]

    def where(self, **fields) -> list[dict]:
        return [line for line in self.lines if all(line.get(k) == v for k, v in fields.items())]


@pytest.fixture
def captured():
    import asgi  # noqa: F401 — its django.setup() configures logging afresh, dropping added handlers

    captured = Captured()
    handler = logging.StreamHandler(captured.stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield captured
    root.removeHandler(handler)
    root.setLevel(old_level)


# --- HTTP ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_requests_lines_carry_its_id_and_the_response_echoes_it(settings, captured):
    settings.ROOT_URLCONF = __name__
    response = Client().get("/logged/", headers={"X-Request-ID": "lb-7f3a.2_x"})
    assert response["X-Request-ID"] == "lb-7f3a.2_x"
    assert [line["request_id"] for line in captured.where(message="inside the view")] == ["lb-7f3a.2_x"]
    # Without a header the id is made up, and still echoed and logged.
    response = Client().get("/logged/")
    made_up = response["X-Request-ID"]
    assert SANE.fullmatch(made_up) and made_up != "lb-7f3a.2_x"
    assert [line["request_id"] for line in captured.where(message="inside the view")] == [
        "lb-7f3a.2_x",
        made_up,
    ]


@pytest.mark.django_db
def test_every_request_gets_one_access_line_without_query_string_or_address(settings, captured):
    settings.ROOT_URLCONF = __name__
    Client().get("/logged/?key=letter-secret-key", headers={"X-Request-ID": "lb-access-1"})
    access = [line for line in captured.lines if line["logger"] == "minxin.access"]
    assert len(access) == 1
    line = access[0]
    assert line["message"] == "GET /logged/ 200"
    assert line["request_id"] == "lb-access-1" and line["status_code"] == 200
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert "letter-secret-key" not in captured.text and "127.0.0.1" not in captured.text


@pytest.mark.django_db
def test_djangos_own_error_lines_carry_the_request_id(settings, captured):
    settings.ROOT_URLCONF = __name__
    client = Client(raise_request_exception=False)
    response = client.get("/fails/", headers={"X-Request-ID": "req-500"})
    assert response.status_code == 500
    assert response["X-Request-ID"] == "req-500"
    lines = captured.where(request_id="req-500")
    assert [line["message"] for line in lines] == [
        "about to fail",
        "Internal Server Error: /fails/",
        "GET /fails/ 500",  # the access line
    ]
    assert lines[1]["logger"] == "django.request" and lines[1]["status_code"] == 500
    assert "RuntimeError: boom" in lines[1]["exc"]
    # A 404 is logged by Django after the middleware chain has returned: it still has the id.
    response = client.get("/no-such-page/", headers={"X-Request-ID": "req-404"})
    assert response.status_code == 404
    assert [line["message"] for line in captured.where(request_id="req-404")] == [
        "GET /no-such-page/ 404",
        "Not Found: /no-such-page/",
    ]
    # Nothing is left behind for lines logged outside any request.
    logging.getLogger("tests").info("between requests")
    assert "request_id" not in captured.where(message="between requests")[0]


@pytest.mark.django_db(transaction=True)
async def test_the_asgi_path_does_the_same(settings, captured):
    settings.ROOT_URLCONF = __name__
    response = await AsyncClient().get("/logged/", headers={"X-Request-ID": "async-1"})
    assert response["X-Request-ID"] == "async-1"
    assert captured.where(message="inside the view")[0]["request_id"] == "async-1"
    response = await AsyncClient().get("/no-such-page/", headers={"X-Request-ID": "async-404"})
    assert [line["message"] for line in captured.where(request_id="async-404")] == [
        "GET /no-such-page/ 404",
        "Not Found: /no-such-page/",
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "hostile",
    ["a" * 65, "abc\ndef", "abc\r\nSet-Cookie: x=1", 'say "hi"', "it's", "a b", "<script>", "ü", ""],
)
def test_a_hostile_request_id_is_replaced_not_echoed(settings, captured, hostile):
    settings.ROOT_URLCONF = __name__
    response = Client().get("/logged/", headers={"X-Request-ID": hostile})
    replaced = response["X-Request-ID"]
    assert replaced != hostile and SANE.fullmatch(replaced)
    assert captured.where(message="inside the view")[0]["request_id"] == replaced
    assert hostile == "" or hostile not in captured.text


@pytest.mark.django_db
def test_the_longest_sane_request_id_is_kept(settings):
    settings.ROOT_URLCONF = __name__
    sixty_four = "A-z0.9_" * 9 + "x"
    assert len(sixty_four) == 64
    assert Client().get("/logged/", headers={"X-Request-ID": sixty_four})["X-Request-ID"] == sixty_four


# --- WebSockets ----------------------------------------------------------------------------


def break_ping(monkeypatch) -> None:
    """A viewer's ping fails in a worker thread (database_sync_to_async), after naming the netizen."""
    from channels.db import database_sync_to_async

    from studio.consumers import LiveConsumer

    def in_thread():
        logging.getLogger("moderation.asking").info("in a worker thread")
        raise RuntimeError("the question store broke")

    async def broken_ping(self, frame):
        assert self.netizen
        await database_sync_to_async(in_thread)()

    monkeypatch.setattr(LiveConsumer, "frame_ping", broken_ping)


@pytest.mark.django_db(transaction=True)
async def test_a_websocket_connections_lines_carry_its_id(sockets, live_broadcast, captured, monkeypatch):
    break_ping(monkeypatch)
    one = await sockets.open(f"/ws/live/{live_broadcast.pk}/")
    other = await sockets.open(f"/ws/live/{live_broadcast.pk}/")
    assert (await one.receive_json_from(timeout=5))["type"] == "hello"
    assert (await other.receive_json_from(timeout=5))["type"] == "hello"
    await one.send_json_to({"type": "ping"})
    assert (await one.receive_json_from(timeout=5))["type"] == "error"
    await one.disconnect(code=1001)

    connects = captured.where(message="websocket connected")
    assert len(connects) == 2
    ids = [line["connection_id"] for line in connects]
    assert len(set(ids)) == 2
    assert all(line["broadcast"] == live_broadcast.pk and line["endpoint"] == "live" for line in connects)
    mine = captured.where(connection_id=ids[0])
    assert [line["message"] for line in mine] == [
        "websocket connected",
        "in a worker thread",  # from database_sync_to_async's thread
        "frame ping failed",
        "websocket closed",
    ]
    assert "the question store broke" in mine[2]["exc"]
    closed = mine[-1]
    assert closed["code"] == 1001 and closed["closed_by"] == "client" and closed["duration_s"] >= 0
    assert closed["level"] == "INFO" and closed["netizen"].startswith("c")
    # The other viewer's lines are its own; only one line each way at INFO, none per frame.
    assert [line["message"] for line in captured.where(connection_id=ids[1])] == ["websocket connected"]


@pytest.mark.django_db(transaction=True)
async def test_a_connection_the_server_closes_logs_the_servers_code(sockets, live_broadcast, captured):
    studio = await sockets.open(f"/ws/studio/{live_broadcast.pk}/")  # anonymous: 4401
    assert (await studio.receive_output(timeout=5))["code"] == 4401
    await studio.disconnect()
    (closed,) = captured.where(message="websocket closed")
    assert closed["code"] == 4401 and closed["closed_by"] == "server" and closed["endpoint"] == "studio"


@pytest.mark.django_db(transaction=True)
async def test_a_netizen_is_logged_by_its_hashed_id_never_its_session_key(
    sockets, live_broadcast, personas, captured, monkeypatch
):
    from channels.db import database_sync_to_async

    cookie = await database_sync_to_async(session_cookie)(personas["operator"])
    session_key = cookie.decode().split("=", 1)[1]
    break_ping(monkeypatch)
    ws = await sockets.open(f"/ws/live/{live_broadcast.pk}/", headers=[(b"cookie", cookie)])
    await ws.receive_json_from(timeout=5)
    await ws.send_json_to({"type": "ping", "text": "我的电话是13912345678"})
    await ws.receive_json_from(timeout=5)
    await ws.disconnect()
    assert captured.where(message="frame ping failed")[0]["netizen"] == session_netizen_key(session_key)
    assert session_key not in captured.text
    assert "13912345678" not in captured.text


# --- the formatters ------------------------------------------------------------------------


def format_json(message, /, *args, exc_info=None, **extra) -> str:
    record = logging.LogRecord("minxin.test", logging.ERROR, __file__, 1, message, args, exc_info)
    record.__dict__.update(extra)
    return JsonFormatter().format(record)


def test_json_lines_are_one_valid_object_each_whatever_the_message():
    try:
        raise ValueError('bad\nvalue «引号» "quoted"')
    except ValueError:
        import sys

        exc_info = sys.exc_info()
    hostile = 'line one\nline two\r\n"quoted" \\ back\u2028sep\u2029para 中文 🎉 \x00 \udcff lone'
    text = format_json("%s / %d", hostile, 7, exc_info=exc_info)
    assert "\n" not in text and "\r" not in text and "\u2028" not in text and "\u2029" not in text
    assert len(text.splitlines()) == 1
    text.encode("utf-8")  # writable to any UTF-8 stream
    line = json.loads(text)
    assert line["message"].startswith(
        'line one\nline two\r\n"quoted" \\ back\u2028sep\u2029para 中文 🎉 \x00'
    )
    assert line["message"].endswith(" lone / 7")
    assert line["level"] == "ERROR" and line["logger"] == "minxin.test"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["ts"])
    assert line["exc"].startswith("Traceback") and "ValueError: bad\nvalue «引号»" in line["exc"]
    # Readable Chinese, not \u escapes, when nothing forces them.
    assert "中文" in format_json("中文")


def test_context_and_extra_fields_are_written_but_secrets_and_objects_are_not():
    token = bind(connection_id="abc", broadcast=3)
    try:
        line = json.loads(
            format_json(
                "m", code=4401, password="hunter2", session_key="k", phone="139", request=object(), _private=1
            )
        )
    finally:
        reset(token)
    assert line["connection_id"] == "abc" and line["broadcast"] == 3 and line["code"] == 4401
    assert not {"password", "session_key", "phone", "request", "_private"} & set(line)
    # Extras never overwrite the line's own keys.
    assert json.loads(format_json("real", message="fake", level="x", logger="y")) | {"ts": 0} == {
        "ts": 0,
        "level": "ERROR",
        "logger": "minxin.test",
        "message": "real",
    }


def test_text_lines_read_as_text_with_the_context_after_the_message():
    token = bind(request_id="r1")
    try:
        record = logging.LogRecord("minxin.test", logging.INFO, __file__, 1, "hello %s", ("you",), None)
        text = TextFormatter().format(record)
    finally:
        reset(token)
    assert re.fullmatch(r"\S+ \S+ INFO minxin\.test hello you \[request_id=r1\]", text)


def test_the_log_format_setting_is_strict():
    from django.core.exceptions import ImproperlyConfigured

    assert logging_config("json", None)["formatters"]["minxin"]["()"] == "core.logs.JsonFormatter"
    assert logging_config("text", "DEBUG")["root"]["level"] == "DEBUG"
    with pytest.raises(ImproperlyConfigured, match="MINXIN_LOG_FORMAT"):
        logging_config("yaml", None)
