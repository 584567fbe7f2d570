"""The one kind of refusal: services raise ServiceError with a code, consumers turn it into an
`error` frame (studio.frames), views into the JSON error body (core.http.api_view). HTTP_STATUS is
the one table from code to HTTP status, and the OpenAPI document lists its codes per status."""

from django.utils.translation import gettext_lazy as _

HTTP_STATUS = {
    "bad_request": 400,
    "bad_json": 400,
    "bad_frame": 400,
    "too_long": 400,
    "empty": 400,
    "rate_limited": 429,
    "forbidden": 403,
    "not_found": 404,
    "closed": 409,
    "conflict": 409,
    "blocked_content": 400,
    "unavailable": 503,
}

# Codes only the HTTP API answers (query parameters and JSON bodies); a WebSocket `error` frame
# never carries them (docs/frames.schema.json lists the others).
HTTP_ONLY = frozenset({"bad_request"})

MESSAGES = {
    "bad_request": _("The request is not one this endpoint understands."),
    "bad_json": _("The frame is not a JSON text object."),
    "bad_frame": _("The frame is not one this endpoint understands."),
    "too_long": _("The text is too long."),
    "empty": _("The text is empty."),
    "rate_limited": _("Too many requests; please wait a moment."),
    "forbidden": _("You are not allowed to do that here."),
    "not_found": _("No such item."),
    "closed": _("This programme is not taking questions."),
    "conflict": _("Someone else has already acted on this."),
    "blocked_content": _("The text contains words that cannot be published."),
    "unavailable": _("The service is briefly unavailable; nothing was saved. Please send it again shortly."),
}


class ServiceError(Exception):
    """A refusal: `code` (a key of HTTP_STATUS), a message for people (the code's default when
    None), `fields` naming what is wrong in a request ({"status": "unknown"}), and `retry_after`
    seconds with rate_limited and unavailable. `status` overrides the table for the one code whose
    status depends on where it is raised (a JSON body over its limit is 413 `too_long`)."""

    def __init__(
        self,
        code: str,
        message: str | None = None,
        fields: dict | None = None,
        *,
        retry_after: int | None = None,
        status: int | None = None,
    ):
        self.code = code
        self.detail = message
        self.fields = fields or {}
        self.retry_after = retry_after  # seconds, with rate_limited and unavailable
        self.status = status or HTTP_STATUS[code]
        super().__init__(message or code)

    @property
    def message(self) -> str:
        return str(self.detail or MESSAGES[self.code])

    @property
    def http_status(self) -> int:
        return self.status
