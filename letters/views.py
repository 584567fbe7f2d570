"""The letters JSON API (PROTOCOL.md §2 "Letters"): views parse and check, letters.services acts."""

import datetime as dt
from typing import Any

from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from core import clock, exports, params
from core.errors import ServiceError
from core.http import api_error, api_view, csrf_for_sessions, error_response, json_body
from core.netizens import existing_netizen_key
from departments.models import Department
from departments.roles import has_role
from letters import followup, handling, phone, privacy, reports, services, trail, units
from letters.lights import light_at
from letters.models import ContactAccess, Extension, Letter, LetterStatus

PAGE = 100


def _iso(moment) -> str | None:
    return timezone.localtime(moment).isoformat(timespec="seconds") if moment else None


def letter_json(letter: Letter, *, private: bool, steps: list[dict] | None = None) -> dict:
    """What anyone may read of a public letter; with `private`, also the writer and the workflow.
    `steps`: the letter's trail when the caller computed many at once (letters.trail.trails)."""
    data: dict[str, Any] = {
        "code": letter.code,
        "kind": letter.kind,
        "subject": letter.subject if private else letter.public_subject,
        "body": letter.body if private else letter.public_body,
        "status": letter.status,
        "department": {"code": letter.department.code, "name": letter.department.name}
        if letter.department
        else None,
        "submitted_at": _iso(letter.submitted_at),
        "sign_deadline": _iso(letter.sign_deadline),
        "reply_deadline": _iso(letter.reply_deadline),
        "light": light_at(letter, clock.now()),
        "reply": letter.reply or None,
        "replied_at": _iso(letter.replied_at),
        "rating": letter.rating or None,
        "closure": letter.closure or None,
        # Every public step, without the staff's names (letters/trail.py, PROTOCOL.md §4).
        "trail": trail.as_json(trail.trail(letter) if steps is None else steps),
    }
    if private:
        data.update(
            {
                "name": letter.name,
                "contact": letter.contact,
                "contact_erased_at": _iso(letter.contact_erased_at),
                "erasure": letter.erasure or None,
                "public": letter.public,
                "signed_at": _iso(letter.signed_at),
                "sign_on_time": letter.sign_on_time,
                "reply_on_time": letter.reply_on_time,
                "extension_days": letter.extension_days,
                "redo_count": letter.redo_count,
                "wrong_closure": letter.wrong_closure,
                "pending_extensions": [
                    {"id": e.pk, "days": e.days, "reason": e.reason} for e in _pending_extensions(letter)
                ],
            }
        )
    return data


def _pending_extensions(letter: Letter) -> list[Extension]:
    """The letter's undecided extension requests: fetched with the list (`PENDING_EXTENSIONS`), so
    that a page of 100 letters is not 100 more queries, else one query for this letter."""
    pending = getattr(letter, "pending_extensions", None)
    if pending is None:
        pending = list(letter.extensions.filter(state=Extension.State.PENDING).order_by("id"))
    return pending


PENDING_EXTENSIONS = Prefetch(
    "extensions",
    queryset=Extension.objects.filter(state=Extension.State.PENDING).order_by("id"),
    to_attr="pending_extensions",
)


def _json(data: dict, status: int = 200) -> JsonResponse:
    return JsonResponse(data, status=status, json_dumps_params={"ensure_ascii": False})


@csrf_for_sessions
@require_http_methods(["GET", "POST"])
@api_view
def letters(request: HttpRequest) -> JsonResponse:
    if request.method == "POST":
        body = json_body(request)
        key = request.headers.get("Idempotency-Key") or body.get("client_id")
        answer, created = services.submit(body, key, client=_client(request))
        return _json(answer, status=201 if created else 200)
    return _letter_list(request)


@csrf_for_sessions
@require_http_methods(["POST"])
@api_view
def phone_letter(request: HttpRequest) -> JsonResponse:
    """POST /api/letters/phone/: an operator records a letter taken by phone."""
    user = _staff(request)
    body = json_body(request)
    key = request.headers.get("Idempotency-Key") or body.get("client_id")
    answer, created = phone.take(body, key, user)
    return _json(answer, status=201 if created else 200)


def _client(request: HttpRequest) -> str:
    """Whose idempotency keys these are: the browser's session, else its netizen identity, else the
    address."""
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if session_key:
        return "session:" + session_key
    netizen = existing_netizen_key(request)
    if netizen:
        return "netizen:" + netizen
    return "address:" + (request.META.get("REMOTE_ADDR") or "?")


