"""WebSocket endpoints of the live studio: /ws/live/<id>/ (viewers) and /ws/studio/<id>/ (guests, host)."""

from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core import logs
from core.errors import ServiceError
from core.ratelimit import address_key
from moderation import asking, intake
from moderation.shapes import studio_queue
from moderation.supports import batcher, support_question
from studio import events, services
from studio.addresses import counter
from studio.fastsend import send_prepared
from studio.frames import CLOSE_NOT_FOUND, CLOSE_TOO_MANY_SOCKETS, FrameConsumer, netizen_key
from studio.hub import Room, get_hub
from studio.models import Broadcast


def _client_ip(scope: dict) -> str | None:
    client = scope.get("client")
    return client[0] if client else None


class LiveConsumer(FrameConsumer):
    """A viewer (and, once it asks, a netizen). Public events reach it through the hub, not a group."""

    # No channel-layer channel per viewer: the hub delivers, so the layer would only add a
    # receive task and a dispatch per message (get_channel_layer returns None for this alias).
    channel_layer_alias = "__no_layer__"
    endpoint = "live"
    frames = {
        "ping": {},
        "ask": {"client_id": (str,), "text": (str,)},
        "support": {"question_id": (int,)},
    }

    room: Room | None = None
    asker_room: str | None = None
    address: str | None = None  # counted against the per-address cap (studio/addresses.py)

    async def connect(self) -> None:
        self.broadcast_id = int(self.scope["url_route"]["kwargs"]["broadcast_id"])
        if not await self._count_address():
            return
        self.hub = get_hub()
        # daphne's protocol when the fast send path is available (studio/fastsend.py), read once.
        self.protocol = self.scope.get("minxin.protocol")
        after, bad_after = self._after()
        # From the join until the catch-up is sent, live events wait here (see deliver).
        self.catching_up = True
        self.buffer: list[tuple[int | None, str]] = []
        self.sent_seq = 0
        await self.accept()
        try:
            self.room, catch_up = await self.hub.join_log(self.broadcast_id, self, after)
        except Broadcast.DoesNotExist:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        await self.send_frame(await self._hello(catch_up.last_seq))
        if bad_after:
            await self.send_error("bad_frame", _("after must be a whole number."))
        for text in catch_up.texts:
            await self.send(text_data=text)
        await self._go_live(catch_up.held)
        if self._query("mine") == "1":  # the page has asked before: follow my questions again
            await self._join_asker_room()

    async def _count_address(self) -> bool:
        """Count this socket against its address's cap (studio/addresses.py); over it, say so and close."""
        address = address_key(_client_ip(self.scope))
        if address is not None and not await counter().acquire(address):
            # Accepted only to say why: a refused handshake would look like any other 403.
            await self.accept()
            await self.close(code=CLOSE_TOO_MANY_SOCKETS)
            return False
        self.address = address
        return True

    def _query(self, name: str) -> str | None:
        values = parse_qs(self.scope.get("query_string", b"").decode("latin-1")).get(name)
        return values[0] if values else None

    def _after(self) -> tuple[int | None, bool]:
        """The seq `?after=` resumes after (None: no resume), and whether the query gave a bad one."""
        value = self._query("after")
        if value is None:
            return None, False
        try:
            after = int(value)
        except ValueError:
            return None, True
        return (after, False) if after >= 0 else (None, True)

    async def _hello(self, last_seq: int) -> dict:
        room = self.room
        assert room is not None
        if room.header is None:  # cached in the room: only a process's first viewer costs a query
            room.header = await database_sync_to_async(broadcast_header)(self.broadcast_id)
        return {
            "type": "hello",
            "broadcast": room.header,
            "last_seq": last_seq,
            "online": max(room.online, len(room.members)),
        }

    async def _go_live(self, held: int) -> None:
        """Send the live events held back during the catch-up, in order and none twice; then live."""
        self.sent_seq = held
        while self.buffer:
            pending, self.buffer = self.buffer, []
            for seq, text in pending:
                if seq is None or seq > self.sent_seq:
                    await self.send(text_data=text)
                    if seq is not None:
                        self.sent_seq = seq
        # No await since the buffer was found empty: deliver() now sends, and nothing fell between.
        self.catching_up = False

    async def deliver(self, seq: int | None, text: str) -> None:
        """Called by the hub, in seq order."""
        if self.catching_up:
            self.buffer.append((seq, text))
            return
        if seq is not None:
            if seq <= self.sent_seq:
                return
            self.sent_seq = seq
        protocol = self.protocol
        if protocol is not None:  # daphne: the frame built once for all viewers (studio/fastsend.py)
            send_prepared(protocol, text)
            return
        await self.send(text_data=text)

    async def disconnect(self, code: int) -> None:
        if self.address is not None:
            counter().release(self.address)
            self.address = None
        if self.room is not None:
            self.hub.leave(self.room.name, self)
        if self.asker_room is not None:
            self.hub.leave(self.asker_room, self)

    async def _join_asker_room(self) -> None:
        if self.asker_room is None:
            self.asker_room = events.asker_room(self.netizen)
            await self.hub.join(self.asker_room, self)

    @property
    def netizen(self) -> str:
        key = getattr(self, "_netizen", None)
        if key is None:
            key = self._netizen = netizen_key(self.scope)
            logs.bind(netizen=key)  # the hashed id: never the session key
        return key

    async def frame_ask(self, frame: dict) -> None:
        # Refusals of the text itself come in the netizen's language: checked here, not in the batch.
        asking.check_ask(frame["client_id"], frame["text"], frame.get("nickname"))
        asking.check_consent(frame.get("consent"))
        # Join first so that no my_question about this question can be missed.
        await self._join_asker_room()
        question, _created = await intake.ask(
            asking.AskRequest(
                self.broadcast_id,
                frame["client_id"],
                frame["text"],
                frame.get("nickname"),
                self.netizen,
                _client_ip(self.scope),
            )
        )
        await self.send_frame(
            {
                "type": "ask.ok",
                "ref": frame["client_id"],
                "question_id": question.pk,
                "status": question.status,
            }
        )

    async def frame_support(self, frame: dict) -> None:
        """附议 (PROTOCOL.md §4): counts come back to everyone in batched `support` frames."""
        count = await database_sync_to_async(support_question)(
            self.broadcast_id, frame["question_id"], self.netizen, _client_ip(self.scope)
        )
        batcher().add(self.broadcast_id, frame["question_id"])
        await self.send_frame({"type": "support.ok", "question_id": frame["question_id"], "support": count})


