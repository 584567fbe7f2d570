"""The per-process room hub: how one published message reaches every local socket.

The textbook Channels design puts every viewer in a channel-layer group, so each message
costs a layer receive, a dispatch and a thread hop per viewer (FANOUT-BASELINE.md). Here
each process holds one Redis pub/sub subscription per room, and hands the message, already
serialised, straight to each local member. Redis work per event is one PUBLISH and one
delivery per process, whatever the number of viewers.

Two kinds of rooms:
- log rooms (``live.<broadcast_id>``) carry the programme's event log. The hub delivers
  their events in ``seq`` order, exactly once: duplicates are dropped, and a gap (a message
  lost with a Redis restart, or two commits published out of order) is filled from the
  database, which is the truth. Recent events are kept so that a reconnecting viewer is
  resumed from memory, not from a query.
- plain rooms (anything else, e.g. ``asker.<key>``) carry frames for a few sockets, best effort.

Without REDIS_URL the hub runs in-process (the embedded default, one process).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import os
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from django.conf import settings

from studio.eventsource import RECENT_EVENTS, EventLogSource
from studio.fanoutstats import FanoutStats, encode_snapshot

log = logging.getLogger(__name__)

CHANNEL_PREFIX = "minxin:room:"
PRESENCE_PREFIX = "minxin:presence:"
LAG_PREFIX = "minxin:lag:"
FANOUT_PREFIX = "minxin:fanout:"  # each process's fan-out figures (studio/fanoutstats.py), JSON
GAP_WAIT = 0.25  # seconds to wait for an out-of-order event before reading it from the database
# A large room is served in slices (issue #18): handing one event to 5,000 local viewers holds the
# event loop for 100–150 ms, and meanwhile pings, asks and handshakes wait. After SLICE_SECONDS of
# handing out, the fan-out yields once so that whatever is ready runs; the clock is read every
# SLICE_CHECK members, not per member, to keep the per-delivery cost where it was.
SLICE_SECONDS = 0.015
SLICE_CHECK = 64
PROCESS_ID = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"


class Member(Protocol):
    """A socket in a room. `deliver` is awaited in seq order; it must not block for long."""

    async def deliver(self, seq: int | None, text: str) -> None: ...


def stamped(value: str) -> tuple[float, float] | None:
    """A process's entry in a presence or lag hash, "<number>:<unix time>", or None if malformed.

    Viewers and delivery lag live in two hashes of the same shape, so that a process of an
    earlier release, which reads the presence hash, never meets a field it does not know.
    """
    number, _, stamp = value.partition(":")
    try:
        return float(number), float(stamp)
    except ValueError:
        return None


def fresh_values(entries: dict, now: float, ttl: float) -> list[float]:
    """The numbers of the entries written within `ttl` seconds: a process that died stops counting."""
    found = []
    for value in entries.values():
        parsed = stamped(value)
        if parsed is None:
            log.warning("ignoring a malformed presence entry %r", value)
        elif now - parsed[1] <= ttl:
            found.append(parsed[0])
    return found


_AT = '"at":"'


def _event_time(text: str) -> float | None:
    """The `at` of a serialised event frame, as a Unix time (None if it has none)."""
    start = text.find(_AT)
    if start < 0:
        return None
    start += len(_AT)
    try:
        return datetime.fromisoformat(text[start : text.index('"', start)]).timestamp()
    except ValueError:
        return None


def log_room(broadcast_id: int) -> str:
    return f"live.{broadcast_id}"


def encode(seq: int | None, text: str) -> str:
    return f"{'-' if seq is None else seq}\n{text}"


def decode(payload: str) -> tuple[int | None, str]:
    head, _, text = payload.partition("\n")
    return (None if head == "-" else int(head)), text


class LogSource(Protocol):
    """Where a log room reads the truth: the studio's event log (see studio.events)."""

    def room_state(self, broadcast_id: int) -> tuple[int, list[tuple[int, str]]]:
        """The last seq and the most recent serialised events."""
        ...

    def events_between(self, broadcast_id: int, after: int, upto: int) -> list[tuple[int, str]]: ...

    def last_seqs(self, broadcast_ids: list[int]) -> dict[int, int]: ...


