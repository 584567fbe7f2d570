"""Fixed-window rate limits in the cache: Redis in production (shared by every process), memory otherwise.

Here, with the other helpers every app may use (questions, 附议 and logins are limited with it).
"""

import logging
import time

from django.core.cache import cache

log = logging.getLogger(__name__)


def hit(name: str, identity: str, limits: list[tuple[int, int]]) -> int | None:
    """Count one action of `identity`; returns seconds to wait if any (window, limit) is exceeded.

    Refused attempts count too, so hammering does not reopen the window early.
    """
    now = time.time()
    retry_after = None
    for window, limit in limits:
        bucket = int(now // window)
        key = f"minxin:rl:{name}:{window}:{identity}:{bucket}"
        try:
            cache.add(key, 0, timeout=window + 1)
            try:
                count = cache.incr(key)
            except ValueError:  # expired between add and incr
                cache.add(key, 1, timeout=window + 1)
                count = 1
        except Exception as exc:  # Redis down: let the action through rather than refuse everyone
            log.warning("rate limit %s not counted, cache unavailable: %s", name, exc)
            return None
        if count > limit:
            wait = int(window - now % window) + 1
            retry_after = max(retry_after or 0, wait)
    return retry_after
