from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _

from core.admin import RecordAdmin
from core.errors import ServiceError
from moderation import actions, screening
from moderation.models import BannedWord, BannedWordList, ModerationAction, Question, QuestionStatus
from moderation.views import write_audit_csv


@admin.register(Question)
class QuestionAdmin(admin.ModelAdmin):
    """Until the moderator console lands, moderators can screen questions here."""

    list_display = ["id", "broadcast", "nickname", "text", "status", "asked_at"]
    list_filter = ["status", "broadcast"]
    search_fields = ["text", "nickname"]
    readonly_fields = [f.name for f in Question._meta.fields]
    actions = ["approve_and_publish", "approve_quietly", "reject"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def _act(self, request: HttpRequest, queryset: QuerySet, act) -> None:
        done = 0
        for question in queryset.filter(status=QuestionStatus.PENDING):
            try:
                act(question)
                done += 1
            except ServiceError as error:
                self.message_user(request, f"#{question.pk}: {error.message}", messages.WARNING)
        self.message_user(request, _("%(n)d questions done.") % {"n": done})

    @admin.action(description=_("Approve and publish to viewers"))
    def approve_and_publish(self, request: HttpRequest, queryset: QuerySet) -> None:
        by = request.user.get_username()
        self._act(request, queryset, lambda q: actions.approve_question(q.broadcast_id, q.pk, True, by=by))

    @admin.action(description=_("Approve for the guests only"))
    def approve_quietly(self, request: HttpRequest, queryset: QuerySet) -> None:
        by = request.user.get_username()
        self._act(request, queryset, lambda q: actions.approve_question(q.broadcast_id, q.pk, False, by=by))

    @admin.action(description=_("Reject"))
    def reject(self, request: HttpRequest, queryset: QuerySet) -> None:
        by = request.user.get_username()
        self._act(request, queryset, lambda q: actions.reject_question(q.broadcast_id, q.pk, "", by=by))


class BannedWordInline(admin.TabularInline):
    model = BannedWord
    extra = 3


@admin.register(BannedWordList)
class BannedWordListAdmin(admin.ModelAdmin):
    """Edits here reach every process's automaton at its next screening (screening.words_changed)."""

    list_display = ["name", "level", "active"]
    inlines = [BannedWordInline]

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        screening.words_changed()

    def delete_model(self, request, obj) -> None:
        super().delete_model(request, obj)
        screening.words_changed()

    def delete_queryset(self, request, queryset) -> None:
        super().delete_queryset(request, queryset)
        screening.words_changed()


@admin.register(ModerationAction)
class ModerationActionAdmin(RecordAdmin):
    list_display = ["at", "by", "action", "broadcast", "question"]
    list_filter = ["action", "broadcast"]
    search_fields = ["by"]
    actions = ["export_csv"]

    @admin.action(description=_("Export as CSV"))
    def export_csv(self, request, queryset):
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="moderation-audit.csv"'
        return write_audit_csv(queryset.order_by("at", "id"), response)
