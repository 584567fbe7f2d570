"""The programmes of a simulated year, planned: what happens in each, when, and to whom (see live.py)."""

import datetime as dt
import random
from dataclasses import dataclass, field

from django.contrib.auth.models import User

from archive.simulation import cast, live_texts
from archive.simulation.figures import BEIJING
from archive.simulation.timeline import Timeline
from core.netizens import session_netizen_key
from departments.models import Department

PRE_ASKED = 0.3  # of a programme's questions, sent in the week before it
MERGED = 0.12  # of questions asked: duplicates of an earlier question of the same programme
REJECTED = 0.10
BLOCKED = 0.02  # asks refused for a block-list word (on top of the questions asked)
SUPPORTERS_ONLY = 0.10  # of the netizens who took part: supported questions but asked none
PERSONAL = 0.03  # of a programme's questions: with the netizen's phone or ID number
REVIEW = 0.03  # with a review-list word
PUBLISHED = 0.7  # of the questions approved during the hour: shown to viewers at once
ON_AIR = 0.3  # of the answers: given by voice, recorded by the host
MAX_GUESTS = 8
START = dt.time(14, 30)
EDITED_OUT = "（个人信息已由审核员删除）"

ANSWERED, FORWARDED, REJECTED_, MERGED_ = "answered", "forwarded", "rejected", "merged"


@dataclass
class Netizen:
    key: str
    ip: str
    nickname: str


@dataclass
class Ask:
    """One planned question: who sends it when, and what becomes of it."""

    index: int
    at: dt.datetime
    pre: bool  # sent before the programme
    outcome: str = FORWARDED
    client_id: str = ""
    text: str = ""
    netizen: Netizen | None = None
    screened: dt.datetime | None = None
    moderator: str = ""
    publish: bool = False
    edit: str | None = None
    reason: str = ""
    into: int | None = None  # the index of the earlier question it repeats
    answered: dt.datetime | None = None
    guest: int = 0  # which of the programme's guests answers
    on_air: bool = False
    answer: str = ""
    planted: str = ""  # a phone or ID number in the text as stored

    @property
    def published(self) -> dt.datetime | None:
        if self.publish:
            return self.screened
        return self.answered


@dataclass
class Programme:
    department: Department
    title: str
    subjects: list[str]
    announced: dt.datetime
    starts: dt.datetime
    ends: dt.datetime
    guests: list[User] = field(default_factory=list)
    asks: list[Ask] = field(default_factory=list)
    blocked_at: list[dt.datetime] = field(default_factory=list)
    blocked: list[tuple[dt.datetime, Netizen, str]] = field(default_factory=list)
    supports: list[tuple[dt.datetime, Netizen, int]] = field(default_factory=list)


def _thursdays(timeline: Timeline, start: dt.date, days: int) -> list[dt.datetime]:
    """Each Thursday's 14:30 in the period still far enough ahead to announce the programme."""
    first = start + dt.timedelta(days=(3 - start.weekday()) % 7)
    slots = []
    day = first
    while day < start + dt.timedelta(days=days):
        at = dt.datetime.combine(day, START, tzinfo=BEIJING)
        if at > timeline.clock.at + dt.timedelta(hours=2):
            slots.append(at)
        day += dt.timedelta(days=7)
    return slots


def programmes(
    timeline: Timeline, rng: random.Random, want: dict, start: dt.date, days: int
) -> list[Programme]:
    slots = _thursdays(timeline, start, days)
    n = want["programmes"]
    if len(slots) < n:
        raise ValueError(f"{n} weekly programmes need {n} Thursdays; {start} + {days} days has {len(slots)}")
    chosen = [slots[round(i * (len(slots) - 1) / (n - 1))] for i in range(n)] if n > 1 else slots[:1]
    known = {d.code: d for d in Department.objects.filter(active=True)}
    # Commissions and public services with their own subjects first; districts fill up the rest.
    candidates = [code for code in live_texts.TOPICS if code in known]
    candidates += sorted(code for code, d in known.items() if d.kind == "district")
    departments = rng.sample(candidates[: max(want["departments"], 40)], want["departments"])
    order = departments + [rng.choice(departments) for _ in range(n - len(departments))]
    rng.shuffle(order)
    programmes, seen = [], set()
    for starts, code in zip(chosen, order, strict=True):
        department = known[code]
        title, subjects = live_texts.topic_of(code, department.short_name, rng)
        if code in seen:  # the department's second visit takes up one of its subjects
            title = f"{rng.choice(subjects)}专题"
        seen.add(code)
        announced = max(
            starts - dt.timedelta(days=7, hours=4, minutes=30), timeline.clock.at + dt.timedelta(minutes=1)
        )
        ends = starts + dt.timedelta(minutes=60 + rng.randrange(7))
        programmes.append(Programme(department, title, subjects, announced, starts, ends))
    return programmes


