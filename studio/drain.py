"""Drain a daphne process on SIGTERM: stop accepting, then close its sockets a few at a time.

A deploy replaces processes one by one. If a process with thousands of viewers simply stopped,
all of them would reconnect in the same instant, elsewhere: a rush on the processes left, which
is the moment they are the fewest. So on SIGTERM a process of ours

1. stops listening at once (its listening sockets close: a balancer's next connect is refused and
   it sends the viewer elsewhere; connections already open stay open);
2. closes its open WebSockets spread evenly over MINXIN_DRAIN_SECONDS (default 10 s), in a random
   order, each with close code 4503 (going away: reconnect, elsewhere; PROTOCOL.md §4, "Draining");
   clients resume with ``?after=<last seq>`` on another process and miss nothing;
3. then stops as daphne would have at once (in-flight HTTP requests get the same short grace).

A second SIGTERM during a drain stops the process at once (SIGINT, Ctrl-C, always does).
Installed by asgi.py only inside a running daphne (its Twisted reactor); anywhere else SIGTERM
keeps its usual meaning.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
import sys
import weakref
from typing import Any

from django.conf import settings

log = logging.getLogger(__name__)

# PROTOCOL.md §4, "Draining": this process is going away; reconnect (elsewhere) and resume.
CLOSE_GOING_AWAY = 4503
GRACE_SECONDS = 1.0  # after the last close, before the process stops

# Every open WebSocket of this process (studio.frames.FrameConsumer registers on accept).
_sockets: weakref.WeakSet[Any] = weakref.WeakSet()
_draining: asyncio.Future | None = None


def register(consumer: Any) -> None:
    _sockets.add(consumer)


def unregister(consumer: Any) -> None:
    _sockets.discard(consumer)


def draining() -> bool:
    return _draining is not None


def schedule(count: int, seconds: float) -> list[float]:
    """When (seconds from the start) each of `count` sockets is closed: evenly over `seconds`,
    the first at once and the last at the end, so no instant sees more than its share."""
    if count <= 1:
        return [0.0] * count
    step = seconds / (count - 1)
    return [i * step for i in range(count)]


async def drain(seconds: float, stop: Any = None, stop_listening: Any = None) -> int:
    """Close every registered socket spread over `seconds` (random order), then call `stop`.

    Returns how many sockets were closed. `stop_listening` runs first (no new connections)."""
    if stop_listening is not None:
        stop_listening()
    sockets = list(_sockets)
    random.shuffle(sockets)
    log.info("draining %d sockets over %.1f s", len(sockets), seconds, extra={"sockets": len(sockets)})
    loop = asyncio.get_running_loop()
    started = loop.time()
    closed = 0
    for consumer, at in zip(sockets, schedule(len(sockets), seconds), strict=True):
        ahead = started + at - loop.time()
        if ahead > 0:
            await asyncio.sleep(ahead)
        if consumer in _sockets:
            with contextlib.suppress(Exception):  # a socket that is already gone
                await consumer.close(code=CLOSE_GOING_AWAY)
            closed += 1
    await asyncio.sleep(GRACE_SECONDS)
    log.info("drained %d sockets; stopping", closed)
    if stop is not None:
        stop()
    return closed


# --- inside daphne ------------------------------------------------------------------------------


def _listening_ports(reactor: Any) -> list[Any]:
    from twisted.internet import tcp

    return [reader for reader in reactor.getReaders() if isinstance(reader, tcp.Port)]


def _stop_listening(reactor: Any) -> None:
    for port in _listening_ports(reactor):
        with contextlib.suppress(Exception):
            port.stopListening()


def _on_signal(reactor: Any, loop: asyncio.AbstractEventLoop) -> None:
    global _draining
    if _draining is not None:  # the second signal: stop now
        reactor.callFromThread(reactor.stop)
        return
    seconds = settings.MINXIN_DRAIN_SECONDS
    if seconds <= 0:
        reactor.callFromThread(reactor.stop)
        return

    def start() -> None:
        global _draining
        _draining = loop.create_task(
            drain(seconds, stop=reactor.stop, stop_listening=lambda: _stop_listening(reactor)),
            name="minxin-drain",
        )

    _draining = asyncio.Future(loop=loop)  # marks the drain as begun until the task exists
    loop.call_soon_threadsafe(start)


def _install(reactor: Any) -> None:
    loop = getattr(reactor, "_asyncioEventloop", None)
    if loop is None:
        return
    signal.signal(signal.SIGTERM, lambda _signum, _frame: _on_signal(reactor, loop))


def install_in_daphne() -> None:
    """Under daphne (its asyncio reactor installed), take over SIGTERM once the reactor
    runs: Twisted installs its own handler at start-up, before its after-startup triggers."""
    if "daphne.server" not in sys.modules or "twisted.internet.reactor" not in sys.modules:
        return
    from twisted.internet import reactor

    if getattr(reactor, "_asyncioEventloop", None) is None:
        return
    reactor.callWhenRunning(_install, reactor)  # type: ignore[attr-defined]
