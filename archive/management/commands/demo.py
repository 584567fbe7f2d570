"""Realistic demo data: the registry, staff accounts, past programmes with transcripts, one live one.

Safe to run twice: what exists is kept.
"""

import datetime as dt
import io
import uuid

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from core import clock
from departments.registry import load_registry
from moderation.actions import approve_question
from moderation.asking import ask_question
from studio import services as studio
from studio.models import Broadcast, BroadcastStatus, Event, Guest

PASSWORD = "minxin-demo-2026"

# username, role, department, display name, title
STAFF = [
    ("host", "host", None, "李主持", "首都之窗主持人"),
    ("moderator", "moderator", None, "王审核", ""),
    ("moderator2", "moderator", None, "赵审核", ""),
    ("operator", "operator", None, "陈运维", ""),
    ("supervisor", "supervisor", None, "纠风办 周督查", ""),
    ("handler_jtw", "handler", "jtw", "交通委 信件员", ""),
    ("handler_swj", "handler", "swj", "水务局 信件员", ""),
    ("handler_wjw", "handler", "wjw", "卫健委 信件员", ""),  # the live programme's department
    ("handler_chaoyang", "handler", "chaoyang", "朝阳区 信件员", ""),
    ("handler_zjw", "handler", "zjw", "住建委 信件员", ""),
    ("guest_jtw", "guest", "jtw", "张明", "市交通委新闻发言人"),
    ("guest_jtw2", "guest", "jtw", "刘洋", "市交通委运输管理处处长"),
    ("guest_swj", "guest", "swj", "孙丽", "市水务局新闻发言人"),
    ("guest_wjw", "guest", "wjw", "高峰", "市卫生健康委新闻发言人"),
]

PROGRAMMES = [
    {
        "department": "swj",
        "title": "汛期城市排水与防汛准备",
        "guests": ["guest_swj"],
        "days_ago": 14,
        "script": [
            ("host", "各位网友下午好，欢迎来到走进直播间。今天我们邀请到市水务局的嘉宾，聊一聊汛期排水。"),
            ("ask", "每到下大雨，莲花桥下就积水，今年有没有改造计划？", "丰台网友"),
            ("answer", "莲花桥泵站今年完成了扩容改造，排水能力提高了一倍，雨前会预降水位。"),
            ("ask", "小区地下车库进水了，应该找物业还是找水务部门？", "海淀居民"),
            ("answer", "小区内部排水设施由产权单位和物业负责；市政管网问题可拨打12345或在留言板来信。"),
            ("host", "感谢嘉宾的解答，本期节目到此结束。"),
        ],
    },
    {
        "department": "jtw",
        "title": "公交线网优化与一卡通使用",
        "guests": ["guest_jtw", "guest_jtw2"],
        "days_ago": 7,
        "script": [
            ("host", "欢迎收看本期走进直播间，今天的话题是公交线网优化。"),
            ("ask", "公交一卡通在外地能用吗？交通联合卡怎么办理？", "通州小王"),
            ("answer", "带有交通联合标识的一卡通可以在全国三百多个城市使用，地铁站客服中心可以办理。"),
            ("ask", "回龙观到上地的公交太挤了，能不能加车？", "昌平上班族"),
            ("answer", "早高峰我们已在这一走廊增开了大站快车，下个月再增加两条定制公交线路。"),
            ("ask", "老年人乘车优惠怎么申请？", "东城李阿姨"),
            ("answer", "年满65周岁的常住老年人持北京通—养老助残卡可免费乘坐地面公交。"),
            ("host", "时间关系，没来得及回答的问题将转为留言，由市交通委在规定时限内答复。"),
        ],
    },
]

# The live programme's picture and sound: a short title card the repository carries (static/demo/,
# CC0), so that the demo plays without any streaming server.
DEMO_STREAM = "/static/demo/programme.m3u8"

LIVE = {
    "department": "wjw",
    "stream_url": DEMO_STREAM,
    "title": "社区卫生服务与家庭医生签约",
    "guests": ["guest_wjw"],
    "script": [
        ("host", "各位网友好，本期直播正在进行，欢迎大家踊跃提问。"),
        ("ask", "家庭医生签约后，开药能开多长时间的量？", "朝阳网友"),
        ("answer", "慢性病患者签约后，病情稳定的可以开具最长12周的长处方。"),
    ],
}


