"""Shared fixtures: service markers, named personas, programmes, WebSocket and daphne helpers.

Tests that need a real service are marked (postgres, redis, browser, nginx, …). Outside CI they skip
with the reason; with CI=true a skip of such a test fails the run instead.
"""

import asyncio
import functools
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.test import Client

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI") == "true"
CHROMIUM = "/usr/bin/chromium"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
ORIGIN = (b"origin", b"http://127.0.0.1")
HOST = (b"host", b"127.0.0.1")  # staff consoles compare the exact origin with it


def _missing_service(item: pytest.Item) -> str | None:
    if item.get_closest_marker("postgres") and connection.vendor != "postgresql":
        return "needs PostgreSQL: set DATABASE_URL=postgres://… (CI does)"
    if item.get_closest_marker("redis") and not settings.REDIS_URL:
        return "needs Redis: set REDIS_URL=redis://127.0.0.1:6379/0 (CI does)"
    if item.get_closest_marker("browser") and not Path(CHROMIUM).exists():
        return f"needs Chromium at {CHROMIUM} (apt-get install chromium chromium-driver)"
    if item.get_closest_marker("netns") and (problem := _netns_problem()):
        return f"needs network namespaces (root, iproute2): {problem}"
    if item.get_closest_marker("nginx"):
        from bench.servers import nginx

        if nginx() is None:
            return "needs nginx (apt-get install nginx)"
    if item.get_closest_marker("axe") and not AXE.exists():
        return (
            f"needs axe-core at {AXE.relative_to(ROOT)} (apt-get install nodejs npm; python3.11 dev.py setup)"
        )
    return None


@functools.cache
def _netns_problem() -> str | None:
    from bench.hosts_net import available

    return available()


@pytest.fixture(autouse=True)
def _require_services(request: pytest.FixtureRequest) -> None:
    reason = _missing_service(request.node)
    if reason:
        if IN_CI:
            pytest.fail(f"CI must not skip a service test: {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="session", autouse=True)
def _collected_static_files() -> Iterator[None]:
    """Static files as production serves them (settings.test): collectstatic once per test run into
    the run's own STATIC_ROOT (about 12 s, mostly Brotli at its best level), shared through the
    environment with the daphne processes the tests start, removed at the end."""
    root = Path(settings.STATIC_ROOT)
    call_command("collectstatic", interactive=False, verbosity=0)
    yield
    if root.name.startswith("test-static-"):
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(autouse=True)
def _flush_redis() -> Iterator[None]:
    """Each test starts with an empty Redis database (channel layer, presence, cache), or an empty
    in-memory cache without Redis."""
    if settings.REDIS_URL:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL)
        client.flushdb()
        client.close()
    else:  # the in-memory cache: a programme id reused after a rollback must not find the last one's
        from django.core.cache import cache  # cached page or transcript

        cache.clear()
    yield


# --- personas and programmes ---------------------------------------------------------------


@pytest.fixture
def registry(db) -> None:
    """The 74 departments, and the default time limits: a transactional test's flush empties what
    the data migrations stored, so they are put back as migration 0002 does."""
    from importlib import import_module

    from django.apps import apps

    from departments.registry import load_registry

    load_registry()
    import_module("departments.migrations.0002_default_time_limits").create(apps, None)


def make_staff(username: str, role: str, department: str | None = None, name: str = "", title: str = ""):
    call_command(
        "createstaff",
        username,
        role=role,
        department=department,
        password="pw-" + username,
        name=name,
        title=title,
        stdout=open(os.devnull, "w"),
    )
    return get_user_model().objects.get(username=username)


@pytest.fixture
def personas(registry) -> dict:
    """The named cast: moderator, host, guests of department A and B, handlers, supervisor, operator."""
    return {
        "moderator": make_staff("mona", "moderator", name="莫娜"),
        "host": make_staff("harry", "host", name="李主持"),
        "guest": make_staff("grace", "guest", "jtw", name="张明", title="市交通委新闻发言人"),
        "other_guest": make_staff("gary", "guest", "swj", name="孙丽", title="市水务局新闻发言人"),
        "operator": make_staff("olga", "operator"),
        "handler_a": make_staff("hank", "handler", "jtw"),
        "handler_b": make_staff("hilda", "handler", "swj"),
        "supervisor": make_staff("sam", "supervisor"),
    }


def make_broadcast(
    department: str, host, guests: list, status: str = "scheduled", title: str = "公交线网优化"
):
    from django.utils import timezone

    from departments.models import Department
    from studio import services
    from studio.models import Broadcast, Guest

    broadcast = services.create_broadcast(
        title=title, department=Department.objects.get(code=department), starts_at=timezone.now(), host=host
    )
    for user in guests:
        Guest.objects.create(
            broadcast=broadcast, user=user, display_name=user.first_name, title=user.staff.title
        )
    if status != "scheduled":
        Broadcast.objects.filter(pk=broadcast.pk).update(status=status)
        broadcast.refresh_from_db()
    return broadcast


