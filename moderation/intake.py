"""Questions from the live sockets of one process are stored a batch at a time (issue #7, ingest).

Each `ask` frame waits for its own result, but the asks that arrive while a batch is being stored
go into the next one, so under a burst a process makes one database round of lookups, one lock of
the programme row and one insert per batch rather than per question. Alone, an ask is stored at
once: nothing waits for a batch to fill. This module only gathers the batches; each one goes
through the steps of moderation/asking.py.
"""

import asyncio
import contextvars
import logging

from channels.db import database_sync_to_async

from core.loops import PerLoop
from moderation import asking
from moderation.asking import AskRequest, AskResult

log = logging.getLogger(__name__)

MAX_BATCH = 200  # asks per transaction: bounds how long the programme row stays locked


class Intake:
    def __init__(self) -> None:
        self.waiting: list[tuple[AskRequest, asyncio.Future[AskResult]]] = []
        self.task: asyncio.Task | None = None

    async def ask(self, request: AskRequest) -> AskResult:
        future: asyncio.Future[AskResult] = asyncio.get_running_loop().create_future()
        self.waiting.append((request, future))
        if self.task is None or self.task.done():
            # Shared by every asker: an empty log context, not this connection's id.
            self.task = asyncio.get_running_loop().create_task(self._store(), context=contextvars.Context())
        return await future

    async def _store(self) -> None:
        while self.waiting:
            batch, self.waiting = self.waiting[:MAX_BATCH], self.waiting[MAX_BATCH:]
            try:
                results = await database_sync_to_async(asking.ask_questions)(
                    [request for request, _ in batch]
                )
            except Exception as error:  # e.g. the database is down: every ask of the batch hears it
                for _request, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            for (_request, future), result in zip(batch, results, strict=True):
                if not future.done():  # its connection may have gone meanwhile
                    future.set_result(result)


_intakes: PerLoop[Intake] = PerLoop(Intake)


def intake() -> Intake:
    return _intakes.get()


async def ask(request: AskRequest) -> tuple:
    """Store one ask through this process's intake; raises its ServiceError if refused."""
    result = await intake().ask(request)
    if isinstance(result, Exception):
        raise result
    return result
