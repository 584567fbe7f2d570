"""Following letters up: replied letters their writers never rated are closed (未评价办结), letters
close to a limit are flagged and supervisors may send the department a reminder (催办), and a
handler is told why a letter came back (the redo's reason) and who pressed for it.

Every write here is a workflow step like those of letters.services (checked, logged, atomic).
"""

import datetime as dt
from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Case, F, Q, When
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from core import clock
from letters import lights
from letters.models import Closure, Letter, LetterLog, LetterStatus
from letters.services import MAX_REASON, _name, _require, _step, _text, locked_letter
from letters.workdays import WorkCalendar, deadline_day

S = LetterStatus
ONE_DAY = dt.timedelta(days=1)
BATCH = 1000  # letters closed per UPDATE: SQLite's limit on query parameters is far above it


# --- 未评价办结 ---------------------------------------------------------------------------------


def unrated_cutoff(now: dt.datetime, calendar: WorkCalendar | None = None) -> dt.datetime:
    """Letters replied before this instant and still unrated are closed at `now`.

    A reply made on (local) day d waits MINXIN_UNRATED_CLOSE_WORKDAYS working days counted as every
    limit is (letters/workdays.py: from the end of day d). The wait only grows with d, so the cutoff
    is 00:00 after the last day whose wait is over at `now`.
    """
    calendar = calendar or WorkCalendar()
    days = settings.MINXIN_UNRATED_CLOSE_WORKDAYS
    zone = timezone.get_default_timezone()
    day = timezone.localtime(now, zone).date()
    while calendar.add_working_days(dt.datetime.combine(day, dt.time(12), tzinfo=zone), days) > now:
        day -= ONE_DAY
    return dt.datetime.combine(day + ONE_DAY, dt.time.min, tzinfo=zone)


def close_unrated(now: dt.datetime | None = None) -> int:
    """Close every replied letter left unrated past its wait (the clock's `close_unrated` job).
    Returns how many were closed; a second run at the same moment closes none."""
    now = now or clock.now()
    cutoff = unrated_cutoff(now)
    workdays = settings.MINXIN_UNRATED_CLOSE_WORKDAYS
    closed = 0
    while True:
        with transaction.atomic():
            due = Letter.objects.select_for_update().filter(
                status=S.REPLIED, rating="", replied_at__lt=cutoff
            )
            ids = list(due.values_list("pk", flat=True)[:BATCH])
            if not ids:
                return closed
            Letter.objects.filter(pk__in=ids).update(status=S.CLOSED, closure=Closure.UNRATED, closed_at=now)
            LetterLog.objects.bulk_create(
                [
                    LetterLog(
                        letter_id=pk,
                        at=now,
                        action="close_unrated",
                        from_status=S.REPLIED,
                        to_status=S.CLOSED,
                        data={"workdays": workdays},
                    )
                    for pk in ids
                ]
            )
        closed += len(ids)


# --- 催办 ----------------------------------------------------------------------------------------


def working_days_left(now: dt.datetime, deadline: dt.datetime, calendar: WorkCalendar) -> int:
    """Working days after today up to the deadline's day (0: it runs out today)."""
    today, last = timezone.localtime(now).date(), deadline_day(deadline)
    left, day = 0, today
    while day < last:
        day += ONE_DAY
        left += calendar.is_working_day(day)
    return left


