"""Fixed-window rate limits in the cache: Redis in production (shared by every process), memory otherwise.

Here, with the other helpers every app may use (questions, 附议 and logins are limited with it).
"""

import ipaddress
import logging
from typing import Any

from django.core.cache import cache, caches
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache

from core import clock

log = logging.getLogger(__name__)

Limits = list[tuple[int, int]]  # (window seconds, most actions in it)


def address_key(address: str | None) -> str | None:
    """The identity of a client address for per-address limits: an IPv6 address by its /64.

    An IPv6 subscriber is given at least a /64 and may use any address in it, so counting single
    addresses would let one household or phone rotate through billions of identities.
    """
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is None:
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip.ipv4_mapped or ip) if isinstance(ip, ipaddress.IPv6Address) else str(ip)


def hit(name: str, identity: str, limits: Limits) -> int | None:
    """Count one action of `identity`; returns seconds to wait if any (window, limit) is exceeded.

    Refused attempts count too, so hammering does not reopen the window early.
    """
    return hit_many([(name, identity, limits)])[0]


def hit_many(hits: list[tuple[str, str, Limits]], *, local_when_down: bool = False) -> list[int | None]:
    """`hit` for many actions at once — with Redis, one round trip for all of them.

    A burst of a thousand questions would otherwise make several round trips per question, one
    for each window of each limit (issue #7: those were most of the cost of storing a question).

    With Redis down the actions go through uncounted (refusing every netizen's question would be
    worse), unless `local_when_down`: then they are counted in this process's memory, so that
    a limit that guards against guessing (logins) still holds, per process.
    """
    now = clock.timestamp()
    keys: list[tuple[str, int]] = []
    for name, identity, limits in hits:
        for window, _limit in limits:
            keys.append((f"minxin:rl:{name}:{window}:{identity}:{int(now // window)}", window + 1))
    try:
        counts = iter(_count(keys))
    except Exception as exc:  # Redis down: let the actions through rather than refuse everyone
        if not local_when_down:
            log.warning("rate limits not counted, cache unavailable: %s", exc)
            return [None] * len(hits)
        log.warning("rate limits counted in this process only, cache unavailable: %s", exc)
        counts = iter(_count_in(_local_fallback, keys))
    waits: list[int | None] = []
    for _name, _identity, limits in hits:
        retry_after = None
        for window, limit in limits:
            if next(counts) > limit:
                retry_after = max(retry_after or 0, int(window - now % window) + 1)
        waits.append(retry_after)
    return waits


def _count(keys: list[tuple[str, int]]) -> list[int]:
    """Add one to each counter (creating it with its time to live) and return the new counts."""
    client = _redis_client()
    if client is None:  # the in-memory cache of a single process
        return _count_in(cache, keys)
    pipe = client.pipeline(transaction=False)
    for key, ttl in keys:
        # The cache's own key, so cache.get() reads the same counter; Django stores ints as such.
        full = cache.make_and_validate_key(key)
        pipe.set(full, 0, nx=True, ex=ttl)
        pipe.incr(full)
    return pipe.execute()[1::2]


def _count_in(store: Any, keys: list[tuple[str, int]]) -> list[int]:
    counts = []
    for key, ttl in keys:
        store.add(key, 0, timeout=ttl)
        try:
            counts.append(store.incr(key))
        except ValueError:  # expired between add and incr
            store.add(key, 1, timeout=ttl)
            counts.append(1)
    return counts


# Counters for hit_many(local_when_down=True) while Redis is unreachable.
_local_fallback = LocMemCache("minxin-ratelimit-fallback", {"OPTIONS": {"MAX_ENTRIES": 100_000}})

_clients: dict[str, Any] = {}


def _redis_client() -> Any:
    """One client per Redis address, kept: Django's cache builds a client object per operation."""
    backend = caches["default"]  # `cache` is a proxy, which isinstance does not see through
    if not isinstance(backend, RedisCache):
        return None
    location = backend._servers[0]  # type: ignore[attr-defined]
    client = _clients.get(location)
    if client is None:
        import redis

        client = _clients[location] = redis.Redis.from_url(location, socket_timeout=5)
    return client
