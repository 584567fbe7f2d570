"""A process drains on SIGTERM (studio/drain.py): the parts that need no daphne. The whole drain, on a
real daphne process behind a balancer, is in tests/test_hosts.py."""

from studio import drain


class FakeSocket:
    def __init__(self, log: list):
        self.log = log

    async def close(self, code: int | None = None) -> None:
        self.log.append(("close", code))
        drain.unregister(self)


def test_the_closes_are_spread_evenly_from_the_start_to_the_end_of_the_drain():
    assert drain.schedule(5, 4.0) == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert drain.schedule(1, 10.0) == [0.0]
    assert drain.schedule(0, 10.0) == []


async def test_a_drain_stops_listening_first_closes_every_socket_with_going_away_then_stops(monkeypatch):
    monkeypatch.setattr(drain, "GRACE_SECONDS", 0)
    log: list = []
    sockets = [FakeSocket(log) for _ in range(3)]
    for socket in sockets:
        drain.register(socket)
    closed = await drain.drain(
        0, stop=lambda: log.append("stop"), stop_listening=lambda: log.append("listen off")
    )

    assert closed == 3
    assert log == ["listen off", *[("close", drain.CLOSE_GOING_AWAY)] * 3, "stop"]
    assert drain.CLOSE_GOING_AWAY == 4503