def _letter_list(request: HttpRequest) -> JsonResponse:
    """Public letters with replies for everyone; every letter of a department for its staff."""
    code = request.GET.get("department") or None
    status = params.choice(request.GET, "status", LetterStatus.values)
    department = Department.objects.filter(code=code).first() if code else None
    if code and department is None:
        raise ServiceError("bad_request", "Unknown department.", {"department": "unknown"})
    found = Letter.objects.select_related("department", "division").order_by("-submitted_at")
    if department:
        found = found.filter(department=department)
    if status:
        found = found.filter(status=status)
    # Handlers see their own department's letters when they ask for that department.
    private = services.can_see_everything(request.user, department.pk if department else None)
    if not private:
        found = found.filter(public=True, status__in=[LetterStatus.REPLIED, LetterStatus.CLOSED])
    elif department and (division := units.division_scope(request.user, department.pk)) is not None:
        found = found.filter(division_id=division)  # a division's handler: its division's letters
    if private:
        found = found.prefetch_related(PENDING_EXTENSIONS)
    shown = list(found[:PAGE])
    steps = trail.trails(shown)
    if private:
        _shown_to_staff(shown, request.user)
        return _json({"letters": staff_letters_json(shown, steps)})
    return _json({"letters": [letter_json(x, private=False, steps=steps[x.pk]) for x in shown]})


def _shown_to_staff(letters: list[Letter], user: Any) -> None:
    """Staff JSON carries the writers' names and contacts (PROTOCOL.md §2): each one is recorded."""
    privacy.record_access(letters, user, ContactAccess.Via.API)


def staff_letters_json(letters: list[Letter], steps: dict[int, list[dict]] | None = None) -> list[dict]:
    """Letter JSON for the unit's staff: also how it came in and where in the unit it is (a
    division's draft is not the writer's to read until the coordinator sends it), why it was last
    sent back for redo, and the reminders (催办) supervisors sent since it reached its department."""
    notes = followup.handler_notes(letters)
    return [
        {
            **letter_json(letter, private=True, steps=steps[letter.pk] if steps else None),
            "channel": letter.channel,
            "division": {"code": letter.division.code, "name": letter.division.name}
            if letter.division
            else None,
            "draft": letter.draft or None,
            "draft_by": letter.draft_by or None,
            "redo_reason": notes[letter.pk]["redo_reason"],
            "reminders": [
                {"at": _iso(log.at), "by": log.by, "note": log.note or None}
                for log in notes[letter.pk]["reminders"]
            ],
        }
        for letter in letters
    ]


def _staff_json(letter: Letter, user: Any) -> JsonResponse:
    _shown_to_staff([letter], user)
    return _json(staff_letters_json([letter])[0])


def _too_many_lookups(request: HttpRequest) -> JsonResponse | None:
    """429 once an address has looked up too many letters by code (staff are not counted)."""
    if request.user.is_authenticated:
        return None
    wait = services.lookup_wait(request.META.get("REMOTE_ADDR"))
    if wait is None:
        return None
    return api_error(429, "rate_limited", _("Too many requests; please wait a moment."), retry_after=wait)


@require_GET
@api_view
def letter_detail(request: HttpRequest, code: str) -> JsonResponse:
    """A letter by code: everything with its key or for its staff, a public replied letter's public
    part to anyone, and otherwise the same 404 as for a code that does not exist — so that trying
    codes tells nothing about which exist."""
    refused = _too_many_lookups(request)
    if refused is not None:
        return refused
    letter = Letter.objects.select_related("department", "division").filter(code=code).first()
    if letter is None:
        raise ServiceError("not_found", _("No such letter."))
    if services.is_writer(letter, request.GET.get("key"), existing_netizen_key(request)):
        return _json(letter_json(letter, private=True))
    if units.sees_letter(request.user, letter):
        return _staff_json(letter, request.user)
    if letter.public and letter.status in (LetterStatus.REPLIED, LetterStatus.CLOSED):
        return _json(letter_json(letter, private=False))
    raise ServiceError("not_found", _("No such letter."))


def _staff(request: HttpRequest):
    if not request.user.is_authenticated:
        raise ServiceError("forbidden", "Log in first.")
    return request.user


@csrf_for_sessions
@require_http_methods(["POST"])
@api_view
def letter_action(request: HttpRequest, code: str, action: str) -> JsonResponse:
    # Steps without fields (sign) may come with no body at all; fields always come as JSON.
    body = json_body(request) if request.body and request.content_type == "application/json" else {}
    if action == "evaluation":
        refused = _too_many_lookups(request)  # a key check: as open to probing as a look-up
        if refused is not None:
            return refused
        letter = services.evaluate(
            code, body.get("key"), body.get("rating"), body.get("comment", ""), existing_netizen_key(request)
        )
        return _json({"code": letter.code, "status": letter.status})
    if action == "erasure":
        refused = _too_many_lookups(request)  # a key check: as open to probing as a look-up
        if refused is not None:
            return refused
        letter = privacy.erase_by_writer(code, body.get("key"))
        return _json(
            {
                "code": letter.code,
                "status": letter.status,
                "contact_erased_at": _iso(letter.contact_erased_at),
                "erasure": letter.erasure,
            }
        )
    user = _staff(request)
    if action == "contact":
        letter = privacy.open_contact(code, user, ContactAccess.Via.API)
        return _json(
            {
                "code": letter.code,
                "name": letter.name,
                "contact": letter.contact,
                "contact_erased_at": _iso(letter.contact_erased_at),
            }
        )
    steps = {
        "forward": lambda: services.forward(code, body.get("department"), user),
        "sign": lambda: services.sign(code, user),
        "return": lambda: services.return_letter(code, body.get("reason"), user),
        "reply": lambda: services.reply(code, body.get("text"), user),
        "redo": lambda: services.redo(code, body.get("reason"), user),
        "wrong-closure": lambda: services.mark_wrong_closure(code, body.get("reason"), user),
        "remind": lambda: followup.remind(code, body.get("note"), user),
        "assign": lambda: handling.assign(code, body.get("division"), user),
        "draft": lambda: handling.draft(code, body.get("text"), user),
        "approve-draft": lambda: handling.approve_draft(code, user),
        "return-draft": lambda: handling.return_draft(code, body.get("reason"), user),
        "callback": lambda: phone.callback(code, body.get("rating"), body.get("comment", ""), user),
    }
    if action == "extend":
        extension = services.request_extension(code, body.get("days"), body.get("reason"), user)
        return _json({"code": code, "extension": {"id": extension.pk, "days": extension.days}}, status=201)
    if action not in steps:
        raise ServiceError("not_found", "No such action.")
    letter = steps[action]()
    return _staff_json(letter, user)


