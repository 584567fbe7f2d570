"""Handling inside a unit with divisions (业务处室): the steps letters/services.py's state machine
gains there, one function a step.

    signed ──assign──▶ signed, at a division ──draft──▶ signed, with a draft ──approve_draft──▶ replied
                              ▲    ▲                          │
                              │    └──────return_draft────────┘
                              └────assign (to another division; the draft is dropped)

The letter's status stays `signed` through them, so the reply deadline and its light run on until
the coordinator sends the reply (`approve_draft`, which is services.reply with the draft's text);
the sign-for limit stopped when the coordinator signed. Who may take each step: letters.units.
"""

from django.contrib.auth.models import User
from django.db import transaction
from django.utils.translation import gettext as _

from core import clock
from core.errors import ServiceError
from departments.models import Division
from letters import services, units
from letters.models import Letter, LetterStatus

S = LetterStatus


def _division(letter: Letter, code: object) -> Division:
    division = (
        Division.objects.filter(department_id=letter.department_id, code=code).first()
        if isinstance(code, str) and code and letter.department_id is not None
        else None
    )
    if division is None:
        raise ServiceError(
            "bad_request", _("Unknown division of the letter's department."), {"division": "unknown"}
        )
    return division


@transaction.atomic
def assign(code: str, division_code: object, user: User) -> Letter:
    """The coordinator gives a signed letter to one of the unit's divisions, or to another one (a
    draft of the previous division is dropped)."""
    letter = services.locked_letter(code)
    units.require_coordinator(user, letter)
    division = _division(letter, division_code)
    if letter.division_id == division.pk and letter.status == S.SIGNED:
        raise ServiceError("conflict", _("The letter is already assigned to this division."))
    previous = letter.division.code if letter.division else None
    services._step(
        letter,
        "assign",
        services._name(user),
        (S.SIGNED,),
        None,
        division=division.code,
        previous=previous,
        dropped_draft=bool(letter.draft),
    )
    letter.division = division
    letter.draft, letter.draft_by, letter.draft_at = "", "", None
    letter.save(update_fields=["division", "draft", "draft_by", "draft_at"])
    return letter


@transaction.atomic
def draft(code: str, text: object, user: User) -> Letter:
    """A handler of the letter's division drafts its reply (again, after it was sent back). Not sent:
    the writer sees nothing until the coordinator approves it."""
    letter = services.locked_letter(code)
    units.require_division_handler(user, letter)
    text = services._text({"text": text}, "text", services.MAX_REPLY, rich=True)
    services._step(
        letter,
        "draft",
        services._name(user),
        (S.SIGNED,),
        None,
        division=letter.division.code if letter.division else None,
    )
    letter.draft, letter.draft_by, letter.draft_at = text, services._name(user), clock.now()
    letter.save(update_fields=["draft", "draft_by", "draft_at"])
    return letter


def _with_draft(letter: Letter) -> None:
    if letter.status == S.SIGNED and not letter.draft:
        raise ServiceError("conflict", _("No draft reply is waiting for approval."))


@transaction.atomic
def approve_draft(code: str, user: User) -> Letter:
    """The coordinator sends the division's draft: from then on it is the letter's reply."""
    letter = services.locked_letter(code)
    units.require_coordinator(user, letter)
    _with_draft(letter)
    services._step(
        letter, "approve_draft", services._name(user), (S.SIGNED,), None, drafted_by=letter.draft_by
    )
    return services.reply(code, letter.draft, user)


@transaction.atomic
def return_draft(code: str, reason: object, user: User) -> Letter:
    """The coordinator sends the draft back to the division, with the reason."""
    letter = services.locked_letter(code)
    units.require_coordinator(user, letter)
    reason = services._text({"reason": reason}, "reason", services.MAX_REASON)
    _with_draft(letter)
    services._step(
        letter,
        "return_draft",
        services._name(user),
        (S.SIGNED,),
        None,
        note=reason,
        drafted_by=letter.draft_by,
        division=letter.division.code if letter.division else None,
    )
    letter.draft, letter.draft_by, letter.draft_at = "", "", None
    letter.save(update_fields=["draft", "draft_by", "draft_at"])
    return letter
