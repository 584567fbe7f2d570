"""A netizen's question, from the `ask` to the moderators' queue (PROTOCOL.md §4, "ask").

`ask_questions` takes a batch of asks (moderation/intake.py collects them from one process's live
sockets; the HTTP twin, `ask_question`, is a batch of one) through five steps. Each step answers
the asks it stops and passes the rest on:

    dedupe      a client_id already stored gets its question back: a retry is never refused
    rate-limit  per netizen and per address, one Redis round trip for the whole batch
    screen      blocked words refuse; review words and personal data flag for the moderator
    store       one lock of the programme row and one insert, with similar-question hints
    notify      one push of the batch's new questions to the moderate consoles, on commit

A burst (issue #7: a thousand questions within a second) is stored a batch at a time because per
question those round trips, not the screening, were the cost. Each request still gets its own
answer: its question, or a refusal (ServiceError) for it alone. Questions are stored before anyone
acknowledges them.
"""

import ipaddress
import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.utils.translation import gettext as _

from core import clock, ratelimit
from core.clientids import check_client_id
from core.errors import ServiceError
from core.sanitize import clean_plain
from moderation import screening
from moderation.models import Question
from moderation.shapes import staff_question_json
from moderation.similar import recent_bigrams, similar_to, similar_within
from studio import events
from studio.events import locked_broadcast
from studio.frames import UNAVAILABLE_RETRY_AFTER
from studio.models import Broadcast

log = logging.getLogger(__name__)

MAX_QUESTION = 500
MAX_NICKNAME = 30
DEFAULT_NICKNAME = "网友"


@dataclass(frozen=True)
class AskRequest:
    """One netizen's `ask`, as it arrived (unchecked)."""

    broadcast_id: int
    client_id: object
    text: object
    nickname: object
    netizen_key: str
    client_ip: str | None = None


AskResult = tuple[Question, bool] | ServiceError  # the question and whether it is new, or a refusal
Results = list[AskResult | None]  # one place per request of the batch, filled in by the steps


@dataclass
class Ask:
    """A checked ask on its way through the steps. A client_id sent twice within one batch is one
    Ask, and both requests (`indexes`, their places in the batch) get its answer."""

    request: AskRequest
    client_id: str
    text: str
    nickname: str
    indexes: list[int]
    flags: list[str] = field(default_factory=list)

    def stored(self, results: Results, question: Question, created: bool) -> None:
        for index in self.indexes:
            results[index] = (question, created)

    def refuse(
        self, results: Results, code: str, message: str | None = None, retry_after: int | None = None
    ) -> None:
        for index in self.indexes:  # one error object per asker: each is raised in its own task
            results[index] = ServiceError(code, message, retry_after=retry_after)


def ask_question(
    broadcast_id: int,
    client_id: object,
    text: object,
    nickname: object,
    netizen_key: str,
    client_ip: str | None,
) -> tuple[Question, bool]:
    """Screen and store a netizen's question (before anyone acknowledges it). Idempotent on client_id.

    Returns the question and whether it was new. A repeat is answered before the rate limit, so a
    client retrying after a dropped connection is never refused its own question.
    """
    result = ask_questions([AskRequest(broadcast_id, client_id, text, nickname, netizen_key, client_ip)])[0]
    if isinstance(result, ServiceError):
        raise result
    return result


def ask_questions(requests: list[AskRequest]) -> list[AskResult]:
    """ask_question for many asks at once: one result per request, in order."""
    results: Results = [None] * len(requests)
    for broadcast_id, asks in _checked(requests, results).items():
        _ask_in_programme(broadcast_id, asks, results)
    assert all(result is not None for result in results)
    return results  # type: ignore[return-value]


def check_ask(client_id: object, text: object, nickname: object) -> tuple[str, str, str]:
    """An ask's client_id, text and nickname as stored, or the ServiceError that refuses it.

    Needs no database, so the live socket runs it first, in the netizen's language, before the
    ask joins a batch (moderation/intake.py) that is stored outside any connection's context.
    """
    return check_client_id(client_id), check_text(text), _nickname(nickname)


