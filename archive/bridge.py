"""件件有着落: when a programme ends, every approved question no guest answered becomes a public
consultation letter to the programme's department, so that every question gets an answer."""

from typing import Any

from archive.models import QuestionLetter
from letters.services import submit_forwarded
from moderation.models import Question, QuestionStatus
from studio.models import Broadcast

BY = "走进直播间"


def letters_for_unanswered(broadcast: Broadcast, **kwargs: Any) -> int:
    """Receiver of studio.signals.programme_ended; runs inside the transaction that ends it."""
    created = 0
    waiting = Question.objects.filter(
        broadcast=broadcast, status=QuestionStatus.APPROVED, letter_link__isnull=True
    )
    for question in waiting:
        letter = submit_forwarded(
            kind="consultation",
            subject=question.text[:30] + ("…" if len(question.text) > 30 else ""),
            body=f"{question.text}\n\n（第{broadcast.number}期走进直播间「{broadcast.title}」中未及回答的网友提问）",
            name=question.nickname,
            department=broadcast.department,
            by=BY,
        )
        QuestionLetter.objects.create(question=question, letter=letter)
        created += 1
    return created
