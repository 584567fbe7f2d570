"""The bench harness: the load generator, in a process of its own, driven over a pipe.

Viewers (bench/leanws.py's lean client) connect ramped and round-robin over the servers and record
the marked messages they receive (``start``/``finish``) or every frame (``capture``); askers send one
``ask`` each and wait for its answer; a reconnect storm brings every viewer back with ``?after=``.
``LoadGen`` is the bench's end of the pipe; a benchmark with a load generator of its own
(bench/soak.py) passes its entry point and builds on ``Viewer``, ``LoadState``, ``Commands`` and
``close_all``."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import multiprocessing
import re
import signal
import time
from collections.abc import Callable, Coroutine
from typing import Any

from bench.report import percentile
from bench.servers import raise_nofile

# The mark at the end of every message the fan-out designs send: (tag, index, time.time() at the send).
MARK = "fanout-bench"
MESSAGE_RE = re.compile(MARK + r" (\S+) (\d+) ([0-9.]+)\]")


class Viewer:
    __slots__ = (
        "after",
        "close_code",
        "count",
        "frames",
        "open",
        "other",
        "received",
        "started",
        "task",
        "ws",
    )

    def __init__(self) -> None:
        self.ws: Any = None
        self.open = False
        self.count = 0
        self.other = 0  # frames during the messages that are not bench messages (presence, ...)
        self.received: list[tuple[float, str]] = []
        self.close_code: int | None = None
        self.task: asyncio.Task | None = None
        # Ingest and storm: every frame (receipt time, text) while capturing; the seq it resumes after.
        self.frames: list[tuple[float, str]] = []
        self.after = 0
        self.started = 0.0


class LoadState:
    def __init__(self) -> None:
        self.viewers: list[Viewer] = []
        # Connections opened so far: each takes the next slot of bench.leanws.local_address, so
        # that no source address holds more sockets than the server's per-address cap.
        self.connections = 0
        self.recording = False
        self.capture = False
        self.tag = ""
        self.asked: dict[int, tuple[str, str]] = {}  # ingest: viewer index -> client_id, text


def describe(exc: BaseException) -> str:
    if getattr(exc, "status", None):  # bench.leanws.HandshakeError
        return f"HTTP {exc.status}"  # type: ignore[attr-defined]
    response = getattr(exc, "response", None)
    if response is not None and getattr(response, "status_code", None):
        return f"HTTP {response.status_code}"
    if isinstance(exc, OSError) and exc.errno:
        return f"{type(exc).__name__} errno {exc.errno}"
    return type(exc).__name__


async def _viewer(state: LoadState, viewer: Viewer, url: str, origin: str, connected: asyncio.Future) -> None:
    from bench import leanws

    source = leanws.local_address(state.connections, url)
    state.connections += 1
    try:
        ws = await leanws.connect(url, origin, open_timeout=30, source=source)
    except Exception as exc:
        if not connected.done():
            connected.set_result(describe(exc))
        return
    viewer.ws, viewer.open = ws, True
    if not connected.done():
        connected.set_result(None)
    received = viewer.received

    def on_text(now: float, message: str) -> None:
        if state.recording:
            if MARK in message:
                received.append((now, message))
                viewer.count += 1
            else:
                viewer.other += 1
        elif state.capture:
            viewer.frames.append((now, message))

    try:
        await ws.run(on_text, time.time)
    finally:
        viewer.open = False
        viewer.close_code = ws.close_code


async def _connect_all(
    state: LoadState, urls: list[str], origins: list[str], n: int, rate: float, within: float
) -> dict:
    started = time.monotonic()
    futures: list[asyncio.Future] = []
    loop = asyncio.get_running_loop()
    for i in range(n):
        ahead = started + i / rate - time.monotonic()
        if ahead > 0.005:
            await asyncio.sleep(ahead)
        viewer = Viewer()
        future = loop.create_future()
        futures.append(future)
        viewer.task = loop.create_task(
            _viewer(state, viewer, urls[i % len(urls)], origins[i % len(urls)], future)
        )
        state.viewers.append(viewer)
    _done, pending = await asyncio.wait(futures, timeout=max(1.0, started + within - time.monotonic()))
    errors: collections.Counter[str] = collections.Counter()
    for viewer, future in zip(state.viewers, futures, strict=True):
        if future in pending:
            errors["no handshake within the connect timeout"] += 1
            assert viewer.task is not None
            viewer.task.cancel()
        elif future.result() is not None:
            errors[future.result()] += 1
    connected = sum(1 for v in state.viewers if v.open)
    closed_already = sum(1 for f in futures if f.done() and f.result() is None) - connected
    return {
        "connected": connected,
        "failed": n - connected,
        "closed_after_connect": closed_already,
        "errors": dict(errors),
        "seconds": time.monotonic() - started,
    }


def _finish_stats(state: LoadState, messages: int, late: int) -> dict:
    latencies: list[float] = []
    delivered = duplicates = foreign = 0
    for viewer in state.viewers:
        seen: set[int] = set()
        for received_at, text in viewer.received:
            match = MESSAGE_RE.search(text)
            if match is None or match.group(1) != state.tag:
                foreign += 1
                continue
            index = int(match.group(2))
            if index in seen:
                duplicates += 1
                continue
            seen.add(index)
            delivered += 1
            latencies.append(received_at - float(match.group(3)))
    latencies.sort()
    return {
        "delivered": delivered,
        "duplicates": duplicates,
        "foreign": foreign,
        "other": sum(v.other for v in state.viewers),
        "late": late,
        "p50": percentile(latencies, 50),
        "p95": percentile(latencies, 95),
        "p99": percentile(latencies, 99),
        "max": latencies[-1] if latencies else float("nan"),
        "open_at_end": sum(1 for v in state.viewers if v.open),
        "close_codes": dict(
            collections.Counter(v.close_code for v in state.viewers if v.ws is not None and not v.open)
        ),
    }


async def close_all(state: LoadState, within: float, keep: bool = False) -> None:
    """Close every socket; with `keep`, the viewers' records stay (the storm reconnects them)."""
    viewers = [v for v in state.viewers if v.ws is not None]

    async def close(viewer: Viewer) -> None:
        with contextlib.suppress(Exception):
            await viewer.ws.close()

    # Close in slices so that the servers are not hit by thousands of closes in one instant.
    deadline = time.monotonic() + within
    for start in range(0, len(viewers), 500):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        await asyncio.wait(
            [asyncio.ensure_future(close(v)) for v in viewers[start : start + 500]], timeout=remaining
        )
    for viewer in state.viewers:
        if viewer.task is not None and not viewer.task.done():
            viewer.task.cancel()
    await asyncio.sleep(0)
    if not keep:
        state.viewers = []


