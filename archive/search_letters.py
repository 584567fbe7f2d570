"""Public letters in search (issue #17): indexed as the public letter page shows them.

A letter is found only while it is public and replied (or closed) — what /letters/public/ lists.
Its entry holds the subject and body and the reply as plain text with the one masking rule of
core/privacy.py applied to all of it: masked before it is cut into words, so that a citizen's phone,
ID number or e-mail is neither shown in a snippet nor a way to find the letter. The entry follows
every save of the letter (a post_save receiver connected in archive/apps.py: letters knows nothing
of search); at query time the letter's own row is checked again, so a letter that stopped being
public by any path is never shown.
"""

from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from archive.models import LetterEntry
from archive.search_index import as_lookups, filters_of, like_page, ranked_rows, snippet, tokens_of
from archive.transcripts import plain_text
from core.privacy import mask_personal_data
from letters.models import Letter, LetterStatus

VISIBLE = (LetterStatus.REPLIED, LetterStatus.CLOSED)
# A save that touches only other fields (a light, a rating) leaves the entry as it is.
INDEXED_FIELDS = {"subject", "body", "reply", "public", "status", "department", "replied_at", "submitted_at"}


def is_public(letter: Any) -> bool:
    return bool(letter.public) and letter.status in VISIBLE


def public_text(subject: str, body: str, reply: str) -> str:
    """Subject, body and reply as plain text, personal data masked. The public page shows the reply
    unmasked (staff text may name a hotline); search masks it too, since a mask keeps hotlines
    (12345) and short numbers, and a citizen's number quoted in a reply must not find the letter."""
    parts = [subject, body, plain_text(reply) if reply else ""]
    return "\n".join(mask_personal_data(part) for part in parts if part)


def entry_fields(letter: Any) -> dict[str, Any]:
    text = public_text(letter.subject, letter.body, letter.reply)
    return {
        "department_id": letter.department_id,
        "at": letter.replied_at or letter.closed_at or letter.submitted_at,
        "text": text,
    }


def index_letter(
    sender: Any, instance: Letter, raw: bool = False, update_fields: Any = None, **kwargs: Any
) -> None:
    """post_save of a Letter: add, rebuild or drop its entry."""
    if raw or (update_fields is not None and not INDEXED_FIELDS & set(update_fields)):
        return
    if not is_public(instance):
        LetterEntry.objects.filter(letter_id=instance.pk).delete()
        return
    fields = entry_fields(instance)
    entry = LetterEntry.objects.filter(letter_id=instance.pk).first()
    if entry is None:
        LetterEntry.objects.create(letter_id=instance.pk, tokens=tokens_of(fields["text"]), **fields)
    elif (entry.text, entry.at, entry.department_id) != (
        fields["text"],
        fields["at"],
        fields["department_id"],
    ):
        if entry.text != fields["text"]:
            fields["tokens"] = tokens_of(fields["text"])  # jieba only when the words changed
        LetterEntry.objects.filter(pk=entry.pk).update(**fields)


def reindex_letters() -> int:
    """Rebuild every public letter's entry (`manage.py reindex`)."""
    entries = []
    for letter in Letter.objects.filter(public=True, status__in=VISIBLE).iterator(chunk_size=2000):
        fields = entry_fields(letter)
        entries.append(LetterEntry(letter_id=letter.pk, tokens=tokens_of(fields["text"]), **fields))
    with transaction.atomic():
        LetterEntry.objects.all().delete()
        LetterEntry.objects.bulk_create(entries, batch_size=2000)
    return len(entries)


LETTER_COLUMNS = "l.code, l.kind, l.subject, d.code, d.name, e.at, e.text"
# The letter's own row decides, whatever the entry says: a letter that stopped being public by a
# path that did not save it (an update() of many rows) is never shown.
LETTER_JOINS = (
    "JOIN letters_letter l ON l.id = e.letter_id AND l.public AND l.status IN "
    + "("
    + ", ".join(f"'{status}'" for status in VISIBLE)
    + ")"
    " LEFT JOIN departments_department d ON d.id = e.department_id"
)


def letter_results(
    words: list[str], department_id: int | None, start: Any, end: Any, limit: int, offset: int
) -> list[dict]:
    """One page of public letters holding every word, best first (one more than `limit` if there
    is a next page)."""
    rows: list[tuple]
    if connection.vendor == "postgresql":
        filters = filters_of(department_id, start, end)
        table = LetterEntry._meta.db_table
        rows = ranked_rows(table, LETTER_COLUMNS, LETTER_JOINS, words, filters, limit + 1, offset)
    else:
        found = LetterEntry.objects.select_related("letter", "department").filter(
            letter__public=True,
            letter__status__in=VISIBLE,
            **as_lookups(filters_of(department_id, start, end)),
        )
        rows = [
            (e.letter.code, e.letter.kind, e.letter.subject)
            + ((e.department.code, e.department.name) if e.department else (None, None))
            + (e.at, e.text)
            for e in like_page(found, words, limit + 1, offset)
        ]
    return [
        {
            "code": letter_code,
            "kind": kind,
            "subject": mask_personal_data(subject),  # as Letter.public_subject
            "department": {"code": code, "name": name} if code else None,
            "at": timezone.localtime(at).isoformat(timespec="seconds"),
            "snippet": snippet(text, words),
        }
        for letter_code, kind, subject, code, name, at, text in rows
    ]
