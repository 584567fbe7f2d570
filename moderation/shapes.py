"""What each reader sees of a question: viewers, staff consoles and the netizen who asked.

The lists the consoles and the asker load are here too, so that one question has one shape per
reader wherever it comes from (a pushed frame, a queue on connect, the "my questions" page).
"""

from django.utils import timezone

from core.privacy import mask_personal_data
from core.sanitize import plain_to_html
from moderation.models import Question, QuestionStatus
from studio.eventsource import event_frame
from studio.models import Event, EventKind

PUBLIC_LIST_LIMIT = 200  # the moderators' list of what is public: the most recent, a programme's worth
WITHDRAWABLE = (EventKind.QUESTION, EventKind.ANSWER, EventKind.HOST_MESSAGE)


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


def public_frame(broadcast_id: int) -> dict:
    """The `public` frame a moderator console gets on connect (PROTOCOL.md §4): what viewers see now
    and a moderator may withdraw — the most recent public events not withdrawn, oldest first — and the
    附议 counts of the questions among them (later counts come in `support` frames)."""
    log = Event.objects.filter(broadcast_id=broadcast_id)
    withdrawn = {int(seq) for seq in log.filter(kind=EventKind.WITHDRAWN).values_list("data__seq", flat=True)}
    shown = list(
        log.filter(kind__in=WITHDRAWABLE).exclude(seq__in=withdrawn).order_by("-seq")[:PUBLIC_LIST_LIMIT]
    )
    shown.reverse()
    question_ids = [e.data["question"]["id"] for e in shown if e.kind == EventKind.QUESTION]
    supported = Question.objects.filter(pk__in=question_ids, support_count__gt=0)
    return {
        "type": "public",
        "events": [event_frame(e) for e in shown],
        "support": {str(pk): n for pk, n in supported.values_list("pk", "support_count")},
    }
