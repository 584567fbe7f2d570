"""件件有着落: when a programme ends, every approved question no guest answered becomes a public
consultation letter to the programme's department, so that every question gets an answer."""

from typing import Any

from archive.models import QuestionLetter
from core.privacy import mask_personal_data
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
        # The subject is cut from the masked text: cut first, half a phone number would escape the
        # mask. The body keeps what the netizen wrote (as moderated) for the department; the public
        # reads it masked like every letter (Letter.public_body).
        public = mask_personal_data(question.text)
        letter = submit_forwarded(
            kind="consultation",
            subject=public[:30] + ("…" if len(public) > 30 else ""),
            body=f"{question.text}\n\n（第{broadcast.number}期走进直播间「{broadcast.title}」中未及回答的网友提问）",
            name=mask_personal_data(question.nickname),
            department=broadcast.department,
            by=BY,
            netizen_key=question.netizen_key,
        )
        QuestionLetter.objects.create(question=question, letter=letter)
        created += 1
    return created
