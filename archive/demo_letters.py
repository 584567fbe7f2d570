"""The demo's letters: every status and every light, ratings, a returned and re-forwarded letter
with an extension and a redo, spread over the last year, and the half-year and year-end reports.

Each letter takes its steps through letters.services (as staff would), then its log is re-timed to
a plausible history ending `days_ago` days ago: the steps spaced by a few hours, and the letter's
own times and deadlines recomputed from them (services.schedule), so that the lights, the trail and
the reports read as a year of work. The same letters in the same states every run.
"""

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from core import clock
from letters import deadlines, periodic, services, supervision
from letters.lights import light_at
from letters.models import Extension, Letter, LetterLog, Light
from letters.workdays import WorkCalendar

MARKER = "公交站台积水严重"  # the first letter's subject: present means the demo letters are loaded

# department, kind, subject, what happens to it, days ago it started, rating
# ("closed", "replied", "signed", "forwarded", "submitted", "returned", "story", "redo", "wrong")
PLAN: list[tuple[str, str, str, str, int, str]] = [
    ("jtw", "complaint", MARKER, "closed", 320, "satisfied"),
    ("jtw", "consultation", "交通联合卡在外地能否使用", "closed", 290, "satisfied"),
    ("jtw", "suggestion", "建议增开回龙观至上地的定制公交", "closed", 250, "basic"),
    ("jtw", "opinion", "夜班公交发车间隔太长", "closed", 210, "satisfied"),
    ("jtw", "complaint", "出租车拒载", "closed", 170, "unsatisfied"),
    ("jtw", "consultation", "老年人乘车优惠如何申请", "closed", 140, "satisfied"),
    ("jtw", "suggestion", "路口红绿灯时长不合理", "closed", 100, "satisfied"),
    ("jtw", "complaint", "共享单车占用盲道", "closed", 75, "basic"),
    ("jtw", "consultation", "机动车摇号政策咨询", "closed", 45, "satisfied"),
    ("jtw", "opinion", "地铁换乘通道拥挤", "wrong", 60, "satisfied"),
    ("jtw", "complaint", "小区停水三天无人处理", "story", 40, ""),
    ("jtw", "consultation", "公交一卡通退卡流程", "replied", 4, ""),
    ("jtw", "complaint", "公交站牌信息有误", "forwarded", 0, Light.GREEN),
    ("jtw", "complaint", "公交站台雨棚破损", "signed", 0, Light.RED),
    ("jtw", "suggestion", "增设自行车停放区", "extension", 0, ""),
    ("swj", "complaint", "莲花桥下雨天积水", "closed", 300, "satisfied"),
    ("swj", "consultation", "地下车库进水找谁", "closed", 260, "basic"),
    ("swj", "report", "河道有人倾倒垃圾", "closed", 220, "satisfied"),
    ("swj", "complaint", "自来水有异味", "closed", 180, "unsatisfied"),
    ("swj", "suggestion", "建议公开汛期积水点", "closed", 150, "satisfied"),
    ("swj", "consultation", "阶梯水价如何计算", "closed", 120, "satisfied"),
    ("swj", "complaint", "小区雨水井堵塞", "closed", 90, "basic"),
    ("swj", "opinion", "节水器具补贴申请太繁琐", "redo", 30, "unsatisfied"),
    ("swj", "complaint", "排水管道破裂", "forwarded", 0, Light.YELLOW),
    ("swj", "report", "施工降水直排河道", "signed", 0, Light.GREEN),
    ("wjw", "consultation", "家庭医生签约后开药时长", "closed", 280, "satisfied"),
    ("wjw", "complaint", "社区医院周末不开门", "closed", 240, "unsatisfied"),
    ("wjw", "suggestion", "建议增加儿科夜间门诊", "closed", 200, "satisfied"),
    ("wjw", "consultation", "异地就医备案流程", "closed", 160, "basic"),
    ("wjw", "opinion", "挂号难", "closed", 110, "satisfied"),
    ("wjw", "complaint", "医院停车难", "closed", 70, "satisfied"),
    ("wjw", "consultation", "疫苗接种预约", "closed", 35, "satisfied"),
    ("wjw", "complaint", "药品价格不透明", "forwarded", 0, Light.RED),
    ("wjw", "suggestion", "社区卫生服务中心延长服务时间", "signed", 0, Light.YELLOW),
    ("wjw", "consultation", "长处方能开多久", "replied", 3, ""),
    ("chaoyang", "complaint", "小区周边施工夜间扰民", "closed", 230, "basic"),
    ("chaoyang", "suggestion", "建议增设社区便民菜站", "closed", 130, "satisfied"),
    ("chaoyang", "complaint", "人行道被占用经营", "closed", 50, "satisfied"),
    ("zjw", "consultation", "公租房申请条件", "closed", 190, "satisfied"),
    ("zjw", "complaint", "老旧小区加装电梯进展慢", "closed", 80, "unsatisfied"),
    ("", "consultation", "12路公交站牌信息有误", "submitted", 0, ""),
    ("", "complaint", "暖气不热", "returned", 1, ""),
]

