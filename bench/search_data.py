"""Generated data for bench/search.py: a year of transcripts and letters, words drawn from jieba's
dictionary with the frequencies of real text (a Zipf law), so that common words match most entries
and rare words a few. Letters are written straight to the tables (bulk_create, no post_save) with
their search entries built as archive/search_letters.py builds them, minus jieba: the text is
already words."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

BENCH_TITLE = "bench-search "
BENCH_CODE = "BS"  # letter codes: BS00000001…
BATCH = 5000


def vocabulary(size: int) -> list[str]:
    """The `size` most frequent words of jieba's dictionary, most frequent first."""
    import jieba

    rows = []
    with open(Path(jieba.__file__).parent / "dict.txt", encoding="utf-8") as words:
        for line in words:
            word, count = line.split()[:2]
            if len(word) >= 2:  # single characters are mostly particles the search drops
                rows.append((int(count), word))
    rows.sort(reverse=True)
    return [word for _count, word in rows[:size]]


class Words:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.words = vocabulary(5000)
        self.weights = [1 / (rank + 1) for rank in range(len(self.words))]  # the n-th word 1/n as often

    def draw(self, low: int, high: int) -> list[str]:
        return self.rng.choices(self.words, self.weights, k=self.rng.randint(low, high))


def fill_transcripts(words: Words, entries: int, programmes: int) -> None:
    from archive.models import TranscriptEntry
    from departments.models import Department
    from studio.models import Broadcast

    departments = list(Department.objects.all()[:36])
    TranscriptEntry.objects.all().delete()
    Broadcast.objects.filter(title__startswith=BENCH_TITLE).delete()
    start = dt.datetime(2026, 1, 8, 6, tzinfo=dt.UTC)
    made = [
        Broadcast.objects.create(
            number=10_000 + n,
            title=f"{BENCH_TITLE}{n}",
            department=departments[n % len(departments)],
            starts_at=start + dt.timedelta(weeks=n),
            status="ended",
        )
        for n in range(programmes)
    ]
    batch: list[Any] = []
    for i in range(entries):
        broadcast = made[i % programmes]
        chosen = words.draw(6, 30)
        batch.append(
            TranscriptEntry(
                broadcast=broadcast,
                department_id=broadcast.department_id,
                seq=i // programmes + 1,
                kind=("question", "answer", "host")[i % 3],
                at=broadcast.starts_at + dt.timedelta(seconds=i // programmes),
                text="".join(chosen),
                tokens=" " + " ".join(chosen) + " ",
            )
        )
        if len(batch) == BATCH:
            TranscriptEntry.objects.bulk_create(batch)
            batch = []
    TranscriptEntry.objects.bulk_create(batch)


def fill_letters(words: Words, letters: int, public_share: float, replied_share: float) -> int:
    """`letters` letters over 2026, `public_share` of them public and `replied_share` replied (or
    closed); the visible ones (both) get search entries. Returns how many are visible."""
    from archive.models import LetterEntry
    from departments.models import Department
    from letters.models import Letter

    departments = list(Department.objects.all())
    LetterEntry.objects.all().delete()
    Letter.objects.filter(code__startswith=BENCH_CODE).delete()
    start = dt.datetime(2026, 1, 1, 1, tzinfo=dt.UTC)
    rng = words.rng
    visible = 0
    for first in range(0, letters, BATCH):
        batch = []
        for n in range(first, min(first + BATCH, letters)):
            subject, body, reply = words.draw(2, 6), words.draw(30, 150), words.draw(15, 60)
            submitted = start + dt.timedelta(minutes=n * 11)  # 46,510 letters ≈ one year
            replied = rng.random() < replied_share
            batch.append(
                Letter(
                    code=f"{BENCH_CODE}{n:08d}",
                    key_hash="x",
                    kind="consultation",
                    subject="".join(subject)[:100],
                    body="".join(body),
                    name="网友",
                    contact="",
                    public=rng.random() < public_share,
                    status=rng.choice(["replied", "closed"])
                    if replied
                    else rng.choice(["forwarded", "signed"]),
                    department=departments[n % len(departments)],
                    submitted_at=submitted,
                    replied_at=submitted + dt.timedelta(days=5) if replied else None,
                    reply="".join(reply) if replied else "",
                )
            )
            batch[-1].words = subject + body + (reply if replied else [])  # type: ignore[attr-defined]
        made = Letter.objects.bulk_create(batch)
        entries = [
            LetterEntry(
                letter_id=letter.pk,
                department_id=letter.department_id,
                at=letter.replied_at or letter.submitted_at,
                text="\n".join(part for part in (letter.subject, letter.body, letter.reply) if part),
                tokens=" " + " ".join(letter.words) + " ",  # type: ignore[attr-defined]
            )
            for letter in made
            if letter.public and letter.status in ("replied", "closed")
        ]
        LetterEntry.objects.bulk_create(entries)
        visible += len(entries)
    return visible
