"""The letter pages: netizens write, track, read and rate; operators forward; handlers handle;
supervisors watch the lights, order redos and read the assessment.

Pages are rendered here; every write goes through letters.services. The write form posts to the
JSON API (letters.views) from static/js/letters.js with an Idempotency-Key; the staff forms and the
rating form post to these views, which call the service step and redirect back (or re-render the
page with the refusal, at the refusal's HTTP status, so a typed reply is not lost).
Mounted under /letters/ by settings/urls.py (`include("letters.pages")`).
"""

import datetime as dt
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, F
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_http_methods

from core import clock, params
from core.errors import ServiceError
from core.netizens import existing_netizen_key
from departments.models import Department, LetterKind
from departments.roles import ROLES, has_role
from letters import (
    followup,
    handling,
    periodic,
    phone_forms,
    privacy,
    queues,
    reports,
    services,
    trail,
    units,
)
from letters.lights import light_case
from letters.models import (
    Erasure,
    Extension,
    Letter,
    LetterLog,
    LetterStatus,
    Rating,
    published_at,
)

S = LetterStatus
OPEN = (S.FORWARDED, S.SIGNED)
NEW_LIGHT_HOURS = 24  # a yellow or red light is "new" for a day after it came on


def _render(request: HttpRequest, template: str, context: dict, status: int = 200) -> HttpResponse:
    """render() with the roles the letters' navigation shows links for."""
    roles = {role: has_role(request.user, role) for role in ("operator", "handler", "supervisor")}
    roles["handler"] = roles["handler"] or has_role(request.user, "coordinator")
    return render(request, template, {**context, "letter_roles": roles}, status=status)


def role_page(*roles: str) -> Callable:
    """Log in first (a redirect for anonymous visitors); then a 403 page for any other role."""

    def decorate(view: Callable) -> Callable:
        @login_required
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not any(has_role(request.user, role) for role in roles):
                wanted = ", ".join(str(ROLES[role].label) for role in roles)
                return _render(request, "letters/forbidden.html", {"roles": wanted}, status=403)
            return view(request, *args, **kwargs)

        return wrapper

    return decorate


def _here(request: HttpRequest) -> str:
    """Where a staff form's redirect goes back to: the same page of the queue, with its filters."""
    return request.get_full_path()


def _refused(request: HttpRequest, template: str, context: dict, error: ServiceError) -> HttpResponse:
    return _render(request, template, {**context, "error": error.message}, status=error.http_status)


def _departments():
    return Department.objects.filter(active=True)


def _decide(request: HttpRequest, template: str, context: Callable[[], dict], here: str) -> HttpResponse:
    """Approve or refuse an extension (operators and supervisors)."""
    code = request.POST.get("code", "")
    approve = request.POST.get("action") == "approve"
    try:
        extension_id = int(request.POST.get("extension", ""))
    except ValueError:
        extension_id = -1
    try:
        services.decide_extension(code, extension_id, approve, request.user)  # type: ignore[arg-type]
    except ServiceError as error:
        return _refused(request, template, context(), error)
    if approve:
        messages.success(request, _("The extension of letter %(code)s was approved.") % {"code": code})
    else:
        messages.success(request, _("The extension of letter %(code)s was refused.") % {"code": code})
    return redirect(here)


# --- netizens ----------------------------------------------------------------------------------


def public_letters(request: HttpRequest) -> HttpResponse:
    """Public letters with their replies (and thank-you letters as delivered), newest first, by
    department and kind: `?department=jtw&kind=thanks` is a department's thank-you letters."""
    departments = list(_departments())
    chosen = next((d for d in departments if d.code == request.GET.get("department")), None)
    kind = request.GET.get("kind") if request.GET.get("kind") in LetterKind.values else None
    found = Letter.objects.filter(public=True, status__in=[S.REPLIED, S.CLOSED]).select_related("department")
    if chosen:
        found = found.filter(department=chosen)
    if kind:
        found = found.filter(kind=kind)
    ordered = found.order_by(published_at().desc(), "-id")  # the index letter_public_by_published
    page = Paginator(ordered, 20).get_page(request.GET.get("page"))
    steps = trail.trails(list(page))
    for letter in page:
        letter.trail = trail.labelled(steps[letter.pk])  # type: ignore[attr-defined]
    shown = (("department", chosen.code if chosen else ""), ("kind", kind or ""))
    query = urlencode({name: value for name, value in shown if value})
    return _render(
        request,
        "letters/public.html",
        {
            "departments": departments,
            "chosen": chosen,
            "kinds": LetterKind.choices,
            "kind": kind,
            "query": query,
            "page": page,
        },
    )


