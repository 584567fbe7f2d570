"""Letters benchmark (issue 5, item 9): the public scoreboard and the supervision sweep over a million letters.

One command, against its own PostgreSQL database:

    .venv/bin/python -m bench.letters                          # --letters 1000000 --open 100000
    .venv/bin/python -m bench.letters --letters 20000 --open 2000

It fills the database with generated letters over the 74 departments of the registry (bulk SQL, not
ORM saves), then times, beside a naive baseline run in the same command:

* the scoreboard as served (`reports.scoreboard()` with the cache the clock keeps warm, and
  `GET /api/departments/scoreboard/` through Django's test Client), cold (`compute_scoreboard()`),
  and aggregating every letter in Python on each request;
* the supervision sweep (`supervision.sweep(now)`) over the open letters, a first run (many lights
  change) and steady-state runs a minute apart (few change), and computing every light in Python
  with `lights.light_at` and saving the changed letters one by one.

Where it keeps its data: `--database-url`, else LETTERS_DATABASE_URL, else DATABASE_URL with
`_bench_letters` appended to the name, else postgres://postgres@127.0.0.1:5432/minxin_bench_letters.
The database is created if missing and migrated; its letters are replaced on every run, so its name
must contain "bench". Settings: settings.dev with DEBUG off and without REDIS_URL (the cache is
Django's in-process LocMemCache). When Django is already set up in the calling process (the smoke
test), the benchmark runs in a child process with that environment and hands its result back.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.database import database_name, ensure_database, with_database_name
from bench.letters_data import (
    board_figures,
    generate,
    naive_scoreboard,
    naive_sweep,
    prepare_database,
    reset_lights,
    vacuum,
)
from bench.report import percentile
from bench.servers import ROOT

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/minxin_bench_letters"
SUFFIX = "_bench_letters"
SCOREBOARD_TARGET_MS = 100.0
SWEEP_TARGET_MS = 5000.0

# Row names of the table (the smoke test checks them).
SERVED = "scoreboard() as served, warm cache"
HTTP = "GET /api/departments/scoreboard/, warm"
COLD = "compute_scoreboard(), cold cache"
NAIVE_BOARD = "naive: every letter counted in Python"
SWEEP_FIRST = "sweep(now), first run"
SWEEP_STEADY = "sweep(now + k min), steady state"
NAIVE_SWEEP = "naive: light_at() one by one + save"
ROWS = (SERVED, HTTP, COLD, NAIVE_BOARD, SWEEP_FIRST, SWEEP_STEADY, NAIVE_SWEEP)


# --- where the data lives --------------------------------------------------------------------------


def default_database_url(environ: dict[str, str]) -> str:
    """LETTERS_DATABASE_URL; else DATABASE_URL with _bench_letters appended to its name; else the default."""
    if environ.get("LETTERS_DATABASE_URL"):
        return environ["LETTERS_DATABASE_URL"]
    url = environ.get("DATABASE_URL")
    if url:
        name = database_name(url)
        return url if name.endswith(SUFFIX) else with_database_name(url, name + SUFFIX)
    return DEFAULT_DATABASE_URL


def bench_environment(database_url: str) -> dict[str, str]:
    """settings.dev on the bench database, DEBUG off, no Redis: the cache is in-process."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "settings.dev",
        "DATABASE_URL": database_url,
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "PYTHONUNBUFFERED": "1",
    }
    for name in ("REDIS_URL", "REDIS_URL_FILE", "DATABASE_URL_FILE", "SQLITE_PATH"):
        env.pop(name, None)
    return env


# --- results -------------------------------------------------------------------------------------


@dataclass
class Row:
    what: str
    rows: str
    median_ms: float
    p95_ms: float
    runs: int
    target_ms: float | None = None
    note: str = ""

    @property
    def met(self) -> bool | None:
        return None if self.target_ms is None else self.median_ms < self.target_ms


@dataclass
class Result:
    letters: int = 0
    open: int = 0
    generation_seconds: float = 0.0
    vacuum_seconds: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    first_sweep_changes: dict[str, int] = field(default_factory=dict)
    steady_sweep_changes: list[int] = field(default_factory=list)
    light_changes_recorded: int = 0
    naive_sweep_sample: int = 0
    naive_sweep_changes: int = 0
    scoreboard_agrees: bool = False
    sweep_agrees: bool = False
    seconds: float = 0.0

    def row(self, what: str) -> Row:
        return next(row for row in self.rows if row.what == what)

    @classmethod
    def from_json(cls, data: dict) -> Result:
        rows = [Row(**row) for row in data.pop("rows")]
        return cls(rows=rows, **data)


