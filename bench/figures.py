"""The computed figures on a database that holds data already (issue #17): how long the statistics,
the hot topics, the scoreboard, the assessment and the half-year report take to compute.

    .venv/bin/python -m bench.figures --database-url postgres://postgres@127.0.0.1:5432/minxin_year
    .venv/bin/python -m bench.figures --database-url … --at 2006-06-03 --repeat 5

Nothing is written but the half-year report, which is made in a transaction that is rolled back.
Each figure is computed `--repeat` times in one `manage.py shell` (settings.prod, so the database
connection handling is production's), uncached (`refresh` or the function under the cache), with
the clock at `--at` (default: the day after the newest letter), because the hot topics and the
assessment read "now". The table: figure, what it covers, rows it returned, median and max ms.
The machine's load average is printed beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from bench.database import manage
from bench.report import machine, print_grid, print_machine
from bench.servers import project_env

SCRIPT = r"""
import datetime as dt, json, statistics, time
from django.db import transaction
from django.db.models import Max
from core import clock, params
from letters import periodic, reports
from letters.models import Letter
from archive import stats, topics

at = {at!r}
if at:
    now = dt.datetime.combine(dt.date.fromisoformat(at), dt.time(12), tzinfo=dt.UTC)
else:
    newest = Letter.objects.aggregate(newest=Max("submitted_at"))["newest"]
    now = (newest or clock.now()) + dt.timedelta(days=1)
year = clock.ManualClock(now)
rows = []

def timed(name, covers, compute):
    times, size = [], 0
    for _ in range({repeat}):
        began = time.perf_counter()
        with transaction.atomic():
            result = compute()
            size = len(result) if hasattr(result, "__len__") else 1
            transaction.set_rollback(True)
        times.append(time.perf_counter() - began)
    rows.append([name, covers, size, statistics.median(times), max(times)])

with clock.use(year):
    today = clock.localdate()
    first, last = periodic.period_of("half_year", today.year if today.month > 6 else today.year - 1)
    whole = reports.Period(params.day_start(dt.date(2000, 1, 1)), params.day_end(today))
    half = reports.Period(params.day_start(first), params.day_end(last))
    timed("statistics (/stats/, /api/stats/)", "everything", lambda: stats.compute())
    timed("hot topics, week", "last 7 days", lambda: topics.hot_topics("week"))
    timed("hot topics, month", "last 30 days", lambda: topics.hot_topics("month"))
    timed("scoreboard", "everything", lambda: reports.compute_scoreboard()["departments"])
    timed("scoreboard, half-year", f"{{first}}–{{last}}", lambda: reports.compute_scoreboard(half)["departments"])
    timed("assessment", f"{{first}}–{{last}}", lambda: reports.assessment(half))
    timed("assessment, everything", "everything", lambda: reports.assessment(whole))
    timed("half-year report (通报), made and sent", f"{{first}}–{{last}}",
          lambda: periodic.produce("custom", first, last, by="bench")[0].rows["departments"])
print("FIGURES " + json.dumps({{"now": now.isoformat(), "letters": Letter.objects.count(), "rows": rows}}))
"""


def run(database_url: str, redis_url: str, at: str, repeat: int) -> dict:
    env = project_env(database_url, redis_url)
    output = manage(env, "shell", "-c", SCRIPT.format(at=at, repeat=repeat), timeout=1800)
    line = next(line for line in output.splitlines() if line.startswith("FIGURES "))
    return json.loads(line.removeprefix("FIGURES "))


def table(result: dict) -> list[tuple[str, ...]]:
    return [
        (name, covers, str(size), f"{median * 1000:.0f}", f"{most * 1000:.0f}")
        for name, covers, size, median, most in result["rows"]
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", ""))
    parser.add_argument("--at", default="", help="the day the figures are computed on (YYYY-MM-DD)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    if not args.database_url:
        print("--database-url (or DATABASE_URL) names the database to read", file=sys.stderr)
        return 2
    print_machine(machine(args))
    result = run(args.database_url, args.redis_url, args.at, args.repeat)
    print(f"\n{result['letters']} letters; the clock at {result['now']}; {args.repeat} runs each\n")
    print_grid(("figure", "covers", "rows", "median ms", "max ms"), table(result))
    print(f"\nload average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