HANDLERS = {
    "jtw": "handler_jtw",
    "swj": "handler_swj",
    "wjw": "handler_wjw",
    "chaoyang": "handler_chaoyang",
    "zjw": "handler_zjw",
}
REPLY = (
    "<p>您反映的问题已收悉，我们已安排专人核实处理，处理结果如下：已协调相关单位整改完毕。感谢您的监督。</p>"
)


@dataclass
class Staff:
    operator: Any
    supervisor: Any
    handlers: dict[str, Any]


def load(users: dict[str, Any]) -> dict[str, str] | None:
    """The demo letters and reports, once. Returns the code and key of the letter whose trail shows
    every kind of step (None when the letters were loaded before)."""
    if Letter.objects.filter(subject=MARKER).exists():
        return None
    staff = Staff(users["operator"], users["supervisor"], {d: users[u] for d, u in HANDLERS.items()})
    now = clock.now()
    shown: dict[str, str] = {}
    with transaction.atomic():
        for number, (department, kind, subject, fate, days_ago, extra) in enumerate(PLAN):
            code, key = _write(number, kind, subject)
            _walk(code, key, department, fate, extra, staff)
            start = now - dt.timedelta(days=days_ago, hours=2 + number % 5)
            code = _retime(code, start, _gaps(number, days_ago), extra, now)
            if fate == "story":
                shown = {"code": code, "key": key}
        supervision.sweep(now)
    for kind in periodic.SCHEDULED:  # the latest half-year report and year-end assessment
        periodic.produce(kind, *periodic.period_of(kind, periodic.last_due_year(kind, now)), now=now)
    return shown


def _write(number: int, kind: str, subject: str) -> tuple[str, str]:
    answer, _created = services.submit(
        {
            "kind": kind,
            "subject": subject,
            "body": f"{subject}，已经有一段时间了，希望有关部门尽快核实处理并给予答复。",
            "name": "王" + "芳明华丽强军"[number % 6],
            "contact": f"1380000{number:04d}",
            "public": number % 7 != 3,
            "consent": True,
        }
    )
    return answer["code"], answer["key"]


def _walk(code: str, key: str, department: str, fate: str, extra: str, staff: Staff) -> None:
    """The steps of the letter's fate, as the staff and the writer take them."""
    if fate == "submitted":
        return
    if fate in ("returned", "story"):
        services.forward(code, "swj", staff.operator)
        services.return_letter(
            code, "此事属于供水集团职责，不属于本局，请转供水企业或属地街道。", staff.handlers["swj"]
        )
        if fate == "returned":
            return
    handler = staff.handlers[department]
    services.forward(code, department, staff.operator)
    if fate == "forwarded":
        return
    services.sign(code, handler)
    if fate in ("extension", "story"):
        services.request_extension(code, 5, "需会同属地街道现场勘察，协调维修单位。", handler)
        if fate == "extension":
            return
        pending = Extension.objects.get(letter__code=code, state=Extension.State.PENDING)
        services.decide_extension(code, pending.pk, True, staff.supervisor)
    if fate == "signed":
        return
    services.reply(code, REPLY, handler)
    if fate == "replied":
        return
    rating = "unsatisfied" if fate in ("story", "redo") else extra
    services.evaluate(code, key, rating, "问题没有真正解决。" if rating == "unsatisfied" else "")
    if fate in ("story", "redo"):
        services.redo(code, "答复未说明具体整改时间，请重新核实办理。", staff.supervisor)
        if fate == "redo":
            return
        services.reply(code, REPLY, handler)
        services.evaluate(code, key, "satisfied", "")
    if fate == "wrong":
        services.mark_wrong_closure(code, "信件未实质办结即答复办结。", staff.supervisor)


