"""What user text may look like once it is shown: escaped plain text, or a small safe HTML subset."""

import html
import re
import unicodedata
from collections.abc import MutableMapping

import bleach

RICH_TAGS = ["p", "br", "b", "strong", "ul", "ol", "li", "a"]
RICH_ATTRIBUTES = {"a": ["href", "rel"]}
RICH_PROTOCOLS = ["http", "https", "mailto"]


def clean_plain(text: str) -> str:
    """Trim and drop control characters (keeping line breaks); the result is stored as plain text."""
    kept = [ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C" or ch == "\u200d"]
    return "".join(kept).strip()


def plain_to_html(text: str) -> str:
    """Plain text as HTML that shows exactly that text."""
    return html.escape(text, quote=True).replace("\n", "<br>")


def _rel_nofollow_noopener(
    attrs: MutableMapping[tuple[str | None, str], str], new: bool = False
) -> MutableMapping[tuple[str | None, str], str]:
    attrs[(None, "rel")] = "nofollow noopener"
    return attrs


# Links in answers: bleach's default pattern starts a match at a word boundary, and to it a Chinese
# character is a word character, so "详情见https://…" lost its scheme and the link ran on into the
# Chinese text after it. A URL here is ASCII only and starts after anything but a letter or digit.
URL_RE = re.compile(
    r"(?<![A-Za-z0-9])(?:https?://|www\.)[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+", re.IGNORECASE
)
_LINKER = bleach.linkifier.Linker(url_re=URL_RE, callbacks=[_rel_nofollow_noopener], parse_email=False)


def clean_rich(text: str) -> str:
    """A guest's answer or a host's message: paragraphs, breaks, bold, lists and safe links only."""
    text = clean_plain(text)
    if "<" not in text:  # typed plain text: keep its line breaks
        text = text.replace("\n", "<br>")
    cleaned = bleach.clean(
        text, tags=RICH_TAGS, attributes=RICH_ATTRIBUTES, protocols=RICH_PROTOCOLS, strip=True
    )
    return _LINKER.linkify(cleaned)
