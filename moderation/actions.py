"""What moderators do to questions (approve, reject, merge, edit, withdraw), each written to the
audit trail, and the question's side of a guest's answer.

Each action locks the programme row and then the question row and checks its status, so when two
moderators act on one question the first wins and the second gets `conflict`. Every change tells
the other consoles, and the netizen who asked when the status changed.
"""

from django.db import transaction
from django.utils.translation import gettext as _

from core import clock
from core.errors import ServiceError
from core.sanitize import clean_plain
from moderation import screening
from moderation.asking import check_text
from moderation.models import ModerationAction, Question, QuestionStatus
from moderation.shapes import my_question_frame, public_question_json, staff_question_json
from studio import events, signals
from studio.events import locked_broadcast
from studio.models import Answer, Broadcast, BroadcastStatus, Event, EventKind

MAX_REASON = 200


def approve_question(broadcast_id: int, question_id: object, publish: bool, by: str = "") -> Question:
    """Send a waiting question to the guests' queue; with `publish`, also show it to viewers."""
    if not isinstance(publish, bool):
        raise ServiceError("bad_frame", _("publish must be true or false."))
    with transaction.atomic():
        broadcast = locked_broadcast(broadcast_id)
        ended = broadcast.status == BroadcastStatus.ENDED
        if ended and publish:
            raise ServiceError("closed")  # nothing joins the public log after the end
        question, before = _pending(broadcast, question_id)
        question.status = QuestionStatus.APPROVED
        if publish:
            _publish(broadcast, question)
        question.save(update_fields=["status", "published_seq"])
        events.notify_staff(
            events.staff_group("studio", broadcast.pk),
            {"type": "question.approved", "question": staff_question_json(question)},
        )
        _moderated(broadcast, question, "approve_publish" if publish else "approve", by, before)
        if ended:
            # Screened after the end: no guest will answer it on air, so, like every approved
            # question left unanswered at the end, it becomes a letter (the archive's receiver).
            signals.approved_after_end.send(sender=Broadcast, broadcast=broadcast)
    return question


def reject_question(broadcast_id: int, question_id: object, reason: object, by: str = "") -> Question:
    if not isinstance(reason, str):
        raise ServiceError("bad_frame", _("reason must be a string."))
    reason = clean_plain(reason).replace("\n", " ")
    if len(reason) > MAX_REASON:
        raise ServiceError(
            "too_long", _("A reason has at most %(limit)d characters.") % {"limit": MAX_REASON}
        )
    with transaction.atomic():
        broadcast = locked_broadcast(broadcast_id)
        question, before = _pending(broadcast, question_id)
        question.status = QuestionStatus.REJECTED
        question.reason = reason
        question.save(update_fields=["status", "reason"])
        _moderated(broadcast, question, "reject", by, before)
    return question


def merge_question(broadcast_id: int, question_id: object, into: object, by: str = "") -> Question:
    """Mark a waiting question as a duplicate of another question of the same programme."""
    with transaction.atomic():
        broadcast = locked_broadcast(broadcast_id)
        question, before = _pending(broadcast, question_id)
        target = _locked_question(broadcast, into)
        if target.pk == question.pk:
            raise ServiceError("bad_frame", _("A question cannot be merged into itself."))
        if target.status in (QuestionStatus.MERGED, QuestionStatus.REJECTED):
            raise ServiceError("conflict", _("The target question was itself merged or rejected."))
        question.status = QuestionStatus.MERGED
        question.merged_into = target
        question.save(update_fields=["status", "merged_into"])
        _moderated(broadcast, question, "merge", by, before)
    return question


def edit_question(broadcast_id: int, question_id: object, text: object, by: str = "") -> Question:
    """Correct a waiting question's text (e.g. remove a phone number); the original stays on record."""
    text = check_text(text)
    with transaction.atomic():
        broadcast = locked_broadcast(broadcast_id)
        question, before = _pending(broadcast, question_id)
        question.text = text
        found = screening.screen(text, screening.current_matcher())
        question.flags = found.flags
        question.save(update_fields=["text", "flags"])
        _moderated(broadcast, question, "edit", by, before)
    return question


