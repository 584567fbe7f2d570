"""The event log: append inside the transaction that makes a change true, publish after commit.

This module is the only writer of studio.Event and the only publisher of live events.
"""

from django.db import transaction
from django.db.models import F

from core import clock
from core.errors import ServiceError
from studio import hub
from studio.eventsource import dumps, event_frame
from studio.models import Broadcast, Event


def locked_broadcast(broadcast_id: int) -> Broadcast:
    """The programme's row, locked until the transaction ends: every change that appends to its log
    takes this lock first, so that the change and its event are ordered like their seqs."""
    try:
        return Broadcast.objects.select_for_update().get(pk=broadcast_id)
    except Broadcast.DoesNotExist:
        raise ServiceError("not_found") from None


def append_event(broadcast_id: int, kind: str, data: dict) -> Event:
    """Append one public event with the next seq; it is published once the transaction commits.

    Must run inside the caller's transaction. Locking the broadcast row serialises appenders,
    so seqs are exactly 1..N even with many processes writing at once.
    """
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        raise RuntimeError("append_event must run inside the transaction of the change it records")
    Broadcast.objects.select_for_update().filter(pk=broadcast_id).update(last_seq=F("last_seq") + 1)
    seq = Broadcast.objects.values_list("last_seq", flat=True).get(pk=broadcast_id)
    event = Event.objects.create(broadcast_id=broadcast_id, seq=seq, kind=kind, at=clock.now(), data=data)
    text = dumps(event_frame(event))
    # robust: a Redis outage after commit must not turn a stored change into an error.
    # Viewers still get the event: every hub compares itself with the log (Hub.catch_up).
    transaction.on_commit(lambda: hub.publish(hub.log_room(broadcast_id), seq, text), robust=True)
    # The moderators' list of what is public (PROTOCOL.md §4) gets the same frame, through their
    # group: registered after the viewers' publish, so it runs after it and never delays their fan-out.
    _push_staff_after_commit(staff_group("moderate", broadcast_id), [text])
    return event


def publish_after_commit(room: str, frame: dict) -> None:
    """Push a frame that is not part of the public log (e.g. `my_question`) once the change commits."""
    text = dumps(frame)
    transaction.on_commit(lambda: hub.publish(room, None, text), robust=True)


async def publish_unlogged(broadcast_id: int, frame: dict) -> None:
    """A frame that is not part of the public log (the batched 附议 counts), sent now to the
    programme's viewers and its moderate and studio consoles. For async code outside a transaction."""
    from channels.db import database_sync_to_async
    from channels.layers import get_channel_layer

    text = dumps(frame)
    await database_sync_to_async(hub.publish)(hub.log_room(broadcast_id), None, text)  # sync Redis client
    layer = get_channel_layer()
    if layer is not None:
        for console in ("moderate", "studio"):
            await layer.group_send(staff_group(console, broadcast_id), {"type": "staff.push", "text": text})


def events_after(broadcast_id: int, after: int, limit: int | None = None) -> list[Event]:
    events = Event.objects.filter(broadcast_id=broadcast_id, seq__gt=after).order_by("seq")
    return list(events[:limit] if limit else events)


def staff_group(kind: str, broadcast_id: int) -> str:
    """Channel-layer group of a programme's staff consoles: kind is "studio" or "moderate"."""
    return f"{kind}.{broadcast_id}"


def notify_staff(group: str, frame: dict) -> None:
    """Push a frame to the staff consoles of a group once the change commits.

    Staff consoles are few, so they use the channel layer's groups; viewers never do (see hub).
    """
    notify_staff_many(group, [frame])


def notify_staff_many(group: str, frames: list[dict]) -> None:
    """Several frames in one channel-layer message: a batch of questions costs one group_send.

    (One group_send per frame doubled the server's CPU for a burst of a thousand questions:
    channels_redis does a round of Redis work per message and member.) Consoles of a release
    before this one read only "text": upgrade all web processes together (README, Operations).
    """
    if frames:
        _push_staff_after_commit(group, [dumps(frame) for frame in frames])


def _push_staff_after_commit(group: str, texts: list[str]) -> None:
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    message: dict[str, object] = {"type": "staff.push", "text": texts[0]}
    if len(texts) > 1:
        message["texts"] = texts

    def send() -> None:
        layer = get_channel_layer()
        if layer is not None:
            async_to_sync(layer.group_send)(group, message)

    transaction.on_commit(send, robust=True)


def asker_room(netizen_key: str) -> str:
    return f"asker.{netizen_key}"
