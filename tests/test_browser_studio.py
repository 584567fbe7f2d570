"""The studio console in Debian's Chromium against a real daphne process: the host's and a guest's journeys.

The host starts the programme, records a question a guest answered by voice on air, and ends the
programme after confirming; the guest's console follows every step without a reload. Questions are
approved before the consoles open (in this process: without Redis only the stored queue crosses
to daphne); everything after that happens in daphne, so it needs no Redis.
"""

import pytest
from playwright.sync_api import expect

from tests.conftest import make_broadcast
from tests.test_browser import ARTIFACTS, LIVE_WAIT, Watched, chromium, in_thread, open_live
from tests.test_browser_moderation import log_in

pytestmark = [pytest.mark.browser, pytest.mark.processes]

SUMMARY = "末班车将延后半小时，下月一日起执行。"


def approved(broadcast, text: str, client_id: str) -> int:
    from moderation.actions import approve_question
    from moderation.asking import ask_question

    question, _ = ask_question(broadcast.pk, client_id, text, "夜归人", "netizen-" + client_id, None)
    approve_question(broadcast.pk, question.pk, publish=True, by="mona")
    return question.pk


def screenshots(watched: Watched, name: str) -> None:
    """The console at a desktop and a phone width, kept as CI artifacts; nothing wider than the phone."""
    page = watched.page
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.screenshot(path=ARTIFACTS / f"studio-{name}-1280.png", full_page=True)
    page.set_viewport_size({"width": 360, "height": 780})
    page.screenshot(path=ARTIFACTS / f"studio-{name}-360.png", full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.set_viewport_size({"width": 1280, "height": 900})


def test_the_host_starts_marks_an_answer_on_air_and_ends_and_the_guest_console_follows(daphne, personas):
    from moderation.models import Question
    from studio.models import Answer, Broadcast

    broadcast = make_broadcast("jtw", personas["host"], [personas["guest"]])
    first = in_thread(approved, broadcast, "地铁末班车能否延后？", "q-1")
    second = in_thread(approved, broadcast, "夜班公交会增加线路吗？", "q-2")
    server = daphne()

    with chromium() as browser:
        host = log_in(
            Watched(browser, "host", locale="zh-CN"), server, personas["host"], f"/studio/{broadcast.pk}/"
        )
        guest = log_in(
            Watched(browser, "guest", locale="zh-CN"), server, personas["guest"], f"/studio/{broadcast.pk}/"
        )
        h, g = host.page, guest.page
        for page in (h, g):
            expect(page.locator("#conn")).to_have_text("已连接")
            expect(page.locator("#conn")).to_have_attribute("role", "status")
            expect(page.locator("#status")).to_have_text("预告")
            expect(page.locator("#queue > li")).to_have_count(2, timeout=LIVE_WAIT)

        # Each role sees only its own controls.
        expect(h.locator("#start")).to_be_enabled()
        expect(h.locator("#end")).to_be_disabled()
        expect(h.locator("#queue textarea")).to_have_count(0)  # the host types no answers
        expect(h.locator("#statement")).to_have_count(0)
        expect(h.locator("#queue button.on-air")).to_have_count(2)
        expect(g.locator("#start")).to_have_count(0)
        expect(g.locator("#end")).to_have_count(0)
        expect(g.locator("#queue textarea")).to_have_count(2)
        expect(g.locator("#queue button.on-air")).to_have_count(0)
        expect(g.locator("#statement")).to_be_visible()

        # 开始直播: both consoles say 直播中 at once, and it cannot be pressed again.
        h.click("#start")
        for page in (h, g):
            expect(page.locator("#status")).to_have_text("直播中", timeout=LIVE_WAIT)
        expect(h.locator("#start")).to_be_disabled()
        expect(h.locator("#end")).to_be_enabled()
        expect(h.locator("#console-status")).to_have_text("已发送")
        assert in_thread(lambda: Broadcast.objects.get(pk=broadcast.pk).status) == "live"

        viewer = open_live(browser, server, broadcast.pk, "viewer", locale="zh-CN")

        # The guest answers the first question aloud; the host records it with a summary.
        item = h.locator(f"#queue > li[data-id='{first}']")
        item.locator("button.on-air").click()
        dialog = h.locator("#on-air-dialog")
        expect(dialog).to_be_visible()
        expect(dialog.locator("#on-air-question")).to_have_text("地铁末班车能否延后？")
        expect(dialog.locator("#on-air-guest option:checked")).to_have_text("张明（市交通委新闻发言人）")
        dialog.locator("#on-air-send").click()  # no summary yet: a clear error, the dialog stays
        expect(dialog.locator("#on-air-error")).to_have_text("请填写回答的简短摘要。")
        expect(dialog).to_be_visible()
        h.fill("#on-air-summary", SUMMARY)
        screenshots(host, "host-on-air-dialog")
        dialog.locator("#on-air-send").click()
        expect(dialog).to_be_hidden(timeout=LIVE_WAIT)
        expect(h.locator("#console-status")).to_have_text("已记录为现场口头回答")
        for page in (h, g):  # gone from both queues
            expect(page.locator(f"#queue > li[data-id='{first}']")).to_have_count(0, timeout=LIVE_WAIT)

        answer = viewer.page.locator("#feed li.answer")
        expect(answer).to_have_count(1, timeout=LIVE_WAIT)
        expect(answer).to_contain_text(SUMMARY)
        expect(answer).to_contain_text("市交通委新闻发言人")
        stored = in_thread(lambda: list(Answer.objects.values_list("question_id", "text", "on_air")))
        assert stored == [(first, SUMMARY, True)]
        assert in_thread(lambda: Question.objects.get(pk=first).status) == "answered"

        # An error line goes once the next action succeeds: a statement too long, then a good one.
        g.fill("#statement", "a" * 5001)  # under the 32 KiB frame limit, over 5000 characters
        g.click("#statement-send")
        expect(g.locator("#console-error")).to_contain_text("5000", timeout=LIVE_WAIT)
        # A text over the frame limit is refused in the page, not sent (it would close the
        # socket, and be resent after every reconnect): the guest keeps it to shorten it.
        g.fill("#statement", "问" * 11000)
        g.click("#statement-send")
        expect(g.locator("#console-error")).to_contain_text("内容过长", timeout=LIVE_WAIT)
        assert len(g.locator("#statement").input_value()) == 11000
        g.fill("#statement", "欢迎各位网友。")
        g.click("#statement-send")
        expect(g.locator("#console-status")).to_have_text("已发送", timeout=LIVE_WAIT)
        expect(g.locator("#console-error")).to_have_text("")
        screenshots(guest, "guest-live")
        screenshots(host, "host-live")

        # 结束直播 asks first; keeping it live changes nothing.
        h.click("#end")
        confirm = h.locator("#end-dialog")
        expect(confirm).to_be_visible()
        expect(confirm).to_contain_text("无法撤销")
        expect(confirm).to_contain_text("留言")
        h.click("#end-cancel")
        expect(confirm).to_be_hidden()
        expect(h.locator("#status")).to_have_text("直播中")
        expect(g.locator(f"#queue > li[data-id='{second}'] textarea")).to_be_visible()
        assert in_thread(lambda: Broadcast.objects.get(pk=broadcast.pk).status) == "live"

        h.click("#end")
        h.click("#end-confirm")
        for page in (h, g):
            expect(page.locator("#status")).to_have_text("已结束", timeout=LIVE_WAIT)
            expect(page.locator("#ended")).to_be_visible()
            expect(page.locator("#ended")).to_contain_text("节目已结束")
            expect(page.locator("#ended a").first).to_have_attribute("href", f"/replay/{broadcast.pk}/")
            expect(page.locator("#ended a").last).to_have_attribute("href", f"/transcript/{broadcast.pk}/")
            expect(page.locator("#queue > li")).to_have_count(0)  # what is left became letters
        expect(g.locator("#queue textarea")).to_have_count(0)  # the guest's answer boxes are gone
        expect(g.locator("#statement")).to_be_hidden()
        expect(h.locator("#start")).to_be_hidden()
        expect(h.locator("#end")).to_be_hidden()
        expect(h.locator("#host-text")).to_be_hidden()
        assert in_thread(lambda: Broadcast.objects.get(pk=broadcast.pk).status) == "ended"
        screenshots(host, "host-ended")
        screenshots(guest, "guest-ended")

        # Reopened after the end: the same state straight away.
        g.reload()
        expect(g.locator("#ended")).to_be_visible()
        expect(g.locator("#work")).to_be_hidden()

        for watched in (host, guest, viewer):
            assert watched.errors == [], watched.report()


def test_the_console_says_in_words_when_it_is_reconnecting(daphne, personas):
    from tests.test_browser import CUTTABLE_SOCKETS

    broadcast = make_broadcast("jtw", personas["host"], [personas["guest"]], status="live")
    server = daphne()
    with chromium() as browser:
        watched = Watched(browser, "guest", locale="zh-CN")
        watched.context.add_init_script(CUTTABLE_SOCKETS)
        log_in(watched, server, personas["guest"], f"/studio/{broadcast.pk}/")
        page = watched.page
        conn = page.locator("#conn")
        expect(conn).to_have_text("已连接")
        page.evaluate("() => { window.__cut = true; window.__sockets.forEach((s) => s.close()); }")
        expect(conn).to_have_text("正在重新连接…", timeout=LIVE_WAIT)
        page.evaluate("() => { window.__cut = false; }")
        expect(conn).to_have_text("已连接", timeout=20_000)
        expect(page.locator("#status")).to_have_text("直播中")
        assert watched.errors == [], watched.report()
