"""Keyboard only, screen readers and phones, in Debian's Chromium against a real daphne process.

A netizen asks and follows the answers, a moderator screens the whole queue and a guest answers,
each with the keyboard alone (Tab, Shift+Tab, Enter, Space, the console's letter keys and typing;
never the mouse), and wherever focus goes it is visibly marked. What arrives over the socket is
announced through ARIA live regions without moving the reader's focus. On a 360 px phone the live
page and its ask box never scroll sideways, even with long unbroken text; screenshots of both go
to $MINXIN_ARTIFACTS (default var/artifacts/).

Every write goes through a browser, so it reaches daphne, the one process that pushes frames:
the flow is the same with or without Redis.
"""

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import ROOT, make_broadcast
from tests.test_browser import LIVE_WAIT, Watched, chromium, in_thread, open_live
from tests.test_browser_moderation import log_in, question_ids

pytestmark = [pytest.mark.browser, pytest.mark.processes]

ARTIFACTS = Path(os.environ.get("MINXIN_ARTIFACTS") or ROOT / "var" / "artifacts")
PHONE = {"width": 360, "height": 740}

# What has focus, and whether it is visibly marked: it matches :focus-visible and that draws an
# outline or a box shadow (a focus style that only changes colour, or none, fails).
FOCUSED = """
() => {
  const e = document.activeElement;
  if (!e || e === document.body) return null;
  const s = getComputedStyle(e);
  const outline = s.outlineStyle !== "none" && parseFloat(s.outlineWidth) > 0;
  const shadow = s.boxShadow !== "none";
  return {
    tag: e.localName, id: e.id, dataId: e.dataset.id || null, text: (e.textContent || "").trim().slice(0, 40),
    visible: e.matches(":focus-visible") && (outline || shadow),
    style: s.outlineStyle + " " + s.outlineWidth + " " + s.outlineColor + " / " + s.boxShadow,
  };
}
"""
# The nearest ancestor that is a live region (aria-live, or role status/log/alert).
LIVE_REGION = """
(e) => {
  const region = e.closest("[aria-live], [role=status], [role=log], [role=alert]");
  return region ? (region.getAttribute("aria-live") || region.getAttribute("role")) : null;
}
"""


def focus(page: Page) -> dict:
    """The focused element, which must exist and be visibly marked."""
    found = page.evaluate(FOCUSED)
    assert found is not None, f"focus was lost to <body> on {page.url}"
    assert found["visible"], f"no visible focus indicator on {found} at {page.url}"
    return found


def tab_to(page: Page, selector: str, limit: int = 60, key: str = "Tab") -> int:
    """Press Tab until `selector` has focus, checking the indicator at every stop; returns the count."""
    for presses in range(1, limit + 1):
        page.keyboard.press(key)
        if page.evaluate("document.activeElement") is not None:
            focus(page)
        if page.evaluate("(s) => document.activeElement.matches(s)", selector):
            return presses
    raise AssertionError(f"{selector} not reached with {limit} × {key} on {page.url}; last {focus(page)}")


def has_focus(page: Page, selector: str) -> bool:
    return page.evaluate("(s) => document.activeElement.matches(s)", selector)


def ask_by_keyboard(page: Page, text: str) -> None:
    """From the question box: type, Tab to the send button, Enter, and come back with Shift+Tab."""
    assert has_focus(page, "#question")
    mine = page.locator("#mine li[data-id]")
    before = mine.count()
    page.keyboard.type(text)
    page.keyboard.press("Tab")
    assert has_focus(page, "#ask-form button[type=submit]"), focus(page)
    page.keyboard.press("Enter")
    expect(mine).to_have_count(before + 1, timeout=LIVE_WAIT)
    assert has_focus(page, "#ask-form button[type=submit]")  # sending moved nobody's focus
    page.keyboard.press("Shift+Tab")
    assert has_focus(page, "#question")
    focus(page)


def add_block_word(word: str) -> None:
    from moderation import screening
    from moderation.models import BannedWord, BannedWordList

    word_list = BannedWordList.objects.create(name="禁止", level="block")
    BannedWord.objects.create(word_list=word_list, word=word)
    screening.words_changed()


