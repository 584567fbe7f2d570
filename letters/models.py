"""The letter module's data: letters, their log, lights and extensions, and the working-day calendar."""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _

from core.privacy import mask_personal_data
from departments.models import Department, Division, LetterKind, TimeUnit

# The State Council publishes each year's calendar late in the year before; a package release
# follows, or an operator enters the year first (DESIGN.md "Working days").
SOURCE_OPERATOR = "operator"


class CalendarYear(models.Model):
    """A year whose holidays and swapped working days have been entered.

    A year without a row counts Monday to Friday as working days, and the pages say so.
    """

    year = models.PositiveSmallIntegerField(
        _("year"), unique=True, validators=[MinValueValidator(2000), MaxValueValidator(2100)]
    )
    source = models.CharField(
        _("source"),
        max_length=40,
        default=SOURCE_OPERATOR,
        help_text=_(
            "“chinese-calendar 1.11.0” when loaded from the package, “operator” when entered by hand."
        ),
    )
    note = models.TextField(_("note"), blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["-year"]
        verbose_name = _("calendar year")
        verbose_name_plural = _("calendar years")

    def __str__(self) -> str:
        return str(self.year)


class CalendarDay(models.Model):
    """An exception to Monday–Friday: a holiday on a weekday, or a weekend day worked (调休)."""

    calendar = models.ForeignKey(
        CalendarYear, on_delete=models.CASCADE, related_name="days", verbose_name=_("year")
    )
    date = models.DateField(_("date"), unique=True)
    is_working_day = models.BooleanField(_("working day"))
    name = models.CharField(_("name"), max_length=60, blank=True, help_text=_("e.g. 国庆节 or 调休上班"))

    class Meta:
        ordering = ["date"]
        verbose_name = _("calendar day")
        verbose_name_plural = _("calendar days")

    def __str__(self) -> str:
        return f"{self.date} {self.name}"


class LetterStatus(models.TextChoices):
    SUBMITTED = "submitted", _("Waiting to be forwarded")
    FORWARDED = "forwarded", _("Forwarded, waiting to be signed for")
    SIGNED = "signed", _("Signed for, being handled")
    REPLIED = "replied", _("Replied")
    CLOSED = "closed", _("Closed")


class Rating(models.TextChoices):
    SATISFIED = "satisfied", _("Satisfied")
    BASIC = "basic", _("Basically satisfied")
    UNSATISFIED = "unsatisfied", _("Unsatisfied")


class Closure(models.TextChoices):
    """How a closed letter was closed (办结): counted apart in the statistics."""

    RATED = "rated", _("Closed with the writer's rating")
    # 未评价办结: replied, and the writer did not rate it within MINXIN_UNRATED_CLOSE_WORKDAYS.
    UNRATED = "unrated", _("Closed without a rating")
    # A thank-you letter is closed when it reaches the department it thanks.
    DELIVERED = "delivered", _("Delivered (thank-you letter)")


class Light(models.TextChoices):
    GREEN = "green", _("green")
    YELLOW = "yellow", _("yellow")
    RED = "red", _("red")


class Channel(models.TextChoices):
    WEB = "web", _("Internet")
    PHONE = "phone", _("Phone")


class Erasure(models.TextChoices):
    RETENTION = "retention", _("the retention period ended")
    WRITER = "writer", _("the writer asked")


def published_at() -> Coalesce:
    """When a public letter appeared on the public list: its reply, or for a thank-you letter (which
    has none) its delivery. Ordering by replied_at alone put every thank-you letter first on
    PostgreSQL (NULLs sort first in a descending order)."""
    return Coalesce("replied_at", "closed_at")


class Letter(models.Model):
    """A netizen's letter to a department. Its workflow lives in letters.services, one function a step.

    Deadlines are stored, and recomputable from what is stored beside them: the stage's start, the
    limit in force when the stage began, and the approved extension days (see letters.deadlines.schedule).
    """

    code = models.CharField(_("tracking code"), max_length=20, unique=True)
    key_hash = models.CharField(max_length=64)
    idempotency_key = models.CharField(max_length=64, unique=True, null=True, blank=True)
    kind = models.CharField(_("kind"), max_length=20, choices=LetterKind.choices)
    subject = models.CharField(_("subject"), max_length=100)
    body = models.TextField(_("body"))
    name = models.CharField(_("name"), max_length=50)
    contact = models.CharField(_("contact"), max_length=100)
    public = models.BooleanField(_("public"), default=True)
    # How the letter came in: written on the site, or taken by an operator on the phone (the seed:
    # "只要有上网或电话条件"). A phone letter's writer is called back (回访) for the rating.
    channel = models.CharField(_("channel"), max_length=5, choices=Channel.choices, default=Channel.WEB)
    # A letter made from a question a programme left unanswered has no key for the netizen to keep:
    # the session that asked (its hashed id, core/netizens.py) follows and rates it instead.
    netizen_key = models.CharField(max_length=64, blank=True, db_index=True)
    # PIPL: when the writer agreed to the privacy notice (null: sent by a client that did not ask, or
    # written on a netizen's behalf from an unanswered question), and when and why the writer's name
    # and contact were erased (letters.privacy). The letter itself stays for the statistics.
    consent_at = models.DateTimeField(_("consent given at"), null=True, blank=True)
    contact_erased_at = models.DateTimeField(_("contact erased at"), null=True, blank=True)
    erasure = models.CharField(_("erased because"), max_length=10, choices=Erasure.choices, blank=True)
    status = models.CharField(max_length=10, choices=LetterStatus.choices, default=LetterStatus.SUBMITTED)
    department = models.ForeignKey(
        Department, null=True, blank=True, on_delete=models.PROTECT, related_name="letters"
    )
    # In a unit with divisions (业务处室): the division its coordinator assigned it to, and the reply
    # that division's handler drafted, waiting for the coordinator to send it (or send it back).
    division = models.ForeignKey(
        Division, null=True, blank=True, on_delete=models.PROTECT, related_name="letters"
    )
    draft = models.TextField(_("draft reply"), blank=True, help_text=_("sanitized HTML"))
    draft_by = models.CharField(max_length=150, blank=True)
    draft_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField()
    forwarded_at = models.DateTimeField(null=True, blank=True)
    signed_at = models.DateTimeField(null=True, blank=True)
    reply_started_at = models.DateTimeField(null=True, blank=True, help_text=_("signing, or the last redo"))
    replied_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # The limits in force when each stage began, so that later edits of the registry do not move them.
    sign_limit = models.PositiveIntegerField(null=True, blank=True)
    sign_unit = models.CharField(max_length=20, choices=TimeUnit.choices, blank=True)
    reply_limit = models.PositiveIntegerField(null=True, blank=True)
    reply_unit = models.CharField(max_length=20, choices=TimeUnit.choices, blank=True)
    yellow_numerator = models.PositiveSmallIntegerField(default=1)
    yellow_denominator = models.PositiveSmallIntegerField(default=3)
    extension_days = models.PositiveIntegerField(default=0)
    sign_deadline = models.DateTimeField(null=True, blank=True)
    sign_yellow_at = models.DateTimeField(null=True, blank=True)
    reply_deadline = models.DateTimeField(null=True, blank=True)
    reply_yellow_at = models.DateTimeField(null=True, blank=True)
    # Verdicts frozen when a stage ends; later calendar changes do not rewrite history.
    sign_on_time = models.BooleanField(null=True, blank=True)
    reply_on_time = models.BooleanField(null=True, blank=True)
    # The light of the open stage as the supervision sweep last recorded it.
    light = models.CharField(max_length=6, choices=Light.choices, blank=True)
    reply = models.TextField(_("reply"), blank=True, help_text=_("sanitized HTML"))
    rating = models.CharField(max_length=12, choices=Rating.choices, blank=True)
    rating_comment = models.CharField(max_length=500, blank=True)
    redo_count = models.PositiveIntegerField(default=0)
    wrong_sign_count = models.PositiveIntegerField(default=0, help_text=_("returned after signing for"))
    wrong_closure = models.BooleanField(default=False)
    # How it was closed (blank while open; a redo blanks it again).
    closure = models.CharField(_("closure"), max_length=10, choices=Closure.choices, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["status", "department"]),
            models.Index(fields=["contact_erased_at", "closed_at"]),
            models.Index(fields=["department", "submitted_at"]),
            # The public lists (/letters/ newest published first, /api/letters/ newest letter first)
            # read only public replied letters: without these a year of letters is sorted per page.
            models.Index(
                published_at().desc(),
                F("id").desc(),
                name="letter_public_by_published",
                condition=models.Q(public=True, status__in=["replied", "closed"]),
            ),
            models.Index(
                fields=["-submitted_at"],
                name="letter_public_by_submit",
                condition=models.Q(public=True, status__in=["replied", "closed"]),
            ),
            # The supervisor's letters done (to redo or mark a wrong closure), newest reply first, and
            # their count: a year of replies otherwise sorted whole on every visit (~50 ms).
            models.Index(
                fields=["-replied_at", "-id"],
                name="letter_done_by_reply",
                condition=models.Q(status__in=["replied", "closed"]) & ~models.Q(kind="thanks"),
            ),
        ]
        verbose_name = _("letter")
        verbose_name_plural = _("letters")

    def __str__(self) -> str:
        return f"{self.code} {self.subject}"

    # What the public reads of what the writer wrote: personal data masked (core/privacy.py). The
    # writer, the department and supervisors read the letter as written.
    @property
    def public_subject(self) -> str:
        return mask_personal_data(self.subject)

    @property
    def public_body(self) -> str:
        return mask_personal_data(self.body)


