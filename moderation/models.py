"""Netizens' questions and what the moderators did with them."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from studio.models import Broadcast


class QuestionStatus(models.TextChoices):
    PENDING = "pending", _("Waiting for screening")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    ANSWERED = "answered", _("Answered")
    MERGED = "merged", _("Merged")


class Question(models.Model):
    broadcast = models.ForeignKey(Broadcast, on_delete=models.CASCADE, related_name="questions")
    client_id = models.CharField(max_length=64)
    text = models.TextField(_("text"), help_text=_("plain text, as moderated"))
    original_text = models.TextField(_("original text"), help_text=_("as the netizen wrote it"))
    nickname = models.CharField(_("nickname"), max_length=30)
    # Opaque id of the netizen's session (or connection); routes `my_question` frames.
    netizen_key = models.CharField(max_length=64, blank=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    asked_at = models.DateTimeField(_("asked at"))
    status = models.CharField(max_length=10, choices=QuestionStatus.choices, default=QuestionStatus.PENDING)
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    published_seq = models.PositiveIntegerField(null=True, blank=True)
    flags = models.JSONField(default=list, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["broadcast", "client_id"], name="question_client_id_unique")
        ]
        indexes = [models.Index(fields=["broadcast", "status"])]
        ordering = ["asked_at", "id"]
        verbose_name = _("question")
        verbose_name_plural = _("questions")

    def __str__(self) -> str:
        return self.text[:40]
