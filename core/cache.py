"""Django's Redis cache, keeping one client per connection pool instead of building one per call.

Django's RedisCacheClient.get_client() makes a new redis.Redis for every get and set: about 0.4 ms of
CPU each (the client copies its ~170 response callbacks), five or so per visit to a live page
(issue #18). A redis.Redis is safe to share between threads (each command borrows a connection from
the pool), so one per pool does the same work.
"""

from typing import Any

from django.core.cache.backends import redis as django_redis


class RedisCacheClient(django_redis.RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        pool = self._get_connection_pool(write)  # type: ignore[attr-defined]
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)  # type: ignore[attr-defined]
        return client


class RedisCache(django_redis.RedisCache):
    def __init__(self, server: Any, params: dict) -> None:
        super().__init__(server, params)
        self._class = RedisCacheClient