def timed(work: Callable[[], Any], runs: int, before: Callable[[], Any] | None = None) -> list[float]:
    """Wall-clock milliseconds of `runs` calls of `work`; `before` runs untimed ahead of each."""
    times = []
    for _ in range(runs):
        if before is not None:
            before()
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    return times


def make_row(what: str, rows: str, times: Sequence[float], target_ms: float | None, note: str = "") -> Row:
    return Row(
        what, rows, statistics.median(times), percentile(sorted(times), 95), len(times), target_ms, note
    )


# --- the machine ---------------------------------------------------------------------------------


def machine_lines(database_url: str) -> list[str]:
    from django.db import connection

    model, memory = "", ""
    try:
        info = Path("/proc/cpuinfo").read_text(encoding="utf-8")
        model = next(
            (line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), ""
        )
        kib = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
        memory = f", {kib / 1024 / 1024:.1f} GiB"
    except (OSError, IndexError, ValueError):
        pass
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        server = cursor.fetchone()[0]
        cursor.execute(
            "SELECT name, setting, unit FROM pg_settings WHERE name IN "
            "('shared_buffers', 'work_mem', 'max_parallel_workers_per_gather') ORDER BY name"
        )
        knobs = ", ".join(f"{name} {setting}{' × ' + unit if unit else ''}" for name, setting, unit in cursor)
    libs = ", ".join(f"{name} {importlib.metadata.version(name)}" for name in ("django", "psycopg"))
    return [
        f"machine  {platform.platform()}, {os.cpu_count()} CPUs{', ' + model if model else ''}{memory}",
        f"python   {platform.python_implementation()} {platform.python_version()}, {libs}",
        f"database PostgreSQL {server.split()[0]} on the same machine ({knobs}); {database_name(database_url)}",
        f"load     {' '.join(f'{x:.2f}' for x in os.getloadavg())} (1, 5, 15 min) at the start",
    ]


# --- profiling -----------------------------------------------------------------------------------


def explain(label: str, work: Callable[[], Any], limit: int = 3) -> None:
    """The queries `work` runs, by time, and EXPLAIN (ANALYZE, BUFFERS) of its slowest SELECTs
    (in a transaction rolled back afterwards)."""
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    with transaction.atomic():
        with CaptureQueriesContext(connection) as captured:
            work()
        transaction.set_rollback(True)
    queries = sorted(captured.captured_queries, key=lambda q: -float(q["time"]))
    print(
        f"\nexplain  {label}: {len(queries)} queries, {sum(float(q['time']) for q in queries) * 1000:,.0f} ms"
    )
    for query in queries[:8]:
        print(f"         {float(query['time']) * 1000:8.1f} ms  {query['sql'][:150]}")
    selects = [q for q in queries if q["sql"].lstrip().upper().startswith("SELECT")][:limit]
    for query in selects:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + query["sql"])
            plan = [line for (line,) in cursor.fetchall()]
            transaction.set_rollback(True)
        print(f"\n         EXPLAIN ANALYZE {query['sql'][:300]}")
        for line in plan:
            print(f"           {line}")


# --- the run -------------------------------------------------------------------------------------


def run(options: argparse.Namespace) -> Result:
    from django.utils import timezone

    from letters import reports, supervision

    wall = time.perf_counter()
    result = Result(letters=options.letters, open=options.open)
    print("Letters benchmark (bench/letters.py)")
    for line in machine_lines(options.database_url):
        print(line)

    prepare_database()
    now = timezone.now().replace(microsecond=0)
    phases = generate(options.letters, options.open, options.seed, now)
    result.generation_seconds = phases["total"]
    result.vacuum_seconds = vacuum()
    describe_data(options, result, phases)

    measure_scoreboard(options, result)
    naive_ms, scale = measure_sweep(options, result, now)
    print_table(result.rows)
    print_notes(result, options, naive_ms, scale)
    if options.explain:
        explain("compute_scoreboard()", reports.compute_scoreboard)
        reset_lights()
        explain("sweep(now), first run", lambda: supervision.sweep(now))
        supervision.sweep(now)
        explain("sweep(now + 1 min), steady state", lambda: supervision.sweep(now + dt.timedelta(minutes=1)))
    result.seconds = time.perf_counter() - wall
    print(f"\ntotal    {result.seconds:.0f} s")
    return result


