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
import io
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
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

# The mix of the generated letters.
KIND_WEIGHTS = {"consultation": 35, "complaint": 25, "opinion": 15, "suggestion": 15, "report": 10}
REPLIED_SHARE = 0.08  # of the finished letters, replied but not (yet) rated; the rest are closed
SATISFIED, BASIC = 0.62, 0.23  # of the rated letters; the rest are unsatisfied
SIGN_ON_TIME, REPLY_ON_TIME = 0.95, 0.90
FORWARDED_SHARE = 0.25  # of the open letters, waiting to be signed for; the rest are being handled
HISTORY_DAYS, RECENT_DAYS = 730, 45  # finished letters were submitted 2 years to 45 days ago

SUBJECTS = [
    "关于公交线路调整的咨询", "小区供暖温度不达标", "建议增设过街天桥", "举报占道经营", "投诉物业乱收费",
    "医保异地报销流程", "学区划分政策咨询", "老旧小区加装电梯", "夜间施工噪音扰民", "垃圾分类收运不及时",
    "停车位划线不合理", "地铁站出口无障碍设施", "社保缴费基数疑问", "公租房申请进度", "路灯损坏长期未修",
    "拖欠农民工工资", "餐馆油烟扰民", "共享单车乱停放", "小区绿地被侵占", "自来水水质发黄",
    "建议延长图书馆开放时间", "违建阻挡消防通道", "出租车拒载", "社区卫生服务中心排队时间长",
]  # fmt: skip
SENTENCES = [
    "我是本区居民，这个问题已经持续了三个多月。", "多次拨打热线反映，至今没有得到解决。",
    "希望有关部门尽快调查处理。", "附近有很多老人和孩子，存在安全隐患。", "请问具体的办理流程和所需材料是什么？",
    "物业表示这不归他们管，让我们找街道。", "每天早上七点到九点情况最严重。", "邻居们都有同样的意见。",
    "去年也反映过，当时答复说会整改。", "能否在年底前给出一个明确的时间表？", "恳请领导重视，谢谢！",
    "相关照片已经拍下来，可以提供。", "周边居民出行非常不便。", "建议参考其他区的做法。",
]  # fmt: skip
REPLIES = [
    "<p>您好，您反映的问题已转交属地街道核实处理，现已整改完毕。感谢您对我们工作的监督。</p>",
    "<p>经核查，该事项符合相关政策规定，具体办理流程请见我局官网办事指南，如有疑问可致电咨询。</p>",
    "<p>您的建议很有价值，我们已纳入明年工作计划统筹研究，感谢您的关心和支持。</p>",
    "<p>执法人员已到现场调查，对违规行为依法进行了处理，并将加强日常巡查。</p>",
]  # fmt: skip
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"


# --- where the data lives --------------------------------------------------------------------------


def with_database_name(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def default_database_url(environ: dict[str, str]) -> str:
    """LETTERS_DATABASE_URL; else DATABASE_URL with _bench_letters appended to its name; else the default."""
    if environ.get("LETTERS_DATABASE_URL"):
        return environ["LETTERS_DATABASE_URL"]
    url = environ.get("DATABASE_URL")
    if url:
        name = database_name(url)
        return url if name.endswith(SUFFIX) else with_database_name(url, name + SUFFIX)
    return DEFAULT_DATABASE_URL


def ensure_database(database_url: str) -> None:
    import psycopg

    name = database_name(database_url)
    with psycopg.connect(
        with_database_name(database_url, "postgres"), autocommit=True, connect_timeout=10
    ) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


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


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest rank (with 3 runs, p95 is the slowest)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), -(-q * len(ordered) // 100)))
    return ordered[int(rank) - 1]


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
    return Row(what, rows, statistics.median(times), percentile(times, 95), len(times), target_ms, note)


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


# --- the data ------------------------------------------------------------------------------------


def prepare_database() -> None:
    """Migrate, empty the letter tables, load the registry and (once) the holiday calendar."""
    from django.core.management import call_command
    from django.db import connection

    from departments.registry import load_registry
    from letters.models import CalendarYear

    call_command("migrate", verbosity=0, interactive=False)
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE letters_lightchange, letters_letterlog, letters_extension, letters_letter RESTART IDENTITY CASCADE"
        )
    load_registry()
    if not CalendarYear.objects.exists():
        call_command("loadcalendar", all_known=True, verbosity=0, stdout=io.StringIO())


