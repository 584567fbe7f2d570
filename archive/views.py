"""The archive's pages and API: replay, transcripts, search, statistics, and my questions' letters."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from archive import search, stats, transcripts
from archive.models import QuestionLetter
from core import clock, exports, paging, params
from core.errors import ServiceError
from core.http import api_error, error_response
from core.netizens import existing_netizen_key
from departments.models import Department
from moderation import shapes
from studio.models import Broadcast

TRANSCRIPT_PAGE = 100  # questions (with their answers) and host messages on a transcript page
WINDOW = 1000  # the most items a ?limit= window of the transcript API holds


def replay(request: HttpRequest, broadcast_id: int) -> HttpResponse:
    """The programme played back from its log at the original pace; the page reads the events API."""
    broadcast = get_object_or_404(Broadcast.objects.select_related("department"), pk=broadcast_id)
    return render(
        request,
        "archive/replay.html",
        {"broadcast": broadcast, "guests": broadcast.guests.all(), "export_url": _transcript_url(broadcast)},
    )


def _transcript_url(broadcast: Broadcast) -> str:
    """The transcript's download links' base (each link appends format=…)."""
    return f"/api/broadcasts/{broadcast.pk}/transcript/?"


@require_GET
def transcript(request: HttpRequest, broadcast_id: int) -> HttpResponse:
    """GET /api/broadcasts/<id>/transcript/ as JSON; ?format=json|csv|md downloads it as a file."""
    broadcast = Broadcast.objects.select_related("department").filter(pk=broadcast_id).first()
    if broadcast is None:
        return api_error(404, "not_found", ServiceError("not_found").message)
    window = None
    if params.given(request.GET, "after", "limit"):  # a window of the items (PROTOCOL.md)
        try:
            after = params.whole_number(request.GET, "after", 0, minimum=0, maximum=2**31 - 1)
            limit = params.whole_number(request.GET, "limit", WINDOW, minimum=1, maximum=WINDOW)
        except params.ParameterError as error:
            return error_response(error)
        window = (after, limit)
    return exports.respond(
        request,
        lambda: (
            transcripts.window(transcripts.cached_transcript(broadcast), *window)
            if window
            else transcripts.cached_transcript(broadcast)
        ),
        {"csv": transcripts.as_csv, "md": transcripts.as_markdown},
        lambda _data: (
            f"programme-{broadcast.number}-{timezone.localtime(broadcast.starts_at):%Y%m%d}",
            f"第{broadcast.number}期 {broadcast.title}",
        ),
    )


@require_GET
def search_view(request: HttpRequest) -> HttpResponse:
    """GET /api/search/?q=&department=&from=&to=&page= across every transcript and public letter."""
    query = (request.GET.get("q") or "").strip()
    if not query:
        return api_error(400, "bad_request", "q must not be empty", {"q": "empty"})
    if len(query) > 100:
        return api_error(400, "bad_request", "q is longer than 100 characters", {"q": "too long"})
    try:
        first, last = params.period(request.GET, None, None)
        page = params.whole_number(request.GET, "page", 1, 1, search.MAX_PAGE)
    except params.ParameterError as error:
        return error_response(error)
    return JsonResponse(
        search.search(
            query,
            request.GET.get("department") or None,
            params.day_start(first) if first else None,
            params.day_end(last) if last else None,
            page,
        ),
        json_dumps_params={"ensure_ascii": False},
    )


@require_GET
def stats_view(request: HttpRequest) -> HttpResponse:
    """GET /api/stats/ (?department=CODE for one department): the seed's figures, from the data;
    ?format=json|csv|md downloads them as a file."""
    department = request.GET.get("department") or None
    if department and not Department.objects.filter(code=department).exists():
        return api_error(400, "bad_request", "unknown department", {"department": "unknown"})
    return exports.respond(
        request,
        lambda: stats.figures(department),
        {"csv": stats.as_csv, "md": stats.as_markdown},
        lambda _data: (
            f"stats-{department or 'all'}-{clock.localdate():%Y%m%d}",
            f"统计-{department or '全部'}-{clock.localdate():%Y%m%d}",
        ),
    )


@require_GET
def my_questions(request: HttpRequest, broadcast_id: int) -> HttpResponse:
    """This browser's questions in a programme (its netizen identity), with the letter each
    unanswered one became."""
    key = existing_netizen_key(request)
    if key is None:  # no identity, no questions: nothing to look up, and none is issued
        return JsonResponse({"questions": []})
    questions = shapes.my_questions(broadcast_id, key)
    if not questions:  # most visitors have asked nothing: no letters to look up either
        return JsonResponse({"questions": []})
    links = {
        link.question_id: link.letter
        for link in QuestionLetter.objects.filter(
            question__broadcast_id=broadcast_id, question__netizen_key=key
        ).select_related("letter")
    }
    for question in questions:
        letter = links.get(question["question_id"])
        if letter is not None:
            question["letter"] = {
                "code": letter.code,
                "status": letter.status,
                "department": letter.department.name if letter.department else None,
                "reply": letter.reply or None,
            }
    return JsonResponse({"questions": questions}, json_dumps_params={"ensure_ascii": False})


def stats_page(request: HttpRequest) -> HttpResponse:
    departments = stats.per_department()
    max_asked = max([row["asked"] for row in departments] + [1])
    return render(
        request,
        "archive/stats.html",
        {
            "figures": stats.figures(),
            "departments": departments,
            "max_asked": max_asked,
            "export_url": "/api/stats/?",
        },
    )


def search_page(request: HttpRequest) -> HttpResponse:
    # The snippets are escaped by archive.search.snippet, which adds only <mark>.
    query = (request.GET.get("q") or "").strip()[:100]
    department = request.GET.get("department") or None
    try:
        page = params.whole_number(request.GET, "page", 1, 1, search.MAX_PAGE)
    except params.ParameterError:
        page = 1
    result = search.search(query, department, page=page) if query else None
    context = {
        "q": query,
        "department": department,
        "result": result,
        "page": page,
        "departments": Department.objects.filter(active=True),
    }
    return render(request, "archive/search.html", context)


def transcript_page(request: HttpRequest, broadcast_id: int) -> HttpResponse:
    """The transcript as a page, TRANSCRIPT_PAGE items a page (a long programme has a thousand).
    Text fields are the log's sanitised HTML, hence |safe there only."""
    broadcast = get_object_or_404(Broadcast.objects.select_related("department"), pk=broadcast_id)
    data = transcripts.cached_transcript(broadcast)
    pager = paging.paged(request, data["items"], per_page=TRANSCRIPT_PAGE)
    return render(
        request,
        "archive/transcript.html",
        {"data": data, "items": pager.items, "pager": pager, "export_url": _transcript_url(broadcast)},
    )
