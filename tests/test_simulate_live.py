"""The programme half of `manage.py simulate` (archive/simulation/live.py): a few weeks of the seed's
Thursday programmes at a small scale, played through the real services on a simulated clock, must
show exactly the planned figures and nothing of the netizens' phone and ID numbers."""

import datetime as dt
import random
import re

import pytest
from django.core.cache import cache
from django.test import Client

from archive.models import QuestionLetter
from archive.simulation import live
from archive.simulation.figures import BEIJING
from archive.simulation.timeline import Timeline
from letters.models import Letter
from moderation.models import Question, QuestionStatus
from studio.models import Answer, Broadcast

SCALE = 0.03  # 2 programmes, 228 questions
START = dt.date(2005, 5, 12)
DAYS = 15  # three Thursdays
PLANTED = re.compile(r"1[3-9]\d{9}|\d{17}[\dX]")

FIGURES = ["broadcasts", "departments", "guests", "participants", "questions_asked", "questions_answered"]


@pytest.fixture
def real_limits(settings) -> None:
    """The production rate limits (settings/base.py), which the test settings lift: the simulated
    netizens must keep to them at the simulated pace."""
    settings.MINXIN_QUESTION_LIMITS_PER_NETIZEN = [(60, 3), (3600, 20)]
    settings.MINXIN_QUESTION_LIMITS_PER_ADDRESS = [(60, 30), (3600, 300)]
    settings.MINXIN_SUPPORT_LIMITS_PER_NETIZEN = [(60, 30)]
    settings.MINXIN_SUPPORT_LIMITS_PER_ADDRESS = [(60, 60), (3600, 600)]
    settings.MINXIN_SUPPORT_LIMITS_PER_ADDRESS_AND_QUESTION = [(3600, 20)]


def simulate(seed: int, scale: float = SCALE, days: int = DAYS) -> list[str]:
    """Plan and run the programmes; returns what the planning reported."""
    lines: list[str] = []
    timeline = Timeline(dt.datetime.combine(START, dt.time(0), tzinfo=BEIJING))
    live.plan_programmes(timeline, random.Random(seed), scale, START, days, progress=lines.append)
    timeline.run(dt.datetime.combine(START + dt.timedelta(days=days), dt.time(0), tzinfo=BEIJING))
    cache.clear()  # the statistics are cached for two minutes of the real clock, now running again
    return lines


def api_figures(client: Client) -> dict:
    data = client.get("/api/stats/").json()
    return {name: data[name] for name in FIGURES}


@pytest.mark.django_db
def test_a_small_run_of_programmes_keeps_its_figures_its_netizens_numbers_and_its_time_order(
    client, real_limits
):
    """One run (a simulation is the slow part) checked three ways."""
    assert simulate(seed=7)[0].startswith("programmes: 2 planned")
    shows_exactly_its_planned_figures_on_the_statistics(client)
    shows_no_planted_phone_or_id_number_on_a_public_page(client)
    replays_each_programme_in_time_order_on_its_thursday_afternoon(client)


def shows_exactly_its_planned_figures_on_the_statistics(client: Client) -> None:
    want = live.counts(SCALE)
    figures = api_figures(client)
    assert figures == {
        "broadcasts": want["programmes"],
        "departments": want["departments"],
        "guests": want["guests"],
        "participants": want["participants"],
        "questions_asked": want["questions_asked"],
        "questions_answered": want["questions_answered"],
    }
    # Every approved question left unanswered became a letter to the programme's department.
    assert Letter.objects.count() == live.expected_bridge_letters(SCALE) == want["forwarded"]
    forwarded = Question.objects.filter(status=QuestionStatus.APPROVED, letter_link__isnull=False)
    assert forwarded.count() == want["forwarded"]
    assert Question.objects.filter(status=QuestionStatus.MERGED).count() == want["merged"]
    assert Question.objects.filter(status=QuestionStatus.REJECTED).count() == want["rejected"]
    assert not Question.objects.filter(status=QuestionStatus.PENDING).exists()
    page = client.get("/stats/").content.decode()
    live_figures = page.split('<dl class="figures">')[1].split("</dl>")[0]
    shown = [int(value.replace(",", "")) for value in re.findall(r"<dd>([\d,]+)</dd>", live_figures)]
    assert shown == [figures[name] for name in FIGURES]


