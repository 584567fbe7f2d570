"""End to end in Debian's Chromium against a real daphne process: the live page and the studio console.

A netizen asks on the live page, a moderator approves, the guest answers from the studio console,
and every open page follows along without a reload (PROTOCOL.md §1.1, §1.3).

The test approves by calling moderation.actions.approve_question in its own process. With
REDIS_URL, Redis carries the netizen's `my_question` frame to daphne at once. Without Redis each
process has its own in-process hub (the embedded default is one process), so only the stored
state crosses over: the public event through the hub's catch-up from the database, the
netizen's status through the my-questions endpoint after a reload.
"""

import os
import re
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.conftest import CHROMIUM, ROOT, make_broadcast

pytestmark = [pytest.mark.browser, pytest.mark.processes]

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Lets a test cut the live page's socket: live.js keeps its WebSocket in a closure, so this wraps
# the constructor to keep every instance, and while window.__cut is set it aims new sockets at
# the discard port, where they are refused and the page keeps retrying.
# (context.set_offline is no use here: in this Chromium it neither closes an open WebSocket nor
# fails it; frames are held back and delivered when the context goes online again.)
CUTTABLE_SOCKETS = """
(() => {
  const Native = window.WebSocket;
  window.__sockets = [];
  window.__cut = false;
  window.WebSocket = class extends Native {
    constructor(url, protocols) {
      super(window.__cut ? "ws://127.0.0.1:9/" : url, protocols);
      window.__sockets.push(this);
    }
  };
})();
"""
ARTIFACTS = Path(os.environ.get("MINXIN_ARTIFACTS") or ROOT / "var" / "artifacts")
LIVE_WAIT = 15_000  # ms: a pushed frame arrives at once; 15 s only bounds a failure
# A staff console's connection indicator once its socket is open: the studio console says it in
# words (zh-hans, en), the moderate console with a tick.
CONNECTED = re.compile(r"^(已连接|[Cc]onnected)$")  # the consoles and the live page say it in words


@contextmanager
def chromium():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def in_thread(fn, *args, **kwargs):
    """Run database work off this thread: Playwright's sync API keeps an event loop running here,
    and Django refuses ORM calls from a thread with a running loop."""

    def run():
        try:
            return fn(*args, **kwargs)
        finally:
            connection.close()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(run).result()


class Watched:
    """A page whose console messages and uncaught errors are kept for failure messages."""

    def __init__(self, browser: Browser, name: str, **context_options):
        self.name = name
        self.context = browser.new_context(**context_options)
        self.page: Page = self.context.new_page()
        self.console: list[str] = []
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.console.append(f"[{m.type}] {m.text}"))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def report(self) -> str:
        return f"{self.name}: page errors {self.errors!r}; console {self.console!r}"


def open_live(browser: Browser, server, broadcast_id: int, name: str, **context_options) -> Watched:
    viewer = Watched(browser, name, **context_options)
    viewer.page.goto(f"{server.url}/live/{broadcast_id}/")
    # "connected" once the socket is open (zh-hans: 已连接, en: connected); "…" before that.
    expect(viewer.page.locator("#conn")).not_to_have_text("…", timeout=LIVE_WAIT)
    return viewer


