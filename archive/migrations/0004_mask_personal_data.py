"""Re-mask what is already public with the one masking rule of core/privacy.py.

Before it, nicknames were never masked, and numbers typed as 138.1234.5678, 1 3 8 … or 15-digit
ID numbers escaped the mask: they sit in stored question events (read by live catch-up, replay,
transcripts and the event API) and in the search index. Masking is idempotent, so running it over
text that is already masked changes nothing.
"""

from django.db import migrations

from core.privacy import mask_personal_data

BATCH = 2000


def mask_events(apps, schema_editor):
    Event = apps.get_model("studio", "Event")
    changed = []
    for event in Event.objects.filter(kind="question.published").iterator(chunk_size=BATCH):
        question = event.data.get("question") or {}
        masked = {name: mask_personal_data(question[name]) for name in ("text", "nickname") if name in question}
        if any(question[name] != value for name, value in masked.items()):
            event.data["question"] = {**question, **masked}
            changed.append(event)
        if len(changed) >= BATCH:
            Event.objects.bulk_update(changed, ["data"])
            changed = []
    Event.objects.bulk_update(changed, ["data"])


def mask_index(apps, schema_editor):
    TranscriptEntry = apps.get_model("archive", "TranscriptEntry")
    from archive.search import index_words  # jieba, loaded only when an entry needs new tokens

    changed = []
    for entry in TranscriptEntry.objects.iterator(chunk_size=BATCH):
        text = mask_personal_data(entry.text)
        if text != entry.text:
            entry.text, entry.tokens = text, " " + " ".join(index_words(text)) + " "
            changed.append(entry)
    TranscriptEntry.objects.bulk_update(changed, ["text", "tokens"], batch_size=BATCH)


class Migration(migrations.Migration):
    dependencies = [
        ("archive", "0003_clock_jobs"),
        ("studio", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(mask_events, migrations.RunPython.noop),
        migrations.RunPython(mask_index, migrations.RunPython.noop),
    ]
