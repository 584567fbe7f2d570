"""Sessions read from the cache (Redis) first, and from the database alone while the cache is down.

Django's cached_db backend already survives a failed cache read, but not the cache write that
follows it, nor `exists` or `delete`: with Redis restarting, every page that touches the session
would answer 500. Sessions live in the database either way, so nothing is lost by skipping the cache.
"""

import logging

from django.contrib.sessions.backends import cached_db
from django.contrib.sessions.backends.base import VALID_KEY_CHARS
from django.contrib.sessions.backends.db import SessionStore as DatabaseStore
from django.utils.crypto import get_random_string

log = logging.getLogger(__name__)


class SessionStore(cached_db.SessionStore):
    # What create() wrote, serialised: the save() Django's middleware makes at the end of the same
    # request (create() marks the session modified so that the cookie is set) writes the same
    # row again unless the data changed since. A first visit to a live page cost an INSERT and an
    # UPDATE, two transactions on a pooled connection, where one does (issue #18).
    _created_payload: bytes | None = None

    def _get_new_session_key(self) -> str:
        # No exists() check (a cache read and a database query): 32 random characters of 36 never
        # collide in practice, and if one did, create()'s INSERT fails with CreateError and
        # create() draws another key, so the check adds nothing but a round trip per new session.
        return get_random_string(32, VALID_KEY_CHARS)

    def create(self) -> None:
        super().create()
        self._created_payload = self._payload()

    def save(self, must_create: bool = False) -> None:
        if not must_create and self._created_payload is not None and self._payload() == self._created_payload:
            return
        self._created_payload = None
        super().save(must_create)

    def _payload(self) -> bytes:
        return self.serializer().dumps(self._get_session(no_load=True))  # type: ignore[attr-defined]

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
