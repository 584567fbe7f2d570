"""The public trail of a letter: every step of its log as the writer and the public read it.

The seed asks for the whole process in the open (处理过程公开): where the letter went, who sent it
back and why, the extension and until when, the reply, the rating, a redo and why. Built from the
LetterLog (letters.models) with one rule:

- Departments are always named; the staff member who acted (LetterLog.by, a username) never is.
- Reasons are shown as staff typed them, through core/privacy.py's one masking rule, since a
  reason may carry a citizen's phone number typed by mistake.
- Only the actions in ACTIONS are shown; any other step (an internal one, or one a later change
  adds) stays hidden until it is given a row here: action → public steps, step → label.
"""

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.utils import formats, timezone
from django.utils.translation import gettext as _

from core.privacy import mask_personal_data
from departments.models import Department
from letters.models import Letter, LetterLog, Rating

# The log's action → the public steps it shows as (one action may show as two: a rating closes).
ACTIONS: dict[str, tuple[str, ...]] = {
    "submit": ("submitted",),
    "forward": ("forwarded",),
    "return": ("returned",),
    "sign": ("signed",),
    "extend": ("extension_requested",),
    "approve_extension": ("extended",),
    "refuse_extension": ("extension_refused",),
    "reply": ("replied",),
    "evaluate": ("rated", "closed"),
    "callback": ("rated", "closed"),  # 回访: an operator records a phone letter's rating (letters/phone.py)
    "redo": ("redo",),
    "remind": ("reminded",),  # 催办 by the supervisors (letters/followup.py)
    "close_unrated": ("closed_unrated",),  # 未评价办结 by the clock (letters/followup.py)
}

# Steps whose log note is a staff member's reason, shown (masked) to the public.
WITH_REASON = {"returned", "extension_requested", "redo"}


def _labels() -> dict[str, str]:
    """The step's words, read in the active language; %(department)s, %(until)s, %(rating)s."""
    return {
        "submitted": _("The letter was received"),
        "forwarded": _("Forwarded to %(department)s"),
        "returned": _("%(department)s returned it to the operators"),
        "signed": _("%(department)s signed for it"),
        "extension_requested": _("%(department)s asked for more time"),
        "extended": _("Extension approved: reply due by %(until)s"),
        "extension_refused": _("Extension refused"),
        "replied": _("%(department)s replied"),
        "rated": _("The writer rated the reply: %(rating)s"),
        "closed": _("The letter was closed"),
        "redo": _("The supervisors ordered %(department)s to handle it again"),
        "reminded": _("The supervisors reminded %(department)s of the time limit"),
        "closed_unrated": _("Closed without a rating: the writer did not rate the reply in time"),
    }


def _department_names(logs: Iterable[LetterLog], letters: Iterable[Letter]) -> dict[str, str]:
    codes = {(log.data or {}).get("department") for log in logs}
    known = {letter.department.code: letter.department.name for letter in letters if letter.department}
    missing = {code for code in codes if isinstance(code, str) and code not in known}
    if missing:
        known.update(Department.objects.filter(code__in=missing).values_list("code", "name"))
    return known


def _until(value: object) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        return None


def _steps(logs: list[LetterLog], names: dict[str, str]) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = []
    department: str | None = None  # the department the letter is at, as the log goes
    for log in logs:
        data = log.data or {}
        if log.action in ("forward", "return") and isinstance(data.get("department"), str):
            department = data["department"]
        for step in ACTIONS.get(log.action, ()):
            rating = data.get("rating") if step == "rated" else None
            steps.append(
                {
                    "at": log.at,
                    "step": step,
                    "department": {"code": department, "name": names.get(department, department)}
                    if department and step != "submitted"
                    else None,
                    "reason": mask_personal_data(log.note) if step in WITH_REASON and log.note else None,
                    "until": _until(data.get("until")) if step == "extended" else None,
                    "rating": rating if rating in Rating.values else None,
                }
            )
        if log.action == "return":
            department = None
    return steps


def trails(letters: list[Letter]) -> dict[int, list[dict[str, Any]]]:
    """Each letter's public trail, oldest step first, by letter id (one query for all the logs)."""
    logs: dict[int, list[LetterLog]] = {letter.pk: [] for letter in letters}
    for log in LetterLog.objects.filter(letter__in=letters).order_by("at", "id"):
        logs[log.letter_id].append(log)
    names = _department_names((log for found in logs.values() for log in found), letters)
    return {pk: _steps(found, names) for pk, found in logs.items()}


def trail(letter: Letter) -> list[dict[str, Any]]:
    return trails([letter])[letter.pk]


def labelled(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The steps with their words (`text`) for a page, in the active language."""
    labels = _labels()
    ratings = dict(Rating.choices)
    out = []
    for step in steps:
        department = step["department"]["name"] if step["department"] else _("the department")
        until = (
            formats.date_format(timezone.localtime(step["until"]), "DATETIME_FORMAT")
            if step["until"]
            else "–"
        )
        rating = str(ratings.get(step["rating"], "–"))
        text = labels.get(step["step"], step["step"]) % {
            "department": department,
            "until": until,
            "rating": rating,
        }
        # The step's time, formatted here once: a page of twenty trails spent a quarter of its
        # time in the template's two |date filters per step.
        local = timezone.localtime(step["at"])
        out.append(
            {
                **step,
                "text": text,
                "at_iso": local.isoformat(),
                "at_text": formats.date_format(local, "DATETIME_FORMAT"),
            }
        )
    return out


def as_json(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The trail in the letter's JSON (PROTOCOL.md §4 "trail")."""

    def iso(moment: dt.datetime | None) -> str | None:
        return timezone.localtime(moment).isoformat(timespec="seconds") if moment else None

    return [
        {
            "at": iso(step["at"]),
            "step": step["step"],
            "department": step["department"],
            "reason": step["reason"],
            "until": iso(step["until"]),
            "rating": step["rating"],
        }
        for step in steps
    ]
