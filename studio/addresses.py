"""The per-address cap on live sockets: one address cannot inflate the public `online` count.

A probe opened 500 viewer sockets from one address in 1.6 s (issue #13). Every process keeps
the exact number of live sockets it holds per client address in memory, and writes it to one
Redis hash per address (a field per process), so a handshake costs one pipelined Redis round
trip — its own count written, every process's read — and no database query. A process that
died stops counting once its heartbeat is older than three presence intervals. While Redis is
unreachable each process enforces the cap alone (a bounded overshoot, never a refused viewer
because of an outage).

The cap (MINXIN_SOCKETS_PER_ADDRESS) is generous on purpose: a carrier's NAT puts a few dozen to
a hundred subscribers behind one IPv4 address, an office its whole staff, and a viewer may have
two tabs open. An IPv6 address counts by its /64 (core.ratelimit.address_key).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from typing import Any

from django.conf import settings

from core.loops import PerLoop
from studio.hub import PROCESS_ID

log = logging.getLogger(__name__)

PREFIX = "minxin:sockets:"
PROCESSES = "minxin:sockets:processes"  # process id -> time of its last heartbeat
KEY_TTL = 6 * 3600  # an address's hash outlives a programme; each write renews it
CHECK_TIMEOUT = 1.0  # seconds a handshake waits for Redis before falling back to the local count
FLUSH_DELAY = 0.2  # disconnects are written in batches, not one round trip each


class AddressCounter:
    """One per event loop (one per process in production)."""

    def __init__(self, redis_url: str | None, process_id: str = PROCESS_ID):
        self.redis_url = redis_url
        self.process_id = process_id
        self.local: dict[str, int] = {}
        self.dirty: set[str] = set()
        self._redis: Any = None
        self._flush_task: asyncio.Task | None = None
        self._heartbeat_task: asyncio.Task | None = None

    async def acquire(self, address: str) -> bool:
        """Count a new socket from `address`; False (and not counted) if that is over the cap."""
        cap = settings.MINXIN_SOCKETS_PER_ADDRESS
        held = self.local.get(address, 0)
        if held >= cap:  # over the cap in this process alone: no need to ask Redis
            return False
        self.local[address] = held + 1
        if not self.redis_url:
            return True
        try:
            total = await asyncio.wait_for(self._write_and_count(address), CHECK_TIMEOUT)
        except Exception as exc:  # Redis down or slow: this process's own count decides
            log.warning("socket cap checked in this process only, Redis unavailable: %s", exc)
            return True
        if total > cap:
            self.release(address)
            return False
        return True

    def release(self, address: str) -> None:
        held = self.local.get(address, 0) - 1
        if held > 0:
            self.local[address] = held
        else:
            self.local.pop(address, None)
        if self.redis_url:
            self.dirty.add(address)
            if self._flush_task is None or self._flush_task.done():
                self._flush_task = asyncio.get_running_loop().create_task(
                    self._flush_soon(), context=contextvars.Context()
                )

    def _client(self) -> Any:
        if self._redis is None:
            from redis import asyncio as aioredis

            assert self.redis_url is not None

            # A pool that waits for a free connection instead of failing in a connect burst
            # (redis-py's default pool refuses its 101st connection: FANOUT-BASELINE.md).
            pool = aioredis.BlockingConnectionPool.from_url(
                self.redis_url,
                max_connections=20,
                timeout=CHECK_TIMEOUT,
                socket_timeout=CHECK_TIMEOUT,
                socket_connect_timeout=CHECK_TIMEOUT,
                decode_responses=True,
            )
            self._redis = aioredis.Redis(connection_pool=pool)
            self._heartbeat_task = asyncio.get_running_loop().create_task(
                self._heartbeat(), name="socket-cap-heartbeat", context=contextvars.Context()
            )
        return self._redis

    def _write(self, pipe: Any, address: str) -> None:
        key = PREFIX + address
        held = self.local.get(address, 0)
        if held:
            pipe.hset(key, self.process_id, held)
            pipe.expire(key, KEY_TTL)
        else:
            pipe.hdel(key, self.process_id)

    async def _write_and_count(self, address: str) -> int:
        now = time.time()
        async with self._client().pipeline(transaction=False) as pipe:
            self._write(pipe, address)
            pipe.hset(PROCESSES, self.process_id, f"{now:.0f}")
            pipe.hgetall(PREFIX + address)
            pipe.hgetall(PROCESSES)
            *_, counts, beats = await pipe.execute()
        fresh = settings.MINXIN_PRESENCE_INTERVAL * 3
        total = 0
        for process, count in counts.items():
            alive = process == self.process_id or now - float(beats.get(process) or 0) <= fresh
            if alive:
                total += int(count)
        return total

    async def _flush_soon(self) -> None:
        await asyncio.sleep(FLUSH_DELAY)
        dirty, self.dirty = self.dirty, set()
        try:
            async with self._client().pipeline(transaction=False) as pipe:
                for address in dirty:
                    self._write(pipe, address)
                await pipe.execute()
        except Exception as exc:  # the next connect or heartbeat writes the true count again
            log.warning("socket counts not written, Redis unavailable: %s", exc)
            self.dirty |= dirty

    async def _heartbeat(self) -> None:
        """Keeps this process's counts counted by the others while its sockets stay open."""
        while True:
            await asyncio.sleep(settings.MINXIN_PRESENCE_INTERVAL)
            pending, self.dirty = self.dirty, set()  # what a failed flush left behind
            try:
                async with self._client().pipeline(transaction=False) as pipe:
                    pipe.hset(PROCESSES, self.process_id, f"{time.time():.0f}")
                    for address in pending:
                        self._write(pipe, address)
                    await pipe.execute()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.dirty |= pending
                log.warning("socket cap heartbeat failed: %s", exc)

    async def close(self) -> None:
        for task in (self._flush_task, self._heartbeat_task):
            if task is not None:
                task.cancel()
        if self._redis is not None:
            try:
                await self._redis.aclose()
            except Exception:  # already gone
                pass


_counters: PerLoop[AddressCounter] = PerLoop(lambda: AddressCounter(settings.REDIS_URL))


def counter() -> AddressCounter:
    return _counters.get()
