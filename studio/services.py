"""Every write of the live studio goes through one function here (PROTOCOL.md §1.3).

WebSocket consumers and HTTP views only parse input, check who is asking and call these.
"""

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core import clock
from core.clientids import check_client_id
from core.errors import ServiceError
from core.sanitize import clean_rich
from moderation.actions import mark_answered, question_for_answer  # the answered question's side
from studio import events, signals
from studio.events import locked_broadcast
from studio.models import Answer, Broadcast, BroadcastStatus, EventKind, Guest, HostMessage

MAX_ANSWER = 5000


def _rich_text(text: object, limit: int) -> str:
    if not isinstance(text, str):
        raise ServiceError("bad_frame", _("text must be a string."))
    if len(text.strip()) > limit:
        raise ServiceError("too_long", _("The text is longer than %(limit)d characters.") % {"limit": limit})
    cleaned = clean_rich(text)
    if not cleaned:
        raise ServiceError("empty")
    return cleaned


def guest_json(guest: Guest) -> dict:
    return {"name": guest.display_name, "title": guest.title}


def answer_json(answer: Answer) -> dict:
    data = {
        "id": answer.pk,
        "question_id": answer.question_id,
        "text": answer.text,
        "guest": guest_json(answer.guest),
        "answered_at": timezone.localtime(answer.answered_at).isoformat(timespec="milliseconds"),
    }
    if answer.on_air:  # only then: typed answers read exactly as before (PROTOCOL.md §4)
        data["on_air"] = True
    return data


def post_answer(broadcast_id: int, user: User, client_id: str, question_id: int | None, text: str) -> Answer:
    """A guest answers a question (or makes a statement) on air. Idempotent on client_id."""
    client_id = check_client_id(client_id)
    if question_id is not None and (not isinstance(question_id, int) or isinstance(question_id, bool)):
        raise ServiceError("bad_frame", _("question_id must be a number or null."))
    text = _rich_text(text, MAX_ANSWER)
    with transaction.atomic():
        broadcast = locked_broadcast(broadcast_id)
        existing = _answer_sent_before(broadcast, client_id)
        if existing:
            return existing
        guest = Guest.objects.filter(broadcast=broadcast, user=user).first()
        if guest is None:
            raise ServiceError("forbidden", _("Only this programme's guests can answer."))
        if broadcast.status == BroadcastStatus.ENDED:
            raise ServiceError("closed", _("The programme has ended."))
        question = question_for_answer(broadcast, question_id) if question_id is not None else None
        now = clock.now()
        answer = Answer.objects.create(
            broadcast=broadcast,
            question=question,
            guest=guest,
            client_id=client_id,
            text=text,
            answered_at=now,
        )
        answer.seq = events.append_event(broadcast.pk, EventKind.ANSWER, {"answer": answer_json(answer)}).seq
        answer.save(update_fields=["seq"])
        if question is not None:
            mark_answered(question, answer)
    return answer


def _answer_sent_before(broadcast: Broadcast, client_id: str) -> Answer | None:
    """The answer a resent frame already stored (typed and on-air answers share client_ids)."""
    return Answer.objects.filter(broadcast=broadcast, client_id=client_id).select_related("guest").first()


def post_host_message(broadcast_id: int, user: User, client_id: str, text: str) -> HostMessage:
    client_id = check_client_id(client_id)
    text = _rich_text(text, MAX_ANSWER)
    with transaction.atomic():
        broadcast = locked_broadcast(broadcast_id)
        existing = HostMessage.objects.filter(broadcast=broadcast, client_id=client_id).first()
        if existing:
            return existing
        if broadcast.host_id != user.pk:
            raise ServiceError("forbidden", _("Only this programme's host can post host messages."))
        if broadcast.status == BroadcastStatus.ENDED:
            raise ServiceError("closed", _("The programme has ended."))
        message = HostMessage.objects.create(
            broadcast=broadcast, author=user, client_id=client_id, text=text, posted_at=clock.now()
        )
        author = user.get_full_name() or user.get_username()
        data = {"message": {"id": message.pk, "text": message.text, "author": author}}
        message.seq = events.append_event(broadcast.pk, EventKind.HOST_MESSAGE, data).seq
        message.save(update_fields=["seq"])
    return message


