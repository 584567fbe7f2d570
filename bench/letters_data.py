"""The letters benchmark's data (bench/letters.py): a million generated letters over the registry's
departments, bulk-loaded with SQL and COPY, and the naive baselines the benchmark times beside the app."""

from __future__ import annotations

import datetime as dt
import io
import random
import time
from typing import Any

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
    "wrong_sign_count", "wrong_closure", "netizen_key", "erasure", "closure", "channel", "draft", "draft_by",
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
  CASE WHEN r_redo < 0.02 THEN 1 ELSE 0 END, 0, status = 'closed' AND r_redo > 0.995, '', '',
  CASE WHEN status = 'closed' THEN 'rated' ELSE '' END, 'web', '', ''
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
    from letters.workdays import WorkCalendar

    rng = random.Random(seed)
    calendar = WorkCalendar()
    limits = default_limits()
    kinds = kind_draws()
    rows = []
    for j in range(count + submitted):
        letter = _open_letter(rng, kinds, limits, calendar, departments, now, waiting=j >= count)
        rows.append(_letter_row(letter, first_index + j, rng))
    return rows


def _open_letter(
    rng: random.Random,
    kinds: list[str],
    limits: dict[str, Any],
    calendar: Any,
    departments: list[int],
    now: dt.datetime,
    waiting: bool,
) -> Any:
    """One open letter (or, `waiting`, one still to be forwarded), scheduled by the app's services."""
    from letters.deadlines import schedule
    from letters.models import Letter, LetterStatus

    kind = rng.choice(kinds)
    limit = limits[kind]
    letter = Letter(
        kind=kind, yellow_numerator=limit.yellow_numerator, yellow_denominator=limit.yellow_denominator
    )
    if waiting:  # waiting for an operator
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
    return letter


def _letter_row(letter: Any, i: int, rng: random.Random) -> tuple:
    """The COPY row of a generated open letter: its text drawn from `rng`, its schedule as computed."""
    sentences = rng.sample(SENTENCES, 3)
    return (
        f"MX{letter.submitted_at.astimezone(calendar_tz()):%y%m%d}{i:06X}",
        f"{rng.getrandbits(256):064x}",
        letter.kind,
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
        "",
        "web",
        "",
        "",
    )


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
