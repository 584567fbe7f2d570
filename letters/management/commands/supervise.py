import time

from django.core.management.base import BaseCommand, CommandParser

from letters.reports import scoreboard
from letters.supervision import sweep


class Command(BaseCommand):
    help = "Run the supervision sweep once, or every --interval seconds with --loop (the Procfile's clock)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--loop", action="store_true")
        parser.add_argument("--interval", type=int, default=60)

    def handle(self, *args: object, **options) -> None:
        while True:
            changed = sweep()
            scoreboard(refresh=True)  # the public scoreboard, current to the minute
            self.stdout.write(" ".join(f"{light}={count}" for light, count in changed.items()))
            if not options["loop"]:
                return
            time.sleep(max(options["interval"], 1))