@dataclass(frozen=True)
class CatchUp:
    """What a member that has just joined a log room is sent before its first live event.

    `last_seq` is the room's last seq at the moment the member joined: every event after it
    reaches the member live, every event up to it is one of `texts` (those after the member's
    `after`, oldest first). `held` is the last seq the member holds once `texts` are sent; it
    is past `last_seq` when the member resumed from a process further ahead, so that the
    events it already holds are never sent again.
    """

    last_seq: int
    texts: list[str]
    held: int


class Room:
    def __init__(self, hub: Hub, name: str):
        self.hub = hub
        self.name = name
        self.members: set[Member] = set()
        self.broadcast_id: int | None = int(name.split(".", 1)[1]) if name.startswith("live.") else None
        self.ready = asyncio.Event()
        self.failed: BaseException | None = None  # why the first join could not open the room
        self.delivering = asyncio.Lock()
        self.last_seq = 0
        self.recent: OrderedDict[int, str] = OrderedDict()
        self.pending: dict[int, str] = {}
        self.inbox: list[tuple[int | None, str]] = []
        self.wakeup = asyncio.Event()
        self.online = 0
        self.task: asyncio.Task | None = None
        # The `hello` header, cached so that a connect costs no query; kept current from
        # the status events that pass through.
        self.header: dict | None = None
        # Seconds from an event's append to the end of its fan-out here: the latest, and the
        # largest since the last presence round (reported to /metrics through Redis).
        self.lag = 0.0
        self.lag_max = 0.0
        # Every event's lag and the longest hold of the loop, for /metrics (studio/fanoutstats.py).
        self.stats = FanoutStats()

    @property
    def is_log(self) -> bool:
        return self.broadcast_id is not None

    def events_after(self, after: int) -> list[tuple[int, str]] | None:
        """Events after `after` up to last_seq from memory, or None when memory does not reach back."""
        if after >= self.last_seq:
            return []
        first = next(iter(self.recent), None)
        if first is None or first > after + 1:
            return None
        return [(seq, text) for seq, text in self.recent.items() if seq > after]

    async def resume(self, after: int | None) -> CatchUp:
        """What a member that joined this instant missed after `after` (None: it resumes nothing).

        Call it with no await between the join and the call (see Hub.join_log): `last_seq` is
        read before anything else, so that the catch-up and the live events meet exactly, none
        lost and none twice. Until the member has sent the catch-up it must hold back the live
        events the room delivers meanwhile, and then send only those past `held`.
        From memory when the room remembers back to `after`; otherwise one read of the log.
        """
        last_seq = self.last_seq
        if after is None or after >= last_seq:
            return CatchUp(last_seq, [], max(last_seq, after or 0))
        missed = self.events_after(after)
        if missed is None:  # older than this process remembers: read the log once
            missed = await self.hub.run_sync(
                self.hub.source.events_between, self.broadcast_id, after, last_seq
            )
        # Events delivered while the log was read come live (the member holds them back meanwhile).
        return CatchUp(last_seq, [text for seq, text in missed if seq <= last_seq], last_seq)

    async def run(self) -> None:
        """Deliver what arrives, in order. One task per room keeps deliveries sequential."""
        while True:
            await self.wakeup.wait()
            self.wakeup.clear()
            inbox, self.inbox = self.inbox, []
            for seq, text in inbox:
                if seq is None or not self.is_log:
                    await self._fan_out(None, text)
                elif seq > self.last_seq:
                    self.pending[seq] = text
            if self.is_log:
                await self._drain_pending()

    async def _drain_pending(self) -> None:
        await self._deliver_in_order()
        if not self.pending:
            return
        # A gap: wait a moment for the missing event (commits can publish out of order),
        # then read what is still missing from the database.
        await asyncio.sleep(GAP_WAIT)
        await self._deliver_in_order()
        if self.pending:
            await self.fill_from_database(max(self.pending))

    async def fill_from_database(self, upto: int) -> None:
        assert self.broadcast_id is not None
        if upto <= self.last_seq:
            return
        missing = await self.hub.run_sync(
            self.hub.source.events_between, self.broadcast_id, self.last_seq, upto
        )
        for seq, text in missing:
            self.pending.setdefault(seq, text)
        await self._deliver_in_order()
        if self.pending and min(self.pending) <= self.last_seq:
            self.pending = {s: t for s, t in self.pending.items() if s > self.last_seq}

    async def _deliver_in_order(self) -> None:
        # The room's own task and the hub's catch-up both deliver; one at a time, or a viewer
        # could be handed seq N+1 while N is still being fanned out (and then drop N as old).
        async with self.delivering:
            await self._deliver_pending()

    async def _deliver_pending(self) -> None:
        while self.last_seq + 1 in self.pending:
            seq = self.last_seq + 1
            text = self.pending.pop(seq)
            self.last_seq = seq
            self.recent[seq] = text
            if len(self.recent) > RECENT_EVENTS:
                self.recent.popitem(last=False)
            if self.header is not None and '"kind":"broadcast.status"' in text:
                self.header = {**self.header, "status": json.loads(text)["data"]["status"]}
            await self._fan_out(seq, text)
            self._note_lag(text)
            # Let the server write what it was handed before the next event, so that a burst
            # (a catch-up after an outage) drains to viewers who read, and only viewers who
            # stopped reading pile up past fastsend.MAX_BUFFERED.
            await asyncio.sleep(0)
        for stale in [s for s in self.pending if s <= self.last_seq]:
            del self.pending[stale]

    def _note_lag(self, text: str) -> None:
        at = _event_time(text)
        if at is not None:
            self.lag = max(0.0, time.time() - at)
            self.lag_max = max(self.lag_max, self.lag)
            self.stats.observe(self.lag)

    async def _fan_out(self, seq: int | None, text: str) -> None:
        # A member that joins during a yield is not in this snapshot and needs not be: last_seq
        # already counts this event, so its catch-up carries it. One that leaves is handed the
        # event anyway, which a closed socket ignores.
        slice_began = time.perf_counter()
        for index, member in enumerate(list(self.members), 1):
            try:
                await member.deliver(seq, text)
            except Exception:  # one broken socket must not stop the others
                log.exception("delivery to a member of %s failed", self.name)
            if index % SLICE_CHECK == 0:
                held = time.perf_counter() - slice_began
                if held >= SLICE_SECONDS:
                    self.stats.held(held)
                    await asyncio.sleep(0)
                    slice_began = time.perf_counter()
        self.stats.held(time.perf_counter() - slice_began)


