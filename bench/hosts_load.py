"""The several-hosts benchmark's load generator (bench/hosts.py), in a process of its own.

Each viewer is the lean client of bench/leanws.py behaving as minxin_client's Viewer does: it
follows /ws/live/<id>/ through the balancer, and whenever its socket is lost it waits as
minxin_client's `Backoff` says (the first attempt after a drop spread over `spread` seconds,
failed attempts backing off with jitter) and comes back with ``?after=<the last seq it holds>``.
It notes every event's seq (a seq it already holds is a double; one it never gets is lost), the
delivery latency of the bench's marked answers, and for each drop the time back to the next
``hello`` (the reconnect time).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from bench import leanws
from bench.load import MESSAGE_RE, Commands, run_process
from bench.report import percentile
from minxin_client import Backoff


class Follower:
    __slots__ = ("after", "codes", "connects", "doubled", "drops", "gaps", "latencies", "returns", "seqs")

    def __init__(self) -> None:
        self.after = 0
        self.seqs: list[int] = []
        self.doubled = 0
        self.gaps = 0
        self.connects = 0
        self.drops: list[float] = []  # time.time() of each lost connection
        self.codes: list[int | None] = []
        self.returns: list[float] = []  # time.time() of each hello after a drop
        self.latencies: list[float] = []


class State:
    def __init__(self) -> None:
        self.followers: list[Follower] = []
        self.tasks: list[asyncio.Task] = []
        self.stop = asyncio.Event()
        self.tag = ""


async def follow(state: State, me: Follower, url: str, origin: str, backoff: Backoff) -> None:
    failures = 0
    tag = state.tag

    def on_text(now: float, text: str) -> None:
        if '"type":"event"' in text:
            seq = json.loads(text)["seq"]
            if seq <= me.after:
                me.doubled += 1
                return
            if seq != me.after + 1:
                me.gaps += 1
            me.after = seq
            me.seqs.append(seq)
            match = MESSAGE_RE.search(text)
            if match is not None and match.group(1) == tag:
                me.latencies.append(now - float(match.group(3)))
        elif text.startswith('{"type":"hello"'):
            me.connects += 1
            if me.drops:
                me.returns.append(now)

    while not state.stop.is_set():
        try:
            ws = await leanws.connect(f"{url}?after={me.after}", origin, open_timeout=30)
        except (OSError, TimeoutError, leanws.HandshakeError, asyncio.IncompleteReadError, ValueError):
            failures += 1
            await asyncio.sleep(backoff.delay(failures))
            continue
        hellos = me.connects
        stopper = asyncio.ensure_future(state.stop.wait())
        reader = asyncio.ensure_future(ws.run(on_text, time.time))
        await asyncio.wait([stopper, reader], return_when=asyncio.FIRST_COMPLETED)
        if state.stop.is_set():
            reader.cancel()
            await ws.close()
            return
        stopper.cancel()
        if me.connects == hellos:  # closed before its hello (a handshake the server gave up on): a
            failures += 1  # failed attempt, backed off as minxin_client does, not a lost connection
            await asyncio.sleep(backoff.delay(failures))
            continue
        failures = 0
        me.drops.append(time.time())
        me.codes.append(ws.close_code)
        await asyncio.sleep(backoff.after_drop(ws.close_code))


async def connect(
    state: State, url: str, origin: str, count: int, rate: float, spread: float, tag: str
) -> dict:
    state.tag = tag
    backoff = Backoff(initial=0.2, cap=2.0, spread=spread)
    started = time.monotonic()
    for i in range(count):
        ahead = started + i / rate - time.monotonic()
        if ahead > 0.002:
            await asyncio.sleep(ahead)
        me = Follower()
        state.followers.append(me)
        state.tasks.append(asyncio.ensure_future(follow(state, me, url, origin, backoff)))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not all(f.connects for f in state.followers):  # noqa: ASYNC110 — polls what the followers set
        await asyncio.sleep(0.1)
    return {"connected": sum(1 for f in state.followers if f.connects), "seconds": time.monotonic() - started}


async def finish(state: State, last: int, fault_at: float, within: float) -> dict:
    """Wait until every viewer holds seq `last` (at most `within` s), stop them, and tally."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and not all(f.after >= last for f in state.followers):  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    state.stop.set()
    await asyncio.wait(state.tasks, timeout=15)
    whole = set(range(1, last + 1))
    dropped = [f for f in state.followers if any(at >= fault_at for at in f.drops)]
    reconnects = sorted(
        back - drop
        for f in dropped
        for drop, back in zip(f.drops, f.returns, strict=False)
        if drop >= fault_at
    )
    returns = sorted(
        back for f in dropped for drop, back in zip(f.drops, f.returns, strict=False) if drop >= fault_at
    )
    latencies = sorted(x for f in state.followers for x in f.latencies)
    codes: dict[str, int] = {}
    for f in dropped:
        for code in f.codes:
            codes[str(code)] = codes.get(str(code), 0) + 1
    return {
        "viewers": len(state.followers),
        "complete": sum(1 for f in state.followers if f.seqs == sorted(whole)),
        "lost": sum(len(whole - set(f.seqs)) for f in state.followers),
        "doubled": sum(f.doubled for f in state.followers),
        "gaps": sum(f.gaps for f in state.followers),
        "delivered": sum(len(set(f.seqs) & whole) for f in state.followers),
        "dropped": len(dropped),
        "reconnected": len(reconnects),
        "codes": codes,
        "reconnect": [
            percentile(reconnects, 50),
            percentile(reconnects, 99),
            reconnects[-1] if reconnects else 0,
        ],
        "busiest_100ms": busiest(returns, 0.1),
        "returns_span": (returns[-1] - returns[0]) if returns else 0.0,
        "latency": [percentile(latencies, 50), percentile(latencies, 99), latencies[-1] if latencies else 0],
    }


def busiest(instants: list[float], width: float) -> int:
    most = start = 0
    for end, at in enumerate(instants):
        while at - instants[start] > width:
            start += 1
        most = max(most, end - start + 1)
    return most


async def serve(conn: Any) -> None:
    commands = Commands(conn)
    state = State()
    while True:
        command, args = await commands.next()
        if command == "exit":
            commands.close()
            return
        if command == "connect":
            commands.send(await connect(state, *args))
        elif command == "finish":
            commands.send(await finish(state, *args))


def main(conn: Any) -> None:
    """Entry point of the load-generator process (bench.load.LoadGen(target=main))."""
    run_process(conn, serve)