class Command(BaseCommand):
    help = "Load realistic demo data (registry, staff accounts, programmes) and print the accounts."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--quiet", action="store_true", help="do not print the accounts")
        parser.add_argument(
            "--year",
            action="store_true",
            help="instead of the small demo, simulate the seed's year (manage.py simulate) on an empty database",
        )
        parser.add_argument(
            "--scale", type=float, default=1.0, help="with --year: a fraction of the year's volume"
        )
        parser.add_argument("--seed", type=int, default=1, help="with --year: the simulation's seed")

    def handle(self, *args: object, **options: object) -> None:
        if options["year"]:
            # By name, not by import: simulate imports this module's prepare().
            call_command("simulate", seed=options["seed"], scale=options["scale"], stdout=self.stdout)
            if not options["quiet"]:
                self.stdout.write(
                    f"Demo staff accounts (password for all: {PASSWORD}): {', '.join(s[0] for s in STAFF)}"
                )
            return
        count, users = prepare()
        if not Broadcast.objects.exists():
            for programme in PROGRAMMES:
                starts = clock.now() - dt.timedelta(days=int(programme["days_ago"]))  # type: ignore[call-overload]
                self._programme(programme, users, starts, end=True)
            self._programme(LIVE, users, clock.now() - dt.timedelta(minutes=10), end=False)
        # A demo database from before the clip: its live programme gets the clip too.
        Broadcast.objects.filter(status=BroadcastStatus.LIVE, title=LIVE["title"], stream_url="").update(
            stream_url=DEMO_STREAM
        )
        from archive import demo_letters

        story = demo_letters.load(users)  # after the programmes: their unanswered questions are letters too
        from archive import demo_units

        unit_staff = demo_units.load(users, PASSWORD)  # a unit with divisions, and letters by phone
        if not options["quiet"]:
            self.stdout.write(f"Registry: {count} departments.")
            self.stdout.write(f"Demo staff accounts (password for all: {PASSWORD}):")
            for username, role, department, name, _title in STAFF:
                self.stdout.write(f"  {username:<20} {role:<12} {department or '':<9} {name}")
            for username, role, department, name in unit_staff:
                self.stdout.write(f"  {username:<20} {role:<12} {department:<9} {name}")
            if story:
                self.stdout.write(
                    f"A letter with every kind of step: /letters/track/ code {story['code']} key {story['key']}"
                )
            live = Broadcast.objects.filter(status=BroadcastStatus.LIVE).first()
            if live:
                self.stdout.write(
                    f"Live programme: /live/{live.pk}/  (studio console: /studio/{live.pk}/ as guest_wjw or host;"
                    f" moderation: /moderate/{live.pk}/ as moderator)"
                )

    def _programme(self, spec: dict, users: dict, starts: dt.datetime, end: bool) -> Broadcast:
        from departments.models import Department

        department = Department.objects.get(code=spec["department"])
        broadcast = studio.create_broadcast(
            title=spec["title"],
            department=department,
            starts_at=starts,
            host=users["host"],
            summary=f"{department.name}做客走进直播间。",
            stream_url=spec.get("stream_url", ""),
        )
        guests = [users[name] for name in spec["guests"]]
        for user in guests:
            Guest.objects.create(
                broadcast=broadcast,
                user=user,
                display_name=user.first_name,
                title=user.staff.title,
                department=department,
            )
        host = users["host"]
        studio.set_status(broadcast.pk, host, BroadcastStatus.LIVE)
        question_id = None
        for step, (action, text, *rest) in enumerate(spec["script"]):
            client_id = uuid.uuid4().hex
            if action == "host":
                studio.post_host_message(broadcast.pk, host, client_id, text)
            elif action == "ask":
                # Each question from its own netizen, as in a real programme.
                question, _ = ask_question(broadcast.pk, client_id, text, rest[0], client_id, None)
                approve_question(broadcast.pk, question.pk, publish=True, by="moderator")
                question_id = question.pk
            else:
                studio.post_answer(broadcast.pk, guests[step % len(guests)], client_id, question_id, text)
        if end:
            # Approved but not answered on air: ending the programme turns it into a letter (件件有着落).
            late = uuid.uuid4().hex
            unanswered, _ = ask_question(
                broadcast.pk, late, "地铁夜间能不能延长运营时间？", "夜归人", late, None
            )
            approve_question(broadcast.pk, unanswered.pk, publish=False, by="moderator")
            studio.set_status(broadcast.pk, host, BroadcastStatus.ENDED)
        # Spread the log over the programme's hour so that replays have a pace.
        for event in Event.objects.filter(broadcast=broadcast):
            Event.objects.filter(pk=event.pk).update(at=starts + dt.timedelta(seconds=90 * event.seq))
        broadcast.started_at = starts
        broadcast.save(update_fields=["started_at"])
        return broadcast


def prepare() -> tuple[int, dict]:
    """What the demo and the simulated year both start from: the registry, China's working-day
    calendar, the staff accounts and the banned words. Returns (departments, users by name)."""
    count = load_registry()
    from letters.models import CalendarYear

    if not CalendarYear.objects.exists():  # China's holidays 2004–2026, for letter deadlines
        call_command("loadcalendar", all_known=True, stdout=io.StringIO())
    users = {}
    for username, role, department, name, title in STAFF:
        call_command(
            "createstaff",
            username,
            role=role,
            department=department,
            password=PASSWORD,
            name=name,
            title=title,
            stdout=io.StringIO(),  # its line per account is noise here
        )
        users[username] = get_user_model().objects.get(username=username)
    _banned_words()
    return count, users


def _banned_words() -> None:
    from moderation.models import BannedWord, BannedWordList
    from moderation.screening import words_changed

    lists = {
        ("禁用词（演示）", "block"): ["法轮功", "代开发票", "六合彩"],
        ("待审词（演示）", "review"): ["腐败", "上访", "群体事件"],
    }
    for (name, level), words in lists.items():
        word_list, _ = BannedWordList.objects.get_or_create(name=name, defaults={"level": level})
        for word in words:
            BannedWord.objects.get_or_create(word_list=word_list, word=word)
    words_changed()
