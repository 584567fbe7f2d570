"""The soak's staff (bench/soak.py), in the bench's process: the host, the guests and the moderators
on minxin_client's consoles, each action timed until its ack."""

from __future__ import annotations

import asyncio
import collections
import random
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from bench.load import describe
from bench.soak_plan import FORWARD, PUBLISH, REASONS
from minxin_client import ModerateConsole, Refused, StudioConsole


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
            self.stats.staff_errors[f"{self.name}: {kind} {describe(exc)}"] += 1
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
