"""A viewer that stops reading is cut off once its buffer passes a bound, and slows no one else."""

import asyncio
import socket
import time

import pytest
from channels.db import database_sync_to_async
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from studio.fastsend import MAX_BUFFERED
from tests.conftest import make_broadcast, server_env, start_daphne

pytestmark = [pytest.mark.processes, pytest.mark.django_db(transaction=True)]

ANSWERS = 800
TEXT = "答" * 4900  # ~15 KB of UTF-8 per answer: 800 of them are ~12 MB, past kernel buffers and the bound


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


async def test_a_stalled_viewer_is_cut_off_while_a_reading_viewer_gets_everything(personas, tmp_path):
    from studio import services

    broadcast = await database_sync_to_async(make_broadcast)(
        "jtw", personas["host"], [personas["guest"]], status="live"
    )
    server = start_daphne(tmp_path, {**server_env(), "MINXIN_PRESENCE_INTERVAL": "1"})
    try:
        url = f"{server.ws}/ws/live/{broadcast.pk}/"
        origin = server.url
        # A client that reads nothing after its hello, with a tiny receive buffer so that the
        # server's side fills quickly.
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.connect(("127.0.0.1", server.port))
        stalled = await connect(url, origin=origin, sock=raw, max_queue=1, max_size=None)
        reader = await connect(url, origin=origin, max_size=None)
        await stalled.recv()  # hello
        await reader.recv()
        before = rss_kib(server.process.pid)

        got: list[int] = []

        async def read_all() -> None:
            import json

            while len(got) < ANSWERS:
                frame = json.loads(await reader.recv())
                if frame.get("type") == "event":
                    got.append(frame["seq"])

        reading = asyncio.create_task(read_all())
        post = database_sync_to_async(services.post_answer)
        started = time.monotonic()
        for n in range(ANSWERS):
            await post(broadcast.pk, personas["guest"], f"big-{n}", None, f"{n}:{TEXT}")
        await asyncio.wait_for(reading, timeout=60)
        elapsed = time.monotonic() - started

        # The reader got every answer once, in order, while the stalled viewer was falling behind.
        assert got == list(range(1, ANSWERS + 1)), elapsed
        # The stalled viewer was cut off: draining what reached it ends in a closed connection.
        with pytest.raises(ConnectionClosed):
            for _ in range(ANSWERS + 10):
                await asyncio.wait_for(stalled.recv(), timeout=10)
        assert "cutting off a viewer that stopped reading" in server.log.read_text()
        # Its buffer was dropped, not kept: the process grew by far less than the 12 MB sent.
        assert rss_kib(server.process.pid) - before < 4 * MAX_BUFFERED // 1024 + 20_000
        await reader.close()
    finally:
        server.stop()
