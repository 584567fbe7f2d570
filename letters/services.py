"""The letter workflow as one explicit state machine: every step is one function here.

    submitted ──forward──▶ forwarded ──sign──▶ signed ──reply──▶ replied ──evaluate──▶ closed
        ▲                      │                 │  ▲                │  ▲                 │
        └───────return─────────┴─────return──────┘  └──────redo───────┴──┴───────redo──────┘

A step not allowed from the letter's status raises ServiceError("conflict") and changes nothing.
Every step is written to the letter's log. Deadlines are stored with what they were computed from
(the stage's start, its limit, approved extension days), so `schedule` can recompute them when a
year's calendar is entered; an on-time verdict is frozen when its stage ends.
"""

import datetime as dt
import hashlib
import json
import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core import clock, ratelimit
from core.errors import ServiceError
from core.sanitize import clean_plain, clean_rich
from departments.models import Department, LetterKind
from departments.roles import has_role
from letters import reports, units
from letters.deadlines import limit_for, schedule
from letters.models import Channel, Closure, Extension, Letter, LetterLog, LetterStatus, Light, Rating

MAX_SUBJECT, MAX_BODY, MAX_NAME, MAX_CONTACT, MAX_REASON, MAX_REPLY, MAX_COMMENT = (
    100,
    5000,
    50,
    100,
    500,
    10000,
    500,
)
MAX_EXTENSION_DAYS = 30
IDEMPOTENCY_SECONDS = 24 * 3600

S = LetterStatus


# --- input -------------------------------------------------------------------------------------


