"""Rush benchmark: the start of a programme, N people opening /live/<id>/ within a minute (issue #18).

    .venv/bin/python -m bench.rush                       # --people 10000 --window 60 --processes 2 --loadgens 2
    .venv/bin/python -m bench.rush --people 2000 --window 20

Needs PostgreSQL and Redis (its own database and Redis db, as bench/fanout.py). Each person
(bench/rush_load.py) loads the live page, its stylesheet and scripts (hashed names; a returning
visitor has them cached and asks for none), opens the socket with the page's cookies while the
page's JSON list (the 附议 counts) loads, and waits for the first `hello`. Arrivals are spread at random over the
window (seeded), round-robin over the processes, from several load-generator processes.

Beside the project, in the same run and with the same people: bench/rush_ref.py, the same bytes
served by a bare asyncio server (no framework, no database), on as many processes. See
bench/README.md ("Rush").
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import leanws
from bench.database import (
    SETUP_SCRIPT,
    STAFF_SCRIPT,
    bench_redis_url,
    database_name,
    ensure_database,
    ensure_static_files,
    manage,
    redis_db,
    with_database_name,
)
from bench.load import LoadGen
from bench.report import machine, ms, percentile, print_grid, print_machine, progress
from bench.rush_load import BROWSER, Connection, rush_loadgen_main
from bench.servers import (
    Children,
    ProjectServers,
    Server,
    cpu_seconds,
    crash_report,
    free_port,
    nginx,
    project_env,
    raise_nofile,
    start_nginx,
    tree_cpu_seconds,
    wait_listening,
)

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/minxin_bench"
BROADCAST_ID_FLOOR = 900_000_000  # as bench/fanout.py: ids no test database reaches
DESIGNS = ("minxin", "minxin behind nginx", "bare asyncio reference")
# --designs names them: the project's daphne processes alone, the same behind the documented front
# proxy (docs/nginx.conf: it answers the shared live page and the static files from its cache), and
# the reference.
DESIGN_NAMES = {"daphne": DESIGNS[0], "nginx": DESIGNS[1], "reference": DESIGNS[2]}

PROGRAMME_SCRIPT = """
import io
from django.core.management import call_command
from django.utils import timezone
from studio.models import Broadcast
out = io.StringIO()
call_command("createbroadcast", "--department", "jtw", "--title", "rush bench", "--guest", "rushguest", stdout=out)
broadcast_id = int(out.getvalue().strip().splitlines()[-1])
Broadcast.objects.filter(pk=broadcast_id).update(status="live", started_at=timezone.now())
print(broadcast_id)
"""


@dataclass
class Row:
    design: str
    processes: int
    people: int
    returning: int = 0
    hellos: int = 0
    pages_from_cache: int = 0  # answered by the front proxy's cache, not a web process
    proxy_errors: list[str] = field(default_factory=list)  # what nginx's error log says went wrong
    errors: dict[str, int] = field(default_factory=dict)
    hello: tuple[float, float, float, float] = (float("nan"),) * 4  # p50, p95, p99, max
    html: tuple[float, float, float, float] = (float("nan"),) * 4
    server_cpu: float = float("nan")
    loadgen_cpu: float = float("nan")
    seconds: float = float("nan")
    load: tuple[float, float] = (float("nan"), float("nan"))  # 1-min load average at start, end
    error: str | None = None


def quartet(values: list[float]) -> tuple[float, float, float, float]:
    values = sorted(v for v in values if v == v)
    return (
        percentile(values, 50),
        percentile(values, 95),
        percentile(values, 99),
        values[-1] if values else float("nan"),
    )


def prepare(env: dict, database_url: str) -> int:
    """The bench database, migrated, with a live programme of its own: its id."""
    ensure_database(database_url)
    ensure_static_files(env)
    manage(env, "migrate", "--no-input", "-v", "0", timeout=600)
    accounts = [
        ("rushguest", "guest", ["--department", "jtw", "--name", "张明", "--title", "市交通委新闻发言人"])
    ]
    script = SETUP_SCRIPT.format(floor=BROADCAST_ID_FLOOR) + STAFF_SCRIPT.format(accounts=accounts)
    out = manage(env, "shell", "-c", script + PROGRAMME_SCRIPT)
    return int(out.strip().splitlines()[-1])


def site_paths(broadcast_id: int) -> dict[str, Any]:
    return {
        "page": f"/live/{broadcast_id}/",
        # What the page's script asks for at the start of a programme: the 附议 counts. Its
        # my-questions only for a browser that asked in this programme, and nobody has yet.
        "apis": [f"/api/broadcasts/{broadcast_id}/supports/"],
    }


async def capture(port: int, broadcast_id: int, into: Path) -> None:
    """What the reference serves: the project's own answers, read once (page, JSON lists, hello)."""
    paths = site_paths(broadcast_id)
    connection = Connection("127.0.0.1", port, None)
    table: dict[str, Any] = {"http": {}, "ws": f"/ws/live/{broadcast_id}/", "hello": "hello.json"}
    for n, path in enumerate([paths["page"], *paths["apis"]]):
        status, headers, body = await connection.get(path, {**BROWSER, "Accept-Encoding": "identity"})
        if status != 200:
            raise RuntimeError(f"the project answered {path} with HTTP {status}")
        (into / f"r{n}").write_bytes(body)
        table["http"][path] = [headers.get("content-type", ["text/html"])[0], f"r{n}"]
    connection.close()
    ws = await leanws.connect(f"ws://127.0.0.1:{port}{table['ws']}", f"http://127.0.0.1:{port}")
    first: list[str] = []
    arrived = asyncio.Event()

    def on_text(_now: float, text: str) -> None:
        first.append(text)
        arrived.set()

    reader = asyncio.ensure_future(ws.run(on_text, time.time))
    await asyncio.wait_for(arrived.wait(), 30)
    await ws.close()
    reader.cancel()
    (into / "hello.json").write_text(first[0])
    (into / "routes.json").write_text(json.dumps(table))


