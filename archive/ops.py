"""Operations endpoints: /healthz/live and /healthz/ready for orchestrators and load balancers,
/metrics for Prometheus (not public: MINXIN_METRICS_ALLOW and MINXIN_METRICS_TOKEN).

Metrics are read at scrape time from the shared stores (PostgreSQL, and Redis for viewers), so any
process answers for the whole deployment and no per-process registry needs merging.
"""

import hmac
import ipaddress
import time

from django.conf import settings
from django.db import connection
from django.db.models import Count, Sum
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache

from archive.clock import JOBS as clock_jobs
from archive.models import ClockJob
from core.http import api_error
from letters.models import Letter, LetterStatus
from moderation.models import Question, QuestionStatus
from studio.fanoutstats import fresh_snapshots, metric_lines
from studio.hub import (
    FANOUT_PREFIX,
    LAG_PREFIX,
    PRESENCE_PREFIX,
    PROCESS_ID,
    all_hubs,
    fresh_values,
    log_room,
)
from studio.models import Broadcast, BroadcastStatus


def _redis():
    import redis

    url: str = settings.REDIS_URL or ""
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2, decode_responses=True)


@never_cache
def live(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers HTTP. Checks nothing else, so that a database or Redis outage
    never makes an orchestrator restart every process (restarting would not bring either back)."""
    return JsonResponse({"status": "ok"})


@never_cache
def ready(request: HttpRequest) -> JsonResponse:
    """Readiness, for the load balancer: 200 while the database answers, 503 when it does not.

    Redis is checked and reported but never fails it: without Redis the live viewers are still
    served (each process polls the event log, README "When Redis is lost"), and since every process
    shares the one Redis, failing on it would take every process out of the balancer at once.
    """
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # what failed is the answer here
        checks["database"] = f"error: {exc.__class__.__name__}"
    if settings.REDIS_URL:
        try:
            client = _redis()
            client.ping()
            client.close()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"error: {exc.__class__.__name__}"
    if checks["database"] != "ok":
        status, code = "unavailable", 503
    elif any(value != "ok" for value in checks.values()):
        status, code = "degraded", 200
    else:
        status, code = "ok", 200
    return JsonResponse({"status": status, "checks": checks}, status=code)


# /healthz predates the split and balancers already point at it: the same answer as readiness.
healthz = ready


def metrics_allowed(request: HttpRequest) -> bool:
    """The right bearer token (MINXIN_METRICS_TOKEN), or a client address inside MINXIN_METRICS_ALLOW."""
    token: str | None = settings.MINXIN_METRICS_TOKEN
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
            return True
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR") or "")
    except ValueError:
        return False
    return any(address in network for network in settings.MINXIN_METRICS_ALLOW)


def _presence(live_ids: list[int]) -> tuple[dict[int, int], dict[int, float]]:
    """Viewers per live programme summed over processes, and the worst delivery lag among them
    (seconds from an event's append to the end of its fan-out), from the hubs' presence hashes."""
    if not live_ids:
        return {}, {}
    if not settings.REDIS_URL:  # the embedded default: one process, its own hub counts
        hubs = list(all_hubs())
        viewers = {pk: sum(hub.local_online(pk) for hub in hubs) for pk in live_ids}
        lags = {pk: max((hub.local_lag(pk) for hub in hubs), default=0.0) for pk in live_ids}
        return viewers, lags
    client = _redis()
    now, ttl = time.time(), settings.MINXIN_PRESENCE_INTERVAL * 3
    viewers, lags = {}, {}
    for broadcast_id in live_ids:
        room = log_room(broadcast_id)
        viewers[broadcast_id] = int(sum(fresh_values(client.hgetall(PRESENCE_PREFIX + room), now, ttl)))
        lags[broadcast_id] = max(fresh_values(client.hgetall(LAG_PREFIX + room), now, ttl), default=0.0)
    client.close()
    return viewers, lags


def _fanout(live_ids: list[int]) -> dict[tuple[int, str], dict]:
    """Each process's fan-out figures per live programme (studio/fanoutstats.py): from the hubs'
    hashes in Redis, or from this process's own hubs in the embedded default."""
    found: dict[tuple[int, str], dict] = {}
    if not settings.REDIS_URL:
        for broadcast_id in live_ids:
            for hub in all_hubs():
                snapshot = hub.local_fanout(broadcast_id)
                if snapshot is not None:
                    found[(broadcast_id, PROCESS_ID)] = snapshot
        return found
    client = _redis()
    now, ttl = time.time(), settings.MINXIN_PRESENCE_INTERVAL * 3
    for broadcast_id in live_ids:
        entries = client.hgetall(FANOUT_PREFIX + log_room(broadcast_id))
        for process, snapshot in sorted(fresh_snapshots(entries, now, ttl).items()):
            found[(broadcast_id, process)] = snapshot
    client.close()
    return found


@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text format: viewers, delivery lag, events published, questions waiting, letters by
    light, and when each clock job last succeeded. Only for MINXIN_METRICS_ALLOW or the token."""
    if not metrics_allowed(request):
        if settings.MINXIN_METRICS_TOKEN:
            response = api_error(401, "unauthorized", "Metrics need the bearer token.")
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
        return api_error(403, "forbidden", "Metrics are served only to the allowed networks.")
    lines: list[str] = []

    def metric(name: str, kind: str, help_text: str, samples: list[tuple[str, float]]) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        lines.extend(f"{name}{labels} {value}" for labels, value in samples)

    live = list(Broadcast.objects.filter(status=BroadcastStatus.LIVE).values_list("pk", flat=True))
    viewers, lags = _presence(live)
    metric(
        "minxin_viewers",
        "gauge",
        "Viewers connected to a live programme, all processes.",
        [(f'{{broadcast="{pk}"}}', viewers.get(pk, 0)) for pk in live],
    )
    metric(
        "minxin_delivery_lag_seconds",
        "gauge",
        "Worst time over the processes, in the last presence round, from an event's append to the end "
        "of its fan-out to the process's viewers.",
        [(f'{{broadcast="{pk}"}}', round(lags.get(pk, 0.0), 3)) for pk in live],
    )
    lines.extend(metric_lines(_fanout(live)))
    events = Broadcast.objects.aggregate(total=Sum("last_seq"))["total"] or 0
    metric(
        "minxin_events_published_total",
        "counter",
        "Public events appended to all programmes' logs.",
        [("", events)],
    )
    waiting = (
        Question.objects.filter(
            status=QuestionStatus.PENDING,
            broadcast__status__in=[BroadcastStatus.SCHEDULED, BroadcastStatus.LIVE],
        )
        .values("broadcast_id")
        .annotate(n=Count("id"))
    )
    metric(
        "minxin_questions_waiting",
        "gauge",
        "Questions waiting for a moderator.",
        [(f'{{broadcast="{row["broadcast_id"]}"}}', row["n"]) for row in waiting],
    )
    lights = (
        Letter.objects.filter(status__in=[LetterStatus.FORWARDED, LetterStatus.SIGNED])
        .values("light")
        .annotate(n=Count("id"))
    )
    metric(
        "minxin_open_letters",
        "gauge",
        "Open letters by traffic light (as the last sweep set it).",
        [(f'{{light="{row["light"] or "none"}"}}', row["n"]) for row in lights],
    )
    jobs = {job.name: job for job in ClockJob.objects.all()}
    names = [name for name, _job in clock_jobs] + sorted(set(jobs) - {name for name, _job in clock_jobs})
    succeeded = {name: job.last_success_at.timestamp() for name, job in jobs.items() if job.last_success_at}
    metric(
        "minxin_clock_job_last_success_timestamp_seconds",
        "gauge",
        "When each clock job last succeeded (Unix time; 0 if never). Alert when it falls behind.",
        [(f'{{job="{name}"}}', succeeded.get(name, 0)) for name in names],
    )
    metric(
        "minxin_clock_job_failures_in_a_row",
        "gauge",
        "Failures of each clock job since its last success (the log has the tracebacks).",
        [(f'{{job="{name}"}}', jobs[name].failures_in_a_row if name in jobs else 0) for name in names],
    )
    return HttpResponse("\n".join(lines) + "\n", content_type="text/plain; version=0.0.4; charset=utf-8")
