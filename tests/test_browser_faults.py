"""The live page's own script survives kill -9 of the daphne process it is connected to (issue #8, 1a).

Two daphne processes sit behind a small TCP balancer of the test's own, as they would behind a
load balancer in production: new connections go to the first process that accepts them. The page
follows the programme through it; its process is killed with SIGKILL; the page's script
reconnects (with backoff) through the balancer to the other process, resumes with ?after=, and
ends holding every answer exactly once, in order.
"""

import os
import signal
import socket
import threading
import time

import pytest
from playwright.sync_api import expect

from tests.conftest import free_port, make_broadcast
from tests.test_browser import CUTTABLE_SOCKETS, LIVE_WAIT, Watched, chromium, in_thread

pytestmark = [pytest.mark.browser, pytest.mark.processes]


class Balancer:
    """Forwards each TCP connection to the first backend that accepts it, in order."""

    def __init__(self, backends: list[int]):
        self.backends = backends
        self.port = free_port()
        self.listener = socket.create_server(("127.0.0.1", self.port))
        self.closed = False
        self.routed: list[int] = []  # the backend port of each connection, in order
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._route, args=(client,), daemon=True).start()

    def _route(self, client: socket.socket) -> None:
        for port in self.backends:
            try:
                backend = socket.create_connection(("127.0.0.1", port), timeout=2)
            except OSError:
                continue  # that process is gone: try the next
            backend.settimeout(None)
            self.routed.append(port)
            threading.Thread(target=self._pipe, args=(client, backend), daemon=True).start()
            self._pipe(backend, client)
            return
        client.close()

    @staticmethod
    def _pipe(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, target):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                end.close()

    def close(self) -> None:
        self.closed = True
        self.listener.close()


def test_the_live_page_moves_to_the_other_process_when_its_own_is_killed(daphne, personas):
    from studio.services import post_answer

    broadcast = make_broadcast("jtw", personas["host"], [personas["guest"]], status="live")
    first, second = daphne(), daphne()
    balancer = Balancer([first.port, second.port])
    guest = personas["guest"]
    before = ["节目开始，欢迎大家。", "今天聊聊夜间出行。"]
    after = ["第一条：地铁末班车延长半小时。", "第二条：夜间公交新增三条线路。"]
    try:
        with chromium() as browser:
            viewer = Watched(browser, "viewer", locale="zh-CN")
            viewer.context.add_init_script(CUTTABLE_SOCKETS)  # only to see the sockets' URLs
            page = viewer.page
            page.goto(f"http://127.0.0.1:{balancer.port}/live/{broadcast.pk}/")
            conn = page.locator("#conn")
            connected = page.get_attribute("#live", "data-i18n-connected")
            expect(conn).to_have_text(connected, timeout=LIVE_WAIT)
            answers = page.locator("#feed li.answer .text")
            for number, text in enumerate(before):
                in_thread(post_answer, broadcast.pk, guest, f"before-{number}", None, text)
            expect(answers).to_have_text(before, timeout=LIVE_WAIT)
            assert balancer.routed[-1] == first.port  # the page's socket is on the first process

            os.kill(first.process.pid, signal.SIGKILL)
            first.process.wait()
            for number, text in enumerate(after):
                in_thread(post_answer, broadcast.pk, guest, f"after-{number}", None, text)

            expect(answers).to_have_text(before + after, timeout=30_000)
            expect(conn).to_have_text(connected)
            assert balancer.routed[-1] == second.port  # it reconnected, to the other process
            resumed_from = page.evaluate("new URL(window.__sockets.at(-1).url).searchParams.get('after')")
            assert resumed_from == "2"  # and asked only for what it had not seen
            seqs = page.locator("#feed li.answer").evaluate_all(
                "items => items.map((i) => Number(i.dataset.seq))"
            )
            assert seqs == [1, 2, 3, 4]
            time.sleep(0.5)  # nothing arrives twice afterwards
            assert page.locator("#feed li.answer").count() == 4
            assert viewer.errors == [], viewer.report()
    finally:
        balancer.close()
