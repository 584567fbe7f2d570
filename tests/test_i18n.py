"""The Chinese catalogue is complete and compiled: no string shows up in English to a Chinese reader."""

import gettext
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")


def po_entries() -> list[tuple[str, str, bool]]:
    """(msgid, msgstr, fuzzy) for every non-header entry; plural entries give their first form; an
    entry with a context (msgctxt) gives its msgid as gettext looks it up: "context\x04msgid"."""
    entries = []
    for block in PO.read_text(encoding="utf-8").split("\n\n"):
        msgid = re.search(r'^msgid ((?:".*"\n?)+)', block, re.M)
        if not msgid or "#~" in block:
            continue
        msgstr = re.search(r'^msgstr(?:\[0\])? ((?:".*"\n?)+)', block, re.M)
        join = lambda found: "".join(re.findall(r'"(.*)"', found.group(1))) if found else ""  # noqa: E731
        text = join(msgid).replace('\\"', '"')
        context = re.search(r'^msgctxt ((?:".*"\n?)+)', block, re.M)
        if text and context:
            text = join(context) + "\x04" + text
        if text:
            entries.append((text, join(msgstr).replace('\\"', '"'), "fuzzy" in block.split("msgid")[0]))
    return entries


def test_every_chinese_message_is_translated_and_none_is_fuzzy():
    entries = po_entries()
    assert len(entries) > 150
    untranslated = [msgid for msgid, msgstr, fuzzy in entries if not msgstr or fuzzy]
    assert untranslated == []


def test_the_compiled_catalogue_matches_the_source():
    compiled = gettext.GNUTranslations(MO.open("rb"))
    stale = [
        msgid for msgid, msgstr, _ in po_entries() if "\\n" not in msgid and compiled.gettext(msgid) != msgstr
    ]
    assert stale == [], "run: python manage.py compilemessages --ignore=.venv"


def test_pages_speak_chinese_first_and_english_on_request(client, registry):
    chinese = client.get("/").content.decode()
    assert "政风行风热线" in chinese and 'lang="zh-hans"' in chinese
    english = client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Government hotline" in english and 'lang="en"' in english
