"""The soak's load generator (bench/soak.py), in a process of its own: live pages that connect with
``?after=`` and retry with backoff, askers on minxin_client, 附议, pages that leave and come back;
at the end every page's seqs against the public log. Built on bench/load.py."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import minxin_client
from bench import leanws, load
from bench.load import Commands, close_all, describe, run_process
from minxin_client import Backoff, ClientError, Closed, ProtocolError, Refused

EVENT_PREFIX = '{"type":"event","seq":'
PAGE_ATTEMPTS = 8  # a page's connection attempts in a row before the bench gives up on it


# Viewers per source address: a household or a small office, so that 附议 stays within the
# per-address limits a real audience meets (20 per question an hour from one address).
VIEWERS_PER_ADDRESS = 10
# Askers come from 127.<block>.200.x, one each, clear of the viewers' addresses (127.<block>.0–199.x).
ASKERS_FROM = 200 * 250


def address_block(state: SoakState) -> int:
    """127.<block>.x.y for this run: its own, chosen by the programme id, so that the hourly
    per-address 附议 counters of earlier runs in the same Redis never count against it."""
    return 2 + state.broadcast_id % 250


class Viewer(load.Viewer):
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


class SoakState(load.LoadState):
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
    """The live page's backoff (the first reconnect after a drop within 2 s; then 0.5–1 s, doubling
    up to 15–30 s); `on_wait` hears every wait, that is every dropped connection and every failed
    connection attempt."""

    initial: float = 1.0
    cap: float = 30.0
    spread: float = 2.0  # static/js/socket.js: the first reconnect after a drop within 2 s
    on_wait: Callable[[], None] | None = field(default=None, compare=False)

    def delay(self, failures: int) -> float:
        if self.on_wait is not None:
            self.on_wait()
        return super().delay(failures)

    def after_drop(self, code: int | None) -> float:
        if self.on_wait is not None:
            self.on_wait()
        return super().after_drop(code)


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
            local_address=leanws.local_address(
                ASKERS_FROM + index, urls[0], per_address=1, block=address_block(state)
            ),
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
            state.unexpected[f"asker's client failed: {describe(exc)}"] += 1
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
        source = leanws.local_address(viewer.index, url, VIEWERS_PER_ADDRESS, address_block(state))
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
            cause = f" ({describe(exc.__cause__)})" if exc.__cause__ else ""
            what = ("rejoin" if rejoin else "join") if first else "retry"
            reason = describe(exc) + cause
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
        state.send_failed[frame["type"] + ": " + describe(exc)] += 1
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


def _counts(state: SoakState) -> dict:
    """The load generator's counts over the run: connects, failures, frames, asks and supports."""
    return {
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
        **_counts(state),
    }


async def _loadgen(conn: Any) -> None:
    commands = Commands(conn)
    state = SoakState()
    player: asyncio.Task | None = None
    while True:
        command, args = await commands.next()
        if command == "play":
            state.urls, state.origins, state.broadcast_id, plan, t0 = args
            player = asyncio.get_running_loop().create_task(_play(state, plan, t0))
            commands.send({"playing": len(plan["actions"])})
        elif command == "status":
            if player is not None and player.done() and player.exception() is not None:
                commands.send({"error": repr(player.exception())})
            else:
                commands.send(_status(state))
        elif command == "finish":
            commands.send(await _finish(state, *args))
        elif command == "close":
            state.closing = True
            if player is not None:
                player.cancel()
            askers = [v.client.close() for v in state.viewers if isinstance(v, Asker)]
            if askers:
                await asyncio.wait([asyncio.ensure_future(c) for c in askers], timeout=args[0])
            await close_all(state, args[0])
            commands.send({"closed": True})
        elif command == "exit":
            commands.close()
            return


def loadgen_main(conn: Any) -> None:
    """Entry point of the load-generator process."""
    run_process(conn, _loadgen)
