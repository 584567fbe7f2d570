"""HTTP side of the live studio: the JSON API of PROTOCOL.md §2 and the pages."""

import json
import zlib

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.cache import patch_cache_control
from django.utils.safestring import mark_safe
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET, require_http_methods

from core import clock, params
from core.http import api_view, csrf_for_sessions, json_body
from core.netizens import existing_netizen_key, keep_csrf_cookie, request_netizen_key
from departments.models import Department
from departments.registry import department_json
from moderation import asking
from moderation.models import QuestionStatus
from studio import events, services
from studio.models import Broadcast, BroadcastStatus

# The largest seq a programme's log can hold (a PositiveIntegerField on every backend).
MAX_SEQ = 2**31 - 1
# A replayed programme's viewers ask for the same windows of its log. An event never changes once
# logged and the key holds the log's last seq, so the minute only bounds the memory it occupies.
EVENTS_CACHE_SECONDS = 60


def broadcast_json(broadcast: Broadcast) -> dict:
    return {
        "id": broadcast.pk,
        "number": broadcast.number,
        "title": broadcast.title,
        "summary": broadcast.summary,
        "department": department_json(broadcast.department),
        "status": broadcast.status,
        "starts_at": timezone.localtime(broadcast.starts_at).isoformat(timespec="milliseconds"),
        "planned_minutes": broadcast.planned_minutes,
        "stream_url": broadcast.stream_url or None,
        "last_seq": broadcast.last_seq,
    }


@require_GET
@api_view
def broadcast_list(request: HttpRequest) -> JsonResponse:
    broadcasts = Broadcast.objects.select_related("department")
    status = params.choice(request.GET, "status", BroadcastStatus.values)
    if status:
        broadcasts = broadcasts.filter(status=status)
    department = request.GET.get("department")
    if department:
        broadcasts = broadcasts.filter(department__code=department)
    return JsonResponse(
        {"broadcasts": [broadcast_json(b) for b in broadcasts[:500]]},
        json_dumps_params={"ensure_ascii": False},
    )


@require_GET
@api_view
def broadcast_detail(request: HttpRequest, broadcast_id: int) -> JsonResponse:
    broadcast = get_object_or_404(Broadcast.objects.select_related("department"), pk=broadcast_id)
    counts = broadcast.questions.aggregate(
        asked=Count("id"), answered=Count("id", filter=Q(status=QuestionStatus.ANSWERED))
    )
    return JsonResponse(
        {
            **broadcast_json(broadcast),
            "guests": [{"id": g.pk, **services.guest_json(g)} for g in broadcast.guests.order_by("pk")],
            "counts": {"questions_asked": counts["asked"], "questions_answered": counts["answered"]},
        },
        json_dumps_params={"ensure_ascii": False},
    )


@require_GET
@api_view
def broadcast_events(request: HttpRequest, broadcast_id: int) -> HttpResponse:
    broadcast = get_object_or_404(Broadcast, pk=broadcast_id)
    after = params.whole_number(request.GET, "after", 0, minimum=0, maximum=MAX_SEQ)
    limit = params.whole_number(request.GET, "limit", 1000, minimum=1, maximum=1000)

    def body() -> str:
        found = events.events_after(broadcast.pk, after, limit)
        frames = [events.event_frame(e) for e in found]
        return json.dumps({"events": frames, "last_seq": broadcast.last_seq}, ensure_ascii=False)

    key = f"events:{broadcast.pk}:{broadcast.last_seq}:{after}:{limit}"
    return HttpResponse(clock.cached(key, EVENTS_CACHE_SECONDS, body), content_type="application/json")


@csrf_for_sessions
@require_http_methods(["POST"])
@api_view
def ask(request: HttpRequest, broadcast_id: int) -> JsonResponse:
    """The HTTP twin of the `ask` frame. Idempotent on client_id; 201 when new, 200 on a repeat."""
    body = json_body(request)
    asking.check_consent(body.get("consent"))
    question, created = asking.ask_question(
        broadcast_id,
        body.get("client_id"),
        body.get("text"),
        body.get("nickname"),
        request_netizen_key(request),
        request.META.get("REMOTE_ADDR"),
    )
    return JsonResponse(
        {"question_id": question.pk, "status": question.status, "ref": question.client_id},
        status=201 if created else 200,
    )


