"""The archive's pages and API: replay, transcripts, search, statistics, and my questions' letters."""

import datetime as dt

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from archive import search, stats, transcripts
from archive.models import QuestionLetter
from departments.http import api_error
from departments.models import Department
from moderation import services as moderation
from studio.errors import ServiceError
from studio.models import Broadcast
from studio.views import request_netizen_key


def replay(request: HttpRequest, broadcast_id: int) -> HttpResponse:
    """The programme played back from its log at the original pace; the page reads the events API."""
    broadcast = get_object_or_404(Broadcast.objects.select_related("department"), pk=broadcast_id)
    return render(request, "archive/replay.html", {"broadcast": broadcast, "guests": broadcast.guests.all()})


@require_GET
def transcript(request: HttpRequest, broadcast_id: int) -> HttpResponse:
    """GET /api/broadcasts/<id>/transcript/ as JSON, or Markdown with ?format=md."""
    broadcast = Broadcast.objects.select_related("department").filter(pk=broadcast_id).first()
    if broadcast is None:
        return api_error(404, "not_found", ServiceError("not_found").message)
    data = transcripts.transcript(broadcast)
    output = request.GET.get("format", "json")
    if output == "md":
        response = HttpResponse(transcripts.as_markdown(data), content_type="text/markdown; charset=utf-8")
        response["Content-Disposition"] = f'inline; filename="programme-{broadcast.number}.md"'
        return response
    if output != "json":
        return api_error(400, "bad_request", "format must be json or md")
    return JsonResponse(data, json_dumps_params={"ensure_ascii": False})


@require_GET
def search_view(request: HttpRequest) -> HttpResponse:
    """GET /api/search/?q=&department=&from=&to= across every transcript."""
    query = (request.GET.get("q") or "").strip()
    if not query:
        return api_error(400, "bad_request", "q must not be empty", {"q": "empty"})
    if len(query) > 100:
        return api_error(400, "bad_request", "q is longer than 100 characters", {"q": "too long"})
    try:
        start = _day(request.GET.get("from"))
        end = _day(request.GET.get("to"), next_day=True)
    except ValueError:
        return api_error(400, "bad_request", "from and to must be dates (YYYY-MM-DD)", {"from": "invalid"})
    return JsonResponse(
        search.search(query, request.GET.get("department") or None, start, end),
        json_dumps_params={"ensure_ascii": False},
    )


def _day(value: str | None, next_day: bool = False) -> dt.datetime | None:
    if not value:
        return None
    day = dt.date.fromisoformat(value) + dt.timedelta(days=1 if next_day else 0)
    return dt.datetime.combine(day, dt.time.min, tzinfo=timezone.get_default_timezone())


@require_GET
def stats_view(request: HttpRequest) -> HttpResponse:
    """GET /api/stats/ (?department=CODE for one department): the seed's figures, from the data."""
    department = request.GET.get("department") or None
    if department and not Department.objects.filter(code=department).exists():
        return api_error(400, "bad_request", "unknown department", {"department": "unknown"})
    return JsonResponse(stats.figures(department), json_dumps_params={"ensure_ascii": False})


@require_GET
def my_questions(request: HttpRequest, broadcast_id: int) -> HttpResponse:
    """This session's questions in a programme, with the letter each unanswered one became."""
    if not request.session.session_key:
        return JsonResponse({"questions": []})
    key = request_netizen_key(request)
    links = {
        link.question_id: link.letter
        for link in QuestionLetter.objects.filter(
            question__broadcast_id=broadcast_id, question__netizen_key=key
        ).select_related("letter")
    }
    questions = moderation.my_questions(broadcast_id, key)
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
        {"figures": stats.figures(), "departments": departments, "max_asked": max_asked},
    )


def search_page(request: HttpRequest) -> HttpResponse:
    # The snippets are escaped by archive.search.snippet, which adds only <mark>.
    query = (request.GET.get("q") or "").strip()[:100]
    department = request.GET.get("department") or None
    result = search.search(query, department) if query else None
    context = {
        "q": query,
        "department": department,
        "result": result,
        "departments": Department.objects.filter(active=True),
    }
    return render(request, "archive/search.html", context)


def transcript_page(request: HttpRequest, broadcast_id: int) -> HttpResponse:
    """The transcript as a page. Text fields are the log's sanitised HTML, hence |safe there only."""
    broadcast = get_object_or_404(Broadcast.objects.select_related("department"), pk=broadcast_id)
    return render(request, "archive/transcript.html", {"data": transcripts.transcript(broadcast)})