def apportion(total: int, weights: list[float], minimum: int = 0) -> list[int]:
    """`total` split in proportion to `weights` (largest remainders), each part at least `minimum`."""
    rest = total - minimum * len(weights)
    if rest < 0:
        raise ValueError(f"{total} cannot give {len(weights)} parts {minimum} each")
    whole = sum(weights)
    raw = [rest * w / whole for w in weights]
    parts = [int(x) for x in raw]
    for i in sorted(range(len(raw)), key=lambda i: parts[i] - raw[i])[: rest - sum(parts)]:
        parts[i] += 1
    return [part + minimum for part in parts]


def cast_guests(programmes: list[Programme], rng: random.Random, total: int, staff: cast.Staff) -> None:
    """Each programme's guests: the department's spokesperson and some of its office heads."""
    sizes = apportion(total, [rng.uniform(0.5, 1.5) for _ in programmes], minimum=1)
    while max(sizes) > MAX_GUESTS:  # move the excess to the smallest panel
        sizes[sizes.index(max(sizes))] -= 1
        sizes[sizes.index(min(sizes))] += 1
    pools: dict[str, list[User]] = {}
    for programme, size in zip(programmes, sizes, strict=True):
        department = programme.department
        pool = pools.setdefault(department.code, [])
        while len(pool) < size:
            n = len(pool)
            title = department.short_name + (
                "新闻发言人" if n == 0 else live_texts.OFFICES[(n - 1) % len(live_texts.OFFICES)]
            )
            name = live_texts.person_name(rng)
            pool.append(staff.user(f"sim-{department.code}-{n}", "guest", department, name=name, title=title))
        programme.guests = [pool[0], *rng.sample(pool[1:], size - 1)]


def plan_questions(
    programmes: list[Programme], rng: random.Random, want: dict, moderators: list[str]
) -> None:
    """How many questions each programme gets and how each of them ends, then the questions."""
    asked = want["questions_asked"]
    sizes = apportion(
        asked, [rng.uniform(0.6, 1.4) for _ in programmes], 1 if asked >= len(programmes) else 0
    )
    weights = [float(size) for size in sizes]
    answered = apportion(want["questions_answered"], weights)
    merged = apportion(want["merged"], weights)
    rejected = apportion(want["rejected"], weights)
    _balance(sizes, answered, merged, rejected)
    blocked = apportion(want["blocked"], weights)
    for i, programme in enumerate(programmes):
        outcomes = (
            [ANSWERED] * answered[i]
            + [MERGED_] * merged[i]
            + [REJECTED_] * rejected[i]
            + [FORWARDED] * (sizes[i] - answered[i] - merged[i] - rejected[i])
        )
        _plan_asks(programme, rng, outcomes, moderators)
        programme.blocked_at = [_during(programme, rng) for _ in range(blocked[i])]


def _balance(sizes: list[int], answered: list[int], merged: list[int], rejected: list[int]) -> None:
    """Move merged and rejected questions away from a programme where they leave no room, or
    where a duplicate would have no question left to repeat (only ever at tiny sizes)."""

    def free(i: int) -> int:
        return sizes[i] - answered[i] - merged[i] - rejected[i]

    def bad(i: int) -> bool:
        return free(i) < 0 or (merged[i] > 0 and answered[i] + free(i) < 1)

    for i in range(len(sizes)):
        while bad(i):
            parts = merged if merged[i] > 0 else rejected if rejected[i] > 0 else answered
            j = max(range(len(sizes)), key=free)
            if j == i or free(j) < 2:
                raise ValueError("too few questions to end them as the targets say")
            parts[i] -= 1
            parts[j] += 1


def _at(start: dt.datetime, end: dt.datetime, rng: random.Random) -> dt.datetime:
    """A whole second between start and end."""
    return start + dt.timedelta(seconds=rng.randrange(max(int((end - start).total_seconds()), 1)))


def _during(programme: Programme, rng: random.Random) -> dt.datetime:
    """When a netizen sends a question during the programme (not in its last ten minutes)."""
    return _at(programme.starts + dt.timedelta(seconds=30), programme.ends - dt.timedelta(minutes=10), rng)