def due_soon(letter: Letter, now: dt.datetime, calendar: WorkCalendar) -> str | None:
    """ "催办：签收期限明天到期" when the open stage has MINXIN_REMINDER_WORKDAYS working days or fewer
    left, and None otherwise (no open stage, far from its limit, or already past it: a red light)."""
    stage = lights.stage_of(letter)
    deadline = stage.deadline(letter) if stage else None
    if stage is None or deadline is None or deadline <= now:
        return None
    if working_days_left(now, deadline, calendar) > settings.MINXIN_REMINDER_WORKDAYS:
        return None
    last, today = deadline_day(deadline), timezone.localtime(now).date()
    sign = stage.name == "sign"
    if last == today:
        return (
            _("Reminder: the sign-for limit runs out today")
            if sign
            else _("Reminder: the reply limit runs out today")
        )
    if last == today + ONE_DAY:
        return (
            _("Reminder: the sign-for limit runs out tomorrow")
            if sign
            else _("Reminder: the reply limit runs out tomorrow")
        )
    # Translators: a date format (Django's), the month and day a limit runs out: "n月j日" in Chinese.
    day = formats.date_format(last, _("F j"))
    return (
        _("Reminder: the sign-for limit runs out on %(day)s")
        if sign
        else _("Reminder: the reply limit runs out on %(day)s")
    ) % {"day": day}


def with_due_soon(letters: Iterable[Letter], now: dt.datetime) -> list[Letter]:
    """Set .due_soon on each letter (one calendar read for them all)."""
    calendar = WorkCalendar()
    letters = list(letters)
    for letter in letters:
        letter.due_soon = due_soon(letter, now, calendar)  # type: ignore[attr-defined]
    return letters


DUE_SOON_SHOWN = 20  # the operators' and supervisors' pages list the soonest only (issue #17)


def close_to_limit(now: dt.datetime, shown: int = DUE_SOON_SHOWN) -> list[Letter]:
    """Open letters of every department with a reminder due, soonest first (operators, supervisors):
    at most `shown` + 1 of them, so that a page can say more are waiting."""
    # Working days left ≤ N means at most N + the longest run of days off (National Day: 9) days.
    horizon = now + dt.timedelta(days=settings.MINXIN_REMINDER_WORKDAYS + 10)
    found = (
        Letter.objects.filter(
            Q(status=S.FORWARDED, sign_deadline__gt=now, sign_deadline__lt=horizon)
            | Q(status=S.SIGNED, reply_deadline__gt=now, reply_deadline__lt=horizon)
        )
        .select_related("department")
        .annotate(due=Case(When(status=S.FORWARDED, then=F("sign_deadline")), default=F("reply_deadline")))
        .order_by("due", "id")
    )
    calendar = WorkCalendar()
    letters: list[Letter] = []
    # The working days left only grow with the deadline: the first letter not due soon ends the
    # list, so the soonest shown + 1 are all that need reading.
    for letter in found[: shown + 1]:
        letter.due_soon = due_soon(letter, now, calendar)  # type: ignore[attr-defined]
        if not letter.due_soon:  # type: ignore[attr-defined]
            break
        letters.append(letter)
    return letters


@transaction.atomic
def remind(code: str, note: object, user: User) -> Letter:
    """A supervisor presses the department to sign for or reply to an open letter (催办)."""
    _require(user, "supervisor")
    letter = locked_letter(code)
    note = _text({"note": note}, "note", MAX_REASON, required=False)
    stage = lights.stage_of(letter)
    _step(
        letter,
        "remind",
        _name(user),
        (S.FORWARDED, S.SIGNED),
        None,
        note=note,
        stage=stage.name if stage else "",
    )
    return letter


# --- what the handler is told --------------------------------------------------------------------


def handler_notes(letters: Iterable[Letter]) -> dict[int, dict]:
    """Per letter id: the reason of its last redo (or None) and the reminders sent since it reached
    its department, oldest first — one query for them all."""
    letters = list(letters)
    notes: dict[int, dict] = {letter.pk: {"redo_reason": None, "reminders": []} for letter in letters}
    arrived = {letter.pk: letter.forwarded_at for letter in letters}
    for log in LetterLog.objects.filter(letter__in=letters, action__in=("redo", "remind")).order_by(
        "at", "id"
    ):
        entry = notes[log.letter_id]
        if log.action == "redo":
            entry["redo_reason"] = log.note
        else:
            since = arrived[log.letter_id]
            if since is not None and log.at >= since:
                entry["reminders"].append(log)
    return notes