def test_a_question_travels_from_the_live_page_through_moderation_to_an_answer_every_page_sees(
    daphne, personas
):
    from moderation.actions import approve_question
    from moderation.models import Question

    broadcast = make_broadcast("jtw", personas["host"], [personas["guest"]], status="live")
    server = daphne()
    guest = personas["guest"]
    guest_title = guest.staff.title
    question_text = "12路公交什么时候恢复原线路？"
    answer_text = "12路将于下月一日恢复原线路运行。"

    with chromium() as browser:
        # A: a netizen on a phone-sized screen whose browser asks for Chinese.
        netizen = open_live(
            browser, server, broadcast.pk, "netizen", viewport={"width": 360, "height": 780}, locale="zh-CN"
        )
        page = netizen.page
        assert page.evaluate("document.documentElement.lang") == "zh-hans"

        page.fill("#nickname", "老王")
        page.fill("#question", question_text)
        page.check("#consent")  # the privacy notice (PIPL)
        page.click("#ask-form button[type=submit]")
        mine = page.locator("#mine li[data-id]")
        expect(mine).to_have_count(1, timeout=LIVE_WAIT)
        expect(mine).to_have_attribute("data-status", "pending")
        expect(mine).to_contain_text(question_text)
        expect(page.locator("#mine li[data-ref]")).to_have_count(0)  # the "sending…" line is replaced
        question = in_thread(Question.objects.get, broadcast=broadcast)
        assert (question.text, question.nickname, question.status) == (question_text, "老王", "pending")

        # C: a second viewer, open before anything is published or answered. Its browser asks
        # for no language the site has, so it gets the default, Simplified Chinese.
        viewer = open_live(browser, server, broadcast.pk, "viewer", locale="fr-FR")
        assert viewer.page.evaluate("document.documentElement.lang") == "zh-hans"

        in_thread(
            approve_question, broadcast.pk, question.pk, publish=True, by=personas["moderator"].username
        )
        if not settings.REDIS_URL:
            page.reload()  # no cross-process push without Redis (see the module docstring)
        expect(mine).to_have_attribute("data-status", "approved", timeout=LIVE_WAIT)
        expect(mine).to_contain_text(question_text)
        published = viewer.page.locator("#feed li.question")
        expect(published).to_have_count(1, timeout=LIVE_WAIT)
        expect(published).to_contain_text(question_text)
        expect(published).to_contain_text("老王")

        # B: the guest logs in and answers from the studio console.
        studio = Watched(browser, "guest", locale="zh-CN")
        studio.page.goto(f"{server.url}/studio/{broadcast.pk}/")
        assert "/accounts/login/" in studio.page.url
        studio.page.fill("#id_username", guest.username)
        studio.page.fill("#id_password", "pw-" + guest.username)
        studio.page.click("main form button[type=submit]")
        studio.page.wait_for_url(f"**/studio/{broadcast.pk}/")
        queued = studio.page.locator(f"#queue li[data-id='{question.pk}']")
        expect(queued).to_contain_text(question_text, timeout=LIVE_WAIT)
        queued.locator("textarea").fill(answer_text)
        queued.locator("button").click()

        answer = viewer.page.locator("#feed li.answer")
        expect(answer).to_have_count(1, timeout=LIVE_WAIT)
        expect(answer).to_contain_text(answer_text)
        expect(answer).to_contain_text(guest_title)
        expect(answer).to_have_attribute("data-answers", str(question.pk))
        expect(mine).to_have_attribute("data-status", "answered", timeout=LIVE_WAIT)
        expect(queued).to_have_count(0, timeout=LIVE_WAIT)  # gone from the guest's queue
        expect(page.locator("#feed li.answer")).to_contain_text(answer_text, timeout=LIVE_WAIT)

        # The phone-sized live page, after a whole exchange: nothing wider than the screen (the
        # screenshots kept as CI artifacts are tests/test_browser_keyboard.py's).
        assert page.evaluate("document.documentElement.scrollWidth") <= 360

        for watched in (netizen, viewer, studio):
            assert watched.errors == [], watched.report()


def test_the_live_page_resumes_after_its_socket_drops_with_every_answer_once_and_in_order(daphne, personas):
    from studio.services import post_answer

    broadcast = make_broadcast("jtw", personas["host"], [personas["guest"]], status="live")
    server = daphne()
    guest = personas["guest"]
    before = ["节目开始，欢迎大家。", "今天聊聊夜间出行。"]
    during = ["第一条：地铁末班车延长半小时。", "第二条：夜间公交新增三条线路。"]

    with chromium() as browser:
        viewer = Watched(browser, "viewer", locale="zh-CN")
        viewer.context.add_init_script(CUTTABLE_SOCKETS)
        page = viewer.page
        page.goto(f"{server.url}/live/{broadcast.pk}/")
        conn = page.locator("#conn")
        expect(conn).not_to_have_text("…", timeout=LIVE_WAIT)
        connected = page.get_attribute("#live", "data-i18n-connected")
        reconnecting = page.get_attribute("#live", "data-i18n-reconnecting")
        expect(conn).to_have_text(connected)
        answers = page.locator("#feed li.answer .text")
        for number, text in enumerate(before):
            in_thread(post_answer, broadcast.pk, guest, f"before-{number}", None, text)
        expect(answers).to_have_text(before, timeout=LIVE_WAIT)

        page.evaluate("() => { window.__cut = true; window.__sockets.forEach((s) => s.close()); }")
        expect(conn).to_have_text(reconnecting, timeout=LIVE_WAIT)
        for number, text in enumerate(during):
            in_thread(post_answer, broadcast.pk, guest, f"during-{number}", None, text)
        page.evaluate("() => { window.__cut = false; }")

        expect(answers).to_have_text(before + during, timeout=20_000)
        expect(conn).to_have_text(connected)
        resumed_from = page.evaluate("new URL(window.__sockets.at(-1).url).searchParams.get('after')")
        assert resumed_from == "2"  # it asked for what it missed, not for the whole programme
        seqs = page.locator("#feed li.answer").evaluate_all(
            "items => items.map((i) => Number(i.dataset.seq))"
        )
        assert seqs == [1, 2, 3, 4]
        assert viewer.errors == [], viewer.report()


