"""Smoke tests of the fan-out benchmark (bench/fanout.py) at tiny sizes: every design, every message;
the ingest burst and the reconnect storm.

The bench keeps its own PostgreSQL database (the test run's name + "_bench") and its own Redis db
number, so it never touches the test database or flushes the test's Redis.
"""

import os

import pytest
from django.conf import settings

from bench import fanout

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.processes]


def test_every_design_of_the_fanout_bench_delivers_every_message_once_to_every_viewer(capsys):
    database_url = fanout.default_database_url(dict(os.environ))
    redis_url = fanout.default_redis_url(dict(os.environ))
    test_database = settings.DATABASES["default"]["NAME"]
    assert fanout.database_name(database_url) not in (test_database, f"test_{test_database}")
    assert fanout.redis_db(redis_url) != fanout.redis_db(settings.REDIS_URL)

    result = fanout.main(
        [
            "--scenarios", "broadcast",
            "--viewers", "20", "--messages", "3", "--processes", "2", "--interval", "0.2",
            "--database-url", database_url, "--redis-url", redis_url,
        ]
    )  # fmt: skip
    out = capsys.readouterr().out

    assert [row.design for row in result.rows] == list(fanout.DESIGNS)
    for row in result.rows:
        assert row.error is None, row.error
        assert (row.viewers, row.connected, row.failed) == (20, 20, 0), row
        assert row.expected == 20 * 3 and row.delivered == row.expected, row
        assert row.duplicates == 0, row
        assert 0 <= row.p50 <= row.p99 <= row.max < 5, row
    assert [row.processes for row in result.rows] == [2, 1, 1]
    for row in result.rows:  # a probe pinged every server while the answers went out (issue #18)
        assert row.ping.pings > 0 and row.ping.errors == [] and 0 <= row.ping.p50 <= row.ping.max < 5, (
            row.ping
        )
    ours = result.rows[0].server  # the project's own fan-out lag and hold, read from its /metrics
    assert list(ours.counts.values()) == [3, 3], ours
    assert 0 < ours.p50 <= ours.p99 <= ours.max < 5 and 0 < ours.hold_max < 5, ours
    assert "server lag p50/p99/max ms" in out and "ping p50/p99/max ms" in out
    table = [line for line in out.splitlines() if " | " in line]
    assert table[0].startswith("design") and "CPU µs/delivery" in table[0] and "KiB/conn" in table[0]
    assert [line.split(" | ")[0].strip() for line in table[1:4]] == list(fanout.DESIGNS)
    assert table[4].startswith("design") and "longest hold ms" in table[4]  # during the messages
    assert [line.split(" | ")[0].strip() for line in table[5:]] == list(fanout.DESIGNS)
    assert "vs textbook Channels: CPU/delivery" in out and "vs websockets broadcast(): CPU/delivery" in out
    assert "machine" in out and "channels_redis 4.3.0" in out


def test_the_ingest_and_storm_rows_store_every_question_once_and_resume_every_viewer(capsys):
    database_url = fanout.default_database_url(dict(os.environ))
    redis_url = fanout.default_redis_url(dict(os.environ))

    result = fanout.main(
        [
            "--scenarios", "ingest,storm", "--processes", "2",
            "--netizens", "20", "--resend", "5",
            "--storm-viewers", "20", "--storm-seen", "2", "--storm-answers", "4", "--storm-window", "1",
            "--database-url", database_url, "--redis-url", redis_url,
        ]
    )  # fmt: skip
    out = capsys.readouterr().out

    assert result.rows == []  # the broadcast rows were not asked for
    ingest = result.ingest
    assert ingest is not None and ingest.error is None, ingest
    assert (ingest.connected, ingest.failed, ingest.sent, ingest.acked) == (20, 0, 20, 20), ingest
    assert ingest.errors == {}, ingest.errors
    assert ingest.queued == 20 and ingest.queue_duplicates == 0, ingest
    assert (ingest.stored, ingest.distinct, ingest.distinct_ids) == (20, 20, 20), ingest
    assert (ingest.resent, ingest.resent_same, ingest.queued_after_resend) == (5, 5, 20), ingest
    assert 0 <= ingest.ack[0] <= ingest.ack[2] <= ingest.ack[3] < 5, ingest.ack
    assert 0 <= ingest.queue[0] <= ingest.queue[2] <= ingest.queue[3] < 5, ingest.queue

    storm = result.storm
    assert storm is not None and storm.error is None, storm
    assert (storm.connected, storm.failed, storm.closed) == (20, 0, 20), storm
    assert storm.seen == {2: 20} and storm.acks == 6, storm
    assert (storm.reconnected, storm.reconnect_failed, storm.complete) == (20, 0, 20), storm
    assert (storm.duplicates, storm.missing, storm.extra) == (0, 0, 0), storm
    assert 0 <= storm.p50 <= storm.p99 <= storm.max < 5, storm

    assert "MINXIN_ASKS_PER_ADDRESS_PER_MINUTE" in out
    scenarios = [line.split(" | ")[0].strip() for line in out.splitlines() if " | " in line]
    assert scenarios == ["scenario", "ingest", "scenario", "storm"]
