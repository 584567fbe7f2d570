"""Sessions read from the cache (Redis) first, and from the database alone while the cache is down.

Django's cached_db backend already survives a failed cache read, but not the cache write that
follows it, nor `exists` or `delete`: with Redis restarting, every page that touches the session
would answer 500. Sessions live in the database either way, so nothing is lost by skipping the cache.
"""

import logging

from django.contrib.sessions.backends import cached_db
from django.contrib.sessions.backends.db import SessionStore as DatabaseStore

log = logging.getLogger(__name__)


class SessionStore(cached_db.SessionStore):
    def load(self) -> dict:
        try:
            return super().load()
        except Exception as exc:  # the cache is unreachable: the database has the session
            log.warning("session cache unavailable (%s); reading the session from the database", exc)
            stored = self._get_session_from_db()  # type: ignore[attr-defined]
            return self.decode(stored.session_data) if stored else {}

    def exists(self, session_key: str) -> bool:
        try:
            return bool(super().exists(session_key))
        except Exception:
            return DatabaseStore.exists(self, session_key)

    def delete(self, session_key: str | None = None) -> None:
        try:
            super().delete(session_key)
        except Exception:
            DatabaseStore.delete(self, session_key)
