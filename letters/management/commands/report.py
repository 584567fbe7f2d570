"""Produce a report by hand: `report --kind half_year --year 2026`, `report --kind custom --from
2026-03-01 --to 2026-08-31`, or `report --due` for what the clock would produce now."""

import datetime as dt

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.errors import ServiceError
from letters import periodic


class Command(BaseCommand):
    help = "Produce the half-year report, the year-end assessment or a report of any period, and send it to the units."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--kind", choices=["half_year", "year_end", "custom"])
        parser.add_argument("--year", type=int, help="half_year and year_end: the year the period ends in")
        parser.add_argument("--from", dest="first", type=dt.date.fromisoformat, help="custom: YYYY-MM-DD")
        parser.add_argument("--to", dest="last", type=dt.date.fromisoformat, help="custom: YYYY-MM-DD")
        parser.add_argument("--due", action="store_true", help="what the clock would produce now")

    def handle(self, *args: object, **options: object) -> None:
        if options["due"]:
            for report in periodic.produce_due():
                self.stdout.write(f"produced {report.pk}: {periodic.title(report)}")
            return
        kind = options["kind"]
        if kind in periodic.SCHEDULED:
            if not isinstance(options["year"], int):
                raise CommandError("--year is needed with --kind half_year or year_end")
            first, last = periodic.period_of(str(kind), options["year"])
        elif kind == "custom":
            first, last = options["first"], options["last"]  # type: ignore[assignment]
            if not (isinstance(first, dt.date) and isinstance(last, dt.date)):
                raise CommandError("--from and --to are needed with --kind custom")
        else:
            raise CommandError("give --kind (half_year, year_end or custom) or --due")
        try:
            report, created = periodic.produce(str(kind), first, last, by="manage.py report")
        except ServiceError as error:
            raise CommandError(error.message) from error
        verb = "produced" if created else "exists already"
        self.stdout.write(
            f"{verb} {report.pk}: {periodic.title(report)} ({first} – {last}), "
            f"{report.rows['ranked']} units ranked, {report.notices.count()} notices"
        )
