"""Admin building blocks every app may use."""

from django.contrib import admin


class RecordAdmin(admin.ModelAdmin):
    """An audit record in the admin: readable and searchable, never added, changed or deleted
    there (the moderation audit trail, the record of staff opening writers' contacts)."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
