"""What happens when: timed actions run in time order, each with the clock set to its time.

Each half of the simulation puts actions on one Timeline (a heap); an action may put further
actions on it (a letter signed today schedules its reply for a later working day), so the heap holds
only what is already decided. Running moves a ManualClock forward to each action's time — the
services, rate limits and caches see that time through core.clock — and never backwards.
"""

import datetime as dt
import heapq
import itertools
from collections.abc import Callable
from typing import Any

from core import clock

Action = Callable[[], Any]


class Timeline:
    def __init__(self, start: dt.datetime) -> None:
        self.clock = clock.ManualClock(start)
        self._heap: list[tuple[dt.datetime, int, Action]] = []
        self._order = itertools.count()  # equal times run in the order they were scheduled
        self.done = 0

    def at(self, when: dt.datetime, action: Action) -> None:
        """Run `action` at `when` (an aware datetime; a time already past runs next, at the clock's time)."""
        heapq.heappush(self._heap, (max(when, self.clock.at), next(self._order), action))

    def run(self, until: dt.datetime, every: Callable[[dt.datetime], None] | None = None) -> int:
        """Run every action due before `until` in time order with the clock at its time; return how
        many ran. `every(now)` is called after each action (progress lines)."""
        ran = 0
        with clock.use(self.clock):
            while self._heap and self._heap[0][0] < until:
                when, _order, action = heapq.heappop(self._heap)
                self.clock.set(when)
                action()
                ran += 1
                if every is not None:
                    every(when)
            self.clock.set(max(until, self.clock.at))
        self.done += ran
        return ran

    def __len__(self) -> int:
        return len(self._heap)