class LetterLog(models.Model):
    """Every step of a letter's life: who, when, from which status to which, and why."""

    letter = models.ForeignKey(Letter, on_delete=models.CASCADE, related_name="log")
    at = models.DateTimeField()
    action = models.CharField(max_length=20)
    by = models.CharField(max_length=150, blank=True)
    from_status = models.CharField(max_length=10, blank=True)
    to_status = models.CharField(max_length=10, blank=True)
    note = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [
            # The wrong sign-fors of the assessment (returns after signing, in a period): a few
            # hundred of a year's 270,000 steps, otherwise found by reading them all.
            models.Index(fields=["at"], name="letterlog_returns", condition=models.Q(action="return")),
        ]

    def __str__(self) -> str:
        return f"{self.letter_id} {self.action}"


class LightChange(models.Model):
    """A change of a letter's traffic light, as recorded by the supervision sweep."""

    letter = models.ForeignKey(Letter, on_delete=models.CASCADE, related_name="light_changes")
    stage = models.CharField(max_length=6)  # "sign" or "reply"
    light = models.CharField(max_length=6, choices=Light.choices)
    at = models.DateTimeField()

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.letter_id} {self.stage} {self.light}"


class Extension(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", _("pending")
        APPROVED = "approved", _("approved")
        REFUSED = "refused", _("refused")

    letter = models.ForeignKey(Letter, on_delete=models.CASCADE, related_name="extensions")
    days = models.PositiveIntegerField()
    reason = models.CharField(max_length=500)
    requested_at = models.DateTimeField()
    requested_by = models.CharField(max_length=150)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.CharField(max_length=150, blank=True)

    def __str__(self) -> str:
        return f"{self.letter_id} +{self.days}"


class ContactAccess(models.Model):
    """One time a staff member was shown a writer's name and contact: who, when, which letter, how.

    Written by letters.privacy.record_access only; never edited. The supervisor reads it.
    """

    class Via(models.TextChoices):
        PAGE = "page", _("the staff page")
        API = "api", _("the API")

    letter = models.ForeignKey(
        Letter, on_delete=models.CASCADE, related_name="contact_accesses", verbose_name=_("letter")
    )
    at = models.DateTimeField(_("at"), db_index=True)
    by = models.CharField(_("by"), max_length=150)
    role = models.CharField(_("role"), max_length=20, blank=True)
    via = models.CharField(_("via"), max_length=4, choices=Via.choices)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("contact access")
        verbose_name_plural = _("contact accesses")

    def __str__(self) -> str:
        return f"{self.letter_id} {self.by} {self.at:%Y-%m-%d %H:%M}"


class Report(models.Model):
    """An assessment of a period, stored as produced: the half-year 通报 (June), the year-end
    assessment (end of November) or one a supervisor asked for. `rows` keeps the ranked departments
    and the columns of the formula of the day, so that a later change of the formula does not
    rewrite a report already sent (letters/periodic.py)."""

    class Kind(models.TextChoices):
        HALF_YEAR = "half_year", _("half-year report")
        YEAR_END = "year_end", _("year-end assessment")
        CUSTOM = "custom", _("report for a period")

    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    period_from = models.DateField(_("from"))
    period_to = models.DateField(_("to"), help_text=_("the last day, included"))
    produced_at = models.DateTimeField(_("produced at"))
    produced_by = models.CharField(
        _("produced by"), max_length=150, blank=True, help_text=_("empty: the clock")
    )
    rows = models.JSONField(_("rows"), default=dict)

    class Meta:
        ordering = ["-period_to", "-produced_at", "-id"]
        constraints = [
            # The clock, the command and the form produce one report per kind and period.
            models.UniqueConstraint(
                fields=["kind", "period_from", "period_to"],
                condition=~models.Q(kind="custom"),
                name="one_report_per_kind_and_period",
            )
        ]
        verbose_name = _("report")
        verbose_name_plural = _("reports")

    def __str__(self) -> str:
        return f"{self.kind} {self.period_from}–{self.period_to}"


class ReportNotice(models.Model):
    """A report as sent to one unit: its rank, and when the unit's coordinator (or handler) read it."""

    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="notices")
    department = models.ForeignKey(
        Department, on_delete=models.CASCADE, related_name="report_notices", verbose_name=_("department")
    )
    rank = models.PositiveIntegerField(_("rank"), null=True, blank=True)
    ranked = models.PositiveIntegerField(_("units ranked"), default=0)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)
    read_by = models.CharField(_("read by"), max_length=150, blank=True)

    class Meta:
        ordering = ["-report__period_to", "-report__produced_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["report", "department"], name="one_notice_per_unit_and_report")
        ]
        verbose_name = _("report notice")
        verbose_name_plural = _("report notices")

    def __str__(self) -> str:
        return f"{self.report_id} → {self.department_id}"
