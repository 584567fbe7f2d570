"""附议: a netizen supports a published question, once (PROTOCOL.md §4).

The counts reach viewers and consoles in batches: at most one frame per programme per second per
process, never one per support, and never stored in the event log.
"""

import asyncio
import contextvars
import logging

from channels.db import database_sync_to_async
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import F
from django.utils.translation import gettext as _

from core import clock, ratelimit
from core.errors import ServiceError
from core.loops import PerLoop
from moderation.models import Question, Support
from studio import events
from studio.models import Broadcast, Event, EventKind

log = logging.getLogger(__name__)
BATCH_SECONDS = 1.0
# Every viewer reads the counts when the live page loads: a short cache spares the database a
# burst of identical queries when a popular programme's page is opened by thousands at once.
COUNTS_SECONDS = 5


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
            question=question, netizen_key=netizen_key, defaults={"at": clock.now()}
        )
        if created:
            Question.objects.filter(pk=question.pk).update(support_count=F("support_count") + 1)
    if created:
        # Committed: a netizen who reloads right after supporting must see its own support counted.
        cache.delete(_counts_key(broadcast_id))
    return Question.objects.values_list("support_count", flat=True).get(pk=question.pk)


def support_counts(question_ids: list[int]) -> dict[str, int]:
    return {
        str(pk): n
        for pk, n in Question.objects.filter(pk__in=question_ids).values_list("pk", "support_count")
    }


def _counts_key(broadcast_id: int) -> str:
    return f"minxin:support-counts:{broadcast_id}"


def public_counts(broadcast_id: int) -> dict[str, int] | None:
    """The 附议 counts of a programme's questions on viewers' screens (published, not withdrawn;
    questions nobody supported are left out), or None for a programme that does not exist."""

    def shown() -> dict[str, int] | None:
        if not Broadcast.objects.filter(pk=broadcast_id).exists():
            return None
        withdrawn = Event.objects.filter(broadcast_id=broadcast_id, kind=EventKind.WITHDRAWN).values_list(
            "data__seq", flat=True
        )
        shown = Question.objects.filter(
            broadcast_id=broadcast_id, published_seq__isnull=False, support_count__gt=0
        ).exclude(published_seq__in=[seq for seq in withdrawn if isinstance(seq, int)])
        return {str(pk): n for pk, n in shown.values_list("pk", "support_count")}

    return clock.cached(_counts_key(broadcast_id), COUNTS_SECONDS, shown)


def supported_by(counts: dict[str, int], netizen_key: str) -> list[int]:
    """Which of these questions the netizen supported. Every one of them has a count, so looking
    only among the counted ones finds them all, by the (question, netizen) unique index."""
    if not counts:
        return []
    ids = [int(pk) for pk in counts]
    return sorted(
        Support.objects.filter(question_id__in=ids, netizen_key=netizen_key).values_list(
            "question_id", flat=True
        )
    )


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
