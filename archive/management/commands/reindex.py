from django.core.management.base import BaseCommand

from archive.search import index_programme
from studio.models import Broadcast, BroadcastStatus


class Command(BaseCommand):
    help = "Rebuild the transcript search index of every ended programme (programmes index themselves when they end)."

    def handle(self, *args: object, **options: object) -> None:
        total = 0
        for broadcast in Broadcast.objects.filter(status=BroadcastStatus.ENDED):
            total += index_programme(broadcast)
        self.stdout.write(f"{total} transcript entries indexed")
