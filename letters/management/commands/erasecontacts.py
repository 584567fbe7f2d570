from django.conf import settings
from django.core.management.base import BaseCommand

from letters.privacy import erase_expired


class Command(BaseCommand):
    help = (
        "Erase the writer's name and contact of letters closed (or replied to and never rated) more than "
        "MINXIN_CONTACT_RETENTION_DAYS ago; the clock runs it every minute."
    )

    def handle(self, *args: object, **options: object) -> None:
        erased = erase_expired()
        if erased:
            self.stdout.write(
                f"erased the contacts of {erased} letter(s) past {settings.MINXIN_CONTACT_RETENTION_DAYS} days"
            )
