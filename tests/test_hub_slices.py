"""A large room is served in slices: the fan-out of one event yields to the event loop while it
hands the event out (issue #18), so that pings, asks and handshakes of the same process do not wait
for thousands of deliveries; and yielding loses no event and doubles none.

The slice length is set to zero here so that the fan-out yields at every check, deterministically;
how long the loop is held in production (SLICE_SECONDS) is measured by the fan-out benchmark.
"""

import asyncio

import pytest

from studio import fanoutstats
from studio import hub as hubs

pytestmark = pytest.mark.asyncio


class Source:
    def room_state(self, broadcast_id):
        return 0, []

    def events_between(self, broadcast_id, after, upto):
        raise AssertionError("the room remembers everything here")

    def last_seqs(self, broadcast_ids):
        return {}


class Viewer:
    def __init__(self, delivered: list):
        self.got: list[int | None] = []
        self.delivered = delivered
        self.on_delivery = lambda: None

    async def deliver(self, seq, text):
        self.got.append(seq)
        self.delivered.append(seq)
        self.on_delivery()


async def room_of(members: list) -> hubs.Room:
    hub = hubs.Hub(Source(), None)
    room = hubs.Room(hub, "live.1")
    room.members.update(members)
    return room


async def test_other_work_runs_while_one_event_reaches_a_thousand_viewers(monkeypatch):
    monkeypatch.setattr(hubs, "SLICE_SECONDS", 0.0)
    delivered: list = []
    viewers = [Viewer(delivered) for _ in range(1000)]
    room = await room_of(viewers)
    seen_midway: list[int] = []
    fanning = True

    async def other_work():  # a ping handler, say: how far the fan-out was each time it got to run
        while fanning:
            seen_midway.append(len(delivered))
            await asyncio.sleep(0)

    other = asyncio.ensure_future(other_work())
    await asyncio.sleep(0)
    room.pending[1] = '{"type":"event","seq":1}'
    await room._deliver_in_order()
    fanning = False
    await other

    assert [v.got for v in viewers] == [[1]] * 1000  # every viewer once
    midway = sorted({n for n in seen_midway if 0 < n < 1000})
    assert len(midway) >= 1000 // hubs.SLICE_CHECK - 1, seen_midway  # it yielded every 64 viewers


async def test_a_viewer_joining_during_a_yield_gets_the_event_once_from_its_catch_up(monkeypatch):
    monkeypatch.setattr(hubs, "SLICE_SECONDS", 0.0)
    delivered: list = []
    room = await room_of([Viewer(delivered) for _ in range(500)])
    late = Viewer(delivered)
    caught_up: list = []
    hundred_reached = asyncio.Event()  # set by the 100th delivery, whichever viewer it is
    for viewer in room.members:
        viewer.on_delivery = lambda: hundred_reached.set() if len(delivered) == 100 else None  # type: ignore[attr-defined]

    async def join_midway():
        await hundred_reached.wait()
        assert 0 < len(delivered) < 500  # the fan-out is under way
        room.members.add(late)  # as Hub.join does, then resume with no await in between
        caught_up.append(await room.resume(0))

    joiner = asyncio.ensure_future(join_midway())
    room.pending[1] = '{"type":"event","seq":1}'
    await room._deliver_in_order()
    await joiner

    assert caught_up[0].texts == ['{"type":"event","seq":1}'] and caught_up[0].held == 1
    assert late.got == []  # not handed it by the fan-out too: the catch-up is its only copy


async def test_a_burst_to_many_viewers_records_each_events_lag_and_the_longest_hold(monkeypatch):
    """What /metrics shows (studio/fanoutstats.py): one lag per event, from its `at` to the end
    of the process's fan-out, and the longest stretch the fan-out kept the loop to itself."""
    from datetime import UTC, datetime, timedelta

    monkeypatch.setattr(hubs, "SLICE_SECONDS", 0.0)
    delivered: list = []
    room = await room_of([Viewer(delivered) for _ in range(2000)])
    appended = datetime.now(UTC) - timedelta(seconds=0.3)  # written 300 ms ago
    for seq in (1, 2, 3):
        room.pending[seq] = (
            f'{{"type":"event","seq":{seq},"at":"{appended.isoformat(timespec="milliseconds")}"}}'
        )
    await room._deliver_in_order()

    assert len(delivered) == 3 * 2000
    snapshot = room.stats.snapshot()
    assert snapshot["count"] == 3
    assert 0.3 <= snapshot["p50"] <= snapshot["p99"] <= snapshot["max"] < 5
    buckets = dict(zip(fanoutstats.BUCKETS, snapshot["buckets"], strict=False))
    assert buckets[0.25] == 0 and snapshot["buckets"][-1] == 3  # none within 250 ms, all counted
    assert 0 < snapshot["hold_max"] < snapshot["max"]  # it yielded: no hold lasted the whole burst
