"""Every write on questions goes through one function here; the live, moderate, studio and HTTP
endpoints (and the admin) call these, so they cannot drift apart.

Moderator actions lock the question row and check its status, so when two moderators act on one
question the first wins and the second gets `conflict`. Each action is written to the audit trail.
"""

import ipaddress
import logging
from collections import OrderedDict
from dataclasses import dataclass

from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from core import ratelimit
from core.clientids import check_client_id
from core.errors import ServiceError
from core.privacy import mask_personal_data
from core.sanitize import clean_plain, plain_to_html
from moderation import screening
from moderation.models import ModerationAction, Question, QuestionStatus, Support
from studio import events, signals
from studio.events import locked_broadcast
from studio.frames import UNAVAILABLE_RETRY_AFTER
from studio.models import Answer, Broadcast, BroadcastStatus, Event, EventKind

log = logging.getLogger(__name__)

MAX_QUESTION = 500
MAX_NICKNAME = 30
MAX_REASON = 200
DEFAULT_NICKNAME = "网友"
SIMILAR_THRESHOLD = 0.5
SIMILAR_WINDOW = 300  # compare with this many recent questions of the programme


def public_question_json(question: Question) -> dict:
    """What viewers see: the question as moderated, escaped, personal data masked (in the nickname too)."""
    return {
        "id": question.pk,
        "text": plain_to_html(mask_personal_data(question.text)),
        "nickname": plain_to_html(mask_personal_data(question.nickname)),
        "asked_at": timezone.localtime(question.asked_at).isoformat(timespec="milliseconds"),
    }


def staff_question_json(question: Question) -> dict:
    """What moderators and guests see: the text as moderated, the original, flags and hints."""
    return {
        "id": question.pk,
        "text": plain_to_html(question.text),
        "nickname": plain_to_html(question.nickname),
        "asked_at": timezone.localtime(question.asked_at).isoformat(timespec="milliseconds"),
        "status": question.status,
        "flags": question.flags,
        "original_text": plain_to_html(question.original_text),
        "similar": question.similar,
        "support": question.support_count,
        "published": question.published_seq is not None,
        "merged_into": question.merged_into_id,
        "reason": question.reason,
    }


def _my_question(question: Question) -> None:
    if question.netizen_key:
        frame = {"type": "my_question", "question_id": question.pk, "status": question.status}
        if question.reason:
            frame["reason"] = question.reason
        if question.merged_into_id:
            frame["merged_into"] = question.merged_into_id
        events.publish_after_commit(events.asker_room(question.netizen_key), frame)


def _snapshot(question: Question) -> dict:
    return {
        "status": question.status,
        "text": question.text,
        "reason": question.reason,
        "merged_into": question.merged_into_id,
        "published_seq": question.published_seq,
    }


def _audit(
    broadcast: Broadcast, question: Question | None, action: str, by: str, before: dict, after: dict
) -> None:
    ModerationAction.objects.create(
        broadcast=broadcast,
        question=question,
        action=action,
        by=by,
        at=timezone.now(),
        before=before,
        after=after,
    )


def _moderated(broadcast: Broadcast, question: Question, action: str, by: str, before: dict) -> None:
    """After a moderator changed a question: audit, tell the other moderators and the netizen."""
    _audit(broadcast, question, action, by, before, _snapshot(question))
    events.notify_staff(
        events.staff_group("moderate", broadcast.pk),
        {"type": "question.updated", "question": staff_question_json(question), "by": by},
    )
    if question.status != before["status"]:  # an edit changes no status: nothing to tell the netizen
        _my_question(question)


def _rate_waits(requests: "list[AskRequest]") -> list[int | None]:
    """Count each ask against its netizen's and its address's limits; the wait for each, if any."""
    hits: list[tuple[str, str, ratelimit.Limits]] = []
    for request in requests:
        hits.append(("ask", request.netizen_key, settings.MINXIN_QUESTION_LIMITS_PER_NETIZEN))
        if request.client_ip:
            hits.append(("ask-ip", request.client_ip, settings.MINXIN_QUESTION_LIMITS_PER_ADDRESS))
    found = iter(ratelimit.hit_many(hits))
    waits: list[int | None] = []
    for request in requests:
        mine = [next(found)] + ([next(found)] if request.client_ip else [])
        waits.append(max((w for w in mine if w is not None), default=None))
    return waits


def _question_text(text: object) -> str:
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


@dataclass(frozen=True)
class AskRequest:
    """One netizen's `ask`, as it arrived (unchecked)."""

    broadcast_id: int
    client_id: object
    text: object
    nickname: object
    netizen_key: str
    client_ip: str | None = None


