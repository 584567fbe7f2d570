"""Letters taken by phone (the seed: "只要有上网或电话条件, 便可…发信"): an operator types the caller's
letter in, reads the code and key back to the caller, and, once the letter is replied, calls the
caller back (回访) and records the rating given on the phone.

A phone letter is a letter like any other (letters.services.submit, with channel "phone"): its
contact is private in the same ways, and it goes through the same steps.
"""

from django.contrib.auth.models import User
from django.db import transaction
from django.utils.translation import gettext as _

from core import clock
from core.errors import ServiceError
from letters import services
from letters.models import Channel, Closure, Letter, LetterStatus, Rating

S = LetterStatus


def take(data: dict, idempotency_key: str | None, user: User) -> tuple[dict, bool]:
    """An operator records a letter taken on the phone. The caller must have agreed to the privacy
    notice the operator read out (`consent: true`), since the operator types in their contact.
    A repeat with the same idempotency key by the same operator stores nothing (services.submit)."""
    services._require(user, "operator")
    if not isinstance(data, dict):
        raise ServiceError("bad_request", _("The body must be a JSON object."))
    if data.get("consent") is not True:
        raise ServiceError(
            "bad_request",
            _("Read the privacy notice to the caller; a letter is taken only if they agree."),
            {"consent": "required"},
        )
    username = services._name(user)
    answer, created = services.submit(
        data, idempotency_key, client="operator:" + username, channel=Channel.PHONE, by=username
    )
    return {**answer, "channel": Channel.PHONE}, created


@transaction.atomic
def callback(code: str, rating: object, comment: object, user: User) -> Letter:
    """回访: an operator calls the writer of a replied phone letter and records their rating, which
    closes the letter as a writer's own rating does."""
    services._require(user, "operator")
    letter = services.locked_letter(code)
    if letter.channel != Channel.PHONE:
        raise ServiceError(
            "conflict", _("Only a letter taken by phone is rated by a call back; its writer rates it.")
        )
    if rating not in Rating.values:
        raise ServiceError(
            "bad_request",
            _("rating must be one of %(ratings)s.") % {"ratings": ", ".join(Rating.values)},
            {"rating": "unknown"},
        )
    comment = services._text({"comment": comment}, "comment", services.MAX_COMMENT, required=False)
    services._step(
        letter, "callback", services._name(user), (S.REPLIED,), S.CLOSED, note=comment, rating=rating
    )
    letter.rating, letter.rating_comment, letter.closed_at = str(rating), comment, clock.now()
    letter.closure = Closure.RATED  # closed with the writer's rating, as evaluate() closes it
    letter.save()
    return letter
