from django.core.management.base import BaseCommand, CommandError, CommandParser

from archive import clock


class Command(BaseCommand):
    help = (
        "The Procfile's clock: every --interval seconds the supervision sweep, the scoreboard, the "
        "statistics (so that pages read them from the cache, never from every row) and the erasure of "
        "writers' contacts past their retention period (PIPL). One failing job does not stop the "
        "others; only one clock runs at a time (a second one waits)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--interval", type=float, default=60)
        parser.add_argument("--once", action="store_true", help="one tick; fails if a job failed")

    def handle(self, *args: object, **options) -> None:
        try:
            failed = clock.run(max(options["interval"], 0.1), once=options["once"])
        except clock.ClockBusy as exc:
            raise CommandError(str(exc)) from None
        if failed:
            raise CommandError(f"failed: {', '.join(failed)} (see the log above)")
