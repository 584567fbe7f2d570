"""Working days: China's statutory holidays and swapped working days (调休), kept as data.

The calendar lives in CalendarYear/CalendarDay (seeded by `loadcalendar`, edited in the admin).
A year without a CalendarYear row counts Monday to Friday as working days; pages that show a
deadline reaching such a year say so (`years_without_calendar`).

The rules, in one place, for deadlines and for the traffic lights:

* Deadlines in working days. The limit starts at the end of the (local, Asia/Shanghai) day on
  which the letter arrived, whatever the hour and whatever kind of day that is, and ends at 24:00
  of the N-th working day after that day. The deadline is returned as 00:00 of the following
  day, so that "overdue" is simply ``now >= deadline``; `deadline_day` gives the day to print
  ("10 月 8 日 24:00"). Forwarded on Friday 16:00 with 1 working day: Monday 24:00. Forwarded on
  a holiday: the first working day after it is day 1. An extension of E days or a redo is a new
  count, never arithmetic on a stored deadline: ``add_working_days(start, N + E)``, so that a
  year's calendar entered later moves every open deadline (STYLE.md "Deadlines are
  recomputable").
* Deadlines in hours: plain clock hours from the instant the letter arrived.
* The share of a limit that has passed (the yellow light comes on at 1/3): for a limit in working
  days, the clock time on working days between the limit's start (the end of the arrival day)
  and now, over the same between the start and the deadline. A weekend or holiday inside the
  limit does not eat into it, and the share runs through a working day evenly, so with 3 working
  days 1/3 is reached at 24:00 of the first working day. For a limit in hours, elapsed clock time
  over the limit. The share is a Fraction from 0 to 1; it is 1 from the deadline on.
"""

import datetime as dt
import math
from collections.abc import Iterable
from fractions import Fraction

from django.utils import timezone

from letters.models import CalendarYear

ONE_DAY = dt.timedelta(days=1)


def calendar_known(year: int) -> bool:
    """Whether the year's holidays have been entered (if not, Monday to Friday are working days)."""
    return CalendarYear.objects.filter(year=year).exists()


def deadline_day(deadline: dt.datetime) -> dt.date:
    """The local day at whose 24:00 a deadline from `add_working_days` falls: the day to print."""
    return (
        timezone.localtime(deadline, timezone.get_default_timezone()) - dt.timedelta(microseconds=1)
    ).date()


def _midnight(day: dt.date) -> dt.datetime:
    """00:00 local at the start of `day`, in UTC so that differences are true durations."""
    local = dt.datetime.combine(day, dt.time.min, tzinfo=timezone.get_default_timezone())
    return local.astimezone(dt.UTC)


def _local_date(moment: dt.datetime) -> dt.date:
    # localtime() refuses naive datetimes, which is what we want: a deadline needs an instant.
    return timezone.localtime(moment, timezone.get_default_timezone()).date()


def _microseconds(span: dt.timedelta) -> int:
    return (span.days * 86_400 + span.seconds) * 1_000_000 + span.microseconds


