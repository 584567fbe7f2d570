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
    message = prepared(text)
    if protocol._perMessageCompress is None and not protocol.send_queue:
        write_now(transport, message.payloadHybi)
    else:
        protocol.sendPreparedMessage(message)
    return True


def write_now(transport: Any, data: bytes) -> None:
    """Hand the frame to the kernel at once when nothing is queued for this socket.

    Twisted's write() queues the bytes and registers the socket for writability, then unregisters
    it once written: under the asyncio reactor that is two epoll changes per viewer and message,
    and with autobahn's bookkeeping around it, a third of the cost of a delivery. Writing straight
    to a socket whose queue is empty keeps the order of bytes (nothing is ahead of them); whatever
    the kernel does not take, or any doubt (TLS, a closing socket), goes through Twisted as before.
    """
    sock = getattr(transport, "socket", None)
    if (
        sock is not None
        and not _is_tls(transport)
        and not transport.disconnecting
        and not buffered(transport)
    ):
        try:
            sent = sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            sent = 0  # a broken socket: Twisted's own write notices it and closes the connection
        # (A producer registered on the transport — Twisted's HTTP channel is one — only throttles
        # reading when the write buffer fills; bytes the kernel took never reach that buffer.)
        if sent == len(data):
            return
        data = data[sent:]
    transport.write(data)


_announced = False


def _is_tls(transport: Any) -> bool:
    """TLS terminated by daphne itself (`-e ssl:…`): the protocol's transport is Twisted's TLS
    wrapper, which hands unknown attributes (`socket` among them) through to the raw TCP
    connection, so the socket is there but takes only ciphertext. STARTTLS sets `TLS`.
    The interface check is made once per connection (it costs a few µs, per delivery)."""
    if getattr(transport, "TLS", False):
        return True
    wrapped = getattr(transport, "minxin_tls", None)
    if wrapped is None:
        from twisted.internet.interfaces import ISSLTransport

        wrapped = transport.minxin_tls = bool(ISSLTransport.providedBy(transport))
    return wrapped