def _text(data: dict, name: str, limit: int, *, required: bool = True, rich: bool = False) -> str:
    value = data.get(name, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ServiceError("bad_request", _("%(name)s must be text.") % {"name": name}, {name: "not text"})
    if len(value.strip()) > limit:
        raise ServiceError(
            "bad_request",
            _("%(name)s is longer than %(limit)d characters.") % {"name": name, "limit": limit},
            {name: "too long"},
        )
    value = clean_rich(value) if rich else clean_plain(value)
    if required and not value:
        raise ServiceError("bad_request", _("%(name)s must not be empty.") % {"name": name}, {name: "empty"})
    return value


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _new_code(now: dt.datetime) -> str:
    return f"MX{timezone.localtime(now):%y%m%d}{secrets.token_hex(3).upper()}"


# --- permissions -------------------------------------------------------------------------------


def _name(user: User) -> str:
    return user.get_username()


def _require(user: User, *roles: str) -> None:
    if not any(has_role(user, role) for role in roles):
        raise ServiceError("forbidden", _("Your role may not do this."))


def _require_handler(user: User, letter: Letter) -> None:
    """A handler acts on its own department's letters only; in a unit with divisions, its
    coordinator does (letters.units)."""
    units.require_unit(user, letter)


def can_see_everything(user: Any, department_id: int | None) -> bool:
    """Operators, supervisors and the department's own staff see private letters and contacts."""
    return units.sees_department(user, department_id)


# --- the steps ---------------------------------------------------------------------------------


def locked_letter(code: object) -> Letter:
    if not isinstance(code, str):
        raise ServiceError("not_found", _("No such letter."))
    letter = Letter.objects.select_for_update().filter(code=code).first()
    if letter is None:
        raise ServiceError("not_found", _("No such letter."))
    return letter


def _step(
    letter: Letter, action: str, by: str, allowed: tuple[str, ...], to: str | None, note: str = "", **data
):
    """Check the transition, log it and move the letter (the caller saves its other fields)."""
    if letter.status not in allowed:
        raise ServiceError(
            "conflict",
            _("A letter that is %(status)s cannot be %(action)s.")
            % {"status": letter.status, "action": action},
        )
    LetterLog.objects.create(
        letter=letter,
        at=clock.now(),
        action=action,
        by=by,
        from_status=letter.status,
        to_status=to or letter.status,
        note=note,
        data=data,
    )
    if to:
        letter.status = to


def submit(
    data: dict, idempotency_key: str | None = None, client: str = "", channel: str = Channel.WEB, by: str = ""
) -> tuple[dict, bool]:
    """A netizen writes a letter. Returns ({"code", "key"}, created).

    An idempotency key belongs to the client that sent it (`client`: its session, else its address)
    and to the letter it came with: a repeat of the same key and letter by the same client within a
    day returns the first answer and stores nothing (later, the code only); the same key with
    another letter is a 409 `conflict`; the same key from another client is simply another letter —
    it never learns the first writer's code or key (issue #13).
    """
    if idempotency_key is not None and (
        not isinstance(idempotency_key, str) or not 1 <= len(idempotency_key) <= 64
    ):
        raise ServiceError(
            "bad_request", _("The idempotency key must be 1–64 characters."), {"client_id": "invalid"}
        )
    kind = data.get("kind")
    if kind not in LetterKind.values:
        raise ServiceError(
            "bad_request",
            _("kind must be one of %(kinds)s.") % {"kinds": ", ".join(LetterKind.values)},
            {"kind": "unknown"},
        )
    public, consent = _public_and_consent(data)
    fields = {
        "subject": _text(data, "subject", MAX_SUBJECT),
        "body": _text(data, "body", MAX_BODY),
        "name": _text(data, "name", MAX_NAME),
        "contact": _text(data, "contact", MAX_CONTACT),
    }
    fingerprint = _fingerprint(str(kind), public, fields)
    scoped = _scoped_key(idempotency_key, client) if idempotency_key else None
    if scoped:
        earlier = cache.get(_idempotency_cache_key(scoped))
        if earlier:
            _same_letter(earlier.get("letter"), fingerprint)
            return {"code": earlier["code"], "key": earlier["key"]}, False
    now = clock.now()
    key = secrets.token_urlsafe(12)
    for _attempt in range(5):
        try:
            with transaction.atomic():
                found = Letter.objects.filter(idempotency_key=scoped).first() if scoped else None
                if found is not None:
                    return _repeat(found, fingerprint), False
                letter = Letter.objects.create(
                    code=_new_code(now),
                    key_hash=_hash(key),
                    idempotency_key=scoped,
                    kind=kind,
                    public=public,
                    submitted_at=now,
                    consent_at=now if consent else None,
                    channel=channel,
                    **fields,
                )
                LetterLog.objects.create(
                    letter=letter, at=now, action="submit", by=by, to_status=S.SUBMITTED, data=_via(channel)
                )
            break
        except IntegrityError:
            found = Letter.objects.filter(idempotency_key=scoped).first() if scoped else None
            if found is not None:  # the same client's concurrent repeat won the race
                return _repeat(found, fingerprint), False
            continue  # a code collision: draw another
    else:
        raise ServiceError("conflict", _("Please try again."))
    answer = {"code": letter.code, "key": key}
    if scoped:
        cache.set(_idempotency_cache_key(scoped), {**answer, "letter": fingerprint}, IDEMPOTENCY_SECONDS)
    return answer, True


def _public_and_consent(data: dict) -> tuple[bool, bool | None]:
    public = data.get("public", True)
    if not isinstance(public, bool):
        raise ServiceError("bad_request", _("public must be true or false."), {"public": "not a boolean"})
    consent = data.get("consent")
    if consent is not None and not isinstance(consent, bool):
        raise ServiceError("bad_request", _("consent must be true or false."), {"consent": "not a boolean"})
    if consent is False:
        # The writer read the notice and said no: nothing of theirs may be stored.
        raise ServiceError(
            "bad_request",
            _("A letter can only be sent if you agree to how your personal information is used."),
            {"consent": "required"},
        )
    return public, consent


def _via(channel: str) -> dict:
    return {} if channel == Channel.WEB else {"channel": channel}


def _fingerprint(kind: str, public: bool, fields: dict[str, str]) -> str:
    """The hash of a letter as stored (after cleaning), to tell a repeat from another letter."""
    parts = [kind, public, fields["subject"], fields["body"], fields["name"], fields["contact"]]
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode("utf-8", "surrogatepass")).hexdigest()


def _same_letter(earlier: object, fingerprint: str) -> None:
    if earlier != fingerprint:
        raise ServiceError(
            "conflict",
            _("This idempotency key was already used for another letter."),
            {"client_id": "reused"},
        )


def _repeat(found: Letter, fingerprint: str) -> dict:
    """The answer to a repeat found in the database: the code only (only the key's hash is kept)."""
    fields = {"subject": found.subject, "body": found.body, "name": found.name, "contact": found.contact}
    _same_letter(_fingerprint(found.kind, found.public, fields), fingerprint)
    return {"code": found.code}


