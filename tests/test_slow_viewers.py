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

pytestmark = [
    pytest.mark.processes,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("close_worker_connections"),
]


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


async def test_with_redis_down_viewers_still_connect_and_get_answers_from_the_database(personas, tmp_path):
    """A daphne process whose Redis is unreachable: readiness names it yet stays 200 (the balancer
    keeps the process), and viewers are indeed served."""
    import json
    import urllib.request

    from studio import services

    broadcast = await database_sync_to_async(make_broadcast)(
        "jtw", personas["host"], [personas["guest"]], status="live"
    )
    env = {**server_env(), "MINXIN_PRESENCE_INTERVAL": "1", "REDIS_URL": "redis://127.0.0.1:1/0"}
    server = start_daphne(tmp_path, env)
    try:
        for path in ("/healthz/ready", "/healthz"):
            health = await asyncio.to_thread(urllib.request.urlopen, f"{server.url}{path}", timeout=5)
            assert health.status == 200
            body = json.loads(health.read())
            assert body["status"] == "degraded" and body["checks"]["redis"].startswith("error")
        async with connect(f"{server.ws}/ws/live/{broadcast.pk}/", origin=server.url) as viewer:
            hello = json.loads(await viewer.recv())
            assert hello["type"] == "hello"
            await database_sync_to_async(services.post_answer)(
                broadcast.pk, personas["guest"], "no-redis", None, "没有 Redis 也能收到"
            )
            while True:  # presence frames may come first
                frame = json.loads(await asyncio.wait_for(viewer.recv(), timeout=5))
                if frame["type"] == "event":
                    break
            assert frame["data"]["answer"]["text"] == "没有 Redis 也能收到"
    finally:
        server.stop()


# --- the direct write of studio.fastsend.write_now, on a stand-in transport ----------------


class FakeSocket:
    def __init__(self, takes: int | None = None, fails: type[OSError] | None = None):
        self.takes, self.fails, self.got = takes, fails, b""

    def send(self, data: bytes) -> int:
        if self.fails:
            raise self.fails()
        taken = data if self.takes is None else data[: self.takes]
        self.got += taken
        return len(taken)


class FakeTransport:
    """What write_now reads of Twisted's tcp transport: the socket, its queue and write()."""

    TLS = False

    def __init__(self, sock: FakeSocket, queued: bytes = b""):
        self.socket, self.dataBuffer, self._tempDataLen = sock, queued, 0
        self.disconnecting = False
        self.written = b""

    def write(self, data: bytes) -> None:
        self.written += data


def test_a_frame_goes_straight_to_the_kernel_when_nothing_is_queued():
    from studio.fastsend import write_now

    transport = FakeTransport(FakeSocket())
    write_now(transport, b"frame-1")
    assert transport.socket.got == b"frame-1" and transport.written == b""


def test_what_the_kernel_does_not_take_is_queued_in_order():
    from studio.fastsend import write_now

    transport = FakeTransport(FakeSocket(takes=3))
    write_now(transport, b"frame-1")
    assert transport.socket.got == b"fra" and transport.written == b"me-1"


def test_behind_queued_bytes_a_frame_waits_its_turn():
    from studio.fastsend import write_now

    transport = FakeTransport(FakeSocket(), queued=b"older")
    write_now(transport, b"frame-2")
    assert transport.socket.got == b"" and transport.written == b"frame-2"


def test_a_full_or_broken_socket_leaves_the_frame_to_twisted():
    from studio.fastsend import write_now

    for error in (BlockingIOError, ConnectionResetError):
        transport = FakeTransport(FakeSocket(fails=error))
        write_now(transport, b"frame-3")
        assert transport.written == b"frame-3"
    closing = FakeTransport(FakeSocket())
    closing.disconnecting = True
    write_now(closing, b"frame-4")
    assert closing.socket.got == b"" and closing.written == b"frame-4"


def test_under_tls_terminated_by_daphne_frames_go_through_twisted_not_the_raw_socket():
    """Twisted's TLS wrapper hands `socket` through to the TCP connection beneath it: bytes written
    there would be plaintext inside the encrypted stream (found in review)."""
    from twisted.internet.interfaces import ISSLTransport
    from zope.interface import directlyProvides

    from studio.fastsend import write_now

    transport = FakeTransport(FakeSocket())
    directlyProvides(transport, ISSLTransport)
    write_now(transport, b"frame-5")
    assert transport.socket.got == b"" and transport.written == b"frame-5"


# --- the fast path is used only when every field it relies on is there ---------------------

