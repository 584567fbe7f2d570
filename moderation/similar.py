"""Similar-question hints for the moderators: each new question names up to five recent questions of
its programme that may ask the same thing (character bigrams, Jaccard similarity)."""

from collections import OrderedDict

from moderation import screening
from moderation.models import Question

SIMILAR_THRESHOLD = 0.5
SIMILAR_WINDOW = 300  # compare with this many recent questions of the programme

# Character bigrams of recent questions, by (id, text as asked): suggesting duplicates compares
# each new question with the programme's last SIMILAR_WINDOW, and those barely change from one
# batch to the next, so each question's bigrams are computed once per process, not once per ask.
# The text is part of the key so that a reused id (a restored database) never matches stale bigrams.
_bigrams: OrderedDict[tuple[int, str], frozenset[str]] = OrderedDict()
_BIGRAMS_KEPT = 20 * SIMILAR_WINDOW


def recent_bigrams(broadcast_id: int) -> list[tuple[int, frozenset[str]]]:
    """The programme's last SIMILAR_WINDOW questions, newest first, with their bigrams."""
    recent = []
    rows = (
        Question.objects.filter(broadcast_id=broadcast_id)
        .order_by("-id")
        .values_list("id", "original_text")[:SIMILAR_WINDOW]
    )
    for key in rows:
        grams = _bigrams.get(key)
        if grams is None:
            grams = _bigrams[key] = screening.bigrams(key[1])
        recent.append((key[0], grams))
    while len(_bigrams) > _BIGRAMS_KEPT:
        _bigrams.popitem(last=False)
    return recent


def similar_to(text: str, recent: list[tuple[int, frozenset[str]]]) -> list[int]:
    """Up to five recent questions whose bigrams' Jaccard similarity reaches SIMILAR_THRESHOLD.

    Jaccard = i / (a + b - i) for sizes a, b and intersection i, so it reaches t exactly when
    i * (1 + t) >= t * (a + b): one set operation per pair, none at all for a pair whose sizes
    alone rule it out (Jaccard is at most min(a, b) / max(a, b)).
    """
    mine = screening.bigrams(text)
    size, t = len(mine), SIMILAR_THRESHOLD
    found = []
    for qid, other in recent:
        other_size = len(other)
        if other_size < size * t or size < other_size * t:
            continue
        if len(mine & other) * (1 + t) >= t * (size + other_size):
            found.append(qid)
            if len(found) == 5:
                break
    return found


def similar_within(questions: list[Question]) -> None:
    """Questions stored in one batch are each other's likeliest duplicates (a burst about the same
    news): add the batch's earlier matches, newest first, to each question's hints."""
    if len(questions) < 2:
        return
    changed = []
    earlier: list[tuple[int, frozenset[str]]] = []
    for question in questions:
        if earlier:
            found = similar_to(question.original_text, earlier[::-1])
            if found:
                question.similar = (found + [q for q in question.similar if q not in found])[:5]
                changed.append(question)
        earlier.append((question.pk, screening.bigrams(question.original_text)))
    Question.objects.bulk_update(changed, ["similar"])
