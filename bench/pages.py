"""Page benchmark (issue #17): every page and API a citizen or staff member uses, timed over HTTP.

One command, against databases of its own:

    .venv/bin/python -m bench.pages                                   # --dataset demo --dataset demo+2000
    .venv/bin/python -m bench.pages --dataset demo --repeat 20 --clients 2
    .venv/bin/python -m bench.pages --dataset demo --dataset year      # the seed's year (manage.py simulate)
    .venv/bin/python -m bench.pages --dataset year@0.05+2000            # 5 % of it, plus 2000 open letters…

For each `--dataset` (in one run, side by side): a fresh PostgreSQL database is migrated and loaded
in one `manage.py shell` — the demo, then for `demo+N` N more letters in every state, questions
answered, waiting and pending, and a programme with N questions and answers, all through the
services (bench/pages_data.py) — where every page is also requested once through Django's test
Client to count its SQL queries and to log the staff in (session cookies). Then `--processes` daphne
processes (settings.prod) serve it, and each page of bench/pages_data.py's PAGES is requested
`--repeat` times from `--clients` threads (urllib, the processes in turn, staff pages with their
role's cookie), after one warm-up request per process. The table: page, role, public or staff,
queries, p50 and p95 ms, the target (p95 ≤ 100 ms public, ≤ 200 ms staff) and whether it is met.

Where it keeps its data: `--database-url`, else PAGES_DATABASE_URL, else DATABASE_URL with
`_bench_pages` appended to the name, else postgres://postgres@127.0.0.1:5432/minxin_bench_pages; each
dataset gets that name plus `_demo` or `_demo_N`, dropped and made again on every run, so the name
must contain "bench". Redis: `--redis-url`, else PAGES_REDIS_URL, else the bench Redis db
(bench/database.py); between datasets the Django cache's keys (`:1:*`) are deleted from it, so that
one dataset's cached scoreboard is not served for the next.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from bench.database import bench_redis_url, database_name, ensure_static_files, manage, with_database_name
from bench.pages_data import PAGES, Page
from bench.report import machine, percentile, print_grid, print_machine, progress
from bench.servers import Children, ProjectServers, project_env

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/minxin_bench_pages"
SUFFIX = "_bench_pages"
YEAR = "year"
LOOKUPS = 1_000_000  # the bench asks for one letter by its key many times from 127.0.0.1

LOAD_SCRIPT = """
import json
from django.core.management import call_command
from bench import pages_data
{start}
context = pages_data.grow({more}, letter)
counted, cookies = pages_data.count_queries(context, HTTP_HOST="127.0.0.1")
print("BENCH-PAGES " + json.dumps({{
    "context": context, "cookies": cookies,
    "counted": {{name: [c.status, c.queries] for name, c in counted.items()}},
}}))
"""


@dataclass
class Row:
    dataset: str
    page: str
    role: str
    public: bool
    queries: int
    target_ms: float
    times_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def p50(self) -> float:
        return percentile(sorted(self.times_ms), 50)

    @property
    def p95(self) -> float:
        return percentile(sorted(self.times_ms), 95)

    @property
    def met(self) -> bool:
        return self.p95 <= self.target_ms and set(self.statuses) == {200}


@dataclass
class Result:
    datasets: list[str]
    rows: list[Row]
    loads: dict[str, float]  # the load average (1 min) after each dataset's timed run
    load_seconds: dict[str, float]  # how long each dataset took to load


DEMO_START = 'call_command("demo", quiet=True)\nletter = pages_data.prepare()'
YEAR_START = "letter = pages_data.prepare_year()"


def dataset_size(name: str) -> int:
    """demo → 0, demo+N → N, year[@F][+N] → N; anything else is a usage error."""
    return parse_dataset(name)[2]


def parse_dataset(name: str) -> tuple[str, float, int]:
    """(base, scale, more): demo[+N], or year[@F][+N] — the seed's year simulated at scale F (1.0)."""
    match = re.fullmatch(r"(demo|year)(?:@(0?\.\d+|1(?:\.0*)?))?(?:\+(\d+))?", name)
    if not match or (match.group(1) == "demo" and match.group(2)):
        raise ValueError(f"unknown dataset {name!r}: demo, demo+N, year, year@F or year@F+N")
    return match.group(1), float(match.group(2) or 1.0), int(match.group(3) or 0)


