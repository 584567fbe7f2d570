"""The archive's pages: replaying a programme from its event log."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from archive import transcripts
from departments.http import api_error
from studio.errors import ServiceError
from studio.models import Broadcast


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
