"""The operator page's phone forms (letters/pages.py:operator renders them): take a letter by phone,
open a caller's contact to call back, and record the 回访 call's rating. Every write goes through
letters.phone and letters.privacy; this module only reads the form and says what the page shows."""

import uuid
from typing import Any

from django.utils.translation import gettext as _

from departments.models import LetterKind
from letters import phone, privacy, services
from letters.models import Channel, Letter, LetterStatus, Rating

FIELDS = ("kind", "subject", "body", "name", "contact")


def context() -> dict:
    """What the forms need, with a fresh id that makes a resent form store one letter."""
    return {
        # Replied phone letters: their writers wait for the 回访 call that records the rating.
        "callbacks": Letter.objects.filter(channel=Channel.PHONE, status=LetterStatus.REPLIED)
        .select_related("department")
        .order_by("replied_at", "id"),
        "ratings": Rating.choices,
        "kinds": LetterKind.choices,
        "limits": {"subject": services.MAX_SUBJECT, "body": services.MAX_BODY}
        | {"name": services.MAX_NAME, "contact": services.MAX_CONTACT, "comment": services.MAX_COMMENT},
        "phone_client_id": uuid.uuid4().hex,
    }


def post(form: Any, action: str, user: Any) -> dict:
    """Take the form's step; what the page adds to its context ("done": a message, then redirect).
    A refusal is the service's ServiceError."""
    code = form.get("code", "")
    if action == "phone":
        data: dict[str, object] = {name: form.get(name, "") for name in FIELDS}
        data |= {"public": form.get("public") == "on", "consent": form.get("consent") == "on"}
        taken, _created = phone.take(data, form.get("client_id") or None, user)
        return {"taken": taken}  # shown once: the key is not kept
    if action == "callback":
        phone.callback(code, form.get("rating"), form.get("comment", ""), user)
        return {"done": _("The caller's rating of letter %(code)s was recorded.") % {"code": code}}
    return {"revealed": privacy.open_contact(code, user)}


def refused(form: Any, action: str) -> dict:
    """After a refusal: the typed form again, with the same id (a retry stores one letter)."""
    again = {"failed_action": action, "failed_code": form.get("code", ""), "typed": form}
    if action == "phone" and form.get("client_id"):
        again["phone_client_id"] = form["client_id"]
    return again
