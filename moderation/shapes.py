"""What each reader sees of a question: viewers, staff consoles and the netizen who asked.

The lists the consoles and the asker load are here too, so that one question has one shape per
reader wherever it comes from (a pushed frame, a queue on connect, the "my questions" page).
"""

from django.utils import timezone

from core.privacy import mask_personal_data
from core.sanitize import plain_to_html
from moderation.models import Question, QuestionStatus


def public_question_json(question: Question) -> dict:
    """What viewers see: the question as moderated, escaped, personal data masked (in the nickname too)."""
    return {
        "id": question.pk,
        "text": plain_to_html(mask_personal_data(question.text)),
        "nickname": plain_to_html(mask_personal_data(question.nickname)),
        "asked_at": timezone.localtime(question.asked_at).isoformat(timespec="milliseconds"),
    }


def staff_question_json(question: Question) -> dict:
    """What moderators and guests see: the text as moderated, the original, flags and hints."""
    return {
        "id": question.pk,
        "text": plain_to_html(question.text),
        "nickname": plain_to_html(question.nickname),
        "asked_at": timezone.localtime(question.asked_at).isoformat(timespec="milliseconds"),
        "status": question.status,
        "flags": question.flags,
        "original_text": plain_to_html(question.original_text),
        "similar": question.similar,
        "support": question.support_count,
        "published": question.published_seq is not None,
        "merged_into": question.merged_into_id,
        "reason": question.reason,
    }


def my_question_frame(question: Question) -> dict:
    """The `my_question` frame that tells the netizen who asked what became of the question."""
    frame = {"type": "my_question", "question_id": question.pk, "status": question.status}
    if question.reason:
        frame["reason"] = question.reason
    if question.merged_into_id:
        frame["merged_into"] = question.merged_into_id
    return frame


def studio_queue(broadcast_id: int) -> list[dict]:
    """Approved questions no guest has answered yet, oldest first."""
    questions = Question.objects.filter(broadcast_id=broadcast_id, status=QuestionStatus.APPROVED)
    return [staff_question_json(q) for q in questions]


def moderation_queue(broadcast_id: int) -> list[dict]:
    """Questions still waiting for a moderator, oldest first."""
    questions = Question.objects.filter(broadcast_id=broadcast_id, status=QuestionStatus.PENDING)
    return [staff_question_json(q) for q in questions]


def my_questions(broadcast_id: int, netizen_key: str) -> list[dict]:
    """The questions one netizen asked in a programme, as that netizen sees them."""
    questions = Question.objects.filter(broadcast_id=broadcast_id, netizen_key=netizen_key)
    return [
        {"question_id": q.pk, "status": q.status, "text": plain_to_html(q.text), "reason": q.reason}
        for q in questions
    ]