def department_draws(seed: int, size: int = 10_000) -> list[int]:
    """Department ids repeated in proportion to their share of letters: rank r gets 1/r^0.7 (a few big
    departments, a long tail), the ranks shuffled with the seed."""
    from departments.models import Department

    ids = list(Department.objects.filter(active=True).order_by("pk").values_list("pk", flat=True))
    random.Random(seed).shuffle(ids)
    weights = [1 / (rank**0.7) for rank in range(1, len(ids) + 1)]
    total = sum(weights)
    draws: list[int] = []
    for pk, weight in zip(ids, weights, strict=True):
        draws += [pk] * max(1, round(size * weight / total))
    return draws


def kind_draws() -> list[str]:
    return [kind for kind, weight in KIND_WEIGHTS.items() for _ in range(weight)]


def default_limits() -> dict[str, Any]:
    from departments.models import TimeLimit

    return {limit.letter_kind: limit for limit in TimeLimit.objects.filter(department=None)}


COLUMNS = [
    "code", "key_hash", "kind", "subject", "body", "name", "contact", "public", "status", "department_id",
    "submitted_at", "forwarded_at", "signed_at", "reply_started_at", "replied_at", "closed_at",
    "sign_limit", "sign_unit", "reply_limit", "reply_unit", "yellow_numerator", "yellow_denominator",
    "extension_days", "sign_deadline", "sign_yellow_at", "reply_deadline", "reply_yellow_at",
    "sign_on_time", "reply_on_time", "light", "reply", "rating", "rating_comment", "redo_count",
    "wrong_sign_count", "wrong_closure", "netizen_key", "erasure",
]  # fmt: skip

