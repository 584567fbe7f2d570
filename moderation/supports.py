"""附议 counts reach viewers and consoles in batches: at most one frame per programme per second per
process, never one per support, and never stored in the event log (PROTOCOL.md §4).
"""

import asyncio
import contextvars
import logging

from channels.db import database_sync_to_async

from moderation.services import support_counts
from studio import events

log = logging.getLogger(__name__)
BATCH_SECONDS = 1.0

_batchers: dict[asyncio.AbstractEventLoop, "SupportBatcher"] = {}


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


def batcher() -> SupportBatcher:
    loop = asyncio.get_running_loop()
    found = _batchers.get(loop)
    if found is None:
        for old in [old for old in _batchers if old.is_closed()]:
            del _batchers[old]
        found = _batchers[loop] = SupportBatcher()
    return found
