"""Personal information as China's PIPL expects it (README "Personal information", PROTOCOL.md §4).

- Consent: letters.services.submit stores when the writer agreed to the notice
  (templates/_privacy_notice.html), and refuses a letter whose writer said no.
- Retention: a writer's name and contact are kept MINXIN_CONTACT_RETENTION_DAYS after the letter
  closed (or after the reply, for a letter its writer never rated), then `erase_expired` (the
  clock's `erasecontacts`) blanks them. The letter stays: department, kind, status, dates, rating.
- Erasure on request: with the letter's code and key, `erase_by_writer` blanks the name and contact
  and masks personal data in what the writer wrote (subject, body, rating comment), in storage.
- Access audit: staff see a contact only through `open_contact` (or in the staff JSON of the API),
  and each time it is recorded in ContactAccess: who, when, which letter, by which way.
"""

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from core import clock
from core.errors import ServiceError

# The one detector of phone, ID and e-mail numbers; a pure function with no models behind it.
from core.privacy import mask_personal_data
from departments.roles import has_role
from letters.models import Closure, ContactAccess, Erasure, Letter, LetterLog, LetterStatus
from letters.services import check_key, locked_letter
from letters.units import sees_letter

S = LetterStatus
BATCH = 1000
ERASED_NAME = "***"  # what replaces the writer's own name where the text repeats it


# --- access audit ------------------------------------------------------------------------------


def _role(user: Any) -> str:
    return next(
        (role for role in ("supervisor", "operator", "coordinator", "handler") if has_role(user, role)), ""
    )


def record_access(letters: Iterable[Letter], user: Any, via: str) -> None:
    """Note that `user` was shown the writer's name and contact of each of `letters`."""
    now, by, role = clock.now(), user.get_username(), _role(user)
    ContactAccess.objects.bulk_create(
        [ContactAccess(letter=letter, at=now, by=by, role=role, via=via) for letter in letters]
    )


@transaction.atomic
def open_contact(code: object, user: Any, via: str = ContactAccess.Via.PAGE) -> Letter:
    """A staff member opens a writer's contact ("查看联系方式"): allowed to the letter's department's
    coordinator and handlers (in a unit with divisions, the handlers of the letter's division only),
    operators and supervisors, as the rest of the letter; every opening is recorded."""
    letter = locked_letter(code)
    if not sees_letter(user, letter):
        raise ServiceError(
            "forbidden", _("Only the letter's department, operators and supervisors may see this.")
        )
    record_access([letter], user, via)
    return letter


def may_read_access_log(user: Any) -> bool:
    return has_role(user, "supervisor")


# --- retention ---------------------------------------------------------------------------------


def retention_cutoff(now: dt.datetime) -> dt.datetime:
    return now - dt.timedelta(days=settings.MINXIN_CONTACT_RETENTION_DAYS)


def erase_expired(now: dt.datetime | None = None) -> int:
    """Blank the name and contact of letters closed (or replied to and never rated) more than the
    retention period ago; log it on each letter. Returns how many letters were erased."""
    now = now or clock.now()
    cutoff = retention_cutoff(now)
    due = Letter.objects.filter(contact_erased_at__isnull=True).filter(
        Q(status=S.CLOSED, closed_at__lte=cutoff)
        | Q(status=S.REPLIED, replied_at__lte=cutoff)
        # Closed by the clock without a rating: still counted from the reply, as before it closed.
        | Q(status=S.CLOSED, closure=Closure.UNRATED, replied_at__lte=cutoff)
    )
    erased = 0
    while True:
        with transaction.atomic():
            batch = list(due.select_for_update(skip_locked=True).values_list("pk", "status")[:BATCH])
            if not batch:
                return erased
            Letter.objects.filter(pk__in=[pk for pk, _status in batch]).update(
                name="", contact="", contact_erased_at=now, erasure=Erasure.RETENTION
            )
            LetterLog.objects.bulk_create(
                [
                    LetterLog(
                        letter_id=pk,
                        at=now,
                        action="erase_contact",
                        from_status=status,
                        to_status=status,
                        note="retention",
                        data={"days": settings.MINXIN_CONTACT_RETENTION_DAYS},
                    )
                    for pk, status in batch
                ]
            )
        erased += len(batch)


# --- erasure on the writer's request -----------------------------------------------------------


def _masked(text: str, name: str, contact: str, *, numbers: bool = True) -> str:
    """`text` without the writer's own name and contact, and (with `numbers`) with every phone,
    ID number and e-mail address masked as on the public pages."""
    if contact:
        text = text.replace(contact, ERASED_NAME)
    if len(name) >= 2:  # a one-character "name" would blank that character everywhere
        text = text.replace(name, ERASED_NAME)
    return mask_personal_data(text) if numbers else text


@transaction.atomic
def erase_by_writer(code: object, key: object) -> Letter:
    """The writer asks for the letter's personal data to be erased (PIPL art. 47). With the right key:
    name and contact blanked; phone, ID and e-mail numbers and the writer's name masked in the
    subject, body and rating comment, and the name and contact in the department's reply. Kept for the
    statistics: department, kind, status, dates, deadlines, rating. Repeating it changes nothing."""
    letter = locked_letter(code)
    if not check_key(letter, key):
        # As for a look-up or a rating: the same answer as for a code that does not exist.
        raise ServiceError("not_found", _("No such letter."))
    if letter.erasure == Erasure.WRITER:
        return letter
    name, contact = letter.name, letter.contact
    letter.subject = _masked(letter.subject, name, contact)
    letter.body = _masked(letter.body, name, contact)
    letter.rating_comment = _masked(letter.rating_comment, name, contact)
    # The reply keeps the department's own numbers (a hotline to call is not the writer's data).
    letter.reply = _masked(letter.reply, name, contact, numbers=False)
    for entry in letter.log.filter(action__in=["evaluate", "callback"]):  # the rating comment is logged too
        entry.note = _masked(entry.note, name, contact)
        entry.save(update_fields=["note"])
    now = clock.now()
    letter.name = letter.contact = ""
    letter.contact_erased_at, letter.erasure = now, Erasure.WRITER
    letter.save()
    LetterLog.objects.create(
        letter=letter,
        at=now,
        action="erase_personal_data",
        from_status=letter.status,
        to_status=letter.status,
        note="writer",
    )
    return letter
