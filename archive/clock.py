"""The Procfile's clock: the periodic jobs, each on its own, and one clock at a time.

- A job that fails is logged and recorded; the others still run, and it is tried again next tick.
  Each tick starts with Django's stale-connection check, so a database restart does not leave the
  clock failing on a dead connection for ever.
- One clock runs at a time: on PostgreSQL a session advisory lock on a connection of its own (not
  Django's, which a pool may hand to someone else); on SQLite, which lives on one machine, a file
  lock beside the database file. A second clock waits and takes over when the first one stops.
- Every success and failure is stored in the database (ClockJob), which /metrics reads.
"""

import fcntl
import logging
import time
from collections.abc import Callable
from typing import Any

from django.db import close_old_connections, connection

from core import clock as core_clock

log = logging.getLogger(__name__)

# One fixed key for pg_try_advisory_lock: "minxin clock" as a 64-bit number.
ADVISORY_KEY = int.from_bytes(b"mxclock1", "big") & 0x7FFF_FFFF_FFFF_FFFF


def sweep() -> None:
    from letters.supervision import sweep

    changed = sweep()
    log.info("supervision sweep: %s", " ".join(f"{light}={count}" for light, count in changed.items()))


def close_unrated() -> None:
    from letters.followup import close_unrated

    closed = close_unrated()
    log.info("replied letters closed without a rating (未评价办结): %d", closed)


def scoreboard() -> None:
    from letters.reports import scoreboard

    scoreboard(refresh=True)  # the public scoreboard, current to the minute


def statistics() -> None:
    from archive.stats import figures

    figures(refresh=True)


def erase_contacts() -> None:
    from letters.privacy import erase_expired

    erased = erase_expired()
    log.info("contacts erased past their retention period: %d", erased)


def reports() -> None:
    from letters.periodic import produce_due, title

    for report in produce_due(core_clock.now()):  # the half-year report and the year-end assessment
        log.info("report produced and sent to the units: %s", title(report))


# (name, job): the names are the `job` label of minxin_clock_job_last_success_timestamp_seconds.
JOBS: list[tuple[str, Callable[[], Any]]] = [
    ("sweep", sweep),
    # Before the scoreboard and statistics, so that they count the letters it closes this tick.
    ("close_unrated", close_unrated),  # replied, unrated past MINXIN_UNRATED_CLOSE_WORKDAYS
    ("scoreboard", scoreboard),
    ("statistics", statistics),
    ("erase_contacts", erase_contacts),  # PIPL: writers' contacts past MINXIN_CONTACT_RETENTION_DAYS
    ("reports", reports),  # once per kind and period, at the dates of MINXIN_REPORTS
]


def run_jobs(jobs: list[tuple[str, Callable[[], Any]]] | None = None) -> list[str]:
    """Run every job once, each whatever the others did; the names of those that failed."""
    failed = []
    for name, job in JOBS if jobs is None else jobs:
        fresh_connection()
        try:
            job()
        except Exception as exc:
            log.exception("clock job %s failed; the other jobs still run and it is tried next tick", name)
            failed.append(name)
            record(name, exc)
        else:
            record(name, None)
    return failed


def fresh_connection() -> None:
    """Drop a connection that a failure or a database restart left unusable, as Django does between
    requests. (Not inside a transaction, as in tests: that would end it.)"""
    if not connection.in_atomic_block:
        close_old_connections()


def record(name: str, error: Exception | None) -> None:
    """Store the outcome; if the database itself is what fails, the log line above is all there is."""
    from archive.models import ClockJob

    now = core_clock.now()
    try:
        fresh_connection()
        job, _ = ClockJob.objects.get_or_create(name=name)
        if error is None:
            job.last_success_at, job.failures_in_a_row = now, 0
        else:
            job.last_failure_at, job.last_error = now, error.__class__.__name__[:100]
            job.failures_in_a_row += 1
        job.save()
    except Exception:
        log.warning("clock job %s: its outcome could not be stored", name, exc_info=True)


class ClockLock:
    """Held for as long as this clock runs; `held()` (re)takes it when it can and says whether it has it."""

    def __init__(self) -> None:
        self.connection: Any = None  # psycopg connection holding the advisory lock
        self.file: Any = None  # open file holding the flock

    def held(self) -> bool:
        if connection.vendor == "postgresql":
            return self._advisory()
        return self._flock()

    def _advisory(self) -> bool:
        import psycopg

        if self.connection is not None:
            try:
                self.connection.execute("SELECT 1")
                return True  # the session, and so its lock, is still there
            except psycopg.Error:
                log.warning("the clock's lock connection was lost; taking the lock again")
                self.release()
        params = connection.get_connection_params()
        for private in ("context", "cursor_factory"):  # Django's own adapters, not needed here
            params.pop(private, None)
        try:
            lock_connection = psycopg.connect(**params, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            log.warning("the clock cannot reach the database to take its lock: %s", exc.__class__.__name__)
            return False
        got = lock_connection.execute("SELECT pg_try_advisory_lock(%s)", [ADVISORY_KEY]).fetchone()
        if got and got[0]:
            self.connection = lock_connection
            return True
        lock_connection.close()
        return False

    def _flock(self) -> bool:
        if self.file is not None:
            return True
        lock_file = open(f"{connection.settings_dict['NAME']}.clock-lock", "a")
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock_file.close()
            return False
        self.file = lock_file
        return True

    def release(self) -> None:
        if self.connection is not None:
            try:
                self.connection.close()  # ends the session: PostgreSQL drops its advisory locks
            except Exception:
                pass
            self.connection = None
        if self.file is not None:
            self.file.close()
            self.file = None


def run(interval: float, once: bool = False) -> list[str]:
    """The clock's loop. With `once`, one tick (or none, if another clock holds the lock)."""
    lock = ClockLock()
    waiting = False
    try:
        while True:
            if lock.held():
                if waiting:
                    log.info("the clock lock is ours now: this clock runs the jobs")
                    waiting = False
                failed = run_jobs()
                if once:
                    return failed
            else:
                if not waiting:
                    log.info("another clock holds the lock: this one waits and takes over if it stops")
                    waiting = True
                if once:
                    raise ClockBusy("another clock holds the lock; nothing was run")
            time.sleep(interval)
    finally:
        lock.release()


class ClockBusy(Exception):
    pass