def _gaps(number: int, days_ago: int) -> dict[str, dt.timedelta]:
    """The time before each step: a few hours, except some older letters signed for or replied to
    late (so the assessment has something to tell)."""
    gaps = {}
    if days_ago > 60 and number % 5 == 2:
        gaps["sign"] = dt.timedelta(hours=75)
    if days_ago > 60 and number % 4 == 1:
        gaps["reply"] = dt.timedelta(days=20)
    return gaps


def _retime(
    code: str, start: dt.datetime, gaps: dict[str, dt.timedelta], light: str, now: dt.datetime
) -> str:
    """Space the letter's steps from `start` and derive its times, deadlines and verdicts."""
    letter = Letter.objects.get(code=code)
    logs = list(LetterLog.objects.filter(letter=letter).order_by("at", "id"))
    at = start
    for log in logs:
        at += gaps.get(log.action, dt.timedelta(hours=4)) if log is not logs[0] else dt.timedelta(0)
        log.at = at
    last = {log.action: log.at for log in logs}
    letter.submitted_at = logs[0].at
    letter.forwarded_at = last.get("forward") if letter.department_id else None
    letter.signed_at = last.get("sign") if letter.signed_at else None
    letter.reply_started_at = max(filter(None, [letter.signed_at, last.get("redo")]), default=None)
    letter.replied_at = last.get("reply") if letter.replied_at else None
    letter.closed_at = last.get("evaluate") if letter.closed_at else None
    Extension.objects.filter(letter=letter).update(requested_at=last.get("extend", start))
    calendar = WorkCalendar()
    if letter.status in ("forwarded", "signed") and light in (Light.YELLOW, Light.RED):
        _age_until(letter, light, now, calendar, logs)
    _deadlines(letter, calendar, logs)
    LetterLog.objects.bulk_update(logs, ["at", "data"])
    # The code carries the day it was written (services._new_code): that of the re-timed history.
    letter.code = f"MX{timezone.localtime(letter.submitted_at):%y%m%d}{letter.code[8:]}"
    letter.save()
    return letter.code


def _deadlines(letter: Letter, calendar: WorkCalendar, logs: list[LetterLog]) -> None:
    """Each stage's deadline as services.schedule computes it, the verdicts of the ended stages, and
    the new deadline an approved extension announced in the log (the trail's "until")."""
    status, extension_days = letter.status, letter.extension_days
    for log in logs:
        if log.action == "approve_extension" and letter.signed_at:
            letter.status, letter.reply_started_at = "signed", letter.signed_at
            letter.extension_days = int(log.data.get("days", 0))
            deadlines.schedule(letter, calendar)
            assert letter.reply_deadline is not None
            until = timezone.localtime(letter.reply_deadline).isoformat(timespec="seconds")
            log.data = {**log.data, "until": until}
    letter.extension_days = extension_days
    letter.reply_started_at = max(
        filter(None, [letter.signed_at, *(x.at for x in logs if x.action == "redo")]), default=None
    )
    for stage in ("forwarded", "signed"):
        letter.status = stage
        deadlines.schedule(letter, calendar)
    letter.status = status
    if letter.signed_at and letter.sign_deadline:
        letter.sign_on_time = letter.signed_at < letter.sign_deadline
    if status in ("replied", "closed") and letter.replied_at and letter.reply_deadline:
        letter.reply_on_time = letter.replied_at < letter.reply_deadline


def _age_until(
    letter: Letter, light: str, now: dt.datetime, calendar: WorkCalendar, logs: list[LetterLog]
) -> None:
    """Move an open letter's stage back in time until its light is `light` now."""

    def begin(hours: int) -> None:
        began = now - dt.timedelta(hours=hours)
        letter.forwarded_at = began if letter.status == "forwarded" else began - dt.timedelta(hours=4)
        if letter.status == "signed":
            letter.signed_at = letter.reply_started_at = began
        deadlines.schedule(letter, calendar)

    # A one-working-day sign-for has no yellow on a weekend: such a letter then stays green.
    for hours in [*range(1, 48), *range(48, 24 * 40, 6), 1]:
        begin(hours)
        if light_at(letter, now) == light:
            break
    moved = {"forward": letter.forwarded_at, "sign": letter.signed_at}
    for log in logs:
        log.at = moved.get(log.action) or log.at
    assert letter.forwarded_at is not None
    letter.submitted_at = logs[0].at = letter.forwarded_at - dt.timedelta(hours=2)
