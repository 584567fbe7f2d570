"""The department registry that the live studio and the letter module share."""

from fractions import Fraction

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _


class DepartmentKind(models.TextChoices):
    DISTRICT = "district", _("District")
    MUNICIPAL = "municipal", _("Municipal department")
    PUBLIC_SERVICE = "public_service", _("Public service company")


class LetterKind(models.TextChoices):
    # Declared here, not in letters/, because the registry owns the time limit of each kind.
    CONSULTATION = "consultation", _("Consultation")
    OPINION = "opinion", _("Opinion")
    SUGGESTION = "suggestion", _("Suggestion")
    REPORT = "report", _("Report")
    COMPLAINT = "complaint", _("Complaint")
    # A thank-you letter (感谢信) asks nothing of its department: no time limit, no light, no place
    # in the assessment; it is counted per department on the scoreboard.
    THANKS = "thanks", _("Thank-you letter")


# The kinds a department must sign for and reply to within a time limit (all but thank-you letters).
TIMED_KINDS = [(value, label) for value, label in LetterKind.choices if value != LetterKind.THANKS]


class Department(models.Model):
    code = models.CharField(
        _("code"),
        max_length=32,
        unique=True,
        validators=[RegexValidator(r"^[a-z][a-z0-9_]{1,31}$", _("Lower-case letters, digits and _."))],
    )
    name = models.CharField(_("name"), max_length=100, unique=True)
    short_name = models.CharField(_("short name"), max_length=40)
    kind = models.CharField(_("kind"), max_length=20, choices=DepartmentKind.choices)
    active = models.BooleanField(_("active"), default=True)
    display_order = models.PositiveIntegerField(_("display order"), default=0)

    class Meta:
        ordering = ["display_order", "code"]
        verbose_name = _("department")
        verbose_name_plural = _("departments")

    def __str__(self) -> str:
        return self.short_name or self.name


class TimeUnit(models.TextChoices):
    WORKING_DAYS = "working_days", _("working days")
    HOURS = "hours", _("hours")


class TimeLimit(models.Model):
    """How long a department has to sign for and to reply to one kind of letter.

    A row with no department is the default for every department of that kind of letter.
    """

    department = models.ForeignKey(
        Department, null=True, blank=True, on_delete=models.CASCADE, related_name="time_limits"
    )
    letter_kind = models.CharField(_("letter kind"), max_length=20, choices=TIMED_KINDS)
    sign_limit = models.PositiveIntegerField(_("sign-for limit"), validators=[MinValueValidator(1)])
    sign_unit = models.CharField(max_length=20, choices=TimeUnit.choices, default=TimeUnit.WORKING_DAYS)
    reply_limit = models.PositiveIntegerField(_("reply limit"), validators=[MinValueValidator(1)])
    reply_unit = models.CharField(max_length=20, choices=TimeUnit.choices, default=TimeUnit.WORKING_DAYS)
    # The seed: the yellow light comes on once 1/3 of a limit has passed. Kept as a fraction
    # so that 1/3 stays exact.
    yellow_numerator = models.PositiveSmallIntegerField(default=1, validators=[MinValueValidator(1)])
    yellow_denominator = models.PositiveSmallIntegerField(
        default=3, validators=[MinValueValidator(1), MaxValueValidator(100)]
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["department", "letter_kind"], name="one_limit_per_department_kind"
            ),
            models.UniqueConstraint(
                fields=["letter_kind"],
                condition=models.Q(department__isnull=True),
                name="one_default_limit_per_kind",
            ),
            models.CheckConstraint(
                condition=models.Q(yellow_numerator__lt=models.F("yellow_denominator")),
                name="yellow_share_below_one",
            ),
        ]
        verbose_name = _("time limit")
        verbose_name_plural = _("time limits")

    def __str__(self) -> str:
        return f"{self.department or '*'} / {self.letter_kind}"

    @property
    def yellow_share(self) -> Fraction:
        return Fraction(self.yellow_numerator, self.yellow_denominator)


class Division(models.Model):
    """A unit's business division (业务处室): the unit's 纠风 office (its coordinator) assigns each
    signed letter to one, whose handlers draft the reply. A unit without divisions has its handlers
    sign, extend and reply themselves."""

    department = models.ForeignKey(
        Department, on_delete=models.CASCADE, related_name="divisions", verbose_name=_("department")
    )
    code = models.CharField(
        _("code"),
        max_length=32,
        validators=[RegexValidator(r"^[a-z][a-z0-9_]{1,31}$", _("Lower-case letters, digits and _."))],
    )
    name = models.CharField(_("name"), max_length=100)

    class Meta:
        ordering = ["department", "code"]
        constraints = [
            models.UniqueConstraint(fields=["department", "code"], name="one_division_code_per_unit"),
            models.UniqueConstraint(fields=["department", "name"], name="one_division_name_per_unit"),
        ]
        verbose_name = _("division")
        verbose_name_plural = _("divisions")

    def __str__(self) -> str:
        return f"{self.department} · {self.name}"


class StaffProfile(models.Model):
    """Staff data that Django's user lacks: the department a handler or guest belongs to, and the
    division (业务处室) of a handler in a unit that has them.

    Its Meta carries the role permissions, so that every app checks roles the same way.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff")
    department = models.ForeignKey(Department, null=True, blank=True, on_delete=models.PROTECT)
    division = models.ForeignKey(
        Division, null=True, blank=True, on_delete=models.PROTECT, verbose_name=_("division")
    )
    title = models.CharField(_("title"), max_length=60, blank=True)

    class Meta:
        verbose_name = _("staff profile")
        verbose_name_plural = _("staff profiles")
        permissions = [
            ("moderate_questions", _("Can screen questions in live programmes")),
            ("host_programmes", _("Can host live programmes")),
            ("answer_questions", _("Can answer questions as a guest")),
            ("operate_portal", _("Can schedule programmes, forward letters and keep the registry")),
            ("handle_letters", _("Can handle the letters of one department")),
            (
                "coordinate_letters",
                _("Can sign for, assign and send the letters of one department (its coordinating office)"),
            ),
            ("supervise", _("Can supervise letters and run assessments")),
        ]

    def __str__(self) -> str:
        return str(self.user)
