"""The programme half of `manage.py simulate`: the seed's weekly programmes (走进直播间).

Every Thursday at 14:30 Beijing time one department's spokesperson and office heads answer
netizens' questions for about an hour. How many programmes, departments, guests, netizens,
questions and answers there are is decided exactly from figures.targets(scale) and spread over the
programmes (so a small run hits its figures exactly, not by chance; live_plan.py); the rng decides
only which departments and guests, who asks, what is said and when. Everything then happens through
the services a real programme uses (studio/services.py, moderation/asking.py, actions.py,
supports.py), each at its own simulated time on the Timeline (live_play.py).

What a programme holds, and what the statistics count (archive/stats.py):
- questions asked the week before (approved for the guests, not shown) and during the hour;
- each stored question is answered (typed or by voice on air), forwarded (approved, left
  unanswered: the end of the programme makes it a letter, archive/bridge.py), rejected, or merged
  into an earlier question it repeats;
- a few asks carry a block-list word and are refused (never stored, so not counted), some carry
  a review-list word or the netizen's own phone or ID number and reach the moderator flagged; the
  moderator removes some of those numbers, the others stay stored and are masked on every page;
- netizens support (附议) published questions; some take part only that way.
"""

import datetime as dt
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.test import override_settings

from archive.simulation import cast, live_plan
from archive.simulation.figures import targets
from archive.simulation.live_play import Player
from archive.simulation.timeline import Timeline


def counts(scale: float) -> dict[str, int]:
    """Exactly what a run at `scale` produces: the targets, and how the questions end."""
    t = targets(scale)
    asked, answered = t["questions_asked"], t["questions_answered"]
    merged, rejected = round(asked * live_plan.MERGED), round(asked * live_plan.REJECTED)
    return {
        "programmes": t["programmes"],
        "departments": t["departments"],
        "guests": t["guests"],
        "participants": t["participants"],
        "questions_asked": asked,
        "questions_answered": answered,
        "merged": merged,
        "rejected": rejected,
        "forwarded": asked - answered - merged - rejected,
        "blocked": round(asked * live_plan.BLOCKED),
        "supporters_only": round(t["participants"] * live_plan.SUPPORTERS_ONLY),
    }


def expected_bridge_letters(scale: float) -> int:
    """How many letters the programmes' ends create (approved questions left unanswered, 件件有着落):
    part of letters.received, so the letter half submits that many fewer."""
    return counts(scale)["forwarded"]


def plan_programmes(
    timeline: Timeline,
    rng: random.Random,
    scale: float,
    start: dt.date,
    days: int,
    progress: Callable[[str], object] | None = None,
) -> None:
    """Schedule the period's programmes on the timeline (registry, staff and banned words are set
    up now; everything the programmes do happens when the timeline runs). `progress` hears one line
    once they are planned."""
    want = counts(scale)
    cast.ensure_registry()
    cast.banned_words()
    staff = cast.Staff()
    host = staff.user("sim-host", "host", name="李主持", title="首都之窗主持人")
    moderators = [staff.user(f"sim-moderator-{n}", "moderator", name=f"审核员{n}") for n in (1, 2, 3)]
    programmes = live_plan.programmes(timeline, rng, want, start, days)
    live_plan.cast_guests(programmes, rng, want["guests"], staff)
    live_plan.plan_questions(programmes, rng, want, [m.username for m in moderators])
    live_plan.plan_netizens(programmes, rng, want)
    before = len(timeline)
    for programme in programmes:
        Player(timeline, programme, host, moderators).schedule()
    if progress is not None:
        progress(
            f"programmes: {len(programmes)} planned, {len(timeline) - before:,} steps"
            f" ({want['questions_asked']:,} questions, {want['forwarded']:,} of them to become letters)"
        )


@contextmanager
def consoles_in_memory() -> Iterator[None]:
    """Run the timeline with the channel layer in memory: the staff consoles' pushes (one or two per
    step) then cost well under a millisecond instead of several with channels_redis, which builds
    a connection per push when called from synchronous code. No console follows a simulated year;
    viewers' events still go out through the hub (one Redis PUBLISH each, when REDIS_URL is set)."""
    with override_settings(CHANNEL_LAYERS={"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}):
        yield