@ensure_csrf_cookie
def write(request: HttpRequest) -> HttpResponse:
    """The form; static/js/letters.js posts it to /api/letters/ with an Idempotency-Key."""
    return _render(
        request,
        "letters/write.html",
        {
            "kinds": LetterKind.choices,
            "limits": {
                "subject": services.MAX_SUBJECT,
                "body": services.MAX_BODY,
                "name": services.MAX_NAME,
                "contact": services.MAX_CONTACT,
            },
            "retention_days": settings.MINXIN_CONTACT_RETENTION_DAYS,
        },
    )


def _tracked(letter: Letter) -> Letter:
    """The letter as its tracking page shows it: its light and its public trail."""
    now = clock.now()
    letter.trail = trail.labelled(trail.trail(letter))  # type: ignore[attr-defined]
    letter.can_rate = services.can_rate(letter, now)  # type: ignore[attr-defined]
    return queues.with_lights([letter], now)[0]


@require_http_methods(["GET", "POST"])
def track(request: HttpRequest) -> HttpResponse:
    """Look a letter up by code and key (POSTed, so the key stays out of addresses and logs);
    rate the reply, or have the letter's personal data erased, from the same page."""
    context: dict[str, Any] = {
        "ratings": Rating.choices,
        "max_comment": services.MAX_COMMENT,
        "retention_days": settings.MINXIN_CONTACT_RETENTION_DAYS,
        "erased_by_writer": Erasure.WRITER,
    }
    # A letter made from a live question is followed from "我的提问" by the session that asked it
    # (GET ?code=), without a key.
    netizen = existing_netizen_key(request)
    if request.method == "GET":
        code = request.GET.get("code", "").strip().upper()
        letter = Letter.objects.select_related("department").filter(code=code).first() if code else None
        if letter is not None and services.is_writer(letter, None, netizen):
            context.update(code=code, letter=_tracked(letter))
        return _render(request, "letters/track.html", context)
    code = request.POST.get("code", "").strip().upper()
    key = request.POST.get("key", "").strip()
    context.update(code=code, key=key)
    wait = None if request.user.is_authenticated else services.lookup_wait(request.META.get("REMOTE_ADDR"))
    if wait is not None:  # codes cannot be tried one after another (issue #13)
        context["error"] = _("Too many requests; please wait a moment.")
        response = _render(request, "letters/track.html", context, status=429)
        response["Retry-After"] = str(wait)
        return response
    letter = Letter.objects.select_related("department").filter(code=code).first() if code else None
    if letter is None or not services.is_writer(letter, key, netizen):
        context["error"] = _("No letter matches this tracking code and key. Check both and try again.")
        return _render(request, "letters/track.html", context, status=404)
    if request.POST.get("action") == "rate":
        try:
            letter = services.evaluate(
                code, key, request.POST.get("rating"), request.POST.get("comment", ""), netizen
            )
        except ServiceError as error:
            context["error"] = error.message
            context["letter"] = _tracked(letter)
            return _render(request, "letters/track.html", context, status=error.http_status)
        context["done"] = _("Thank you. Your rating was recorded and the letter is closed.")
    elif request.POST.get("action") == "erase":
        if request.POST.get("confirm") != "yes":
            context["error"] = _("Tick the box to confirm that your personal data should be erased.")
            context["letter"] = _tracked(letter)
            return _render(request, "letters/track.html", context, status=400)
        letter = privacy.erase_by_writer(code, key)
        context["done"] = _(
            "Your name and contact were erased, and the personal data in your letter masked. "
            "The letter stays in the statistics without them."
        )
    context["letter"] = _tracked(letter)
    return _render(request, "letters/track.html", context)


