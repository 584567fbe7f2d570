from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from core import clock
from departments.models import Department
from departments.roles import has_role
from studio.models import Guest, next_thursday_slot
from studio.services import create_broadcast
from studio.streams import validate_stream_url


class Command(BaseCommand):
    help = "Schedule a programme; prints its id alone on the last line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--department", required=True)
        parser.add_argument("--title", required=True)
        parser.add_argument("--starts-at", help="ISO 8601; default: the next Thursday 14:30")
        parser.add_argument("--guest", action="append", default=[], help="a guest's username (repeatable)")
        parser.add_argument("--host")
        parser.add_argument("--moderator", action="append", default=[])
        parser.add_argument("--summary", default="")
        parser.add_argument("--stream-url", default="")

    @transaction.atomic
    def handle(self, *args: object, **options) -> None:
        department = Department.objects.filter(code=options["department"]).first()
        if department is None:
            raise CommandError(f"Unknown department {options['department']!r}.")
        if not options["title"].strip():
            raise CommandError("The title must not be empty.")
        if options["stream_url"]:
            try:
                validate_stream_url(options["stream_url"])
            except ValidationError as exc:
                raise CommandError(f"--stream-url: {' '.join(exc.messages)}") from None
        starts_at = next_thursday_slot(clock.now())
        if options["starts_at"]:
            parsed = parse_datetime(options["starts_at"])
            if parsed is None:
                raise CommandError(f"--starts-at {options['starts_at']!r} is not an ISO 8601 date and time.")
            starts_at = parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed)
        users = get_user_model().objects

        def staff(username: str, role: str):
            user = users.filter(username=username).first()
            if user is None:
                raise CommandError(f"No user {username!r}; create it with createstaff first.")
            if not has_role(user, role):
                raise CommandError(f"{username!r} does not have the {role} role.")
            return user

        host = staff(options["host"], "host") if options["host"] else None
        guests = [staff(name, "guest") for name in options["guest"]]
        moderators = [staff(name, "moderator") for name in options["moderator"]]
        broadcast = create_broadcast(
            title=options["title"].strip(),
            summary=options["summary"],
            department=department,
            starts_at=starts_at,
            stream_url=options["stream_url"],
            host=host,
        )
        broadcast.moderators.set(moderators)
        for user in guests:
            profile = getattr(user, "staff", None)
            Guest.objects.create(
                broadcast=broadcast,
                user=user,
                display_name=user.get_full_name() or user.username,
                title=profile.title if profile else "",
                department=(profile.department if profile and profile.department else department),
            )
        self.stdout.write(str(broadcast.pk))
