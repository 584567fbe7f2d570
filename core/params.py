"""Query parameters, parsed by total functions: every string either gives a value or a 400.

Each function here answers for any input — empty, huge, negative, not a number, a year 1 or 9999
date, a lone surrogate — with a value or `ParameterError` (400 `bad_request`, `fields` naming the
parameter and what is wrong with it), never with another exception. Views call these and nothing
else for dates, numbers and periods, so that no value reaches date arithmetic or the database
unchecked (issue #13: `?to=9999-12-31` overflowed `date + timedelta`, and year 1 overflowed
SQLite's conversion to UTC).

The reasons in `fields` (docs/PROTOCOL.md §4): `invalid` (not a date, not a whole number),
`unknown` (not one of the choices), `out_of_range` (outside the bounds below), `before_from` (a
period that ends before it starts).
"""

import datetime as dt
import re
from collections.abc import Callable, Mapping

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from core.errors import ServiceError
from core.http import api_error

# Dates the service can mean: its data starts this century, and nothing is planned past 2100.
# Far enough from date.min/date.max that a day added or a time-zone shift never overflows.
EARLIEST = dt.date(2000, 1, 1)
LATEST = dt.date(2100, 12, 31)

# ASCII digits only: `\d` would also take full-width and other scripts' digits.
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_WHOLE = re.compile(r"[+-]?[0-9]{1,18}")

Query = Mapping[str, str]


class ParameterError(ServiceError):
    """A query parameter that does not parse: 400 `bad_request` with `fields: {name: reason}`."""

    def __init__(self, name: str, reason: str, message: str):
        super().__init__("bad_request", message, fields={name: reason})
        self.name, self.reason = name, reason


def _raw(query: Query, name: str) -> str | None:
    """The parameter's text, trimmed; None when absent or empty (empty means "not given")."""
    value = query.get(name)
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def given(query: Query, *names: str) -> bool:
    """Whether any of the parameters is given (present and not blank)."""
    return any(_raw(query, name) is not None for name in names)


def date(query: Query, name: str) -> dt.date | None:
    """A day as YYYY-MM-DD within EARLIEST..LATEST, or None when not given."""
    value = _raw(query, name)
    if value is None:
        return None
    if not _DATE.fullmatch(value):
        raise ParameterError(name, "invalid", f"{name} must be a date as YYYY-MM-DD.")
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:  # 2026-13-01, 2026-02-30
        raise ParameterError(name, "invalid", f"{name} is not a date of the calendar.") from None
    if not EARLIEST <= day <= LATEST:
        raise ParameterError(
            name, "out_of_range", f"{name} must lie between {EARLIEST.isoformat()} and {LATEST.isoformat()}."
        )
    return day


def period(
    query: Query, default_first: dt.date | None, default_last: dt.date | None
) -> tuple[dt.date | None, dt.date | None]:
    """`?from=&to=` as an inclusive pair of days, each defaulting as given; `to` before `from` is refused."""
    first = date(query, "from") or default_first
    last = date(query, "to") or default_last
    if first is not None and last is not None and last < first:
        raise ParameterError("to", "before_from", "to must not be before from.")
    return first, last


def whole_number(query: Query, name: str, default: int, minimum: int, maximum: int) -> int:
    """A whole number within minimum..maximum (both inclusive), `default` when not given."""
    value = _raw(query, name)
    if value is None:
        return default
    if not _WHOLE.fullmatch(value):
        # Also what is longer than 18 digits: far beyond any bound here, and int() of a huge
        # string costs time.
        reason = "out_of_range" if re.fullmatch(r"[+-]?[0-9]+", value) else "invalid"
        raise ParameterError(name, reason, f"{name} must be a whole number from {minimum} to {maximum}.")
    number = int(value)
    if not minimum <= number <= maximum:
        raise ParameterError(
            name, "out_of_range", f"{name} must be a whole number from {minimum} to {maximum}."
        )
    return number


def choice(query: Query, name: str, choices: list[str] | tuple[str, ...]) -> str | None:
    """One of `choices`, or None when not given."""
    value = _raw(query, name)
    if value is None:
        return None
    if value not in choices:
        raise ParameterError(name, "unknown", f"{name} must be one of {', '.join(choices)}.")
    return value


def day_start(day: dt.date) -> dt.datetime:
    """Midnight at the start of `day` in the service's time zone (safe for any day of date())."""
    return dt.datetime.combine(day, dt.time.min, tzinfo=timezone.get_default_timezone())


def day_end(day: dt.date) -> dt.datetime:
    """Midnight at the end of `day` (the start of the next day): the exclusive bound of a period."""
    return day_start(day + dt.timedelta(days=1))


class NulCharacterMiddleware:
    """A NUL character in the path, a query parameter or a form field is 400 `bad_request`.

    PostgreSQL cannot store or even compare a text holding NUL (psycopg raises DataError), so
    `?department=%00` or `/api/letters/%00/` was a 500 there while SQLite answered normally. No
    real request carries one; refusing it here keeps every lookup of every view total on both
    backends. JSON bodies are cleaned where they are stored (core.sanitize.clean_plain).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        name = self._offending(request)
        if name is None:
            return self.get_response(request)
        message = f"{name} must not contain a NUL character."
        if request.path.startswith("/api/"):
            return api_error(400, "bad_request", message, {name: "invalid"})
        return HttpResponse(message, status=400, content_type="text/plain; charset=utf-8")

    @staticmethod
    def _offending(request: HttpRequest) -> str | None:
        if "\x00" in request.path:
            return "path"
        sources = [request.GET, request.POST] if _is_form(request) else [request.GET]
        for query in sources:
            for key, values in query.lists():
                if "\x00" in key or any("\x00" in value for value in values):
                    return key.replace("\x00", "") or "query"
        return None


def _is_form(request: HttpRequest) -> bool:
    return request.method == "POST" and request.content_type == "application/x-www-form-urlencoded"
