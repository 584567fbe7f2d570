"""Soak: a whole Thursday programme played end to end, one hour compressed into a few minutes.

    .venv/bin/python -m bench.soak                 # 5 minutes, 2,000 viewers, 150 askers, 2 processes
    .venv/bin/python -m bench.soak --quick         # 1 minute, 200 viewers, 30 askers (development)
    .venv/bin/python -m bench.soak --minutes 10 --viewers 3000

Needs PostgreSQL and Redis (database ``<DATABASE_URL name>_soak``, default ``minxin_soak``; Redis db 9
unless REDIS_URL is db 9, then 10; or ``--database-url``/``--redis-url``). The project runs as in
production (asgi.py, settings.prod) in P daphne processes started by bench/fanout.py's machinery;
viewers and askers run in one load-generator process of their own; the host, the guests and the
moderators are logged-in staff consoles in this process. The staff consoles and the askers' pages are
minxin_client's (ModerateConsole, StudioConsole, Viewer.ask); the other viewers' pages stay a lean
loop of their own (they only count seqs: a frame costs them a prefix check, not a json.loads).

The programme: netizens ask before the start; the host starts it; viewers join in a ramp (every page
connects with ``?after=0``, as the live page does) and some leave and come back with ``?after=<last
seq>`` on the other process; netizens ask and support (附议) continuously; the moderators screen the
queue on /ws/moderate/ (approve and publish, forward to the guests unpublished, reject with a reason);
the guests answer approved questions on /ws/studio/ every ``--answer-every`` seconds each; the host
posts messages and ends the programme. Every ``--sample`` seconds it records each daphne process's
RSS and CPU, the connected viewers, events published and questions waiting; at the end, errors, loss
(each viewer's seqs against /api/broadcasts/<id>/events/), questions asked against stored, and memory
drift (RSS at the end against after warm-up, the first 20 % of the run). See bench/README.md ("Soak").
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import datetime
import json
import math
import os
import random
import re
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
import zlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import minxin_client
from bench import fanout, leanws
from minxin_client import Backoff, ClientError, Closed, ModerateConsole, ProtocolError, Refused, StudioConsole

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/minxin_soak"
# Redis pub/sub channels are global to a Redis server whatever the db number (see bench/fanout.py):
# the soak's programmes get ids of their own, below fan-out's floor and apart per database.
BROADCAST_ID_FLOOR = 800_000_000

# The script of the programme, as fractions of the run.
STARTS = 0.05  # the host starts the programme; before it, pre-collected questions
ASKERS_JOINED = 0.02  # askers open the page first
RAMP = (0.02, 0.15)  # the other viewers join evenly over this span
ASKS_END = 0.95
PRE_SHARE = 0.10  # share of the questions asked before the start
REJOIN = (0.25, 0.85)  # leave times of the viewers who come back
AWAY = (0.01, 0.04)  # how long they stay away
SUPPORTS = (0.10, 0.97)
HOST_MESSAGES = (0.35, 0.65)  # besides the welcome at the start and the closing words at the end
WARMUP = 0.20
# Moderators' decisions: approve and publish, approve only (forward to the guests), reject.
PUBLISH, FORWARD = 0.65, 0.20
REASONS = (
    "与本期主题无关",
    "重复提问，已合并到相近问题",
    "涉及个人隐私，请通过留言板反映",
    "个案问题，请拨打热线",
)

GUESTS = (
    ("张明", "市交通委新闻发言人"),
    ("李华", "市交通委公交处处长"),
    ("王芳", "市交通委轨道交通处处长"),
    ("赵强", "市交通委道路管理处处长"),
)
ANSWER = (
    "感谢这位网友的关注。您反映的问题我们已经注意到，{n}个工作日内会安排相关处室到现场核实，"
    "能当场解决的立即解决，需要协调的我们会在官网公布进度，也欢迎通过留言板继续监督。"
)
HOST_TEXTS = (
    "各位网友下午好，欢迎收看本期《走进直播间》，今天做客直播间的是市交通委的负责同志。",
    "网友提问非常踊跃，嘉宾们正在逐一回答，没有轮到的问题会转到留言板办理。",
    "还有一点时间，请大家抓紧提问，我们尽量多回答几位网友的问题。",
    "本期节目到这里就结束了，感谢各位嘉宾和网友的参与，我们下周四同一时间再见。",
)
METRIC_RE = re.compile(r'^(minxin_\w+)(?:\{broadcast="(\d+)"\})? (\S+)$', re.MULTILINE)
EVENT_PREFIX = '{"type":"event","seq":'
PAGE_ATTEMPTS = 8  # a page's connection attempts in a row before the bench gives up on it


# --- the load generator: viewers and askers (its own process) ---------------------------------


class Viewer(fanout.Viewer):
    """One open live page; its seqs are every event it received, over all its connections."""

    __slots__ = ("asker", "connected_once", "index", "last", "leaving", "process", "seqs", "supported")

    def __init__(self, index: int, process: int, asker: bool) -> None:
        super().__init__()
        self.index, self.process, self.asker = index, process, asker
        self.seqs: list[int] = []
        self.last = 0
        self.leaving = False
        self.connected_once = False
        self.supported: set[int] = set()


class SoakState(fanout.LoadState):
    def __init__(self) -> None:
        super().__init__()
        self.viewers: list[Viewer] = []  # type: ignore[assignment]
        self.urls: list[str] = []
        self.origins: list[str] = []  # the processes' http://host:port, also the askers' server URLs
        self.broadcast_id = 0
        self.closing = False
        self.published: list[int] = []  # question ids, in publication order
        self.kinds: dict[int, str] = {}  # seq -> kind, parsed once by the first viewer to get it
        self.connects = self.connect_failed = self.rejoins = self.rejoin_failed = 0
        self.reconnects = self.gave_up = 0
        self.failures: collections.Counter[str] = collections.Counter()
        self.dropped: collections.Counter[str] = collections.Counter()  # closed by the server: code
        self.error_frames: collections.Counter[str] = collections.Counter()
        self.unexpected: collections.Counter[str] = collections.Counter()
        self.frames = self.other = 0
        self.asks_sent: dict[str, str] = {}  # client_id -> text
        self.ask_ok: dict[str, int] = {}  # client_id -> question_id
        self.ask_errors: collections.Counter[str] = collections.Counter()
        self.asks_refused: set[str] = set()
        self.supports_sent = self.supports_ok = self.supports_skipped = 0
        self.send_failed: collections.Counter[str] = collections.Counter()
        self.plan_done = False


def _on_frame(state: SoakState, viewer: Viewer, message: str | bytes) -> None:
    state.frames += 1
    if isinstance(message, bytes):
        state.unexpected["binary"] += 1
        return
    if message.startswith(EVENT_PREFIX):
        seq = int(message[len(EVENT_PREFIX) : message.index(",", len(EVENT_PREFIX))])
        viewer.seqs.append(seq)
        if seq > viewer.last:
            viewer.last = seq
        if seq not in state.kinds:
            _first_seen(state, seq, json.loads(message))
        return
    if message.startswith(('{"type":"presence"', '{"type":"support",')):
        state.other += 1
        return
    frame = json.loads(message)
    kind = frame.get("type")
    if kind in ("presence", "support"):
        state.other += 1
    elif kind == "ask.ok":
        state.ask_ok[frame["ref"]] = frame["question_id"]
    elif kind == "support.ok":
        state.supports_ok += 1
    elif kind == "error":
        state.error_frames[str(frame.get("code"))] += 1
        if frame.get("ref") in state.asks_sent:
            state.ask_errors[str(frame.get("code"))] += 1
            state.asks_refused.add(frame["ref"])
    elif kind not in ("hello", "my_question", "pong"):
        state.unexpected[str(kind)] += 1


def _first_seen(state: SoakState, seq: int, event: dict) -> None:
    """The first viewer to receive an event notes its kind (and a published question's id)."""
    state.kinds[seq] = event["kind"]
    if event["kind"] == "question.published":
        state.published.append(event["data"]["question"]["id"])


@dataclass(frozen=True)
class PageBackoff(Backoff):
    """The live page's backoff (0.5–1 s, doubling up to 15–30 s); `on_wait` hears every wait, that
    is every dropped connection and every failed connection attempt."""

    initial: float = 1.0
    cap: float = 30.0
    on_wait: Callable[[], None] | None = field(default=None, compare=False)

    def delay(self, failures: int) -> float:
        if self.on_wait is not None:
            self.on_wait()
        return super().delay(failures)


class Asker(Viewer):
    """A netizen's live page: minxin_client's Viewer. It asks with Viewer.ask (resent with the same
    client_id until ask.ok; rate_limited waited out) and resumes with ?after= after a drop, on the
    next process. Its bookkeeping is a plain page's: every event it yields, and every drop, failed
    connection attempt, error frame and refusal counted as an error."""

    __slots__ = ("client", "state")

    def __init__(self, index: int, process: int, state: SoakState) -> None:
        super().__init__(index, process, True)
        self.state = state
        urls = [state.origins[(process + k) % len(state.origins)] for k in range(len(state.origins))]
        self.client = minxin_client.Viewer(
            urls,
            state.broadcast_id,
            # One address per asker, as netizens come from many: the server limits sockets and
            # 附议 per address, and the bench spreads its clients rather than raising limits.
            local_address=leanws.local_address(index * leanws.CLIENTS_PER_ADDRESS + 1, urls[0]),
            after=0,  # as the live page: the whole log, then live
            open_timeout=30,
            max_failures=PAGE_ATTEMPTS,
            backoff=PageBackoff(on_wait=self._waiting),
            on_frame=self._frame,
        )

    def _frame(self, frame: dict) -> None:
        """Every frame but the events and the answers to this page's asks."""
        state = self.state
        state.frames += 1
        kind = frame["type"]
        if kind == "hello":
            if self.connected_once:
                state.reconnects += 1
            else:
                state.connects += 1
            self.connected_once = self.open = True
        elif kind in ("presence", "support"):
            state.other += 1
        elif kind == "support.ok":
            state.supports_ok += 1
        elif kind == "error":
            state.error_frames[str(frame.get("code"))] += 1
        elif kind not in ("ask.ok", "my_question", "pong"):  # ask.ok: a resent question's second answer
            state.unexpected[str(kind)] += 1

    def _event(self, event: dict) -> None:
        self.state.frames += 1
        seq = event["seq"]
        self.seqs.append(seq)
        self.last = seq
        if seq not in self.state.kinds:
            _first_seen(self.state, seq, event)

    def _waiting(self) -> None:
        """The client waits before connecting again: its connection dropped, or an attempt failed."""
        state = self.state
        if self.open:
            self.open = False
            state.dropped["asker's page dropped (minxin_client resumes)"] += 1
        else:
            what = "retry" if self.connected_once else "join"
            state.failures[f"{what} asker: a connection attempt failed (minxin_client)"] += 1
            state.connect_failed += 1

    async def follow(self) -> None:
        """Reads the programme until the bench closes the client (or the client gives up)."""
        state = self.state
        try:
            await self.client.follow(self._event)
        except Closed as exc:  # 4401/4403/4404/4009 or a refused handshake: final, as on the page
            self.close_code = exc.code
            state.dropped[str(exc.code)] += 1
        except ProtocolError as exc:
            state.unexpected[f"asker: {exc}"[:120]] += 1
        except ClientError:  # PAGE_ATTEMPTS failed attempts in a row
            state.gave_up += 1
        except Exception as exc:
            state.unexpected[f"asker's client failed: {fanout._describe(exc)}"] += 1
        finally:
            self.open = False

    async def support(self, question_id: int) -> None:
        """附议; a support without support.ok is not an error (supports_ok/supports_sent is reported)."""
        with contextlib.suppress(TimeoutError, ClientError):
            await asyncio.wait_for(self.client.support(question_id), 30)


async def _page(state: SoakState, viewer: Viewer, rejoin: bool) -> None:
    """A live page's socket, as static/js/socket.js runs it: connect with ?after=<last seq held>,
    read until it closes, and after a failure or a close by the server try again with backoff.

    Every failed handshake and every close by the server is counted (they are errors); the
    viewer's seqs still count towards loss once it is back.
    """
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed
    from websockets.typing import Origin

    backoff = 0.5
    first = True
    for _attempt in range(PAGE_ATTEMPTS):
        url, origin = _url(state, viewer, viewer.last)
        # Its own source address slot, as the server caps live sockets per address (leanws).
        source = leanws.local_address(viewer.index, url)
        try:
            ws = await connect(
                url,
                origin=Origin(origin),
                compression=None,
                proxy=None,
                ping_interval=None,
                open_timeout=30,
                close_timeout=3,
                max_size=None,
                local_addr=(source, 0) if source is not None else None,
            )
        except Exception as exc:
            cause = f" ({fanout._describe(exc.__cause__)})" if exc.__cause__ else ""
            what = ("rejoin" if rejoin else "join") if first else "retry"
            reason = fanout._describe(exc) + cause
            if reason == "HTTP 403":  # daphne refuses a handshake not accepted within 5 s this way
                reason += " (not accepted within daphne's websocket_connect_timeout)"
            state.failures[f"{what} p{viewer.process % len(state.urls) + 1}: {reason}"] += 1
            if rejoin and first:
                state.rejoin_failed += 1
            else:
                state.connect_failed += 1
            first = False
            if state.closing:
                return
            await asyncio.sleep(backoff * (1 + random.random()))
            backoff = min(backoff * 2, 15)
            continue
        if viewer.connected_once and not (rejoin and first):
            state.reconnects += 1
        elif rejoin:
            state.rejoins += 1
        else:
            state.connects += 1
        viewer.connected_once = True
        first = False
        backoff = 0.5
        viewer.ws, viewer.open, viewer.leaving = ws, True, False
        try:
            async for message in ws:
                _on_frame(state, viewer, message)
        except ConnectionClosed:
            pass
        finally:
            if viewer.ws is ws:
                viewer.open = False
                viewer.close_code = ws.close_code
        if viewer.leaving or state.closing or viewer.ws is not ws:
            return
        state.dropped[str(ws.close_code)] += 1
        if ws.close_code is not None and 4400 <= ws.close_code < 4500:  # final, as on the page
            return
        await asyncio.sleep(backoff * (1 + random.random()))
    state.gave_up += 1


def _url(state: SoakState, viewer: Viewer, after: int) -> tuple[str, str]:
    process = viewer.process % len(state.urls)
    return f"{state.urls[process]}?after={after}", state.origins[process]


async def _send(state: SoakState, viewer: Viewer, frame: dict) -> bool:
    try:
        await viewer.ws.send(json.dumps(frame, ensure_ascii=False, separators=(",", ":")))
        return True
    except Exception as exc:
        state.send_failed[frame["type"] + ": " + fanout._describe(exc)] += 1
        return False


async def _ask(state: SoakState, index: int, client_id: str, text: str, nickname: str) -> None:
    """A netizen asks once its page is connected (as a person can only type into an open page);
    minxin_client resends the question with its client_id until ask.ok."""
    asker = state.viewers[index]
    assert isinstance(asker, Asker)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if asker.open:
            break
        await asyncio.sleep(0.05)
    if not asker.open:
        state.send_failed["ask: the asker's page is not connected"] += 1
        return
    state.asks_sent[client_id] = text
    try:
        ok = await asker.client.ask(text, client_id=client_id, nickname=nickname)
    except Refused as exc:
        state.error_frames[str(exc.code)] += 1
        state.ask_errors[str(exc.code)] += 1
        state.asks_refused.add(client_id)
    except ClientError:
        pass  # the client gave up or was closed: the question counts as unanswered
    else:
        state.frames += 1
        state.ask_ok[client_id] = ok["question_id"]


async def _away(state: SoakState, viewer: Viewer, back: float) -> None:
    """The viewer closes its page, and at `back` (monotonic) opens it again on the next process."""
    viewer.leaving = True
    with contextlib.suppress(Exception):
        await viewer.ws.close()
    if viewer.task is not None:  # the page's reading loop has seen the close
        await asyncio.wait([viewer.task], timeout=30)
    await asyncio.sleep(max(0.0, back - time.monotonic()))
    if state.closing:
        return
    viewer.process += 1  # behind a balancer: the next process
    viewer.task = asyncio.get_running_loop().create_task(_page(state, viewer, True))


async def _play(state: SoakState, plan: dict, t0: float) -> None:
    """Runs the viewers' side of the programme: every action at its time (monotonic, from t0)."""
    rng = random.Random(plan["seed"])
    loop = asyncio.get_running_loop()
    tasks: list[asyncio.Task] = []
    actions: list[tuple[float, int, str, tuple]] = []
    for order, (at, kind, *args) in enumerate(plan["actions"]):
        actions.append((at, order, kind, tuple(args)))
    actions.sort()
    for at, _order, kind, args in actions:
        ahead = t0 + at - time.monotonic()
        if ahead > 0.002:
            await asyncio.sleep(ahead)
        if kind == "join":
            index, process, asker = args
            if asker:
                page = Asker(index, process, state)
                state.viewers.append(page)
                page.task = loop.create_task(page.follow())
            else:
                viewer = Viewer(index, process, asker)
                state.viewers.append(viewer)
                viewer.task = loop.create_task(_page(state, viewer, False))
        elif kind == "leave":
            viewer, back = state.viewers[args[0]], t0 + args[1]
            if viewer.open:
                tasks.append(loop.create_task(_away(state, viewer, back)))
            else:
                state.send_failed["leave: the page was not connected"] += 1
        elif kind == "ask":
            tasks.append(loop.create_task(_ask(state, *args)))
        elif kind == "support":
            recent = state.published[-20:]
            choice = None
            for _try in range(10):
                candidate = state.viewers[rng.randrange(len(state.viewers))] if state.viewers else None
                if candidate is not None and candidate.open:
                    fresh = [q for q in recent if q not in candidate.supported]
                    if fresh:
                        choice = (candidate, rng.choice(fresh))
                        break
            if choice is None:
                state.supports_skipped += 1
                continue
            viewer, question_id = choice
            viewer.supported.add(question_id)
            state.supports_sent += 1
            if isinstance(viewer, Asker):
                tasks.append(loop.create_task(viewer.support(question_id)))
            else:
                await _send(state, viewer, {"type": "support", "question_id": question_id})
    if tasks:
        await asyncio.wait(tasks, timeout=60)
    state.plan_done = True


def _status(state: SoakState) -> dict:
    return {
        "open": sum(1 for v in state.viewers if v.open),
        "joined": len(state.viewers),
        "asks_sent": len(state.asks_sent),
        "asks_ok": len(state.ask_ok),
        "supports_sent": state.supports_sent,
        "max_seq": max(state.kinds, default=0),
        "plan_done": state.plan_done,
    }


async def _finish(state: SoakState, log: list[int], within: float) -> dict:
    """Waits until every open viewer holds the last event (or `within` s), then compares with the log."""
    final = log[-1] if log else 0
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if state.plan_done and all(v.last >= final for v in state.viewers if v.open):
            break
        await asyncio.sleep(0.05)
    expected = set(log)
    missing = duplicated = extra = disorder = complete = incomplete_open = 0
    joined = [v for v in state.viewers if v.connected_once]
    worst: list[dict] = []
    for viewer in joined:
        held = set(viewer.seqs)
        lost = len(expected - held)
        dups = len(viewer.seqs) - len(held)
        if isinstance(viewer, Asker):
            # The client yields each seq once, in order: it drops a repeated seq and fills a gap by
            # resuming with ?after=. Both are the server's delivery faults: counted as on a plain page.
            dups += viewer.client.duplicates
            lost += viewer.client.gaps
            # rate_limited/unavailable answers to asks, waited out and resent by the client: errors.
            for code, count in viewer.client.retries.items():
                state.error_frames[code] += count
                state.ask_errors[code] += count
        more = len(held - expected)
        unordered = viewer.seqs != sorted(held)
        missing += lost
        duplicated += dups
        extra += more
        disorder += unordered
        if not (lost or dups or more or unordered):
            complete += 1
        else:
            if viewer.open:
                incomplete_open += 1
            if len(worst) < 5:
                worst.append(
                    {
                        "viewer": viewer.index,
                        "open": viewer.open,
                        "close_code": viewer.close_code,
                        "missing": lost,
                        "duplicated": dups,
                        "extra": more,
                        "first_missing": sorted(expected - held)[:5],
                    }
                )
    return {
        "joined": len(joined),
        "planned": len(state.viewers),
        "open_at_end": sum(1 for v in state.viewers if v.open),
        "complete": complete,
        "incomplete_open": incomplete_open,
        "missing": missing,
        "duplicated": duplicated,
        "extra": extra,
        "out_of_order": disorder,
        "worst": worst,
        "connects": state.connects,
        "connect_failed": state.connect_failed,
        "rejoins": state.rejoins,
        "rejoin_failed": state.rejoin_failed,
        "reconnects": state.reconnects,
        "gave_up": state.gave_up,
        "never_connected": sum(1 for v in state.viewers if not v.connected_once),
        "failures": dict(state.failures),
        "dropped": dict(state.dropped),
        "error_frames": dict(state.error_frames),
        "unexpected": dict(state.unexpected),
        "send_failed": dict(state.send_failed),
        "frames": state.frames,
        "other_frames": state.other,
        "asks_sent": len(state.asks_sent),
        "asks_ok": len(state.ask_ok),
        "ask_errors": dict(state.ask_errors),
        "question_ids": len(set(state.ask_ok.values())),
        "asks_unanswered": len(set(state.asks_sent) - set(state.ask_ok) - state.asks_refused),
        "supports_sent": state.supports_sent,
        "supports_ok": state.supports_ok,
        "supports_skipped": state.supports_skipped,
        "published_seen": len(state.published),
    }


async def _loadgen(conn: Any) -> None:
    loop = asyncio.get_running_loop()
    readable = asyncio.Event()
    loop.add_reader(conn.fileno(), readable.set)
    state = SoakState()
    player: asyncio.Task | None = None
    while True:
        while not conn.poll():
            readable.clear()
            if conn.poll():
                break
            await readable.wait()
        command, *args = conn.recv()
        if command == "play":
            state.urls, state.origins, state.broadcast_id, plan, t0 = args
            player = loop.create_task(_play(state, plan, t0))
            conn.send({"playing": len(plan["actions"])})
        elif command == "status":
            if player is not None and player.done() and player.exception() is not None:
                conn.send({"error": repr(player.exception())})
            else:
                conn.send(_status(state))
        elif command == "finish":
            conn.send(await _finish(state, *args))
        elif command == "close":
            state.closing = True
            if player is not None:
                player.cancel()
            askers = [v.client.close() for v in state.viewers if isinstance(v, Asker)]
            if askers:
                await asyncio.wait([asyncio.ensure_future(c) for c in askers], timeout=args[0])
            await fanout._close_all(state, args[0])
            conn.send({"closed": True})
        elif command == "exit":
            loop.remove_reader(conn.fileno())
            conn.send({"bye": True})
            return


def loadgen_main(conn: Any) -> None:
    """Entry point of the load-generator process."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the bench stops it; Ctrl-C goes to the bench
    fanout.raise_nofile()
    asyncio.run(_loadgen(conn))


# --- the plan --------------------------------------------------------------------------------


def make_plan(args: argparse.Namespace, tag: str) -> dict:
    """Every viewer's and netizen's action with its time in seconds from the start, from --seed."""
    rng = random.Random(args.seed)
    run = args.minutes * 60
    actions: list[tuple] = []
    processes = args.processes
    # Askers first (they have the page open before the start), then the other viewers in a ramp.
    for i in range(args.askers):
        actions.append((run * ASKERS_JOINED * i / max(1, args.askers), "join", i, i % processes, True))
    others = args.viewers - args.askers
    for k in range(others):
        at = run * (RAMP[0] + (RAMP[1] - RAMP[0]) * k / max(1, others))
        i = args.askers + k
        actions.append((at, "join", i, i % processes, False))
    # Some viewers leave and come back with ?after= (not askers: a new connection is a new netizen).
    for i in rng.sample(range(args.askers, args.viewers), round(others * args.rejoin)):
        leave = run * rng.uniform(*REJOIN)
        back = leave + max(1.0, run * rng.uniform(*AWAY))
        actions.append((leave, "leave", i, back))
    # Questions: each asker asks in turn (spread evenly over the askers), at random times.
    total = args.askers * args.questions_per_asker
    pre = round(total * PRE_SHARE)
    times = sorted(rng.uniform(run * ASKERS_JOINED + 0.5, run * STARTS - 0.5) for _ in range(pre))
    times += sorted(rng.uniform(run * STARTS + 0.5, run * ASKS_END) for _ in range(total - pre))
    askers = [i % args.askers for i in range(total)]
    rng.shuffle(askers)
    templates = fanout.QUESTION_TEMPLATES
    for k, (at, asker) in enumerate(zip(times, askers, strict=True)):
        text = templates[k % len(templates)].format(n=k % 89 + 2)
        actions.append((at, "ask", asker, f"{tag}-q{k}", text, f"网友{asker:03d}"))
    # 附议: three supports per question, by random viewers, for recently published questions.
    for _ in range(total * 3):
        actions.append((run * rng.uniform(*SUPPORTS), "support"))
    return {"seed": args.seed, "actions": actions, "questions": total}


# --- staff consoles (in this process) --------------------------------------------------------


@dataclass
class Stats:
    """What the staff consoles did, counted in this process."""

    closing: bool = False
    staff_errors: collections.Counter[str] = field(default_factory=collections.Counter)
    http_errors: collections.Counter[str] = field(default_factory=collections.Counter)
    decisions: collections.Counter[str] = field(default_factory=collections.Counter)
    round_trips: collections.defaultdict[str, list[float]] = field(
        default_factory=lambda: collections.defaultdict(list)
    )
    answers: int = 0
    answers_idle: int = 0
    host_messages: int = 0
    status: list[str] = field(default_factory=list)


ConsoleT = TypeVar("ConsoleT", ModerateConsole, StudioConsole)


class Staff(Generic[ConsoleT]):
    """A logged-in staff member's console, minxin_client's: it resumes after a drop on the next
    process, and a studio console resends its action until acknowledged. Every refusal, drop and
    action not acknowledged in time is counted as a staff error; each action's ack is timed."""

    def __init__(self, name: str, client: ConsoleT, stats: Stats) -> None:
        self.name, self.stats = name, stats
        self.client: ConsoleT = client
        self.reader: asyncio.Task | None = None

    async def open(self) -> None:
        """Connects: the console's first `queue` frame goes to on_queue, the pushed frames to on_frame."""
        first = await asyncio.wait_for(anext(self.client), 30)
        self.on_queue(first["questions"])
        self.reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        try:
            async for frame in self.client:
                kind = frame["type"]
                if kind == "queue":  # the connection dropped; the client has resumed
                    self.stats.staff_errors[f"{self.name}: dropped (minxin_client reconnected)"] += 1
                    self.on_queue(frame["questions"])
                elif kind == "error":  # not an answer to an action (those are raised in act)
                    self.stats.staff_errors[f"{self.name}: {frame.get('code')}"] += 1
                else:
                    self.on_frame(frame)
        except Exception as exc:  # Closed (4401/4403/4404/4009), ProtocolError, gave up
            if not self.stats.closing:
                self.stats.staff_errors[f"{self.name}: {type(exc).__name__} {exc}"] += 1

    def on_queue(self, questions: list[dict]) -> None:
        pass

    def on_frame(self, frame: dict) -> None:
        pass

    async def act(self, kind: str, request: Coroutine[Any, Any, dict], within: float = 30) -> bool:
        """Awaits an action's ack; False (and counted) on a refusal, a drop before the ack (a
        moderator's action is not resent) or no ack within `within` s."""
        retries = collections.Counter(self.client.retries)
        sent = time.monotonic()
        try:
            await asyncio.wait_for(request, within)
        except Refused as exc:
            self.stats.staff_errors[f"{self.name}: {exc.code}"] += 1
            return False
        except Exception as exc:
            self.stats.staff_errors[f"{self.name}: {kind} {fanout._describe(exc)}"] += 1
            return False
        finally:  # rate_limited/unavailable, waited out and resent by the client: still errors
            for code, count in (self.client.retries - retries).items():
                self.stats.staff_errors[f"{self.name}: {kind} {code} (waited out, resent)"] += count
        self.stats.round_trips[kind].append(time.monotonic() - sent)
        return True

    async def close(self) -> None:
        await self.client.close()
        if self.reader is not None:
            self.reader.cancel()


class Moderator(Staff[ModerateConsole]):
    """Screens the questions whose id falls to it (id mod the number of moderators), one at a time."""

    def __init__(
        self, name: str, client: ModerateConsole, stats: Stats, index: int, count: int, rng: random.Random
    ) -> None:
        super().__init__(name, client, stats)
        self.index, self.count, self.rng = index, count, rng
        self.queue: asyncio.Queue[int] = asyncio.Queue()
        self.seen: set[int] = set()
        self.stopping = False

    def take(self, question: dict) -> None:
        qid = question["id"]
        if qid % self.count == self.index and qid not in self.seen and question.get("status") == "pending":
            self.seen.add(qid)
            self.queue.put_nowait(qid)

    def on_queue(self, questions: list[dict]) -> None:
        for question in questions:
            self.take(question)

    def on_frame(self, frame: dict) -> None:
        if frame["type"] == "question.new":
            self.take(frame["question"])

    async def work(self, think: tuple[float, float]) -> None:
        """Until `stopping`: each decision is acknowledged before the next (no action left in flight)."""
        while not self.stopping:
            try:
                qid = await asyncio.wait_for(self.queue.get(), 0.5)
            except TimeoutError:
                continue
            await asyncio.sleep(self.rng.uniform(*think))
            if self.stopping:
                return
            roll = self.rng.random()
            if roll < PUBLISH:
                kind, request = "approve", self.client.approve(qid, publish=True)
                decision = "approved and published"
            elif roll < PUBLISH + FORWARD:
                kind, request = "approve", self.client.approve(qid, publish=False)
                decision = "forwarded to the guests"
            else:
                kind, request = "reject", self.client.reject(qid, self.rng.choice(REASONS))
                decision = "rejected with a reason"
            if await self.act(kind, request):
                self.stats.decisions[decision] += 1


class Approved:
    """The approved questions no guest has taken yet, oldest first, shared by the studio consoles."""

    def __init__(self) -> None:
        self.waiting: dict[int, dict] = {}
        self.taken: set[int] = set()

    def add(self, question: dict) -> None:
        if question["id"] not in self.taken:
            self.waiting.setdefault(question["id"], question)

    def take(self) -> int | None:
        question_id = next(iter(self.waiting), None)
        if question_id is not None:
            del self.waiting[question_id]
            self.taken.add(question_id)
        return question_id

    def drop(self, question_id: int) -> None:
        self.waiting.pop(question_id, None)
        self.taken.add(question_id)


class Studio(Staff[StudioConsole]):
    """A guest or the host on /ws/studio/."""

    def __init__(self, name: str, client: StudioConsole, stats: Stats, approved: Approved) -> None:
        super().__init__(name, client, stats)
        self.approved = approved

    def on_queue(self, questions: list[dict]) -> None:
        for question in questions:
            self.approved.add(question)

    def on_frame(self, frame: dict) -> None:
        kind = frame["type"]
        if kind == "question.approved":
            self.approved.add(frame["question"])
        elif kind == "question.answered":
            self.approved.drop(frame["question_id"])


# --- the controller --------------------------------------------------------------------------


STAFF = {
    "host": ("soakhost", "host", ["--name", "刘洋", "--title", "主持人"]),
    "moderator": ("soakmoderator{n}", "moderator", ["--name", "审核员{n}"]),
    "guest": ("soakguest{n}", "guest", ["--department", "jtw", "--name", "{name}", "--title", "{title}"]),
}

MIGRATE_SCRIPT = """
from django.core.management import call_command
call_command("migrate", "--no-input", verbosity=0)
"""

PROGRAMME_SCRIPT = """
import io
from django.core.management import call_command
out = io.StringIO()
call_command("createbroadcast", *{arguments!r}, stdout=out)
print(out.getvalue().strip().splitlines()[-1])
"""


@dataclass
class Setup:
    broadcast_id: int
    host: str  # session cookies, name=value
    guests: list[str]
    moderators: list[str]


def soak_floor(database_url: str) -> int:
    """The first programme id of this database: apart from other databases' on the same Redis."""
    return BROADCAST_ID_FLOOR + zlib.crc32(fanout.database_name(database_url).encode()) % 1000 * 100_000


def prepare(env: dict, args: argparse.Namespace) -> Setup:
    """The database, migrations, the staff accounts and a scheduled programme: one Django start-up."""
    fanout.ensure_database(args.database_url)
    accounts = [STAFF["host"]]
    moderators = [f"soakmoderator{n}" for n in range(1, args.moderators + 1)]
    guests = [f"soakguest{n}" for n in range(1, args.guests + 1)]
    for n in range(1, args.moderators + 1):
        username, role, options = STAFF["moderator"]
        accounts.append((username.format(n=n), role, [o.format(n=n) for o in options]))
    for n in range(1, args.guests + 1):
        username, role, options = STAFF["guest"]
        name, title = GUESTS[(n - 1) % len(GUESTS)]
        accounts.append((username.format(n=n), role, [o.format(name=name, title=title) for o in options]))
    arguments = [
        "--department",
        "jtw",
        "--title",
        "交通出行：公交线网优化与停车难（soak）",
        "--host",
        "soakhost",
    ]
    for username in guests:
        arguments += ["--guest", username]
    for username in moderators:
        arguments += ["--moderator", username]
    script = (
        MIGRATE_SCRIPT
        + fanout.SETUP_SCRIPT.format(floor=soak_floor(args.database_url))
        + fanout.STAFF_SCRIPT.format(accounts=accounts)
        + PROGRAMME_SCRIPT.format(arguments=arguments)
        + fanout.LOGIN_SCRIPT.format(usernames=("soakhost", *guests, *moderators))
    )
    lines = fanout.manage(env, "shell", "-c", script, timeout=600).strip().splitlines()
    lines = lines[-(2 + len(guests) + len(moderators)) :]
    broadcast_id = int(lines[0])
    return Setup(broadcast_id, lines[1], lines[2 : 2 + len(guests)], lines[2 + len(guests) :])


def http_get(url: str, stats: Stats, what: str) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=15) as response:
            return response.read()
    except urllib.error.HTTPError as exc:
        stats.http_errors[f"{what}: HTTP {exc.code}"] += 1
    except Exception as exc:
        stats.http_errors[f"{what}: {fanout._describe(exc)}"] += 1
    return None