# --- ingest: a burst of questions (issue 7.4) --------------------------------------------------

QUESTION_MARK = "ingest-bench"
QUESTION_RE = re.compile(QUESTION_MARK + r" (\S+) (\d+) ([0-9.]+)\]")
QUESTION_TEMPLATES = (
    "请问{n}路公交的夜间班次能不能延长到十一点？下班晚的人太多了。",
    "我们小区门口的人行道施工已经{n}天了，什么时候能完工？老人出门很不方便。",
    "地铁站出口的共享单车停放太乱，能否划定停放区域并安排人员每天整理？",
    "孩子今年上小学，学区划分什么时候公布？我们{n}号楼到底属于哪个学校？",
    "医保异地结算还要先备案吗？在外地住院{n}天，回来报销手续太复杂。",
    "老旧小区加装电梯的补贴标准是多少？我们单元{n}户都同意了，下一步找谁？",
    "冬季供暖温度总是不达标，室内只有十几度，打了{n}次热线还没解决。",
    "路口的红绿灯时间太短，行人过马路要跑，能否延长{n}秒？",
)


def question_text(tag: str, index: int, sent_at: float) -> str:
    """A citizen's question of ordinary length, with the bench's mark (tag, index, send time)."""
    template = QUESTION_TEMPLATES[index % len(QUESTION_TEMPLATES)]
    return template.format(n=index % 89 + 2) + f"[{QUESTION_MARK} {tag} {index} {sent_at:.6f}]"


