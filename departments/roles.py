"""Staff roles: Django groups, each granting one permission of departments.StaffProfile."""

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import Group, Permission
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Role:
    name: str
    permission: str  # codename on departments.StaffProfile
    needs_department: bool
    label: Any  # a lazy translation
    # Admin permissions on other apps' models, as "app_label.codename" strings (no imports, so the
    # registry still depends on no other app).
    admin: tuple[str, ...] = ()


ROLES: dict[str, Role] = {
    role.name: role
    for role in [
        Role("moderator", "moderate_questions", False, _("Moderator"), ("moderation.view_question",)),
        Role("host", "host_programmes", False, _("Host")),
        Role("guest", "answer_questions", False, _("Guest")),
        Role(
            "operator",
            "operate_portal",
            False,
            _("Operator"),
            (
                "studio.add_broadcast",
                "studio.change_broadcast",
                "studio.view_broadcast",
                "studio.add_guest",
                "studio.change_guest",
                "studio.delete_guest",
                "studio.view_guest",
                "departments.view_department",
                "departments.change_department",
                "departments.view_timelimit",
                "departments.change_timelimit",
                "departments.view_division",
                "departments.add_division",
                "departments.change_division",
                "departments.delete_division",
            ),
        ),
        Role("handler", "handle_letters", True, _("Handler")),
        # The unit's 纠风 office: signs for its letters, assigns them to its divisions, sends replies.
        Role("coordinator", "coordinate_letters", True, _("Coordinator")),
        Role("supervisor", "supervise", False, _("Supervisor")),
    ]
}


def ensure_role_groups() -> dict[str, Group]:
    """Create (or repair) one group per role with exactly its permission."""
    groups = {}
    for role in ROLES.values():
        group, _created = Group.objects.get_or_create(name=role.name)
        wanted = [("departments", role.permission)] + [tuple(name.split(".", 1)) for name in role.admin]
        query = Q()
        for app_label, codename in wanted:
            query |= Q(content_type__app_label=app_label, codename=codename)
        # Permissions of apps not migrated yet are added when their post_migrate runs.
        group.permissions.set(Permission.objects.filter(query))
        groups[role.name] = group
    return groups


def has_role(user: Any, role: str) -> bool:
    return bool(user.is_authenticated and user.has_perm(f"departments.{ROLES[role].permission}"))
