"""`manage.py simulate --seed N [--scale F]`: the seed's year (12 May 2005 and 388 days on), run
through the real services on a simulated clock, into an empty database.

The programme half (archive/simulation/live.py) and the letter half (archive/simulation/letters.py)
put their actions on one Timeline; the clock's jobs run on it too, as the Procfile's clock would:
the supervision sweep twice a day, the closing of unrated letters, the reports and the erasure of
contacts past retention once a day, the cached scoreboard and statistics once a week. After the last day of
arrivals the units finish their letters (no new ones come) until every letter is closed.
"""

import datetime as dt
import logging
import random
import time
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.utils import timezone

from archive import clock as jobs
from archive import stats
from archive.management.commands.demo import PASSWORD, prepare
from archive.simulation.figures import DAYS, FIRST_DAY, SEED, targets
from archive.simulation.letters import LetterPlan, Staff, plan_letters
from archive.simulation.live import consoles_in_memory, plan_programmes
from archive.simulation.timeline import Timeline
from core import clock
from departments.models import Department, StaffProfile
from departments.roles import ensure_role_groups
from letters.models import Letter
from studio.models import Broadcast

SWEEPS = (dt.time(0, 5), dt.time(12, 5))
WIND_DOWN_DAYS = 120  # at most, after the last day of arrivals, for the last letters to close

# (label, key in stats.compute's figures, key in SEED)
SUMMARY = [
    ("programmes", "broadcasts", "programmes"),
    ("departments on air", "departments", "departments"),
    ("guests", "guests", "guests"),
    ("netizens online", "participants", "participants"),
    ("questions asked", "questions_asked", "questions_asked"),
    ("questions answered", "questions_answered", "questions_answered"),
    ("letters received", "letters.received", "letters_received"),
    ("letters rated", "letters.rated", "letters_rated"),
    ("letters satisfied", "letters.satisfied", "letters_satisfied"),
    ("thank-you letters", "letters.thanks", "thanks"),
]


def unit_handlers() -> dict[str, Any]:
    """One handler per active unit (`handler_<code>`, as the demo names its own), demo password."""
    groups = ensure_role_groups()
    users = get_user_model().objects
    password = make_password(PASSWORD)  # hashed once: 74 accounts, one slow hash
    handlers = {}
    for department in Department.objects.filter(active=True):
        user, created = users.get_or_create(
            username=f"handler_{department.code}",
            defaults={
                "password": password,
                "is_staff": True,
                "first_name": f"{department.short_name} 信件员",
            },
        )
        if created:
            user.groups.add(groups["handler"])
            StaffProfile.objects.create(user=user, department=department)
        handlers[department.code] = users.get(pk=user.pk)  # fresh: its permission cache fills on use
    return handlers


def unsynchronised() -> None:
    """A simulated year commits some 300,000 small transactions: let this connection commit
    without waiting for each to reach the disk (a crash loses the last few; the run starts again
    on an empty database anyway). Every other connection keeps its durability. (Inside a
    transaction, as in the tests, there is nothing to commit anyway.)"""
    if connection.in_atomic_block:
        return
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET synchronous_commit TO off")
        elif connection.vendor == "sqlite":
            cursor.execute("PRAGMA synchronous = OFF")


def tidy() -> None:
    """Leave the tables as a year of autovacuum would: vacuumed and analysed. A year of rows written
    in twenty minutes gives autovacuum no time to catch up (and CI's PostgreSQL runs without it): on
    tables never analysed, PostgreSQL planned the public letter list's trail query as a scan of all
    270,000 steps (20 ms instead of 1), and counts read every row instead of the index."""
    if connection.in_atomic_block:
        return
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")