@require_GET
@api_view
def netizen_identity(request: HttpRequest) -> JsonResponse:
    """GET /api/netizen/: this browser's netizen identity, issued now if it has none (the signed
    `minxin_netizen` cookie and the CSRF cookie, core/netizens.py). The live page asks for it before
    the browser's first question or 附议 and then reopens its socket, which reads the cookie:
    nothing personal is fetched by the thousands who only watch."""
    known = existing_netizen_key(request) is not None
    if known:
        keep_csrf_cookie(request)
    else:
        request_netizen_key(request)  # NetizenCookieMiddleware sets it, and the CSRF cookie
    response = JsonResponse({"identity": "known" if known else "new"})
    response["Cache-Control"] = "private, no-store"
    return response


# --- pages ---------------------------------------------------------------------------------


def home(request: HttpRequest) -> HttpResponse:
    broadcasts = Broadcast.objects.select_related("department").order_by("-starts_at")[:20]
    live = [b for b in broadcasts if b.status == BroadcastStatus.LIVE]
    departments = Department.objects.filter(active=True)
    return render(request, "home.html", {"broadcasts": broadcasts, "live": live, "departments": departments})


def live_page(request: HttpRequest, broadcast_id: int) -> HttpResponse:
    """The live page. For a visitor without a session (every netizen) it is the same for everyone in
    a language and time zone — no session started, no CSRF token in it, no cookie set — so that a
    front proxy may answer the start-of-programme rush from its cache (issue #18, docs/nginx.conf).
    What is personal comes afterwards, and only for who needs it: the page's script asks for the
    browser's identity and CSRF cookies (GET /api/netizen/, core/netizens.py) before its first
    question or 附议."""
    broadcast = get_object_or_404(Broadcast.objects.select_related("department"), pk=broadcast_id)
    context = {"broadcast": broadcast, "article": live_article(broadcast)}
    shareable = settings.SESSION_COOKIE_NAME not in request.COOKIES
    if shareable:
        # No look at the session (it would add Vary: Cookie), and the header's forms take their token
        # from the CSRF cookie when they are sent (static/js/live.js).
        context.update(user=AnonymousUser(), shareable=True)
    response = render(request, "studio/live.html", context)
    if shareable:
        patch_cache_control(response, public=True, max_age=0, s_maxage=SHARED_PAGE_SECONDS)
    return response


# How long a shared cache may answer the live page without asking: as long as its article is kept
# (live_article), so that a status change shows within the same 2 s.
SHARED_PAGE_SECONDS = 2


# The programme's part of the live page is the same for every viewer in a language and time zone
# (no token, no session in it): rendered once every 2 s and shared through the cache instead of per
# visit, the larger part of a visit's CPU (issue #18). A change of the programme's own fields
# (status, title, summary, time, stream) shows at once — they are in the key, read with the page's
# programme anyway; a change of guests within 2 s; live events come over the socket.
ARTICLE_SECONDS = 2


def live_article(broadcast: Broadcast) -> str:
    language, zone = translation.get_language(), timezone.get_current_timezone_name()
    fields = (broadcast.status, broadcast.title, broadcast.summary, broadcast.starts_at, broadcast.stream_url,
              broadcast.number, broadcast.department_id)  # fmt: skip
    version = zlib.crc32(repr(fields).encode())  # the same in every process, unlike hash()
    key = f"live-article:{broadcast.pk}:{version:08x}:{language}:{zone}"
    try:
        article = cache.get(key)
    except Exception:  # the cache is down: render it, as before
        article = None
    if article is None:
        article = render_to_string(
            "studio/_live_article.html",
            {"broadcast": broadcast, "guests": broadcast.guests.all(), "privacy_for": "question"},
        )
        try:
            cache.set(key, article, ARTICLE_SECONDS)
        except Exception:
            pass
    return mark_safe(article)  # our own template's output, escaped when rendered


@login_required
@ensure_csrf_cookie
def studio_page(request: HttpRequest, broadcast_id: int) -> HttpResponse:
    broadcast = get_object_or_404(Broadcast.objects.select_related("department"), pk=broadcast_id)
    is_host = broadcast.host_id == request.user.pk
    is_guest = services.is_guest(broadcast.pk, request.user)  # type: ignore[arg-type]
    if not is_host and not is_guest:
        raise Http404
    return render(
        request,
        "studio/console.html",
        {
            "broadcast": broadcast,
            "is_host": is_host,
            "is_guest": is_guest,
            "guests": list(broadcast.guests.order_by("pk")),
        },
    )