def check_key(letter: Letter, key: object) -> bool:
    return isinstance(key, str) and secrets.compare_digest(letter.key_hash, _hash(key))


def is_writer(letter: Letter, key: object, netizen_key: str | None = None) -> bool:
    """The letter's secret key, or (for a letter made from a question) the session that asked."""
    return check_key(letter, key) or bool(
        letter.netizen_key and netizen_key and secrets.compare_digest(letter.netizen_key, netizen_key)
    )


def lookup_wait(address: str | None) -> int | None:
    """Count one look-up of a letter by code and key from `address`; seconds to wait when over the
    limit. Codes are short and dated, so without it they could be enumerated (issue #13); the limit
    is generous for a netizen checking a few letters, and refused look-ups count too."""
    return ratelimit.hit("letter-lookup", address or "?", settings.MINXIN_LETTER_LOOKUP_LIMITS_PER_ADDRESS)


@transaction.atomic
def forward(code: str, department_code: object, user: User) -> Letter:
    _require(user, "operator")
    letter = locked_letter(code)
    department = (
        Department.objects.filter(code=department_code, active=True).first()
        if isinstance(department_code, str)
        else None
    )
    if department is None:
        raise ServiceError("bad_request", _("Unknown department."), {"department": "unknown"})
    _step(letter, "forward", _name(user), (S.SUBMITTED,), S.FORWARDED, department=department.code)
    _arrive(letter, department)
    return letter


def _arrive(letter: Letter, department: Department) -> None:
    """The letter reaches a department: its limits of that moment, its sign-for deadline, green."""
    if letter.kind == LetterKind.THANKS:
        _deliver_thanks(letter, department)
        return
    limit = limit_for(department, letter.kind)
    letter.department = department
    letter.forwarded_at = clock.now()
    letter.sign_limit, letter.sign_unit = limit.sign_limit, limit.sign_unit
    letter.reply_limit, letter.reply_unit = limit.reply_limit, limit.reply_unit
    letter.yellow_numerator, letter.yellow_denominator = limit.yellow_numerator, limit.yellow_denominator
    letter.sign_on_time = None
    schedule(letter)
    letter.light = Light.GREEN
    letter.save()


def _deliver_thanks(letter: Letter, department: Department) -> None:
    """A thank-you letter asks nothing of the department it thanks: reaching it closes it, with no
    time limit and no light (so the sweep, the queues and the assessment never see it open)."""
    _step(letter, "deliver", "", (S.FORWARDED,), S.CLOSED)
    letter.department = department
    letter.forwarded_at = letter.closed_at = clock.now()
    letter.closure = Closure.DELIVERED
    letter.light = ""
    letter.save()


@transaction.atomic
def sign(code: str, user: User) -> Letter:
    letter = locked_letter(code)
    _require_handler(user, letter)
    _step(letter, "sign", _name(user), (S.FORWARDED,), S.SIGNED)
    now = clock.now()
    letter.signed_at = letter.reply_started_at = now
    assert letter.sign_deadline is not None
    letter.sign_on_time = now < letter.sign_deadline
    letter.extension_days = 0
    schedule(letter)
    letter.light = Light.GREEN
    letter.save()
    return letter


@transaction.atomic
def return_letter(code: str, reason: object, user: User) -> Letter:
    """Not this department's: back to the operators. After signing for it, it counts as a wrong sign-for."""
    letter = locked_letter(code)
    _require_handler(user, letter)
    reason = _text({"reason": reason}, "reason", MAX_REASON)
    was_signed = letter.status == S.SIGNED
    _step(
        letter,
        "return",
        _name(user),
        (S.FORWARDED, S.SIGNED),
        S.SUBMITTED,
        note=reason,
        department=letter.department.code if letter.department else None,
    )
    if was_signed:
        letter.wrong_sign_count += 1
    _close_pending_extensions(letter, "returned")
    letter.department = letter.division = None
    letter.draft, letter.draft_by, letter.draft_at = "", "", None
    letter.forwarded_at = letter.signed_at = letter.reply_started_at = None
    letter.sign_deadline = letter.sign_yellow_at = letter.reply_deadline = letter.reply_yellow_at = None
    letter.sign_on_time = None
    letter.light = ""
    letter.save()
    return letter


