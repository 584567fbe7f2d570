"""The viewers' send path under daphne: one framed message for every viewer, and a bounded buffer.

Through ASGI every delivery is a coroutine through the middleware's send wrapper into daphne,
which encodes the text to UTF-8 and frames it again for each socket (FANOUT-BASELINE.md: the
send path is most of what remains of the per-viewer cost). autobahn, daphne's WebSocket library,
can frame a message once and send the same bytes to many sockets (`PreparedMessage`), and the
socket's Twisted transport tells how much is still waiting to be written. So, when the server is
daphne (checked, not assumed), live deliveries go straight to the protocol:

- each event is encoded and framed once per process, not once per viewer;
- a viewer that stops reading is disconnected once more than MAX_BUFFERED bytes wait for it,
  so memory stays bounded and the others are not slowed; its client reconnects with ?after=
  and misses nothing.

Any other server, or a daphne whose internals differ, gets the plain ASGI send.
"""

import functools
import logging
from typing import Any

log = logging.getLogger(__name__)

MAX_BUFFERED = 2 * 1024 * 1024  # bytes waiting for one viewer (beyond the kernel's) before it is cut off


class TransportMiddleware:
    """ASGI middleware (outermost on WebSockets): puts daphne's protocol object in the scope."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> Any:
        protocol = daphne_protocol(send)
        if protocol is not None:
            scope = {**scope, "minxin.protocol": protocol}
        return await self.app(scope, receive, send)


def daphne_protocol(send: Any) -> Any | None:
    """daphne's send is partial(Server.handle_reply, protocol); anything else gives None."""
    if not isinstance(send, functools.partial) or getattr(send.func, "__name__", "") != "handle_reply":
        return None
    protocol = send.args[0] if send.args else None
    needed = ("sendPreparedMessage", "transport", "STATE_OPEN")
    return protocol if protocol is not None and all(hasattr(protocol, name) for name in needed) else None


@functools.lru_cache(maxsize=256)
def prepared(text: str) -> Any:
    """The event framed once (server frames are not masked), for every viewer of this process."""
    from autobahn.websocket.protocol import PreparedMessage

    return PreparedMessage(text.encode("utf-8"), False, False, True)


def buffered(transport: Any) -> int:
    """Bytes the Twisted transport still holds for this socket."""
    return len(getattr(transport, "dataBuffer", b"")) + getattr(transport, "_tempDataLen", 0)


def send_prepared(protocol: Any, text: str) -> bool:
    """Send on the fast path; False when the socket is gone or was cut off for falling behind."""
    if getattr(protocol, "state", None) != protocol.STATE_OPEN or getattr(protocol, "minxin_cut_off", False):
        return False
    transport = protocol.transport
    if transport is None:
        return False
    if buffered(transport) > MAX_BUFFERED:
        log.info("cutting off a viewer that stopped reading (%d bytes waiting)", buffered(transport))
        protocol.minxin_cut_off = True  # the abort completes on the reactor's next turn
        transport.abortConnection()
        return False
    global _announced
    if not _announced:
        _announced = True
        log.info("live deliveries use daphne's protocol directly (prepared frames, bounded buffers)")
    protocol.sendPreparedMessage(prepared(text))
    return True


_announced = False
