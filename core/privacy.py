"""The one masking rule for what a citizen wrote: phone numbers, ID numbers, bank cards and e-mail.

Every public surface shows a netizen's text through this module (each app's own "public text" of
what it stores: a question's, a nickname's, a letter's), and the screener flags the same findings
for the moderator, so that what is flagged and what is masked cannot drift apart.

People type numbers in many shapes: 13812345678, 138-1234-5678, 138.1234.5678, +86 138 1234 5678,
1 3 8 0 0 1 3 8 0 0 0, full-width digits, 一三八… in Chinese numerals, (010) 1234 5678,
ID numbers of 18 characters (ending in X) and of 15 digits (the first generation), bank cards in
groups of four. So the rule finds *runs* of digits that may be split by a few separators, reads the
digits alone, and decides what the run is; staff replies that name a hotline (12345) or a short
number are left alone, since a run is masked only when it is one of those kinds.
"""

import re

_ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
_ID_CHECK = "10X98765432"

# Full-width digits, letters and marks, and Chinese numerals, mapped one character to one
# character, so that positions found in the mapped text are positions in the original.
_TO_ASCII = {chr(code): chr(code - 0xFEE0) for code in range(0xFF01, 0xFF5F)}
_TO_ASCII.update(zip("〇零一二三四五六七八九", "00123456789", strict=True))
_TO_ASCII.update({"\u3000": " ", "（": "(", "）": ")", "—": "-", "－": "-", "·": "."})
_TRANSLATE = str.maketrans(_TO_ASCII)

# A run: digits with at most three separators between any two (space, dash, dot, slash, underscore,
# brackets), an optional leading "+", and an optional final X (an ID number's check character).
_SEP = r"[ \t\-./_()]{0,3}"
_RUN = re.compile(rf"\+?\d(?:{_SEP}\d)*(?:{_SEP}[Xx])?")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_NOT_DIGIT = re.compile(r"[^0-9Xx]")

_MOBILE = re.compile(r"(?:0{0,2}86)?1[3-9]\d{9}")
_MOBILE_INSIDE = re.compile(r"1[3-9]\d{9}")
_LANDLINE = re.compile(r"0[1-9]\d{8,10}")  # area code (3–4 digits with the 0) + 7–8 digits
_ID_18 = re.compile(r"[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx]")
_ID_15 = re.compile(r"[1-9]\d{5}\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}")

KINDS = ("bank_card", "email", "id_number", "landline", "mobile")


def valid_id_number(number: str) -> bool:
    """GB 11643: the 18th character is a checksum of the first 17 digits."""
    total = sum(int(digit) * weight for digit, weight in zip(number[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == number[17].upper()


def _luhn(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _kind_of_run(digits: str, separated: bool) -> str | None:
    """What a run of digits is, read as digits alone; None when it is none of the kinds."""
    if len(digits) == 18 and _ID_18.fullmatch(digits) and valid_id_number(digits):
        return "id_number"
    if not digits.isdigit():
        return None  # an X anywhere but at the end of a valid ID number
    if len(digits) == 15 and _ID_15.fullmatch(digits):
        return "id_number"
    if _MOBILE.fullmatch(digits):
        return "mobile"
    if _LANDLINE.fullmatch(digits):
        return "landline"
    if 16 <= len(digits) <= 19 and _luhn(digits):
        return "bank_card"
    if separated and len(digits) > 11:
        # Numbers typed one after another with spaces ("13812345678 13912345678", "2026 138…"):
        # the run is masked whole when a mobile or ID number stands inside it.
        if _MOBILE_INSIDE.search(digits):
            return "mobile"
        for start in range(len(digits) - 17):
            window = digits[start : start + 18]
            if _ID_18.fullmatch(window) and valid_id_number(window):
                return "id_number"
    return None


def personal_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, kind) of each piece of personal data in the text, in order, never overlapping."""
    mapped = text.translate(_TRANSLATE)
    spans: list[tuple[int, int, str]] = []
    if "@" in mapped:
        spans += [(m.start(), m.end(), "email") for m in _EMAIL.finditer(mapped)]
    for run in _RUN.finditer(mapped):
        found = run.group()
        digits = _NOT_DIGIT.sub("", found)
        if len(digits) < 10:
            continue  # shorter than any kind: dates, amounts, hotlines (12345), room numbers
        kind = _kind_of_run(digits, separated=len(digits) != len(found))
        if kind and not any(run.start() < end and start < run.end() for start, end, _ in spans):
            spans.append((run.start(), run.end(), kind))
    return sorted(spans)


def find_personal_data(text: str) -> list[str]:
    """The kinds of personal data in a text (for the moderator's flag), sorted."""
    return sorted({kind for _s, _e, kind in personal_spans(text)})


def strip_personal_data(text: str) -> str:
    """The text with each piece of personal data replaced by a space (for counting words)."""
    out, last = [], 0
    for start, end, _kind in personal_spans(text):
        out += [text[last:start], " "]
        last = end
    out.append(text[last:])
    return "".join(out)


def mask_personal_data(text: str) -> str:
    """The text with personal data replaced by asterisks, keeping a hint of its shape: a number's
    first three and last two characters, an e-mail address's first letter."""
    if not text:
        return text
    out, last = [], 0
    for start, end, kind in personal_spans(text):
        found = text[start:end]
        out.append(text[last:start])
        if kind == "email":
            out.append(found[0] + "***@***")
        else:
            out.append(found[:3] + "*" * max(len(found) - 5, 3) + found[-2:])
        last = end
    out.append(text[last:])
    return "".join(out)