def check_consent(consent: object) -> None:
    """An ask's optional `consent` (PROTOCOL.md §4 "Personal information"): absent for clients that
    predate it (a question collects no name or contact), true once the netizen agreed to the live
    page's notice; false means the netizen declined, so nothing may be stored."""
    if consent is None or consent is True:
        return
    if consent is False:
        raise ServiceError(
            "bad_frame",
            _("A question can only be sent if you agree to how your personal information is used."),
        )
    raise ServiceError("bad_frame", _("consent must be true or false."))


def check_text(text: object) -> str:
    """A question's text as stored (also a moderator's edit of it), or the ServiceError that refuses it."""
    if not isinstance(text, str):
        raise ServiceError("bad_frame", _("text must be a string."))
    text = clean_plain(text)
    if not text:
        raise ServiceError("empty", _("Please write your question."))
    if len(text) > MAX_QUESTION:
        raise ServiceError(
            "too_long", _("A question has at most %(limit)d characters.") % {"limit": MAX_QUESTION}
        )
    return text


def _nickname(nickname: object) -> str:
    if nickname is None:
        nickname = ""
    if not isinstance(nickname, str):
        raise ServiceError("bad_frame", _("nickname must be a string."))
    nickname = clean_plain(nickname).replace("\n", " ") or DEFAULT_NICKNAME
    if len(nickname) > MAX_NICKNAME:
        raise ServiceError(
            "too_long", _("A nickname has at most %(limit)d characters.") % {"limit": MAX_NICKNAME}
        )
    return nickname


def _checked(requests: list[AskRequest], results: Results) -> dict[int, list[Ask]]:
    """The asks that pass check_ask (the others are answered with its refusal), by programme."""
    programmes: dict[int, dict[str, Ask]] = {}
    for index, request in enumerate(requests):
        try:
            client_id, text, nickname = check_ask(request.client_id, request.text, request.nickname)
        except ServiceError as error:
            results[index] = error
            continue
        asks = programmes.setdefault(request.broadcast_id, {})
        if client_id in asks:  # sent twice within one batch: both get the one question
            asks[client_id].indexes.append(index)
        else:
            asks[client_id] = Ask(request, client_id, text, nickname, [index])
    return {broadcast_id: list(asks.values()) for broadcast_id, asks in programmes.items()}


def _ask_in_programme(broadcast_id: int, asks: list[Ask], results: Results) -> None:
    """One programme's part of the batch through the steps; what each ask hears if they break."""
    try:
        _steps(broadcast_id, asks, results)
    except (OperationalError, InterfaceError) as exc:
        # The database is unreachable: nothing of this programme's part was stored; each of
        # its askers may resend with the same client_id (PROTOCOL.md §4, `unavailable`).
        log.warning("asks for programme %s refused, database unavailable: %s", broadcast_id, exc)
        for ask in asks:
            ask.refuse(results, "unavailable", retry_after=UNAVAILABLE_RETRY_AFTER)
    except Exception:
        # Something about one ask the checks did not foresee: store them one by one, so that
        # it fails alone and no other netizen's question is lost with it.
        log.exception("a batch of asks for programme %s failed; storing them one by one", broadcast_id)
        for ask in asks:
            try:
                _steps(broadcast_id, [ask], results)
            except Exception:
                log.exception("ask %r for programme %s failed", ask.client_id, broadcast_id)
                ask.refuse(results, "bad_frame", _("The server could not handle this question."))


