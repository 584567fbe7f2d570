"""The staff letter queues a page at a time (issue #17).

A year of the service leaves hundreds of letters in each queue; a page that renders every one with
its forms takes seconds. So each queue shows QUEUE_PAGE (25) letters, in the order its users work them:

* operators: the letters waiting to be forwarded, oldest first (first come, first forwarded);
* handlers, coordinators and divisions: red lights first, then yellow, then green, each by its
  deadline (soonest first), optionally one light only (?light=red);
* supervisors: the red letters by deadline; the extensions waiting for a decision, oldest first.

The order, the filter and the counts per light are computed in SQL, so the page costs the same with
ten letters or ten thousand. Page links keep every other parameter of the address (the filter, the
assessment's period, another list's page); a page past the last shows the last, and says so.
"""

import datetime as dt
from typing import Any

from django.db.models import Case, Count, F, IntegerField, QuerySet, Value, When
from django.http import HttpRequest
from django.utils.html import format_html_join
from django.utils.safestring import SafeString

from core.paging import Pager, paged
from letters import followup
from letters.lights import light_at, light_case, stage_of
from letters.models import Extension, Letter, LetterStatus, LightChange

S = LetterStatus
QUEUE_PAGE = 25  # a queue's letters on a page: 50, with their forms, took 1.5 times as long
SIDE_PAGE = 20  # a side list's: extensions waiting, the supervisors' replied letters
__all__ = ["Pager", "paged"]  # the queues page with core.paging
LIGHTS = ("red", "yellow", "green")
NEW_LIGHT_HOURS = 24  # a yellow or red light is "new" for a day after it came on


def department_options(departments: Any) -> SafeString:
    """The forward form's <option>s, rendered once for every row's <select> (74 departments on each
    of 50 rows cost the template engine more than the rest of the page)."""
    return format_html_join("", '<option value="{}">{}</option>', ((d.code, d.name) for d in departments))


def with_lights(letters: list[Letter], now: dt.datetime) -> list[Letter]:
    """Set .now_light, .stage, .deadline, .light_since and .light_new on each open letter."""
    since: dict[tuple[int, str, str], dt.datetime] = {}
    for change in LightChange.objects.filter(letter__in=letters).order_by("at", "id"):
        since[(change.letter_id, change.stage, change.light)] = change.at
    fresh = now - dt.timedelta(hours=NEW_LIGHT_HOURS)
    for letter in letters:
        stage = stage_of(letter)
        letter.stage, letter.deadline = (stage.name, stage.deadline(letter)) if stage else ("", None)  # type: ignore[attr-defined]
        light = light_at(letter, now)
        letter.now_light = light  # type: ignore[attr-defined]
        at = since.get((letter.pk, letter.stage, light or ""))  # type: ignore[attr-defined]
        letter.light_since = at  # type: ignore[attr-defined]
        # Not yet recorded by the sweep, or recorded within the last day.
        letter.light_new = light in ("yellow", "red") and (at is None or at >= fresh)  # type: ignore[attr-defined]
    return letters


# --- handlers ----------------------------------------------------------------------------------


def open_deadline() -> Case:
    """The deadline of the open stage: signing for while forwarded, replying while signed for."""
    return Case(When(status=S.FORWARDED, then=F("sign_deadline")), default=F("reply_deadline"))


def by_urgency(found: QuerySet, now: Any) -> QuerySet:
    """Red, yellow, green, none; each by its open deadline, soonest first (the handler's queue)."""
    rank = Case(
        *(When(now_light=light, then=Value(i)) for i, light in enumerate(LIGHTS)),
        default=Value(len(LIGHTS)),
        output_field=IntegerField(),
    )
    return found.annotate(now_light=light_case(now), urgency=rank, due=open_deadline()).order_by(
        "urgency", F("due").asc(nulls_last=True), "id"
    )


def light_counts(found: QuerySet, now: Any) -> dict[str, int]:
    """How many of the letters show each light now: one GROUP BY."""
    rows = found.order_by().annotate(now_light=light_case(now)).values("now_light").annotate(n=Count("id"))
    counts = dict.fromkeys(LIGHTS, 0)
    for row in rows:
        if row["now_light"] in counts:
            counts[row["now_light"]] = row["n"]
    return counts


def chosen_light(request: HttpRequest) -> str:
    light = request.GET.get("light", "")
    return light if light in LIGHTS else ""


# --- operators and supervisors -----------------------------------------------------------------


def pending_extensions() -> QuerySet:
    return (
        Extension.objects.filter(state=Extension.State.PENDING, letter__status=S.SIGNED)
        .select_related("letter", "letter__department")
        .order_by("requested_at", "id")
    )


def forward_queue() -> QuerySet:
    return Letter.objects.filter(status=S.SUBMITTED).order_by("submitted_at", "id")


def due_soon_context(now: dt.datetime) -> dict:
    """The letters close to a limit, the soonest DUE_SOON_SHOWN (operators, supervisors)."""
    found = followup.close_to_limit(now)
    shown = followup.DUE_SOON_SHOWN
    return {"due_soon": found[:shown], "due_soon_more": len(found) > shown}


def extensions_context(request: HttpRequest) -> dict:
    """A page of the extensions waiting for a decision, oldest first (operators, supervisors)."""
    pager = paged(request, pending_extensions(), "extensions_page", "#extensions-title", SIDE_PAGE)
    return {"extensions": pager.items, "extensions_pager": pager}
