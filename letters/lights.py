"""The traffic light (红绿灯) of a letter's open stage: one rule, read three ways.

A letter has an open stage while it waits to be signed for (forwarded) or replied to (signed for).
Each stage stores its deadline and the moment its yellow light comes on (a share of the time limit,
`services.schedule`). At `now` the open stage's light is

    red      from the deadline on
    yellow   from the yellow moment on, before the deadline
    green    before the deadline, and before the yellow moment or with none stored

and there is no light when no stage is open or its deadline is not stored. RULE below is that table,
and everything else here is derived from it and STAGES:

* `light_at(letter, now)`: the light of one letter in hand (the API, the pages, the naive bench);
* `light_case(now)`: the same as a database expression, to annotate, filter or order a queryset;
* `stale(stage, light, now)`: the sweep's filter, the letters whose light at `now` is `light` but
  whose stored light (what the sweep last recorded) is not.

tests/test_letters.py checks on generated letters that the three agree on SQLite and PostgreSQL.
"""

import datetime as dt
import enum
from dataclasses import dataclass

from django.db.models import Case, CharField, Q, Value, When

from letters.models import Letter, LetterStatus, Light


class Bound(enum.Enum):
    """Where a stored moment lies relative to `now`."""

    REACHED = "set, and now or earlier"
    AHEAD = "set, and later than now"
    AHEAD_OR_UNSET = "later than now, or not set"
    ANY = "anything, set or not"

    def holds(self, moment: dt.datetime | None, now: dt.datetime) -> bool:
        if self is Bound.ANY:
            return True
        if moment is None:
            return self is Bound.AHEAD_OR_UNSET
        return moment <= now if self is Bound.REACHED else moment > now

    def q(self, field: str, now: dt.datetime) -> Q:
        if self is Bound.REACHED:
            return Q(**{f"{field}__lte": now})
        if self is Bound.AHEAD:
            return Q(**{f"{field}__gt": now})
        if self is Bound.AHEAD_OR_UNSET:
            return Q(**{f"{field}__gt": now}) | Q(**{f"{field}__isnull": True})
        return Q()


# The rule: (light, where the deadline lies, where the yellow moment lies). The rows exclude each
# other and, once a deadline is stored, one of them holds.
RULE: tuple[tuple[Light, Bound, Bound], ...] = (
    (Light.RED, Bound.REACHED, Bound.ANY),
    (Light.YELLOW, Bound.AHEAD, Bound.REACHED),
    (Light.GREEN, Bound.AHEAD, Bound.AHEAD_OR_UNSET),
)


@dataclass(frozen=True)
class Stage:
    """An open stage: the status a letter is in during it, and where it stores its two moments."""

    status: str
    name: str  # as LightChange.stage records it
    deadline_field: str
    yellow_field: str

    def deadline(self, letter: Letter) -> dt.datetime | None:
        return getattr(letter, self.deadline_field)

    def yellow_at(self, letter: Letter) -> dt.datetime | None:
        return getattr(letter, self.yellow_field)

    def when(self, light: str, now: dt.datetime) -> Q:
        """The letters in this stage whose light at `now` is `light`."""
        for rule_light, deadline, yellow in RULE:
            if rule_light == light:
                return (
                    Q(status=self.status)
                    & deadline.q(self.deadline_field, now)
                    & yellow.q(self.yellow_field, now)
                )
        raise ValueError(f"no such light: {light!r}")


STAGES: tuple[Stage, ...] = (
    Stage(LetterStatus.FORWARDED, "sign", "sign_deadline", "sign_yellow_at"),
    Stage(LetterStatus.SIGNED, "reply", "reply_deadline", "reply_yellow_at"),
)
_BY_STATUS = {stage.status: stage for stage in STAGES}


def stage_of(letter: Letter) -> Stage | None:
    """The letter's open stage, or None when it waits for nobody (submitted, replied, closed)."""
    return _BY_STATUS.get(letter.status)


def light_at(letter: Letter, now: dt.datetime) -> str | None:
    """The light of the letter's open stage at `now`; None without an open stage or its deadline."""
    stage = stage_of(letter)
    if stage is None:
        return None
    deadline, yellow_at = stage.deadline(letter), stage.yellow_at(letter)
    for light, deadline_bound, yellow_bound in RULE:
        if deadline_bound.holds(deadline, now) and yellow_bound.holds(yellow_at, now):
            return light
    return None


def light_case(now: dt.datetime) -> Case:
    """light_at as a database expression: "red", "yellow", "green", or "" where light_at is None."""
    return Case(
        *(
            When(stage.when(light, now), then=Value(str(light)))
            for stage in STAGES
            for light, _deadline, _yellow in RULE
        ),
        default=Value(""),
        output_field=CharField(),
    )


def stale(stage: Stage, light: str, now: dt.datetime) -> Q:
    """The sweep's filter: letters in `stage` whose light at `now` is `light` but whose stored light
    is another (or none)."""
    return stage.when(light, now) & ~Q(light=light)
