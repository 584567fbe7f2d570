"""The demo's unit with divisions (业务处室) and its letters by phone: the seed's handling inside a
unit, so that a newcomer can log in as its 纠风 office (coordinator) or as a division's handler.

市人力社保局 gets two divisions; its coordinator signs and assigns, the divisions draft, the
coordinator sends. Three letters show the stages: a phone letter whose draft waits for the
coordinator, a letter assigned and waiting for its division's draft, and a phone letter answered
and closed by the operator's 回访. The other demo units keep working without divisions.
"""

import io

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import transaction

from departments.models import Department, Division
from letters import handling, phone, services
from letters.models import Letter

UNIT = "rsj"
DIVISIONS = [("jiuye", "就业促进处"), ("laodong", "劳动关系处")]
# username, role, division, display name
STAFF = [
    ("coordinator_rsj", "coordinator", None, "人力社保局 纠风办"),
    ("handler_rsj_jiuye", "handler", "jiuye", "就业促进处 信件员"),
    ("handler_rsj_laodong", "handler", "laodong", "劳动关系处 信件员"),
]
MARKER = "失业保险金申领进度查询"  # the first letter's subject: present means the letters are loaded


def load(users: dict, password: str) -> list[tuple[str, str, str, str]]:
    """The unit's divisions and staff (every run: accounts are repaired like the others) and its
    letters (once). Returns the accounts as (username, role, unit, name) for the printout."""
    department = Department.objects.get(code=UNIT)
    for code, name in DIVISIONS:
        Division.objects.get_or_create(department=department, code=code, defaults={"name": name})
    for username, role, division, name in STAFF:
        options = {"division": division} if division else {}
        call_command(
            "createstaff", username, role=role, department=UNIT, password=password, name=name,
            stdout=io.StringIO(), **options,
        )  # fmt: skip
    staff = {u: get_user_model().objects.get(username=u) for u, *_rest in STAFF}
    if not Letter.objects.filter(subject=MARKER).exists():
        with transaction.atomic():
            _letters(users["operator"], staff)
    return [(username, role, UNIT, name) for username, role, _division, name in STAFF]


def _letters(operator, staff: dict) -> None:
    coordinator = staff["coordinator_rsj"]

    def arrive(subject: str, by_phone: bool, number: int) -> str:
        data = {
            "kind": "consultation",
            "subject": subject,
            "body": f"{subject}：已经提交材料两周了，想了解办理进度和还需要补充什么。",
            "name": "李" + "强华"[number % 2],
            "contact": f"1390000{number:04d}",
            "public": True,
            "consent": True,
        }
        answer = (
            phone.take(data, f"demo-phone-{number}", operator)[0] if by_phone else services.submit(data)[0]
        )
        code = answer["code"]
        services.forward(code, UNIT, operator)
        services.sign(code, coordinator)
        return code

    waiting = arrive(MARKER, True, 1)  # the division's draft waits for the coordinator
    handling.assign(waiting, "jiuye", coordinator)
    handling.draft(
        waiting, "<p>您的失业保险金申领已受理，将于5个工作日内发放。</p>", staff["handler_rsj_jiuye"]
    )
    assigned = arrive("劳动合同到期后单位不续签有无补偿", False, 2)  # waits for its division's draft
    handling.assign(assigned, "laodong", coordinator)
    called = arrive("灵活就业人员社保缴费基数咨询", True, 3)  # answered, then rated on the 回访 call
    handling.assign(called, "jiuye", coordinator)
    handling.draft(
        called,
        "<p>灵活就业人员可在规定范围内自选缴费基数，详见市人力社保局网站。</p>",
        staff["handler_rsj_jiuye"],
    )
    handling.approve_draft(called, coordinator)
    phone.callback(called, "satisfied", "答复清楚", operator)
