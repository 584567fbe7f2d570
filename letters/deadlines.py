"""When a letter's open stage is due: its deadline and the moment its light turns yellow.

Deadlines are stored with what they were computed from (the stage's start, the limit in force when
it began, approved extension days), so `schedule` recomputes them whenever a year's calendar is
entered or edited; an on-time verdict is frozen when its stage ends (letters.services).
"""

import datetime as dt
from collections.abc import Iterable
from fractions import Fraction

from django.db import transaction

from departments.models import Department, TimeLimit, TimeUnit
from letters.models import Letter, LetterStatus
from letters.workdays import WorkCalendar

S = LetterStatus


def limit_for(department: Department, kind: str) -> TimeLimit:
    own = TimeLimit.objects.filter(department=department, letter_kind=kind).first()
    return own or TimeLimit.objects.get(department=None, letter_kind=kind)


def _deadline(
    calendar: WorkCalendar, start: dt.datetime, limit: int, unit: str, extra_days: int, share: Fraction
):
    """(deadline, moment the yellow light comes on) for a stage that began at `start`."""
    if unit == TimeUnit.HOURS:
        deadline = calendar.add_hours(start, limit + 24 * extra_days)
        return deadline, calendar.share_reached_at(start, deadline, share, working_days=False)
    deadline = calendar.add_working_days(start, limit + extra_days)
    return deadline, calendar.share_reached_at(start, deadline, share)


def schedule(letter: Letter, calendar: WorkCalendar | None = None) -> None:
    """Compute the open stage's deadline and yellow moment from what the letter stores."""
    calendar = calendar or WorkCalendar()
    share = Fraction(letter.yellow_numerator, letter.yellow_denominator)
    if letter.status == S.FORWARDED and letter.forwarded_at and letter.sign_limit:
        letter.sign_deadline, letter.sign_yellow_at = _deadline(
            calendar, letter.forwarded_at, letter.sign_limit, letter.sign_unit, 0, share
        )
    if letter.status == S.SIGNED and letter.reply_started_at and letter.reply_limit:
        letter.reply_deadline, letter.reply_yellow_at = _deadline(
            calendar,
            letter.reply_started_at,
            letter.reply_limit,
            letter.reply_unit,
            letter.extension_days,
            share,
        )


def recompute_open_deadlines() -> int:
    """After a year's calendar is entered or edited: move every open deadline. Returns how many letters."""
    calendar = WorkCalendar()
    count = 0
    with transaction.atomic():
        for letter in Letter.objects.select_for_update().filter(status__in=[S.FORWARDED, S.SIGNED]):
            schedule(letter, calendar)
            letter.save(
                update_fields=["sign_deadline", "sign_yellow_at", "reply_deadline", "reply_yellow_at"]
            )
            count += 1
    return count


def calendar_changed(years: Iterable[int]) -> None:
    """Called whenever the calendar of these years is loaded, edited or deleted (the admin,
    `loadcalendar`): the open deadlines (and yellow-light times) are recomputed, since a stored
    deadline computed with an unknown or wrong calendar is otherwise never corrected
    (Alaveteli #7292). Verdicts already frozen at a stage's end stay as they are."""
    recompute_open_deadlines()


# --- permissions -------------------------------------------------------------------------------
