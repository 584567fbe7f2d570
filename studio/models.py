"""Programmes (broadcasts), their guests, and the per-programme event log."""

import datetime as dt

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from departments.models import Department
from studio.streams import stream_kind, validate_stream_url


class BroadcastStatus(models.TextChoices):
    SCHEDULED = "scheduled", _("Scheduled")
    LIVE = "live", _("Live")
    ENDED = "ended", _("Ended")


class Broadcast(models.Model):
    number = models.PositiveIntegerField(_("number"), unique=True, help_text=_("第N期"))
    title = models.CharField(_("title"), max_length=200)
    summary = models.TextField(_("summary"), blank=True)
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="broadcasts")
    starts_at = models.DateTimeField(_("starts at"))
    planned_minutes = models.PositiveIntegerField(_("planned length (minutes)"), default=60)
    stream_url = models.CharField(
        _("video or audio stream URL"),
        max_length=500,
        blank=True,
        validators=[validate_stream_url],
        help_text=_(
            "HLS (.m3u8), MP4, WebM or audio (MP3, M4A, Ogg): a path on this site or a stream host's https URL."
        ),
    )
    status = models.CharField(
        max_length=10, choices=BroadcastStatus.choices, default=BroadcastStatus.SCHEDULED
    )
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    host = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="hosted"
    )
    moderators = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="moderated")
    # The highest seq in the event log. Appending locks this row, which makes seqs gap-free.
    last_seq = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["-starts_at"]
        verbose_name = _("programme")
        verbose_name_plural = _("programmes")

    def __str__(self) -> str:
        return f"第{self.number}期 {self.title}"

    @property
    def stream_kind(self) -> str:
        return stream_kind(self.stream_url)

    @property
    def takes_questions(self) -> bool:
        return self.status in (BroadcastStatus.SCHEDULED, BroadcastStatus.LIVE)


class Guest(models.Model):
    broadcast = models.ForeignKey(Broadcast, on_delete=models.CASCADE, related_name="guests")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="guest_spots")
    display_name = models.CharField(_("display name"), max_length=60)
    title = models.CharField(_("title"), max_length=100, blank=True)
    department = models.ForeignKey(Department, null=True, blank=True, on_delete=models.PROTECT)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["broadcast", "user"], name="one_guest_spot_per_user")]
        verbose_name = _("guest")
        verbose_name_plural = _("guests")

    def __str__(self) -> str:
        return f"{self.display_name} ({self.title})"


class EventKind(models.TextChoices):
    STATUS = "broadcast.status"
    QUESTION = "question.published"
    ANSWER = "answer.posted"
    HOST_MESSAGE = "host.message"
    WITHDRAWN = "withdrawn"


class Event(models.Model):
    """One public thing that happened in a programme. Append-only; `seq` is 1..N without gaps."""

    broadcast = models.ForeignKey(Broadcast, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveIntegerField()
    kind = models.CharField(max_length=30, choices=EventKind.choices)
    at = models.DateTimeField()
    data = models.JSONField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["broadcast", "seq"], name="event_seq_unique")]
        ordering = ["broadcast", "seq"]

    def __str__(self) -> str:
        return f"{self.broadcast_id}#{self.seq} {self.kind}"


class Answer(models.Model):
    broadcast = models.ForeignKey(Broadcast, on_delete=models.CASCADE, related_name="answers")
    question = models.ForeignKey(
        "moderation.Question", null=True, blank=True, on_delete=models.PROTECT, related_name="answers"
    )
    guest = models.ForeignKey(Guest, on_delete=models.PROTECT, related_name="answers")
    client_id = models.CharField(max_length=64)
    text = models.TextField(help_text=_("sanitized HTML"))
    answered_at = models.DateTimeField()
    seq = models.PositiveIntegerField(null=True, help_text=_("its answer.posted event"))
    # Answered by voice on air: `text` is the summary the host (acting as 导播) or the guest typed.
    on_air = models.BooleanField(_("answered by voice on air"), default=False)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["broadcast", "client_id"], name="answer_client_id_unique")
        ]

    def __str__(self) -> str:
        return f"{self.broadcast_id}#{self.seq} answer"


class HostMessage(models.Model):
    broadcast = models.ForeignKey(Broadcast, on_delete=models.CASCADE, related_name="host_messages")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    client_id = models.CharField(max_length=64)
    text = models.TextField(help_text=_("sanitized HTML"))
    posted_at = models.DateTimeField()
    seq = models.PositiveIntegerField(null=True, help_text=_("its host.message event"))

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["broadcast", "client_id"], name="host_message_client_id_unique")
        ]

    def __str__(self) -> str:
        return f"{self.broadcast_id}#{self.seq} host message"


def next_thursday_slot(now: dt.datetime) -> dt.datetime:
    """The programme's regular slot: the next Thursday at 14:30 local time (today if still ahead)."""
    local = now.astimezone()
    days_ahead = (3 - local.weekday()) % 7
    slot = (local + dt.timedelta(days=days_ahead)).replace(hour=14, minute=30, second=0, microsecond=0)
    if slot <= local:
        slot += dt.timedelta(days=7)
    return slot
