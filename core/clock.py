"""What time it is, for everything the service decides by time: one clock, injectable.

Services, rate limits and the caches of computed figures ask `clock.now()` rather than
`timezone.now()` or `time.time()`, so that `manage.py simulate` can run a year of the service in
minutes by moving this clock, and a test can hold time still — neither patches anything.

What measures this process rather than the programme keeps the wall clock: the fan-out lag, the
presence heartbeats, log timestamps, the clock job's own bookkeeping of when it last ran.

One clock per process (a module global, not a context variable): the simulation and the request
threads Channels starts with `sync_to_async` must all see the same time.
"""

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.core.cache import cache
from django.utils import timezone

Source = Callable[[], dt.datetime]

_source: Source = timezone.now


def now() -> dt.datetime:
    """The current instant, time-zone aware (UTC)."""
    return _source()


def timestamp() -> float:
    """The current instant in seconds since the epoch, as `time.time()` gives it."""
    return now().timestamp()


def localtime() -> dt.datetime:
    """The current instant in the site's time zone (settings.TIME_ZONE)."""
    return timezone.localtime(now())


def localdate() -> dt.date:
    """Today's date in the site's time zone."""
    return localtime().date()


class ManualClock:
    """A clock that stands still until told to move: for the simulation and for tests."""

    def __init__(self, start: dt.datetime) -> None:
        if timezone.is_naive(start):
            raise ValueError("a clock needs an aware datetime")
        self.at = start

    def __call__(self) -> dt.datetime:
        return self.at

    def set(self, at: dt.datetime) -> None:
        if at < self.at:
            raise ValueError(f"the clock does not run backwards ({at} < {self.at})")
        self.at = at

    def advance(self, delta: dt.timedelta) -> None:
        self.set(self.at + delta)


@contextmanager
def use(source: Source) -> Iterator[Source]:
    """Run the block with `source` as the clock, then restore the one before."""
    global _source
    before, _source = _source, source
    try:
        yield source
    finally:
        _source = before


def cached(key: str, seconds: float, compute: Callable[[], Any], *, refresh: bool = False) -> Any:
    """`compute()`, kept in the cache for `seconds` of this clock's time.

    The entry carries the instant it was computed, so a simulated year does not read a figure
    computed a simulated month ago just because a real second has not passed; the cache's own
    time-to-live (real seconds) only bounds how long a stale entry occupies memory.
    """
    at = timestamp()
    entry = None if refresh else cache.get(key)
    if entry is not None and isinstance(entry, tuple) and len(entry) == 2 and 0 <= at - entry[0] < seconds:
        return entry[1]
    value = compute()
    cache.set(key, (at, value), seconds)
    return value
