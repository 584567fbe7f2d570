import time

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from archive.stats import figures


class Command(BaseCommand):
    help = (
        "The Procfile's clock: every --interval seconds the supervision sweep (which also refreshes the "
        "scoreboard) and the statistics, so that pages read them from the cache, never from every row; "
        "and the erasure of writers' contacts past their retention period (PIPL)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--interval", type=int, default=60)
        parser.add_argument("--once", action="store_true")

    def handle(self, *args: object, **options) -> None:
        while True:
            call_command("supervise", stdout=self.stdout)
            call_command("erasecontacts", stdout=self.stdout)
            figures(refresh=True)
            if options["once"]:
                return
            time.sleep(max(options["interval"], 1))