def shows_no_planted_phone_or_id_number_on_a_public_page(client: Client) -> None:
    stored = Question.objects.values_list("original_text", flat=True)
    planted = {number for text in stored for number in PLANTED.findall(text)}
    assert len(planted) >= 4
    # Some numbers stayed in questions the guests answered: only the mask keeps them off the pages.
    assert any(PLANTED.search(q.text) for q in Question.objects.filter(status=QuestionStatus.ANSWERED))
    pages = []
    for broadcast in Broadcast.objects.all():
        pages.append(client.get(f"/live/{broadcast.pk}/").content.decode())
        pages.append(client.get(f"/api/broadcasts/{broadcast.pk}/events/").content.decode())
        for form in ("json", "csv", "md"):
            pages.append(
                client.get(f"/api/broadcasts/{broadcast.pk}/transcript/?format={form}").content.decode()
            )
        pages.append(client.get(f"/transcript/{broadcast.pk}/").content.decode())
    for word in ["电话", "身份证"]:
        pages.append(client.get("/search/", {"q": word}).content.decode())
        pages.append(client.get("/api/search/", {"q": word}).content.decode())
    for number in planted:  # nobody finds a question by the number in it
        assert client.get("/api/search/", {"q": number}).json()["results"] == []
    assert sum("我的电话是" in page for page in pages) > 3  # the questions are there, their numbers are not
    for page in pages:
        assert not planted & set(PLANTED.findall(page)), "a planted number reached a public page"


def replays_each_programme_in_time_order_on_its_thursday_afternoon(client: Client) -> None:
    for broadcast in Broadcast.objects.all():
        day = broadcast.starts_at.astimezone(BEIJING).date()
        assert day.weekday() == 3  # Thursday
        afternoon = (
            dt.datetime.combine(day, dt.time(14, 30), tzinfo=BEIJING),
            dt.datetime.combine(day, dt.time(15, 40), tzinfo=BEIJING),
        )
        events = client.get(f"/api/broadcasts/{broadcast.pk}/events/").json()["events"]
        times = [dt.datetime.fromisoformat(e["at"]) for e in events]
        assert times == sorted(times) and [e["seq"] for e in events] == list(range(1, len(events) + 1))
        assert all(afternoon[0] <= t <= afternoon[1] for t in times)
        assert events[0]["data"] == {"status": "live"} and events[-1]["data"] == {"status": "ended"}
        transcript = client.get(f"/api/broadcasts/{broadcast.pk}/transcript/?format=json").json()
        items = [dt.datetime.fromisoformat(item["at"]) for item in transcript["items"]]
        answers = [
            dt.datetime.fromisoformat(a["at"])
            for item in transcript["items"]
            for a in item.get("answers", [])
        ]
        assert len(answers) > 10 and items == sorted(items)
        assert all(afternoon[0] <= t <= afternoon[1] for t in items + answers)
        assert client.get(f"/replay/{broadcast.pk}/").status_code == 200


def run_of() -> list:
    """What a run said and did, programme by programme (ids aside)."""
    return [
        (
            b.number,
            b.title,
            b.department.code,
            b.starts_at,
            [(q.text, q.status, q.support_count) for q in b.questions.all()],
        )
        for b in Broadcast.objects.order_by("number").select_related("department")
    ]


@pytest.mark.django_db
def test_the_same_seed_gives_the_same_programmes_and_figures_twice(client):
    simulate(seed=11, scale=0.005, days=8)
    first, programmes = api_figures(client), run_of()
    Answer.objects.all().delete()  # an answer protects its question
    QuestionLetter.objects.all().delete()
    Letter.objects.all().delete()
    Broadcast.objects.all().delete()
    simulate(seed=11, scale=0.005, days=8)
    assert api_figures(client) == first
    assert run_of() == programmes