async def _ask_all(
    state: LoadState, tag: str, window: float, within: float, count: int, resend: bool
) -> dict:
    """Every open connection (or the first `count`) sends one `ask`, spread evenly over `window` s.

    With `resend`, the same client_id and text as its first ask. Waits for each one's `ask.ok` or
    `error` (matched on `ref`) until `within` s after the last send.
    """
    targets = [(i, v) for i, v in enumerate(state.viewers) if v.open]
    if count:
        targets = targets[:count]
    asked = state.asked
    sent: dict[int, tuple[str, float, int]] = {}  # index -> client_id, send time, frames before the send
    send_errors: collections.Counter[str] = collections.Counter()
    started = time.monotonic()
    for k, (i, viewer) in enumerate(targets):
        ahead = started + k * window / max(1, len(targets)) - time.monotonic()
        if ahead > 0.002:
            await asyncio.sleep(ahead)
        sent_at = time.time()
        if resend and i in asked:
            client_id, text = asked[i]
        else:
            client_id = f"{tag}-{i}"
            text = question_text(tag, i, sent_at)
            asked[i] = (client_id, text)
        frame = json.dumps(
            {"type": "ask", "client_id": client_id, "text": text, "nickname": f"网友{i}"}, ensure_ascii=False
        )
        sent[i] = (client_id, sent_at, len(viewer.frames))
        try:
            await viewer.ws.send(frame)
        except Exception as exc:
            send_errors[describe(exc)] += 1
            del sent[i]
    send_seconds = time.monotonic() - started
    pending = dict(sent)
    replies: dict[int, tuple[float, dict]] = {}
    deadline = time.monotonic() + within
    while pending and time.monotonic() < deadline:
        for i, (client_id, sent_at, start) in list(pending.items()):
            needle = f'"ref":"{client_id}"'
            for received_at, text in state.viewers[i].frames[start:]:
                if needle in text:
                    replies[i] = (received_at - sent_at, json.loads(text))
                    del pending[i]
                    break
        if pending:
            await asyncio.sleep(0.02)
    latencies = sorted(latency for latency, frame in replies.values() if frame.get("type") == "ask.ok")
    errors = collections.Counter(
        str(frame.get("code")) for _latency, frame in replies.values() if frame.get("type") != "ask.ok"
    )
    errors.update({f"send failed: {k}": v for k, v in send_errors.items()})
    if pending:
        errors["no answer within the timeout"] += len(pending)
    return {
        "sent": len(sent),
        "send_seconds": send_seconds,
        "ok": len(latencies),
        "errors": dict(errors),
        "p50": percentile(latencies, 50),
        "p95": percentile(latencies, 95),
        "p99": percentile(latencies, 99),
        "max": latencies[-1] if latencies else float("nan"),
        "question_ids": {
            sent[i][0]: frame.get("question_id")
            for i, (_latency, frame) in replies.items()
            if frame.get("type") == "ask.ok"
        },
    }


# --- storm: every viewer reconnects with ?after= (issue 7.5) ----------------------------------


def _event_seqs(viewer: Viewer) -> list[int]:
    seqs = []
    for _at, text in viewer.frames:
        if '"type":"event"' in text:
            seqs.append(json.loads(text)["seq"])
    return seqs