def default_database_url(environ: dict[str, str]) -> str:
    if environ.get("PAGES_DATABASE_URL"):
        return environ["PAGES_DATABASE_URL"]
    url = environ.get("DATABASE_URL", "")
    if url.startswith("postgres"):
        return with_database_name(url, database_name(url) + SUFFIX)
    return DEFAULT_DATABASE_URL


def dataset_url(base: str, dataset: str) -> str:
    suffix = dataset.replace("+", "_").replace("@", "_").replace(".", "")
    return with_database_name(base, database_name(base) + "_" + suffix)


def year_template_url(base: str, scale: float, seed: int) -> str:
    """Where a simulated year is kept between runs: simulating it takes minutes (the full year
    tens of minutes), copying a template database seconds."""
    scale_name = f"{scale:g}".replace(".", "")
    return with_database_name(base, f"{database_name(base)}_year_{scale_name}_seed{seed}")


def fresh_database(url: str, template: str | None = None) -> None:
    import psycopg

    name = database_name(url)
    with psycopg.connect(with_database_name(url, "postgres"), autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))


def simulated_year(base: str, scale: float, seed: int, redis_url: str) -> str:
    """The template database of the seed's year at `scale`, simulated now unless kept from an
    earlier run (a template that exists is complete: it is renamed into place only at the end)."""
    import psycopg

    url = year_template_url(base, scale, seed)
    name = database_name(url)
    with psycopg.connect(with_database_name(url, "postgres"), autocommit=True, connect_timeout=10) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return name
    making = with_database_name(url, name + "_making")
    fresh_database(making)
    env = project_env(making, redis_url)
    began = time.monotonic()
    manage(env, "migrate", "--noinput", timeout=600)
    manage(env, "simulate", "--seed", str(seed), "--scale", str(scale), timeout=4 * 3600)
    progress(f"year@{scale:g}: simulated (kept as {name})", None, "done", began)
    with psycopg.connect(with_database_name(url, "postgres"), autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'ALTER DATABASE "{name}_making" RENAME TO "{name}"')
    return name


def vacuum_analyze(url: str) -> None:
    """What autovacuum does in production, before anything is timed: rows just loaded leave the
    planner without statistics and index-only scans without a visibility map, and this machine's
    PostgreSQL runs with autovacuum off (CI's conf.d/90-ci.conf). Unanalysed, the year's public letter
    JSON took 50 ms in-process instead of 22 (its trail query read all 270,000 steps)."""
    import psycopg

    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        conn.execute("VACUUM ANALYZE")


def clear_django_cache(redis_url: str) -> None:
    """Delete the Django cache's keys (`:1:*`) from the bench's Redis db, and nothing else."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=":1:*", count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])
    finally:
        client.close()


def load(env: dict, more: int, start: str = DEMO_START) -> dict:
    """Migrate, load the dataset and count every page's queries, in one `manage.py shell`."""
    manage(env, "migrate", "--noinput", timeout=600)
    out = manage(env, "shell", "-c", LOAD_SCRIPT.format(more=more, start=start), timeout=3600)
    line = next(line for line in out.splitlines() if line.startswith("BENCH-PAGES "))
    return json.loads(line.removeprefix("BENCH-PAGES "))


def fetch(url: str, cookie: str | None) -> tuple[int, float]:
    request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    began = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        error.read()
        status = error.code
    return status, (time.perf_counter() - began) * 1000


def time_page(page: Page, row: Row, loaded: dict, ports: list[int], args: argparse.Namespace) -> None:
    path = quote(page.url(loaded["context"]), safe="/?=&")
    cookie = loaded["cookies"].get(page.role) if page.role else None
    urls = [f"http://127.0.0.1:{port}{path}" for port in ports]
    for url in urls:
        fetch(url, cookie)  # warm-up, not counted
    with ThreadPoolExecutor(args.clients) as pool:
        for status, elapsed in pool.map(lambda i: fetch(urls[i % len(urls)], cookie), range(args.repeat)):
            row.statuses[status] = row.statuses.get(status, 0) + 1
            row.times_ms.append(elapsed)