# The finished letters (replied or closed), all in the database: draws per row in the innermost
# subquery (PostgreSQL does not pull up a subquery with volatile functions, so each is drawn once),
# then each stage from the one before. Stored deadlines of finished letters are approximate (a limit
# in working days as limit × 7/5 + ½ calendar days); their on-time verdicts are frozen and drawn.
FINISHED_SQL = f"""
INSERT INTO letters_letter ({", ".join(COLUMNS)})
SELECT
  'MX' || to_char(submitted_at AT TIME ZONE %(tz)s, 'YYMMDD') || lpad(upper(to_hex(i)), 6, '0'),
  encode(sha256(convert_to('bench-key-' || i, 'UTF8')), 'hex'),
  (%(kinds)s::text[])[k], (%(subjects)s::text[])[s1],
  (%(sentences)s::text[])[s2] || (%(sentences)s::text[])[s3] || (%(sentences)s::text[])[s4],
  substr(%(surnames)s, s5, 1) || CASE WHEN r_public < 0.5 THEN '先生' ELSE '女士' END,
  '13' || lpad((i::bigint * 7919 %% 1000000000)::text, 9, '0'),
  r_public < 0.85, status, department_id,
  submitted_at, forwarded_at, signed_at, signed_at, replied_at,
  CASE WHEN status = 'closed' THEN replied_at + (0.2 + 6 * r_close) * interval '1 day' END,
  (%(sign_limits)s::int[])[k], (%(sign_units)s::text[])[k],
  (%(reply_limits)s::int[])[k], (%(reply_units)s::text[])[k], 1, 3,
  0, forwarded_at + sign_span, forwarded_at + sign_span / 3, signed_at + reply_span, signed_at + reply_span / 3,
  sign_on_time, reply_on_time, '', (%(replies)s::text[])[s6],
  CASE WHEN status = 'replied' THEN ''
       WHEN r_rating < %(satisfied)s THEN 'satisfied'
       WHEN r_rating < %(satisfied)s + %(basic)s THEN 'basic'
       ELSE 'unsatisfied' END,
  CASE WHEN status = 'closed' AND r_rating >= %(satisfied)s + %(basic)s THEN '问题没有实际解决。' ELSE '' END,
  CASE WHEN r_redo < 0.02 THEN 1 ELSE 0 END, 0, status = 'closed' AND r_redo > 0.995, '', ''
FROM (
  SELECT *, forwarded_at + sign_span * CASE WHEN sign_on_time THEN 0.05 + 0.9 * r_sign
                                          ELSE 1.02 + 0.5 * r_sign END AS signed_at,
         forwarded_at + sign_span * CASE WHEN sign_on_time THEN 0.05 + 0.9 * r_sign
                                          ELSE 1.02 + 0.5 * r_sign END
           + reply_span * CASE WHEN reply_on_time THEN 0.05 + 0.9 * r_reply
                               ELSE 1.02 + 0.5 * r_reply END AS replied_at
  FROM (
    SELECT *,
      submitted_at + (0.05 + 1.5 * r_forward) * interval '1 day' AS forwarded_at,
      CASE WHEN (%(sign_units)s::text[])[k] = 'hours' THEN (%(sign_limits)s::int[])[k] * interval '1 hour'
           ELSE ((%(sign_limits)s::int[])[k] * 1.4 + 0.5) * interval '1 day' END AS sign_span,
      CASE WHEN (%(reply_units)s::text[])[k] = 'hours' THEN (%(reply_limits)s::int[])[k] * interval '1 hour'
           ELSE ((%(reply_limits)s::int[])[k] * 1.4 + 0.5) * interval '1 day' END AS reply_span,
      r_on_sign < %(sign_on_time)s AS sign_on_time, r_on_reply < %(reply_on_time)s AS reply_on_time,
      CASE WHEN r_status < %(replied_share)s THEN 'replied' ELSE 'closed' END AS status
    FROM (
      SELECT i,
        %(start)s::timestamptz + (i - 1) * %(step)s * interval '1 second' + random() * interval '1 hour' AS submitted_at,
        1 + floor(random() * array_length(%(kinds)s::text[], 1))::int AS k,
        (%(departments)s::bigint[])[1 + floor(random() * array_length(%(departments)s::bigint[], 1))::int]
          AS department_id,
        1 + floor(random() * array_length(%(subjects)s::text[], 1))::int AS s1,
        1 + floor(random() * array_length(%(sentences)s::text[], 1))::int AS s2,
        1 + floor(random() * array_length(%(sentences)s::text[], 1))::int AS s3,
        1 + floor(random() * array_length(%(sentences)s::text[], 1))::int AS s4,
        1 + floor(random() * char_length(%(surnames)s))::int AS s5,
        1 + floor(random() * array_length(%(replies)s::text[], 1))::int AS s6,
        random() AS r_public, random() AS r_status, random() AS r_rating, random() AS r_close,
        random() AS r_forward, random() AS r_sign, random() AS r_reply, random() AS r_on_sign,
        random() AS r_on_reply, random() AS r_redo
      FROM generate_series(1, %(count)s) AS i
    ) AS draws
  ) AS stage_one
) AS stage_two
"""


