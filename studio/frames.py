"""The JSON-frame machinery shared by every WebSocket endpoint (PROTOCOL.md §1)."""

import json
import logging
import time
import uuid
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from django.utils.translation.trans_real import get_supported_language_variant, parse_accept_lang_header

from core import logs
from core.errors import ServiceError
from core.netizens import cookies_netizen_key
from studio import drain

log = logging.getLogger(__name__)

CLOSE_TOO_BIG = 4009
CLOSE_LOGIN_REQUIRED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_TOO_MANY_SOCKETS = 4429  # this client address holds MINXIN_SOCKETS_PER_ADDRESS live sockets
UNAVAILABLE_RETRY_AFTER = 2  # seconds a client waits before resending after `unavailable`


def echoable(value: object) -> bool:
    """Whether a client's `client_id` or `action_id` can be sent back as `ref`.

    A lone surrogate cannot be encoded as UTF-8: echoed in an `ack` or `error`, it made the
    server's send fail and closed the socket with 1011 (issue #13).
    """
    if not isinstance(value, str):
        return False
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _printable(value: object, limit: int = 64) -> str:
    """Something the client sent, safe to quote in a message: shortened, surrogates escaped."""
    text = value if isinstance(value, str) else str(value)
    return text[:limit].encode("utf-8", "backslashreplace").decode("utf-8")


def scope_language(scope: dict) -> str:
    for name, value in scope.get("headers", []):
        if name == b"accept-language":
            for code, _q in parse_accept_lang_header(value.decode("latin-1")):
                try:
                    return get_supported_language_variant(code)
                except LookupError:
                    continue
    return settings.LANGUAGE_CODE


def netizen_key(scope: dict) -> str:
    """An opaque id for the netizen: its session's or identity cookie's (core/netizens.py), or a
    per-connection id without either (the live page gets an identity before its first question or
    附议 and then reopens its socket)."""
    session = scope.get("session")
    session_key = getattr(session, "session_key", None) if session is not None else None
    key = cookies_netizen_key(scope.get("cookies") or {}, session_key)
    return key or "c" + uuid.uuid4().hex