def scoreboard(request: HttpRequest) -> HttpResponse:
    """All letters, or with ?from=&to= those forwarded in a period (as the downloads it links)."""
    period, period_error = None, None
    if params.given(request.GET, "from", "to"):
        try:
            period = reports.parse_period(request.GET)
        except params.ParameterError:
            period_error = _period_error()
    data = reports.scoreboard(period=period)
    rows = sorted(
        data["departments"],
        key=lambda r: (r["rank"] is None, r["rank"] or 0, -r["received"]),
    )
    query = f"from={data['from']}&to={data['to']}&" if period else ""
    return _render(
        request,
        "letters/scoreboard.html",
        {
            "rows": rows,
            "minimum": data["minimum_for_ranking"],
            "computed_at": dt.datetime.fromisoformat(data["computed_at"]),
            "period_from": data.get("from", ""),
            "period_to": data.get("to", ""),
            "period_error": period_error,
            "export_url": f"/api/departments/scoreboard/?{query}",
        },
        status=400 if period_error else 200,
    )


def _period_error() -> str:
    """The message of a bad ?from=&to= on a page (the page itself answers 400)."""
    message = _("Enter the dates as YYYY-MM-DD, the end not before the start.")
    return f"{message} ({params.EARLIEST.isoformat()} – {params.LATEST.isoformat()})"


# --- operators ---------------------------------------------------------------------------------


def _operator_context(request: HttpRequest) -> dict:
    """The forwarding queue and the extensions waiting, a page of each (letters/queues.py)."""
    pager = queues.paged(request, queues.forward_queue(), fragment="#queue-title", per_page=queues.QUEUE_PAGE)
    queue = pager.items
    returns = {
        log.letter_id: log
        for log in LetterLog.objects.filter(letter__in=queue, action="return").order_by("at", "id")
    }
    for letter in queue:
        letter.returned = returns.get(letter.pk)  # type: ignore[attr-defined]
    return {
        "queue": queue,
        "pager": pager,
        "department_options": queues.department_options(_departments()),
        **queues.extensions_context(request),
        **queues.due_soon_context(clock.now()),
        **phone_forms.context(),
    }


@role_page("operator")
@require_http_methods(["GET", "POST"])
def operator(request: HttpRequest) -> HttpResponse:
    template = "letters/operator.html"
    if request.method == "POST":
        action = request.POST.get("action")
        if action in ("approve", "refuse"):
            return _decide(request, template, lambda: _operator_context(request), _here(request))
        if action in ("phone", "callback", "contact"):
            return _operator_phone(request, str(action))
        code = request.POST.get("code", "")
        try:
            letter = services.forward(code, request.POST.get("department") or None, request.user)  # type: ignore[arg-type]
        except ServiceError as error:
            return _refused(request, template, _operator_context(request), error)
        assert letter.department is not None
        messages.success(
            request,
            _("Letter %(code)s was forwarded to %(department)s.")
            % {"code": code, "department": letter.department.name},
        )
        return redirect(_here(request))
    return _render(request, template, _operator_context(request))


def _operator_phone(request: HttpRequest, action: str) -> HttpResponse:
    """The operator page's phone forms (letters/phone_forms.py)."""
    context = _operator_context(request)
    try:
        context.update(phone_forms.post(request.POST, action, request.user))
    except ServiceError as error:
        context.update(phone_forms.refused(request.POST, action))
        return _refused(request, "letters/operator.html", context, error)
    if "done" in context:
        messages.success(request, context["done"])
        return redirect(_here(request))
    return _render(request, "letters/operator.html", context)


# --- handlers ----------------------------------------------------------------------------------


def _handler_context(request: HttpRequest) -> dict:
    """The unit's open letters (a coordinator's, or a handler's of a unit without divisions), or a
    division's letters being handled (a division's handler): a page, most urgent first."""
    user = request.user
    profile = getattr(user, "staff", None)
    department = getattr(profile, "department", None)
    division = getattr(profile, "division", None) if has_role(user, "handler") else None
    mode = "handler"
    found = Letter.objects.none()
    if department is not None:
        found = Letter.objects.filter(department=department, status__in=OPEN)
        if units.is_coordinator_of(user, department.pk):
            mode = "coordinator"
        elif division is not None:
            mode, found = "division", found.filter(division=division, status=S.SIGNED)
        elif units.has_divisions(department.pk):
            mode = "observer"  # a handler of no division in a unit that has them: reads, cannot act
    now = clock.now()
    light = queues.chosen_light(request)
    ordered = queues.by_urgency(found, now)
    pager = queues.paged(
        request,
        (ordered.filter(now_light=light) if light else ordered)
        .select_related("department", "division")
        .prefetch_related("extensions"),
        per_page=queues.QUEUE_PAGE,
    )
    letters = followup.with_due_soon(queues.with_lights(pager.items, now), now)
    _add_handler_notes(letters)
    return {
        "department": department,
        "division": division if mode == "division" else None,
        "mode": mode,
        "divisions": list(department.divisions.all()) if department and mode == "coordinator" else [],
        "letters": letters,
        "pager": pager,
        "light": light,
        "alerts": [x for x in letters if x.now_light in ("red", "yellow")],  # type: ignore[attr-defined]
        "counts": queues.light_counts(found, now),
        "max_days": services.MAX_EXTENSION_DAYS,
        "report_notices": periodic.notices_for(user),
    }


