"""A corpus of personal data in the forms people really type, and a checker that finds any of it
in a page, an export or a log however it was re-spaced, escaped or rendered.

Each entry is (kind, as typed, the bare digits or address that must never be readable).
"""

import html
import json
import re

# Bank cards and ID numbers here pass their checksums (Luhn, GB 11643), as real ones do.
CORPUS: list[tuple[str, str, str]] = [
    ("mobile", "13812345678", "13812345678"),
    ("mobile", "139 1234 5678", "13912345678"),
    ("mobile", "137-2345-6789", "13723456789"),
    ("mobile", "136.3456.7890", "13634567890"),
    ("mobile", "+86 135 4567 8901", "13545678901"),
    ("mobile", "+8615056789012", "15056789012"),
    ("mobile", "１５１６７８９０１２３", "15167890123"),
    ("mobile", "1 5 2 7 8 9 0 1 2 3 4", "15278901234"),
    ("mobile", "一五三八九〇一二三四五", "15389012345"),
    ("landline", "010-62345678", "01062345678"),
    ("landline", "(0755) 8765 4321", "075587654321"),
    ("landline", "０２１－５４３２１０９８", "02154321098"),
    ("id_number", "11010519491231002X", "11010519491231002X"),
    ("id_number", "110101 19900307 4514", "110101199003074514"),
    ("id_number", "110105491231002", "110105491231002"),
    ("email", "zhang.san+bus@example.com.cn", "zhang.san+bus@example.com.cn"),
    ("email", "ｌｉｓｉ＠ｅｘａｍｐｌｅ．ｏｒｇ", "lisi@example.org"),
    ("bank_card", "6222 0212 3456 7890 128", "6222021234567890128"),
    ("bank_card", "4111111111111111", "4111111111111111"),
]

_ASCII = str.maketrans(
    {chr(code): chr(code - 0xFEE0) for code in range(0xFF01, 0xFF5F)}
    | dict(zip("〇零一二三四五六七八九", "00123456789", strict=True))
    | {"\u3000": " "}
)
_SEPARATORS = r"[\s\-./_()（）*]{0,3}"  # how a page may re-space a number; never across a mask's stars


def _pattern(secret: str) -> re.Pattern[str]:
    if "@" in secret:
        return re.compile(re.escape(secret), re.IGNORECASE)
    # The digits in order, with separators allowed between them (but no stars: 138****5678 is
    # masked, and the stars are what hides the middle).
    return re.compile(r"[\s\-./_()]{0,3}".join(re.escape(ch) for ch in secret), re.IGNORECASE)


PATTERNS = [(secret, _pattern(secret)) for _kind, _typed, secret in CORPUS]


def readable(body: str) -> str:
    """A response as a person or a program could read it: HTML entities and JSON escapes undone,
    full-width characters and Chinese numerals as ASCII."""
    text = html.unescape(body)
    if "\\u" in text:
        try:
            text += "\n" + json.dumps(json.loads(text), ensure_ascii=False)
        except ValueError:
            pass
    return text.translate(_ASCII)


def leaks(body: str) -> list[str]:
    """The secrets of the corpus that can be read in `body`."""
    text = readable(body)
    return [secret for secret, pattern in PATTERNS if pattern.search(text)]