def _steps(broadcast_id: int, asks: list[Ask], results: Results) -> None:
    """dedupe → rate-limit → screen → store → notify, for one programme's asks."""
    asks = _dedupe(broadcast_id, asks, results)
    asks = _rate_limit(asks, results)
    asks = _screen(asks, results)
    if not asks:
        return
    recent = recent_bigrams(broadcast_id)  # a read that needs no lock: before taking it
    with transaction.atomic():
        # The lock orders these asks against "end", so no question slips in after the end.
        try:
            broadcast = locked_broadcast(broadcast_id)
        except ServiceError as error:
            for ask in asks:
                ask.refuse(results, error.code)
            return
        asks = _dedupe(broadcast_id, asks, results)  # another process may have stored one meanwhile
        if not broadcast.takes_questions:
            for ask in asks:
                ask.refuse(results, "closed")
            return
        questions = _store(broadcast, asks, recent)
        _notify(broadcast, questions)
    for ask, question in zip(asks, questions, strict=True):
        ask.stored(results, question, created=True)


def _dedupe(broadcast_id: int, asks: list[Ask], results: Results) -> list[Ask]:
    """Asks whose client_id is already stored get that question back; the others go on."""
    found = Question.objects.filter(broadcast_id=broadcast_id, client_id__in={ask.client_id for ask in asks})
    stored = {question.client_id: question for question in found}
    fresh = []
    for ask in asks:
        if ask.client_id in stored:
            ask.stored(results, stored[ask.client_id], created=False)
        else:
            fresh.append(ask)
    return fresh


def _rate_limit(asks: list[Ask], results: Results) -> list[Ask]:
    """Count each ask against its netizen's and its address's limits; refuse those over one."""
    hits: list[tuple[str, str, ratelimit.Limits]] = []
    for ask in asks:
        hits.append(("ask", ask.request.netizen_key, settings.MINXIN_QUESTION_LIMITS_PER_NETIZEN))
        if ask.request.client_ip:
            hits.append(("ask-ip", ask.request.client_ip, settings.MINXIN_QUESTION_LIMITS_PER_ADDRESS))
    waits = iter(ratelimit.hit_many(hits))
    passed = []
    for ask in asks:
        mine = [next(waits)] + ([next(waits)] if ask.request.client_ip else [])
        wait = max((w for w in mine if w is not None), default=None)
        if wait is None:
            passed.append(ask)
        else:
            ask.refuse(results, "rate_limited", retry_after=wait)
    return passed


def _screen(asks: list[Ask], results: Results) -> list[Ask]:
    """Blocked words refuse an ask; review words and personal data flag it for the moderator."""
    matcher = screening.current_matcher()
    passed = []
    for ask in asks:
        found = screening.screen(ask.text + "\n" + ask.nickname, matcher)
        if found.blocked:
            ask.refuse(results, "blocked_content")
        else:
            ask.flags = found.flags
            passed.append(ask)
    return passed


def _store(broadcast: Broadcast, asks: list[Ask], recent: list[tuple[int, frozenset[str]]]) -> list[Question]:
    """One insert for the batch; each question names the recent ones it resembles."""
    now = clock.now()
    questions = Question.objects.bulk_create(
        [
            Question(
                broadcast=broadcast,
                client_id=ask.client_id,
                text=ask.text,
                original_text=ask.text,
                nickname=ask.nickname,
                netizen_key=ask.request.netizen_key[:64],
                client_ip=_address(ask.request.client_ip),
                asked_at=now,
                flags=ask.flags,
                similar=similar_to(ask.text, recent),
            )
            for ask in asks
        ]
    )
    similar_within(questions)
    return questions


def _notify(broadcast: Broadcast, questions: list[Question]) -> None:
    """One push of the batch's new questions to the moderate consoles, once the batch commits."""
    events.notify_staff_many(
        events.staff_group("moderate", broadcast.pk),
        [{"type": "question.new", "question": staff_question_json(question)} for question in questions],
    )


def _address(client_ip: str | None) -> str | None:
    """The client's address if it is one: behind a proxy it comes from a header anyone can set."""
    if not client_ip:
        return None
    try:
        return str(ipaddress.ip_address(client_ip))
    except ValueError:
        return None