def read_metrics(base: str, broadcast_id: int, stats: Stats) -> dict[str, float]:
    body = http_get(base + "/metrics", stats, "/metrics")
    found: dict[str, float] = {}
    if body is None:
        return found
    for name, label, value in METRIC_RE.findall(body.decode()):
        if not label or int(label) == broadcast_id:
            found[name] = float(value)
    return found


def read_log(base: str, broadcast_id: int, stats: Stats) -> tuple[list[int], collections.Counter[str], int]:
    """The programme's public event log over HTTP, page by page: seqs, kinds, last_seq."""
    seqs: list[int] = []
    kinds: collections.Counter[str] = collections.Counter()
    after, last_seq = 0, 0
    while True:
        body = http_get(
            f"{base}/api/broadcasts/{broadcast_id}/events/?after={after}&limit=1000", stats, "events"
        )
        if body is None:
            break
        page = json.loads(body)
        last_seq = page["last_seq"]
        for event in page["events"]:
            seqs.append(event["seq"])
            kinds[event["kind"]] += 1
        if not page["events"] or seqs[-1] >= last_seq:
            break
        after = seqs[-1]
    return seqs, kinds, last_seq


@dataclass
class Sample:
    t: float
    phase: str
    rss_mib: list[float]
    cpu_pct: list[float]
    loadgen_rss_mib: float
    loadgen_cpu_pct: float
    viewers_open: int
    viewers_metric: float
    events: float
    waiting: float