def _plan_asks(programme: Programme, rng: random.Random, outcomes: list[str], moderators: list[str]) -> None:
    p = programme
    pre = round(len(outcomes) * PRE_ASKED)
    before = (p.announced + dt.timedelta(minutes=30), p.starts - dt.timedelta(minutes=10))
    times = sorted(_at(*before, rng) for _ in range(pre))
    times += sorted(_during(p, rng) for _ in range(len(outcomes) - pre))
    rng.shuffle(outcomes)
    # A duplicate repeats an earlier question that was itself kept: the first kept one comes first.
    first_kept = next((k for k, outcome in enumerate(outcomes) if outcome in (ANSWERED, FORWARDED)), 0)
    first_merged = outcomes.index(MERGED_) if MERGED_ in outcomes else len(outcomes)
    if first_merged < first_kept:
        outcomes[first_merged], outcomes[first_kept] = outcomes[first_kept], outcomes[first_merged]
    bases: list[str] = []
    for k, (at, outcome) in enumerate(zip(times, outcomes, strict=True)):
        ask = Ask(k, at, k < pre, outcome, _client_id(rng), moderator=rng.choice(moderators))
        ask.screened = (
            min(at + dt.timedelta(minutes=rng.randrange(20, 360)), p.starts - dt.timedelta(minutes=5))
            if ask.pre
            else at + dt.timedelta(seconds=rng.randrange(30, 240))
        )
        bases.append(live_texts.question_text(p.subjects, rng))
        ask.text = bases[k]
        if outcome == MERGED_:
            kept = [j for j in range(k) if outcomes[j] in (ANSWERED, FORWARDED)]
            ask.into = rng.choice(kept)
            ask.text = live_texts.duplicate_of(bases[ask.into], rng)
        elif outcome == REJECTED_:
            ask.reason = rng.choice(live_texts.REJECT_REASONS)
        else:
            ask.publish = not ask.pre and rng.random() < PUBLISHED
        if outcome == ANSWERED:
            earliest = (
                p.starts + dt.timedelta(minutes=3) if ask.pre else ask.screened + dt.timedelta(seconds=30)
            )
            ask.answered = _at(earliest, p.ends - dt.timedelta(minutes=1), rng)
            ask.guest = rng.randrange(len(p.guests))
            ask.on_air = rng.random() < ON_AIR
            ask.answer = live_texts.answer_text(p.subjects, rng, ask.on_air)
        p.asks.append(ask)
    _flag(p, rng)


def _flag(programme: Programme, rng: random.Random) -> None:
    """Plant personal numbers and review-list words in some of the questions that are not duplicates.

    One answered question of each programme keeps its number as stored, so that the mask on the
    public pages is exercised; of the others, the moderator removes about half of the numbers.
    """
    asks = programme.asks
    eligible = [a for a in asks if a.outcome != MERGED_]
    count = min(len(eligible), max(1, round(len(asks) * PERSONAL)))
    answered = [a for a in eligible if a.outcome == ANSWERED]
    keep = rng.choice(answered) if answered else None
    others = [a for a in eligible if a is not keep]
    personal = ([keep] if keep else []) + rng.sample(others, count - (1 if keep else 0))
    for ask in personal:
        ask.text, ask.planted = live_texts.with_personal_data(ask.text, rng)
        if ask is not keep and ask.outcome != REJECTED_ and rng.random() < 0.5:
            ask.edit = ask.text.replace(ask.planted, EDITED_OUT)
    plain = [a for a in eligible if not a.planted]
    for ask in rng.sample(plain, min(len(plain), round(len(asks) * REVIEW))):
        ask.text += rng.choice(live_texts.REVIEW_SENTENCES)


def _client_id(rng: random.Random) -> str:
    return f"{rng.getrandbits(128):032x}"


def plan_netizens(programmes: list[Programme], rng: random.Random, want: dict) -> None:
    """Who asks and who supports: exactly `participants` distinct netizens, each with its own key
    (as a session gives it) and address; some ask in several programmes."""
    made = 0

    def new() -> Netizen:
        nonlocal made
        made += 1
        key = session_netizen_key(f"simulated-{made}-{rng.getrandbits(64):016x}")
        return Netizen(key, f"10.{made >> 16 & 255}.{made >> 8 & 255}.{made & 255}", live_texts.nickname(rng))

    asks = [ask for p in programmes for ask in p.asks]
    askers = want["participants"] - want["supporters_only"]
    repeats = set(rng.sample(range(1, len(asks)), len(asks) - askers))
    seen: list[Netizen] = []
    for slot, ask in enumerate(asks):
        if slot in repeats:
            ask.netizen = rng.choice(seen)
        else:
            ask.netizen = new()
            seen.append(ask.netizen)
    for p in programmes:  # the refused asks come from netizens who never get a question in
        p.blocked = [
            (
                when,
                new(),
                live_texts.question_text(p.subjects, rng) + rng.choice(live_texts.BLOCKED_SENTENCES),
            )
            for when in p.blocked_at
        ]
    shown = [[a for a in p.asks if a.published is not None] for p in programmes]
    supporters = apportion(want["supporters_only"], [float(len(s)) for s in shown])
    for p, published, count in zip(programmes, shown, supporters, strict=True):
        for _ in range(count):
            netizen = new()
            for ask in rng.sample(published, min(len(published), rng.choice((1, 1, 2, 3)))):
                p.supports.append((_support_time(p, ask, rng), netizen, ask.index))
        for asker in p.asks:  # some askers support another question too
            others = [a for a in published if a is not asker]
            if not asker.pre and others and rng.random() < 0.3:
                ask = rng.choice(others)
                p.supports.append((_support_time(p, ask, rng), asker.netizen, ask.index))  # type: ignore[arg-type]


def _support_time(programme: Programme, ask: Ask, rng: random.Random) -> dt.datetime:
    assert ask.published is not None
    return _at(ask.published + dt.timedelta(seconds=5), programme.ends - dt.timedelta(seconds=20), rng)
