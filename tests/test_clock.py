"""The one injectable clock (core/clock.py): what the simulation moves and tests hold still.

Simulated time must reach the services, the rate limits and the cached figures without patching
anything: a year simulated in minutes would otherwise read figures cached a simulated month ago, and
a netizen asking once a simulated day would hit a limit meant for once a second.
"""

import datetime as dt

import pytest
from django.core.cache import cache
from django.utils import timezone

from core import clock, ratelimit
from studio.models import Broadcast
from studio.services import set_status
from tests.conftest import make_broadcast

pytestmark = pytest.mark.django_db

START = dt.datetime(2005, 5, 12, 6, 0, tzinfo=dt.UTC)  # the seed's first day, 14:00 in Beijing


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()
    yield
    cache.clear()


def test_a_manual_clock_stands_still_moves_forward_only_and_is_put_back_after_use():
    manual = clock.ManualClock(START)
    with clock.use(manual):
        assert clock.now() == START and clock.now() == START
        assert clock.localdate() == dt.date(2005, 5, 12)
        assert clock.localtime().hour == 14  # Asia/Shanghai
        manual.advance(dt.timedelta(days=1, hours=10))
        assert clock.localdate() == dt.date(2005, 5, 14)  # 00:00 on the 14th in Beijing
        with pytest.raises(ValueError, match="backwards"):
            manual.set(START)
    assert abs((clock.now() - timezone.now()).total_seconds()) < 5
    with pytest.raises(ValueError, match="aware"):
        clock.ManualClock(dt.datetime(2005, 5, 12))


def test_the_services_stamp_what_they_do_with_the_clock(personas):
    broadcast = make_broadcast("jtw", personas["host"], [personas["guest"]], status="scheduled")
    with clock.use(clock.ManualClock(START)):
        set_status(broadcast.pk, personas["host"], "live")
    assert Broadcast.objects.get(pk=broadcast.pk).started_at == START


def test_rate_limit_windows_follow_the_clock_not_the_wall():
    manual = clock.ManualClock(START)
    with clock.use(manual):
        assert ratelimit.hit("clock-test", "netizen", [(60, 1)]) is None
        assert ratelimit.hit("clock-test", "netizen", [(60, 1)]) is not None  # twice in one minute
        manual.advance(dt.timedelta(minutes=1))
        assert ratelimit.hit("clock-test", "netizen", [(60, 1)]) is None  # a simulated minute later


def test_cached_figures_expire_by_the_clocks_time():
    manual = clock.ManualClock(START)
    computed: list[int] = []

    def figure() -> int:
        computed.append(1)
        return len(computed)

    with clock.use(manual):
        assert clock.cached("minxin:test:clock", 120, figure) == 1
        manual.advance(dt.timedelta(seconds=119))
        assert clock.cached("minxin:test:clock", 120, figure) == 1  # still fresh
        manual.advance(dt.timedelta(days=30))
        assert clock.cached("minxin:test:clock", 120, figure) == 2  # a simulated month later
        assert clock.cached("minxin:test:clock", 120, figure, refresh=True) == 3
