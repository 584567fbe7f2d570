"""Pages of the moderators: the live screening console and the audit trail as CSV; and the 附议
counts viewers read when the live page loads."""

import csv
import json

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.utils.cache import patch_cache_control
from django.utils.translation import gettext_lazy as _
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET

from core.http import api_view
from core.netizens import existing_netizen_key, keep_csrf_cookie
from departments.roles import has_role
from moderation import supports as support_counts
from moderation.models import ModerationAction
from moderation.permissions import may_moderate
from studio.models import Broadcast

AUDIT_COLUMNS = ["at", "by", "action", "question", "before", "after"]
# The reasons moderators give most, offered in the reject dialog (the netizen reads the reason).
REJECT_REASONS = [
    _("Not about this programme's topic"),
    _("Contains personal information"),
    _("Asked before"),
    _("Uncivil language"),
]


@login_required
@ensure_csrf_cookie
def console(request: HttpRequest, broadcast_id: int) -> HttpResponse:
    broadcast = get_object_or_404(Broadcast.objects.select_related("department"), pk=broadcast_id)
    if not may_moderate(broadcast.pk, request.user):
        raise Http404
    return render(
        request, "moderation/console.html", {"broadcast": broadcast, "reject_reasons": REJECT_REASONS}
    )


def write_audit_csv(actions, response: HttpResponse) -> HttpResponse:
    # A BOM so that spreadsheet programs open the Chinese text as UTF-8.
    response.write("\ufeff")
    writer = csv.writer(response)
    writer.writerow(AUDIT_COLUMNS)
    for action in actions:
        writer.writerow(
            [
                timezone.localtime(action.at).isoformat(timespec="seconds"),
                action.by,
                action.action,
                action.question_id or "",
                json.dumps(action.before, ensure_ascii=False),
                json.dumps(action.after, ensure_ascii=False),
            ]
        )
    return response


@login_required
def audit_csv(request: HttpRequest, broadcast_id: int) -> HttpResponse:
    """Every moderator action of one programme; for its moderators and for supervisors."""
    broadcast = get_object_or_404(Broadcast, pk=broadcast_id)
    if not (may_moderate(broadcast.pk, request.user) or has_role(request.user, "supervisor")):
        raise Http404
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-{broadcast.number}.csv"'
    return write_audit_csv(
        ModerationAction.objects.filter(broadcast=broadcast).order_by("at", "id"), response
    )


# How long a shared cache may keep the counts a browser without an identity gets: they are up to
# 5 s old anyway (moderation/supports.py), and a support is counted at once only for the browser
# that gave it, which has an identity and is never answered from such a copy.
SHARED_COUNTS_SECONDS = 2


@require_GET
@api_view
def supports(request: HttpRequest, broadcast_id: int) -> JsonResponse:
    """GET /api/broadcasts/<id>/supports/: the counts on viewers' screens, and which of those
    questions this browser supported (so a reloaded page shows both right)."""
    counts = support_counts.public_counts(broadcast_id)
    if counts is None:
        raise Http404
    key = existing_netizen_key(request)
    if key is None:
        # A browser without an identity (nearly everyone arriving at the start of a programme) has
        # supported nothing, and the answer is the same for all of them: a front proxy may keep
        # it as briefly as the counts themselves are (docs/nginx.conf). Its identity comes only
        # when it first asks or supports (GET /api/netizen/, static/js/live.js).
        response = JsonResponse({"counts": counts, "mine": [], "identified": False})
        patch_cache_control(response, public=True, max_age=0, s_maxage=SHARED_COUNTS_SECONDS)
        return response
    keep_csrf_cookie(request)
    mine = support_counts.supported_by(counts, key)
    response = JsonResponse({"counts": counts, "mine": mine, "identified": True})
    response["Cache-Control"] = "private, no-cache"  # `mine` is this browser's
    return response
