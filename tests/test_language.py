"""Language: Simplified Chinese first, English complete, a switcher on every page, local dates.

A reader's browser picks the language (Accept-Language; none, or one the site lacks, gives Chinese);
the switcher in the page header (Django's /i18n/setlang/) overrides it for that reader with a
cookie that holds on every page, logged in or not; and dates print in the reader's convention
(2026年11月26日 14:30, or Nov. 26, 2026, 2:30 p.m.), never as ISO strings.
"""

import datetime as dt
import gettext
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.test import Client

from tests.conftest import make_broadcast

ROOT = Path(__file__).resolve().parent.parent
ZH_PO = ROOT / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
EN_MO = ROOT / "locale" / "en" / "LC_MESSAGES" / "django.mo"
CJK = re.compile(r"[\u3400-\u9fff\uff01-\uff5e\u3000-\u303f]")
STARTS = dt.datetime(2026, 11, 26, 14, 30, tzinfo=ZoneInfo("Asia/Shanghai"))


class Page(HTMLParser):
    """The visible text of a page and its language-switcher forms."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.text: list[str] = []
        self.switchers: list[dict] = []
        self._skip = 0
        self._form: dict | None = None
        self._button: dict | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if tag in ("script", "style"):
            self._skip += 1
        if tag == "form" and a.get("action") == "/i18n/setlang/":
            self._form = {"method": a.get("method"), "inputs": {}, "buttons": []}
            self.switchers.append(self._form)
        elif self._form is not None and tag == "input":
            self._form["inputs"][a.get("name")] = a.get("value")
        elif self._form is not None and tag == "button":
            self._button = {**a, "text": ""}
            self._form["buttons"].append(self._button)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1
        elif tag == "form":
            self._form = None
        elif tag == "button":
            self._button = None

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.text.append(data)
        if self._button is not None:
            self._button["text"] += data.strip()

    @property
    def visible(self) -> str:
        return " ".join(" ".join(self.text).split())


@pytest.fixture
def site(personas):
    """A live programme starting 2026-11-26 14:30 Beijing time, an ended one with a transcript."""
    from studio.models import Broadcast
    from studio.services import post_answer

    live = make_broadcast("jtw", personas["host"], [personas["guest"]], status="live")
    ended = make_broadcast(
        "swj", personas["host"], [personas["other_guest"]], status="live", title="汛期排水"
    )
    post_answer(ended.pk, personas["other_guest"], "lang-1", None, "今年新建雨水泵站三座。")
    Broadcast.objects.filter(pk=ended.pk).update(status="ended")
    Broadcast.objects.filter(pk__in=[live.pk, ended.pk]).update(starts_at=STARTS)
    return {"live": live.pk, "ended": ended.pk}


def public_pages(site) -> list[str]:
    return [
        "/",
        f"/live/{site['live']}/",
        f"/replay/{site['ended']}/",
        f"/transcript/{site['ended']}/",
        "/search/",
        "/search/?q=" + quote("泵站"),  # as a browser sends it
        "/stats/",
        "/letters/",
        "/letters/write/",
        "/letters/track/",
        "/letters/scoreboard/",
        "/accounts/login/",
    ]


def staff_pages(site, personas) -> list[tuple[object, str]]:
    return [
        (personas["guest"], f"/studio/{site['live']}/"),
        (personas["host"], f"/studio/{site['live']}/"),
        (personas["moderator"], f"/moderate/{site['live']}/"),
        (personas["operator"], "/letters/operator/"),
        (personas["handler_a"], "/letters/handler/"),
        (personas["supervisor"], "/letters/supervisor/"),
    ]


def get(client: Client, path: str, **headers) -> Page:
    response = client.get(path, **headers)
    assert response.status_code == 200, (path, response.status_code)
    return Page(response.content.decode())


def chinese_translations() -> set[str]:
    """Every Chinese msgstr of the catalogue that could only come from it (a few characters at least)."""
    found = set(re.findall(r'^msgstr(?:\[\d\])? "(.+)"$', ZH_PO.read_text(encoding="utf-8"), re.M))
    return {s for s in found if len(CJK.findall(s)) >= 3 and "%" not in s and "{" not in s}


def test_the_browser_language_picks_the_page_language_and_chinese_is_the_default(client, site, personas):
    for path in public_pages(site):
        for accept, lang in (
            ("zh-CN,zh;q=0.9", "zh-hans"),
            ("", "zh-hans"),
            ("fr-FR", "zh-hans"),
            ("en-US,en", "en"),
        ):
            html = client.get(path, HTTP_ACCEPT_LANGUAGE=accept).content.decode()
            assert f'<html lang="{lang}"' in html, (path, accept)
    assert "留言板" in get(client, "/letters/").visible
    assert "Letters" in get(client, "/letters/", HTTP_ACCEPT_LANGUAGE="en").visible


def test_english_pages_show_no_chinese_from_the_catalogue_and_chinese_pages_no_untranslated_english(
    client, site, personas
):
    """English is complete: nothing of the interface falls back to Chinese. (Data — department
    names, titles, questions — stays as written.)"""
    translations = chinese_translations()
    assert len(translations) > 100
    pages = [(None, p) for p in public_pages(site)] + staff_pages(site, personas)
    for user, path in pages:
        client.logout()
        if user is not None:
            client.force_login(user)
        english = client.get(path, HTTP_ACCEPT_LANGUAGE="en").content.decode()
        leaked = sorted(s for s in translations if s in english)
        assert leaked == [], f"{path} in English shows {leaked}"
        chinese = client.get(path, HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
        assert any(s in chinese for s in translations), path  # the same page in Chinese does show them
        for phrase in ("Skip to content", "Log out" if user else "Staff login", "Search"):
            assert f">{phrase}<" not in chinese, (path, phrase)


def test_the_english_catalogue_has_an_english_word_for_every_message_whose_source_is_chinese():
    """The few messages written in Chinese in the source (admin help texts) need an English msgstr."""
    compiled = gettext.GNUTranslations(EN_MO.open("rb"))
    chinese_sources = [
        m for m in re.findall(r'^msgid "(.+)"$', ZH_PO.read_text(encoding="utf-8"), re.M) if CJK.search(m)
    ]
    assert chinese_sources, "expected the admin's Chinese help texts"
    untranslated = [m for m in chinese_sources if compiled.gettext(m) == m or CJK.search(compiled.gettext(m))]
    assert untranslated == []


def test_every_page_offers_a_labelled_keyboard_usable_language_switcher(client, site, personas):
    pages = [(None, p) for p in public_pages(site)] + staff_pages(site, personas)
    for user, path in pages:
        client.logout()
        if user is not None:
            client.force_login(user)
        for accept, other, label in (("zh-CN", "en", "English"), ("en", "zh-hans", "中文")):
            page = get(client, path, HTTP_ACCEPT_LANGUAGE=accept)
            assert len(page.switchers) == 1, (path, page.switchers)
            form = page.switchers[0]
            # The token is in the form, except on the live page a netizen gets, which is the same for
            # everyone (a shared cache may keep it): its script fills it in from the CSRF cookie when
            # the form is sent (tests/test_browser_viewer.py switches language there in Chromium).
            shared = user is None and path.startswith("/live/")
            assert form["method"] == "post" and "csrfmiddlewaretoken" in form["inputs"]
            assert bool(form["inputs"]["csrfmiddlewaretoken"]) is not shared, path
            assert form["inputs"]["next"] == path
            # A real <button> (focusable, Enter and Space press it) named in the language it offers.
            [button] = form["buttons"]
            assert (button["name"], button["value"], button["lang"], button["text"]) == (
                "language",
                other,
                other,
                label,
            ), path


def test_a_reader_switches_language_with_the_switcher_and_the_choice_holds_on_every_page(site, personas):
    reader = Client(enforce_csrf_checks=True)
    first = reader.get("/letters/", HTTP_ACCEPT_LANGUAGE="zh-CN")
    token = Page(first.content.decode()).switchers[0]["inputs"]["csrfmiddlewaretoken"]
    switched = reader.post(
        "/i18n/setlang/", {"language": "en", "next": "/letters/", "csrfmiddlewaretoken": token}
    )
    assert (switched.status_code, switched["Location"]) == (302, "/letters/")
    assert reader.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    # Every page now speaks English to this reader, whatever the browser asks for.
    for path in public_pages(site):
        html = reader.get(path, HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9").content.decode()
        assert '<html lang="en"' in html, path
    # It survives logging in (the session is renewed, the cookie stays) and holds on staff pages.
    reader.force_login(personas["moderator"])
    assert (
        '<html lang="en"'
        in reader.get(f"/moderate/{site['live']}/", HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    )
    # And back to Chinese, even for a browser that asks for English.
    token = Page(reader.get("/stats/").content.decode()).switchers[0]["inputs"]["csrfmiddlewaretoken"]
    reader.post("/i18n/setlang/", {"language": "zh-hans", "next": "/stats/", "csrfmiddlewaretoken": token})
    for path in ("/", "/stats/", f"/moderate/{site['live']}/"):
        html = reader.get(path, HTTP_ACCEPT_LANGUAGE="en").content.decode()
        assert '<html lang="zh-hans"' in html, path
    # Another reader is not affected.
    assert '<html lang="zh-hans"' in Client().get("/").content.decode()


def test_dates_and_times_print_in_the_readers_convention_not_as_iso(client, site, personas):
    chinese_when, english_when = "2026年11月26日 14:30", "Nov. 26, 2026, 2:30 p.m."
    dated = ["/", f"/live/{site['live']}/", f"/replay/{site['ended']}/", f"/transcript/{site['ended']}/"]
    for path in dated:
        assert chinese_when in get(client, path, HTTP_ACCEPT_LANGUAGE="zh-CN").visible, path
        assert english_when in get(client, path, HTTP_ACCEPT_LANGUAGE="en").visible, path
    iso = re.compile(r"\d{4}-\d{2}-\d{2}(T|\s\d)")
    pages = [(None, p) for p in public_pages(site)] + staff_pages(site, personas)
    for user, path in pages:
        client.logout()
        if user is not None:
            client.force_login(user)
        for accept in ("zh-CN", "en"):
            text = get(client, path, HTTP_ACCEPT_LANGUAGE=accept).visible
            assert not iso.search(text), f"{path} ({accept}) prints {iso.search(text)}"
    # The statistics say when they were computed, in the reader's convention.
    stats = get(client, "/stats/", HTTP_ACCEPT_LANGUAGE="zh-CN").visible
    assert re.search(r"\d{4}年\d{1,2}月\d{1,2}日 \d{2}:\d{2}", stats)


def test_a_link_inside_a_chinese_answer_keeps_its_scheme_and_ends_where_the_url_ends():
    from core.sanitize import clean_rich

    url = "https://www.bjjtw.gov.cn/bjjtw/gzdt/12lu.html"
    shown = clean_rich(f"详情见{url}，也可拨打96166咨询。")
    assert f'<a href="{url}"' in shown
    assert shown.endswith("</a>，也可拨打96166咨询。")
