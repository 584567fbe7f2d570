"""Operations endpoints: /healthz for load balancers and /metrics for Prometheus.

Metrics are read at scrape time from the shared stores (PostgreSQL, and Redis for viewers), so any
process answers for the whole deployment and no per-process registry needs merging.
"""

import time

from django.conf import settings
from django.db import connection
from django.db.models import Count, Sum
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache

from letters.models import Letter, LetterStatus
from moderation.models import Question, QuestionStatus
from studio.hub import LAG_PREFIX, PRESENCE_PREFIX, all_hubs, fresh_values, log_room
from studio.models import Broadcast, BroadcastStatus


def _redis():
    import redis

    url: str = settings.REDIS_URL or ""
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2, decode_responses=True)


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database (and Redis, when configured) answer; 503 naming what does not."""
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
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": checks}, status=200 if healthy else 503
    )


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


@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text format: viewers, delivery lag, events published, questions waiting, letters by light."""
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
    return HttpResponse("\n".join(lines) + "\n", content_type="text/plain; version=0.0.4; charset=utf-8")
