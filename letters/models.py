"""The letter module's data. So far: the working-day calendar that letter deadlines count in."""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

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
