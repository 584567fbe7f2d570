"""The soak's controller (bench/soak.py): the database and the staff accounts, the daphne processes,
the staff's scripts, the samples every --sample s, and what is read and counted after the end."""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import random
import re
import time
import urllib.error
import urllib.request
import uuid
import zlib
from dataclasses import dataclass
from typing import Any

from bench.database import (
    LOGIN_SCRIPT,
    SETUP_SCRIPT,
    STAFF_SCRIPT,
    count_questions,
    database_name,
    ensure_database,
    manage,
)
from bench.load import LoadGen, describe
from bench.report import percentile
from bench.servers import Children, ProjectServers, Server, cpu_seconds, rss_kib
from bench.soak_load import PAGE_ATTEMPTS
from bench.soak_plan import ANSWER, GUESTS, HOST_MESSAGES, HOST_TEXTS, STARTS, make_plan, phase_at
from bench.soak_staff import Approved, ConsoleT, Moderator, Staff, Stats, Studio
from minxin_client import ModerateConsole, StudioConsole

# Redis pub/sub channels are global to a Redis server whatever the db number (see bench/fanout_designs.py):
# the soak's programmes get ids of their own, below fan-out's floor and apart per database.
BROADCAST_ID_FLOOR = 800_000_000
METRIC_RE = re.compile(r'^(minxin_\w+)(?:\{broadcast="(\d+)"\})? (\S+)$', re.MULTILINE)


STAFF = {
    "host": ("soakhost", "host", ["--name", "刘洋", "--title", "主持人"]),
    "moderator": ("soakmoderator{n}", "moderator", ["--name", "审核员{n}"]),
    "guest": ("soakguest{n}", "guest", ["--department", "jtw", "--name", "{name}", "--title", "{title}"]),
}

MIGRATE_SCRIPT = """
from django.core.management import call_command
call_command("migrate", "--no-input", verbosity=0)
"""

PROGRAMME_SCRIPT = """
import io
from django.core.management import call_command
out = io.StringIO()
call_command("createbroadcast", *{arguments!r}, stdout=out)
print(out.getvalue().strip().splitlines()[-1])
"""


@dataclass
class Setup:
    broadcast_id: int
    host: str  # session cookies, name=value
    guests: list[str]
    moderators: list[str]


def soak_floor(database_url: str) -> int:
    """The first programme id of this database: apart from other databases' on the same Redis."""
    return BROADCAST_ID_FLOOR + zlib.crc32(database_name(database_url).encode()) % 1000 * 100_000


def prepare(env: dict, args: argparse.Namespace) -> Setup:
    """The database, migrations, the staff accounts and a scheduled programme: one Django start-up."""
    ensure_database(args.database_url)
    accounts = [STAFF["host"]]
    moderators = [f"soakmoderator{n}" for n in range(1, args.moderators + 1)]
    guests = [f"soakguest{n}" for n in range(1, args.guests + 1)]
    for n in range(1, args.moderators + 1):
        username, role, options = STAFF["moderator"]
        accounts.append((username.format(n=n), role, [o.format(n=n) for o in options]))
    for n in range(1, args.guests + 1):
        username, role, options = STAFF["guest"]
        name, title = GUESTS[(n - 1) % len(GUESTS)]
        accounts.append((username.format(n=n), role, [o.format(name=name, title=title) for o in options]))
    arguments = [
        "--department",
        "jtw",
        "--title",
        "交通出行：公交线网优化与停车难（soak）",
        "--host",
        "soakhost",
    ]
    for username in guests:
        arguments += ["--guest", username]
    for username in moderators:
        arguments += ["--moderator", username]
    script = (
        MIGRATE_SCRIPT
        + SETUP_SCRIPT.format(floor=soak_floor(args.database_url))
        + STAFF_SCRIPT.format(accounts=accounts)
        + PROGRAMME_SCRIPT.format(arguments=arguments)
        + LOGIN_SCRIPT.format(usernames=("soakhost", *guests, *moderators))
    )
    lines = manage(env, "shell", "-c", script, timeout=600).strip().splitlines()
    lines = lines[-(2 + len(guests) + len(moderators)) :]
    broadcast_id = int(lines[0])
    return Setup(broadcast_id, lines[1], lines[2 : 2 + len(guests)], lines[2 + len(guests) :])