def test_netizen_moderator_and_guest_do_their_whole_job_by_keyboard_and_updates_are_announced_in_place(
    daphne, personas
):
    broadcast = make_broadcast("jtw", personas["host"], [personas["guest"]], status="live")
    add_block_word("法轮功")  # before daphne starts, so that its screening knows the word
    server = daphne()
    texts = [
        "12路公交什么时候恢复原线路？",
        "12路公交什么时候恢复原来的线路？",  # a near duplicate of the first: merged
        "地铁末班车能否延长到午夜？我的电话13812345678",  # edited (the number removed), then approved
        "代办各类证件，加微信",  # rejected
    ]
    edited = "地铁末班车能否延长到午夜？"
    answers = ["12路将于下月一日恢复原线路运行。", "末班车延长方案正在论证，年底前公布。"]

    with chromium() as browser:
        # (a) The netizen: from the top of the page to the ask box by Tab alone, through the
        # "ask a question" link that skips the feed.
        netizen = open_live(browser, server, broadcast.pk, "netizen", locale="zh-CN")
        page = netizen.page
        tab_to(page, "a[href='#ask-title']")
        page.keyboard.press("Enter")
        page.keyboard.press("Tab")
        # First the privacy notice's consent box (PIPL), ticked with Space, then the nickname.
        assert has_focus(page, "#consent"), focus(page)
        focus(page)
        page.keyboard.press("Space")
        assert page.is_checked("#consent")
        page.keyboard.press("Tab")
        assert has_focus(page, "#nickname"), focus(page)
        focus(page)
        page.keyboard.type("老王")
        page.keyboard.press("Tab")
        assert has_focus(page, "#question")
        for text in texts:
            ask_by_keyboard(page, text)
        mine = page.locator("#mine li[data-id]")
        expect(mine.locator(".text")).to_have_text(texts)
        # "Received, waiting for screening" is announced where it is shown, in a live region.
        pending = page.get_attribute("#live", "data-i18n-pending")
        expect(mine.first.locator(".badge")).to_have_text(pending)
        assert mine.first.evaluate(LIVE_REGION) == "polite"
        q1, q2, q3, q4 = question_ids(broadcast)
        # A refused question: the error is announced (role=alert) and focus stays on the button.
        page.keyboard.type("法轮功")
        page.keyboard.press("Tab")
        page.keyboard.press("Enter")
        expect(page.locator("#ask-error")).not_to_be_empty(timeout=LIVE_WAIT)
        assert page.locator("#ask-error").evaluate(LIVE_REGION) == "alert"
        assert has_focus(page, "#ask-form button[type=submit]")
        focus(page)
        expect(mine).to_have_count(4)
        expect(page.locator("#question")).to_have_value("法轮功")  # given back, not lost
        page.keyboard.press("Shift+Tab")
        page.keyboard.press("Control+A")
        page.keyboard.press("Backspace")

        # (b) The moderator screens the whole queue: Tab into it, then letter keys and buttons.
        moderator = log_in(
            Watched(browser, "mona", locale="zh-CN"),
            server,
            personas["moderator"],
            f"/moderate/{broadcast.pk}/",
        )
        console = moderator.page
        browser_dialogs: list[str] = []
        console.on("dialog", lambda dialog: browser_dialogs.append(dialog.message))  # none: they block
        items = console.locator("#queue > li")
        expect(items).to_have_count(4, timeout=LIVE_WAIT)
        # The queue is not a live region (a screen reader would re-read it on every change): the one
        # polite status line says what changed.
        assert items.first.evaluate(LIVE_REGION) is None
        assert console.locator("#moderate-status").evaluate(LIVE_REGION) == "polite"
        tab_to(console, "#queue > li")
        assert focus(console)["dataId"] == str(q1)
        status = console.locator("#moderate-status")
        approved = console.get_attribute("#moderate", "data-i18n-status-approved")

        console.keyboard.press("p")  # approve and publish the first
        expect(items).to_have_count(3, timeout=LIVE_WAIT)
        assert focus(console)["dataId"] == str(q2)  # focus moved on to the next question, visibly
        expect(status).to_have_text(
            f"#{q1} {approved} {console.get_attribute('#moderate', 'data-i18n-by')} mona"
        )
        assert status.evaluate(LIVE_REGION) == "polite"

        console.keyboard.press("m")  # merge the duplicate into the first
        expect(items).to_have_count(2, timeout=LIVE_WAIT)
        assert focus(console)["dataId"] == str(q3)

        console.keyboard.press("e")  # edit out the phone number in the dialog; it stays in the queue
        assert focus(console)["id"] == "edit-text"
        console.keyboard.press("Control+A")
        console.keyboard.type(edited)
        console.keyboard.press("Tab")  # to 保存
        console.keyboard.press("Enter")
        expect(items.first.locator(".text")).to_have_text(edited, timeout=LIVE_WAIT)
        expect(console.locator("#edit-dialog")).to_be_hidden()
        assert focus(console)["dataId"] == str(q3)  # back on the question
        tab_to(console, f"#queue > li[data-id='{q3}'] button", limit=1)  # its first button: Approve
        assert focus(console)["text"] == console.get_attribute("#moderate", "data-i18n-approve")
        console.keyboard.press("Space")
        expect(items).to_have_count(1, timeout=LIVE_WAIT)
        assert focus(console)["dataId"] == str(q4)

        console.keyboard.press("r")  # reject the advertisement: the dialog opens on the reasons
        assert focus(console)["tag"] == "input"
        console.keyboard.press("Escape")  # Esc cancels: nothing sent, focus back on the question
        expect(console.locator("#reject-dialog")).to_be_hidden()
        assert focus(console)["dataId"] == str(q4)
        console.keyboard.press("r")
        console.keyboard.press("Tab")  # past the common reasons to the reason's box
        assert focus(console)["id"] == "reject-reason"
        console.keyboard.type("广告")
        console.keyboard.press("Enter")
        expect(items).to_have_count(0, timeout=LIVE_WAIT)
        expect(console.locator("#count")).to_have_text("0")
        assert focus(console)["id"] == "queue"  # an empty queue keeps focus; nothing is lost
        assert browser_dialogs == []
        from moderation.models import Question

        statuses = in_thread(
            lambda: dict(Question.objects.filter(broadcast=broadcast).values_list("id", "status"))
        )
        assert statuses == {q1: "approved", q2: "merged", q3: "approved", q4: "rejected"}
        # The netizen learns each outcome in the live region "my questions".
        rejected = page.locator(f"#mine li[data-id='{q4}']")
        expect(rejected).to_have_attribute("data-status", "rejected", timeout=LIVE_WAIT)
        expect(rejected).to_contain_text("广告")

        # The netizen starts typing a follow-up, with focus in the question box.
        page.keyboard.type("那么夜班车呢")
        assert has_focus(page, "#question")

        # (c) The guest: Tab to the first approved question's answer box, type, Tab, Enter.
        guest = log_in(
            Watched(browser, "grace", locale="zh-CN"), server, personas["guest"], f"/studio/{broadcast.pk}/"
        )
        studio = guest.page
        queue = studio.locator("#queue > li")
        expect(queue).to_have_count(2, timeout=LIVE_WAIT)
        tab_to(studio, f"#answer-{q1}")
        studio.keyboard.type(answers[0])
        studio.keyboard.press("Tab")
        assert has_focus(studio, f"#queue > li[data-id='{q1}'] button")
        focus(studio)
        studio.keyboard.press("Enter")
        expect(queue).to_have_count(1, timeout=LIVE_WAIT)
        assert focus(studio)["id"] == f"answer-{q3}"  # on to the next question's answer box
        expect(studio.locator("#console-status")).to_have_text(
            studio.get_attribute("#console", "data-i18n-sent")
        )
        assert studio.locator("#console-status").evaluate(LIVE_REGION) == "status"

        # The answer reaches the netizen inside the polite live feed, and focus and the half-typed
        # follow-up stay where they were.
        answer = page.locator("#feed li.answer")
        expect(answer).to_have_count(1, timeout=LIVE_WAIT)
        expect(answer.locator(".text")).to_have_text(answers[0])
        assert answer.evaluate(LIVE_REGION) == "polite"
        assert has_focus(page, "#question")
        focus(page)
        assert page.input_value("#question") == "那么夜班车呢"
        expect(page.locator(f"#mine li[data-id='{q1}']")).to_have_attribute(
            "data-status", "answered", timeout=LIVE_WAIT
        )
        # The feed's clock speaks the page's language: a 24-hour Chinese time, not "2:30:05 PM".
        expect(answer.locator("time")).to_have_text(re.compile(r"^\d{1,2}:\d{2}:\d{2}$"))

        # The guest answers the last question with Space; focus lands on the queue's heading.
        studio.keyboard.type(answers[1])
        studio.keyboard.press("Tab")
        studio.keyboard.press("Space")
        expect(queue).to_have_count(0, timeout=LIVE_WAIT)
        assert focus(studio)["id"] == "queue-title"
        expect(page.locator("#feed li.answer .text")).to_have_text(answers, timeout=LIVE_WAIT)
        assert has_focus(page, "#question")

        # The netizen sends the follow-up from where it is.
        page.keyboard.press("Tab")
        page.keyboard.press("Enter")
        expect(mine).to_have_count(5, timeout=LIVE_WAIT)
        expect(mine.last.locator(".text")).to_have_text("那么夜班车呢")

        for watched in (netizen, moderator, guest):
            assert watched.errors == [], watched.report()


