"""The letter half of the simulated year: netizens write, operators forward, units sign for and
reply, writers rate, supervisors decide extensions and order redos — each step a call of the real
service (letters.services, letters.phone) at its simulated time, by the staff account whose step it is.

What is decided in advance is decided exactly, so that the figures come out as planned at any scale:
which letters get rated (a sample of exactly `letters_rated` of the letters' arrival order), which
of those satisfied (exactly `letters_satisfied`), and each day's arrivals (the running total follows
the target day by day, counting the letters the programmes left behind, so it ends exactly on it).
What is left to chance (the rng): kinds, units, channels, times, the letters forwarded to the wrong
unit, the extensions, the late ones, the redos.

Letters the programmes made from unanswered questions (archive/bridge.py) are picked up each day
and handled like any other, so that every letter is closed at the end.
"""

import datetime as dt
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.utils import timezone

from archive.simulation import texts
from archive.simulation.figures import targets
from archive.simulation.timeline import Timeline
from core.errors import ServiceError
from departments.models import Department, LetterKind
from letters import phone, services
from letters.models import Channel, Letter, LetterStatus, Rating

HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)

KINDS = {"consultation": 40, "complaint": 24, "suggestion": 15, "opinion": 13, "report": 8}
# Letters come in round the clock, most in office hours (weights per local hour 0–23).
HOURS = [1, 1, 1, 1, 1, 1, 2, 4, 8, 11, 11, 9, 6, 8, 10, 10, 9, 7, 5, 5, 5, 4, 3, 2]
WEEKEND = 0.55  # a weekend day's share of a weekday's letters
PHONE = 0.08  # letters taken on the phone (office hours only)
WRONG = 0.03  # forwarded to the wrong unit first, returned and forwarded again
WRONG_AFTER_SIGNING = 0.25  # of those, returned only after signing for (a wrong sign-for)
LATE_SIGN = 0.05
LATE_REPLY = 0.10
EXTENSION = 0.04
EXTENSION_APPROVED = 0.8
REDO = 0.06  # of the rated letters: first rated unsatisfied, redone, replied again, rated again


@dataclass
class Staff:
    operator: User
    supervisor: User
    handlers: dict[str, User]  # department code → the unit's handler


@dataclass
class Tracked:
    """What the simulation knows of one letter: how to act on it and what is planned for it."""

    code: str
    key: str | None  # the writer's secret key; None for a letter made from a question
    netizen_key: str
    department: str
    channel: str
    rating: str  # the final rating the writer gives; "" for none (closed unrated)
    redo: bool
    wrong: str = ""  # the unit it is wrongly forwarded to first


