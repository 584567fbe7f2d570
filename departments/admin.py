from django.contrib import admin

from departments.models import Department, StaffProfile, TimeLimit


class TimeLimitInline(admin.TabularInline):
    model = TimeLimit
    extra = 0


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "short_name", "kind", "active", "display_order"]
    list_filter = ["kind", "active"]
    search_fields = ["code", "name", "short_name"]
    list_editable = ["active", "display_order"]
    inlines = [TimeLimitInline]


@admin.register(TimeLimit)
class TimeLimitAdmin(admin.ModelAdmin):
    list_display = ["letter_kind", "department", "sign_limit", "sign_unit", "reply_limit", "reply_unit"]
    list_filter = ["letter_kind"]


@admin.register(StaffProfile)
class StaffProfileAdmin(admin.ModelAdmin):
    list_display = ["user", "department", "title"]
    list_select_related = ["user", "department"]
