"""Strict readers for settings that come from the environment.

A value that cannot be parsed stops start-up with a message naming the variable:
a typo in production must never fall back silently to a default.
"""

import ipaddress
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dj_database_url
from django.core.exceptions import ImproperlyConfigured


class BadSetting(ImproperlyConfigured):
    """A variable of the environment that cannot be used; the message names it. manage.py prints
    the message alone, without a traceback: the traceback says nothing the message does not."""


def _raw(name: str) -> str | None:
    """The value of NAME, or of the file that NAME_FILE points at (for secrets mounted as files)."""
    value = os.environ.get(name)
    path = os.environ.get(f"{name}_FILE")
    if value is not None and path is not None:
        raise BadSetting(f"{name} and {name}_FILE are both set; set only one.")
    if path is not None:
        try:
            return Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise BadSetting(f"{name}_FILE: cannot read {path}: {exc.strerror}") from exc
    return value


def env_str(name: str, default: str | None = None, *, required: bool = False) -> str | None:
    value = _raw(name)
    if value is None or value == "":
        if required:
            raise BadSetting(f"{name} must be set.")
        return default
    return value


def env_bool(name: str, default: bool) -> bool:
    value = _raw(name)
    if value is None or value == "":
        return default
    if value in ("True", "true", "1"):
        return True
    if value in ("False", "false", "0"):
        return False
    raise BadSetting(f"{name} must be true or false, not {value!r}.")


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    value = _raw(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise BadSetting(f"{name} must be a whole number, not {value!r}.") from None
    if number < minimum:
        raise BadSetting(f"{name} must be at least {minimum}, not {number}.")
    return number


def env_list(name: str, default: list[str]) -> list[str]:
    value = _raw(name)
    if value is None or value.strip() == "":
        return default
    items = [item.strip() for item in value.split(",")]
    if any(not item for item in items):
        raise BadSetting(f"{name} must be a comma-separated list without empty items, not {value!r}.")
    return items


def env_origins(name: str) -> list[str]:
    """A comma-separated list of exact http(s) origins, each as `scheme://host[:port]` (no path),
    lower-cased: they go into the Content-Security-Policy as they are."""
    origins = []
    for item in env_list(name, []):
        parts = urlsplit(item)
        try:
            parts.port  # noqa: B018 -- raises ValueError for a bad port
        except ValueError:
            parts = parts._replace(netloc="")
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query:
            raise BadSetting(f"{name}: {item!r} is not an origin like https://live.example.gov.cn[:port].")
        if parts.username or parts.fragment:
            raise BadSetting(f"{name}: {item!r} is not an origin like https://live.example.gov.cn[:port].")
        origins.append(f"{parts.scheme}://{parts.netloc.lower()}")
    return origins


def env_time_zone(name: str, default: str) -> str:
    value = env_str(name, default)
    assert value is not None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadSetting(f"{name}: unknown time zone {value!r}.") from None
    return value


def env_database(name: str, sqlite_path: Path) -> dict:
    """DATABASE_URL as a Django DATABASES entry; unset means the embedded SQLite file."""
    value = env_str(name)
    if value is None:
        sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(sqlite_path),
            # IMMEDIATE takes the write lock at BEGIN, so two writers queue instead of
            # failing with "database is locked" halfway through a transaction.
            "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20},
        }
    scheme = urlsplit(value).scheme
    if scheme not in ("postgres", "postgresql", "pgsql"):
        raise BadSetting(f"{name} must be a postgres:// URL, not a {scheme or 'schemeless'} one.")
    try:
        # No persistent connections (CONN_MAX_AGE=0): under ASGI Django runs each request's sync
        # code on a new thread, so a connection kept "for 60 s" belongs to a thread that is gone and
        # lingers idle until garbage collection (issue #13: one per request, until max_connections).
        # Django's documented answer for ASGI is psycopg's pool: each request or
        # database_sync_to_async call takes a connection and gives it back when Django closes it.
        config: dict[str, Any] = dict(dj_database_url.parse(value, conn_max_age=0, conn_health_checks=True))
    except ValueError as exc:
        raise BadSetting(f"{name}: {exc}") from None
    if not config.get("NAME"):
        raise BadSetting(f"{name} must name a database (postgres://host:port/NAME).")
    timeout = env_int("MINXIN_DB_POOL_TIMEOUT", 10, minimum=1)
    config.setdefault("OPTIONS", {})["pool"] = {
        # Connections are opened as requests wait for one, up to max_size per process, and closed
        # again after 10 idle minutes (max_idle). Not min_size=1: Django opens the pool and asks for
        # a connection at once, before the first one is ready, so the pool grows to two and a
        # one-thread process (the clock, release, any manage.py command) would hold two.
        # The bound: processes × max_size + clock + release < PostgreSQL's max_connections (README).
        "min_size": 0,
        "max_size": env_int("MINXIN_DB_POOL_MAX_SIZE", 10, minimum=1),
        # A request that finds every connection of its process in use waits this long, then gets
        # 503 `unavailable` with Retry-After (PoolTimeout is a psycopg OperationalError, which
        # Django re-raises as its own): a clear refusal, not a hang until the balancer gives up.
        # 10 s, not 3 (issue #18): in a rush the queue for connections drains at the speed of the
        # CPU, so a request that waited 3 s would mostly have been served within 5-10; refused at
        # 3 s, its browser reloads and queues again, and at 2,000 people in a minute more than
        # half were refused. 10 s stays well under a balancer's 30-60 s and a user's patience.
        # More connections would not help: the processes are CPU-bound, and processes × max_size
        # must stay under max_connections (100 by default) with several processes per host.
        # While PostgreSQL is down every request waits this long too.
        "timeout": timeout,
        # The pool retries a failed connect with a backoff that doubles for up to 5 minutes by
        # default, so after a long outage it could go on refusing for about as long again. Giving
        # up after `timeout` lets the next request that needs a connection try again at once.
        "reconnect_timeout": timeout,
    }
    return config


def env_redis_url(name: str) -> str | None:
    value = env_str(name)
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("redis", "rediss", "unix") or (parts.scheme != "unix" and not parts.hostname):
        raise BadSetting(f"{name} must look like redis://host:port/db, not {value!r}.")
    try:
        parts.port  # noqa: B018 — raises ValueError for a non-numeric port
    except ValueError:
        raise BadSetting(f"{name} has a bad port: {value!r}.") from None
    return value


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def env_networks(name: str, default: list[str]) -> list[Network]:
    """Comma-separated CIDRs (a bare address is one host); `none` for no network at all."""
    value = _raw(name)
    if value is not None and value.strip().lower() == "none":
        return []
    networks = []
    for item in env_list(name, default):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise BadSetting(
                f"{name} must be comma-separated networks such as 10.0.0.0/8 or ::1, or none; "
                f"{item!r} is not one."
            ) from None
    return networks