@pytest.fixture
def live_broadcast(personas):
    """A live programme of department A (jtw) with one guest and the host."""
    return make_broadcast("jtw", personas["host"], [personas["guest"]], status="live")


@pytest.fixture
def other_broadcast(personas):
    """A live programme of department B (swj) whose guest is other_guest."""
    return make_broadcast("swj", personas["host"], [personas["other_guest"]], status="live", title="汛期排水")


# --- WebSockets through the real asgi.py stack ---------------------------------------------

# Every frame any communicator of the suite receives is checked against docs/frames.schema.json
# for its endpoint: a server frame the wire contract does not allow fails the test with the frame
# and the reason. Counted per endpoint and type for the summary at the end of the run.
FRAMES_VALIDATED: dict[str, int] = {}
# minxin_client (tests/test_client.py, tests/test_faults.py) validates every frame it receives and sends.
os.environ.setdefault("MINXIN_CLIENT_VALIDATE", "1")
# Against docs/, the one source, not the copy minxin_client ships (tests/test_client_package.py
# checks that the two are identical, and that the installed client validates with its own).
os.environ.setdefault("MINXIN_FRAMES_SCHEMA", str(ROOT / "docs" / "frames.schema.json"))
_frame_failures: list[str] = []
_receive_output = WebsocketCommunicator.receive_output


async def _checked_receive_output(self: WebsocketCommunicator, timeout: float = 1) -> dict:  # noqa: ASYNC109
    from minxin_client.schema import FrameSchemaError, default_validator, endpoint_of

    output = await _receive_output(self, timeout)
    endpoint = endpoint_of(self.scope.get("path", ""))
    if output.get("type") == "websocket.send" and endpoint is not None:
        text = output.get("text")
        try:
            if text is None:
                raise FrameSchemaError("the server sent a binary frame; every frame is JSON text", None)
            # What daphne does with it: a lone surrogate fails there and closes the socket with 1011.
            text.encode("utf-8")  # UnicodeEncodeError is a ValueError
            frame = json.loads(text)
            default_validator().validate(frame, endpoint, "server")
        except (FrameSchemaError, ValueError) as error:
            _frame_failures.append(str(error))
            pytest.fail(f"{error}\n(raw frame: {text!r:.2000})", pytrace=False)
        key = f"{endpoint} {frame['type']}" + (f" {frame['kind']}" if frame["type"] == "event" else "")
        FRAMES_VALIDATED[key] = FRAMES_VALIDATED.get(key, 0) + 1
    return output


WebsocketCommunicator.receive_output = _checked_receive_output  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def _no_invalid_frames(request: pytest.FixtureRequest) -> Iterator[None]:
    """A frame error swallowed by a test's own `except BaseException` still fails the test
    (an xfail test that documents a server/contract mismatch has already failed on it)."""
    before = len(_frame_failures)
    yield
    if not request.node.get_closest_marker("xfail"):
        assert len(_frame_failures) == before, "\n".join(_frame_failures[before:])


def pytest_terminal_summary(terminalreporter) -> None:
    from minxin_client import schema

    total = sum(FRAMES_VALIDATED.values())
    if total:
        terminalreporter.write_line(
            f"{total} WebSocket frames received by communicators validated against docs/frames.schema.json "
            f"({len(FRAMES_VALIDATED)} endpoint/type pairs)"
        )
    if schema.default_validator.cache_info().currsize:
        counts = schema.default_validator().counts
        by_communicators: dict[str, int] = {}
        for key, n in FRAMES_VALIDATED.items():
            name = key.split(" ", 1)[0] + ".server"
            by_communicators[name] = by_communicators.get(name, 0) + n
        by_client = {name: n - by_communicators.get(name, 0) for name, n in counts.items()}
        shown = ", ".join(f"{name} {n}" for name, n in sorted(by_client.items()) if n > 0)
        if shown:
            terminalreporter.write_line(f"frames validated by minxin_client: {shown}")
        if os.environ.get("MINXIN_FRAME_STATS"):
            for key, count in sorted(FRAMES_VALIDATED.items()):
                terminalreporter.write_line(f"  {count:6d}  {key}")


