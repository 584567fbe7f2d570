"""Stored tsvectors for search, and public letters in search (issue #17).

Migration 0005's index was on an expression, so ranking recomputed `to_tsvector(tokens)` for every
matching row: a word in a quarter of the entries took 135–349 ms. Here each entry table gets
`document`, a tsvector generated from `tokens` and stored (PostgreSQL keeps it right on every
insert and update, bulk_create and raw SQL included, with nothing to remember in Python), with a
GIN index; search matches and ranks from it. SQLite has no tsvector and keeps its LIKE search.

Public letters get their own entries (archive.LetterEntry), filled here from the letters already
public and then kept by archive/search_letters.py on every save of a letter.
"""

import django.db.models.deletion
from django.db import migrations, models

VECTOR = "to_tsvector('simple'::regconfig, COALESCE(tokens, ''))"
TABLES = ("archive_transcriptentry", "archive_letterentry")
OLD_INDEX = (
    "CREATE INDEX IF NOT EXISTS archive_transcriptentry_document_gin "
    f"ON archive_transcriptentry USING gin ({VECTOR})"
)


def stored_vectors(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP INDEX IF EXISTS archive_transcriptentry_document_gin")
    for table in TABLES:
        schema_editor.execute(
            f"ALTER TABLE {table} ADD COLUMN document tsvector GENERATED ALWAYS AS ({VECTOR}) STORED"
        )
        # Kept in the row: a letter's text, words and vector together pass the 2 kB at which
        # PostgreSQL moves the largest value (the vector) out of line, and ranking then read it back
        # from TOAST for each match (a common word's letters: 18 ms, 3 ms with this).
        schema_editor.execute(f"ALTER TABLE {table} ALTER COLUMN document SET STORAGE MAIN")
        schema_editor.execute(f"CREATE INDEX {table}_stored_gin ON {table} USING gin (document)")


def expression_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"ALTER TABLE {table} DROP COLUMN IF EXISTS document")  # drops its index
    schema_editor.execute(OLD_INDEX)


def index_public_letters(apps, schema_editor):
    Letter = apps.get_model("letters", "Letter")
    LetterEntry = apps.get_model("archive", "LetterEntry")
    # The same functions the live index uses; they read plain fields only.
    from archive.search_index import tokens_of
    from archive.search_letters import VISIBLE, entry_fields

    batch = []
    for letter in Letter.objects.filter(public=True, status__in=VISIBLE).iterator(chunk_size=2000):
        fields = entry_fields(letter)
        batch.append(LetterEntry(letter_id=letter.pk, tokens=tokens_of(fields["text"]), **fields))
        if len(batch) == 2000:
            LetterEntry.objects.bulk_create(batch)
            batch = []
    LetterEntry.objects.bulk_create(batch)


class Migration(migrations.Migration):
    dependencies = [
        ("archive", "0005_search_index_as_queried"),
        ("departments", "0003_divisions"),
        ("letters", "0007_divisions_phone"),
    ]

    operations = [
        migrations.CreateModel(
            name="LetterEntry",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("at", models.DateTimeField()),
                ("text", models.TextField()),
                ("tokens", models.TextField()),
                (
                    "department",
                    models.ForeignKey(
                        null=True, on_delete=django.db.models.deletion.PROTECT, to="departments.department"
                    ),
                ),
                (
                    "letter",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE, related_name="search_entry", to="letters.letter"
                    ),
                ),
            ],
            options={
                "indexes": [
                    models.Index(fields=["department", "at"], name="archive_let_departm_90e421_idx"),
                    models.Index(fields=["at"], name="letter_entry_at"),
                ],
            },
        ),
        migrations.AddIndex(
            model_name="transcriptentry", index=models.Index(fields=["at"], name="transcript_entry_at")
        ),
        migrations.RunPython(stored_vectors, expression_index),
        migrations.RunPython(index_public_letters, migrations.RunPython.noop),
    ]
