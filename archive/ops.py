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
from studio.hub import PRESENCE_PREFIX, all_hubs
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


def _viewers(live_ids: list[int]) -> dict[int, int]:
    """Viewers per live programme, summed over processes from the hubs' presence hashes."""
    if not live_ids:
        return {}
    if not settings.REDIS_URL:  # the embedded default: one process, its own hub counts
        return {pk: sum(hub.local_online(pk) for hub in all_hubs()) for pk in live_ids}
    client = _redis()
    now, ttl = time.time(), settings.MINXIN_PRESENCE_INTERVAL * 3
    viewers = {}
    for broadcast_id in live_ids:
        total = 0
        for value in client.hgetall(f"{PRESENCE_PREFIX}live.{broadcast_id}").values():
            count, _, stamp = value.partition(":")
            if now - float(stamp) <= ttl:
                total += int(count)
        viewers[broadcast_id] = total
    client.close()
    return viewers


@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text format: viewers, events published, questions waiting, letters by light."""
    lines: list[str] = []

    def metric(name: str, kind: str, help_text: str, samples: list[tuple[str, float]]) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        lines.extend(f"{name}{labels} {value}" for labels, value in samples)

    live = list(Broadcast.objects.filter(status=BroadcastStatus.LIVE).values_list("pk", flat=True))
    viewers = _viewers(live)
    metric(
        "minxin_viewers",
        "gauge",
        "Viewers connected to a live programme, all processes.",
        [(f'{{broadcast="{pk}"}}', viewers.get(pk, 0)) for pk in live],
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