async def _wait_events(state: LoadState, count: int, within: float) -> dict:
    """Wait until every open viewer holds `count` events; each viewer's `after` = the last seq it holds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if all(sum('"type":"event"' in t for _a, t in v.frames) >= count for v in state.viewers if v.open):
            break
        await asyncio.sleep(0.05)
    holding: collections.Counter[int] = collections.Counter()
    for viewer in state.viewers:
        if viewer.ws is None:
            continue
        seqs = _event_seqs(viewer)
        if seqs:
            viewer.after = max(seqs)
        else:  # nothing live yet: what the hello said
            for _at, text in viewer.frames:
                if '"type":"hello"' in text:
                    viewer.after = json.loads(text)["last_seq"]
                    break
        holding[viewer.after] += 1
    return {"open": sum(1 for v in state.viewers if v.open), "after": dict(holding)}


async def _storm(
    state: LoadState, urls: list[str], origins: list[str], window: float, final_seq: int, within: float
) -> dict:
    """Every viewer that was connected reconnects with ?after=<its last seq>, ramped evenly over `window`.

    Each lands on the next process (as behind a balancer after a blip). Waits until every one holds
    `final_seq` (or `within` s after the last connect), then checks what each one received.
    """
    olds = [v for v in state.viewers if v.ws is not None]
    started = time.monotonic()
    news, futures = await _reconnect_all(state, olds, urls, origins, window)
    state.viewers = news
    ramp_seconds = time.monotonic() - started
    await _wait_holding(news, futures, final_seq, within)
    connected = sum(1 for f in futures if f.done() and f.result() is None)
    return {
        "viewers": len(olds),
        "connected": connected,
        "failed": len(olds) - connected,
        "ramp_seconds": ramp_seconds,
        **_storm_tally(news, futures, final_seq),
        "closed_by_server": sum(
            1 for v, f in zip(news, futures, strict=True) if f.done() and f.result() is None and not v.open
        ),
        "close_codes": dict(
            collections.Counter(v.close_code for v in news if v.ws is not None and not v.open)
        ),
        "after": dict(collections.Counter(v.after for v in news)),
        "seconds": time.monotonic() - started,
    }


async def _reconnect_all(
    state: LoadState, olds: list[Viewer], urls: list[str], origins: list[str], window: float
) -> tuple[list[Viewer], list[asyncio.Future]]:
    """A new viewer for each old one, with its `after`, on the next process; ramped over `window`."""
    loop = asyncio.get_running_loop()
    news: list[Viewer] = []
    futures: list[asyncio.Future] = []
    started = time.monotonic()
    for k, old in enumerate(olds):
        ahead = started + k * window / max(1, len(olds)) - time.monotonic()
        if ahead > 0.002:
            await asyncio.sleep(ahead)
        viewer = Viewer()
        viewer.after = old.after
        viewer.started = time.time()
        j = (k + 1) % len(urls)
        future = loop.create_future()
        viewer.task = loop.create_task(
            _viewer(state, viewer, f"{urls[j]}?after={old.after}", origins[j], future)
        )
        news.append(viewer)
        futures.append(future)
    return news, futures


async def _wait_holding(
    news: list[Viewer], futures: list[asyncio.Future], final_seq: int, within: float
) -> None:
    """Until every viewer holds `final_seq`, failed or was closed; at most `within` s."""
    last = f'"seq":{final_seq},'

    def done(viewer: Viewer, future: asyncio.Future) -> bool:
        if not future.done():
            return False
        if future.result() is not None or not viewer.open:
            return True
        return any(last in t and '"type":"event"' in t for _a, t in viewer.frames)

    deadline = time.monotonic() + within
    finished: set[int] = set()
    while time.monotonic() < deadline and len(finished) < len(news):
        for k, (viewer, future) in enumerate(zip(news, futures, strict=True)):
            if k not in finished and done(viewer, future):
                finished.add(k)
        if len(finished) < len(news):
            await asyncio.sleep(0.05)


def _storm_tally(news: list[Viewer], futures: list[asyncio.Future], final_seq: int) -> dict:
    """What the reconnected viewers received: complete, duplicates, missing, extra, latencies."""
    last = f'"seq":{final_seq},'
    errors: collections.Counter[str] = collections.Counter()
    latencies: list[float] = []
    complete = duplicates = missing = extra = error_frames = bad_hello = 0
    for viewer, future in zip(news, futures, strict=True):
        if not future.done():
            errors["no handshake within the timeout"] += 1
            continue
        if future.result() is not None:
            errors[future.result()] += 1
            continue
        seqs = _event_seqs(viewer)
        expected = list(range(viewer.after + 1, final_seq + 1))
        duplicates += len(seqs) - len(set(seqs))
        missing += len(set(expected) - set(seqs))
        extra += sum(1 for s in seqs if s <= viewer.after or s > final_seq)
        if seqs == expected:
            complete += 1
        for at, text in viewer.frames:
            if '"type":"error"' in text:
                error_frames += 1
            elif '"type":"hello"' in text and json.loads(text)["last_seq"] < viewer.after:
                bad_hello += 1
            elif '"type":"event"' in text and last in text:
                latencies.append(at - viewer.started)
                break
    latencies.sort()
    return {
        "errors": dict(errors),
        "complete": complete,
        "duplicates": duplicates,
        "missing": missing,
        "extra": extra,
        "error_frames": error_frames,
        "bad_hello": bad_hello,
        "p50": percentile(latencies, 50),
        "p95": percentile(latencies, 95),
        "p99": percentile(latencies, 99),
        "max": latencies[-1] if latencies else float("nan"),
    }


# --- the process and its pipe ------------------------------------------------------------------


class Commands:
    """The load generator's end of the pipe: the next command without blocking the event loop."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.loop = asyncio.get_running_loop()
        self.readable = asyncio.Event()
        self.loop.add_reader(conn.fileno(), self.readable.set)

    async def next(self) -> tuple[str, list[Any]]:
        while not self.conn.poll():
            self.readable.clear()
            if self.conn.poll():
                break
            await self.readable.wait()
        command, *args = self.conn.recv()
        return command, args

    def send(self, answer: dict) -> None:
        self.conn.send(answer)

    def close(self) -> None:
        """The answer to ``exit``: the last one."""
        self.loop.remove_reader(self.conn.fileno())
        self.conn.send({"bye": True})