AskResult = tuple[Question, bool] | ServiceError


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
    """ask_question for many asks at once: one result per request, in order.

    A burst of questions (issue #7: a thousand within a second) is stored a batch at a time —
    one lookup, one lock of the programme row, one insert and one commit per batch — because per
    question those round trips, not the screening, were the cost. Each request still gets its own
    answer: a refusal (ServiceError) for it alone, or its question.
    """
    results: list[AskResult | None] = [None] * len(requests)
    checked: dict[int, list[tuple[int, AskRequest, str, str, str]]] = {}
    for index, request in enumerate(requests):
        try:
            client_id, text, nickname = check_ask(request.client_id, request.text, request.nickname)
        except ServiceError as error:
            results[index] = error
            continue
        checked.setdefault(request.broadcast_id, []).append((index, request, client_id, text, nickname))
    for broadcast_id, items in checked.items():
        try:
            _ask_in_programme(broadcast_id, items, results)
        except (OperationalError, InterfaceError) as exc:
            # The database is unreachable: nothing of this programme's part was stored; each of
            # its askers may resend with the same client_id (PROTOCOL.md §4, `unavailable`).
            log.warning("asks for programme %s refused, database unavailable: %s", broadcast_id, exc)
            for index, *_rest in items:
                results[index] = ServiceError("unavailable", retry_after=UNAVAILABLE_RETRY_AFTER)
        except Exception:
            # Something about one ask the checks did not foresee: store them one by one, so that
            # it fails alone and no other netizen's question is lost with it.
            log.exception("a batch of asks for programme %s failed; storing them one by one", broadcast_id)
            for item in items:
                try:
                    _ask_in_programme(broadcast_id, [item], results)
                except Exception:
                    log.exception("ask %r for programme %s failed", item[2], broadcast_id)
                    results[item[0]] = ServiceError(
                        "bad_frame", _("The server could not handle this question.")
                    )
    assert all(result is not None for result in results)
    return results  # type: ignore[return-value]


def check_ask(client_id: object, text: object, nickname: object) -> tuple[str, str, str]:
    """An ask's client_id, text and nickname as stored, or the ServiceError that refuses it.

    Needs no database, so the live socket runs it first, in the netizen's language, before the
    ask joins a batch (moderation/intake.py) that is stored outside any connection's context.
    """
    return check_client_id(client_id), _question_text(text), _nickname(nickname)


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


def _ask_in_programme(
    broadcast_id: int, items: list[tuple[int, AskRequest, str, str, str]], results: list
) -> None:
    def stored(client_ids: set[str]) -> dict[str, Question]:
        found = Question.objects.filter(broadcast_id=broadcast_id, client_id__in=client_ids)
        return {question.client_id: question for question in found}

    existing = stored({item[2] for item in items})
    candidates: dict[str, tuple[list[int], AskRequest, str, str]] = {}
    for index, request, client_id, text, nickname in items:
        if client_id in existing:
            results[index] = (existing[client_id], False)
        elif client_id in candidates:  # sent twice within one batch: both get the one question
            candidates[client_id][0].append(index)
        else:
            candidates[client_id] = ([index], request, text, nickname)
    waits = _rate_waits([request for _indexes, request, _text, _nickname in candidates.values()])
    matcher = screening.current_matcher()
    fresh: dict[str, tuple[list[int], AskRequest, str, str, list[str]]] = {}
    for (client_id, (indexes, request, text, nickname)), wait in zip(candidates.items(), waits, strict=True):
        code = None
        if wait is not None:
            code = "rate_limited"
        else:
            found = screening.screen(text + "\n" + nickname, matcher)
            if found.blocked:
                code = "blocked_content"
        if code is not None:
            for index in indexes:  # one error object per asker: each is raised in its own task
                results[index] = ServiceError(code, retry_after=wait)
        else:
            fresh[client_id] = (indexes, request, text, nickname, found.flags)
    if not fresh:
        return

    recent = _recent_bigrams(broadcast_id)
    with transaction.atomic():
        # The lock orders these asks against "end", so no question slips in after the end.
        try:
            broadcast = locked_broadcast(broadcast_id)
        except ServiceError as error:
            for indexes, *_rest in fresh.values():
                for index in indexes:
                    results[index] = ServiceError(error.code)
            return
        # Another process may have stored one of them since the lookup above.
        for client_id, question in stored(set(fresh)).items():
            for index in fresh.pop(client_id)[0]:
                results[index] = (question, False)
        if not broadcast.takes_questions:
            for indexes, *_rest in fresh.values():
                for index in indexes:
                    results[index] = ServiceError("closed")
            return
        now = timezone.now()
        questions = Question.objects.bulk_create(
            [
                Question(
                    broadcast=broadcast,
                    client_id=client_id,
                    text=text,
                    original_text=text,
                    nickname=nickname,
                    netizen_key=request.netizen_key[:64],
                    client_ip=_address(request.client_ip),
                    asked_at=now,
                    flags=flags,
                    similar=_similar(text, recent),
                )
                for client_id, (_indexes, request, text, nickname, flags) in fresh.items()
            ]
        )
        _similar_within(questions)
        events.notify_staff_many(
            events.staff_group("moderate", broadcast.pk),
            [{"type": "question.new", "question": staff_question_json(question)} for question in questions],
        )
    for question, (indexes, *_rest) in zip(questions, fresh.values(), strict=True):
        for index in indexes:
            results[index] = (question, True)