def _add_handler_notes(letters: list[Letter]) -> None:
    """Each letter's pending extension, redo reason, reminders and sent-back draft (3 queries)."""
    notes = followup.handler_notes(letters)
    sent_back = {
        log.letter_id: log
        for log in LetterLog.objects.filter(letter__in=letters, action="return_draft").order_by("at", "id")
    }
    for letter in letters:
        letter.pending = next(  # type: ignore[attr-defined]
            (e for e in letter.extensions.all() if e.state == Extension.State.PENDING), None
        )
        letter.redo_reason = notes[letter.pk]["redo_reason"]  # type: ignore[attr-defined]
        letter.reminders = notes[letter.pk]["reminders"]  # type: ignore[attr-defined]
        letter.sent_back = sent_back.get(letter.pk) if not letter.draft else None  # type: ignore[attr-defined]


HANDLER_DONE = {
    "sign": gettext_lazy("You signed for letter %(code)s."),
    "return": gettext_lazy("Letter %(code)s went back to the operators."),
    "extend": gettext_lazy("The extension for letter %(code)s waits for a decision."),
    "reply": gettext_lazy("Your reply to letter %(code)s is published to its writer."),
    "assign": gettext_lazy("Letter %(code)s was assigned to the division."),
    "draft": gettext_lazy("Your draft reply to letter %(code)s waits for the coordinator's approval."),
    "approve-draft": gettext_lazy("The draft reply to letter %(code)s was approved and sent to its writer."),
    "return-draft": gettext_lazy("The draft reply to letter %(code)s went back to its division."),
}


def _handler_step(action: str, code: str, post: Any, user: Any) -> None:
    if action == "sign":
        services.sign(code, user)
    elif action == "return":
        services.return_letter(code, post.get("reason"), user)
    elif action == "extend":
        days: object = post.get("days", "")
        try:
            days = int(str(days))
        except ValueError:
            pass  # services refuses it with its own message
        services.request_extension(code, days, post.get("reason"), user)
    elif action == "reply":
        services.reply(code, post.get("text"), user)
    elif action == "assign":
        handling.assign(code, post.get("division"), user)
    elif action == "draft":
        handling.draft(code, post.get("text"), user)
    elif action == "approve-draft":
        handling.approve_draft(code, user)
    else:
        handling.return_draft(code, post.get("reason"), user)


@role_page("handler", "coordinator")
@require_http_methods(["GET", "POST"])
def handler(request: HttpRequest) -> HttpResponse:
    template = "letters/handler.html"
    if request.method == "POST":
        code = request.POST.get("code", "")
        action = request.POST.get("action", "")
        user = request.user
        if action == "contact":
            return _handler_contact(request, code)
        if action not in HANDLER_DONE:
            return _refused(
                request, template, _handler_context(request), ServiceError("not_found", _("No such action."))
            )
        try:
            _handler_step(action, code, request.POST, user)
        except ServiceError as error:
            context = _handler_context(request)
            context.update(failed_code=code, failed_action=action, typed=request.POST)
            return _refused(request, template, context, error)
        messages.success(request, str(HANDLER_DONE[action]) % {"code": code})
        return redirect(_here(request))
    return _render(request, template, _handler_context(request))


def _handler_contact(request: HttpRequest, code: str) -> HttpResponse:
    """ "查看联系方式": the queue again, with this one letter's writer shown; the opening is recorded."""
    template = "letters/handler.html"
    try:
        letter = privacy.open_contact(code, request.user)
    except ServiceError as error:
        return _refused(request, template, _handler_context(request), error)
    context = _handler_context(request)
    context["revealed"] = letter
    return _render(request, template, context)


