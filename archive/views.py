"""The archive's pages: replaying a programme from its event log."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from studio.models import Broadcast


def replay(request: HttpRequest, broadcast_id: int) -> HttpResponse:
    """The programme played back from its log at the original pace; the page reads the events API."""
    broadcast = get_object_or_404(Broadcast.objects.select_related("department"), pk=broadcast_id)
    return render(request, "archive/replay.html", {"broadcast": broadcast, "guests": broadcast.guests.all()})
