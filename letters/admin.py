from django.contrib import admin
from django.db.models import Count, QuerySet
from django.forms import BaseInlineFormSet, ModelForm
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from core.admin import RecordAdmin
from letters.deadlines import calendar_changed
from letters.models import SOURCE_OPERATOR, CalendarDay, CalendarYear, ContactAccess, Letter, LetterLog


class CalendarDayFormSet(BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        # WorkCalendar reads the exceptions by calendar year: a day filed under another year
        # would apply or not depending on which years a computation happened to touch.
        year = self.instance.year
        for form in self.forms:
            day = form.cleaned_data.get("date") if hasattr(form, "cleaned_data") else None
            if day and year and day.year != year and not form.cleaned_data.get("DELETE"):
                form.add_error("date", _("The date must lie in %(year)s.") % {"year": year})


class CalendarDayInline(admin.TabularInline):
    model = CalendarDay
    formset = CalendarDayFormSet
    extra = 3
    fields = ["date", "is_working_day", "name"]


@admin.register(CalendarYear)
class CalendarYearAdmin(admin.ModelAdmin):
    """An operator enters a year when the State Council publishes it, one year at a time.

    Only the exceptions to Monday–Friday are entered: holidays that fall on weekdays, and the
    weekend days that are worked (调休). Saving or deleting a year must move the open deadlines
    that count through it, hence `calendar_changed` below.
    """

    list_display = ["year", "source", "exceptions", "updated_at", "note"]
    readonly_fields = ["source", "updated_at"]
    fields = ["year", "source", "note", "updated_at"]
    inlines = [CalendarDayInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[CalendarYear]:
        return super().get_queryset(request).annotate(exception_count=Count("days"))

    @admin.display(description=_("exceptions"), ordering="exception_count")
    def exceptions(self, obj: CalendarYear) -> int:
        return obj.exception_count  # type: ignore[attr-defined]

    def save_related(
        self, request: HttpRequest, form: ModelForm, formsets: list[BaseInlineFormSet], change: bool
    ) -> None:
        super().save_related(request, form, formsets, change)
        year: CalendarYear = form.instance
        # Days typed in by hand are no longer the package's data, even if the year was loaded.
        if not change or any(formset.has_changed() for formset in formsets):
            CalendarYear.objects.filter(pk=year.pk).update(source=SOURCE_OPERATOR)
        changed = {year.year}
        if change and "year" in form.changed_data:
            changed.add(form.initial["year"])
        calendar_changed(changed)

    def delete_model(self, request: HttpRequest, obj: CalendarYear) -> None:
        super().delete_model(request, obj)
        calendar_changed([obj.year])

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[CalendarYear]) -> None:
        years = list(queryset.values_list("year", flat=True))
        super().delete_queryset(request, queryset)
        calendar_changed(years)


class LetterLogInline(admin.TabularInline):
    model = LetterLog
    extra = 0
    can_delete = False
    readonly_fields = ["at", "action", "by", "from_status", "to_status", "note", "data"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


WRITER_FIELDS = ["name", "contact"]


@admin.register(Letter)
class LetterAdmin(admin.ModelAdmin):
    """Read-only here: every change goes through letters.services (the API), which logs it."""

    list_display = ["code", "kind", "subject", "department", "status", "light", "submitted_at"]
    list_filter = ["status", "light", "kind", "department"]
    search_fields = ["code", "subject"]
    inlines = [LetterLogInline]

    # The writer's name and contact are shown only through the audited "查看联系方式" (letters.privacy).
    exclude = WRITER_FIELDS

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in Letter._meta.fields if field.name not in WRITER_FIELDS]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(ContactAccess)
class ContactAccessAdmin(RecordAdmin):
    """The record of staff opening writers' contacts: read only, never edited or deleted here."""

    list_display = ["at", "by", "role", "letter", "via"]
    list_filter = ["via", "role"]
    search_fields = ["by", "letter__code"]
    date_hierarchy = "at"