def http_get(url: str, stats: Stats, what: str) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=15) as response:
            return response.read()
    except urllib.error.HTTPError as exc:
        stats.http_errors[f"{what}: HTTP {exc.code}"] += 1
    except Exception as exc:
        stats.http_errors[f"{what}: {describe(exc)}"] += 1
    return None


def read_metrics(base: str, broadcast_id: int, stats: Stats) -> dict[str, float]:
    body = http_get(base + "/metrics", stats, "/metrics")
    found: dict[str, float] = {}
    if body is None:
        return found
    for name, label, value in METRIC_RE.findall(body.decode()):
        if not label or int(label) == broadcast_id:
            found[name] = float(value)
    return found


def read_log(base: str, broadcast_id: int, stats: Stats) -> tuple[list[int], collections.Counter[str], int]:
    """The programme's public event log over HTTP, page by page: seqs, kinds, last_seq."""
    seqs: list[int] = []
    kinds: collections.Counter[str] = collections.Counter()
    after, last_seq = 0, 0
    while True:
        body = http_get(
            f"{base}/api/broadcasts/{broadcast_id}/events/?after={after}&limit=1000", stats, "events"
        )
        if body is None:
            break
        page = json.loads(body)
        last_seq = page["last_seq"]
        for event in page["events"]:
            seqs.append(event["seq"])
            kinds[event["kind"]] += 1
        if not page["events"] or seqs[-1] >= last_seq:
            break
        after = seqs[-1]
    return seqs, kinds, last_seq


@dataclass
class Sample:
    t: float
    phase: str
    rss_mib: list[float]
    cpu_pct: list[float]
    loadgen_rss_mib: float
    loadgen_cpu_pct: float
    viewers_open: int
    viewers_metric: float
    events: float
    waiting: float


class Sampler:
    def __init__(self, pids: list[int], loadgen_pid: int, base: str, broadcast_id: int, stats: Stats):
        self.pids, self.loadgen_pid, self.base = pids, loadgen_pid, base
        self.broadcast_id, self.stats = broadcast_id, stats
        self.samples: list[Sample] = []
        self.previous = self._cpu()
        self.events_before = 0.0

    def _cpu(self) -> tuple[float, list[float], float]:
        return (
            time.monotonic(),
            [cpu_seconds(pid) for pid in self.pids],
            cpu_seconds(self.loadgen_pid),
        )

    async def take(self, t: float, phase: str, status: dict) -> Sample:
        metrics = await asyncio.to_thread(read_metrics, self.base, self.broadcast_id, self.stats)
        now = self._cpu()
        wall = max(1e-6, now[0] - self.previous[0])
        cpu = [100 * (b - a) / wall for a, b in zip(self.previous[1], now[1], strict=True)]
        loadgen_cpu = 100 * (now[2] - self.previous[2]) / wall
        self.previous = now
        sample = Sample(
            t=round(t, 1),
            phase=phase,
            rss_mib=[round(rss_kib(pid) / 1024, 1) for pid in self.pids],
            cpu_pct=[round(c, 1) for c in cpu],
            loadgen_rss_mib=round(rss_kib(self.loadgen_pid) / 1024, 1),
            loadgen_cpu_pct=round(loadgen_cpu, 1),
            viewers_open=status.get("open", -1),
            viewers_metric=metrics.get("minxin_viewers", float("nan")),
            events=metrics.get("minxin_events_published_total", float("nan")) - self.events_before,
            waiting=metrics.get("minxin_questions_waiting", 0.0 if metrics else float("nan")),
        )
        self.samples.append(sample)
        return sample


LOG_ERROR = re.compile(r'Traceback|"level": "(?:ERROR|CRITICAL)"|^(?:ERROR|CRITICAL)\b| ERROR ')
LOG_WARNING = re.compile(r'"level": "WARNING"|^WARNING\b| WARNING ')
LOG_MESSAGE = re.compile(r'"message": "(.{0,60})')


