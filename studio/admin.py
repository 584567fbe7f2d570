from django.contrib import admin

from core import clock
from studio.models import Broadcast, Event, Guest, next_thursday_slot


class GuestInline(admin.TabularInline):
    model = Guest
    extra = 1


@admin.register(Broadcast)
class BroadcastAdmin(admin.ModelAdmin):
    """Operators schedule programmes here; starting and ending happens in the studio console."""

    list_display = ["number", "title", "department", "starts_at", "status"]
    list_filter = ["status", "department"]
    search_fields = ["title"]
    readonly_fields = ["status", "started_at", "ended_at", "last_seq"]
    filter_horizontal = ["moderators"]
    inlines = [GuestInline]

    def get_changeform_initial_data(self, request):
        # The next number and the regular Thursday-afternoon slot.
        last = Broadcast.objects.order_by("-number").values_list("number", flat=True).first()
        return {"number": (last or 0) + 1, "starts_at": next_thursday_slot(clock.now())}


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    """The log is append-only: readable here, never edited."""

    list_display = ["broadcast", "seq", "kind", "at"]
    list_filter = ["kind"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
