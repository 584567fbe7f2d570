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

Any other server, or a daphne, autobahn or Twisted whose internals differ (each field used is
checked, at start-up and on each connection), gets the plain ASGI send.
"""

import functools
import logging
from typing import Any

log = logging.getLogger(__name__)

MAX_BUFFERED = 2 * 1024 * 1024  # bytes waiting for one viewer (beyond the kernel's) before it is cut off


# Everything of daphne, autobahn and Twisted that the fast path reads or calls. Private fields
# (underscored) can change in any release, hence the hash-locked versions (requirements.lock) and
# this check: when one is missing the plain ASGI send is used, slower but correct.
CLASS_NEEDS = {
    "daphne.server.Server": ("handle_reply",),
    "daphne.ws_protocol.WebSocketProtocol": ("sendPreparedMessage", "STATE_OPEN", "transport"),
    "autobahn.websocket.protocol.PreparedMessage": ("__init__",),
    "twisted.internet.tcp.Server": ("write", "abortConnection", "dataBuffer", "disconnecting"),
    "twisted.internet.interfaces.ISSLTransport": ("providedBy",),
}
# Set on each connection (autobahn's _connectionMade, Twisted's FileDescriptor.__init__), so
# checked on the objects themselves, once per connection.
PROTOCOL_NEEDS = (
    "sendPreparedMessage",
    "STATE_OPEN",
    "state",
    "send_queue",
    "_perMessageCompress",
    "transport",
)
TRANSPORT_NEEDS = ("write", "abortConnection", "dataBuffer", "_tempDataLen", "disconnecting")


@functools.lru_cache(maxsize=1)
def fast_path_problem() -> str | None:
    """None when every class attribute the fast path relies on is there, else what is missing.
    Computed once per process, when asgi.py builds the application."""
    import importlib

    for path, names in CLASS_NEEDS.items():
        module_name, _, class_name = path.rpartition(".")
        try:
            owner = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError):
            return f"{path} is missing"
        for name in names:
            if not hasattr(owner, name):
                return f"{path}.{name} is missing"
    try:  # a server frame of the text "x": FIN + text opcode, unmasked, length 1
        from autobahn.websocket.protocol import PreparedMessage

        if PreparedMessage(b"x", False, False, True).payloadHybi != b"\x81\x01x":
            return "autobahn's PreparedMessage frames differently"
    except Exception as exc:  # a changed signature or a missing payloadHybi
        return f"autobahn's PreparedMessage: {exc.__class__.__name__}: {exc}"
    return None


class TransportMiddleware:
    """ASGI middleware (outermost on WebSockets): puts daphne's protocol object in the scope, when
    the fast path can be used."""

    def __init__(self, app: Any):
        self.app = app
        self.fast = fast_path_problem() is None
        if not self.fast:
            log.warning("live deliveries use the plain ASGI send: %s", fast_path_problem())

    async def __call__(self, scope: dict, receive: Any, send: Any) -> Any:
        protocol = daphne_protocol(send) if self.fast else None
        if protocol is not None:
            scope = {**scope, "minxin.protocol": protocol}
        return await self.app(scope, receive, send)


def daphne_protocol(send: Any) -> Any | None:
    """daphne's send is partial(Server.handle_reply, protocol); anything else, or a protocol or
    transport without one of the fields the fast path uses, gives None (the plain send)."""
    if not isinstance(send, functools.partial) or getattr(send.func, "__name__", "") != "handle_reply":
        return None
    protocol = send.args[0] if send.args else None
    if protocol is None or not all(hasattr(protocol, name) for name in PROTOCOL_NEEDS):
        return None
    transport = protocol.transport
    if transport is None or not all(hasattr(transport, name) for name in TRANSPORT_NEEDS):
        return None
    return protocol


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
