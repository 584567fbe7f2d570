import datetime as dt
from typing import Any

import chinese_calendar
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from letters.deadlines import calendar_changed
from letters.models import CalendarDay, CalendarYear

SOURCE = f"chinese-calendar {chinese_calendar.__version__}"
# The package names its holidays in English; the pages show the Chinese names.
CHINESE_NAMES = {holiday.value: holiday.chinese for holiday in chinese_calendar.Holiday}


def package_years() -> range:
    return range(min(chinese_calendar.holidays).year, max(chinese_calendar.holidays).year + 1)


def exceptions_of(year: int) -> list[tuple[dt.date, bool, str]]:
    """The year's departures from Monday–Friday, as (date, is working day, name).

    Raises NotImplementedError (from the package) for a year it does not know.
    """
    result = []
    day = dt.date(year, 1, 1)
    while day.year == year:
        on_holiday, english = chinese_calendar.get_holiday_detail(day)
        name = CHINESE_NAMES.get(english, english or "")
        weekend = day.weekday() >= 5
        if on_holiday and not weekend:
            result.append((day, False, name))
        elif weekend and not on_holiday:
            result.append((day, True, f"调休上班（{name}）" if name else "调休上班"))
        day += dt.timedelta(days=1)
    return result


class Command(BaseCommand):
    help = (
        "Load the holidays and swapped working days (调休) of the given years from the "
        "chinese-calendar package. Re-running a year replaces its days with the package's."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("years", nargs="*", type=int, metavar="YEAR")
        known = package_years()
        parser.add_argument(
            "--all-known",
            action="store_true",
            help=f"every year the package knows ({known.start}–{known.stop - 1})",
        )

    def handle(self, *args: object, **options: Any) -> None:
        years = sorted(set(options["years"]) | (set(package_years()) if options["all_known"] else set()))
        if not years:
            raise CommandError("Give one or more years, or --all-known.")
        # Read every year before writing any, so that an unknown year stores nothing.
        loaded = {}
        for year in years:
            try:
                loaded[year] = exceptions_of(year)
            except NotImplementedError:
                known = package_years()
                raise CommandError(
                    f"The {SOURCE} package has no calendar for {year} (it knows {known.start}–{known.stop - 1}). "
                    f"Enter {year}'s holidays and swapped working days in the admin "
                    f"(/admin/letters/calendaryear/add/) once the State Council publishes them; "
                    f"until then {year} counts Monday to Friday as working days."
                ) from None
        with transaction.atomic():
            for year, days in loaded.items():
                calendar, created = CalendarYear.objects.update_or_create(
                    year=year, defaults={"source": SOURCE}
                )
                calendar.days.all().delete()
                CalendarDay.objects.bulk_create(
                    CalendarDay(calendar=calendar, date=day, is_working_day=working, name=name)
                    for day, working, name in days
                )
                verb = "Loaded" if created else "Reloaded"
                self.stdout.write(f"{verb} {year}: {len(days)} days differ from Monday–Friday.")
            calendar_changed(years)
