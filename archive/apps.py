from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ArchiveConfig(AppConfig):
    name = "archive"
    verbose_name = _("Archive")

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from archive.bridge import letters_for_unanswered
        from archive.search import index_programme
        from archive.search_letters import index_letter
        from letters.models import Letter
        from studio.signals import approved_after_end, programme_ended

        programme_ended.connect(letters_for_unanswered, dispatch_uid="archive-letters-for-unanswered")
        programme_ended.connect(index_programme, dispatch_uid="archive-index-programme")
        approved_after_end.connect(letters_for_unanswered, dispatch_uid="archive-letters-approved-after-end")
        post_save.connect(index_letter, sender=Letter, dispatch_uid="archive-index-letter")