# Character bigrams of recent questions, by (id, text as asked): suggesting duplicates compares
# each new question with the programme's last SIMILAR_WINDOW, and those barely change from one
# batch to the next, so each question's bigrams are computed once per process, not once per ask.
# The text is part of the key so that a reused id (a restored database) never matches stale bigrams.
_bigrams: OrderedDict[tuple[int, str], frozenset[str]] = OrderedDict()
_BIGRAMS_KEPT = 20 * SIMILAR_WINDOW


def _recent_bigrams(broadcast_id: int) -> list[tuple[int, frozenset[str]]]:
    recent = []
    rows = (
        Question.objects.filter(broadcast_id=broadcast_id)
        .order_by("-id")
        .values_list("id", "original_text")[:SIMILAR_WINDOW]
    )
    for key in rows:
        grams = _bigrams.get(key)
        if grams is None:
            grams = _bigrams[key] = screening.bigrams(key[1])
        recent.append((key[0], grams))
    while len(_bigrams) > _BIGRAMS_KEPT:
        _bigrams.popitem(last=False)
    return recent


def _similar_within(questions: list[Question]) -> None:
    """Questions stored in one batch are each other's likeliest duplicates (a burst about the same
    news): add the batch's earlier matches, newest first, to each question's hints."""
    if len(questions) < 2:
        return
    changed = []
    earlier: list[tuple[int, frozenset[str]]] = []
    for question in questions:
        if earlier:
            found = _similar(question.original_text, earlier[::-1])
            if found:
                question.similar = (found + [q for q in question.similar if q not in found])[:5]
                changed.append(question)
        earlier.append((question.pk, screening.bigrams(question.original_text)))
    Question.objects.bulk_update(changed, ["similar"])


def _address(client_ip: str | None) -> str | None:
    """The client's address if it is one: behind a proxy it comes from a header anyone can set."""
    if not client_ip:
        return None
    try:
        return str(ipaddress.ip_address(client_ip))
    except ValueError:
        return None


def _similar(text: str, recent: list[tuple[int, frozenset[str]]]) -> list[int]:
    """Up to five recent questions whose bigrams' Jaccard similarity reaches SIMILAR_THRESHOLD.

    Jaccard = i / (a + b - i) for sizes a, b and intersection i, so it reaches t exactly when
    i * (1 + t) >= t * (a + b): one set operation per pair, none at all for a pair whose sizes
    alone rule it out (Jaccard is at most min(a, b) / max(a, b)).
    """
    mine = screening.bigrams(text)
    size, t = len(mine), SIMILAR_THRESHOLD
    found = []
    for qid, other in recent:
        other_size = len(other)
        if other_size < size * t or size < other_size * t:
            continue
        if len(mine & other) * (1 + t) >= t * (size + other_size):
            found.append(qid)
            if len(found) == 5:
                break
    return found


def _locked_question(broadcast: Broadcast, question_id: object) -> Question:
    if not isinstance(question_id, int) or isinstance(question_id, bool):
        raise ServiceError("bad_frame", _("question_id must be a number."))
    question = Question.objects.select_for_update().filter(broadcast=broadcast, pk=question_id).first()
    if question is None:
        raise ServiceError("not_found", _("No such question in this programme."))
    return question


def _pending(broadcast: Broadcast, question_id: object) -> tuple[Question, dict]:
    question = _locked_question(broadcast, question_id)
    if question.status != QuestionStatus.PENDING:
        raise ServiceError("conflict")
    return question, _snapshot(question)