class Sampler:
    def __init__(self, pids: list[int], loadgen_pid: int, base: str, broadcast_id: int, stats: Stats):
        self.pids, self.loadgen_pid, self.base = pids, loadgen_pid, base
        self.broadcast_id, self.stats = broadcast_id, stats
        self.samples: list[Sample] = []
        self.previous = self._cpu()
        self.events_before = 0.0

    def _cpu(self) -> tuple[float, list[float], float]:
        return (
            time.monotonic(),
            [fanout.cpu_seconds(pid) for pid in self.pids],
            fanout.cpu_seconds(self.loadgen_pid),
        )

    async def take(self, t: float, phase: str, status: dict) -> Sample:
        metrics = await asyncio.to_thread(read_metrics, self.base, self.broadcast_id, self.stats)
        now = self._cpu()
        wall = max(1e-6, now[0] - self.previous[0])
        cpu = [100 * (b - a) / wall for a, b in zip(self.previous[1], now[1], strict=True)]
        loadgen_cpu = 100 * (now[2] - self.previous[2]) / wall
        self.previous = now
        sample = Sample(
            t=round(t, 1),
            phase=phase,
            rss_mib=[round(fanout.rss_kib(pid) / 1024, 1) for pid in self.pids],
            cpu_pct=[round(c, 1) for c in cpu],
            loadgen_rss_mib=round(fanout.rss_kib(self.loadgen_pid) / 1024, 1),
            loadgen_cpu_pct=round(loadgen_cpu, 1),
            viewers_open=status.get("open", -1),
            viewers_metric=metrics.get("minxin_viewers", float("nan")),
            events=metrics.get("minxin_events_published_total", float("nan")) - self.events_before,
            waiting=metrics.get("minxin_questions_waiting", 0.0 if metrics else float("nan")),
        )
        self.samples.append(sample)
        return sample