async def start_reference(children: Children, processes: int, routes: Path, static_root: str) -> list[Server]:
    servers = []
    for _ in range(processes):
        port = free_port()
        command = [sys.executable, "-m", "bench.rush_ref", "--port", str(port), "--routes", str(routes)]
        command += ["--static-root", static_root]
        servers.append(children.start(DESIGNS[1], command, {**os.environ, "PYTHONUNBUFFERED": "1"}, port))
    await asyncio.gather(*(wait_listening(s) for s in servers))
    return servers


def plan(args: argparse.Namespace) -> list[tuple[int, float, bool]]:
    """Every person: (index, arrival offset in seconds, returning visitor), seeded."""
    rng = random.Random(args.seed)
    offsets = sorted(rng.uniform(0, args.window) for _ in range(args.people))
    return [(i, offset, rng.random() < args.returning) for i, offset in enumerate(offsets)]


async def rush(
    args: argparse.Namespace,
    loadgens: list[LoadGen],
    servers: list[Server],
    name: str,
    broadcast_id: int,
    behind: list[Server] | None = None,
) -> Row:
    """Everyone arrives at `servers`; the time each took to its first hello, and what failed.

    `behind`: the processes a front proxy passes to; their CPU is the server's too."""
    people = plan(args)
    workers = behind or servers
    row = Row(name, len(workers), len(people), returning=sum(1 for p in people if p[2]))
    targets = [
        {
            "host": "127.0.0.1",
            "port": s.port,
            "ws": f"ws://127.0.0.1:{s.port}/ws/live/{broadcast_id}/",
            **site_paths(broadcast_id),
        }
        for s in servers
    ]
    start_at = time.time() + 1.0
    row.load = (os.getloadavg()[0], float("nan"))
    everyone = servers + [s for s in behind or [] if s not in servers]  # each process once
    cpu_before = sum(tree_cpu_seconds(s.pid) for s in everyone)
    loadgen_before = sum(cpu_seconds(g.pid) for g in loadgens)
    began = time.monotonic()
    shares = [people[k :: len(loadgens)] for k in range(len(loadgens))]
    within = args.window + 150
    answers = await asyncio.gather(
        *(g.call(within, "run", share, targets, start_at) for g, share in zip(loadgens, shares, strict=True))
    )
    row.seconds = time.monotonic() - began
    row.server_cpu = sum(tree_cpu_seconds(s.pid) for s in everyone) - cpu_before
    row.loadgen_cpu = sum(cpu_seconds(g.pid) for g in loadgens) - loadgen_before
    row.load = (row.load[0], os.getloadavg()[0])
    records = [r for answer in answers for r in answer["records"]]
    errors = collections.Counter(r[5] for r in records if r[5])
    row.errors = dict(errors.most_common())
    row.hellos = sum(1 for r in records if r[4] == r[4] and not r[5])
    row.pages_from_cache = sum(1 for r in records if r[6])
    row.hello = quartet([r[4] for r in records if not r[5]])
    row.html = quartet([r[2] for r in records if not r[5]])
    await asyncio.gather(*(g.call(120, "close") for g in loadgens))
    if crashed := crash_report(everyone):
        row.error = "a server exited" + crashed
    return row


