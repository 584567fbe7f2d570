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