class LetterPlan:
    def __init__(
        self, timeline: Timeline, rng: random.Random, scale: float, start: dt.date, days: int, staff: Staff
    ) -> None:
        self.timeline, self.rng, self.staff = timeline, rng, staff
        self.start, self.days = start, days
        self.zone = timezone.get_default_timezone()
        self.targets = targets(scale)
        self.ratings, self.redos = self._ratings()
        self.carry: list[str] = []  # ratings a letter could not take (no writer to rate it)
        departments = list(
            Department.objects.filter(active=True).order_by("code").values_list("code", flat=True)
        )
        rng.shuffle(departments)  # some units get many letters, most a few, as on a real portal
        self.departments = departments
        self.weights = [1 / (rank + 2) ** 0.9 for rank in range(len(departments))]
        day_weights = [self._day_weight(d) for d in range(days)]
        total, running = sum(day_weights), 0.0
        self.cumulative = []
        for weight in day_weights:
            running += weight
            self.cumulative.append(running / total)
        self.received = 0  # letters (not thank-you letters) in arrival order, the rating slots' index
        self.thanks = 0
        self.serial = 0
        self.codes: set[str] = set()
        self.last_pk = 0
        self.steps: Counter[str] = Counter()
        self.conflicts: Counter[str] = Counter()

    # --- what is decided in advance ---------------------------------------------------------------

    def _ratings(self) -> tuple[dict[int, str], set[int]]:
        received, rated = self.targets["letters_received"], self.targets["letters_rated"]
        satisfied = min(self.targets["letters_satisfied"], rated)
        slots = self.rng.sample(range(received), min(rated, received))
        ratings: dict[int, str] = {}
        for place, index in enumerate(slots):
            if place < satisfied:
                ratings[index] = Rating.SATISFIED
            else:
                ratings[index] = Rating.BASIC if self.rng.random() < 0.6 else Rating.UNSATISFIED
        redos = {index for index in slots if self.rng.random() < REDO}
        return ratings, redos

    def _day_weight(self, day: int) -> float:
        date = self.start + dt.timedelta(days=day)
        growth = 0.85 + 0.3 * day / max(self.days - 1, 1)  # the service gets known over the year
        return growth * (WEEKEND if date.weekday() >= 5 else 1.0)

    def midnight(self, day: int) -> dt.datetime:
        return dt.datetime.combine(self.start + dt.timedelta(days=day), dt.time.min, tzinfo=self.zone)

    # --- scheduling -------------------------------------------------------------------------------

    def schedule(self) -> None:
        for day in range(self.days):
            self.timeline.at(self.midnight(day), lambda day=day: self._day(day))  # type: ignore[misc]

    def at(self, when: dt.datetime, step: Callable[..., Any], *args: Any) -> None:
        """Put one step of a letter on the timeline; a step the service refuses is counted, not fatal."""

        def run() -> None:
            try:
                step(*args)
                self.steps[step.__name__.strip("_")] += 1
            except ServiceError as exc:
                self.conflicts[f"{step.__name__.strip('_')}: {exc.code}"] += 1

        self.timeline.at(when, run)

    def office(self, when: dt.datetime) -> dt.datetime:
        """Staff work 08:30–18:00 local, every day (the hotline's back office takes turns)."""
        local = timezone.localtime(when, self.zone)
        opens = local.replace(hour=8, minute=30, second=0, microsecond=0)
        if local < opens:
            return opens + self.rng.random() * HOUR
        if local.hour >= 18:
            return opens + DAY + self.rng.random() * HOUR
        return when

    def now(self) -> dt.datetime:
        return self.timeline.clock.at

    def _day(self, day: int) -> None:
        """Midnight: today's arrivals, so that the running total meets the target's share of the year."""
        due = round(self.targets["letters_received"] * self.cumulative[day])
        so_far = Letter.objects.exclude(kind=LetterKind.THANKS).count()
        midnight = self.midnight(day)
        for _ in range(max(0, due - so_far)):
            channel = Channel.PHONE if self.rng.random() < PHONE else Channel.WEB
            hour = (
                self.rng.randint(9, 17) if channel == Channel.PHONE else self.rng.choices(range(24), HOURS)[0]
            )
            when = midnight + dt.timedelta(hours=hour, seconds=self.rng.randrange(3600))
            kind = self.rng.choices(list(KINDS), list(KINDS.values()))[0]
            self.at(when, self._arrive, kind, channel)
        thanks = self.targets["thanks"]
        for _ in range(round(thanks * (day + 1) / self.days) - round(thanks * day / self.days)):
            self.at(midnight + dt.timedelta(hours=self.rng.randint(8, 22)), self._thank)

    # --- the steps --------------------------------------------------------------------------------

    def _slot(self) -> tuple[str, bool]:
        """The next letter's planned rating and whether it is redone."""
        index = self.received
        self.received += 1
        rating = self.ratings.get(index, "")
        if not rating and self.carry:
            rating = self.carry.pop()
        return rating, index in self.redos

    def _arrive(self, kind: str, channel: str) -> None:
        self.serial += 1
        data = texts.letter(self.rng, kind, self.serial)
        department = self.rng.choices(self.departments, self.weights)[0]
        if channel == Channel.PHONE:
            answer, _created = phone.take(data, None, self.staff.operator)
        else:
            answer, _created = services.submit(data, None, client=f"sim-{self.serial}")
        rating, redo = self._slot()
        letter = Tracked(answer["code"], answer["key"], "", department, channel, rating, redo)
        if self.rng.random() < WRONG:
            letter.wrong = self.rng.choice([d for d in self.departments if d != department])
        self.codes.add(letter.code)
        self.at(self.office(self.now() + self.rng.uniform(0.2, 6) * HOUR), self._forward, letter)

    def _thank(self) -> None:
        self.serial += 1
        answer, _created = services.submit(texts.letter(self.rng, "thanks", self.serial), None)
        self.codes.add(answer["code"])
        department = self.rng.choices(self.departments, self.weights)[0]
        self.at(
            self.office(self.now() + self.rng.uniform(0.5, 8) * HOUR),
            self._deliver,
            answer["code"],
            department,
        )

    def _deliver(self, code: str, department: str) -> None:
        services.forward(code, department, self.staff.operator)  # reaching the unit closes it
        self.thanks += 1

    def _forward(self, letter: Tracked) -> None:
        services.forward(letter.code, letter.wrong or letter.department, self.staff.operator)
        self._to_sign(letter)

    def _to_sign(self, letter: Tracked) -> None:
        late = self.rng.random() < LATE_SIGN
        delay = self.rng.uniform(30, 100) if late else self.rng.uniform(0.2, 20)
        self.at(self.office(self.now() + delay * HOUR), self._sign, letter)

    def handler(self, letter: Tracked) -> User:
        return self.staff.handlers[letter.wrong or letter.department]

    def _sign(self, letter: Tracked) -> None:
        if letter.wrong and self.rng.random() >= WRONG_AFTER_SIGNING:
            self.at(self.now(), self._return, letter)  # sees at once it is not theirs
            return
        signed = services.sign(letter.code, self.handler(letter))
        if letter.wrong:
            self.at(self.office(self.now() + self.rng.uniform(2, 30) * HOUR), self._return, letter)
            return
        assert signed.reply_deadline is not None
        self._to_reply(letter, signed.reply_deadline)

    def _return(self, letter: Tracked) -> None:
        services.return_letter(letter.code, self.rng.choice(texts.RETURN_REASONS), self.handler(letter))
        letter.wrong = ""
        self.at(self.office(self.now() + self.rng.uniform(0.5, 8) * HOUR), self._forward, letter)

    def _to_reply(self, letter: Tracked, deadline: dt.datetime) -> None:
        now, draw = self.now(), self.rng.random()
        span = deadline - now
        if draw < EXTENSION:
            days = self.rng.randint(5, 15)
            asked = now + span * self.rng.uniform(0.2, 0.7)
            self.at(asked, self._extend, letter, days)
            # Replied after the first deadline: on time if the extension is approved, late if not.
            self.at(deadline + self.rng.uniform(0.5, days - 1) * DAY, self._reply, letter)
        elif draw < EXTENSION + LATE_REPLY:
            self.at(self.office(deadline + self.rng.uniform(0.2, 6) * DAY), self._reply, letter)
        else:
            self.at(self.office(now + span * self.rng.uniform(0.05, 0.9)), self._reply, letter)

    def _extend(self, letter: Tracked, days: int) -> None:
        reason = self.rng.choice(texts.EXTENSION_REASONS)
        extension = services.request_extension(letter.code, days, reason, self.handler(letter))
        approve = self.rng.random() < EXTENSION_APPROVED
        decide = self.office(self.now() + self.rng.uniform(1, 20) * HOUR)
        self.at(decide, self._decide, letter, extension.pk, approve)

    def _decide(self, letter: Tracked, extension: int, approve: bool) -> None:
        services.decide_extension(letter.code, extension, approve, self.staff.supervisor)

    def _reply(self, letter: Tracked) -> None:
        services.reply(letter.code, self.rng.choice(texts.REPLIES), self.handler(letter))
        if letter.rating:
            # Rated within four days: the wait before 未评价办结 is MINXIN_UNRATED_CLOSE_WORKDAYS (7).
            rating = Rating.UNSATISFIED if letter.redo else letter.rating
            self.at(self.now() + self.rng.uniform(2, 96) * HOUR, self._rate, letter, rating)

    def _rate(self, letter: Tracked, rating: str) -> None:
        comment = self.rng.choice(texts.COMMENTS[rating])
        if letter.channel == Channel.PHONE:
            phone.callback(letter.code, rating, comment, self.staff.operator)
        else:
            services.evaluate(
                letter.code, letter.key, rating, comment, netizen_key=letter.netizen_key or None
            )
        if letter.redo:
            self.at(self.office(self.now() + self.rng.uniform(4, 48) * HOUR), self._redo, letter)

    def _redo(self, letter: Tracked) -> None:
        redone = services.redo(letter.code, self.rng.choice(texts.REDO_REASONS), self.staff.supervisor)
        letter.redo = False  # once: the second reply gets the planned rating
        assert redone.reply_deadline is not None
        now = self.now()
        self.at(
            self.office(now + (redone.reply_deadline - now) * self.rng.uniform(0.1, 0.8)), self._reply, letter
        )

    # --- letters the programmes made --------------------------------------------------------------

    def pick_up(self) -> int:
        """Take on the letters that appeared without this plan (questions a programme left
        unanswered, archive/bridge.py): the unit signs for and replies to them like any other."""
        rows = Letter.objects.filter(pk__gt=self.last_pk).order_by("pk")
        found = 0
        for pk, code, kind, status, department, netizen_key, channel in rows.values_list(
            "pk", "code", "kind", "status", "department__code", "netizen_key", "channel"
        ):
            self.last_pk = pk
            if code in self.codes or kind == LetterKind.THANKS:
                continue
            self.codes.add(code)
            rating, redo = self._slot()
            if rating and not netizen_key:  # nobody to rate it: the next letter takes its rating
                self.carry.append(rating)
                rating = ""
            letter = Tracked(
                code, None, netizen_key, department or "", channel, rating, redo and bool(rating)
            )
            if status == LetterStatus.FORWARDED and department in self.staff.handlers:
                self._to_sign(letter)
                found += 1
            elif status == LetterStatus.SUBMITTED:
                letter.department = letter.department or self.rng.choices(self.departments, self.weights)[0]
                self.at(self.office(self.now() + HOUR), self._forward, letter)
                found += 1
        return found

    def open_letters(self) -> int:
        return Letter.objects.exclude(status=LetterStatus.CLOSED).count()


def plan_letters(
    timeline: Timeline, rng: random.Random, scale: float, start: dt.date, days: int, staff: Staff
) -> LetterPlan:
    """Put the year's letters on the timeline (each day's arrivals are drawn at its midnight)."""
    plan = LetterPlan(timeline, rng, scale, start, days, staff)
    plan.schedule()
    return plan