HEADER = (
    "server",
    "processes",
    "people",
    "returning",
    "hello/people",
    "errors",
    "to hello p50/p95/p99/max ms",
    "page p50/p95/p99/max ms",
    "server CPU s",
    "CPU ms/person",
    "loadgen CPU s",
    "load 1-min start→end",
)


def cells(row: Row) -> tuple[str, ...]:
    per = row.server_cpu * 1000 / row.people if row.people else float("nan")
    return (
        row.design,
        str(row.processes),
        f"{row.people:,}",
        f"{row.returning:,}",
        f"{row.hellos:,}/{row.people:,}",
        f"{sum(row.errors.values()):,}",
        "/".join(ms(v) for v in row.hello),
        "/".join(ms(v) for v in row.html),
        f"{row.server_cpu:.1f}",
        f"{per:.2f}",
        f"{row.loadgen_cpu:.1f}",
        f"{row.load[0]:.1f}→{row.load[1]:.1f}",
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.rush", description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=10_000, help="people arriving (default 10000)")
    parser.add_argument("--window", type=float, default=60, help="seconds they arrive over (default 60)")
    parser.add_argument("--processes", type=int, default=2, help="daphne processes (default 2)")
    parser.add_argument("--loadgens", type=int, default=2, help="load-generator processes (default 2)")
    parser.add_argument(
        "--returning", type=float, default=0.5, help="share with the static files cached (default 0.5)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--designs",
        default="daphne,nginx,reference",
        help="rows, in order: daphne (the processes alone), nginx (behind docs/nginx.conf), reference",
    )
    parser.add_argument("--no-reference", action="store_true", help="skip the bare asyncio reference")
    parser.add_argument("--database-url", default=default_database_url(dict(os.environ)))
    parser.add_argument(
        "--redis-url", default=bench_redis_url(dict(os.environ), "RUSH_REDIS_URL", "FANOUT_REDIS_URL")
    )
    args = parser.parse_args(argv)
    if (
        args.people < 1
        or args.window <= 0
        or args.processes < 1
        or args.loadgens < 1
        or not 0 <= args.returning <= 1
    ):
        parser.error("bad arguments")
    args.designs = [d.strip() for d in args.designs.split(",") if d.strip()]
    if args.no_reference:
        args.designs = [d for d in args.designs if d != "reference"]
    if not args.designs or set(args.designs) - set(DESIGN_NAMES):
        parser.error(f"--designs: some of {', '.join(DESIGN_NAMES)}")
    if "nginx" in args.designs and nginx() is None:
        parser.error("--designs nginx needs nginx (apt-get install nginx)")
    return args


def default_database_url(environ: dict[str, str]) -> str:
    """RUSH_DATABASE_URL or FANOUT_DATABASE_URL; else DATABASE_URL with _bench appended; else the default."""
    for variable in ("RUSH_DATABASE_URL", "FANOUT_DATABASE_URL"):
        if environ.get(variable):
            return environ[variable]
    url = environ.get("DATABASE_URL")
    if url:
        name = database_name(url)
        return url if name.endswith("_bench") else with_database_name(url, name + "_bench")
    return DEFAULT_DATABASE_URL


@dataclass
class Result:
    rows: list[Row]
    machine: dict[str, Any]
    broadcast_id: int = 0


def main(argv: list[str] | None = None) -> Result:
    args = parse_args(argv)
    raise_nofile()
    info = machine(args)
    print("rush     python -m bench.rush " + " ".join(argv if argv is not None else sys.argv[1:]))
    print(
        f"         database {database_name(args.database_url)}, Redis db {redis_db(args.redis_url)};"
        f" {args.people:,} people over {args.window:g} s, {args.returning:.0%} returning,"
        f" {args.loadgens} load generators"
    )
    print_machine(info)
    with tempfile.TemporaryDirectory(prefix="rush-") as tmp:
        children = Children(Path(tmp))
        loadgens = [LoadGen(rush_loadgen_main, name=f"rush-loadgen-{k}") for k in range(args.loadgens)]
        try:
            result = asyncio.run(run(args, children, loadgens, Path(tmp), info))
        finally:
            children.stop()
            for loadgen in loadgens:
                loadgen.stop()
    print()
    print_grid(HEADER, [cells(r) for r in result.rows])
    if DESIGNS[1] in [r.design for r in result.rows]:
        print(f"  {DESIGNS[1]}: its server CPU is nginx's and the daphne processes' together")
    for row in result.rows:
        notes = [f"{k} ×{v:,}" for k, v in row.errors.items()] + ([row.error] if row.error else [])
        notes += [f"nginx: {line}" for line in row.proxy_errors]
        if row.pages_from_cache:
            notes.append(f"{row.pages_from_cache:,} of {row.people:,} pages from nginx's cache")
        if notes:
            print(f"  {row.design}: " + "; ".join(notes))
    return result


async def run(
    args: argparse.Namespace, children: Children, loadgens: list[LoadGen], tmp: Path, info: dict
) -> Result:
    env = project_env(args.database_url, args.redis_url)
    began = time.monotonic()
    broadcast_id = await asyncio.to_thread(prepare, env, args.database_url)
    print(f"setup    programme {broadcast_id} live ({time.monotonic() - began:.1f} s)", flush=True)
    result = Result([], info, broadcast_id)
    routes = tmp / "routes"
    routes.mkdir()
    for design in args.designs:
        name = DESIGN_NAMES[design]
        if design == "reference":
            if not (routes / "routes.json").exists():
                project = ProjectServers(children, env, 1, broadcast_id, DESIGNS[0])
                await asyncio.wait_for(project.start(), 180)
                await capture(project.servers[0].port, broadcast_id, routes)
                project.stop()
            servers = await start_reference(children, args.processes, routes, env["STATIC_ROOT"])
            began = time.monotonic()
            row = await rush(args, loadgens, servers, name, broadcast_id)
            children.stop(servers)
        else:
            project = ProjectServers(
                children, env, args.processes, broadcast_id, name, proxy_headers=design == "nginx"
            )
            await asyncio.wait_for(project.start(), 180)
            if not (routes / "routes.json").exists():
                await capture(project.servers[0].port, broadcast_id, routes)
            front = []
            if design == "nginx":
                front = [await start_nginx(children, project.servers, tmp / "nginx", name)]
            await asyncio.sleep(1)
            began = time.monotonic()
            row = await rush(
                args, loadgens, front or project.servers, name, broadcast_id, behind=project.servers
            )
            children.stop(front)
            project.stop()
            if front:
                row.proxy_errors = proxy_errors(tmp / "nginx" / "error.log")
        progress(f"{name}, {args.people:,} people", row.error, summary(row), began)
        result.rows.append(row)
    return result


def proxy_errors(log: Path) -> list[str]:
    """nginx's own complaints (error, crit, alert, emerg), counted by what they say."""
    if not log.exists():
        return []
    found: collections.Counter = collections.Counter()
    for line in log.read_text(errors="replace").splitlines():
        for level in ("[error]", "[crit]", "[alert]", "[emerg]"):
            if level in line:
                # "2026/12/06 17:25:01 [alert] 123#0: *5 socket() failed (24: …) while …, client: …"
                what = line.split(level, 1)[1].split(": ", 1)[-1].split(", client:")[0]
                found[f"{level} {what.split(' while ')[0][:80]}"] += 1
    return [f"{what} ×{n:,}" for what, n in found.most_common(5)]


def summary(row: Row) -> str:
    return (
        f"{row.hellos:,}/{row.people:,} hello, {sum(row.errors.values())} errors, p99 {ms(row.hello[2])} ms"
    )


if __name__ == "__main__":
    main()