def describe_data(options: argparse.Namespace, result: Result, phases: dict[str, float]) -> None:
    from django.db import connection
    from django.db.models import Count

    from letters.models import Letter

    result.statuses = dict(Letter.objects.values_list("status").annotate(n=Count("id")).order_by())
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_total_relation_size('letters_letter'), pg_relation_size('letters_letter')")
        total_size, heap_size = cursor.fetchone()
    departments = Letter.objects.exclude(department=None).values("department").distinct().count()
    print(
        f"data     seed {options.seed}: {options.letters:,} letters over {departments} departments in "
        f"{phases['total']:.1f} s ({phases['finished']:.1f} s INSERT … SELECT generate_series of the finished ones, "
        f"{phases['schedule']:.1f} s services.schedule() of the open ones, {phases['copy']:.1f} s COPY), then "
        f"VACUUM ANALYZE {result.vacuum_seconds:.1f} s; table {heap_size / 2**20:,.0f} MiB, "
        f"{total_size / 2**20:,.0f} MiB with indexes"
    )
    print("         " + ", ".join(f"{status} {count:,}" for status, count in sorted(result.statuses.items())))


def measure_scoreboard(options: argparse.Namespace, result: Result) -> None:
    """The scoreboard against the naive count: the same figures, then served, over HTTP, cold, naive."""
    from django.core.cache import cache
    from django.test import Client

    from letters import reports

    board = reports.compute_scoreboard()
    naive = naive_scoreboard()
    result.scoreboard_agrees = board_figures(board) == board_figures(naive)
    if not result.scoreboard_agrees:
        raise SystemExit("DISAGREE: the naive scoreboard and compute_scoreboard() differ")
    ranked = sum(1 for row in board["departments"] if row["ranked"])
    print(
        f"check    compute_scoreboard() and the naive count agree on all {len(board['departments'])} departments "
        f"({ranked} ranked)"
    )
    letters_rows = f"{options.letters:,}"
    cold = timed(reports.compute_scoreboard, options.cold_runs)
    reports.scoreboard(refresh=True)  # what the clock does every minute
    served = timed(reports.scoreboard, options.warm_runs)
    client = Client(SERVER_NAME="127.0.0.1")
    answers: list[int] = []

    def get() -> None:
        response = client.get("/api/departments/scoreboard/")
        answers.append(response.status_code)

    http = timed(get, options.warm_runs)
    if set(answers) != {200}:
        raise SystemExit(f"GET /api/departments/scoreboard/ answered {sorted(set(answers))}")
    naive_times = timed(naive_scoreboard, options.naive_runs)
    cache.clear()
    result.rows += [
        make_row(SERVED, letters_rows, served, SCOREBOARD_TARGET_MS),
        make_row(HTTP, letters_rows, http, SCOREBOARD_TARGET_MS),
        make_row(COLD, letters_rows, cold, None, "what the clock pays once a minute"),
        make_row(NAIVE_BOARD, letters_rows, naive_times, SCOREBOARD_TARGET_MS),
    ]