def test_a_question_left_unanswered_shows_its_letter_in_my_questions_and_the_asker_can_follow_it(
    daphne, personas
):
    from moderation.actions import approve_question
    from moderation.models import Question
    from studio.services import set_status

    broadcast = make_broadcast("jtw", personas["host"], [personas["guest"]], status="live")
    server = daphne()
    question_text = "夜班公交能否延长到凌晨两点？我的电话13812345678"

    with chromium() as browser:
        netizen = Watched(browser, "netizen", viewport={"width": 360, "height": 780}, locale="zh-CN")
        page = netizen.page
        lists: list[str] = []
        page.on("request", lambda r: lists.append(r.url) if "/my-questions/" in r.url else None)
        page.goto(f"{server.url}/live/{broadcast.pk}/")
        expect(page.locator("#conn")).not_to_have_text("…", timeout=LIVE_WAIT)
        page.fill("#question", question_text)
        page.check("#consent")
        page.click("#ask-form button[type=submit]")
        expect(page.locator("#mine li[data-id]")).to_have_count(1, timeout=LIVE_WAIT)
        assert lists == []  # a browser that had asked nothing did not ask for its questions
        question = in_thread(Question.objects.get, broadcast=broadcast)
        in_thread(approve_question, broadcast.pk, question.pk, publish=False, by="mona")
        in_thread(set_status, broadcast.pk, personas["host"], "ended")  # unanswered: it becomes a letter

        page.reload()
        link = page.locator("#mine li[data-id] a.letter")
        expect(link).to_have_count(1, timeout=LIVE_WAIT)
        assert len(lists) == 1  # having asked, it does after the reload
        expect(page.locator("#mine li[data-id] .badge")).to_have_text("已作为留言转交部门办理")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.locator("#mine").screenshot(path=ARTIFACTS / "live-my-questions-letter-360.png")
        code = link.text_content().split()[-1]
        link.click()
        page.wait_for_url(f"**/letters/track/?code={code}")
        expect(page.locator("#letter")).to_have_attribute("data-code", code)
        expect(page.locator("#letter-department")).to_contain_text("交通")
        expect(page.locator("#letter .body")).to_contain_text("夜班公交能否延长到凌晨两点")
        page.screenshot(path=ARTIFACTS / "track-question-letter-360.png", full_page=True)

        # A stranger with the code but not the session sees the look-up form only.
        stranger = Watched(browser, "stranger", locale="zh-CN")
        stranger.page.goto(f"{server.url}/letters/track/?code={code}")
        expect(stranger.page.locator("#track-form")).to_be_visible()
        expect(stranger.page.locator("#letter")).to_have_count(0)

        for watched in (netizen, stranger):
            assert watched.errors == [], watched.report()


