"""Client ids: every client-sent write carries one, so that a retry after a dropped connection
never stores the same thing twice (DESIGN.md "The event log")."""

import unicodedata

from django.utils.translation import gettext as _

from core.errors import ServiceError

MAX_CLIENT_ID = 64


def check_client_id(client_id: object) -> str:
    """The client id as stored, or `bad_frame`.

    Control characters and lone surrogates (category C) are refused: PostgreSQL cannot store a NUL,
    nor UTF-8 a lone surrogate, and either would fail a whole batch of questions.
    """
    if (
        not isinstance(client_id, str)
        or not client_id
        or len(client_id) > MAX_CLIENT_ID
        or any(unicodedata.category(ch)[0] == "C" for ch in client_id)
    ):
        raise ServiceError("bad_frame", _("client_id must be a string of 1–64 characters."))
    return client_id