def open_rows(
    count: int, submitted: int, first_index: int, now: dt.datetime, seed: int, departments: list[int]
) -> list[tuple]:
    """The open letters (and those still waiting to be forwarded), with deadlines and yellow moments
    computed by the app's own `services.schedule` and the working-day calendar.

    A stage began uniformly between now and 1.2 × its limit ago, so that at `now` about a third of
    the lights are green, half yellow and a sixth red; every light is stored green, as forwarding and
    signing for leave it, so the first sweep has the changes to record.
    """
    from letters.models import Letter, LetterStatus
    from letters.services import schedule
    from letters.workdays import WorkCalendar

    rng = random.Random(seed)
    calendar = WorkCalendar()
    limits = default_limits()
    kinds = kind_draws()
    rows = []
    for j in range(count + submitted):
        i = first_index + j
        kind = rng.choice(kinds)
        limit = limits[kind]
        letter = Letter(
            kind=kind, yellow_numerator=limit.yellow_numerator, yellow_denominator=limit.yellow_denominator
        )
        if j >= count:  # waiting for an operator
            letter.status = LetterStatus.SUBMITTED
            letter.submitted_at = now - dt.timedelta(hours=rng.uniform(0, 48))
        else:
            letter.department_id = rng.choice(departments)
            letter.sign_limit, letter.sign_unit = limit.sign_limit, limit.sign_unit
            letter.reply_limit, letter.reply_unit = limit.reply_limit, limit.reply_unit
            if rng.random() < FORWARDED_SHARE:
                span = _calendar_span(limit.sign_limit, limit.sign_unit)
                letter.forwarded_at = now - span * rng.uniform(0, 1.2)
                letter.status = LetterStatus.FORWARDED
                schedule(letter, calendar)
            else:
                span = _calendar_span(limit.reply_limit, limit.reply_unit)
                letter.reply_started_at = letter.signed_at = now - span * rng.uniform(0, 1.2)
                letter.forwarded_at = letter.signed_at - dt.timedelta(hours=rng.uniform(1, 30))
                letter.status = LetterStatus.FORWARDED
                schedule(letter, calendar)
                assert letter.sign_deadline is not None
                letter.sign_on_time = letter.signed_at < letter.sign_deadline
                letter.status = LetterStatus.SIGNED
                if rng.random() < 0.05:  # an approved extension
                    letter.extension_days = rng.randint(2, 10)
                schedule(letter, calendar)
            letter.submitted_at = letter.forwarded_at - dt.timedelta(hours=rng.uniform(0.5, 36))
            letter.light = "green"
        sentences = rng.sample(SENTENCES, 3)
        rows.append(
            (
                f"MX{letter.submitted_at.astimezone(calendar_tz()):%y%m%d}{i:06X}",
                f"{rng.getrandbits(256):064x}",
                kind,
                rng.choice(SUBJECTS),
                "".join(sentences),
                rng.choice(SURNAMES) + rng.choice(("先生", "女士")),
                f"13{i * 7919 % 1_000_000_000:09d}",
                rng.random() < 0.85,
                letter.status,
                letter.department_id,
                letter.submitted_at,
                letter.forwarded_at,
                letter.signed_at,
                letter.reply_started_at,
                None,
                None,
                letter.sign_limit,
                letter.sign_unit or "",
                letter.reply_limit,
                letter.reply_unit or "",
                letter.yellow_numerator,
                letter.yellow_denominator,
                letter.extension_days or 0,
                letter.sign_deadline,
                letter.sign_yellow_at,
                letter.reply_deadline,
                letter.reply_yellow_at,
                letter.sign_on_time,
                None,
                letter.light or "",
                "",
                "",
                "",
                0,
                0,
                False,
                "",
                "",
            )
        )
    return rows


def calendar_tz() -> dt.tzinfo:
    from django.utils import timezone

    return timezone.get_default_timezone()


def _calendar_span(limit: int, unit: str) -> dt.timedelta:
    return dt.timedelta(hours=limit) if unit == "hours" else dt.timedelta(days=limit * 1.4 + 0.5)