class FrameConsumer(AsyncWebsocketConsumer):
    """Parses frames, routes them to `frame_<type>` methods and answers refusals with `error`.

    A bad frame never closes the connection, except one over the size limit (4009).
    """

    # Frame types this endpoint accepts, with the fields each needs and their JSON types.
    frames: dict[str, dict[str, tuple[type, ...]]] = {"ping": {}}
    endpoint = "ws"  # named in log lines: live, studio, moderate

    connected_at = 0.0
    server_close_code: int | None = None

    async def dispatch(self, message: dict) -> None:
        # Channels' dispatch hops to a worker thread before every handler to close stale DB
        # connections. Our handlers reach the database only through database_sync_to_async,
        # which does that itself, so the hop is pure cost on every frame.
        handler = getattr(self, message["type"].replace(".", "_"), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def websocket_connect(self, message: dict) -> None:
        # The consumer's handlers all run in this task, so every line they (and the threads and
        # tasks they start) log carries the connection's id. One line here, one at disconnect.
        self.connected_at = time.monotonic()
        kwargs = self.scope.get("url_route", {}).get("kwargs", {})
        logs.bind(connection_id=logs.new_id(), endpoint=self.endpoint, broadcast=kwargs.get("broadcast_id"))
        log.info("websocket connected")
        self.language = scope_language(self.scope)
        drain.register(self)  # closed gradually when the process drains (studio/drain.py)
        await super().websocket_connect(message)

    async def close(self, code: int | bool | None = None, reason: str | None = None) -> None:
        if self.server_close_code is None:
            self.server_close_code = code if isinstance(code, int) and not isinstance(code, bool) else 1000
        await super().close(code, reason)

    async def websocket_disconnect(self, message: dict) -> None:
        drain.unregister(self)
        try:
            await super().websocket_disconnect(message)
        finally:
            closed_by_server = self.server_close_code is not None
            log.info(
                "websocket closed",
                extra={
                    "code": self.server_close_code if closed_by_server else message.get("code"),
                    "closed_by": "server" if closed_by_server else "client",
                    "duration_s": round(time.monotonic() - self.connected_at, 3),
                },
            )

    async def send_frame(self, frame: dict[str, Any]) -> None:
        text = json.dumps(frame, ensure_ascii=False, separators=(",", ":"))
        if not text.isascii():
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                # A lone surrogate slipped into a frame: as a JSON escape it is still valid text,
                # whereas daphne could not encode it and would drop the connection (issue #13).
                log.warning("frame %s carried a lone surrogate; sent escaped", frame.get("type"))
                text = json.dumps(frame, ensure_ascii=True, separators=(",", ":"))
        await self.send(text_data=text)

    async def send_error(self, code: str, message: object = None, ref: object = None, **extra: Any) -> None:
        with translation.override(self.language):
            text = str(message) if message is not None else ServiceError(code).message
        frame: dict[str, Any] = {"type": "error", "code": code, "message": text}
        if isinstance(ref, str):
            frame["ref"] = ref
        frame.update(extra)
        await self.send_frame(frame)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        # Messages in the client's language (Accept-Language at connect), zh-hans by default.
        with translation.override(self.language):
            await self._receive(text_data)

    async def _receive(self, text_data: str | None) -> None:
        if text_data is None:
            await self.send_error("bad_json", _("Binary frames are not accepted; send JSON text."))
            return
        if len(text_data) > settings.MINXIN_MAX_FRAME_BYTES // 4 and (
            len(text_data.encode("utf-8", "surrogatepass")) > settings.MINXIN_MAX_FRAME_BYTES
        ):
            await self.close(code=CLOSE_TOO_BIG)
            return
        try:
            frame = json.loads(text_data)
        except (ValueError, RecursionError):  # RecursionError: [[[[… nested thousands deep
            await self.send_error("bad_json")
            return
        if not isinstance(frame, dict):
            await self.send_error("bad_json", _("A frame must be a JSON object."))
            return
        # Only an id that can be sent back is echoed as `ref` (a bad one is refused below).
        ref = frame.get("client_id", frame.get("action_id"))
        if not echoable(ref):
            ref = None
        kind = frame.get("type")
        if not isinstance(kind, str) or kind not in self.frames:
            await self.send_error(
                "bad_frame", _("Unknown frame type here: %(type)s") % {"type": _printable(kind)}, ref=ref
            )
            return
        for name, types in self.frames[kind].items():
            if (
                name not in frame
                or not isinstance(frame[name], types)
                or (isinstance(frame[name], bool) and bool not in types)
                # An id is echoed in the ack: one that cannot be is refused before any change.
                or (name in ("client_id", "action_id") and not echoable(frame[name]))
            ):
                await self.send_error(
                    "bad_frame",
                    _("Field %(name)s is missing or of the wrong type.") % {"name": name},
                    ref=ref,
                )
                return
        try:
            await getattr(self, "frame_" + kind.replace(".", "_"))(frame)
        except ServiceError as error:
            extra = {"retry_after": error.retry_after} if error.retry_after is not None else {}
            await self.send_error(error.code, error.message, ref=ref, **extra)
        except (OperationalError, InterfaceError) as exc:
            # The database is down or restarting: the change was not made, and the client should
            # send the same frame (same client_id) again, which is safe (PROTOCOL.md §1).
            log.warning("frame %s refused, database unavailable: %s", kind, exc)
            await self.send_error("unavailable", ref=ref, retry_after=UNAVAILABLE_RETRY_AFTER)
        except Exception:
            log.exception("frame %s failed", kind)
            await self.send_error("bad_frame", _("The server could not handle this frame."), ref=ref)

    async def frame_ping(self, frame: dict) -> None:
        await self.send_frame({"type": "pong"})

    async def require_staff(self, check: Any) -> bool:
        """Close with 4401 for anonymous users, 4403 when `check(user)` (run in a thread) is false."""
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_LOGIN_REQUIRED)
            return False
        if not await database_sync_to_async(check)(user):
            await self.close(code=CLOSE_FORBIDDEN)
            return False
        return True