def approve_question(broadcast_id: int, question_id: object, publish: bool, by: str = "") -> Question:
    """Send a waiting question to the guests' queue; with `publish`, also show it to viewers."""
    if not isinstance(publish, bool):
        raise ServiceError("bad_frame", _("publish must be true or false."))
    with transaction.atomic():
        broadcast = locked_broadcast(broadcast_id)
        ended = broadcast.status == BroadcastStatus.ENDED
        if ended and publish:
            raise ServiceError("closed")  # nothing joins the public log after the end
        question, before = _pending(broadcast, question_id)
        question.status = QuestionStatus.APPROVED
        if publish:
            event = events.append_event(
                broadcast.pk, EventKind.QUESTION, {"question": public_question_json(question)}
            )
            question.published_seq = event.seq
        question.save(update_fields=["status", "published_seq"])
        events.notify_staff(
            events.staff_group("studio", broadcast.pk),
            {"type": "question.approved", "question": staff_question_json(question)},
        )
        _moderated(broadcast, question, "approve_publish" if publish else "approve", by, before)
        if ended:
            # Screened after the end: no guest will answer it on air, so, like every approved
            # question left unanswered at the end, it becomes a letter (the archive's receiver).
            signals.approved_after_end.send(sender=Broadcast, broadcast=broadcast)
    return question


def reject_question(broadcast_id: int, question_id: object, reason: object, by: str = "") -> Question:
    if not isinstance(reason, str):
        raise ServiceError("bad_frame", _("reason must be a string."))
    reason = clean_plain(reason).replace("\n", " ")
    if len(reason) > MAX_REASON:
        raise ServiceError(
            "too_long", _("A reason has at most %(limit)d characters.") % {"limit": MAX_REASON}
        )
    with transaction.atomic():
        broadcast = locked_broadcast(broadcast_id)
        question, before = _pending(broadcast, question_id)
        question.status = QuestionStatus.REJECTED
        question.reason = reason
        question.save(update_fields=["status", "reason"])
        _moderated(broadcast, question, "reject", by, before)
    return question


def merge_question(broadcast_id: int, question_id: object, into: object, by: str = "") -> Question:
    """Mark a waiting question as a duplicate of another question of the same programme."""
    with transaction.atomic():
        broadcast = locked_broadcast(broadcast_id)
        question, before = _pending(broadcast, question_id)
        target = _locked_question(broadcast, into)
        if target.pk == question.pk:
            raise ServiceError("bad_frame", _("A question cannot be merged into itself."))
        if target.status in (QuestionStatus.MERGED, QuestionStatus.REJECTED):
            raise ServiceError("conflict", _("The target question was itself merged or rejected."))
        question.status = QuestionStatus.MERGED
        question.merged_into = target
        question.save(update_fields=["status", "merged_into"])
        _moderated(broadcast, question, "merge", by, before)
    return question


def edit_question(broadcast_id: int, question_id: object, text: object, by: str = "") -> Question:
    """Correct a waiting question's text (e.g. remove a phone number); the original stays on record."""
    text = _question_text(text)
    with transaction.atomic():
        broadcast = locked_broadcast(broadcast_id)
        question, before = _pending(broadcast, question_id)
        question.text = text
        found = screening.screen(text, screening.current_matcher())
        question.flags = found.flags
        question.save(update_fields=["text", "flags"])
        _moderated(broadcast, question, "edit", by, before)
    return question


def withdraw_event(broadcast_id: int, seq: object, by: str = "") -> Event:
    """Take down an earlier public event; live pages remove it and replays hide it."""
    if not isinstance(seq, int) or isinstance(seq, bool):
        raise ServiceError("bad_frame", _("seq must be a number."))
    with transaction.atomic():
        broadcast = locked_broadcast(broadcast_id)
        target = Event.objects.filter(broadcast=broadcast, seq=seq).first()
        if target is None:
            raise ServiceError("not_found", _("No such event in this programme."))
        if target.kind in (EventKind.WITHDRAWN, EventKind.STATUS):
            raise ServiceError("bad_frame", _("This kind of event cannot be withdrawn."))
        if Event.objects.filter(broadcast=broadcast, kind=EventKind.WITHDRAWN, data__seq=seq).exists():
            raise ServiceError("conflict", _("That event was already withdrawn."))
        event = events.append_event(broadcast.pk, EventKind.WITHDRAWN, {"seq": seq})
        question = Question.objects.filter(broadcast=broadcast, published_seq=seq).first()
        _audit(
            broadcast,
            question,
            "withdraw",
            by,
            {"seq": seq, "kind": target.kind},
            {"withdrawn_by_seq": event.seq},
        )
    return event


