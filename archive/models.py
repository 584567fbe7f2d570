"""What the archive keeps beside the live data: the letters questions became, and the search index."""

from django.db import models

from departments.models import Department
from letters.models import Letter
from moderation.models import Question
from studio.models import Broadcast


class QuestionLetter(models.Model):
    """件件有着落: an approved question the programme left unanswered, and the letter it became."""

    question = models.OneToOneField(Question, on_delete=models.CASCADE, related_name="letter_link")
    letter = models.OneToOneField(Letter, on_delete=models.PROTECT, related_name="question_link")

    def __str__(self) -> str:
        return f"question {self.question_id} → letter {self.letter_id}"


class TranscriptEntry(models.Model):
    """One searchable item of a programme's transcript (a question, an answer or a host message).

    `tokens` is the text cut into words by jieba and joined by spaces, so that PostgreSQL's plain
    full-text search (which cannot segment Chinese) and the SQLite fallback both match words.
    """

    broadcast = models.ForeignKey(Broadcast, on_delete=models.CASCADE, related_name="transcript_entries")
    department = models.ForeignKey(Department, on_delete=models.PROTECT)
    seq = models.PositiveIntegerField()
    kind = models.CharField(max_length=20)  # question, answer, host
    at = models.DateTimeField()
    text = models.TextField()  # plain text, as shown
    tokens = models.TextField()

    class Meta:
        # A question answered without being shown shares its answer's seq (see transcripts.transcript).
        constraints = [
            models.UniqueConstraint(fields=["broadcast", "seq", "kind"], name="transcript_entry_once")
        ]
        # `at` alone: the ranked search walks the newest matches of a very common word (search_index).
        indexes = [
            models.Index(fields=["department", "at"]),
            models.Index(fields=["at"], name="transcript_entry_at"),
        ]

    def __str__(self) -> str:
        return f"{self.broadcast_id}#{self.seq}"


class LetterEntry(models.Model):
    """A public letter as search finds it: what the public letter page shows of it (subject and body
    with personal data masked, and the reply), cut into words like a transcript entry.

    archive.search_letters keeps it on every save of the letter: present only while the letter is
    public and replied (or closed), rebuilt when its text changes, removed when it stops being public.
    On PostgreSQL both entry tables also hold `document`, a stored tsvector generated from `tokens`
    (migration 0006), which Django does not see as a field.
    """

    letter = models.OneToOneField(Letter, on_delete=models.CASCADE, related_name="search_entry")
    department = models.ForeignKey(Department, null=True, on_delete=models.PROTECT)
    at = models.DateTimeField()  # when it was replied to: what the public page orders by
    text = models.TextField()  # plain text, personal data masked, as shown
    tokens = models.TextField()

    class Meta:
        indexes = [
            models.Index(fields=["department", "at"]),
            models.Index(fields=["at"], name="letter_entry_at"),
        ]

    def __str__(self) -> str:
        return f"letter {self.letter_id}"


class ClockJob(models.Model):
    """When each of the clock's jobs last succeeded and last failed: the clock writes it, /metrics
    reads it (any web process, hence the database rather than a process's memory)."""

    name = models.CharField(max_length=50, primary_key=True)
    last_success_at = models.DateTimeField(null=True)
    last_failure_at = models.DateTimeField(null=True)
    last_error = models.CharField(max_length=100, blank=True)  # the exception's class only: no data
    failures_in_a_row = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return self.name
