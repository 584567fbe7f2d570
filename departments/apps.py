from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _create_role_groups(**kwargs: object) -> None:
    from departments.roles import ensure_role_groups

    ensure_role_groups()


class DepartmentsConfig(AppConfig):
    name = "departments"
    verbose_name = _("Department registry")

    def ready(self) -> None:
        # After every app's post_migrate (auth's handler, connected first, creates that app's
        # permissions), so each role ends up with the permissions of every migrated app.
        post_migrate.connect(_create_role_groups, dispatch_uid="minxin-role-groups")
