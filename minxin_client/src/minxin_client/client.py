"""The connections: reconnect and resume, duplicate and gap handling, resend until acknowledged.

See the package docstring for the API. One background task per client reads the socket; the hot
path per event is one json.loads, a type and seq check and a queue put (schema validation only
when `validate` is on).
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

# Closes after which reconnecting cannot help (PROTOCOL.md §1): login required, not allowed, no such
# broadcast, a frame of ours too big.
FATAL_CLOSE_CODES = {
    4401: "login required",
    4403: "not allowed",
    4404: "no such broadcast",
    4009: "frame too big",
}
RETRY_CODES = {"rate_limited", "unavailable"}  # refusals that say "send the same frame again later"
_END = object()


class ClientError(Exception):
    """Base of the client's errors."""


class ProtocolError(ClientError):
    """The server sent something the protocol does not allow (not JSON, not an object, a bad field)."""

    def __init__(self, message: str, raw: object = None):
        shown = raw if not isinstance(raw, str | bytes) else raw[:300]
        super().__init__(f"{message}: {shown!r}" if raw is not None else message)
        self.raw = raw


class Closed(ClientError):
    """The server closed the connection for good (4401, 4403, 4404, 4009, or refused the handshake)."""

    def __init__(self, code: int, reason: str):
        super().__init__(f"closed by the server: {code} {reason}")
        self.code = code


class Refused(ClientError):
    """The server answered a request with an `error` frame that resending would not change."""

    def __init__(self, frame: dict):
        super().__init__(f"{frame.get('code')}: {frame.get('message')}")
        self.frame = frame
        self.code = frame.get("code")


# The server is going away (a deploy drains it; PROTOCOL.md §4, "Draining"): reconnect, elsewhere,
# and resume.
CLOSE_GOING_AWAY = 4503


@dataclass(frozen=True)
class Backoff:
    """When to reconnect. After an open connection is lost, the first attempt waits a random time
    in [0, spread): when a server dies, every viewer it held loses its connection in the same
    instant, and the spread turns their return into a ramp instead of a second rush on the servers
    left (a server that drains closes its sockets spread out already, so after a close with 4503 the
    wait is in [0, initial)). After the n-th failed attempt in a row: capped exponential backoff
    with jitter, between half and all of min(cap, initial * factor**(n-1))."""

    initial: float = 0.2
    factor: float = 2.0
    cap: float = 5.0
    spread: float = 1.0

    def delay(self, failures: int) -> float:
        ceiling = min(self.cap, self.initial * self.factor ** max(failures - 1, 0))
        return ceiling / 2 + random.random() * ceiling / 2

    def after_drop(self, code: int | None) -> float:
        """The wait before the first attempt after an open connection closed with `code`."""
        return random.random() * (self.initial if code == CLOSE_GOING_AWAY else self.spread)


@dataclass
class _Pending:
    frame: dict
    future: asyncio.Future
    resend: bool


def _validate_default() -> bool:
    return os.environ.get("MINXIN_CLIENT_VALIDATE", "") in ("1", "true", "yes")


