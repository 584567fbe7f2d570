"""Several hosts (issue #18): the service as H hosts on this machine, one killed mid-programme,
beside the same viewers on one host without a fault, in one run.

    .venv/bin/python -m bench.hosts --hosts 3 --viewers 3000          # needs root, PostgreSQL, Redis
    .venv/bin/python -m bench.hosts --hosts 3 --viewers 60 --answers 8  # the smoke size

Scenarios (``--scenarios``, default ``reference,kill,drain``), each on freshly started hosts
(bench/hosts_cluster.py: a network namespace per host, P daphne processes each, the shared
PostgreSQL and Redis through a forwarder, a balancer on 127.0.0.1) and a fresh live programme:

- ``reference``: one host, P processes, no fault;
- ``kill``: H hosts; after ``--kill-after`` answers host 0 dies (its processes SIGKILLed, its link
  taken down); its viewers come back through the balancer to the others;
- ``drain``: H hosts; after ``--kill-after`` answers one process of host 0 gets SIGTERM and drains
  (studio/drain.py, MINXIN_DRAIN_SECONDS = ``--drain``).

The viewers (bench/hosts_load.py, a process of its own) connect through the balancer at
``--ramp``/s, reconnect as minxin_client does (first attempt after a drop spread over ``--spread``
s) and resume with ``?after=``. The guest posts ``--answers`` answers ``--interval`` s apart through
the balancer (minxin_client's StudioConsole, resent until acknowledged). Printed per scenario:
viewers per host (the balancer's count before the fault), viewers dropped by the fault, their
reconnect time (drop → next ``hello``) p50/p99/max, the most returns in any 100 ms, every viewer's
events against the log (lost, doubled), the answers' delivery latency, and the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

from bench import hosts_load
from bench.database import (
    LOGIN_SCRIPT,
    SETUP_SCRIPT,
    STAFF_SCRIPT,
    bench_redis_url,
    database_name,
    ensure_database,
    manage,
    with_database_name,
)
from bench.hosts_cluster import Cluster
from bench.hosts_net import available
from bench.load import MARK, LoadGen
from bench.report import machine, ms, print_grid, print_machine
from bench.servers import ROOT, project_env, raise_nofile

# Redis pub/sub channels are global to a Redis server whatever the db number (the hub's channel is
# minxin:room:live.<id>): the bench's programmes get ids no test database reaches.
BROADCAST_ID_FLOOR = 900_000_000
SENTENCE = "感谢网友关注。公交线网优化方案将于下月公示，征求意见期间市民可通过热线和网站提出建议。"
PROGRAMME_SCRIPT = """
import io
from django.core.management import call_command
from django.utils import timezone
from studio.models import Broadcast
out = io.StringIO()
call_command("createbroadcast", "--department", "jtw", "--title", {title!r}, "--guest", "benchguest", stdout=out)
broadcast_id = int(out.getvalue().strip().splitlines()[-1])
Broadcast.objects.filter(pk=broadcast_id).update(status="live", started_at=timezone.now())
print(broadcast_id)
"""


def prepare(env: dict, database_url: str) -> str:
    """The bench database migrated, the registry and the guest's account; the guest's session cookie."""
    ensure_database(database_url)
    manage(env, "migrate", "--no-input", "-v", "0", timeout=600)
    guest = [
        ("benchguest", "guest", ["--department", "jtw", "--name", "张明", "--title", "市交通委新闻发言人"])
    ]
    script = (
        SETUP_SCRIPT.format(floor=BROADCAST_ID_FLOOR)
        + STAFF_SCRIPT.format(accounts=guest)
        + LOGIN_SCRIPT.format(usernames=("benchguest",))
    )
    return manage(env, "shell", "-c", script).strip().splitlines()[-1]


def new_programme(env: dict, title: str) -> int:
    """A fresh live programme with the bench guest: a log of its own."""
    return int(manage(env, "shell", "-c", PROGRAMME_SCRIPT.format(title=title)).strip().splitlines()[-1])


def answer_text(index: int, sent_at: float) -> str:
    """An answer of ordinary length with the mark bench/hosts_load.py reads (tag, index, send time)."""
    return f"{SENTENCE}[{MARK} hosts {index} {sent_at:.6f}]"


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hosts", type=int, default=3)
    parser.add_argument("--processes", type=int, default=2, help="daphne processes per host")
    parser.add_argument("--viewers", type=int, default=3000)
    parser.add_argument("--answers", type=int, default=20)
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between answers")
    parser.add_argument("--kill-after", type=int, default=5, help="answers before the fault")
    parser.add_argument(
        "--spread", type=float, default=2.0, help="first reconnect after a drop within this many s"
    )
    parser.add_argument("--drain", type=int, default=10, help="MINXIN_DRAIN_SECONDS of the drain scenario")
    parser.add_argument("--ramp", type=float, default=500, help="viewer connects per second")
    parser.add_argument("--scenarios", default="reference,kill,drain")
    parser.add_argument("--database-url")
    parser.add_argument("--redis-url")
    args = parser.parse_args(argv)
    default_db = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/minxin"
    args.database_url = (
        args.database_url
        or os.environ.get("HOSTS_DATABASE_URL")
        or with_database_name(default_db, database_name(default_db) + "_bench")
    )
    args.redis_url = args.redis_url or bench_redis_url(
        dict(os.environ), "HOSTS_REDIS_URL", "FANOUT_REDIS_URL"
    )
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    return args


async def guest(url: str, broadcast_id: int, cookie: str, args: argparse.Namespace, acked: list[int]) -> None:
    from minxin_client import Backoff, StudioConsole

    backoff = Backoff(initial=0.2, cap=1.0, spread=0.5)
    async with StudioConsole(
        [url], broadcast_id, cookie=cookie, backoff=backoff, queue_frames=False
    ) as console:
        for n in range(args.answers):
            began = time.monotonic()
            await console.answer(answer_text(n, time.time()), client_id=f"hosts-{n}")
            acked.append(n)
            await asyncio.sleep(max(0.0, args.interval - (time.monotonic() - began)))


async def scenario(name: str, args: argparse.Namespace, env: dict, cookie: str, logdir: Path) -> dict:
    hosts = 1 if name == "reference" else args.hosts
    broadcast_id = new_programme(env, f"hosts bench {name}")
    if name == "drain":
        env = {**env, "MINXIN_DRAIN_SECONDS": str(args.drain)}
    load = LoadGen(target=hosts_load.main, name="hosts-loadgen")
    cluster = Cluster(hosts, args.processes, env, logdir / name, lifetime=1800)
    (logdir / name).mkdir(parents=True, exist_ok=True)
    try:
        await asyncio.to_thread(cluster.start)
        url = f"ws://127.0.0.1:{cluster.port}/ws/live/{broadcast_id}/"
        connected = await load.call(
            120 + args.viewers / args.ramp,
            "connect",
            url,
            cluster.url,
            args.viewers,
            args.ramp,
            args.spread,
            "hosts",
        )
        await asyncio.sleep(1)
        per_host = [0] * hosts
        for process in cluster.daphnes:
            per_host[process.host] += cluster.stats().get(cluster.backend(process), {}).get("open", 0)
        acked: list[int] = []
        answering = asyncio.create_task(guest(cluster.url, broadcast_id, cookie, args, acked))
        while len(acked) < min(args.kill_after, args.answers) and not answering.done():  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        fault_at = time.time()
        if name == "kill":
            await asyncio.to_thread(cluster.kill_host, 0)
        elif name == "drain":
            cluster.terminate(cluster.daphnes[0])
        await asyncio.wait_for(answering, timeout=120 + args.answers * args.interval)
        if name == "drain":  # until the drained process has closed its last socket and stopped
            await asyncio.to_thread(cluster.daphnes[0].process.wait, args.drain + 30)
        result = await load.call(
            180, "finish", args.answers, fault_at if name != "reference" else time.time() + 1e6, 120
        )
        result.update(
            connected=connected["connected"], per_host=per_host, hosts=hosts, load=os.getloadavg()[0]
        )
        crashed = cluster.crash_report() if name == "kill" else ""
        if crashed:
            result["crashed"] = crashed
        return result
    finally:
        load.stop()
        await asyncio.to_thread(cluster.stop)


def row(name: str, args: argparse.Namespace, r: dict) -> tuple[str, ...]:
    dropped = r["dropped"]
    reconnect = "/".join(ms(x) for x in r["reconnect"]) if dropped else "–"
    return (
        name,
        f"{r['hosts']} × {args.processes}",
        f"{r['connected']:,}/{r['viewers']:,}",
        " / ".join(f"{n:,}" for n in r["per_host"]),
        f"{dropped:,}"
        + (f" ({', '.join(f'{c}: {n}' for c, n in sorted(r['codes'].items()))})" if dropped else ""),
        f"{r['reconnected']:,}" if dropped else "–",
        reconnect,
        f"{r['busiest_100ms']:,} (over {r['returns_span']:.1f} s)" if dropped else "–",
        f"{r['delivered']:,}/{r['viewers'] * args.answers:,}",
        f"{r['lost']}/{r['doubled']}",
        "/".join(ms(x) for x in r["latency"]),
        f"{r['load']:.2f}",
    )


HEADER = (
    "scenario",
    "hosts × processes",
    "connected",
    "viewers per host",
    "dropped by the fault (close codes)",
    "reconnected",
    "reconnect p50/p99/max ms",
    "most returns in 100 ms",
    "events delivered/expected",
    "lost/doubled",
    "answer latency p50/p99/max ms",
    "load avg",
)


async def run(args: argparse.Namespace) -> int:
    problem = available()
    if problem:
        print(f"bench.hosts {problem}", file=sys.stderr)
        return 2
    env = project_env(args.database_url, args.redis_url)
    print_machine(machine(args))
    print(
        f"run      {args.hosts} hosts × {args.processes} daphne processes, {args.viewers:,} viewers at {args.ramp:.0f}/s, "
        f"{args.answers} answers {args.interval} s apart, fault after {args.kill_after}, reconnect spread "
        f"{args.spread} s, drain {args.drain} s; database {database_name(args.database_url)}, Redis {args.redis_url}"
    )
    static_root = Path(env.get("STATIC_ROOT") or ROOT / "staticfiles")
    if not (static_root / "staticfiles.json").exists():  # the Procfile's release step
        manage(env, "collectstatic", "--noinput", "-v", "0", timeout=600)
    cookie = prepare(env, args.database_url)
    rows = []
    failed = False
    with tempfile.TemporaryDirectory(prefix="bench-hosts-") as tmp:
        for name in args.scenarios:
            began = time.monotonic()
            try:
                result = await scenario(name, args, env, cookie, Path(tmp))
            except Exception as exc:
                print(f"  ... {name}: ERROR {type(exc).__name__}: {exc}", flush=True)
                failed = True
                continue
            print(
                f"  ... {name}: {time.monotonic() - began:.0f} s, load {os.getloadavg()[0]:.2f}", flush=True
            )
            if result.get("crashed"):
                print(result["crashed"])
                failed = True
            failed |= bool(result["lost"] or result["doubled"] or result["connected"] < args.viewers)
            rows.append(row(name, args, result))
    print()
    print_grid(HEADER, rows)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> None:
    raise_nofile()
    sys.exit(asyncio.run(run(arguments(argv))))


if __name__ == "__main__":
    main()