LONG_NICKNAME = "朝阳区望京街道阜荣街社区居民代表王先生"
LONG_QUESTION = (
    "您好！我住在朝阳区望京街道，每天早上七点半在阜荣街站坐12路去国贸上班。自从9月1日线路调整以后，"
    "早高峰发车间隔从8分钟变成了15分钟，车上特别挤，经常上不去。我在官网看到的调整通知"
    "（https://www.bjjtw.gov.cn/bjjtw/gzdt/2026/09/01/xianluyouhua-fangan-gongshi-12lu-973lu-kuaisu3.html）"
    "说是临时措施，请问什么时候恢复？能否在早高峰加开区间车？工单号JTW20260901000123456789。"
)
LONG_ANSWER = (
    "感谢这位网友的关注。12路的调整是配合望京西路施工的临时措施，施工将于11月30日结束，"
    "12月1日起恢复原线路和原发车间隔；早高峰（7:00—9:00）另加开阜荣街至国贸的区间车，间隔5分钟。"
    "详情见https://www.bjjtw.gov.cn/bjjtw/gzdt/2026/11/26/12lu-huifu-yuanxianlu-ji-qujianche-kaixing.html，"
    "也可拨打96166咨询。"
)


def test_the_live_page_and_its_ask_box_fit_a_360_px_phone_without_sideways_scrolling(daphne, personas):
    from moderation.actions import approve_question
    from moderation.asking import ask_question
    from studio.services import post_answer

    broadcast = make_broadcast("jtw", personas["host"], [personas["guest"]], status="live")
    question, _ = ask_question(broadcast.pk, "phone-q-1", LONG_QUESTION, LONG_NICKNAME, "netizen-phone", None)
    approve_question(broadcast.pk, question.pk, publish=True, by="mona")
    post_answer(broadcast.pk, personas["guest"], "phone-a-1", question.pk, LONG_ANSWER)
    server = daphne()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    with chromium() as browser:
        phone = open_live(
            browser,
            server,
            broadcast.pk,
            "phone",
            viewport=PHONE,
            is_mobile=True,
            has_touch=True,
            device_scale_factor=2,
            locale="zh-CN",
        )
        page = phone.page
        expect(page.locator("#feed li.question > .text")).to_contain_text("工单号", timeout=LIVE_WAIT)
        expect(page.locator("#feed li.answer .text")).to_contain_text("96166", timeout=LIVE_WAIT)
        assert page.evaluate("window.innerWidth") == PHONE["width"]  # laid out at the phone's width
        page.screenshot(path=str(ARTIFACTS / "live-360.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

        # The ask box: tapped, and a long question typed into it.
        page.tap("#consent")
        page.tap("#question")
        page.keyboard.type(LONG_QUESTION)
        page.locator("#ask-form").scroll_into_view_if_needed()
        for selector in ("#consent", "#nickname", "#question", "#ask-form button[type=submit]"):
            box = page.locator(selector).bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], selector
        page.screenshot(path=str(ARTIFACTS / "ask-360.png"))
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        page.tap("#ask-form button[type=submit]")
        expect(page.locator("#mine li[data-id] .text")).to_have_text([LONG_QUESTION], timeout=LIVE_WAIT)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

        for name in ("live-360.png", "ask-360.png"):
            assert (ARTIFACTS / name).stat().st_size > 10_000, name
        assert phone.errors == [], phone.report()
