from django.contrib import admin

from departments.models import Department, Division, StaffProfile, TimeLimit


class TimeLimitInline(admin.TabularInline):
    model = TimeLimit
    extra = 0


class DivisionInline(admin.TabularInline):
    model = Division
    extra = 0


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "short_name", "kind", "active", "display_order"]
    list_filter = ["kind", "active"]
    search_fields = ["code", "name", "short_name"]
    list_editable = ["active", "display_order"]
    inlines = [DivisionInline, TimeLimitInline]


@admin.register(TimeLimit)
class TimeLimitAdmin(admin.ModelAdmin):
    list_display = ["letter_kind", "department", "sign_limit", "sign_unit", "reply_limit", "reply_unit"]
    list_filter = ["letter_kind"]


@admin.register(Division)
class DivisionAdmin(admin.ModelAdmin):
    list_display = ["department", "code", "name"]
    list_select_related = ["department"]
    search_fields = ["code", "name", "department__name"]


@admin.register(StaffProfile)
class StaffProfileAdmin(admin.ModelAdmin):
    list_display = ["user", "department", "division", "title"]
    list_select_related = ["user", "department", "division"]
