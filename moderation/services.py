"""Every write on questions goes through one function here; the live and HTTP endpoints call these."""

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from moderation.models import Question, QuestionStatus
from studio import events
from studio.errors import ServiceError
from studio.models import Answer, Broadcast, EventKind
from studio.sanitize import clean_plain, plain_to_html
from studio.services import check_client_id, locked_broadcast

MAX_QUESTION = 500
MAX_NICKNAME = 30
DEFAULT_NICKNAME = "网友"


def public_question_json(question: Question) -> dict:
    return {
        "id": question.pk,
        "text": plain_to_html(question.text),
        "nickname": plain_to_html(question.nickname),
        "asked_at": timezone.localtime(question.asked_at).isoformat(timespec="milliseconds"),
    }


def staff_question_json(question: Question) -> dict:
    return {
        **public_question_json(question),
        "status": question.status,
        "flags": question.flags,
        "original_text": plain_to_html(question.original_text),
    }


def _my_question(question: Question) -> None:
    if question.netizen_key:
        frame = {"type": "my_question", "question_id": question.pk, "status": question.status}
        if question.reason:
            frame["reason"] = question.reason
        events.publish_after_commit(events.asker_room(question.netizen_key), frame)


def ask_question(
    broadcast_id: int,
    client_id: object,
    text: object,
    nickname: object,
    netizen_key: str,
    client_ip: str | None,
) -> tuple[Question, bool]:
    """Store a netizen's question (before anyone acknowledges it). Idempotent on client_id.

    Returns the question and whether it was new.
    """
    client_id = check_client_id(client_id)
    if not isinstance(text, str):
        raise ServiceError("bad_frame", _("text must be a string."))
    if nickname is None:
        nickname = ""
    if not isinstance(nickname, str):
        raise ServiceError("bad_frame", _("nickname must be a string."))
    text = clean_plain(text)
    if not text:
        raise ServiceError("empty", _("Please write your question."))
    if len(text) > MAX_QUESTION:
        raise ServiceError(
            "too_long", _("A question has at most %(limit)d characters.") % {"limit": MAX_QUESTION}
        )
    nickname = clean_plain(nickname).replace("\n", " ") or DEFAULT_NICKNAME
    if len(nickname) > MAX_NICKNAME:
        raise ServiceError(
            "too_long", _("A nickname has at most %(limit)d characters.") % {"limit": MAX_NICKNAME}
        )

    with transaction.atomic():
        # The lock orders this ask against "end", so no question slips in after the end.
        broadcast = locked_broadcast(broadcast_id)
        existing = Question.objects.filter(broadcast=broadcast, client_id=client_id).first()
        if existing:
            return existing, False
        if not broadcast.takes_questions:
            raise ServiceError("closed")
        question = Question.objects.create(
            broadcast=broadcast,
            client_id=client_id,
            text=text,
            original_text=text,
            nickname=nickname,
            netizen_key=netizen_key[:64],
            client_ip=client_ip,
            asked_at=timezone.now(),
        )
        events.notify_staff(
            events.staff_group("moderate", broadcast.pk),
            {"type": "question.new", "question": staff_question_json(question)},
        )
    return question, True


def _locked_question(broadcast: Broadcast, question_id: object) -> Question:
    if not isinstance(question_id, int) or isinstance(question_id, bool):
        raise ServiceError("bad_frame", _("question_id must be a number."))
    question = Question.objects.select_for_update().filter(broadcast=broadcast, pk=question_id).first()
    if question is None:
        raise ServiceError("not_found", _("No such question in this programme."))
    return question


def approve_question(broadcast_id: int, question_id: object, publish: bool, by: str = "") -> Question:
    """Send a waiting question to the guests' queue; with `publish`, also show it to viewers."""
    with transaction.atomic():
        broadcast = locked_broadcast(broadcast_id)
        question = _locked_question(broadcast, question_id)
        if question.status != QuestionStatus.PENDING:
            raise ServiceError("conflict")
        question.status = QuestionStatus.APPROVED
        if publish:
            event = events.append_event(
                broadcast.pk, EventKind.QUESTION, {"question": public_question_json(question)}
            )
            question.published_seq = event.seq
        question.save(update_fields=["status", "published_seq"])
        events.notify_staff(
            events.staff_group("studio", broadcast.pk),
            {"type": "question.approved", "question": staff_question_json(question)},
        )
        events.notify_staff(
            events.staff_group("moderate", broadcast.pk),
            {"type": "question.updated", "question": staff_question_json(question), "by": by},
        )
        _my_question(question)
    return question


def reject_question(broadcast_id: int, question_id: object, reason: object, by: str = "") -> Question:
    if not isinstance(reason, str):
        raise ServiceError("bad_frame", _("reason must be a string."))
    with transaction.atomic():
        broadcast = locked_broadcast(broadcast_id)
        question = _locked_question(broadcast, question_id)
        if question.status != QuestionStatus.PENDING:
            raise ServiceError("conflict")
        question.status = QuestionStatus.REJECTED
        question.reason = clean_plain(reason)[:200]
        question.save(update_fields=["status", "reason"])
        events.notify_staff(
            events.staff_group("moderate", broadcast.pk),
            {"type": "question.updated", "question": staff_question_json(question), "by": by},
        )
        _my_question(question)
    return question


def question_for_answer(broadcast: Broadcast, question_id: int) -> Question:
    """The approved question a guest is answering (called inside the answer's transaction)."""
    question = _locked_question(broadcast, question_id)
    if question.status not in (QuestionStatus.APPROVED, QuestionStatus.ANSWERED):
        raise ServiceError("conflict", _("Only approved questions can be answered."))
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
    _my_question(question)


def studio_queue(broadcast_id: int) -> list[dict]:
    """Approved questions no guest has answered yet, oldest first."""
    questions = Question.objects.filter(broadcast_id=broadcast_id, status=QuestionStatus.APPROVED)
    return [staff_question_json(q) for q in questions]


def my_questions(broadcast_id: int, netizen_key: str) -> list[dict]:
    questions = Question.objects.filter(broadcast_id=broadcast_id, netizen_key=netizen_key)
    return [
        {"question_id": q.pk, "status": q.status, "text": plain_to_html(q.text), "reason": q.reason}
        for q in questions
    ]