@csrf_for_sessions
@require_http_methods(["POST"])
@api_view
def extension_decision(request: HttpRequest, code: str, extension_id: int, decision: str) -> JsonResponse:
    if decision not in ("approve", "refuse"):
        raise ServiceError("not_found", "No such decision: approve or refuse.")
    user = _staff(request)
    letter = services.decide_extension(code, extension_id, decision == "approve", user)
    return _staff_json(letter, user)


@require_GET
@api_view
def contact_accesses(request: HttpRequest) -> JsonResponse:
    """GET /api/contact-accesses/?letter=&by=&page=: the record of staff opening writers' contacts,
    newest first, 100 a page (supervisors)."""
    if not privacy.may_read_access_log(request.user):
        raise ServiceError("forbidden", "The record of contact openings is for supervisors.")
    found = ContactAccess.objects.select_related("letter").order_by("-at", "-id")
    for name, field in (("letter", "letter__code"), ("by", "by")):
        value = request.GET.get(name)
        if value and "\x00" in value:  # PostgreSQL cannot compare with a NUL
            raise ServiceError("bad_request", f"{name} must not contain NUL.", {name: "invalid"})
        if value:
            found = found.filter(**{field: value})
    try:
        page = int(request.GET.get("page", "1"))
    except ValueError:
        page = 0
    if not 1 <= page <= 100000:
        raise ServiceError("bad_request", "page must be a whole number from 1.", {"page": "invalid"})
    rows = list(found[(page - 1) * PAGE : page * PAGE + 1])
    return _json(
        {
            "accesses": [
                {"letter": a.letter.code, "by": a.by, "role": a.role or None, "via": a.via, "at": _iso(a.at)}
                for a in rows[:PAGE]
            ],
            "page": page,
            "more": len(rows) > PAGE,
        }
    )


@require_GET
def scoreboard(request: HttpRequest) -> HttpResponse:
    """GET /api/departments/scoreboard/: the public scoreboard, current to the minute; ?from=&to=
    for the letters forwarded in a period, ?format=json|csv|md to download it as a file."""
    try:
        period = reports.parse_period(request.GET) if params.given(request.GET, "from", "to") else None
    except ServiceError as error:
        return error_response(error)

    def names(data: dict) -> tuple[str, str]:
        span = f"{data['from']}_{data['to']}" if period else f"all-{clock.localdate():%Y-%m-%d}"
        return f"scoreboard-{span}", f"信件办理情况-{span}"

    return exports.respond(
        request,
        lambda: reports.scoreboard(period=period),
        {"csv": reports.scoreboard_csv, "md": reports.scoreboard_markdown},
        names,
    )


@require_GET
@api_view
def assessment(request: HttpRequest) -> HttpResponse:
    """GET /api/assessment/?from=&to=&format=json|csv|xlsx, for supervisors and operators."""
    if not (has_role(request.user, "supervisor") or has_role(request.user, "operator")):
        raise ServiceError("forbidden", "The assessment is for supervisors and operators.")
    period = reports.parse_period(request.GET)  # a ServiceError is the 400 of api_view
    rows = reports.assessment(period)
    output = request.GET.get("format", "json")
    name = f"assessment-{period.start:%Y%m%d}-{period.end - dt.timedelta(days=1):%Y%m%d}"
    if output == "csv":
        response = HttpResponse(reports.assessment_csv(rows), content_type="text/csv; charset=utf-8")
    elif output == "xlsx":
        response = HttpResponse(
            reports.assessment_xlsx(rows, period),
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
    elif output == "json":
        return _json(
            {
                "from": period.start.date().isoformat(),
                "to": period.end.date().isoformat(),
                "departments": rows,
            }
        )
    else:
        raise ServiceError("bad_request", "format must be json, csv or xlsx", {"format": "unknown"})
    response["Content-Disposition"] = f'attachment; filename="{name}.{output}"'
    return response