def broadcast_header(broadcast_id: int) -> dict:
    broadcast = Broadcast.objects.select_related("department").get(pk=broadcast_id)
    return {
        "id": broadcast.pk,
        "number": broadcast.number,
        "title": broadcast.title,
        "department": {"code": broadcast.department.code, "name": broadcast.department.name},
        "status": broadcast.status,
        "starts_at": timezone.localtime(broadcast.starts_at).isoformat(timespec="milliseconds"),
    }


class StaffConsumer(FrameConsumer):
    """Base of the staff consoles: login, a role check, and the channel-layer group of the console."""

    console = ""  # "studio" or "moderate"

    async def connect(self) -> None:
        self.broadcast_id = int(self.scope["url_route"]["kwargs"]["broadcast_id"])
        await self.accept()
        exists = await database_sync_to_async(Broadcast.objects.filter(pk=self.broadcast_id).exists)()
        if not exists:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        if not await self.require_staff(self.allowed):
            return
        logs.bind(user=self.scope["user"].pk)
        self.group = events.staff_group(self.console, self.broadcast_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        self.joined = True
        await self.send_frame({"type": "queue", "questions": await database_sync_to_async(self.queue)()})

    async def disconnect(self, code: int) -> None:
        if getattr(self, "joined", False):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def staff_push(self, message: dict) -> None:
        for text in message.get("texts") or [message["text"]]:
            await self.send(text_data=text)

    def allowed(self, user) -> bool:  # runs in a thread
        raise NotImplementedError

    def queue(self) -> list[dict]:
        raise NotImplementedError


class StudioConsumer(StaffConsumer):
    """Guests answer, the host posts messages and starts and ends the programme."""

    console = endpoint = "studio"
    frames = {
        "ping": {},
        "answer": {"client_id": (str,), "text": (str,)},
        "host.message": {"client_id": (str,), "text": (str,)},
        "start": {"action_id": (str,)},
        "end": {"action_id": (str,)},
    }

    async def connect(self) -> None:
        await super().connect()
        if getattr(self, "joined", False):  # after the queue: the programme's status now (PROTOCOL.md §4)
            await self.send_frame(await database_sync_to_async(self._status_frame)())

    def _status_frame(self) -> dict:
        return services.status_frame(Broadcast.objects.get(pk=self.broadcast_id))

    def allowed(self, user) -> bool:
        broadcast = Broadcast.objects.get(pk=self.broadcast_id)
        return broadcast.host_id == user.pk or services.is_guest(self.broadcast_id, user)

    def queue(self) -> list[dict]:
        return studio_queue(self.broadcast_id)

    async def frame_answer(self, frame: dict) -> None:
        question_id = frame.get("question_id")
        on_air = frame.get("on_air", False)
        if not isinstance(on_air, bool):
            raise ServiceError("bad_frame", str(_("on_air must be true or false.")))
        if on_air:  # answered by voice: the host (as 导播) or the guest records a summary
            await database_sync_to_async(services.post_on_air_answer)(
                self.broadcast_id,
                self.scope["user"],
                frame["client_id"],
                question_id,
                frame["text"],
                frame.get("guest_id"),
            )
        else:
            await database_sync_to_async(services.post_answer)(
                self.broadcast_id, self.scope["user"], frame["client_id"], question_id, frame["text"]
            )
        await self.send_frame({"type": "ack", "ref": frame["client_id"]})

    async def frame_host_message(self, frame: dict) -> None:
        await database_sync_to_async(services.post_host_message)(
            self.broadcast_id, self.scope["user"], frame["client_id"], frame["text"]
        )
        await self.send_frame({"type": "ack", "ref": frame["client_id"]})

    async def frame_start(self, frame: dict) -> None:
        await self._status(frame, "live")

    async def frame_end(self, frame: dict) -> None:
        await self._status(frame, "ended")

    async def _status(self, frame: dict, status: str) -> None:
        await database_sync_to_async(services.set_status)(self.broadcast_id, self.scope["user"], status)
        await self.send_frame({"type": "ack", "ref": frame["action_id"]})
