"""`manage.py simulate` (issue #17): a seeded year through the real services on a simulated clock.

A small run (a fraction of the seed's letters, arriving over two weeks) comes out exactly as planned
on the statistics API and page, the same seed gives the same year, every letter ends closed, the
lights changed on the way, and a database that already holds letters is refused untouched.
"""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.db import transaction
from django.db.models import Count, Sum
from django.test import Client

from archive.simulation.figures import targets
from departments.models import Department
from letters import services
from letters.models import Extension, Letter, LetterLog, LightChange

pytestmark = pytest.mark.django_db

SCALE = 0.002  # 93 letters, 14 rated, 9 satisfied
DAYS = 14


def simulate(seed: int = 7) -> str:
    out = io.StringIO()
    call_command("simulate", seed=seed, scale=SCALE, days=DAYS, stdout=out)
    return out.getvalue()


def aggregates() -> dict:
    """What the year looked like, without what is random by design (codes and keys)."""
    letters = Letter.objects.order_by("submitted_at", "id")
    return {
        "letters": list(
            letters.values_list(
                "submitted_at",
                "kind",
                "channel",
                "department__code",
                "status",
                "rating",
                "closure",
                "replied_at",
            )
        ),
        "redos": letters.aggregate(Sum("redo_count"), Sum("wrong_sign_count")),
        "steps": dict(LetterLog.objects.values_list("action").annotate(n=Count("id")).order_by("action")),
        "lights": dict(LightChange.objects.values_list("light").annotate(n=Count("id")).order_by("light")),
        "extensions": dict(Extension.objects.values_list("state").annotate(n=Count("id")).order_by("state")),
    }


def test_a_small_year_comes_out_as_planned_with_every_letter_closed_and_lights_on_the_way():
    output = simulate()
    want = targets(SCALE)
    data = Client().get("/api/stats/").json()
    letters = data["letters"]
    assert letters["received"] == want["letters_received"] == 93
    assert letters["rated"] == want["letters_rated"]
    assert letters["satisfied"] == want["letters_satisfied"]
    assert letters["thanks"] == want["thanks"]
    assert letters["closed"] == letters["received"] and letters["closure_rate"] == 1
    assert letters["satisfaction_rate"] == round(want["letters_satisfied"] / want["letters_rated"], 4)
    assert letters["closed_unrated"] == letters["received"] - letters["rated"]
    # Letters arrived over DAYS days: the daily average is over those, not over the years since.
    assert letters["received"] / (DAYS + 1) <= letters["daily_average"] <= letters["received"] / (DAYS - 4)
    # The programme half, in the same run: the seed's programme figures at this scale.
    assert (data["broadcasts"], data["departments"], data["guests"]) == (
        want["programmes"], want["departments"], want["guests"],
    )  # fmt: skip
    assert (data["participants"], data["questions_asked"], data["questions_answered"]) == (
        want["participants"], want["questions_asked"], want["questions_answered"],
    )  # fmt: skip
    page = Client().get("/stats/")
    assert page.status_code == 200
    html = page.content.decode()
    assert f"<dd>{want['letters_received']}</dd>" in html and f"<dd>{want['letters_rated']}</dd>" in html
    assert '<dd id="letters-closure-rate">100%</dd>' in html
    # The command's own summary says the same, beside the seed's figures.
    assert "letters received         46,510" in output and "100.0%" in output

    # Every letter went through the services' steps and ended closed; lights changed on the way.
    assert not Letter.objects.exclude(status="closed").exists()
    steps = set(LetterLog.objects.values_list("action", flat=True))
    assert {"submit", "forward", "sign", "reply", "evaluate", "close_unrated", "deliver"} <= steps
    assert Letter.objects.filter(channel="phone").exists()
    assert {"yellow", "red"} <= set(LightChange.objects.values_list("light", flat=True))
    assert Letter.objects.filter(reply_on_time=False).exists()  # some ran late
    assert Letter.objects.values("department").distinct().count() > 10


def test_the_same_seed_gives_the_same_year():
    with transaction.atomic():  # the first year is rolled back, so the second starts as empty
        simulate(seed=3)
        first = aggregates()
        transaction.set_rollback(True)
    cache.clear()
    simulate(seed=3)
    assert aggregates() == first


def test_a_database_that_holds_letters_is_refused_and_nothing_is_written():
    services.submit({"kind": "consultation", "subject": "问", "body": "问", "name": "王", "contact": "x"})
    users, departments = get_user_model().objects.count(), Department.objects.count()
    with pytest.raises(CommandError, match="already holds programmes or letters"):
        simulate()
    assert Letter.objects.count() == 1
    assert (get_user_model().objects.count(), Department.objects.count()) == (users, departments)