def withdraw_event(broadcast_id: int, seq: object, by: str = "") -> Event:
    """Take down an earlier public event; live pages remove it and replays hide it."""
    if not isinstance(seq, int) or isinstance(seq, bool):
        raise ServiceError("bad_frame", _("seq must be a number."))
    with transaction.atomic():
        broadcast = locked_broadcast(broadcast_id)
        target = Event.objects.filter(broadcast=broadcast, seq=seq).first()
        if target is None:
            raise ServiceError("not_found", _("No such event in this programme."))
        if target.kind in (EventKind.WITHDRAWN, EventKind.STATUS):
            raise ServiceError("bad_frame", _("This kind of event cannot be withdrawn."))
        if Event.objects.filter(broadcast=broadcast, kind=EventKind.WITHDRAWN, data__seq=seq).exists():
            raise ServiceError("conflict", _("That event was already withdrawn."))
        event = events.append_event(broadcast.pk, EventKind.WITHDRAWN, {"seq": seq})
        question = Question.objects.filter(broadcast=broadcast, published_seq=seq).first()
        _audit(
            broadcast,
            question,
            "withdraw",
            by,
            {"seq": seq, "kind": target.kind},
            {"withdrawn_by_seq": event.seq},
        )
    return event


# --- the question's side of a guest's answer (studio/services.py:post_answer) ----------------------


def question_for_answer(broadcast: Broadcast, question_id: int) -> Question:
    """The approved question a guest is answering (called inside the answer's transaction, right
    before the answer's event is appended).

    A moderator may approve a question for the guests without showing it to viewers; once a guest
    answers it, its public text joins the log just before the answer, so that no answer stands alone
    on the viewers' pages as if it answered the question above it.
    """
    question = _locked_question(broadcast, question_id)
    if question.status not in (QuestionStatus.APPROVED, QuestionStatus.ANSWERED):
        raise ServiceError("conflict", _("Only approved questions can be answered."))
    if question.published_seq is None:
        _publish(broadcast, question)
        question.save(update_fields=["published_seq"])
    return question


def mark_answered(question: Question, answer: Answer) -> None:
    if question.status == QuestionStatus.ANSWERED:
        return
    question.status = QuestionStatus.ANSWERED
    question.save(update_fields=["status"])
    # Every console drops it from its queue (an addition to PROTOCOL.md §1.3).
    events.notify_staff(
        events.staff_group("studio", question.broadcast_id),
        {"type": "question.answered", "question_id": question.pk, "answer_id": answer.pk},
    )
    events.notify_staff(
        events.staff_group("moderate", question.broadcast_id),
        {"type": "question.updated", "question": staff_question_json(question), "by": ""},
    )
    _tell_asker(question)


# --- shared by the actions ------------------------------------------------------------------------


def _locked_question(broadcast: Broadcast, question_id: object) -> Question:
    if not isinstance(question_id, int) or isinstance(question_id, bool):
        raise ServiceError("bad_frame", _("question_id must be a number."))
    question = Question.objects.select_for_update().filter(broadcast=broadcast, pk=question_id).first()
    if question is None:
        raise ServiceError("not_found", _("No such question in this programme."))
    return question


def _publish(broadcast: Broadcast, question: Question) -> None:
    """Show a question to viewers: its public text (masked by core/privacy.py) joins the log."""
    event = events.append_event(
        broadcast.pk, EventKind.QUESTION, {"question": public_question_json(question)}
    )
    question.published_seq = event.seq


def _pending(broadcast: Broadcast, question_id: object) -> tuple[Question, dict]:
    """The waiting question, locked, and its state before the action (for the audit trail)."""
    question = _locked_question(broadcast, question_id)
    if question.status != QuestionStatus.PENDING:
        raise ServiceError("conflict")
    return question, _snapshot(question)


def _moderated(broadcast: Broadcast, question: Question, action: str, by: str, before: dict) -> None:
    """After a moderator changed a question: audit, tell the other moderators and the netizen."""
    _audit(broadcast, question, action, by, before, _snapshot(question))
    events.notify_staff(
        events.staff_group("moderate", broadcast.pk),
        {"type": "question.updated", "question": staff_question_json(question), "by": by},
    )
    if question.status != before["status"]:  # an edit changes no status: nothing to tell the netizen
        _tell_asker(question)


def _tell_asker(question: Question) -> None:
    if question.netizen_key:
        events.publish_after_commit(events.asker_room(question.netizen_key), my_question_frame(question))


def _snapshot(question: Question) -> dict:
    return {
        "status": question.status,
        "text": question.text,
        "reason": question.reason,
        "merged_into": question.merged_into_id,
        "published_seq": question.published_seq,
    }


def _audit(
    broadcast: Broadcast, question: Question | None, action: str, by: str, before: dict, after: dict
) -> None:
    ModerationAction.objects.create(
        broadcast=broadcast,
        question=question,
        action=action,
        by=by,
        at=clock.now(),
        before=before,
        after=after,
    )