class Hub:
    """One per event loop (one per process in production; tests run a loop per test)."""

    def __init__(self, source: LogSource, redis_url: str | None):
        self.loop = asyncio.get_running_loop()
        self.source = source
        self.redis_url = redis_url
        self.rooms: dict[str, Room] = {}
        self._listener: asyncio.Task | None = None
        self._pubsub: Any = None
        self._redis: Any = None
        self._subscribed: set[str] = set()
        self._presence_task: asyncio.Task | None = None
        self._lock = asyncio.Lock()

    async def run_sync(self, fn: Callable, *args: object):
        # Imported late: channels.db imports Django's db layer, which needs settings.
        from channels.db import database_sync_to_async

        return await database_sync_to_async(fn)(*args)

    # --- membership -------------------------------------------------------------------------

    async def join(self, name: str, member: Member) -> Room:
        room = self.rooms.get(name)
        if room is None:
            room = self.rooms[name] = Room(self, name)
            # Shared by every member: an empty log context, not the first joiner's connection id.
            room.task = self.loop.create_task(
                room.run(), name=f"hub-room-{name}", context=contextvars.Context()
            )
            try:
                await self._subscribe(name)
                if room.is_log:
                    assert room.broadcast_id is not None
                    last_seq, recent = await self.run_sync(self.source.room_state, room.broadcast_id)
                    room.last_seq = last_seq
                    room.recent.update(recent)
            except BaseException as exc:
                # Joiners waiting on this room must fail too, not wait forever.
                room.failed = exc
                room.ready.set()
                self._drop(room)
                raise
            room.ready.set()
        else:
            await room.ready.wait()
            if room.failed is not None:
                raise room.failed
        room.members.add(member)
        if room.is_log:
            self._ensure_presence_loop()
        return room

    async def join_log(self, broadcast_id: int, member: Member, after: int | None) -> tuple[Room, CatchUp]:
        """Join a programme's room resuming after `after`: the room, and what to send before live events."""
        room = await self.join(log_room(broadcast_id), member)
        # No await in between: resume() reads last_seq the instant the member became a member.
        return room, await room.resume(after)

    def leave(self, name: str, member: Member) -> None:
        room = self.rooms.get(name)
        if room is None:
            return
        room.members.discard(member)
        if not room.members and room.ready.is_set():
            self._drop(room)
            if self.redis_url:
                self.loop.create_task(self._unsubscribe(name), context=contextvars.Context())

    def _drop(self, room: Room) -> None:
        if self.rooms.get(room.name) is room:
            del self.rooms[room.name]
        if room.task:
            room.task.cancel()

    def local_online(self, broadcast_id: int) -> int:
        room = self.rooms.get(log_room(broadcast_id))
        return len(room.members) if room else 0

    def local_fanout(self, broadcast_id: int) -> dict | None:
        """This process's fan-out figures for the programme (studio/fanoutstats.py), None without a room."""
        room = self.rooms.get(log_room(broadcast_id))
        return room.stats.snapshot() if room else None

    def local_lag(self, broadcast_id: int) -> float:
        """This process's delivery lag for the programme's latest event (0 before any)."""
        room = self.rooms.get(log_room(broadcast_id))
        return room.lag if room else 0.0

    # --- receiving --------------------------------------------------------------------------

    def receive(self, name: str, payload: str) -> None:
        """A published message for `name` arrived (from Redis, or from this process)."""
        room = self.rooms.get(name)
        if room is None:
            return
        room.inbox.append(decode(payload))
        room.wakeup.set()

    async def _subscribe(self, name: str) -> None:
        if not self.redis_url:
            return
        async with self._lock:
            if self._pubsub is None:
                from redis import asyncio as aioredis

                self._redis = aioredis.Redis.from_url(
                    self.redis_url, socket_timeout=None, decode_responses=True
                )
                self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            self._subscribed.add(name)
            try:
                await self._pubsub.subscribe(CHANNEL_PREFIX + name)
            except Exception as exc:
                # Redis is down: the viewer joins all the same and gets events from the database
                # catch-up; the listener keeps trying to subscribe.
                log.warning("hub could not subscribe to %s yet: %s", name, exc)
            if self._listener is None or self._listener.done():
                self._listener = self.loop.create_task(
                    self._listen(), name="hub-listener", context=contextvars.Context()
                )

    async def _unsubscribe(self, name: str) -> None:
        async with self._lock:
            if name in self.rooms or name not in self._subscribed or self._pubsub is None:
                return
            self._subscribed.discard(name)
            with contextlib.suppress(Exception):  # a dead connection forgets it anyway
                await self._pubsub.unsubscribe(CHANNEL_PREFIX + name)

    async def _listen(self) -> None:
        backoff = 0.2
        while True:
            try:
                assert self._pubsub is not None
                async for message in self._pubsub.listen():
                    backoff = 0.2
                    if message.get("type") == "message":
                        self.receive(message["channel"][len(CHANNEL_PREFIX) :], message["data"])
                if not self._subscribed:
                    return  # listen() ends when nothing is subscribed; _subscribe starts a new listener
                raise ConnectionError("not subscribed to the rooms this process serves")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("hub lost its Redis subscription (%s); reconnecting in %.1fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                await self._resubscribe()

    async def _resubscribe(self) -> None:
        async with self._lock:
            with contextlib.suppress(Exception):
                assert self._pubsub is not None
                await self._pubsub.aclose()
            assert self._redis is not None
            self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                names = [CHANNEL_PREFIX + name for name in self._subscribed]
                if names:
                    await self._pubsub.subscribe(*names)
            except Exception:
                return  # the listener loop tries again
        # Whatever was published while we were away is in the database.
        await self.catch_up()

    async def catch_up(self) -> None:
        """Compare each log room with the database and deliver what this process missed."""
        rooms = [room for room in self.rooms.values() if room.is_log and room.ready.is_set()]
        if not rooms:
            return
        seqs = await self.run_sync(self.source.last_seqs, [room.broadcast_id for room in rooms])
        for room in rooms:
            assert room.broadcast_id is not None
            if seqs.get(room.broadcast_id, 0) > room.last_seq:
                await room.fill_from_database(seqs[room.broadcast_id])

    # --- presence ---------------------------------------------------------------------------

    def _ensure_presence_loop(self) -> None:
        if self._presence_task is None or self._presence_task.done():
            self._presence_task = self.loop.create_task(
                self._presence_loop(), name="hub-presence", context=contextvars.Context()
            )

    async def _presence_loop(self) -> None:
        interval = settings.MINXIN_PRESENCE_INTERVAL
        while True:
            await asyncio.sleep(interval)
            # Separately: while Redis is down presence fails, but catching up from the database
            # still brings viewers every event within an interval.
            for step in (self.refresh_presence, self.catch_up):
                try:
                    await step()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("hub %s round failed: %s", step.__name__, exc)

    async def refresh_presence(self) -> None:
        """Count viewers across processes and tell local viewers when the number changed."""
        for room in [r for r in self.rooms.values() if r.is_log]:
            total = await self.count_online(room)
            if total != room.online:
                room.online = total
                await room._fan_out(None, json.dumps({"type": "presence", "online": total}))

    async def count_online(self, room: Room) -> int:
        local = len(room.members)
        if not self.redis_url or self._redis is None:
            return local
        key, lag_key = PRESENCE_PREFIX + room.name, LAG_PREFIX + room.name
        fanout_key = FANOUT_PREFIX + room.name
        now = time.time()
        ttl = settings.MINXIN_PRESENCE_INTERVAL * 3
        lag, room.lag_max = room.lag_max, 0.0
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hset(key, PROCESS_ID, f"{local}:{now:.0f}")
            pipe.expire(key, int(ttl) + 1)
            pipe.hset(lag_key, PROCESS_ID, f"{lag:.3f}:{now:.0f}")
            pipe.expire(lag_key, int(ttl) + 1)
            pipe.hset(fanout_key, PROCESS_ID, encode_snapshot(room.stats.snapshot(), now))
            pipe.expire(fanout_key, int(ttl) + 1)
            pipe.hgetall(key)
            *_, counts = await pipe.execute()
        return int(sum(fresh_values(counts, now, ttl)))

    async def close(self) -> None:
        for room in list(self.rooms.values()):
            self._drop(room)
        for task in (self._listener, self._presence_task):
            if task:
                task.cancel()
        if self._redis is not None:
            with contextlib.suppress(Exception):
                if self._pubsub is not None:
                    await self._pubsub.aclose()
                await self._redis.aclose()


# --- one hub per event loop, and publishing from any thread ----------------------------------

_hubs: dict[asyncio.AbstractEventLoop, Hub] = {}
_hubs_lock = threading.Lock()
_sync_redis = None


def get_hub() -> Hub:
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = Hub(EventLogSource(), settings.REDIS_URL)
        with _hubs_lock:
            for old in [old for old in _hubs if old.is_closed()]:
                del _hubs[old]
            _hubs[loop] = hub
    return hub


def publish(room: str, seq: int | None, text: str) -> None:
    """Send a serialised frame to every member of `room` in every process. Callable from any thread."""
    payload = encode(seq, text)
    if settings.REDIS_URL:
        global _sync_redis
        if _sync_redis is None:
            import redis

            _sync_redis = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5, decode_responses=True)
        _sync_redis.publish(CHANNEL_PREFIX + room, payload)
        return
    with _hubs_lock:
        hubs = list(_hubs.values())
    for hub in hubs:
        if not hub.loop.is_closed():
            hub.loop.call_soon_threadsafe(hub.receive, room, payload)


def all_hubs() -> Iterable[Hub]:
    return list(_hubs.values())
