"""Staff roles: Django groups, each granting one permission of departments.StaffProfile."""

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Group, Permission
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Role:
    name: str
    permission: str  # codename on departments.StaffProfile
    needs_department: bool
    label: str


ROLES: dict[str, Role] = {
    role.name: role
    for role in [
        Role("moderator", "moderate_questions", False, _("Moderator")),
        Role("host", "host_programmes", False, _("Host")),
        Role("guest", "answer_questions", False, _("Guest")),
        Role("operator", "operate_portal", False, _("Operator")),
        Role("handler", "handle_letters", True, _("Handler")),
        Role("supervisor", "supervise", False, _("Supervisor")),
    ]
}


def ensure_role_groups() -> dict[str, Group]:
    """Create (or repair) one group per role with exactly its permission."""
    groups = {}
    for role in ROLES.values():
        group, _created = Group.objects.get_or_create(name=role.name)
        permission = Permission.objects.get(content_type__app_label="departments", codename=role.permission)
        group.permissions.set([permission])
        groups[role.name] = group
    return groups


def has_role(user: AbstractBaseUser | AnonymousUser, role: str) -> bool:
    return bool(user.is_authenticated and user.has_perm(f"departments.{ROLES[role].permission}"))
