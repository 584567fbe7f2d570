"""One object per running event loop, for the per-process helpers of the live core (the ask batcher,
the 附议 batcher, the socket counter): asyncio objects belong to the loop that made them, and tests
run many loops in one process, so each loop gets its own and closed loops' are forgotten."""

import asyncio
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class PerLoop(Generic[T]):
    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._by_loop: dict[asyncio.AbstractEventLoop, T] = {}

    def get(self) -> T:
        """This loop's object, made on first use. Call from inside the running loop."""
        loop = asyncio.get_running_loop()
        found = self._by_loop.get(loop)
        if found is None:
            for old in [old for old in self._by_loop if old.is_closed()]:
                del self._by_loop[old]
            found = self._by_loop[loop] = self._factory()
        return found

    def pop(self) -> T | None:
        """Forget this loop's object (tests close it before their loop ends); None if it had none."""
        return self._by_loop.pop(asyncio.get_running_loop(), None)