def measure_sweep(options: argparse.Namespace, result: Result, now: dt.datetime) -> tuple[float, float]:
    """The naive sweep first, on the fresh data, then reset; the first sweeps and the steady state.
    Returns the naive sweep's milliseconds and its extrapolation factor."""
    from letters import supervision
    from letters.models import Letter, LightChange

    open_rows_text = f"{options.open:,} open"
    sample = min(options.naive_sample, options.open)
    started = time.perf_counter()
    result.naive_sweep_changes, naive_lights = naive_sweep(now, sample)
    naive_ms = (time.perf_counter() - started) * 1000
    result.naive_sweep_sample = sample
    scale = options.open / sample if sample else 1.0
    reset_lights()

    first_changes: list[dict[str, int]] = []

    def first_sweep() -> None:
        first_changes.append(supervision.sweep(now))

    def back_to_green() -> None:
        if first_changes:  # the first run starts from the data as generated
            reset_lights()

    first = timed(first_sweep, options.sweep_runs, before=back_to_green)
    result.first_sweep_changes = {str(k): v for k, v in first_changes[-1].items()}
    result.light_changes_recorded = LightChange.objects.count()
    stored = dict(Letter.objects.filter(pk__in=list(naive_lights)).values_list("pk", "light"))
    result.sweep_agrees = stored == naive_lights
    if not result.sweep_agrees:
        wrong = sum(1 for pk, light in naive_lights.items() if stored.get(pk) != light)
        raise SystemExit(
            f"DISAGREE: sweep() and light_at() give {wrong} of {len(naive_lights)} letters other lights"
        )
    print(
        f"check    sweep() sets the light light_at() computes on all {len(naive_lights):,} letters of the naive "
        f"sample; the first sweep recorded {result.light_changes_recorded:,} changes ("
        + ", ".join(f"{light} {count:,}" for light, count in result.first_sweep_changes.items())
        + ")"
    )
    steady_changes: list[int] = []
    minute = iter(range(1, options.sweep_runs * 10 + 100))

    def steady_sweep() -> None:
        changed = supervision.sweep(now + dt.timedelta(minutes=next(minute)))
        steady_changes.append(sum(changed.values()))

    steady = timed(steady_sweep, options.steady_runs)
    result.steady_sweep_changes = steady_changes
    print(
        f"         steady state, a minute apart: {', '.join(str(n) for n in steady_changes)} changes per sweep"
    )
    result.rows += [
        make_row(
            SWEEP_FIRST,
            open_rows_text,
            first,
            SWEEP_TARGET_MS,
            f"{sum(first_changes[-1].values()):,} changes",
        ),
        make_row(SWEEP_STEADY, open_rows_text, steady, SWEEP_TARGET_MS, "a few changes"),
        make_row(
            NAIVE_SWEEP,
            f"{sample:,} of {options.open:,}",
            [naive_ms * scale],
            SWEEP_TARGET_MS,
            "extrapolated" if scale != 1 else "",
        ),
    ]
    return naive_ms, scale


def print_table(rows: list[Row]) -> None:
    header = ("what", "rows", "median ms", "p95 ms", "runs", "target", "met?")
    table = [header]
    for row in rows:
        target = "—" if row.target_ms is None else f"< {row.target_ms:,.0f} ms"
        met = "—" if row.met is None else ("yes" if row.met else "no")
        digits = 3 if row.median_ms < 10 else 1 if row.median_ms < 1000 else 0
        extrapolated = "*" if row.note == "extrapolated" else ""
        table.append(
            (
                row.what,
                row.rows,
                f"{row.median_ms:,.{digits}f}{extrapolated}",
                f"{row.p95_ms:,.{digits}f}{extrapolated}",
                str(row.runs),
                target,
                met,
            )
        )
    widths = [max(len(entry[i]) for entry in table) for i in range(len(header))]
    print()
    for number, entry in enumerate(table):
        cells = [entry[0].ljust(widths[0]), entry[1].rjust(widths[1])]
        cells += [cell.rjust(width) for cell, width in zip(entry[2:5], widths[2:5], strict=True)]
        cells += [entry[5].ljust(widths[5]), entry[6].ljust(widths[6])]
        print(" | ".join(cells).rstrip())
        if number == 0:
            print("-+-".join("-" * width for width in widths))


def print_notes(result: Result, options: argparse.Namespace, naive_ms: float, scale: float) -> None:
    from letters.reports import SCOREBOARD_SECONDS

    served, cold, naive = result.row(SERVED), result.row(COLD), result.row(NAIVE_BOARD)
    first, steady, naive_sweep_row = (
        result.row(SWEEP_FIRST),
        result.row(SWEEP_STEADY),
        result.row(NAIVE_SWEEP),
    )
    print()
    print(
        "median, p95: wall clock (time.perf_counter) over the runs, nearest rank (with fewer than 20 runs p95 is "
        "the slowest run)."
    )
    print(
        f"scoreboard  as served it reads one cache entry, kept warm by the clock: {served.median_ms:.3f} ms, "
        f"{naive.median_ms / served.median_ms:,.0f}× faster than counting every letter in Python "
        f"({naive.median_ms:,.0f} ms, {naive.runs} runs only: it is slow) and {cold.median_ms / served.median_ms:,.0f}× "
        f"faster than computing it cold ({cold.median_ms:,.0f} ms)."
    )
    verdict = "under" if cold.median_ms < SCOREBOARD_TARGET_MS else "over"
    print(
        f"            a request that finds the cache empty (after a restart, or with the clock stopped for over "
        f"{SCOREBOARD_SECONDS} s) pays compute_scoreboard(): {cold.median_ms:,.0f} ms, {verdict} the {SCOREBOARD_TARGET_MS:.0f} ms target."
    )
    print(
        f"sweep       first run {first.median_ms:,.0f} ms for {first.note} ({first.runs} runs, each from every "
        f"open light green again, untimed); steady state {steady.median_ms:,.0f} ms ({steady.runs} runs a minute "
        f"apart); the naive sweep {naive_sweep_row.median_ms:,.0f} ms"
        + (
            f" — * extrapolated ×{scale:,.1f} from one run over the first {result.naive_sweep_sample:,} open letters "
            f"({naive_ms:,.0f} ms, {result.naive_sweep_changes:,} changes saved one by one)"
            if scale != 1
            else f" (one run, {result.naive_sweep_changes:,} changes saved one by one)"
        )
        + f": the first sweep is {naive_sweep_row.median_ms / first.median_ms:,.0f}× faster."
    )
    for row in result.rows:
        if row.met is False and row.what not in (NAIVE_BOARD, NAIVE_SWEEP):
            print(
                f"MISSED      {row.what}: {row.median_ms:,.0f} ms ≥ {row.target_ms:,.0f} ms (run with --explain)"
            )
    targets = [row for row in result.rows if row.what in (SERVED, HTTP, SWEEP_FIRST, SWEEP_STEADY)]
    print(
        "target      scoreboard < 100 ms as served, sweep < 5 s: "
        + ("MET" if all(row.met for row in targets) else "NOT MET")
    )


