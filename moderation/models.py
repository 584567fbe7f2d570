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
    # "sensitive:<word>" for each review-list word found, "personal_data" for numbers and addresses.
    flags = models.JSONField(default=list, blank=True)
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="merged"
    )
    support_count = models.PositiveIntegerField(_("supports"), default=0)
    # Earlier questions of the programme that read alike: suggested duplicates for the moderator.
    similar = models.JSONField(default=list, blank=True)

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


WORDS_VERSION_KEY = "minxin:banned-words-version"


class WordLevel(models.TextChoices):
    BLOCK = "block", _("Block: the netizen is told the question cannot be accepted")
    REVIEW = "review", _("Review: flag the question for the moderator")


class BannedWordList(models.Model):
    name = models.CharField(_("name"), max_length=60, unique=True)
    level = models.CharField(_("level"), max_length=10, choices=WordLevel.choices)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("banned-word list")
        verbose_name_plural = _("banned-word lists")

    def __str__(self) -> str:
        return self.name


class BannedWord(models.Model):
    word_list = models.ForeignKey(BannedWordList, on_delete=models.CASCADE, related_name="words")
    word = models.CharField(_("word"), max_length=60)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["word_list", "word"], name="word_once_per_list")]
        verbose_name = _("banned word")
        verbose_name_plural = _("banned words")

    def __str__(self) -> str:
        return self.word


class ModerationAction(models.Model):
    """The audit trail: every moderator action with who, when, and the question before and after."""

    broadcast = models.ForeignKey(Broadcast, on_delete=models.CASCADE, related_name="moderation_actions")
    question = models.ForeignKey(
        Question, null=True, blank=True, on_delete=models.CASCADE, related_name="actions"
    )
    action = models.CharField(_("action"), max_length=20)
    by = models.CharField(_("by"), max_length=150)
    at = models.DateTimeField(_("at"))
    before = models.JSONField(_("before"), default=dict)
    after = models.JSONField(_("after"), default=dict)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("moderation action")
        verbose_name_plural = _("moderation actions")

    def __str__(self) -> str:
        return f"{self.by} {self.action} #{self.question_id}"


class Support(models.Model):
    """附议: one netizen supports one published question once."""

    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="supports")
    netizen_key = models.CharField(max_length=64)
    at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["question", "netizen_key"], name="support_once")]

    def __str__(self) -> str:
        return f"+1 #{self.question_id}"
