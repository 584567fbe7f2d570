"""The search index over exactly the expression the search asks for (issue #17).

0002 indexed `to_tsvector('simple', tokens)`, but Django's SearchVector asks for
`to_tsvector('simple'::regconfig, COALESCE(tokens, ''))`: PostgreSQL uses an expression index only
for the same expression, so every search read every row. This index is the queried expression
(bench/search.py shows both plans); `tokens` is never NULL, so COALESCE changes no result.
"""

from django.db import migrations

OLD = (
    "CREATE INDEX IF NOT EXISTS archive_transcriptentry_tokens_gin "
    "ON archive_transcriptentry USING gin (to_tsvector('simple', tokens))"
)
NEW = (
    "CREATE INDEX IF NOT EXISTS archive_transcriptentry_document_gin "
    "ON archive_transcriptentry USING gin (to_tsvector('simple'::regconfig, COALESCE(tokens, '')))"
)


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS archive_transcriptentry_tokens_gin")
        schema_editor.execute(NEW)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS archive_transcriptentry_document_gin")
        schema_editor.execute(OLD)


class Migration(migrations.Migration):
    dependencies = [("archive", "0004_mask_personal_data")]
    operations = [migrations.RunPython(forward, backward)]
