"""Structured logs: one JSON object per line in production, plain text in development.

Every line carries the context of the work that emitted it, kept in one context variable:
`request_id` for an HTTP request (RequestIdMiddleware), `connection_id`, `broadcast` and
`endpoint` for a WebSocket connection (studio.frames.FrameConsumer), and `netizen` (the hashed id,
never the session key) once a viewer asks or supports. Threads started by sync_to_async and tasks
created from the request or connection inherit it; long-lived shared tasks (the hub's rooms) are
created with an empty context so they never carry one connection's id.

MINXIN_LOG_FORMAT=json|text chooses the format (json by default in settings.prod, text otherwise).
"""

import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from contextvars import ContextVar, Token
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.core.exceptions import ImproperlyConfigured

from core.privacy import mask_personal_data

REQUEST_ID_HEADER = "X-Request-ID"
# One line per HTTP request, in place of daphne's plain-text access log (the Procfile turns that
# off: it is not JSON, and it writes every client's address).
access_log = logging.getLogger("minxin.access")
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

# The context of the current request or connection; a new dict on every change, never mutated.
_context: ContextVar[dict[str, Any] | None] = ContextVar("minxin_log_context", default=None)

# LogRecord's own attributes: whatever else a record holds came from `extra=`.
_RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
# Never written, whatever a caller passes in `extra=` (item 4 of issue #8: no secrets, no personal data).
_SECRET_NAMES = frozenset(
    {"password", "session_key", "sessionid", "csrf", "csrftoken", "csrf_token", "token", "phone", "contact"}
)
_SCALARS = (str, int, float, bool, type(None))


def new_id() -> str:
    return uuid.uuid4().hex


def sane_request_id(value: str | None) -> str | None:
    """The incoming id when it is ≤ 64 characters of [A-Za-z0-9._-], else None."""
    return value if value and _SANE_REQUEST_ID.fullmatch(value) else None


def bind(**fields: Any) -> Token:
    """Add fields to the context of the current request or connection (and what it starts)."""
    current = _context.get()
    return _context.set({**current, **fields} if current else fields)


def reset(token: Token) -> None:
    _context.reset(token)


def context() -> dict[str, Any]:
    return dict(_context.get() or {})


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The context fields of a record, then its scalar `extra=` fields (secrets dropped)."""
    fields = dict(_context.get() or {})
    attrs = record.__dict__
    # django.request logs a 4xx/5xx response after the middleware chain has returned; the request
    # it passes as `extra` still has its id.
    request = attrs.get("request")
    if "request_id" not in fields and request is not None:
        request_id = getattr(request, "request_id", None)
        if request_id:
            fields["request_id"] = request_id
    for name, value in attrs.items():
        if (
            name not in _RECORD_ATTRS
            and isinstance(value, _SCALARS)
            and name[0] != "_"
            and name.lower() not in _SECRET_NAMES
        ):
            fields[name] = value
    return fields


_second: tuple[int, str] = (-1, "")  # the last second formatted, shared by every thread (a race recomputes)


def utc_timestamp(created: float) -> str:
    """ISO-8601 UTC with milliseconds: 2026-05-14T06:30:01.123Z."""
    global _second
    seconds = int(created)
    cached_second, prefix = _second
    if cached_second != seconds:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        _second = (seconds, prefix)
    return f"{prefix}.{int((created - seconds) * 1000):03d}Z"


# Built once: json.dumps with options builds a new encoder on every call.
_encode = json.JSONEncoder(ensure_ascii=False, default=str).encode
_encode_ascii = json.JSONEncoder(ensure_ascii=True, default=str).encode


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, the context fields, exc (a traceback)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": utc_timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            # A message or traceback may quote what a citizen typed (a path, a refused frame, a
            # database error's detail): logs are masked like any public surface.
            "message": mask_personal_data(record.getMessage()),
        }
        for name, value in record_fields(record).items():
            line.setdefault(name, value)
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exc"] = mask_personal_data(record.exc_text)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        text = _encode(line)
        if not text.isascii():
            # JSON leaves U+2028/U+2029 raw, and some readers split lines on them.
            text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:  # a lone surrogate (e.g. from a client's frame): escape it
                text = _encode_ascii(line)
        return text


class TextFormatter(logging.Formatter):
    """Readable lines for development: time level logger message [field=value …]."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = mask_personal_data(record.message)  # as JsonFormatter
        text = super().formatMessage(record)
        fields = record_fields(record)
        if fields:
            text += " [" + " ".join(f"{name}={value}" for name, value in fields.items()) + "]"
        return text

    def formatException(self, ei) -> str:  # type: ignore[no-untyped-def]
        return mask_personal_data(super().formatException(ei))


FORMATTERS = {"json": JsonFormatter, "text": TextFormatter}


def logging_config(log_format: str | None, level: str | None) -> dict:
    """settings.LOGGING for MINXIN_LOG_FORMAT (json|text) and LOG_LEVEL."""
    if log_format not in FORMATTERS:
        raise ImproperlyConfigured(f"MINXIN_LOG_FORMAT must be json or text, not {log_format!r}.")
    formatter = FORMATTERS[log_format]
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"minxin": {"()": f"{formatter.__module__}.{formatter.__qualname__}"}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "minxin"}},
        "root": {"handlers": ["console"], "level": level or "INFO"},
        "loggers": {
            # Django's own console handler (DEBUG only) would print its lines a second time,
            # without context: everything goes through the root handler instead.
            "django": {"handlers": [], "level": "INFO"},
            # SQL with its parameters would write session keys and phone numbers, even at DEBUG.
            "django.db.backends": {"level": "INFO"},
        },
    }


class RequestIdMiddleware:
    """First in MIDDLEWARE: a request id for every HTTP request, in the log context and echoed.

    An incoming X-Request-ID (from the load balancer) is kept when sane, otherwise replaced.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def _begin(self, request: Any) -> str:
        request_id = sane_request_id(request.META.get("HTTP_X_REQUEST_ID")) or new_id()
        request.request_id = request_id
        return request_id

    def __call__(self, request: Any) -> Any:
        if self.is_async:
            return self._acall(request)
        request_id = self._begin(request)
        token = bind(request_id=request_id)
        began = time.monotonic()
        try:
            response = self.get_response(request)
            _log_request(request, response, began)
        finally:
            reset(token)
        response[REQUEST_ID_HEADER] = request_id
        return response

    async def _acall(self, request: Any) -> Any:
        request_id = self._begin(request)
        token = bind(request_id=request_id)
        began = time.monotonic()
        try:
            get_response: Callable[[Any], Awaitable[Any]] = self.get_response
            response = await get_response(request)
            _log_request(request, response, began)
        finally:
            reset(token)
        response[REQUEST_ID_HEADER] = request_id
        return response


def _log_request(request: Any, response: Any, began: float) -> None:
    """The access line: method, path (never the query string, which may carry a letter's key),
    status and duration; no client address."""
    access_log.info(
        "%s %s %s",
        request.method,
        mask_personal_data(request.path),  # masked apart from the status, which it would run into
        response.status_code,
        extra={
            "status_code": response.status_code,
            "duration_ms": round(1000 * (time.monotonic() - began), 1),
        },
    )
