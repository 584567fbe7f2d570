"""Automatic screening of a question before it reaches the moderators' queue.

Banned words are matched with one Aho–Corasick automaton (pyahocorasick) over a normalised copy of
the text, so that 10,000 words cost one pass, not 10,000 `in` tests. Normalisation undoes the usual
evasions: full-width forms and compatibility characters (NFKC), case, zero-width characters,
traditional characters (OpenCC t2s), and characters split apart by spaces or symbols; a word found
only across a clause break (，。！？…) is flagged for the moderator rather than blocked, because
"意见很大。麻烦…" is not "大麻" (see WordMatcher.match).

Personal data (mobile and landline numbers, resident ID numbers, bank cards, e-mail addresses, in
the shapes people type them) is flagged for the moderator by the same rule (core/privacy.py) that
masks it on every public surface.
"""

from __future__ import annotations

import threading
import unicodedata
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

import ahocorasick
import opencc

from core import privacy

BLOCK = "block"
REVIEW = "review"

_to_simplified = opencc.OpenCC("t2s")
_lock = threading.Lock()


def _is_noise(ch: str) -> bool:
    """Characters an evader puts between the characters of a word: spaces, punctuation, symbols, format."""
    category = unicodedata.category(ch)
    return category[0] in "ZPS" or category in ("Cf", "Cc")


# Marks that end a clause: a word "found" across one of them is more likely two words than an evasion.
CLAUSE_BREAKS = set("，。！？；：、,!?;:\n\r\t") | {"\u3000"}

# translate() tables for the Basic Multilingual Plane (built once; a few ms).
_NOISE = {code: None for code in range(0x10000) if _is_noise(chr(code))}
# Invisible characters (zero-width, format, controls) never separate two words, so they always go;
# line breaks and tabs stay, because they do.
_INVISIBLE = {
    code: None
    for code in range(0x10000)
    if unicodedata.category(chr(code)) in ("Cf", "Cc") and chr(code) not in "\n\t\r"
}


def normalize_light(text: str) -> str:
    """Full-width and case folded, traditional to simplified, invisible characters removed."""
    text = unicodedata.normalize("NFKC", text).casefold().translate(_INVISIBLE)
    return _to_simplified.convert(text)


def normalize(text: str) -> str:
    """The light form with spaces, punctuation and symbols removed too: how words are compared."""
    return normalize_light(text).translate(_NOISE)


@dataclass
class Screening:
    blocked: list[str] = field(default_factory=list)
    review: list[str] = field(default_factory=list)
    personal: list[str] = field(default_factory=list)  # kinds: mobile, landline, id_number, email

    @property
    def flags(self) -> list[str]:
        return [f"sensitive:{word}" for word in self.review] + (["personal_data"] if self.personal else [])


class WordMatcher:
    """An automaton over normalised banned words; each word maps to its level and original spelling."""

    def __init__(self, words: Iterable[tuple[str, str]]):
        self.automaton = ahocorasick.Automaton()
        count = 0
        for word, level in words:
            key = normalize(word)
            if not key:
                continue
            existing = self.automaton.get(key, None)
            # A word on both a block and a review list blocks.
            if existing is None or (level == BLOCK and existing[0] != BLOCK):
                self.automaton.add_word(key, (level, word, len(key)))
                count += 1
        self.size = count
        if count:
            self.automaton.make_automaton()

    def match(self, light: str) -> tuple[list[str], list[str]]:
        """Blocked and review words in text normalised with normalize_light.

        One automaton pass over the text with spaces and punctuation removed undoes 法 轮·功, but
        also joins clauses ("意见很大。麻烦…" reads "很大麻烦"). A block-list word found only across a
        clause break is flagged for review, not blocked: the moderator sees every question anyway,
        and a plain question is never refused.
        """
        blocked: list[str] = []
        review: list[str] = []
        if not self.size:
            return blocked, review
        loose = light.translate(_NOISE)
        positions: list[int] | None = None
        for end, (level, word, length) in self.automaton.iter(loose):
            if word in blocked or (word in review and level != BLOCK):
                continue
            if level == BLOCK and len(loose) != len(light):
                if positions is None:  # where each character of `loose` stands in `light`
                    positions = [
                        i for i, ch in enumerate(light) if ord(ch) >= 0x10000 or ord(ch) not in _NOISE
                    ]
                start = end - length + 1
                if set(light[positions[start] : positions[end] + 1]) & CLAUSE_BREAKS:
                    if word not in review:
                        review.append(word)
                    continue
            if level == BLOCK:
                if word in review:  # seen across a clause break before, and now plainly: it blocks
                    review.remove(word)
                blocked.append(word)
            else:
                review.append(word)
        return blocked, review


# --- personal data ---------------------------------------------------------------------------
# One rule for flagging and masking, shared with every public surface (core/privacy.py).
find_personal_data = privacy.find_personal_data
mask_personal_data = privacy.mask_personal_data
valid_id_number = privacy.valid_id_number


# --- the screener in use ---------------------------------------------------------------------

_matcher: WordMatcher | None = None
_matcher_version: object = None


def screen(text: str, matcher: WordMatcher) -> Screening:
    blocked, review = matcher.match(normalize_light(text))
    return Screening(blocked=blocked, review=review, personal=find_personal_data(text))


def current_matcher() -> WordMatcher:
    """The automaton of the banned words in the database, rebuilt when the lists change.

    The lists' version lives in the cache, so an edit in one process reaches every process.
    """
    global _matcher, _matcher_version
    from django.core.cache import cache

    from moderation.models import WORDS_VERSION_KEY, BannedWord

    try:
        version = cache.get(WORDS_VERSION_KEY)
        if version is None:  # the cache was emptied: nobody knows the version, so start a new one
            cache.add(WORDS_VERSION_KEY, uuid.uuid4().hex, timeout=None)
            version = cache.get(WORDS_VERSION_KEY)
    except Exception:  # the cache (Redis) is down: screen with the words this process has
        if _matcher is not None:
            return _matcher
        version = None
    if _matcher is None or version != _matcher_version:
        with _lock:
            words = BannedWord.objects.filter(word_list__active=True).values_list("word", "word_list__level")
            _matcher = WordMatcher(words)
            _matcher_version = version
    return _matcher


def words_changed() -> None:
    """Call after editing banned words: every process rebuilds its automaton on its next screening."""
    from django.core.cache import cache

    from moderation.models import WORDS_VERSION_KEY

    cache.set(WORDS_VERSION_KEY, uuid.uuid4().hex, timeout=None)


def bigrams(text: str) -> frozenset[str]:
    """Character pairs of the text with case, spaces and punctuation set aside.

    Deliberately lighter than normalize() (no NFKC, no OpenCC): suggesting duplicates compares a
    new question with hundreds of earlier ones, and this is what keeps that to microseconds each.
    """
    x = text.casefold().translate(_NOISE)
    return frozenset(x[i : i + 2] for i in range(len(x) - 1)) or frozenset([x])
