from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from departments.models import Department, Division, StaffProfile
from departments.roles import ROLES, ensure_role_groups


class Command(BaseCommand):
    help = "Create a staff account with one role, or give an existing account that role."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--role", required=True, help=f"one of: {', '.join(ROLES)}")
        parser.add_argument("--department", help="department code (required for handlers and coordinators)")
        parser.add_argument(
            "--division", help="division code within the department (a handler of a 业务处室)"
        )
        parser.add_argument("--password", required=True)
        parser.add_argument("--name", default="", help="display name (e.g. 张明)")
        parser.add_argument("--title", default="", help="job title shown for guests")

    @transaction.atomic
    def handle(self, *args: object, **options: str) -> None:
        role = ROLES.get(options["role"])
        if role is None:
            raise CommandError(f"Unknown role {options['role']!r}; choose one of: {', '.join(ROLES)}.")
        department = None
        if options["department"]:
            department = Department.objects.filter(code=options["department"]).first()
            if department is None:
                raise CommandError(
                    f"Unknown department {options['department']!r}; `GET /api/departments/` lists the codes."
                )
        elif role.needs_department:
            raise CommandError(f"A {role.name} belongs to one department: give --department CODE.")
        division = None
        if options.get("division"):
            if department is None or role.name != "handler":
                raise CommandError("--division is for a handler, with its --department.")
            division = Division.objects.filter(department=department, code=options["division"]).first()
            if division is None:
                raise CommandError(
                    f"Unknown division {options['division']!r} of {department.code}; add it in the admin."
                )
        if not options["password"]:
            raise CommandError("The password must not be empty.")

        groups = ensure_role_groups()
        user, created = get_user_model().objects.get_or_create(username=options["username"])
        user.set_password(options["password"])
        user.is_staff = True  # staff sign in to the admin for their own models
        if options["name"]:
            user.first_name = options["name"]
        user.save()
        user.groups.add(groups[role.name])
        profile, _ = StaffProfile.objects.get_or_create(user=user)
        if department is not None:
            profile.department = department
        if division is not None:
            profile.division = division
        if options["title"]:
            profile.title = options["title"]
        profile.save()
        verb = "Created" if created else "Updated"
        self.stdout.write(
            f"{verb} {user.username} as {role.name}" + (f" of {department.code}" if department else "")
        )
