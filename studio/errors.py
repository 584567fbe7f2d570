"""Refusals that services raise; consumers turn them into `error` frames, views into HTTP errors."""

from django.utils.translation import gettext_lazy as _

HTTP_STATUS = {
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

MESSAGES = {
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
    def __init__(self, code: str, message: str | None = None, retry_after: int | None = None):
        self.code = code
        self.detail = message
        self.retry_after = retry_after  # seconds, with rate_limited and unavailable
        super().__init__(message or code)

    @property
    def message(self) -> str:
        return str(self.detail or MESSAGES[self.code])

    @property
    def http_status(self) -> int:
        return HTTP_STATUS[self.code]