async def _serve(conn: Any) -> None:
    commands = Commands(conn)
    state = LoadState()
    while True:
        command, args = await commands.next()
        if command == "exit":
            commands.close()
            return
        answer = await _answer(state, command, args)
        if answer is not None:  # an unknown command gets no answer: the caller's call() times out
            commands.send(answer)


async def _answer(state: LoadState, command: str, args: list[Any]) -> dict | None:
    if command == "connect":
        return await _connect_all(state, *args)
    if command == "start":
        state.tag, messages = args
        for viewer in state.viewers:
            viewer.received.clear()
            viewer.count = viewer.other = 0
        state.recording = True
        return {"viewers": sum(1 for v in state.viewers if v.open), "messages": messages}
    if command == "finish":
        messages, timeout = args
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(v.count >= messages for v in state.viewers if v.open):
                break
            await asyncio.sleep(0.02)
        state.recording = False
        late = sum(max(0, messages - v.count) for v in state.viewers if v.open)
        return _finish_stats(state, messages, late)
    if command == "close":
        await close_all(state, *args)
        state.capture = False
        return {"closed": True}
    if command == "capture":
        state.capture = True
        return {"capture": True}
    if command == "ask":
        return await _ask_all(state, *args)
    if command == "events":
        return await _wait_events(state, *args)
    if command == "disconnect":
        await close_all(state, args[0], keep=True)
        return {"closed": sum(1 for v in state.viewers if v.ws is not None)}
    if command == "storm":
        return await _storm(state, *args)
    return None


def run_process(conn: Any, serve: Callable[[Any], Coroutine[Any, Any, None]]) -> None:
    """A load-generator process's body: Ctrl-C left to the bench (which stops it), the open-file
    limit raised, then `serve` reads the pipe until ``exit``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise_nofile()
    asyncio.run(serve(conn))


def loadgen_main(conn: Any) -> None:
    """Entry point of the load-generator process."""
    run_process(conn, _serve)


class LoadGen:
    """The load-generator process; `target` is its entry point (bench/soak.py brings its own)."""

    def __init__(self, target: Any = None, name: str = "fanout-loadgen") -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=target or loadgen_main, args=(child,), name=name, daemon=True)
        self.process.start()
        child.close()

    @property
    def pid(self) -> int:
        assert self.process.pid is not None
        return self.process.pid

    async def call(self, within: float, *command: Any) -> dict:
        self.conn.send(command)
        ready = await asyncio.to_thread(self.conn.poll, within)
        if not ready:
            raise TimeoutError(f"the load generator did not answer {command[0]!r} within {within:.0f} s")
        return self.conn.recv()

    def stop(self) -> None:
        if self.process.is_alive():
            with contextlib.suppress(Exception):
                self.conn.send(("exit",))
                if self.conn.poll(10):
                    self.conn.recv()
            self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
