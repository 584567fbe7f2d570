from django.core.management.base import BaseCommand

from archive.search import index_programme
from archive.search_letters import reindex_letters
from studio.models import Broadcast, BroadcastStatus


class Command(BaseCommand):
    help = (
        "Rebuild the search index of every ended programme's transcript and every public letter "
        "(both index themselves as they change)."
    )

    def handle(self, *args: object, **options: object) -> None:
        total = 0
        for broadcast in Broadcast.objects.filter(status=BroadcastStatus.ENDED):
            total += index_programme(broadcast)
        self.stdout.write(f"{total} transcript entries indexed")
        self.stdout.write(f"{reindex_letters()} public letters indexed")