class _Client:
    """What the endpoints share: connect across URLs, read, dispatch, resend pending requests."""

    endpoint = ""
    first_type = ""

    def __init__(
        self,
        urls: str | Sequence[str],
        broadcast_id: int,
        *,
        cookie: str | None = None,
        origin: str | None = None,
        headers: dict[str, str] | None = None,
        backoff: Backoff | None = None,
        validate: bool | None = None,
        open_timeout: float = 5.0,
        resend_after: float = 5.0,
        max_failures: int | None = None,
        on_frame: Callable[[dict], None] | None = None,
        queue_frames: bool = True,
        local_address: str | None = None,
    ):
        self.urls = [urls] if isinstance(urls, str) else list(urls)
        if not self.urls:
            raise ValueError("at least one server URL is needed")
        self.broadcast_id = int(broadcast_id)
        self.cookie = cookie
        self.origin = origin
        self.headers = dict(headers or {})
        self.backoff = backoff or Backoff()
        self.validate = _validate_default() if validate is None else validate
        self.open_timeout = open_timeout
        self.resend_after = resend_after
        self.max_failures = max_failures
        self.on_frame = on_frame
        self.queue_frames = queue_frames
        # The address to connect from (a load test on loopback spreads its clients over 127.x).
        self.local_address = local_address
        self.connections = 0  # successful connects (the first one included)
        # Each open connection that was lost: (time.monotonic() of the loss, close code or None).
        self.drops: list[tuple[float, int | None]] = []
        # Refusals that the client waited out and resent (rate_limited, unavailable), by code.
        self.retries: collections.Counter[str] = collections.Counter()
        self._validator: Any = None
        if self.validate:
            from minxin_client.schema import default_validator

            self._validator = default_validator()
        self._queue: asyncio.Queue = asyncio.Queue()
        self._pending: dict[str, _Pending] = {}
        self._ws: ClientConnection | None = None
        self._open = False
        self._ready = asyncio.Event()  # set while a connection is open (after its first frame)
        self._task: asyncio.Task | None = None
        self._failure: BaseException | None = None
        self._closing = False
        self._attempt = 0

    # --- lifecycle -------------------------------------------------------------------------------

    async def __aenter__(self):
        self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"minxin-{self.endpoint}")

    async def close(self) -> None:
        """Stop reconnecting and close the socket; iteration ends after the events already received."""
        self._closing = True
        task = self._task
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        self._finish(ClientError("the client was closed"), failed=False)

    def _finish(self, error: BaseException, failed: bool = True) -> None:
        if failed and self._failure is None:
            self._failure = error
        for pending in self._pending.values():
            if not pending.future.done():
                pending.future.set_exception(error)
        self._pending.clear()
        self._queue.put_nowait(_END)

    def __aiter__(self) -> AsyncIterator[dict]:
        self.start()
        return self

    async def __anext__(self) -> dict:
        if self._task is None:
            self.start()
        item = await self._queue.get()
        if item is _END:
            self._queue.put_nowait(_END)  # every later call ends too
            if self._failure is not None:
                raise self._failure
            raise StopAsyncIteration
        return item

    # --- connecting ----------------------------------------------------------------------------

    def query(self) -> str:
        return ""

    def _address(self, base: str) -> tuple[str, str]:
        base = base.rstrip("/")
        scheme, sep, rest = base.partition("://")
        if not sep:
            raise ValueError(f"not a URL: {base!r}")
        ws_scheme = {"http": "ws", "https": "wss"}.get(scheme, scheme)
        http_scheme = {"ws": "http", "wss": "https"}.get(scheme, scheme)
        path = f"/ws/{self.endpoint}/{self.broadcast_id}/"
        return f"{ws_scheme}://{rest}{path}{self.query()}", self.origin or f"{http_scheme}://{rest}"

    async def _run(self) -> None:
        failures = 0
        try:
            while not self._closing:
                lost = False  # an open connection was lost (then `code` is its close code)
                code: int | None = None
                url, origin = self._address(self.urls[self._attempt % len(self.urls)])
                self._attempt += 1
                headers = dict(self.headers)
                if self.cookie:
                    headers["Cookie"] = self.cookie
                try:
                    async with connect(
                        url,
                        origin=origin,  # type: ignore[arg-type]
                        additional_headers=headers,
                        open_timeout=self.open_timeout,
                        max_size=16 * 1024 * 1024,
                        local_addr=(self.local_address, 0) if self.local_address else None,
                    ) as ws:
                        self._ws = ws
                        first = await asyncio.wait_for(ws.recv(), timeout=self.open_timeout)
                        self._opened(self._parse(first), first)
                        failures = 0
                        self.connections += 1
                        self._open = True
                        self._ready.set()
                        for pending in list(self._pending.values()):
                            await self._send_now(pending.frame)
                        async for raw in ws:
                            self._receive(raw)
                        lost, code = True, ws.close_code
                except _Resync:
                    pass
                except ConnectionClosed as closed:
                    code = closed.rcvd.code if closed.rcvd is not None else None
                    if code in FATAL_CLOSE_CODES:
                        raise Closed(code, FATAL_CLOSE_CODES[code]) from None
                    lost = self._open
                except InvalidStatus as refused:
                    status = refused.response.status_code
                    if 400 <= status < 500:  # origin refused, no such path: trying again will not help
                        raise Closed(status, "handshake refused") from None
                except (OSError, TimeoutError, InvalidHandshake):
                    pass
                finally:
                    self._ws = None
                    self._open = False
                    self._ready.clear()
                    self._lost()
                if self._closing:
                    break
                if lost:  # an open connection was lost: come back spread out
                    self.drops.append((time.monotonic(), code))
                    await asyncio.sleep(self.backoff.after_drop(code))
                    continue
                failures += 1
                if self.max_failures is not None and failures > self.max_failures:
                    raise ClientError(f"gave up after {failures - 1} failed connection attempts")
                await asyncio.sleep(self.backoff.delay(failures))
        except asyncio.CancelledError:
            raise
        except BaseException as error:
            self._finish(error)
            return
        self._finish(ClientError("the client was closed"), failed=False)

    def _parse(self, raw: str | bytes) -> dict:
        if not isinstance(raw, str):
            raise ProtocolError("the server sent a binary frame", raw)
        try:
            frame = json.loads(raw)
        except ValueError:
            raise ProtocolError("the server sent a frame that is not JSON", raw) from None
        if type(frame) is not dict or not isinstance(frame.get("type"), str):
            raise ProtocolError("the server sent a frame that is not an object with a type", raw)
        if self._validator is not None:
            from minxin_client.schema import FrameSchemaError

            try:
                self._validator.validate(frame, self.endpoint, "server")
            except FrameSchemaError as error:
                raise ProtocolError(str(error)) from None
        return frame

    def _opened(self, frame: dict, raw: object) -> None:
        if frame["type"] != self.first_type:
            raise ProtocolError(f"the first frame must be {self.first_type}", raw)
        self._deliver(frame)

    def _lost(self) -> None:
        """The connection is gone: requests that must not be resent cannot be told apart any more."""
        for ref, pending in list(self._pending.items()):
            if not pending.resend:
                del self._pending[ref]
                if not pending.future.done():
                    pending.future.set_exception(
                        ClientError(
                            "the connection dropped before the server acknowledged; the action may or may not have been applied"
                        )
                    )

    # --- frames --------------------------------------------------------------------------------

    def _receive(self, raw: str | bytes) -> None:
        self._dispatch(self._parse(raw))

    def _dispatch(self, frame: dict) -> None:
        kind = frame["type"]
        if kind in ("ack", "ask.ok", "error"):
            ref = frame.get("ref")
            pending = self._pending.get(ref) if isinstance(ref, str) else None
            if pending is not None and isinstance(ref, str):
                if kind != "error":
                    del self._pending[ref]
                    if not pending.future.done():
                        pending.future.set_result(frame)
                elif frame.get("code") in RETRY_CODES:
                    self.retries[frame["code"]] += 1
                    wait = frame.get("retry_after")
                    wait = wait if isinstance(wait, int | float) and 0 <= wait <= 3600 else 1
                    asyncio.get_running_loop().call_later(wait, self._resend, ref)
                else:
                    del self._pending[ref]
                    if not pending.future.done():
                        pending.future.set_exception(Refused(frame))
                return
        self._deliver(frame)

    def _deliver(self, frame: dict) -> None:
        if self.on_frame is not None:
            self.on_frame(frame)
        if self.queue_frames:
            self._queue.put_nowait(frame)

    # --- requests ------------------------------------------------------------------------------

    def _resend(self, ref: str) -> None:
        pending = self._pending.get(ref)
        if pending is not None and self._open:
            asyncio.get_running_loop().create_task(self._send_now(pending.frame))

    async def _send_now(self, frame: dict) -> None:
        ws = self._ws
        if ws is None:
            return
        try:
            await ws.send(json.dumps(frame, ensure_ascii=False, separators=(",", ":")))
        except ConnectionClosed:
            pass  # the reconnect sends it again

    async def request(self, frame: dict, ref: str, resend: bool = True) -> dict:
        """Send `frame` and wait for the `ack`/`ask.ok` naming `ref`.

        With `resend`, the frame goes out again on every reconnect and every `resend_after`
        seconds without an answer (only for frames the server treats idempotently).
        """
        if self._validator is not None:
            self._validator.validate(frame, self.endpoint, "client")
        if self._failure is not None:
            raise self._failure
        if self._closing:
            raise ClientError("the client was closed")
        if ref in self._pending:
            raise ValueError(f"a request with ref {ref!r} is already waiting")
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._pending[ref] = _Pending(frame, future, resend)
        self.start()
        try:
            if self._open:
                await self._send_now(frame)
            while True:
                try:
                    return await asyncio.wait_for(asyncio.shield(future), timeout=self.resend_after)
                except TimeoutError:
                    if resend and self._open:
                        await self._send_now(frame)
        finally:
            if self._pending.get(ref) is not None and self._pending[ref].future is future:
                del self._pending[ref]