def support_question(
    broadcast_id: int, question_id: object, netizen_key: str, client_ip: str | None = None
) -> int:
    """附议: a netizen supports a published question, once. Returns the new count.

    A netizen without a session cookie is a new one on every socket, so supports are also
    limited per client address, overall and per question (issue #13: one address inflated a
    question's count without limit). After the programme has ended the count is final.
    """
    if not isinstance(question_id, int) or isinstance(question_id, bool):
        raise ServiceError("bad_frame", _("question_id must be a number."))
    question = (
        Question.objects.select_related("broadcast").filter(broadcast_id=broadcast_id, pk=question_id).first()
    )
    if question is None or question.published_seq is None:
        raise ServiceError("not_found", _("Only published questions can be supported."))
    if not question.broadcast.takes_questions:
        raise ServiceError("closed", _("The programme has ended; its questions can no longer be supported."))
    if Support.objects.filter(question=question, netizen_key=netizen_key).exists():
        return question.support_count
    hits: list[tuple[str, str, ratelimit.Limits]] = [
        ("support", netizen_key, settings.MINXIN_SUPPORT_LIMITS_PER_NETIZEN)
    ]
    address = ratelimit.address_key(client_ip)
    if address is not None:
        hits.append(("support-ip", address, settings.MINXIN_SUPPORT_LIMITS_PER_ADDRESS))
        hits.append(
            (
                "support-ip-q",
                f"{address}:{question.pk}",
                settings.MINXIN_SUPPORT_LIMITS_PER_ADDRESS_AND_QUESTION,
            )
        )
    waits = [wait for wait in ratelimit.hit_many(hits) if wait is not None]
    if waits:
        raise ServiceError("rate_limited", retry_after=max(waits))
    # No lock on the programme here: supports pour in during a programme, and the event log's
    # appends take that lock. A support that races the end by milliseconds counts as before it.
    with transaction.atomic():
        _support, created = Support.objects.get_or_create(
            question=question, netizen_key=netizen_key, defaults={"at": timezone.now()}
        )
        if created:
            Question.objects.filter(pk=question.pk).update(support_count=F("support_count") + 1)
    return Question.objects.values_list("support_count", flat=True).get(pk=question.pk)


def question_for_answer(broadcast: Broadcast, question_id: int) -> Question:
    """The approved question a guest is answering (called inside the answer's transaction)."""
    question = _locked_question(broadcast, question_id)
    if question.status not in (QuestionStatus.APPROVED, QuestionStatus.ANSWERED):
        raise ServiceError("conflict", _("Only approved questions can be answered."))
    return question


def mark_answered(question: Question, answer: Answer) -> None:
    if question.status == QuestionStatus.ANSWERED:
        return
    question.status = QuestionStatus.ANSWERED
    question.save(update_fields=["status"])
    # Every console drops it from its queue (an addition to PROTOCOL.md §1.3).
    events.notify_staff(
        events.staff_group("studio", question.broadcast_id),
        {"type": "question.answered", "question_id": question.pk, "answer_id": answer.pk},
    )
    events.notify_staff(
        events.staff_group("moderate", question.broadcast_id),
        {"type": "question.updated", "question": staff_question_json(question), "by": ""},
    )
    _my_question(question)


def studio_queue(broadcast_id: int) -> list[dict]:
    """Approved questions no guest has answered yet, oldest first."""
    questions = Question.objects.filter(broadcast_id=broadcast_id, status=QuestionStatus.APPROVED)
    return [staff_question_json(q) for q in questions]


def moderation_queue(broadcast_id: int) -> list[dict]:
    """Questions still waiting for a moderator, oldest first."""
    questions = Question.objects.filter(broadcast_id=broadcast_id, status=QuestionStatus.PENDING)
    return [staff_question_json(q) for q in questions]


def support_counts(question_ids: list[int]) -> dict[str, int]:
    return {
        str(pk): n
        for pk, n in Question.objects.filter(pk__in=question_ids).values_list("pk", "support_count")
    }


def my_questions(broadcast_id: int, netizen_key: str) -> list[dict]:
    questions = Question.objects.filter(broadcast_id=broadcast_id, netizen_key=netizen_key)
    return [
        {"question_id": q.pk, "status": q.status, "text": plain_to_html(q.text), "reason": q.reason}
        for q in questions
    ]


def may_moderate(broadcast_id: int, user) -> bool:
    """Its named moderators, or every moderator when the programme names none."""
    from departments.roles import has_role

    if not has_role(user, "moderator"):
        return False
    named = Broadcast.moderators.through.objects.filter(broadcast_id=broadcast_id)
    return not named.exists() or named.filter(user_id=user.pk).exists()
