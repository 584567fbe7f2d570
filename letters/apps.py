from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LettersConfig(AppConfig):
    # Filled by the letter-module issue; the app exists so the layout is whole from the start.
    name = "letters"
    verbose_name = _("Letters")