def server_log(servers: list[Server]) -> tuple[list[str], collections.Counter[str]]:
    """Tracebacks and ERROR lines in the daphne processes' logs; warnings counted by message start."""
    errors: list[str] = []
    warnings: collections.Counter[str] = collections.Counter()
    for server in servers:
        with contextlib.suppress(OSError):
            for line in server.log.read_text(errors="replace").splitlines():
                if LOG_ERROR.search(line):
                    errors.append(f"port {server.port}: {line.strip()[:300]}")
                elif LOG_WARNING.search(line):
                    message = LOG_MESSAGE.search(line)
                    warnings[message.group(1) if message else line.strip()[:60]] += 1
    return errors, warnings


@dataclass
class Rig:
    """What the programme runs on: the bench's server processes, its load generator and the servers'
    environment (bench/servers.py: ``project_env`` with the soak's limits)."""

    children: Children
    loadgen: LoadGen
    env: dict


async def run_programme(args: argparse.Namespace, rig: Rig, setup: Setup, report: dict) -> None:
    await Show(args, rig, setup).play(report)


class Show:
    """One programme from the servers' start to what is read after the end."""

    def __init__(self, args: argparse.Namespace, rig: Rig, setup: Setup) -> None:
        self.args, self.rig, self.setup = args, rig, setup
        self.run = args.minutes * 60
        self.stats = Stats()
        self.project = ProjectServers(rig.children, rig.env, args.processes, setup.broadcast_id)
        self.calls = asyncio.Lock()
        self.consoles: list[Staff] = []
        self.workers: list[asyncio.Task] = []
        self.screening: list[asyncio.Task] = []
        self.approved = Approved()
        self.ending = asyncio.Event()
        self.bases: list[str] = []
        self.tag = ""
        self.t0 = 0.0

    async def call(self, within: float, *command: Any) -> dict:
        async with self.calls:
            return await self.rig.loadgen.call(within, *command)

    async def at(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, self.t0 + seconds - time.monotonic()))

    async def play(self, report: dict) -> None:
        try:
            began = time.monotonic()
            await asyncio.wait_for(self.project.start(), 120)
            servers = self.project.servers
            print(
                f"servers  {len(servers)} daphne processes up ({time.monotonic() - began:.1f} s)", flush=True
            )
            self.bases = [f"http://127.0.0.1:{s.port}" for s in servers]
            host, guests, moderators = await self.open_cast()
            sampler = await self.start(report)
            loop = asyncio.get_running_loop()
            self.screening = [loop.create_task(m.work(self.args.think)) for m in moderators]
            self.workers.extend(self.screening)
            scripts = [
                loop.create_task(self.host_script(host, moderators)),
                *(loop.create_task(self.guest_script(i, g, len(guests))) for i, g in enumerate(guests)),
            ]
            sampling = loop.create_task(self.sample_loop(sampler))
            self.workers.extend(scripts)
            await asyncio.gather(*scripts, sampling)
            await self.after_end(sampler, servers, report)
        finally:
            self.stats.closing = True
            for task in self.workers:
                task.cancel()
            for console in self.consoles:
                await console.close()
            with contextlib.suppress(Exception):
                await self.call(120, "close", 60)
            self.project.stop()

    def client(self, kind: type[ConsoleT], i: int, cookie: str) -> ConsoleT:
        """Console i connects to process i mod P first, and after a drop to the next one."""
        bases = self.bases
        urls = [bases[(i + k) % len(bases)] for k in range(len(bases))]
        return kind(urls, self.setup.broadcast_id, cookie=cookie, open_timeout=30, max_failures=PAGE_ATTEMPTS)

    async def open_cast(self) -> tuple[Studio, list[Studio], list[Moderator]]:
        setup, stats, approved = self.setup, self.stats, self.approved
        host = Studio("host", self.client(StudioConsole, 0, setup.host), stats, approved)
        guests = [
            Studio(f"guest{i + 1}", self.client(StudioConsole, i, cookie), stats, approved)
            for i, cookie in enumerate(setup.guests)
        ]
        rng = random.Random(self.args.seed + 1)
        moderators = [
            Moderator(
                f"moderator{i + 1}",
                self.client(ModerateConsole, i, cookie),
                stats,
                i,
                len(setup.moderators),
                rng,
            )
            for i, cookie in enumerate(setup.moderators)
        ]
        self.consoles = [host, *guests, *moderators]
        for console in self.consoles:
            await console.open()
        return host, guests, moderators

    async def start(self, report: dict) -> Sampler:
        """The plan to the load generator, which plays it from t0; the sampler, its baseline read."""
        bid, stats = self.setup.broadcast_id, self.stats
        self.tag = uuid.uuid4().hex[:8]
        plan = make_plan(self.args, self.tag)
        report["plan"] = {
            "questions": plan["questions"],
            "actions": collections.Counter(a[1] for a in plan["actions"]),
        }
        live_urls, origins = self.project.viewer_urls()
        pids = [s.pid for s in self.project.servers]
        sampler = Sampler(pids, self.rig.loadgen.pid, self.bases[0], bid, stats)
        first = await asyncio.to_thread(read_metrics, self.bases[0], bid, stats)
        sampler.events_before = first.get("minxin_events_published_total", 0.0)
        self.t0 = time.monotonic() + 1.0
        await self.call(60, "play", live_urls, origins, bid, plan, self.t0)
        print(
            f"playing  programme {bid}: {len(plan['actions']):,} viewer and netizen actions over {self.run:.0f} s"
            f" ({plan['questions']:,} questions)",
            flush=True,
        )
        return sampler

    async def host_script(self, host: Studio, moderators: list[Moderator]) -> None:
        run, stats = self.run, self.stats
        await self.at(run * STARTS)
        if await host.act("start", host.client.start_programme()):
            stats.status.append("live")
        messages = [(run * STARTS + 0.5, HOST_TEXTS[0])]
        messages += [(run * f, text) for f, text in zip(HOST_MESSAGES, HOST_TEXTS[1:3], strict=True)]
        messages.append((run - 1.0, HOST_TEXTS[3]))
        for when, text in messages:
            await self.at(when)
            client_id = f"{self.tag}-host-{uuid.uuid4().hex[:8]}"
            if await host.act("host.message", host.client.host_message(text, client_id=client_id)):
                stats.host_messages += 1
        # The moderators stop screening when the programme ends (what is left waits; see README).
        await self.at(run - 0.5)
        for moderator in moderators:
            moderator.stopping = True
        await asyncio.wait(self.screening, timeout=35)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.ending.wait(), 60)  # the last live sample is taken
        await self.at(run)
        if await host.act("end", host.client.end_programme()):
            stats.status.append("ended")

    async def guest_script(self, i: int, guest: Studio, guests: int) -> None:
        run, stats = self.run, self.stats
        when = run * STARTS + 1.0 + i * self.args.answer_every / guests
        while when < run - 2.0:
            await self.at(when)
            when += self.args.answer_every
            question_id = self.approved.take()  # taken: no other guest answers it
            if question_id is None:
                stats.answers_idle += 1
                continue
            client_id = f"{self.tag}-a-{uuid.uuid4().hex[:8]}"
            text = ANSWER.format(n=3 + question_id % 5)
            if await guest.act("answer", guest.client.answer(text, question_id, client_id)):
                stats.answers += 1

    async def sample_loop(self, sampler: Sampler) -> None:
        """Every --sample s, and once more just before the host ends the programme."""
        run, sample_every = self.run, self.args.sample
        times = [k * sample_every for k in range(int((run - 1.0) // sample_every) + 1)]
        for k, when in enumerate([*times, run - 0.3]):
            await self.at(when)
            t = time.monotonic() - self.t0
            status = await self.call(30, "status")
            if "error" in status:
                raise RuntimeError("the load generator failed: " + status["error"])
            last = k == len(times)
            sample = await sampler.take(t, "before end" if last else phase_at(t, run), status)
            print_sample(sample, k == 0)
        self.ending.set()

    async def after_end(self, sampler: Sampler, servers: list[Server], report: dict) -> None:
        """The programme has ended: the log over HTTP, then every viewer's seqs against it.
        Every ask was acknowledged before the end: the questions are counted meanwhile (a Django start-up)."""
        bid, stats = self.setup.broadcast_id, self.stats
        counting = asyncio.ensure_future(asyncio.to_thread(count_questions, self.rig.env, bid))
        seqs, kinds, last_seq = await asyncio.to_thread(read_log, self.bases[0], bid, stats)
        finished = await self.call(self.args.drain_timeout + 60, "finish", seqs, self.args.drain_timeout)
        end = await sampler.take(time.monotonic() - self.t0, "after end", await self.call(30, "status"))
        print_sample(end, False)
        stored, distinct = await counting
        report["broadcast_id"] = bid
        report["samples"] = [sample.__dict__ for sample in sampler.samples]
        report["log"] = {
            "last_seq": last_seq,
            "events": len(seqs),
            "gapless": seqs == list(range(1, last_seq + 1)),
            "kinds": dict(kinds),
        }
        report["viewers"] = finished
        report["staff"] = staff_report(stats, self.approved)
        report["questions"] = {
            "asked": finished["asks_sent"],
            "acknowledged": finished["asks_ok"],
            "distinct_question_ids": finished["question_ids"],
            "stored": stored,
            "stored_distinct_client_ids": distinct,
            "each_stored_once": stored == distinct == finished["asks_sent"] == finished["question_ids"],
        }
        report["server_log_errors"], warnings = server_log(servers)
        report["server_log_warnings"] = dict(warnings.most_common(10))
        report["errors"] = errors_report(finished, stats, len(report["server_log_errors"]))


def staff_report(stats: Stats, approved: Approved) -> dict:
    return {
        "decisions": dict(stats.decisions),
        "answers": stats.answers,
        "answer_turns_with_empty_queue": stats.answers_idle,
        "host_messages": stats.host_messages,
        "status": stats.status,
        "waiting_at_end": len(approved.waiting),
        "ack_ms_p50_p95_max": {
            kind: [round(1000 * percentile(sorted(v), q)) for q in (50, 95, 100)]
            for kind, v in stats.round_trips.items()
        },
    }


def errors_report(finished: dict, stats: Stats, server_log_errors: int) -> dict:
    return {
        "failed_connects": finished["connect_failed"],
        "failed_rejoins": finished["rejoin_failed"],
        "viewers_never_connected": finished["never_connected"],
        "connect_failures": finished["failures"],
        "closed_by_server": finished["dropped"],
        "error_frames": finished["error_frames"],
        "ask_errors": finished["ask_errors"],
        "asks_unanswered": finished["asks_unanswered"],
        "send_failed": finished["send_failed"],
        "unexpected_frames": finished["unexpected"],
        "staff_errors": dict(stats.staff_errors),
        "http_errors": dict(stats.http_errors),
        "server_log_errors": server_log_errors,
    }


# --- output ----------------------------------------------------------------------------------


def sample_header(processes: int) -> tuple[str, ...]:
    columns = ["t s", "phase"]
    for i in range(1, processes + 1):
        columns += [f"p{i} RSS MiB", f"p{i} CPU %"]
    return (*columns, "loadgen CPU %", "viewers open/metric", "events", "waiting")


def sample_cells(sample: Sample | dict) -> tuple[str, ...]:
    s = sample if isinstance(sample, dict) else sample.__dict__

    def num(value: float, digits: int = 0) -> str:
        return "-" if value != value else f"{value:,.{digits}f}"

    cells = [f"{s['t']:.0f}", s["phase"]]
    for rss, cpu in zip(s["rss_mib"], s["cpu_pct"], strict=True):
        cells += [f"{rss:.1f}", f"{cpu:.0f}"]
    cells += [
        f"{s['loadgen_cpu_pct']:.0f}",
        f"{s['viewers_open']:,}/{num(s['viewers_metric'])}",
        num(s["events"]),
        num(s["waiting"]),
    ]
    return tuple(cells)


def print_sample(sample: Sample, header: bool) -> None:
    """A progress line while the programme runs."""
    names = sample_header(len(sample.rss_mib))
    if header:
        print("  " + "  ".join(names), flush=True)
    print("  " + "  ".join(sample_cells(sample)), flush=True)
