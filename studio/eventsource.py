"""The event log read back: the one serialisation of an event as a frame, and the hub's window on
the database (the room state when a room opens, the events of a gap, the last seqs).

The writer is studio.events; the hub (studio.hub) reads through EventLogSource, which it is given,
so that neither imports the other's module back.
"""

import json
from typing import Any

from django.utils import timezone

from studio.models import Broadcast, Event

RECENT_EVENTS = 2000  # kept per log room by the hub: a whole programme is a few hundred events


def event_frame(event: Event) -> dict[str, Any]:
    return {
        "type": "event",
        "seq": event.seq,
        "kind": event.kind,
        "at": timezone.localtime(event.at).isoformat(timespec="milliseconds"),
        "data": event.data,
    }


def dumps(frame: dict) -> str:
    """The one serialisation of a frame; what Redis carries and every viewer receives."""
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"))


class EventLogSource:
    """What the hub reads from the database: one query to join a room, one per gap."""

    def room_state(self, broadcast_id: int) -> tuple[int, list[tuple[int, str]]]:
        last_seq = Broadcast.objects.values_list("last_seq", flat=True).get(pk=broadcast_id)
        recent = Event.objects.filter(broadcast_id=broadcast_id, seq__gt=last_seq - RECENT_EVENTS).order_by(
            "seq"
        )
        return last_seq, [(e.seq, dumps(event_frame(e))) for e in recent if e.seq <= last_seq]

    def events_between(self, broadcast_id: int, after: int, upto: int) -> list[tuple[int, str]]:
        events = Event.objects.filter(broadcast_id=broadcast_id, seq__gt=after, seq__lte=upto).order_by("seq")
        return [(e.seq, dumps(event_frame(e))) for e in events]

    def last_seqs(self, broadcast_ids: list[int]) -> dict[int, int]:
        return dict(Broadcast.objects.filter(pk__in=broadcast_ids).values_list("pk", "last_seq"))