class Command(BaseCommand):
    help = (
        "Simulate the seed's year (12 May 2005 + 388 days: 54 programmes, 46,510 letters) through the "
        "real services on a simulated clock, into an empty database. --scale runs a fraction of it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--seed", type=int, required=True, help="the same seed gives the same year")
        parser.add_argument(
            "--scale", type=float, default=1.0, help="a fraction of the seed's volume, (0, 1]"
        )
        parser.add_argument("--days", type=int, default=DAYS, help=f"days of arrivals (default {DAYS})")

    def handle(self, *args: object, **options: Any) -> None:
        scale, seed, days = options["scale"], options["seed"], options["days"]
        if not 0 < scale <= 1:
            raise CommandError(f"--scale must be in (0, 1], not {scale}.")
        if not 1 <= days <= DAYS:
            raise CommandError(f"--days must be from 1 to {DAYS}.")
        if Broadcast.objects.exists() or Letter.objects.exists():
            raise CommandError(
                "This database already holds programmes or letters; the simulation needs an empty one "
                "(a new database, then `manage.py migrate`). Nothing was written."
            )
        _count, users = prepare()
        staff = Staff(users["operator"], users["supervisor"], unit_handlers())
        unsynchronised()
        start = dt.datetime.combine(FIRST_DAY, dt.time.min, tzinfo=timezone.get_default_timezone())
        timeline = Timeline(start)
        plan = plan_letters(timeline, random.Random(f"{seed}:letters"), scale, FIRST_DAY, days, staff)
        plan_programmes(timeline, random.Random(f"{seed}:live"), scale, FIRST_DAY, days)
        run = Run(self, timeline, plan, days)
        quiet = logging.getLogger("archive.clock")  # its line per job and tick: a year of noise
        level, quiet.level = quiet.level, logging.WARNING
        try:
            with consoles_in_memory():
                run.go()
        finally:
            quiet.setLevel(level)
        tidy()
        with clock.use(timeline.clock):  # the figures as of the simulation's last moment
            figures = stats.figures(refresh=True)
        self.summary(figures, scale, run)

    def summary(self, figures: dict, scale: float, run: "Run") -> None:
        target = targets(scale)
        self.stdout.write("")
        self.stdout.write(f"{'':<22}{'seed':>9}{'target':>9}{'simulated':>11}")
        for label, key, seed_key in SUMMARY:
            value: Any = figures
            for part in key.split("."):
                value = value[part]
            self.stdout.write(f"{label:<22}{SEED[seed_key]:>9,}{target[seed_key]:>9,}{value:>11,}")
        letters = figures["letters"]
        rate = letters["satisfaction_rate"]
        closure = letters["closure_rate"]
        self.stdout.write(
            f"{'satisfaction':<22}{'66.5%':>9}{'':>9}{(f'{rate:.1%}' if rate is not None else '–'):>11}"
        )
        self.stdout.write(
            f"{'closed (办结率)':<20}{'100%':>9}{'':>9}{(f'{closure:.1%}' if closure is not None else '–'):>11}"
        )
        per_day = letters["received"] / run.days
        self.stdout.write(f"{'letters a day':<22}{'120+':>9}{'':>9}{per_day:>11.1f}")
        self.stdout.write(
            f"{run.timeline.done:,} actions in {run.elapsed():.0f} s; simulated until "
            f"{timezone.localtime(run.timeline.clock.at):%Y-%m-%d}"
        )
        if run.plan.conflicts:
            self.stdout.write(
                "steps the services refused: " + ", ".join(f"{k} ×{n}" for k, n in run.plan.conflicts.items())
            )


class Run:
    """Drives the timeline day by day, with the clock's jobs and a progress line each week."""

    def __init__(self, command: Command, timeline: Timeline, plan: LetterPlan, days: int) -> None:
        self.command, self.timeline, self.plan, self.days = command, timeline, plan, days
        self.started = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def go(self) -> None:
        day = 0
        while True:
            self.jobs(day)
            self.timeline.run(self.plan.midnight(day + 1))
            day += 1
            if day % 7 == 0 or day == self.days:
                self.progress(day)
            # Done when nothing is left to happen (this day's jobs have run; the programmes' steps
            # and the letters' are all on the timeline) and every letter is closed.
            if day >= self.days and not len(self.timeline) and not self.plan.open_letters():
                break
            if day >= self.days + WIND_DOWN_DAYS:
                raise CommandError(f"letters still open {WIND_DOWN_DAYS} days after the last arrivals")
        self.progress(day)

    def jobs(self, day: int) -> None:
        midnight = self.plan.midnight(day)
        for moment in SWEEPS:
            self.timeline.at(midnight.replace(hour=moment.hour, minute=moment.minute), jobs.sweep)
        self.timeline.at(midnight.replace(minute=10), jobs.close_unrated)
        self.timeline.at(midnight.replace(minute=15), jobs.reports)
        self.timeline.at(midnight.replace(minute=20), jobs.erase_contacts)
        self.timeline.at(midnight.replace(hour=8, minute=25), self.plan.pick_up)
        if (FIRST_DAY + dt.timedelta(days=day)).weekday() == 6:
            # Every Sunday night, not every minute: each costs a scan of the year's letters (and the
            # hot topics a segmentation of a month's), and nothing in the simulation reads them.
            self.timeline.at(midnight.replace(hour=23, minute=50), jobs.scoreboard)
            self.timeline.at(midnight.replace(hour=23, minute=55), jobs.statistics)

    def progress(self, day: int) -> None:
        elapsed = self.elapsed()
        date = FIRST_DAY + dt.timedelta(days=day - 1)
        self.command.stdout.write(
            f"{date}  letters {self.plan.received:>6,}  programmes {Broadcast.objects.count():>3}"
            f"  actions {self.timeline.done:>8,}  {self.timeline.done / max(elapsed, 0.001):>6.0f}/s"
            f"  {elapsed:>5.0f} s"
        )