def set_status(broadcast_id: int, user: User, status: str) -> Broadcast:
    """The host starts (scheduled → live) or ends (live → ended) the programme. Repeating is harmless."""
    with transaction.atomic():
        broadcast = locked_broadcast(broadcast_id)
        if broadcast.host_id != user.pk:
            raise ServiceError("forbidden", _("Only this programme's host can start or end it."))
        if broadcast.status == status:
            return broadcast
        allowed = {
            BroadcastStatus.LIVE: BroadcastStatus.SCHEDULED,
            BroadcastStatus.ENDED: BroadcastStatus.LIVE,
        }
        if allowed.get(status) != broadcast.status:  # type: ignore[call-overload]
            raise ServiceError(
                "conflict",
                _("A %(from)s programme cannot become %(to)s.") % {"from": broadcast.status, "to": status},
            )
        broadcast.status = status
        if status == BroadcastStatus.LIVE:
            broadcast.started_at = clock.now()
        else:
            broadcast.ended_at = clock.now()
        broadcast.save(update_fields=["status", "started_at", "ended_at"])
        events.append_event(broadcast.pk, EventKind.STATUS, {"status": status})
        notify_status(broadcast)
        if status == BroadcastStatus.ENDED:
            signals.programme_ended.send(sender=Broadcast, broadcast=broadcast)
    return broadcast


def is_guest(broadcast_id: int, user: User) -> bool:
    return Guest.objects.filter(broadcast_id=broadcast_id, user=user).exists()


def create_broadcast(**fields: object) -> Broadcast:
    """Used by `createbroadcast` and the admin's numbering: the next programme number."""
    with transaction.atomic():
        last = (
            Broadcast.objects.select_for_update().order_by("-number").values_list("number", flat=True).first()
        )
        try:
            return Broadcast.objects.create(number=(last or 0) + 1, **fields)
        except IntegrityError:
            raise ServiceError("conflict") from None


# --- the studio consoles follow the programme; answers given by voice on air ------------------

MAX_SUMMARY = 500


def status_frame(broadcast: Broadcast) -> dict:
    """The studio consoles' `status` frame (PROTOCOL.md §4): on connect and at every change."""
    return {"type": "status", "status": broadcast.status}


def notify_status(broadcast: Broadcast) -> None:
    """Every open studio console learns the new status once the change commits."""
    events.notify_staff(events.staff_group("studio", broadcast.pk), status_frame(broadcast))


def _answering_guest(broadcast: Broadcast, user: User, guest_id: object) -> Guest:
    """The guest an on-air answer is credited to: the host names any guest of the programme
    (acting as 导播), a guest only themselves (guest_id may then be left out)."""
    if guest_id is not None and (not isinstance(guest_id, int) or isinstance(guest_id, bool)):
        raise ServiceError("bad_frame", _("guest_id must be a number."))
    if broadcast.host_id == user.pk:
        if guest_id is None:
            raise ServiceError("bad_frame", _("Say which guest answered on air (guest_id)."))
        guest = Guest.objects.filter(broadcast=broadcast, pk=guest_id).first()
        if guest is None:
            raise ServiceError("bad_frame", _("guest_id is not a guest of this programme."))
        return guest
    own = Guest.objects.filter(broadcast=broadcast, user=user).first()
    if own is None:
        raise ServiceError("forbidden", _("Only this programme's host and guests can mark answers on air."))
    if guest_id is not None and guest_id != own.pk:
        raise ServiceError("forbidden", _("A guest can mark only their own answers on air."))
    return own


def post_on_air_answer(
    broadcast_id: int, user: User, client_id: str, question_id: object, summary: str, guest_id: object
) -> Answer:
    """A question answered by voice on air, recorded with a short summary that reads like a typed
    answer (public `answer.posted` with `on_air`, the question marked answered). Idempotent on
    client_id, which it shares with typed answers."""
    client_id = check_client_id(client_id)
    if not isinstance(question_id, int) or isinstance(question_id, bool):
        raise ServiceError("bad_frame", _("An answer given on air needs the question_id it answers."))
    summary = _rich_text(summary, MAX_SUMMARY)
    with transaction.atomic():
        broadcast = locked_broadcast(broadcast_id)
        existing = _answer_sent_before(broadcast, client_id)
        if existing:
            return existing
        guest = _answering_guest(broadcast, user, guest_id)
        if broadcast.status == BroadcastStatus.ENDED:
            raise ServiceError("closed", _("The programme has ended."))
        question = question_for_answer(broadcast, question_id)
        answer = Answer.objects.create(
            broadcast=broadcast,
            question=question,
            guest=guest,
            client_id=client_id,
            text=summary,
            answered_at=clock.now(),
            on_air=True,
            recorded_by=user,
        )
        answer.seq = events.append_event(broadcast.pk, EventKind.ANSWER, {"answer": answer_json(answer)}).seq
        answer.save(update_fields=["seq"])
        mark_answered(question, answer)
    return answer