def test_a_new_visitor_gets_the_shared_page_then_its_identity_and_keeps_both_across_a_language_switch(
    daphne, personas
):
    """The live page is the same for every new visitor (issue #18: a front proxy may answer the rush
    from its cache); the browser gets its identity (GET /api/netizen/) before its first question and
    so its question follows it, and the header's language switch, whose token the page does not
    carry, still works — also for a browser whose CSRF cookie is gone."""
    broadcast = make_broadcast("jtw", personas["host"], [personas["guest"]], status="live")
    server = daphne()
    with chromium() as browser:
        netizen = Watched(browser, "netizen", viewport={"width": 360, "height": 780}, locale="zh-CN")
        page = netizen.page
        pages: list = []
        page.on("response", lambda r: pages.append(r) if r.url.endswith(f"/live/{broadcast.pk}/") else None)
        page.goto(f"{server.url}/live/{broadcast.pk}/")
        expect(page.locator("#conn")).not_to_have_text("…", timeout=LIVE_WAIT)
        headers = pages[0].all_headers()
        assert "set-cookie" not in headers and "public" in headers["cache-control"]
        assert page.context.cookies() == []  # watching needs no identity

        page.fill("#question", "地铁末班车能否延后半小时？")
        page.check("#consent")
        page.click("#ask-form button[type=submit]")
        expect(page.locator("#mine li[data-id]")).to_have_count(1, timeout=LIVE_WAIT)
        # Asking gave it one (and the socket reopened with it): signed, HttpOnly, no session.
        cookies = {c["name"]: c for c in page.context.cookies()}
        assert {"minxin_netizen", "csrftoken"} <= set(cookies) and "sessionid" not in cookies
        assert cookies["minxin_netizen"]["httpOnly"]
        # A reload finds the question again through the identity (my-questions follows the cookie).
        page.reload()
        expect(page.locator("#conn")).not_to_have_text("…", timeout=LIVE_WAIT)
        expect(page.locator("#mine li[data-id]")).to_contain_text("地铁末班车", timeout=LIVE_WAIT)

        # The header's switch sends the token from the cookie; the same browser, now in English.
        page.locator("header.site button[name=language]").click()
        expect(page.locator("html")).to_have_attribute("lang", "en", timeout=LIVE_WAIT)
        expect(page.locator("#conn")).not_to_have_text("…", timeout=LIVE_WAIT)
        expect(page.locator("#mine li[data-id]")).to_have_count(1, timeout=LIVE_WAIT)
        expect(page.locator("#mine li[data-id]")).to_contain_text("地铁末班车")

        # Without its CSRF cookie the switch first fetches one, then goes.
        page.context.clear_cookies(name="csrftoken")
        page.locator("header.site button[name=language]").click()
        expect(page.locator("html")).to_have_attribute("lang", "zh-hans", timeout=LIVE_WAIT)
        expect(page.locator("#mine li[data-id]")).to_have_count(1, timeout=LIVE_WAIT)
        assert netizen.errors == [], netizen.report()


def test_the_live_page_shows_times_in_the_programmes_zone_and_offers_the_replay_once_it_ends(
    daphne, personas
):
    import datetime as dt

    from django.utils import timezone

    from studio.services import post_answer, set_status

    broadcast = make_broadcast("jtw", personas["host"], [personas["guest"]], status="live")
    server = daphne()
    answer = in_thread(post_answer, broadcast.pk, personas["guest"], "tz-1", None, "地铁末班车延长半小时。")
    # The programme's clock (Asia/Shanghai by default), whatever the viewer's browser is set to.
    expected = timezone.localtime(answer.answered_at).strftime("%H:%M:%S")
    utc = answer.answered_at.astimezone(dt.UTC).strftime("%H:%M:%S")
    assert expected != utc

    with chromium() as browser:
        viewer = open_live(browser, server, broadcast.pk, "viewer", locale="zh-CN", timezone_id="UTC")
        page = viewer.page
        time = page.locator("#feed li.answer time.at")
        expect(time).to_have_count(1, timeout=LIVE_WAIT)
        assert expected in time.text_content()
        expect(page.locator("#ask-form")).to_be_visible()
        expect(page.locator("#ended")).to_be_hidden()

        in_thread(set_status, broadcast.pk, personas["host"], "ended")  # while the page is open
        expect(page.locator("#ask-form")).to_be_hidden(timeout=LIVE_WAIT)
        expect(page.locator("#ended")).to_be_visible()
        page.screenshot(path=ARTIFACTS / "live-ended-1280.png", full_page=True)

        # Opened after the end: the replay and the transcript, no form.
        later = open_live(
            browser, server, broadcast.pk, "later", locale="zh-CN", viewport={"width": 360, "height": 780}
        )
        expect(later.page.locator("#ask-form")).to_be_hidden()
        replay = later.page.locator("#ended a").first
        expect(replay).to_have_attribute("href", f"/replay/{broadcast.pk}/")
        later.page.screenshot(path=ARTIFACTS / "live-ended-360.png", full_page=True)
        replay.click()
        later.page.wait_for_url(f"**/replay/{broadcast.pk}/")

        for watched in (viewer, later):
            assert watched.errors == [], watched.report()
