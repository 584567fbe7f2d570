"""The replay page in Chromium: the log played back in order, withdrawn items never shown."""

import uuid

import pytest
from playwright.sync_api import expect

from tests.conftest import make_broadcast
from tests.test_browser import chromium

pytestmark = [pytest.mark.browser, pytest.mark.processes]


def record_programme(personas) -> tuple[int, list[str], str]:
    """A short programme: host message, two published questions with answers, one withdrawn answer."""
    from moderation.actions import approve_question, withdraw_event
    from moderation.asking import ask_question
    from studio import services as studio

    broadcast = make_broadcast("jtw", personas["host"], [personas["guest"]], status="live")
    studio.post_host_message(broadcast.pk, personas["host"], "h1", "欢迎收看本期节目")
    shown = ["欢迎收看本期节目"]
    withdrawn_text = "这条回答有误，已撤回"
    for n, (question, answer) in enumerate(
        [("一卡通怎么办理？", "地铁站客服中心可以办理。"), ("能加车吗？", "下月增加两条线路。")]
    ):
        asked, _ = ask_question(broadcast.pk, f"q{n}", question, "网友", "k", None)
        approve_question(broadcast.pk, asked.pk, True, by="mona")
        if n == 0:
            wrong = studio.post_answer(broadcast.pk, personas["guest"], "wrong", asked.pk, withdrawn_text)
            withdraw_event(broadcast.pk, wrong.seq, by="mona")
        studio.post_answer(broadcast.pk, personas["guest"], uuid.uuid4().hex, asked.pk, answer)
        shown += [question, answer]
    studio.set_status(broadcast.pk, personas["host"], "ended")
    return broadcast.pk, shown, withdrawn_text


def test_the_replay_plays_the_log_in_order_and_never_shows_a_withdrawn_item(personas, daphne):
    broadcast_id, shown, withdrawn_text = record_programme(personas)
    server = daphne()
    with chromium() as browser:
        page = browser.new_page(locale="zh-CN")
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{server.url}/replay/{broadcast_id}/")
        items = page.locator("#feed li")
        # The events were written within a second, so at 4× the whole programme plays at once.
        page.select_option("#speed", "4")
        page.click("#play")
        expect(items).to_have_count(len(shown), timeout=15_000)
        texts = [items.nth(i).locator(":scope > .text").inner_text().strip() for i in range(len(shown))]
        assert texts == shown
        assert withdrawn_text not in page.inner_text("#feed")
        # Jumping back to the start and to the end shows the same items again, once each.
        page.fill("#position", "0")
        page.dispatch_event("#position", "input")
        page.click("#to-end")
        expect(items).to_have_count(len(shown))
        assert errors == []


def test_a_replay_of_an_unknown_programme_is_not_found(db, client):
    assert client.get("/replay/999999/").status_code == 404


def test_hostile_markup_stays_inert_on_the_replay_and_transcript_pages(personas, daphne):
    from moderation.actions import approve_question
    from moderation.asking import ask_question
    from studio import services as studio
    from tests.test_browser_moderation import XSS, Guarded

    broadcast = make_broadcast("jtw", personas["host"], [personas["guest"]], status="live")
    for n, payload in enumerate(XSS, 1):
        question, _ = ask_question(broadcast.pk, f"x{n}", payload, payload[:30], f"k{n}", None)
        approve_question(broadcast.pk, question.pk, True)
        studio.post_answer(broadcast.pk, personas["guest"], f"a{n}", question.pk, f"答复{n}：{payload}")
        studio.post_host_message(broadcast.pk, personas["host"], f"h{n}", f"主持人{n}：{payload}")
    studio.set_status(broadcast.pk, personas["host"], "ended")
    server = daphne()
    with chromium() as browser:
        viewer = Guarded(browser, "replay viewer", locale="zh-CN")
        viewer.page.goto(f"{server.url}/replay/{broadcast.pk}/")
        viewer.page.click("#to-end")
        expect(viewer.page.locator("#feed li")).to_have_count(3 * len(XSS), timeout=15_000)
        assert "<script>window.__xss(1)</script>" in viewer.page.inner_text("#feed")  # shown as text
        viewer.assert_inert("#feed")
        reader = Guarded(browser, "transcript reader", locale="zh-CN")
        reader.page.goto(f"{server.url}/transcript/{broadcast.pk}/")
        assert "<script>window.__xss(1)</script>" in reader.page.inner_text("main")
        reader.assert_inert("main ol")