# --- entry ---------------------------------------------------------------------------------------


def _run_in_child(options: argparse.Namespace, argv: Sequence[str]) -> Result:
    """Django is set up in this process already (the smoke test): run in a child with the bench's settings."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "result.json"
        command = [sys.executable, "-m", "bench.letters", *argv, "--database-url", options.database_url]
        command += ["--result-file", str(out)]
        with subprocess.Popen(
            command,
            cwd=ROOT,
            env=bench_environment(options.database_url),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        ) as child:
            assert child.stdout is not None
            for line in child.stdout:
                print(line, end="")
        if child.returncode != 0:
            raise RuntimeError(f"bench.letters failed (exit {child.returncode})")
        return Result.from_json(json.loads(out.read_text(encoding="utf-8")))


def main(argv: Sequence[str] | None = None) -> Result:
    parser = argparse.ArgumentParser(prog="python -m bench.letters", description=__doc__.split("\n\n")[0])
    parser.add_argument("--letters", type=int, default=1_000_000, help="letters in all (default 1000000)")
    parser.add_argument(
        "--open",
        type=int,
        default=100_000,
        help="of them forwarded or signed for, with lights (default 100000)",
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed of the generated data (default 1)")
    parser.add_argument(
        "--warm-runs", type=int, default=50, help="runs of the warm scoreboard, direct and HTTP (50)"
    )
    parser.add_argument("--cold-runs", type=int, default=7, help="runs of compute_scoreboard() (7)")
    parser.add_argument("--naive-runs", type=int, default=3, help="runs of the naive scoreboard (3)")
    parser.add_argument(
        "--sweep-runs", type=int, default=3, help="first runs of the sweep, reset between (3)"
    )
    parser.add_argument("--steady-runs", type=int, default=7, help="steady-state runs of the sweep (7)")
    parser.add_argument(
        "--naive-sample", type=int, default=10_000, help="open letters the naive sweep runs on (10000)"
    )
    parser.add_argument(
        "--explain", action="store_true", help="also print the queries and EXPLAIN ANALYZE plans"
    )
    parser.add_argument("--database-url", help="the bench database (default: see the module's docstring)")
    parser.add_argument("--result-file", help=argparse.SUPPRESS)
    argv = list(sys.argv[1:] if argv is None else argv)
    options = parser.parse_args(argv)
    if options.letters < 1 or not 1 <= options.open <= options.letters:
        parser.error("--letters must be at least 1 and --open from 1 to --letters")
    for name in ("warm_runs", "cold_runs", "naive_runs", "sweep_runs", "steady_runs", "naive_sample"):
        if getattr(options, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    options.database_url = options.database_url or default_database_url(dict(os.environ))
    if "bench" not in database_name(options.database_url):
        parser.error(
            f"the database {database_name(options.database_url)!r} will be emptied: its name must contain 'bench'"
        )

    from django.apps import apps

    if apps.ready:
        return _run_in_child(options, argv)
    ensure_database(options.database_url)
    environment = bench_environment(options.database_url)
    for name in set(os.environ) - set(environment):
        del os.environ[name]
    os.environ.update(environment)
    import django

    django.setup()
    result = run(options)
    if options.result_file:
        Path(options.result_file).write_text(json.dumps(asdict(result)), encoding="utf-8")
    return result


if __name__ == "__main__":
    main()