def generate(letters: int, open_count: int, seed: int, now: dt.datetime) -> dict[str, float]:
    """Fill the letter table; returns seconds per phase."""
    from django.db import connection, transaction

    submitted = min(letters - open_count, max(1, letters // 1000)) if letters > open_count else 0
    finished = letters - open_count - submitted
    departments = department_draws(seed)
    limits = default_limits()
    kind_list = kind_draws()
    phases: dict[str, float] = {}
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit = off")
        cursor.execute("SELECT setseed(%s)", [(seed % 1000) / 1000])
        span = dt.timedelta(days=HISTORY_DAYS - RECENT_DAYS)
        cursor.execute(
            FINISHED_SQL,
            {
                "count": finished,
                "start": now - dt.timedelta(days=HISTORY_DAYS),
                "step": span.total_seconds() / max(finished, 1),
                "tz": str(calendar_tz()),
                "kinds": kind_list,
                "departments": departments,
                "subjects": SUBJECTS,
                "sentences": SENTENCES,
                "surnames": SURNAMES,
                "replies": REPLIES,
                "sign_limits": [limits[kind].sign_limit for kind in kind_list],
                "sign_units": [limits[kind].sign_unit for kind in kind_list],
                "reply_limits": [limits[kind].reply_limit for kind in kind_list],
                "reply_units": [limits[kind].reply_unit for kind in kind_list],
                "satisfied": SATISFIED,
                "basic": BASIC,
                "sign_on_time": SIGN_ON_TIME,
                "reply_on_time": REPLY_ON_TIME,
                "replied_share": REPLIED_SHARE,
            },
        )
        phases["finished"] = time.perf_counter() - started
        mark = time.perf_counter()
        rows = open_rows(open_count, submitted, finished + 1, now, seed, departments)
        phases["schedule"] = time.perf_counter() - mark
        mark = time.perf_counter()
        raw = cursor.cursor  # psycopg's own cursor, for COPY
        with raw.copy(f"COPY letters_letter ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        phases["copy"] = time.perf_counter() - mark
    phases["total"] = time.perf_counter() - started
    return phases


def vacuum() -> float:
    """VACUUM ANALYZE the letter tables (what autovacuum would have done to a table this old)."""
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE letters_letter")
        cursor.execute("VACUUM ANALYZE letters_lightchange")
    return time.perf_counter() - started


def reset_lights() -> None:
    """Every open letter back to green and the recorded changes gone, as right after generating."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE letters_letter SET light = 'green' WHERE status IN ('forwarded', 'signed') AND light <> 'green'"
        )
        cursor.execute("TRUNCATE letters_lightchange")
        cursor.execute("VACUUM ANALYZE letters_letter")


# --- the baselines -------------------------------------------------------------------------------


def naive_scoreboard() -> dict:
    """Every letter read into Python and counted per department, on every request."""
    from django.conf import settings

    from departments.models import Department
    from letters.models import Letter

    counts: dict[int, list[int]] = {}
    rows = Letter.objects.values_list("department_id", "replied_at", "reply_on_time", "rating")
    for department_id, replied_at, reply_on_time, rating in rows.iterator(chunk_size=10_000):
        if department_id is None:
            continue
        tally = counts.setdefault(department_id, [0, 0, 0, 0, 0])
        tally[0] += 1
        if replied_at is not None:
            tally[1] += 1
        if reply_on_time:
            tally[2] += 1
        if rating:
            tally[3] += 1
            if rating in ("satisfied", "basic"):
                tally[4] += 1
    minimum = settings.MINXIN_SCOREBOARD_MIN_LETTERS
    board = []
    for department in Department.objects.filter(active=True):
        received, replied, on_time, rated, satisfied = counts.get(department.pk, [0, 0, 0, 0, 0])
        board.append(
            {
                "code": department.code,
                "received": received,
                "replied": replied,
                "reply_rate": round(replied / received, 4) if received else None,
                "on_time_rate": round(on_time / replied, 4) if replied else None,
                "satisfaction_rate": round(satisfied / rated, 4) if rated else None,
                "ranked": received >= minimum,
            }
        )
    return {"departments": board}


def board_figures(board: dict) -> list[tuple]:
    keys = ("received", "replied", "reply_rate", "on_time_rate", "satisfaction_rate", "ranked")
    return [
        (row["department"]["code"] if "department" in row else row["code"], *(row[key] for key in keys))
        for row in board["departments"]
    ]


def naive_sweep(now: dt.datetime, sample: int) -> tuple[int, dict[int, str]]:
    """Load the open letters, compute each light with lights.light_at, save each change on its own
    (one UPDATE and one INSERT per change), in one transaction. Returns (changes, lights by id)."""
    from django.db import transaction

    from letters.lights import light_at, stage_of
    from letters.models import Letter, LetterStatus, LightChange

    changes = 0
    lights: dict[int, str] = {}
    with transaction.atomic():
        letters = (
            Letter.objects.select_for_update()
            .filter(status__in=[LetterStatus.FORWARDED, LetterStatus.SIGNED])
            .order_by("pk")[:sample]
        )
        for letter in letters:
            light = light_at(letter, now)
            stage = stage_of(letter)
            if light is None or stage is None:
                continue
            lights[letter.pk] = light
            if light != letter.light:
                letter.light = light
                letter.save(update_fields=["light"])
                LightChange.objects.create(letter=letter, stage=stage.name, light=light, at=now)
                changes += 1
    return changes, lights


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
    from django.core.cache import cache
    from django.db import connection
    from django.db.models import Count
    from django.test import Client
    from django.utils import timezone

    from letters import reports, supervision
    from letters.models import Letter, LightChange

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

    # --- the scoreboard
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

    # --- the sweep: the naive baseline first, on the fresh data, then reset
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
