"""Behind a reverse proxy: per-address limits hold against a forged X-Forwarded-For.

daphne --proxy-headers takes the client's address from the *first* entry of X-Forwarded-For. A proxy
that appends to the header the client sent (nginx's `$proxy_add_x_forwarded_for`) leaves the forged
entry first; a proxy that sets it (nginx's `proxy_set_header X-Forwarded-For $remote_addr`) leaves
only the address it saw. Both are played here by a tiny proxy in front of a real daphne, against a
client on its own loopback address (127.0.0.5) that forges a new address on every request.
"""

import asyncio
import http.client
import json
import threading
from collections.abc import Iterator

import pytest
from channels.db import database_sync_to_async

from tests.conftest import make_broadcast, server_env, start_daphne

pytestmark = [pytest.mark.processes, pytest.mark.django_db(transaction=True)]

CLIENT = "127.0.0.5"  # the netizen's true address
ASKS_PER_ADDRESS = 3


class HeaderProxy:
    """One request per connection; X-Forwarded-For set to the peer's address (overwrite) or the
    peer's address appended to what the client sent (append)."""

    def __init__(self, upstream_port: int, overwrite: bool):
        self.upstream_port, self.overwrite = upstream_port, overwrite
        self.loop = asyncio.new_event_loop()
        self.port = 0
        ready = threading.Event()
        self.thread = threading.Thread(target=self._serve, args=(ready,), daemon=True)
        self.thread.start()
        assert ready.wait(10)

    def _serve(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        ready.set()
        self.loop.run_forever()
        server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        request_line, *lines = [line for line in head.split(b"\r\n") if line]
        sent = [
            line.split(b":", 1)[1].strip() for line in lines if line.lower().startswith(b"x-forwarded-for:")
        ]
        lines = [line for line in lines if not line.lower().startswith((b"x-forwarded-for:", b"connection:"))]
        peer = writer.get_extra_info("peername")[0].encode()
        value = peer if self.overwrite else b", ".join([*sent, peer])
        lines += [b"X-Forwarded-For: " + value, b"Connection: close"]
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        up_writer.write(b"\r\n".join([request_line, *lines]) + b"\r\n\r\n")

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer), return_exceptions=True)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def limited_daphne(tmp_path) -> Iterator:
    """daphne --proxy-headers, with a small per-address question limit (its own settings module)."""
    (tmp_path / "proxy_settings.py").write_text(
        f"from settings.test import *  # noqa: F403\nMINXIN_QUESTION_LIMITS_PER_ADDRESS = [(60, {ASKS_PER_ADDRESS})]\n"
    )
    env = {**server_env(), "DJANGO_SETTINGS_MODULE": "proxy_settings", "PYTHONPATH": str(tmp_path)}
    server = start_daphne(tmp_path, env, options=("--proxy-headers",))
    yield server
    server.stop()


def ask_through(proxy: HeaderProxy, broadcast_id: int, n: int) -> int:
    """A cookieless ask (a new netizen each time) from CLIENT, forging a new X-Forwarded-For."""
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10, source_address=(CLIENT, 0))
    body = json.dumps(
        {"client_id": f"forged-{n}", "text": f"第{n}个问题：公交什么时候加密班次？", "nickname": "网友"}
    )
    conn.request(
        "POST",
        f"/api/broadcasts/{broadcast_id}/questions/",
        body=body.encode(),
        headers={"Content-Type": "application/json", "X-Forwarded-For": f"203.0.113.{n}"},
    )
    status = conn.getresponse().status
    conn.close()
    return status


async def test_a_proxy_that_sets_x_forwarded_for_keeps_the_limit_on_the_true_address(
    personas, limited_daphne
):
    from moderation.models import Question

    broadcast = await database_sync_to_async(make_broadcast)(
        "jtw", personas["host"], [personas["guest"]], status="live"
    )
    proxy = HeaderProxy(limited_daphne.port, overwrite=True)
    try:
        statuses = [await asyncio.to_thread(ask_through, proxy, broadcast.pk, n) for n in range(1, 6)]
    finally:
        proxy.stop()
    assert statuses == [201] * ASKS_PER_ADDRESS + [429] * (5 - ASKS_PER_ADDRESS)
    addresses = await database_sync_to_async(
        lambda: set(Question.objects.filter(broadcast=broadcast).values_list("client_ip", flat=True))
    )()
    assert addresses == {CLIENT}


async def test_a_proxy_that_appends_to_x_forwarded_for_lets_a_forged_address_through(
    personas, limited_daphne
):
    """Why the README says *set*, not append: the forged first entry is what daphne takes."""
    from moderation.models import Question

    broadcast = await database_sync_to_async(make_broadcast)(
        "jtw", personas["host"], [personas["guest"]], status="live"
    )
    proxy = HeaderProxy(limited_daphne.port, overwrite=False)
    try:
        statuses = [await asyncio.to_thread(ask_through, proxy, broadcast.pk, n) for n in range(1, 6)]
    finally:
        proxy.stop()
    assert statuses == [201] * 5
    addresses = await database_sync_to_async(
        lambda: set(Question.objects.filter(broadcast=broadcast).values_list("client_ip", flat=True))
    )()
    assert addresses == {f"203.0.113.{n}" for n in range(1, 6)}
