"""The stored reports over HTTP (PROTOCOL.md §2 "Reports"): the list, one report as JSON, CSV,
Markdown or XLSX, producing one by hand; and the pages' forms (the supervisors' "produce a report",
a unit's "mark as read"). letters.periodic does the work."""

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import path
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from core import exports
from core.errors import ServiceError
from core.http import api_view, csrf_for_sessions, json_body
from letters import pages, periodic
from letters.models import Report

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _json(data: dict, status: int = 200) -> JsonResponse:
    return JsonResponse(data, status=status, json_dumps_params={"ensure_ascii": False})


def _date(value: object, field: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value) if isinstance(value, str) else _bad(field)
    except ValueError:
        return _bad(field)


def _bad(field: str) -> dt.date:
    raise ServiceError("bad_request", _("Enter the dates as YYYY-MM-DD."), {field: "invalid"})


def _produce(data: dict, by: str) -> tuple[Report, bool]:
    """{"kind": "custom", "from", "to"} or {"kind": "half_year"|"year_end", "year"}."""
    kind = data.get("kind")
    if kind in periodic.SCHEDULED:
        year = data.get("year")
        if not isinstance(year, int) or isinstance(year, bool) or not 2000 <= year <= 2100:
            raise ServiceError(
                "bad_request", _("year must be a year from 2000 to 2100."), {"year": "invalid"}
            )
        return periodic.produce(kind, *periodic.period_of(kind, year), by=by)
    if kind != Report.Kind.CUSTOM:
        raise ServiceError(
            "bad_request", _("kind must be half_year, year_end or custom."), {"kind": "unknown"}
        )
    return periodic.produce(kind, _date(data.get("from"), "from"), _date(data.get("to"), "to"), by=by)


@csrf_for_sessions
@require_http_methods(["GET", "POST"])
@api_view
def report_list(request: HttpRequest) -> JsonResponse:
    """GET: every report (supervisors) or the unit's notices (its coordinator, else its handlers);
    POST: produce one (supervisors)."""
    user = request.user
    if request.method == "POST":
        if not periodic.may_produce(user):
            raise ServiceError("forbidden", "Reports are produced by supervisors.")
        report, created = _produce(json_body(request), user.get_username())
        return _json(periodic.as_json(report), status=201 if created else 200)
    if periodic.may_produce(user):
        found = Report.objects.all()[:200]
        return _json({"reports": [periodic.as_json(report, rows=False) for report in found]})
    if periodic.unit_of(user) is None:
        raise ServiceError("forbidden", "Reports are for the supervisors and the units they were sent to.")
    listed = []
    for notice in periodic.notices_for(user):
        entry = periodic.as_json(notice.report, rows=False)
        entry["notice"] = {
            "id": notice.pk,
            "department": notice.department.code,
            "rank": notice.rank,
            "ranked": notice.ranked,
            "read_at": notice.read_at.isoformat(timespec="seconds") if notice.read_at else None,
        }
        listed.append(entry)
    return _json({"reports": listed})


@require_http_methods(["GET"])
@api_view
def report_detail(request: HttpRequest, report_id: int) -> HttpResponse:
    """GET /api/reports/<id>/?format=json|csv|md|xlsx."""
    output = exports.requested_format(request)
    if output is not None and output not in (*exports.FORMATS, "xlsx"):
        raise ServiceError("bad_request", "format must be json, csv, md or xlsx", {"format": "unknown"})
    report = periodic.readable(request.user, report_id)
    stem = f"report-{report.kind}-{report.period_from:%Y%m%d}-{report.period_to:%Y%m%d}"
    display = periodic._file_title(report)
    if output == "xlsx":
        response = HttpResponse(periodic.as_xlsx(report), content_type=XLSX)
        response["Content-Disposition"] = exports.content_disposition(f"{stem}.xlsx", f"{display}.xlsx")
        return response
    data = periodic.as_json(report)
    if output is None:
        return _json(data)
    body = {"csv": periodic.as_csv, "md": periodic.as_markdown}.get(output)
    return exports.download(data, output, body(report) if body else None, stem, display)


# --- the pages' forms ---------------------------------------------------------------------------


@pages.role_page("supervisor")
@require_POST
def produce_page(request: HttpRequest) -> HttpResponse:
    """The supervisors' form: a report of any period (or a scheduled kind of a year)."""
    data: dict = {"kind": request.POST.get("kind", "custom")}
    if data["kind"] in periodic.SCHEDULED:
        data["year"] = int(request.POST["year"]) if request.POST.get("year", "").isdigit() else None
    else:
        data.update({"from": request.POST.get("from", ""), "to": request.POST.get("to", "")})
    try:
        report, created = _produce(data, request.user.get_username())
    except ServiceError as error:
        context = pages._supervisor_context(request)
        return pages._refused(request, "letters/supervisor.html", context, error)
    if created:
        message = _("%(title)s was produced and sent to the units.")
    else:
        message = _("%(title)s exists already.")
    messages.success(request, message % {"title": periodic.title(report)})
    return redirect("/letters/supervisor/#reports-title")


@login_required
@require_POST
def notice_read(request: HttpRequest, notice_id: int) -> HttpResponse:
    try:
        periodic.mark_read(notice_id, request.user)
    except ServiceError as error:
        messages.error(request, error.message)
    return redirect("letters-handler")


urlpatterns = [
    path("supervisor/reports/", produce_page, name="letters-reports-produce"),
    path("reports/notices/<int:notice_id>/read/", notice_read, name="letters-report-notice-read"),
]