class _Resync(Exception):
    """A gap in the seqs: reconnect with ?after=<last seq> and let the server fill it."""


class Viewer(_Client):
    """A viewer (and netizen) of /ws/live/<broadcast_id>/; iterating yields `event` frames once, in order."""

    endpoint = "live"
    first_type = "hello"

    def __init__(
        self,
        urls: str | Sequence[str],
        broadcast_id: int,
        after: int | None = 0,
        *,
        mine: bool = False,
        events: bool = True,
        **options: Any,
    ):
        super().__init__(urls, broadcast_id, **options)
        if after is not None and (type(after) is not int or after < 0):
            raise ValueError("after must be a whole number ≥ 0 or None")
        self.last_seq: int | None = after
        self.mine = mine
        self.events = events
        self.hello: dict | None = None
        self.online: int | None = None
        self._support_waiters: dict[object, list[asyncio.Future]] = {}
        self.duplicates = 0  # events dropped because their seq was already delivered
        self.gaps = 0  # times a seq was skipped (each makes the viewer resume from the last seq)

    def query(self) -> str:
        params = []
        if self.last_seq is not None:
            params.append(f"after={self.last_seq}")
        if self.mine:
            params.append("mine=1")
        return "?" + "&".join(params) if params else ""

    def _opened(self, frame: dict, raw: object) -> None:
        if frame["type"] != "hello":
            raise ProtocolError("the first frame must be hello", raw)
        last = frame.get("last_seq")
        if type(last) is not int:
            raise ProtocolError("hello without an integer last_seq", raw)
        self.hello = frame
        self.online = frame.get("online")
        if self.last_seq is None:
            self.last_seq = last  # live events only: they start after what hello reports
        if self.on_frame is not None:
            self.on_frame(frame)

    def _receive(self, raw: str | bytes) -> None:
        frame = self._parse(raw)
        if frame["type"] != "event":
            if frame["type"] == "presence":
                self.online = frame.get("online")
            self._dispatch(frame)
            return
        seq = frame.get("seq")
        if type(seq) is not int:
            raise ProtocolError("an event without an integer seq", raw)
        last = self.last_seq
        assert last is not None  # set from hello at the latest
        if seq <= last:
            self.duplicates += 1
            return
        if seq != last + 1:
            self.gaps += 1
            raise _Resync
        self.last_seq = seq
        if self.events:
            self._queue.put_nowait(frame)

    def _deliver(self, frame: dict) -> None:
        if self.on_frame is not None:
            self.on_frame(frame)  # non-event frames are not queued: iterating yields events only

    async def ask(
        self,
        text: str,
        client_id: str | None = None,
        nickname: str | None = None,
        consent: bool | None = None,
    ) -> dict:
        """Ask a question; returns the `ask.ok` frame (`question_id`, `status`). See the package doc."""
        client_id = client_id or str(uuid.uuid4())
        frame: dict[str, Any] = {"type": "ask", "client_id": client_id, "text": text}
        if nickname is not None:
            frame["nickname"] = nickname
        if consent is not None:  # True once the user agreed to the privacy notice (PROTOCOL.md §4)
            frame["consent"] = consent
        return await self.request(frame, client_id)

    async def support(self, question_id: int) -> dict:
        """附议 a published question; returns the `support.ok` frame. Sent once, when connected (a
        repeat is harmless on the server); bound the wait with asyncio.timeout if you need to."""
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._support_waiters.setdefault(question_id, []).append(future)
        self.start()
        await self._ready.wait()
        await self._send_now({"type": "support", "question_id": question_id})
        return await future

    def _dispatch(self, frame: dict) -> None:
        if frame["type"] == "support.ok":
            for future in self._support_waiters.pop(frame.get("question_id"), []):
                if not future.done():
                    future.set_result(frame)
        super()._dispatch(frame)

    async def follow(
        self,
        on_event: Callable[[dict], None] | None = None,
        *,
        stop: asyncio.Event | None = None,
        until_seq: int | None = None,
    ) -> int:
        """Deliver events to `on_event` until `stop` is set (then the viewer closes), seq `until_seq`
        is reached, or the viewer fails (its error is raised). Returns the last seq delivered."""
        stopper = None
        if stop is not None:

            async def close_on_stop() -> None:
                await stop.wait()
                await self.close()

            stopper = asyncio.get_running_loop().create_task(close_on_stop())
        try:
            async for event in self:
                if on_event is not None:
                    on_event(event)
                if until_seq is not None and event["seq"] >= until_seq:
                    break
        finally:
            if stopper is not None:
                stopper.cancel()
        return self.last_seq or 0