def _close_pending_extensions(letter: Letter, why: str) -> None:
    """A request nobody decided is moot once the stage it was for ends (returned or replied)."""
    letter.extensions.filter(state=Extension.State.PENDING).update(
        state=Extension.State.REFUSED, decided_at=clock.now(), decided_by=f"({why})"
    )


@transaction.atomic
def request_extension(code: str, days: object, reason: object, user: User) -> Extension:
    letter = locked_letter(code)
    _require_handler(user, letter)
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= MAX_EXTENSION_DAYS:
        raise ServiceError(
            "bad_request",
            _("days must be a whole number from 1 to %(max)d.") % {"max": MAX_EXTENSION_DAYS},
            {"days": "out of range"},
        )
    reason = _text({"reason": reason}, "reason", MAX_REASON)
    if letter.status != S.SIGNED:
        raise ServiceError("conflict", _("Only a letter being handled can be extended."))
    assert letter.reply_deadline is not None
    if clock.now() >= letter.reply_deadline:
        raise ServiceError("conflict", _("An extension must be asked for before the deadline."))
    if letter.extensions.filter(state=Extension.State.PENDING).exists():
        raise ServiceError("conflict", _("An extension is already waiting for a decision."))
    _step(letter, "extend", _name(user), (S.SIGNED,), None, note=reason, days=days)
    return Extension.objects.create(
        letter=letter, days=days, reason=reason, requested_at=clock.now(), requested_by=_name(user)
    )


@transaction.atomic
def decide_extension(code: str, extension_id: object, approve: bool, user: User) -> Letter:
    _require(user, "operator", "supervisor")
    letter = locked_letter(code)
    extension = letter.extensions.filter(pk=extension_id if isinstance(extension_id, int) else -1).first()
    if extension is None:
        raise ServiceError("not_found", _("No such extension."))
    if extension.state != Extension.State.PENDING:
        raise ServiceError("conflict", _("This extension was already decided."))
    if approve and letter.status == S.SIGNED:  # the new deadline goes into the log (the public trail)
        letter.extension_days += extension.days
        schedule(letter)
    until = letter.reply_deadline if approve and letter.reply_deadline else None
    _step(
        letter,
        "approve_extension" if approve else "refuse_extension",
        _name(user),
        (S.SIGNED,),
        None,
        days=extension.days,
        until=timezone.localtime(until).isoformat(timespec="seconds") if until else None,
    )
    extension.state = Extension.State.APPROVED if approve else Extension.State.REFUSED
    extension.decided_at, extension.decided_by = clock.now(), _name(user)
    extension.save()
    if approve:
        letter.save()
    transaction.on_commit(reports.assessment_changed)  # the supervisor's page shows it at once
    return letter


@transaction.atomic
def reply(code: str, text: object, user: User) -> Letter:
    letter = locked_letter(code)
    _require_handler(user, letter)
    text = _text({"text": text}, "text", MAX_REPLY, rich=True)
    _step(letter, "reply", _name(user), (S.SIGNED,), S.REPLIED)
    _close_pending_extensions(letter, "replied")
    now = clock.now()
    letter.reply, letter.replied_at = text, now
    letter.draft, letter.draft_by, letter.draft_at = "", "", None
    assert letter.reply_deadline is not None
    letter.reply_on_time = now < letter.reply_deadline
    letter.light = ""
    letter.save()
    return letter


@transaction.atomic
def evaluate(
    code: str, key: object, rating: object, comment: object, netizen_key: str | None = None
) -> Letter:
    """The writer rates the reply (with the letter's secret key, or from the session that asked the
    question it was made from); that closes the letter."""
    letter = locked_letter(code)
    if not is_writer(letter, key, netizen_key):
        # The same answer as for a code that does not exist, so that codes cannot be probed.
        raise ServiceError("not_found", _("No such letter."))
    if rating not in Rating.values:
        raise ServiceError(
            "bad_request",
            _("rating must be one of %(ratings)s.") % {"ratings": ", ".join(Rating.values)},
            {"rating": "unknown"},
        )
    comment = _text({"comment": comment}, "comment", MAX_COMMENT, required=False)
    now = clock.now()
    if letter.status == S.CLOSED and letter.closure == Closure.UNRATED and not letter.rating:
        # Closed by the clock (未评价办结): a late rating counts, and the letter stays as it was closed.
        if not can_rate(letter, now):
            raise ServiceError(
                "conflict",
                _(
                    "This letter was closed without a rating more than %(days)d days ago; it can no longer be rated."
                )
                % {"days": settings.MINXIN_LATE_RATING_DAYS},
            )
        _step(letter, "evaluate", "", (S.CLOSED,), None, note=comment, rating=rating, late=True)
        letter.rating, letter.rating_comment = str(rating), comment
        letter.save(update_fields=["rating", "rating_comment"])
        return letter
    _step(letter, "evaluate", "", (S.REPLIED,), S.CLOSED, note=comment, rating=rating)
    letter.rating, letter.rating_comment, letter.closed_at = str(rating), comment, now
    letter.closure = Closure.RATED
    letter.save()
    return letter