class WorkCalendar:
    """The working-day calendar as read from the database once per instance.

    Make one per request or per sweep: it reads the exceptions of each year the first time a
    computation touches that year (one query for all the years missing at that moment) and keeps
    them, so a sweep over many letters reads the calendar once. `preload` reads a range up front.
    """

    def __init__(self) -> None:
        self._known: dict[int, bool] = {}
        self._exceptions: dict[dt.date, bool] = {}

    def preload(self, years: Iterable[int]) -> None:
        missing = set(years) - self._known.keys()
        if not missing:
            return
        for year in missing:
            self._known[year] = False
        # One query: a LEFT JOIN gives a row per exception, and one row (date None) for a year
        # that is entered but has no exceptions.
        rows = CalendarYear.objects.filter(year__in=missing).values_list(
            "year", "days__date", "days__is_working_day"
        )
        for year, day, working in rows:
            self._known[year] = True
            if day is not None:
                self._exceptions[day] = working

    def calendar_known(self, year: int) -> bool:
        self.preload((year,))
        return self._known[year]

    def years_without_calendar(self, dates: Iterable[dt.date]) -> set[int]:
        """The years among these calendar days that have no calendar (counted Monday to Friday).

        Pass days, not datetimes: a deadline of 2027-01-01 00:00 is the end of 2026-12-31, so
        pass `deadline_day(deadline)`.
        """
        days = list(dates)
        if any(isinstance(day, dt.datetime) for day in days):
            raise TypeError("years_without_calendar() takes dates; use deadline_day() for a deadline")
        years = {day.year for day in days}
        self.preload(years)
        return {year for year in years if not self._known[year]}

    def is_working_day(self, day: dt.date) -> bool:
        self.preload((day.year,))
        return self._exceptions.get(day, day.weekday() < 5)

    def add_working_days(self, start: dt.datetime, days: int) -> dt.datetime:
        """The deadline N working days after the day of `start`: 00:00 after that N-th day."""
        if days < 1:
            raise ValueError("a limit in working days is at least 1")
        day = _local_date(start)
        # A December deadline usually reaches January: read both years in one query.
        self.preload((day.year, day.year + 1))
        counted = 0
        while counted < days:
            day += ONE_DAY
            if self.is_working_day(day):
                counted += 1
        return timezone.localtime(_midnight(day + ONE_DAY), timezone.get_default_timezone())

    def add_hours(self, start: dt.datetime, hours: int) -> dt.datetime:
        """The deadline `hours` clock hours after `start`, nights, weekends and holidays included."""
        if hours < 1:
            raise ValueError("a limit in hours is at least 1")
        if timezone.is_naive(start):
            raise ValueError("add_hours() needs an aware datetime")
        end = start.astimezone(dt.UTC) + dt.timedelta(hours=hours)
        return timezone.localtime(end, timezone.get_default_timezone())

    def working_time(self, begin: dt.datetime, end: dt.datetime) -> dt.timedelta:
        """The clock time between two instants that falls on working days."""
        begin, end = begin.astimezone(dt.UTC), end.astimezone(dt.UTC)
        if end <= begin:
            return dt.timedelta(0)
        day, last = _local_date(begin), _local_date(end)
        self.preload(range(day.year, last.year + 1))
        total = dt.timedelta(0)
        while day <= last:
            if self.is_working_day(day):
                low, high = max(begin, _midnight(day)), min(end, _midnight(day + ONE_DAY))
                if high > low:
                    total += high - low
            day += ONE_DAY
        return total

    def _limit_start(self, start: dt.datetime, working_days: bool) -> dt.datetime:
        return _midnight(_local_date(start) + ONE_DAY) if working_days else start.astimezone(dt.UTC)

    def working_time_share(
        self, start: dt.datetime, deadline: dt.datetime, now: dt.datetime, *, working_days: bool = True
    ) -> Fraction:
        """The share of the limit from `start` to `deadline` that has passed at `now`, from 0 to 1.

        `working_days=False` for a limit set in hours (plain clock time).
        """
        origin = self._limit_start(start, working_days)
        until = min(now, deadline)
        if working_days:
            elapsed, total = self.working_time(origin, until), self.working_time(origin, deadline)
        else:
            elapsed, total = max(until - origin, dt.timedelta(0)), deadline - origin
        if total <= dt.timedelta(0):
            return Fraction(1 if now >= deadline else 0)
        return Fraction(_microseconds(elapsed), _microseconds(total))

    def share_reached_at(
        self, start: dt.datetime, deadline: dt.datetime, share: Fraction, *, working_days: bool = True
    ) -> dt.datetime:
        """The first instant at which `working_time_share` reaches `share` (e.g. the yellow light).

        Storing this beside the deadline lets the supervision sweep find new yellow lights with a
        query instead of computing every letter's share; at every instant
        ``working_time_share(...) >= share`` exactly when ``now >= share_reached_at(...)``.
        """
        if not 0 <= share <= 1:
            raise ValueError("a share of a limit lies between 0 and 1")
        origin = self._limit_start(start, working_days)
        if working_days:
            total = self.working_time(origin, deadline)
        else:
            total = max(deadline - origin, dt.timedelta(0))
        # Rounded up to the microsecond, so the share at the returned instant is not below `share`.
        target = math.ceil(Fraction(share) * _microseconds(total))
        if target <= 0:
            return timezone.localtime(origin, timezone.get_default_timezone())
        if not working_days:
            return timezone.localtime(
                origin + dt.timedelta(microseconds=target), timezone.get_default_timezone()
            )
        remaining = dt.timedelta(microseconds=target)
        day = _local_date(origin)
        while True:
            if self.is_working_day(day):
                low, high = max(origin, _midnight(day)), min(deadline, _midnight(day + ONE_DAY))
                if remaining <= high - low:
                    return timezone.localtime(low + remaining, timezone.get_default_timezone())
                remaining -= max(high - low, dt.timedelta(0))
            day += ONE_DAY
