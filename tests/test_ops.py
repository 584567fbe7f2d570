"""/healthz and /metrics, and the production settings' own deployment check."""

import json
import os
import subprocess
import sys

import pytest
from django.db import OperationalError

from tests.conftest import ROOT, make_broadcast

pytestmark = pytest.mark.django_db


def test_liveness_answers_while_the_database_is_unreachable(client, monkeypatch):
    """An orchestrator restarts a process whose liveness fails: a database outage must not do that."""
    from django.db import connection

    def refuse(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(connection, "cursor", refuse)
    assert client.get("/healthz/ready").status_code == 503
    response = client.get("/healthz/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readiness_and_healthz_say_ok_when_the_database_and_redis_answer(client, settings):
    for path in ("/healthz/ready", "/healthz"):
        response = client.get(path)
        assert response.status_code == 200
        assert response.json()["status"] == "ok"
        checks = response.json()["checks"]
        assert checks["database"] == "ok"
        if settings.REDIS_URL:
            assert checks["redis"] == "ok"


def test_readiness_stays_200_naming_redis_when_only_redis_is_unreachable(client, settings):
    """Every process shares the one Redis: failing on it would pull them all out of the balancer,
    while viewers are still served from the database (test_slow_viewers checks that on daphne)."""
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    for path in ("/healthz/ready", "/healthz"):
        response = client.get(path)
        assert response.status_code == 200
        assert response.json()["status"] == "degraded"
        assert response.json()["checks"]["redis"].startswith("error")
        assert response.json()["checks"]["database"] == "ok"


def test_readiness_is_503_naming_the_database_when_it_is_unreachable(client, monkeypatch):
    from django.db import connection

    def refuse(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(connection, "cursor", refuse)
    for path in ("/healthz/ready", "/healthz"):
        response = client.get(path)
        assert response.status_code == 503
        assert response.json()["status"] == "unavailable"
        assert response.json()["checks"]["database"] == "error: OperationalError"


def test_health_probes_and_metrics_are_not_redirected_to_https_in_production(client, settings):
    """Probes and scrapers talk plain HTTP to the process; a 301 would count as down."""
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_REDIRECT_EXEMPT = prod_setting("SECURE_REDIRECT_EXEMPT")
    for path in ("/healthz", "/healthz/live", "/healthz/ready", "/metrics"):
        assert client.get(path).status_code == 200, path
    assert client.get("/letters/").status_code == 301


def prod_setting(name: str):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "settings.prod", "SECRET_KEY": "x" * 60}
    code = f"import json, settings.prod as s; print(json.dumps(s.{name}))"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


# --- who may read /metrics ------------------------------------------------------------------


def test_metrics_answer_a_scraper_on_the_same_host_by_default(client):
    response = client.get("/metrics", REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 200
    assert "# TYPE minxin_events_published_total counter" in response.content.decode()
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200


def test_metrics_refuse_a_client_from_elsewhere_without_showing_any_figure(client):
    response = client.get("/metrics", REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert b"minxin_" not in response.content


def test_metrics_answer_the_allowed_network_and_only_it(client, settings):
    from settings.env import env_networks

    os.environ["MINXIN_METRICS_ALLOW"] = "10.20.0.0/16, 192.0.2.7"
    try:
        settings.MINXIN_METRICS_ALLOW = env_networks("MINXIN_METRICS_ALLOW", [])
    finally:
        del os.environ["MINXIN_METRICS_ALLOW"]
    assert client.get("/metrics", REMOTE_ADDR="10.20.3.4").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.7").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="10.21.0.1").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403  # loopback no longer listed


def test_metrics_answer_the_right_bearer_token_from_anywhere_and_refuse_a_wrong_one(client, settings):
    settings.MINXIN_METRICS_TOKEN = "s3cret-scrape-token-0123456789"
    settings.MINXIN_METRICS_ALLOW = []
    right = {"HTTP_AUTHORIZATION": "Bearer s3cret-scrape-token-0123456789"}
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9", **right).status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1", **right).status_code == 200
    for header in ("Bearer wrong", "Bearer ", "Basic czNjcmV0", "s3cret-scrape-token-0123456789"):
        response = client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION=header)
        assert response.status_code == 401, header
        assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'
        assert b"minxin_" not in response.content
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 401  # `none`: no network


@pytest.mark.parametrize("raw", ["10.0.0.0/33", "intranet", "10.0.0.0/8,,::1"])
def test_a_bad_metrics_network_stops_start_up_naming_the_variable(monkeypatch, raw):
    from django.core.exceptions import ImproperlyConfigured

    from settings.env import env_networks

    monkeypatch.setenv("MINXIN_METRICS_ALLOW", raw)
    with pytest.raises(ImproperlyConfigured, match="MINXIN_METRICS_ALLOW"):
        env_networks("MINXIN_METRICS_ALLOW", [])


def test_metrics_allow_none_means_no_network(monkeypatch):
    from settings.env import env_networks

    monkeypatch.setenv("MINXIN_METRICS_ALLOW", "none")
    assert env_networks("MINXIN_METRICS_ALLOW", ["127.0.0.0/8"]) == []


def test_metrics_count_events_waiting_questions_and_open_letters(client, personas):
    from letters import services as letters
    from moderation.asking import ask_question
    from studio import services as studio

    broadcast = make_broadcast("jtw", personas["host"], [personas["guest"]], status="live")
    studio.post_host_message(broadcast.pk, personas["host"], "h1", "欢迎")
    ask_question(broadcast.pk, "q1", "问题一", "网友", "k1", None)
    ask_question(broadcast.pk, "q2", "问题二", "网友", "k2", None)
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


# --- the clock ------------------------------------------------------------------------------


def test_one_failing_clock_job_is_logged_and_the_others_still_run(caplog, client):
    from archive import clock
    from archive.models import ClockJob

    ran = []

    def broken():
        raise RuntimeError("the sweep hit a bug")

    jobs = [("sweep", broken), ("scoreboard", lambda: ran.append("scoreboard"))]
    assert clock.run_jobs(jobs) == ["sweep"]
    assert ran == ["scoreboard"]
    assert "clock job sweep failed" in caplog.text and "the sweep hit a bug" in caplog.text
    sweep = ClockJob.objects.get(name="sweep")
    assert (sweep.last_success_at, sweep.failures_in_a_row, sweep.last_error) == (None, 1, "RuntimeError")
    assert ClockJob.objects.get(name="scoreboard").last_success_at is not None

    # Next tick, fixed: it runs again and /metrics shows its success.
    assert clock.run_jobs([("sweep", lambda: None)]) == []
    sweep.refresh_from_db()
    assert sweep.failures_in_a_row == 0 and sweep.last_success_at is not None
    text = client.get("/metrics").content.decode()
    assert "# TYPE minxin_clock_job_last_success_timestamp_seconds gauge" in text
    stamp = (
        f'minxin_clock_job_last_success_timestamp_seconds{{job="sweep"}} {sweep.last_success_at.timestamp()}'
    )
    assert stamp in text
    assert 'minxin_clock_job_failures_in_a_row{job="sweep"} 0' in text


def test_metrics_list_every_clock_job_even_before_it_ever_succeeded(client):
    text = client.get("/metrics").content.decode()
    for name in ("sweep", "close_unrated", "scoreboard", "statistics", "erase_contacts", "reports"):
        assert f'minxin_clock_job_last_success_timestamp_seconds{{job="{name}"}} 0' in text


def test_the_clock_once_records_each_real_jobs_success(registry):
    from django.core.management import call_command

    from archive.models import ClockJob

    call_command("clock", "--once")
    assert sorted(ClockJob.objects.filter(last_success_at__isnull=False).values_list("name", flat=True)) == [
        "close_unrated",
        "erase_contacts",
        "reports",
        "scoreboard",
        "statistics",
        "sweep",
    ]


def start_clock(tmp_path, name: str) -> tuple[subprocess.Popen, object]:
    from tests.conftest import server_env

    log = tmp_path / f"{name}.log"
    process = subprocess.Popen(
        [sys.executable, "manage.py", "clock", "--interval", "0.5"],
        cwd=ROOT,
        env=server_env(),
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    return process, log


def wait_for(predicate, within: float = 30) -> None:
    import time

    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


@pytest.mark.processes
@pytest.mark.django_db(transaction=True)
def test_only_one_clock_runs_and_a_waiting_one_takes_over_when_it_stops(tmp_path, registry):
    """Two `manage.py clock` processes on the same database (PostgreSQL: an advisory lock; SQLite: a
    file lock): the second runs no job until the first is gone."""
    from archive import clock
    from archive.models import ClockJob

    def successes() -> int:
        return sum(1 for job in ClockJob.objects.all() if job.last_success_at)

    first, first_log = start_clock(tmp_path, "first")
    second = None
    try:
        wait_for(lambda: successes() == len(clock.JOBS))
        second, second_log = start_clock(tmp_path, "second")
        wait_for(lambda: "another clock holds the lock" in second_log.read_text())
        first_ticks = first_log.read_text().count("supervision sweep:")
        wait_for(lambda: first_log.read_text().count("supervision sweep:") >= first_ticks + 2)
        assert "supervision sweep:" not in second_log.read_text()

        first.terminate()
        first.wait(timeout=10)
        wait_for(lambda: "supervision sweep:" in second_log.read_text())
        assert "the clock lock is ours now" in second_log.read_text()
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(timeout=10)


@pytest.mark.django_db(transaction=True)
async def test_metrics_show_each_processes_fan_out_lag_histogram_and_longest_hold(
    sockets, live_broadcast, personas
):
    """Issue #18: after a burst of events to several viewers, /metrics carries this process's
    fan-out lag as a Prometheus histogram (one count per event), its recent median, 99th
    percentile and maximum, and the longest time a fan-out held the event loop."""
    import re

    from channels.db import database_sync_to_async
    from django.test import Client

    from studio import services as studio
    from studio.hub import all_hubs

    viewers = [await sockets.open(f"/ws/live/{live_broadcast.pk}/") for _ in range(5)]
    for viewer in viewers:
        assert (await viewer.receive_json_from())["type"] == "hello"
    for n in range(3):
        await database_sync_to_async(studio.post_host_message)(
            live_broadcast.pk, personas["host"], f"burst-{n}", f"第{n}条"
        )
    for viewer in viewers:
        seqs: list[int] = []
        while len(seqs) < 3:
            frame = await viewer.receive_json_from(timeout=5)
            if frame["type"] == "event":
                seqs.append(frame["seq"])
    for hub in all_hubs():
        await hub.refresh_presence()
    text = (await database_sync_to_async(lambda: Client().get("/metrics"))()).content.decode()

    pk = live_broadcast.pk
    assert "# TYPE minxin_fanout_lag_seconds histogram" in text
    counts = re.findall(rf'minxin_fanout_lag_seconds_count{{broadcast="{pk}",process="[^"]+"}} (\d+)', text)
    assert counts == ["3"], text
    assert re.search(
        rf'minxin_fanout_lag_seconds_bucket{{broadcast="{pk}",process="[^"]+",le="\+Inf"}} 3', text
    )
    quantiles = dict(
        re.findall(
            rf'minxin_fanout_lag_recent_seconds{{broadcast="{pk}",process="[^"]+",quantile="([0-9.]+)"}} ([0-9.e-]+)',
            text,
        )
    )
    assert set(quantiles) == {"0.5", "0.99", "1"}, text
    assert 0 < float(quantiles["0.5"]) <= float(quantiles["0.99"]) <= float(quantiles["1"]) < 5
    hold = re.search(rf'minxin_fanout_hold_max_seconds{{broadcast="{pk}",process="[^"]+"}} ([0-9.e-]+)', text)
    assert hold and 0 < float(hold.group(1)) < 5, text
