"""Database connections under real daphne processes with settings.prod (issue #13, §2).

Django runs each HTTP request's sync code on a thread of its own under ASGI, so a persistent
connection (CONN_MAX_AGE > 0) was left behind by every request. Connections now come from psycopg's
pool, at most MINXIN_DB_POOL_MAX_SIZE per process. These tests count the server side's connections
in pg_stat_activity under load (thousands of requests, hundreds of WebSocket connects and asks) and
check that an exhausted pool answers 503 `unavailable` at once instead of hanging.

The servers' connections are told apart from the test's own by PGAPPNAME (libpq's environment
variable for application_name): each process started here gets the test's tag and its own name.
"""

import asyncio
import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from bench.leanws import local_address
from minxin_client import Backoff, Viewer
from moderation.models import Question
from tests.conftest import ROOT, Daphne, server_env, start_daphne

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.processes,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("close_worker_connections"),
]

PROCESSES = 2
POOL = 10  # MINXIN_DB_POOL_MAX_SIZE, and a timeout of 3 s: the defaults, stated so that the bound is explicit
CLOCK = (
    2  # the clock is one thread (one connection) and holds its advisory lock on another (archive/clock.py)
)
HTTP_REQUESTS = 2000
HTTP_CLIENTS = 32  # concurrent HTTP clients: more than PROCESSES × POOL, so requests queue for the pool
# Under overload a request that waits MINXIN_DB_POOL_TIMEOUT for a connection is refused with 503
# `unavailable`, by design. This machine's cores are shared, so a rare refusal is allowed; connections
# that were not given back would refuse far more than this (a process has only POOL of them).
MOST_REFUSED = HTTP_REQUESTS // 200
VIEWERS = 300  # WebSocket connects, each of which then asks one question


def prod_env(tag: str, **extra: str) -> dict[str, str]:
    """settings.prod over plain HTTP, on the test database and the test Redis."""
    return {
        **server_env(),
        "DJANGO_SETTINGS_MODULE": "settings.prod",
        "SECRET_KEY": "test-only-" + uuid.uuid4().hex,
        "SECURE_SSL_REDIRECT": "false",
        "SECURE_COOKIES": "false",
        "SECURE_HSTS_SECONDS": "0",
        "PGAPPNAME": tag,
        "MINXIN_DB_POOL_MAX_SIZE": str(POOL),
        "MINXIN_DB_POOL_TIMEOUT": "3",
        "MINXIN_PRESENCE_INTERVAL": "1",
        # Every client here comes from 127.0.0.1 and each socket is a new netizen: the per-address
        # limits would refuse most of the asks, which is not what this test is about.
        "MINXIN_ASKS_PER_ADDRESS_PER_MINUTE": "1000000",
        "MINXIN_ASKS_PER_ADDRESS_PER_HOUR": "1000000",
        "LOG_LEVEL": "WARNING",
        **extra,
    }


def admin_url() -> str:
    db = settings.DATABASES["default"]
    return f"host={db['HOST']} port={db['PORT'] or 5432} user={db['USER']} dbname=postgres"


def server_connections(tag: str) -> int:
    """Connections of the processes started with PGAPPNAME=tag, to any database of the cluster
    (all of them count against max_connections)."""
    with psycopg.connect(admin_url(), autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE %s", [tag + "%"]
        ).fetchone()
    assert row is not None
    return row[0]


class Sampler(threading.Thread):
    """Counts the servers' connections every 20 ms while the load runs; keeps the peak."""

    def __init__(self, tag: str) -> None:
        super().__init__(daemon=True)
        self.tag, self.peak, self.samples = tag, 0, 0
        self.at_peak: list[tuple] = []  # the connections seen at the peak, for the failure message
        self.by_process: Counter[str] = Counter()  # each process's own peak
        self.stopping = threading.Event()

    def run(self) -> None:
        with psycopg.connect(admin_url(), autocommit=True) as conn:
            while not self.stopping.is_set():
                rows = conn.execute(
                    "SELECT application_name, client_port, state, backend_start, left(query, 60)"
                    " FROM pg_stat_activity WHERE application_name LIKE %s",
                    [self.tag + "%"],
                ).fetchall()
                if len(rows) > self.peak:
                    self.peak, self.at_peak = len(rows), rows
                for name, n in Counter(row[0].removeprefix(self.tag + "-") for row in rows).items():
                    self.by_process[name] = max(self.by_process[name], n)
                self.samples += 1
                self.stopping.wait(0.02)

    def stop(self) -> None:
        self.stopping.set()
        self.join(10)


