from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from moderation import services
from moderation.models import Question, QuestionStatus
from studio.errors import ServiceError


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
        self._act(request, queryset, lambda q: services.approve_question(q.broadcast_id, q.pk, True, by=by))

    @admin.action(description=_("Approve for the guests only"))
    def approve_quietly(self, request: HttpRequest, queryset: QuerySet) -> None:
        by = request.user.get_username()
        self._act(request, queryset, lambda q: services.approve_question(q.broadcast_id, q.pk, False, by=by))

    @admin.action(description=_("Reject"))
    def reject(self, request: HttpRequest, queryset: QuerySet) -> None:
        by = request.user.get_username()
        self._act(request, queryset, lambda q: services.reject_question(q.broadcast_id, q.pk, "", by=by))
