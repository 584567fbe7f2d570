"""A GIN index over the stored words, on PostgreSQL only (SQLite searches with LIKE)."""

from django.db import migrations

CREATE = (
    "CREATE INDEX IF NOT EXISTS archive_transcriptentry_tokens_gin "
    "ON archive_transcriptentry USING gin (to_tsvector('simple', tokens))"
)
DROP = "DROP INDEX IF EXISTS archive_transcriptentry_tokens_gin"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("archive", "0001_initial")]
    operations = [migrations.RunPython(create, drop)]