def fetch(url: str, body: dict | None = None, timeout: float = 30) -> tuple[int, float, dict, bytes]:
    """(status, seconds, headers, body) of one request; HTTP errors are answers too."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, time.monotonic() - started, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, time.monotonic() - started, dict(error.headers), error.read()


def start_clock(tmp_path: Path, env: dict) -> subprocess.Popen:
    log = tmp_path / "clock.log"
    return subprocess.Popen(
        [sys.executable, "manage.py", "clock", "--interval", "1"],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )


async def test_connections_stay_within_pool_size_times_processes_plus_the_clock_under_load(
    live_broadcast, tmp_path
):
    assert connection.vendor == "postgresql"
    tag = f"minxin-test-{uuid.uuid4().hex[:8]}"
    env = prod_env(tag)
    # No slack: the pool never holds more than max_size, min_size=0 adds none at start-up, the clock
    # holds two (its work, its lock), and the test's own connections (its process, the sampler)
    # carry other names.
    bound = PROCESSES * POOL + CLOCK
    servers: list[Daphne] = list(
        await asyncio.gather(
            *(
                asyncio.to_thread(start_daphne, tmp_path, {**env, "PGAPPNAME": f"{tag}-web{n}"})
                for n in range(PROCESSES)
            )
        )
    )
    clock = start_clock(tmp_path, {**env, "PGAPPNAME": f"{tag}-clock"})
    sampler = Sampler(tag)
    sampler.start()
    started = time.monotonic()
    try:
        broadcast = live_broadcast.pk
        pages = ["/", f"/live/{broadcast}/", "/letters/", "/stats/", "/search/?q=%E5%85%AC%E4%BA%A4"]
        api = [
            "/api/departments/",
            "/api/broadcasts/",
            f"/api/broadcasts/{broadcast}/",
            f"/api/broadcasts/{broadcast}/events/",
            "/api/letters/",
            "/api/departments/scoreboard/",
        ]
        paths = pages + api

        def http_load() -> list[tuple[str, int, float, dict]]:
            def one(n: int) -> tuple[str, int, float, dict]:
                base = servers[n % PROCESSES].url
                if n % 10 == 9:  # one in ten an anonymous ask over HTTP: a write and a new session
                    body = {"client_id": f"http-{n}", "text": f"HTTP 提问 {n}：公交几点收班？"}
                    status, seconds, headers, _ = fetch(f"{base}/api/broadcasts/{broadcast}/questions/", body)
                    return "ask", status, seconds, headers
                path = paths[n % len(paths)]
                status, seconds, headers, _ = fetch(base + path)
                return path, status, seconds, headers

            with ThreadPoolExecutor(HTTP_CLIENTS) as pool:
                return list(pool.map(one, range(HTTP_REQUESTS)))

        async def websocket_load() -> tuple[int, int]:
            urls = [server.url for server in servers]
            viewers = [
                Viewer(
                    urls[n % PROCESSES :] + urls[: n % PROCESSES],
                    broadcast,
                    after=0,
                    open_timeout=10,
                    backoff=Backoff(initial=0.2, cap=1.0),
                    # Real viewers come from many addresses: spread over 127.x, as the benches do,
                    # under the per-address socket cap.
                    local_address=local_address(n, urls[0]),
                )
                for n in range(VIEWERS)
            ]
            for viewer in viewers:
                viewer.start()
            try:
                acks = await asyncio.wait_for(
                    asyncio.gather(
                        *(
                            viewer.ask(f"第{n}位网友的问题：地铁末班车？", client_id=f"ws-{n}")
                            for n, viewer in enumerate(viewers)
                        )
                    ),
                    timeout=120,
                )
            finally:
                await asyncio.gather(*(viewer.close() for viewer in viewers))
            return sum(viewer.connections for viewer in viewers), len({ack["question_id"] for ack in acks})

        http_results, (connects, asked) = await asyncio.gather(asyncio.to_thread(http_load), websocket_load())
        elapsed = time.monotonic() - started
        await asyncio.sleep(1)  # sockets closed, requests answered: whatever is still open stays open
        after = server_connections(tag)
    finally:
        sampler.stop()
        clock_ran = clock.poll() is None  # still running: it did not crash on the way
        clock.terminate()
        clock.wait(10)
        for server in servers:
            server.stop()

    assert len(http_results) == HTTP_REQUESTS
    statuses = Counter((path, status) for path, status, _, _ in http_results)
    assert {status for _, status in statuses} <= {200, 201, 503}, statuses
    refused = [(path, headers) for path, status, _, headers in http_results if status == 503]
    assert all(headers.get("Retry-After") == "2" for _, headers in refused)
    refusals = "\n".join(
        line for server in servers for line in server.log.read_text().splitlines() if "refused" in line
    )
    assert len(refused) <= MOST_REFUSED, f"{len(refused)} requests refused:\n{refusals}"
    assert asked == VIEWERS and connects >= VIEWERS
    stored = await Question.objects.filter(broadcast=live_broadcast).acount()
    http_asks = sum(1 for path, status, _, _ in http_results if path == "ask" and status in (200, 201))
    assert stored == VIEWERS + http_asks  # the writes happened, each once
    assert clock_ran, (tmp_path / "clock.log").read_text()
    slowest = max(seconds for _, _, seconds, _ in http_results)
    print(
        f"\n{HTTP_REQUESTS} HTTP requests ({HTTP_CLIENTS} at a time, {len(refused)} refused with 503) and {connects} WebSocket connects "
        f"with {asked} asks in {elapsed:.1f} s (slowest request {slowest:.2f} s); server connections: "
        f"peak {sampler.peak} over {sampler.samples} samples ({dict(sorted(sampler.by_process.items()))}), "
        f"{after} after the load; bound {bound} = {PROCESSES} processes × pool {POOL} + clock {CLOCK}"
    )
    assert sampler.samples > 10
    assert all(sampler.by_process[f"web{n}"] <= POOL for n in range(PROCESSES)), sampler.by_process
    assert sampler.by_process["clock"] <= CLOCK, sampler.by_process
    assert sampler.peak <= bound, (
        f"peak of {sampler.peak} connections, over the bound of {bound}: "
        + "\n".join(map(str, sampler.at_peak))
    )
    assert after <= bound


async def test_an_exhausted_pool_answers_503_unavailable_quickly_not_a_hang(registry, tmp_path):
    """One connection in the pool, held by a request that waits on a table lock: the next request
    waits MINXIN_DB_POOL_TIMEOUT (1 s) for a connection, then gets 503 `unavailable` with
    Retry-After; once the lock goes, both the held request and new ones are answered."""
    tag = f"minxin-test-{uuid.uuid4().hex[:8]}"
    server = await asyncio.to_thread(
        start_daphne, tmp_path, prod_env(tag, MINXIN_DB_POOL_MAX_SIZE="1", MINXIN_DB_POOL_TIMEOUT="1")
    )
    db = settings.DATABASES["default"]
    locker = await psycopg.AsyncConnection.connect(
        host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"], dbname=db["NAME"]
    )
    try:
        await locker.execute("LOCK TABLE departments_department IN ACCESS EXCLUSIVE MODE")
        held = asyncio.create_task(asyncio.to_thread(fetch, server.url + "/api/departments/"))
        for _ in range(100):  # until the held request's query waits on the lock, its connection taken
            cursor = await locker.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s AND wait_event_type = 'Lock'",
                [tag],
            )
            row = await cursor.fetchone()
            if row and row[0]:
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the first request never reached the database")

        status, seconds, headers, body = await asyncio.to_thread(fetch, server.url + "/api/broadcasts/")
        assert status == 503, body
        assert json.loads(body)["error"]["code"] == "unavailable"
        assert headers["Retry-After"] == "2"
        assert 0.9 <= seconds < 4, f"answered after {seconds:.2f} s"
        print(
            f"\nan exhausted pool (1 connection, timeout 1 s) answered 503 unavailable after {seconds:.2f} s"
        )

        status, seconds, headers, body = await asyncio.to_thread(fetch, server.url + "/letters/")
        assert status == 503 and headers["Retry-After"] == "2"
        assert headers["Content-Type"].startswith("text/plain") and seconds < 4
        assert not held.done()
        await locker.rollback()  # the lock goes: the held request finishes and gives its connection back

        status, _, _, _ = await asyncio.wait_for(held, 10)
        assert status == 200
        status, _, _, _ = await asyncio.to_thread(fetch, server.url + "/api/broadcasts/")
        assert status == 200
        assert server_connections(tag) == 1
    finally:
        await locker.close()
        server.stop()
    log = server.log.read_text()
    assert "Traceback" not in log
    assert "refused, database unavailable: couldn't get a connection after 1.00 sec" in log
