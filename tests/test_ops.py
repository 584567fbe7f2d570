"""/healthz and /metrics, and the production settings' own deployment check."""

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT, make_broadcast

pytestmark = pytest.mark.django_db


def test_healthz_says_ok_when_the_database_and_redis_answer(client, settings):
    response = client.get("/healthz")
    assert response.status_code == 200
    checks = response.json()["checks"]
    assert checks["database"] == "ok"
    if settings.REDIS_URL:
        assert checks["redis"] == "ok"


def test_healthz_is_503_naming_redis_when_redis_is_unreachable(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["redis"].startswith("error")
    assert response.json()["checks"]["database"] == "ok"


def test_metrics_count_events_waiting_questions_and_open_letters(client, personas):
    from letters import services as letters
    from moderation import services as moderation
    from studio import services as studio

    broadcast = make_broadcast("jtw", personas["host"], [personas["guest"]], status="live")
    studio.post_host_message(broadcast.pk, personas["host"], "h1", "欢迎")
    moderation.ask_question(broadcast.pk, "q1", "问题一", "网友", "k1", None)
    moderation.ask_question(broadcast.pk, "q2", "问题二", "网友", "k2", None)
    answer, _ = letters.submit({"kind": "opinion", "subject": "s", "body": "b", "name": "n", "contact": "c"})
    letters.forward(answer["code"], "jtw", personas["operator"])
    text = client.get("/metrics").content.decode()
    assert "minxin_events_published_total 1" in text
    assert f'minxin_questions_waiting{{broadcast="{broadcast.pk}"}} 2' in text
    assert f'minxin_viewers{{broadcast="{broadcast.pk}"}} 0' in text
    assert 'minxin_open_letters{light="green"} 1' in text


def test_production_settings_pass_djangos_deployment_check():
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "settings.prod",
        "SECRET_KEY": "x" * 60 + "-a-long-random-production-secret",
        "ALLOWED_HOSTS": "minxin.example.org",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.django_db(transaction=True)
async def test_metrics_report_the_delivery_lag_of_a_live_programme(sockets, live_broadcast, personas):
    """From an event's append to the end of its fan-out, as the viewer's process measured it."""
    import re

    from channels.db import database_sync_to_async
    from django.test import Client

    from studio import services as studio
    from studio.hub import all_hubs

    viewer = await sockets.open(f"/ws/live/{live_broadcast.pk}/")
    assert (await viewer.receive_json_from())["type"] == "hello"
    await database_sync_to_async(studio.post_host_message)(live_broadcast.pk, personas["host"], "h1", "欢迎")
    frame = await viewer.receive_json_from(timeout=5)
    while frame["type"] != "event":
        frame = await viewer.receive_json_from(timeout=5)
    for hub in all_hubs():  # the presence round that reports it (every MINXIN_PRESENCE_INTERVAL)
        await hub.refresh_presence()
    text = (await database_sync_to_async(lambda: Client().get("/metrics"))()).content.decode()
    assert "# TYPE minxin_delivery_lag_seconds gauge" in text
    found = re.search(rf'minxin_delivery_lag_seconds{{broadcast="{live_broadcast.pk}"}} ([0-9.]+)', text)
    assert found, text
    assert 0 < float(found.group(1)) < 5


def test_presence_entries_keep_the_earlier_releases_shape_and_bad_ones_are_skipped():
    """Viewers and lag are two hashes of "<number>:<unix time>" entries, the shape an earlier
    release reads, so a rolling deploy never shows one a field it cannot parse; a malformed or
    stale entry is skipped, not a crash."""
    from studio.hub import fresh_values, stamped

    now = 1_800_000_000.0
    entries = {
        "p1": f"12:{now - 3:.0f}",
        "p2": "garbage",
        "p3": f"7:{now - 60:.0f}",
        "p4": f"0.250:{now:.0f}",
    }
    assert fresh_values(entries, now, ttl=15) == [12.0, 0.25]
    old_release_reads = [value.partition(":") for value in (f"12:{now:.0f}", f"0.250:{now:.0f}")]
    assert [float(stamp) for _n, _sep, stamp in old_release_reads] == [now, now]
    assert stamped("1:2:3") is None