def phase_at(t: float, run: float) -> str:
    if t < run * STARTS:
        return "pre"
    if t < run * RAMP[1]:
        return "ramp"
    if t < run * WARMUP:
        return "warm-up"
    return "live"


LOG_ERROR = re.compile(r'Traceback|"level": "(?:ERROR|CRITICAL)"|^(?:ERROR|CRITICAL)\b| ERROR ')
LOG_WARNING = re.compile(r'"level": "WARNING"|^WARNING\b| WARNING ')
LOG_MESSAGE = re.compile(r'"message": "(.{0,60})')


def server_log(servers: list[fanout.Server]) -> tuple[list[str], collections.Counter[str]]:
    """Tracebacks and ERROR lines in the daphne processes' logs; warnings counted by message start."""
    errors: list[str] = []
    warnings: collections.Counter[str] = collections.Counter()
    for server in servers:
        with contextlib.suppress(OSError):
            for line in server.log.read_text(errors="replace").splitlines():
                if LOG_ERROR.search(line):
                    errors.append(f"port {server.port}: {line.strip()[:300]}")
                elif LOG_WARNING.search(line):
                    message = LOG_MESSAGE.search(line)
                    warnings[message.group(1) if message else line.strip()[:60]] += 1
    return errors, warnings


async def run_programme(args: argparse.Namespace, bench: fanout.Bench, setup: Setup, report: dict) -> None:
    loadgen = bench.loadgen
    run = args.minutes * 60
    stats = Stats()
    design = fanout.MinxinDesign(bench, args.processes, setup.broadcast_id)
    calls = asyncio.Lock()

    async def call(within: float, *command: Any) -> dict:
        async with calls:
            return await loadgen.call(within, *command)

    consoles: list[Staff] = []
    workers: list[asyncio.Task] = []
    try:
        began = time.monotonic()
        await asyncio.wait_for(design.start(), 120)
        servers = design.servers
        bench_servers = servers
        print(f"servers  {len(servers)} daphne processes up ({time.monotonic() - began:.1f} s)", flush=True)
        bases = [f"http://127.0.0.1:{s.port}" for s in servers]
        bid = setup.broadcast_id

        def client(kind: type[ConsoleT], i: int, cookie: str) -> ConsoleT:
            """Console i connects to process i mod P first, and after a drop to the next one."""
            urls = [bases[(i + k) % len(bases)] for k in range(len(bases))]
            return kind(urls, bid, cookie=cookie, open_timeout=30, max_failures=PAGE_ATTEMPTS)

        approved = Approved()
        host = Studio("host", client(StudioConsole, 0, setup.host), stats, approved)
        guests = [
            Studio(f"guest{i + 1}", client(StudioConsole, i, cookie), stats, approved)
            for i, cookie in enumerate(setup.guests)
        ]
        rng = random.Random(args.seed + 1)
        moderators = [
            Moderator(
                f"moderator{i + 1}", client(ModerateConsole, i, cookie), stats, i, len(setup.moderators), rng
            )
            for i, cookie in enumerate(setup.moderators)
        ]
        consoles = [host, *guests, *moderators]
        for console in consoles:
            await console.open()

        tag = uuid.uuid4().hex[:8]
        plan = make_plan(args, tag)
        report["plan"] = {
            "questions": plan["questions"],
            "actions": collections.Counter(a[1] for a in plan["actions"]),
        }
        live_urls, origins = design.viewer_urls()
        sampler = Sampler([s.pid for s in servers], loadgen.pid, bases[0], bid, stats)
        first = await asyncio.to_thread(read_metrics, bases[0], bid, stats)
        sampler.events_before = first.get("minxin_events_published_total", 0.0)
        t0 = time.monotonic() + 1.0
        await call(60, "play", live_urls, origins, bid, plan, t0)
        print(
            f"playing  programme {bid}: {len(plan['actions']):,} viewer and netizen actions over {run:.0f} s"
            f" ({plan['questions']:,} questions)",
            flush=True,
        )
        screening = [asyncio.get_running_loop().create_task(m.work(args.think)) for m in moderators]
        workers.extend(screening)

        async def at(seconds: float) -> None:
            await asyncio.sleep(max(0.0, t0 + seconds - time.monotonic()))

        async def host_script() -> None:
            await at(run * STARTS)
            if await host.act("start", host.client.start_programme()):
                stats.status.append("live")
            messages = [(run * STARTS + 0.5, HOST_TEXTS[0])]
            messages += [(run * f, text) for f, text in zip(HOST_MESSAGES, HOST_TEXTS[1:3], strict=True)]
            messages.append((run - 1.0, HOST_TEXTS[3]))
            for when, text in messages:
                await at(when)
                client_id = f"{tag}-host-{uuid.uuid4().hex[:8]}"
                if await host.act("host.message", host.client.host_message(text, client_id=client_id)):
                    stats.host_messages += 1
            # The moderators stop screening when the programme ends (what is left waits; see README).
            await at(run - 0.5)
            for moderator in moderators:
                moderator.stopping = True
            await asyncio.wait(screening, timeout=35)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ending.wait(), 60)  # the last live sample is taken
            await at(run)
            if await host.act("end", host.client.end_programme()):
                stats.status.append("ended")

        async def guest_script(i: int, guest: Studio) -> None:
            when = run * STARTS + 1.0 + i * args.answer_every / len(guests)
            while when < run - 2.0:
                await at(when)
                when += args.answer_every
                question_id = approved.take()  # taken: no other guest answers it
                if question_id is None:
                    stats.answers_idle += 1
                    continue
                client_id = f"{tag}-a-{uuid.uuid4().hex[:8]}"
                text = ANSWER.format(n=3 + question_id % 5)
                if await guest.act("answer", guest.client.answer(text, question_id, client_id)):
                    stats.answers += 1

        ending = asyncio.Event()

        async def sample_loop() -> None:
            """Every --sample s, and once more just before the host ends the programme."""
            times = [k * args.sample for k in range(int((run - 1.0) // args.sample) + 1)]
            for k, when in enumerate([*times, run - 0.3]):
                await at(when)
                t = time.monotonic() - t0
                status = await call(30, "status")
                if "error" in status:
                    raise RuntimeError("the load generator failed: " + status["error"])
                last = k == len(times)
                sample = await sampler.take(t, "before end" if last else phase_at(t, run), status)
                print_sample(sample, k == 0)
            ending.set()

        scripts = [
            asyncio.get_running_loop().create_task(host_script()),
            *(asyncio.get_running_loop().create_task(guest_script(i, g)) for i, g in enumerate(guests)),
        ]
        sampling = asyncio.get_running_loop().create_task(sample_loop())
        workers.extend(scripts)
        await asyncio.gather(*scripts, sampling)

        # The programme has ended: the log over HTTP, then every viewer's seqs against it.
        # Every ask was acknowledged before the end: the questions are counted meanwhile (a Django start-up).
        counting = asyncio.ensure_future(asyncio.to_thread(fanout.count_questions, bench.env, bid))
        seqs, kinds, last_seq = await asyncio.to_thread(read_log, bases[0], bid, stats)
        finished = await call(args.drain_timeout + 60, "finish", seqs, args.drain_timeout)
        end = await sampler.take(time.monotonic() - t0, "after end", await call(30, "status"))
        print_sample(end, False)
        stored, distinct = await counting
        report["broadcast_id"] = bid
        report["samples"] = [sample.__dict__ for sample in sampler.samples]
        report["log"] = {
            "last_seq": last_seq,
            "events": len(seqs),
            "gapless": seqs == list(range(1, last_seq + 1)),
            "kinds": dict(kinds),
        }
        report["viewers"] = finished
        report["staff"] = {
            "decisions": dict(stats.decisions),
            "answers": stats.answers,
            "answer_turns_with_empty_queue": stats.answers_idle,
            "host_messages": stats.host_messages,
            "status": stats.status,
            "waiting_at_end": len(approved.waiting),
            "ack_ms_p50_p95_max": {
                kind: [round(1000 * fanout.percentile(sorted(v), q)) for q in (50, 95, 100)]
                for kind, v in stats.round_trips.items()
            },
        }
        report["questions"] = {
            "asked": finished["asks_sent"],
            "acknowledged": finished["asks_ok"],
            "distinct_question_ids": finished["question_ids"],
            "stored": stored,
            "stored_distinct_client_ids": distinct,
            "each_stored_once": stored == distinct == finished["asks_sent"] == finished["question_ids"],
        }
        report["server_log_errors"], warnings = server_log(bench_servers)
        report["server_log_warnings"] = dict(warnings.most_common(10))
        report["errors"] = {
            "failed_connects": finished["connect_failed"],
            "failed_rejoins": finished["rejoin_failed"],
            "viewers_never_connected": finished["never_connected"],
            "connect_failures": finished["failures"],
            "closed_by_server": finished["dropped"],
            "error_frames": finished["error_frames"],
            "ask_errors": finished["ask_errors"],
            "asks_unanswered": finished["asks_unanswered"],
            "send_failed": finished["send_failed"],
            "unexpected_frames": finished["unexpected"],
            "staff_errors": dict(stats.staff_errors),
            "http_errors": dict(stats.http_errors),
            "server_log_errors": len(report["server_log_errors"]),
        }
    finally:
        stats.closing = True
        for task in workers:
            task.cancel()
        for console in consoles:
            await console.close()
        with contextlib.suppress(Exception):
            await call(120, "close", 60)
        design.stop()


def summarize(report: dict, limit: float) -> None:
    """Adds memory drift, the error total, loss and the verdicts to the report."""
    samples = report["samples"]
    run = report["settings"]["minutes"] * 60
    warm = next(s for s in samples if s["t"] >= run * WARMUP or s["phase"] == "before end")
    end = next(s for s in samples if s["phase"] == "before end")
    after = samples[-1]
    processes = []
    for i, (a, b, c) in enumerate(zip(warm["rss_mib"], end["rss_mib"], after["rss_mib"], strict=True)):
        processes.append(
            {
                "process": i + 1,
                "warmup_mib": a,
                "end_mib": b,
                "drift_pct": round(100 * (b - a) / a, 1),
                "after_end_mib": c,
                "after_end_drift_pct": round(100 * (c - a) / a, 1),
            }
        )
    # For reading the drift: the first sample with (nearly) every viewer connected, if the ramp was late.
    planned = report["settings"]["viewers"]
    full = next((s for s in samples if s["viewers_open"] >= 0.99 * planned), end)
    report["memory"] = {
        "all_connected_t": full["t"],
        "all_connected_mib": full["rss_mib"],
        "drift_from_all_connected_pct": [
            round(100 * (b - a) / a, 1) for a, b in zip(full["rss_mib"], end["rss_mib"], strict=True)
        ],
        "warmup_t": warm["t"],
        "end_t": end["t"],
        "after_end_t": after["t"],
        "processes": processes,
        "limit_pct": limit,
        "pass": all(p["drift_pct"] <= limit for p in processes),
    }
    errors = report["errors"]
    total = (
        errors["failed_connects"]
        + errors["failed_rejoins"]
        + sum(errors["closed_by_server"].values())
        + sum(errors["error_frames"].values())
        + errors["asks_unanswered"]
        + sum(errors["send_failed"].values())
        + sum(errors["unexpected_frames"].values())
        + sum(errors["staff_errors"].values())
        + sum(errors["http_errors"].values())
        + errors["server_log_errors"]
    )
    errors["total"] = total
    viewers = report["viewers"]
    report["loss"] = {
        "viewers_joined": viewers["joined"],
        "viewers_planned": viewers["planned"],
        "viewers_with_full_log": viewers["complete"],
        "missing": viewers["missing"],
        "duplicated": viewers["duplicated"],
        "extra": viewers["extra"],
        "out_of_order": viewers["out_of_order"],
        "log_gapless": report["log"]["gapless"],
    }
    loss = report["loss"]
    report["pass"] = {
        "no_errors": total == 0,
        "no_loss": (
            loss["viewers_with_full_log"] == loss["viewers_planned"]
            and loss["missing"] == loss["duplicated"] == loss["extra"] == loss["out_of_order"] == 0
            and loss["log_gapless"]
        ),
        "questions_stored_once": report["questions"]["each_stored_once"],
        "memory_drift": report["memory"]["pass"],
    }


# --- output ----------------------------------------------------------------------------------


def sample_header(processes: int) -> tuple[str, ...]:
    columns = ["t s", "phase"]
    for i in range(1, processes + 1):
        columns += [f"p{i} RSS MiB", f"p{i} CPU %"]
    return (*columns, "loadgen CPU %", "viewers open/metric", "events", "waiting")


def sample_cells(sample: Sample | dict) -> tuple[str, ...]:
    s = sample if isinstance(sample, dict) else sample.__dict__

    def num(value: float, digits: int = 0) -> str:
        return "-" if value != value else f"{value:,.{digits}f}"

    cells = [f"{s['t']:.0f}", s["phase"]]
    for rss, cpu in zip(s["rss_mib"], s["cpu_pct"], strict=True):
        cells += [f"{rss:.1f}", f"{cpu:.0f}"]
    cells += [
        f"{s['loadgen_cpu_pct']:.0f}",
        f"{s['viewers_open']:,}/{num(s['viewers_metric'])}",
        num(s["events"]),
        num(s["waiting"]),
    ]
    return tuple(cells)


def print_sample(sample: Sample, header: bool) -> None:
    """A progress line while the programme runs."""
    names = sample_header(len(sample.rss_mib))
    if header:
        print("  " + "  ".join(names), flush=True)
    print("  " + "  ".join(sample_cells(sample)), flush=True)


def print_report(report: dict) -> None:
    samples = report["samples"]
    print()
    fanout.print_grid(sample_header(len(samples[0]["rss_mib"])), [sample_cells(s) for s in samples])
    memory, loss, errors, questions = report["memory"], report["loss"], report["errors"], report["questions"]
    verdict = report["pass"]

    def ok(flag: bool) -> str:
        return "PASS" if flag else "FAIL"

    drift = ", ".join(
        f"p{p['process']} {p['warmup_mib']:.1f} → {p['end_mib']:.1f} MiB ({p['drift_pct']:+.1f} %)"
        for p in memory["processes"]
    )
    after = ", ".join(
        f"p{p['process']} {p['after_end_mib']:.1f} MiB ({p['after_end_drift_pct']:+.1f} %)"
        for p in memory["processes"]
    )
    print(
        f"\nmemory    RSS after warm-up (t={memory['warmup_t']:.0f} s) → at the end, just before the host ends"
        f" the programme (t={memory['end_t']:.0f} s): {drift}; limit +{memory['limit_pct']:g} %:"
        f" {ok(memory['pass'])}"
    )
    if memory["all_connected_t"] > memory["warmup_t"]:
        print(
            f"          the ramp ended late: from the first sample with every viewer connected"
            f" (t={memory['all_connected_t']:.0f} s) to the end: "
            + ", ".join(f"p{i + 1} {d:+.1f} %" for i, d in enumerate(memory["drift_from_all_connected_pct"]))
        )
    print(
        f"          after the end (t={memory['after_end_t']:.0f} s; the end indexes the transcript for search"
        f" in the host's process): {after}"
    )
    log = report["log"]
    print(
        f"loss      {loss['viewers_with_full_log']:,}/{loss['viewers_planned']:,} viewers hold exactly the public log"
        f" (seqs 1..{log['last_seq']}, {'gapless' if log['gapless'] else 'WITH GAPS'}); missing {loss['missing']},"
        f" duplicated {loss['duplicated']}, extra {loss['extra']}, out of order {loss['out_of_order']}:"
        f" {ok(verdict['no_loss'])}"
    )
    viewers = report["viewers"]
    detail = {
        k: v
        for k, v in errors.items()
        if k
        not in ("total", "failed_connects", "failed_rejoins", "viewers_never_connected", "server_log_errors")
        and v
    }
    print(
        f"errors    {errors['total']}: failed connects {errors['failed_connects']} (viewers never connected"
        f" {errors['viewers_never_connected']}), failed rejoins {errors['failed_rejoins']}/{viewers['rejoins'] + errors['failed_rejoins']},"
        f" closed by the server {sum(errors['closed_by_server'].values())},"
        f" error frames {sum(errors['error_frames'].values())}, staff errors {sum(errors['staff_errors'].values())},"
        f" HTTP errors {sum(errors['http_errors'].values())}, server log errors {errors['server_log_errors']}:"
        f" {ok(verdict['no_errors'])}"
    )
    if detail:
        print("          " + json.dumps(detail, ensure_ascii=False))
    for line in report["server_log_errors"][:5]:
        print("          " + line)
    for message, count in report["server_log_warnings"].items():
        print(f"          server log warning ×{count}: {message}…")
    print(
        f"questions asked {questions['asked']:,}, acknowledged {questions['acknowledged']:,}"
        f" ({questions['distinct_question_ids']:,} question ids), stored {questions['stored']:,}"
        f" ({questions['stored_distinct_client_ids']:,} distinct client ids): {ok(verdict['questions_stored_once'])}"
    )
    staff, kinds = report["staff"], log["kinds"]
    print(
        "programme "
        + ", ".join(f"{v:,} {k}" for k, v in staff["decisions"].items())
        + f"; {staff['answers']} answers posted ({staff['waiting_at_end']} approved questions unanswered at the end),"
        f" {staff['host_messages']} host messages; staff action → ack ms p50/p95/max "
        + ", ".join(f"{k} {'/'.join(map(str, v))}" for k, v in staff["ack_ms_p50_p95_max"].items())
        + f"; supports {viewers['supports_ok']:,}/{viewers['supports_sent']:,};"
        f" {viewers['rejoins']} viewers came back with ?after= ({viewers['reconnects']} more reconnects after a failure);"
        " events by kind " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
    )
    print(f"report    {report['path']}")


# --- command line ----------------------------------------------------------------------------


def default_database_url(environ: dict[str, str]) -> str:
    """SOAK_DATABASE_URL; else DATABASE_URL with _soak appended to its name; else minxin_soak."""
    if environ.get("SOAK_DATABASE_URL"):
        return environ["SOAK_DATABASE_URL"]
    url = environ.get("DATABASE_URL")
    if url:
        return fanout.with_database_name(url, fanout.database_name(url) + "_soak")
    return DEFAULT_DATABASE_URL


def default_redis_url(environ: dict[str, str]) -> str:
    """SOAK_REDIS_URL; else as bench/fanout.py: REDIS_URL's server with db 9 (10 if it is 9)."""
    if environ.get("SOAK_REDIS_URL"):
        return environ["SOAK_REDIS_URL"]
    return fanout.default_redis_url(environ)


FULL = {"minutes": 5.0, "viewers": 2000, "askers": 150}
QUICK = {"minutes": 1.0, "viewers": 200, "askers": 30}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, help="length of the run: one programme hour (default 5)")
    parser.add_argument("--viewers", type=int, help="live pages, askers included (default 2000)")
    parser.add_argument("--askers", type=int, help="netizens who ask (default 150)")
    parser.add_argument("--processes", type=int, default=2, help="daphne processes (default 2)")
    parser.add_argument("--quick", action="store_true", help="development: 1 minute, 200 viewers, 30 askers")
    parser.add_argument("--questions-per-asker", type=int, default=4, help="over the hour (default 4)")
    parser.add_argument("--moderators", type=int, default=3, help="(default 3)")
    parser.add_argument("--guests", type=int, default=4, help="(default 4)")
    parser.add_argument(
        "--answer-every", type=float, default=20, help="seconds between one guest's answers (default 20)"
    )
    parser.add_argument(
        "--rejoin", type=float, default=0.10, help="share of viewers who leave and come back (default 0.1)"
    )
    parser.add_argument("--sample", type=float, default=10, help="seconds between samples (default 10)")
    parser.add_argument("--drift-limit", type=float, default=10, help="memory drift allowed, %% (default 10)")
    parser.add_argument(
        "--drain-timeout", type=float, default=30, help="seconds for every viewer to hold the last event"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--output", help="the JSON report (default var/bench/soak-<timestamp>.json)")
    parser.add_argument("--database-url", default=default_database_url(dict(os.environ)))
    parser.add_argument("--redis-url", default=default_redis_url(dict(os.environ)))
    args = parser.parse_args(argv)
    defaults = QUICK if args.quick else FULL
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if (
        args.minutes <= 0
        or args.processes < 1
        or args.askers < 1
        or args.viewers < args.askers
        or args.questions_per_asker < 1
        or args.moderators < 1
        or args.guests < 1
        or args.answer_every <= 0
        or not 0 <= args.rejoin <= 1
        or args.sample <= 0
    ):
        parser.error("bad arguments: every count ≥ 1, --viewers ≥ --askers, 0 ≤ --rejoin ≤ 1")
    # A moderator's pause before each decision: the three keep pace with the questions.
    per_moderator = args.minutes * 60 * 0.9 / max(1, args.askers * args.questions_per_asker / args.moderators)
    args.think = (0.2 * min(1.0, per_moderator), 0.6 * min(1.0, per_moderator))
    args.messages = 0  # fanout.MinxinDesign reads it (its answer count); the soak's guests count their own
    return args


def limits(minutes: float) -> dict[str, str]:
    """The per-minute limits, compressed with the hour (3 questions a minute → 36 in 5 minutes);
    the hourly ones hold as they are, the whole run being one programme's hour."""
    compression = 60 / minutes
    return {
        "MINXIN_ASKS_PER_MINUTE": str(math.ceil(3 * compression)),
        "MINXIN_SUPPORTS_PER_ADDRESS_PER_MINUTE": str(math.ceil(60 * compression)),
    }


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    fanout.raise_nofile()
    info = fanout.machine(args)
    command = "python -m bench.soak " + " ".join(argv if argv is not None else sys.argv[1:])
    started = datetime.datetime.now()
    path = (
        Path(args.output)
        if args.output
        else fanout.ROOT / "var" / "bench" / ("soak-" + started.strftime("%Y%m%d-%H%M%S") + ".json")
    )
    print(f"soak     {command}")
    print(
        f"         one programme hour in {args.minutes:g} min: {args.viewers:,} viewers ({args.askers} askers,"
        f" {args.askers * args.questions_per_asker:,} questions), {args.moderators} moderators, {args.guests} guests"
        f" (an answer each every {args.answer_every:g} s), {args.processes} daphne processes;"
        f" database {fanout.database_name(args.database_url)}, Redis db {fanout.redis_db(args.redis_url)}"
    )
    fanout.print_machine(info)
    report: dict[str, Any] = {
        "command": command,
        "started_at": started.isoformat(timespec="seconds"),
        "machine": info,
        "settings": {
            k: getattr(args, k)
            for k in (
                "minutes",
                "viewers",
                "askers",
                "processes",
                "questions_per_asker",
                "moderators",
                "guests",
                "answer_every",
                "rejoin",
                "sample",
                "seed",
            )
        },
        "path": str(path),
    }
    with tempfile.TemporaryDirectory(prefix="soak-") as logdir:
        children = fanout.Children(Path(logdir))
        loadgen = fanout.LoadGen(loadgen_main, "soak-loadgen")
        try:
            bench = fanout.Bench(args, children, loadgen)
            bench.env.update(limits(args.minutes))
            report["settings"]["server_env"] = limits(args.minutes)
            began = time.monotonic()
            setup = prepare(bench.env, args)
            print(
                f"setup    programme {setup.broadcast_id} scheduled, {1 + args.guests + args.moderators}"
                f" staff logged in ({time.monotonic() - began:.1f} s)",
                flush=True,
            )
            asyncio.run(run_programme(args, bench, setup, report))
        finally:
            children.stop()
            loadgen.stop()
    summarize(report, args.drift_limit)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, ensure_ascii=False, indent=1, default=str))
    print_report(report)
    return report


if __name__ == "__main__":
    main()