def netizen_cookie(client: Client, broadcast_id: int) -> str:
    """What a netizen's browser does on the live page before its first question or 附议, as
    static/js/live.js does: the page and the counts (the same for everyone: no cookie), then its
    identity (GET /api/netizen/). Returns it as a Cookie header's `name=value`."""
    from core.netizens import NETIZEN_COOKIE

    page = client.get(f"/live/{broadcast_id}/")
    assert page.status_code == 200 and not page.cookies
    counts = client.get(f"/api/broadcasts/{broadcast_id}/supports/")
    assert counts.status_code == 200 and not counts.cookies
    assert client.get("/api/netizen/").json()["identity"] in ("new", "known")  # "known": a return visit
    return f"{NETIZEN_COOKIE}={client.cookies[NETIZEN_COOKIE].value}"


def session_cookie(user) -> bytes:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode()


class Sockets:
    """Opens communicators on the real application and always disconnects them."""

    def __init__(self) -> None:
        self.opened: list[WebsocketCommunicator] = []

    async def open(
        self,
        path: str,
        user=None,
        headers: list | None = None,
        expect_accept: bool = True,
        client: tuple[str, int] | None = None,
    ):
        """`client`: the peer's (address, port), as daphne puts it in the scope."""
        from asgi import application

        all_headers = [ORIGIN, HOST, *(headers or [])]
        if user is not None:
            from channels.db import database_sync_to_async

            all_headers.append((b"cookie", await database_sync_to_async(session_cookie)(user)))
        communicator = WebsocketCommunicator(application, path, headers=all_headers)
        if client is not None:
            communicator.scope["client"] = list(client)
        self.opened.append(communicator)
        connected, _ = await communicator.connect(timeout=5)
        assert connected == expect_accept
        return communicator

    async def close_all(self) -> None:
        async def close(communicator: WebsocketCommunicator) -> None:
            try:
                await communicator.disconnect(timeout=3)
            except Exception:
                pass

        await asyncio.gather(*(close(c) for c in self.opened))
        await close_thread_connections()
        from studio import addresses
        from studio.hub import all_hubs

        for hub in all_hubs():
            if hub.loop is asyncio.get_running_loop():
                await hub.close()
        found = addresses._counters.pop()
        if found is not None:
            await found.close()


async def close_thread_connections() -> None:
    """A database session can outlive channels' own close_old_connections in asgiref's worker
    thread; closing it from inside a database_sync_to_async body reaches it, so that the
    PostgreSQL test database can be dropped at the end of the run."""
    from channels.db import database_sync_to_async
    from django.db import close_old_connections

    await database_sync_to_async(close_old_connections)()


@pytest.fixture
async def close_worker_connections():
    """For async tests that reach the database through database_sync_to_async themselves."""
    yield
    await close_thread_connections()


@pytest.fixture
async def sockets():
    opened = Sockets()
    yield opened
    await opened.close_all()


# --- real daphne processes -----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_env() -> dict:
    """Environment for a daphne process that sees the test database and the test Redis."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "settings.test", "PYTHONUNBUFFERED": "1"}
    db = settings.DATABASES["default"]
    if connection.vendor == "postgresql":
        env["DATABASE_URL"] = (
            f"postgres://{db['USER']}:{db.get('PASSWORD') or ''}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"
        )
    else:
        env.pop("DATABASE_URL", None)
        env["SQLITE_PATH"] = str(db["NAME"])
    return env


class Daphne:
    def __init__(self, port: int, process: subprocess.Popen, log: Path):
        self.port, self.process, self.log = port, process, log

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_daphne(
    tmp_path: Path, env: dict | None = None, options: tuple[str, ...] = (), before: str | None = None
) -> Daphne:
    """A daphne process on a free port; `options` go to daphne (e.g. --proxy-headers), and `before`
    is Python run in that process before daphne starts (e.g. to take a field out of autobahn)."""
    port = free_port()
    log = tmp_path / f"daphne-{port}.log"
    if before is None:
        launcher = [str(Path(sys.executable).parent / "daphne")]
    else:
        code = f"{before}\nfrom daphne.cli import CommandLineInterface\nCommandLineInterface.entrypoint()"
        launcher = [sys.executable, "-c", code]
    process = subprocess.Popen(
        # As the Procfile runs it: daphne's own access log (plain text, with client addresses and
        # query strings) off; the app writes one structured, masked line per request instead.
        [
            *launcher,
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "--access-log",
            os.devnull,
            *options,
            "asgi:application",
        ],
        cwd=ROOT,
        env=env or server_env(),
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"daphne exited early:\n{log.read_text()}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/departments/", timeout=2)
            return Daphne(port, process, log)
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"daphne did not start:\n{log.read_text()}")


@pytest.fixture
def daphne(transactional_db, tmp_path) -> Iterator:
    """A factory of real daphne processes on free ports, all stopped at the end of the test."""
    started: list[Daphne] = []

    def factory() -> Daphne:
        server = start_daphne(tmp_path)
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop()


def chromium_available() -> bool:
    return Path(CHROMIUM).exists() and shutil.which("chromium") is not None