def can_rate(letter: Letter, now: dt.datetime) -> bool:
    """Whether the writer may rate the reply now: a replied letter, or one the clock closed unrated
    (未评价办结) less than MINXIN_LATE_RATING_DAYS ago and still unrated."""
    if letter.status == S.REPLIED:
        return True
    late = dt.timedelta(days=settings.MINXIN_LATE_RATING_DAYS)
    return (
        letter.status == S.CLOSED
        and letter.closure == Closure.UNRATED
        and not letter.rating
        and letter.closed_at is not None
        and now - letter.closed_at <= late
    )


@transaction.atomic
def redo(code: str, reason: object, user: User) -> Letter:
    """A supervisor orders a replied (or closed) letter handled again, with a new reply deadline."""
    _require(user, "supervisor")
    letter = locked_letter(code)
    reason = _text({"reason": reason}, "reason", MAX_REASON)
    if letter.kind == LetterKind.THANKS:
        raise ServiceError("conflict", _("A thank-you letter is not handled, so it cannot be redone."))
    _step(letter, "redo", _name(user), (S.REPLIED, S.CLOSED), S.SIGNED, note=reason)
    letter.redo_count += 1
    letter.reply_started_at = clock.now()
    letter.reply_on_time = None
    letter.extension_days = 0
    letter.rating, letter.rating_comment, letter.closed_at, letter.closure = "", "", None, ""
    schedule(letter)
    letter.light = Light.GREEN
    letter.save()
    transaction.on_commit(reports.assessment_changed)  # the supervisor's page shows it at once
    return letter


@transaction.atomic
def mark_wrong_closure(code: str, reason: object, user: User) -> Letter:
    _require(user, "supervisor")
    letter = locked_letter(code)
    reason = _text({"reason": reason}, "reason", MAX_REASON)
    if letter.wrong_closure:
        raise ServiceError("conflict", _("This closure is already marked wrong."))
    _step(letter, "wrong_closure", _name(user), (S.CLOSED,), None, note=reason)
    letter.wrong_closure = True
    letter.save()
    transaction.on_commit(reports.assessment_changed)  # the supervisor's page shows it at once
    return letter


@transaction.atomic
def submit_forwarded(
    kind: str, subject: str, body: str, name: str, department: Department, by: str, netizen_key: str = ""
) -> Letter:
    """A letter written on a netizen's behalf and forwarded at once (a question a programme left
    unanswered). It has no contact and no key to show: the netizen's session (`netizen_key`)
    follows and rates it from where it came from."""
    now = clock.now()
    letter = Letter.objects.create(
        code=_new_code(now),
        key_hash=_hash(secrets.token_urlsafe(12)),
        kind=kind,
        public=True,
        submitted_at=now,
        subject=clean_plain(subject)[:MAX_SUBJECT],
        body=clean_plain(body)[:MAX_BODY],
        name=clean_plain(name)[:MAX_NAME],
        contact="",
        netizen_key=netizen_key,
    )
    LetterLog.objects.create(letter=letter, at=now, action="submit", by=by, to_status=S.SUBMITTED)
    _step(letter, "forward", by, (S.SUBMITTED,), S.FORWARDED, department=department.code)
    _arrive(letter, department)
    return letter


def _scoped_key(idempotency_key: str, client: str) -> str:
    """What is stored of a client's Idempotency-Key: hashed with the client, so that the same key
    from another client is another key (and a client's characters never reach the database)."""
    raw = json.dumps([client, idempotency_key], ensure_ascii=False).encode("utf-8", "surrogatepass")
    return hashlib.sha256(raw).hexdigest()


def _idempotency_cache_key(scoped: str) -> str:
    return "minxin:letter-idem:" + scoped