# --- supervisors -------------------------------------------------------------------------------


def _supervisor_context(request: HttpRequest) -> dict:
    now = clock.now()
    open_letters = Letter.objects.filter(status__in=OPEN, department__isnull=False).annotate(
        now_light=light_case(now)
    )
    counts: dict[int, dict[str, int]] = {}
    for row in open_letters.values("department_id", "now_light").annotate(n=Count("id")):
        counts.setdefault(row["department_id"], {})[row["now_light"]] = row["n"]
    lights = [
        {
            "department": d,
            "red": counts[d.pk].get("red", 0),
            "yellow": counts[d.pk].get("yellow", 0),
            "green": counts[d.pk].get("green", 0),
        }
        for d in _departments()
        if d.pk in counts
    ]
    lights.sort(key=lambda r: (-r["red"], -r["yellow"], -r["green"]))
    red = queues.paged(
        request,
        open_letters.filter(now_light="red")
        .select_related("department")
        .annotate(due=queues.open_deadline())
        .order_by(F("due").asc(nulls_last=True), "id"),
        "red_page",
        "#red-title",
        queues.QUEUE_PAGE,
    )
    done = queues.paged(
        request,
        Letter.objects.filter(status__in=[S.REPLIED, S.CLOSED])
        .exclude(kind=LetterKind.THANKS)  # not handled, so nothing to redo
        .select_related("department")
        .order_by("-replied_at", "-id"),
        "done_page",
        "#done-title",
        queues.SIDE_PAGE,
    )
    context: dict[str, Any] = {
        "lights": lights,
        "totals": {k: sum(r[k] for r in lights) for k in ("red", "yellow", "green")},
        "red_letters": queues.with_lights(red.items, now),
        "red_pager": red,
        "done": done.items,
        "done_pager": done,
        **queues.extensions_context(request),
        **queues.due_soon_context(now),
        "reports": [(r, periodic.title(r)) for r in periodic.Report.objects.all()[:20]],
        "report_year": clock.localdate().year,
    }
    try:
        period = reports.parse_period(request.GET)
    except params.ParameterError:
        context["period_error"] = _period_error()
        period = reports.parse_period({})
    last_day = (period.end - dt.timedelta(days=1)).date()
    context.update(
        period_from=period.start.date().isoformat(),
        period_to=last_day.isoformat(),
        assessment=reports.recent_assessment(period),
    )
    return context


@role_page("supervisor")
@require_http_methods(["GET", "POST"])
def supervisor(request: HttpRequest) -> HttpResponse:
    template = "letters/supervisor.html"
    if request.method == "POST":
        action = request.POST.get("action")
        if action in ("approve", "refuse"):
            return _decide(request, template, lambda: _supervisor_context(request), _here(request))
        code = request.POST.get("code", "")
        reason = request.POST.get("reason")
        try:
            if action == "redo":
                services.redo(code, reason, request.user)  # type: ignore[arg-type]
                message = _("Letter %(code)s goes back to its department to be handled again.")
            elif action == "wrong-closure":
                services.mark_wrong_closure(code, reason, request.user)  # type: ignore[arg-type]
                message = _("The closure of letter %(code)s is marked wrong.")
            elif action == "remind":
                followup.remind(code, request.POST.get("note"), request.user)  # type: ignore[arg-type]
                message = _("A reminder about letter %(code)s was sent to its department.")
            else:
                raise ServiceError("not_found", _("No such action."))
        except ServiceError as error:
            context = _supervisor_context(request)
            context.update(failed_code=code, failed_action=action)
            return _refused(request, template, context, error)
        messages.success(request, message % {"code": code})
        return redirect("letters-supervisor")
    context = _supervisor_context(request)
    return _render(request, template, context, status=400 if context.get("period_error") else 200)


urlpatterns = [
    path("", public_letters, name="letters"),
    path("write/", write, name="letters-write"),
    path("track/", track, name="letters-track"),
    path("scoreboard/", scoreboard, name="letters-scoreboard"),
    path("operator/", operator, name="letters-operator"),
    path("handler/", handler, name="letters-handler"),
    path("supervisor/", supervisor, name="letters-supervisor"),
]