def run_dataset(dataset: str, args: argparse.Namespace, logdir: Path) -> tuple[list[Row], float, float]:
    url = dataset_url(args.database_url, dataset)
    base, scale, more = parse_dataset(dataset)
    template = simulated_year(args.database_url, scale, args.seed, args.redis_url) if base == YEAR else None
    fresh_database(url, template)
    clear_django_cache(args.redis_url)
    env = project_env(url, args.redis_url)
    ensure_static_files(env)  # settings.prod serves the collected, hashed files and needs them
    env["MINXIN_LETTER_LOOKUPS_PER_ADDRESS_PER_MINUTE"] = str(LOOKUPS)
    env["MINXIN_LETTER_LOOKUPS_PER_ADDRESS_PER_HOUR"] = str(LOOKUPS)
    began = time.monotonic()
    loaded = load(env, more, YEAR_START if template else DEMO_START)
    vacuum_analyze(url)
    loaded_in = time.monotonic() - began
    progress(f"{dataset}: loaded", None, "done", began)
    children = Children(logdir)
    servers = ProjectServers(children, env, args.processes, loaded["context"]["live"], "minxin pages")
    rows = []
    try:
        asyncio.run(servers.start())
        ports = [server.port for server in servers.servers]
        began = time.monotonic()
        for page in PAGES:
            _status, queries = loaded["counted"][page.name]
            row = Row(dataset, page.name, page.role or "citizen", page.public, queries, page.target_ms)
            time_page(page, row, loaded, ports, args)
            rows.append(row)
        progress(f"{dataset}: {len(PAGES)} pages × {args.repeat}", None, "timed", began)
    finally:
        children.stop()
    return rows, loaded_in, os.getloadavg()[0]


def print_table(result: Result) -> None:
    header = ["page", "role", "kind", "target"]
    for dataset in result.datasets:
        header += [f"{dataset} queries", "p50 ms", "p95 ms", "met?"]
    body = []
    for page in PAGES:
        line = [
            page.name,
            page.role or "citizen",
            "public" if page.public else "staff",
            f"{page.target_ms:.0f}",
        ]
        for dataset in result.datasets:
            row = next(r for r in result.rows if r.dataset == dataset and r.page == page.name)
            errors = {s: n for s, n in row.statuses.items() if s != 200}
            verdict = "MET" if row.met else "NOT MET" + (f" {errors}" if errors else "")
            line += [str(row.queries), f"{row.p50:.0f}", f"{row.p95:.0f}", verdict]
        body.append(tuple(line))
    print_grid(tuple(header), body)


def main(argv: list[str] | None = None) -> Result:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--dataset", action="append", help="demo, demo+N, year, year@F or year@F+N (repeatable)"
    )
    parser.add_argument("--seed", type=int, default=1, help="the simulated year's seed (1)")
    parser.add_argument("--repeat", type=int, default=50, help="requests per page (50)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients (4)")
    parser.add_argument("--processes", type=int, default=2, help="daphne processes (2)")
    parser.add_argument("--database-url", default=default_database_url(dict(os.environ)))
    parser.add_argument("--redis-url", default=bench_redis_url(dict(os.environ), "PAGES_REDIS_URL"))
    args = parser.parse_args(argv)
    datasets = args.dataset or ["demo", "demo+2000"]
    for dataset in datasets:
        try:
            dataset_size(dataset)
        except ValueError as error:
            parser.error(str(error))
    if "bench" not in database_name(args.database_url):
        parser.error(f"refusing {database_name(args.database_url)!r}: its name must contain 'bench'")
    info = machine(args)
    print_machine(info)
    result = Result(datasets, [], {}, {})
    with tempfile.TemporaryDirectory(prefix="bench-pages-") as logdir:
        for dataset in datasets:
            rows, loaded_in, load = run_dataset(dataset, args, Path(logdir))
            result.rows += rows
            result.load_seconds[dataset] = loaded_in
            result.loads[dataset] = load
    print(
        f"\n{args.processes} daphne processes (settings.prod), {args.clients} clients,"
        f" {args.repeat} requests a page; p95 target {PAGES[0].target_ms:.0f} ms public,"
        f" {PAGES[-1].target_ms:.0f} ms staff\n"
    )
    print_table(result)
    for dataset in datasets:
        print(
            f"{dataset}: loaded in {result.load_seconds[dataset]:.0f} s;"
            f" load average {result.loads[dataset]:.2f} after its timed run"
        )
    met = sum(row.met for row in result.rows)
    print(f"met: {met} of {len(result.rows)}")
    return result


if __name__ == "__main__":
    main()