FAST = "live deliveries use daphne's protocol directly"
PLAIN = "live deliveries use the plain ASGI send"


async def one_answer_reaches_a_viewer(server, broadcast, guest) -> None:
    import json

    from studio import services

    async with connect(f"{server.ws}/ws/live/{broadcast.pk}/", origin=server.url) as viewer:
        assert json.loads(await viewer.recv())["type"] == "hello"
        await database_sync_to_async(services.post_answer)(broadcast.pk, guest, "fast-1", None, "答复已到")
        while True:
            frame = json.loads(await asyncio.wait_for(viewer.recv(), timeout=10))
            if frame["type"] == "event":
                break
        assert frame["data"]["answer"]["text"] == "答复已到"


async def test_on_the_locked_daphne_autobahn_and_twisted_the_fast_path_is_used(personas, tmp_path):
    from studio.fastsend import fast_path_problem

    assert fast_path_problem() is None
    broadcast = await database_sync_to_async(make_broadcast)(
        "jtw", personas["host"], [personas["guest"]], status="live"
    )
    server = start_daphne(tmp_path, {**server_env(), "MINXIN_PRESENCE_INTERVAL": "1"})
    try:
        await one_answer_reaches_a_viewer(server, broadcast, personas["guest"])
        log = server.log.read_text()
        assert FAST in log and PLAIN not in log
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("before", "named"),
    [
        pytest.param(
            "import autobahn.websocket.protocol as p\ndel p.WebSocketProtocol.sendPreparedMessage",
            "daphne.ws_protocol.WebSocketProtocol.sendPreparedMessage is missing",
            id="autobahn-without-sendPreparedMessage",
        ),
        pytest.param(
            "import autobahn.websocket.protocol as p\n"
            "class Unframed:\n"
            "    def __init__(self, payload, isBinary, applyMask, doNotCompress): pass\n"
            "p.PreparedMessage = Unframed",
            "autobahn's PreparedMessage: AttributeError",
            id="autobahn-PreparedMessage-without-payloadHybi",
        ),
        pytest.param(
            "import twisted.internet.tcp as t\ndel t._AbortingMixin.abortConnection",
            "twisted.internet.tcp.Server.abortConnection is missing",
            id="twisted-without-abortConnection",
        ),
    ],
)
async def test_with_a_field_missing_daphne_uses_the_plain_send_and_viewers_still_get_answers(
    personas, tmp_path, before, named
):
    """As after an upgrade of autobahn or Twisted that dropped a field: said once at start-up, and
    live delivery goes on through ASGI."""
    broadcast = await database_sync_to_async(make_broadcast)(
        "jtw", personas["host"], [personas["guest"]], status="live"
    )
    # (Without Redis the test process's answer reaches daphne by its poll of the database: 1 s.)
    server = start_daphne(tmp_path, {**server_env(), "MINXIN_PRESENCE_INTERVAL": "1"}, before=before)
    try:
        await one_answer_reaches_a_viewer(server, broadcast, personas["guest"])
        log = server.log.read_text()
        assert f"{PLAIN}: {named}" in log
        assert log.count(PLAIN) == 1 and FAST not in log
    finally:
        server.stop()


class FakeProtocol:
    STATE_OPEN = 3

    def __init__(self, transport):
        self.state, self.send_queue, self._perMessageCompress, self.transport = 3, [], None, transport

    def sendPreparedMessage(self, message):
        raise AssertionError("not on this path")


class FakeTcpTransport(FakeTransport):
    def abortConnection(self) -> None:
        pass


def handle_reply(protocol, message):  # the name daphne's Server method has
    pass


def test_a_connection_whose_protocol_or_transport_lacks_a_field_gets_the_plain_send():
    """Fields set per connection (autobahn's send_queue, Twisted's _tempDataLen) are checked on the
    connection's own objects."""
    import functools

    from studio.fastsend import daphne_protocol

    whole = FakeProtocol(FakeTcpTransport(FakeSocket()))
    assert daphne_protocol(functools.partial(handle_reply, whole)) is whole
    without_queue = FakeProtocol(FakeTcpTransport(FakeSocket()))
    del without_queue.send_queue
    assert daphne_protocol(functools.partial(handle_reply, without_queue)) is None
    bare_transport = FakeTransport(FakeSocket())  # no abortConnection
    assert daphne_protocol(functools.partial(handle_reply, FakeProtocol(bare_transport))) is None
    assert daphne_protocol(lambda message: None) is None  # not daphne at all