class StudioConsole(_Client):
    """A guest or the host on /ws/studio/<id>/ (needs a logged-in session `cookie`).

    Iterating yields the pushed frames: `queue` first, then `status`, `question.approved`,
    `question.answered`, `support`. Every request is resent until its `ack` (the server treats them idempotently).
    """

    endpoint = "studio"
    first_type = "queue"

    async def answer(self, text: str, question_id: int | None = None, client_id: str | None = None) -> dict:
        client_id = client_id or str(uuid.uuid4())
        frame = {"type": "answer", "client_id": client_id, "question_id": question_id, "text": text}
        return await self.request(frame, client_id)

    async def answer_on_air(
        self, question_id: int, summary: str, guest_id: int | None = None, client_id: str | None = None
    ) -> dict:
        """Record that a question was answered by voice on air, with a short summary (PROTOCOL.md §4).
        The host names the guest who answered (`guest_id`); a guest may leave it out."""
        client_id = client_id or str(uuid.uuid4())
        frame: dict = {
            "type": "answer",
            "client_id": client_id,
            "question_id": question_id,
            "text": summary,
            "on_air": True,
        }
        if guest_id is not None:
            frame["guest_id"] = guest_id
        return await self.request(frame, client_id)

    async def host_message(self, text: str, client_id: str | None = None) -> dict:
        client_id = client_id or str(uuid.uuid4())
        return await self.request({"type": "host.message", "client_id": client_id, "text": text}, client_id)

    async def start_programme(self) -> dict:
        action_id = str(uuid.uuid4())
        return await self.request({"type": "start", "action_id": action_id}, action_id)

    async def end_programme(self) -> dict:
        action_id = str(uuid.uuid4())
        return await self.request({"type": "end", "action_id": action_id}, action_id)


class ModerateConsole(_Client):
    """A moderator on /ws/moderate/<id>/. Actions are sent once: if the connection drops before the
    `ack`, the call raises ClientError (the action may have been applied; a resend could meet
    `conflict`). Iterating yields `queue`, `public`, `question.new`, `question.updated`, `event`, `support`."""

    endpoint = "moderate"
    first_type = "queue"

    async def _act(self, frame: dict) -> dict:
        action_id = str(uuid.uuid4())
        return await self.request({**frame, "action_id": action_id}, action_id, resend=False)

    async def approve(self, question_id: int, publish: bool = False) -> dict:
        return await self._act({"type": "approve", "question_id": question_id, "publish": publish})

    async def reject(self, question_id: int, reason: str = "") -> dict:
        return await self._act({"type": "reject", "question_id": question_id, "reason": reason})

    async def merge(self, question_id: int, into: int) -> dict:
        return await self._act({"type": "merge", "question_id": question_id, "into": into})

    async def edit(self, question_id: int, text: str) -> dict:
        return await self._act({"type": "edit", "question_id": question_id, "text": text})

    async def withdraw(self, seq: int) -> dict:
        return await self._act({"type": "withdraw", "seq": seq})
