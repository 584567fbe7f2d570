"""附议: a netizen supports a published question, once (PROTOCOL.md §4).

The counts reach viewers and consoles in batches: at most one frame per programme per second per
process, never one per support, and never stored in the event log.
"""

import asyncio
import contextvars
import logging

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from core import ratelimit
from core.errors import ServiceError
from core.loops import PerLoop
from moderation.models import Question, Support
from studio import events

log = logging.getLogger(__name__)
BATCH_SECONDS = 1.0


def support_question(
    broadcast_id: int, question_id: object, netizen_key: str, client_ip: str | None = None
) -> int:
    """附议: a netizen supports a published question, once. Returns the new count.

    A netizen without a session cookie is a new one on every socket, so supports are also
    limited per client address, overall and per question (issue #13: one address inflated a
    question's count without limit). After the programme has ended the count is final.
    """
    if not isinstance(question_id, int) or isinstance(question_id, bool):
        raise ServiceError("bad_frame", _("question_id must be a number."))
    question = (
        Question.objects.select_related("broadcast").filter(broadcast_id=broadcast_id, pk=question_id).first()
    )
    if question is None or question.published_seq is None:
        raise ServiceError("not_found", _("Only published questions can be supported."))
    if not question.broadcast.takes_questions:
        raise ServiceError("closed", _("The programme has ended; its questions can no longer be supported."))
    if Support.objects.filter(question=question, netizen_key=netizen_key).exists():
        return question.support_count
    hits: list[tuple[str, str, ratelimit.Limits]] = [
        ("support", netizen_key, settings.MINXIN_SUPPORT_LIMITS_PER_NETIZEN)
    ]
    address = ratelimit.address_key(client_ip)
    if address is not None:
        hits.append(("support-ip", address, settings.MINXIN_SUPPORT_LIMITS_PER_ADDRESS))
        hits.append(
            (
                "support-ip-q",
                f"{address}:{question.pk}",
                settings.MINXIN_SUPPORT_LIMITS_PER_ADDRESS_AND_QUESTION,
            )
        )
    waits = [wait for wait in ratelimit.hit_many(hits) if wait is not None]
    if waits:
        raise ServiceError("rate_limited", retry_after=max(waits))
    # No lock on the programme here: supports pour in during a programme, and the event log's
    # appends take that lock. A support that races the end by milliseconds counts as before it.
    with transaction.atomic():
        _support, created = Support.objects.get_or_create(
            question=question, netizen_key=netizen_key, defaults={"at": timezone.now()}
        )
        if created:
            Question.objects.filter(pk=question.pk).update(support_count=F("support_count") + 1)
    return Question.objects.values_list("support_count", flat=True).get(pk=question.pk)


def support_counts(question_ids: list[int]) -> dict[str, int]:
    return {
        str(pk): n
        for pk, n in Question.objects.filter(pk__in=question_ids).values_list("pk", "support_count")
    }


class SupportBatcher:
    def __init__(self) -> None:
        self.dirty: dict[int, set[int]] = {}
        self.task: asyncio.Task | None = None

    def add(self, broadcast_id: int, question_id: int) -> None:
        self.dirty.setdefault(broadcast_id, set()).add(question_id)
        if self.task is None or self.task.done():
            # Shared by every supporter: an empty log context, not this connection's id.
            self.task = asyncio.get_running_loop().create_task(
                self._flush_soon(), context=contextvars.Context()
            )

    async def _flush_soon(self) -> None:
        await asyncio.sleep(BATCH_SECONDS)
        dirty, self.dirty = self.dirty, {}
        for broadcast_id, question_ids in dirty.items():
            try:
                await self.flush(broadcast_id, sorted(question_ids))
            except Exception:
                log.exception("support counts for programme %s were not sent", broadcast_id)

    async def flush(self, broadcast_id: int, question_ids: list[int]) -> None:
        counts = await database_sync_to_async(support_counts)(question_ids)
        await events.publish_unlogged(broadcast_id, {"type": "support", "counts": counts})


_batchers: PerLoop[SupportBatcher] = PerLoop(SupportBatcher)


def batcher() -> SupportBatcher:
    return _batchers.get()
