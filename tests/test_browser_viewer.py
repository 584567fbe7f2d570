"""A viewer's journey through the live page and the replay in Chromium (issue #15): each answer
sits with its question, answered questions are marked, the feed can be ordered and filtered, 附议
counts and this browser's own supports survive a reload, and the replay skips long silences."""

import datetime as dt
import re

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import make_broadcast
from tests.test_browser import ARTIFACTS, LIVE_WAIT, Watched, chromium, in_thread, open_live

pytestmark = [pytest.mark.browser, pytest.mark.processes]

PHONE = {"width": 360, "height": 780}
DESK = {"width": 1280, "height": 900}


def published(broadcast_id: int, n: int, text: str, nickname: str = "网友", publish: bool = True) -> int:
    from moderation.actions import approve_question
    from moderation.asking import ask_question

    question, _ = ask_question(broadcast_id, f"q{n}", text, nickname, f"asker-{n}", None)
    approve_question(broadcast_id, question.pk, publish, by="mona")
    return question.pk


def answered_on_air(broadcast_id: int, question_id: int, summary: str) -> None:
    """An answer given by voice on air as the studio console records it: the host's summary with
    `"on_air": true` (another change adds the console's side; the page only has to show it)."""
    from django.db import transaction
    from django.utils import timezone

    from studio import events
    from studio.models import EventKind

    answer = {
        "id": 900_000 + question_id,
        "question_id": question_id,
        "text": summary,
        "guest": {"name": "张明", "title": "市交通委新闻发言人"},
        "answered_at": timezone.localtime().isoformat(timespec="milliseconds"),
        "on_air": True,
    }
    with transaction.atomic():
        events.append_event(broadcast_id, EventKind.ANSWER, {"answer": answer})


def withdraw_published(broadcast_id: int, question_id: int) -> None:
    from moderation.actions import withdraw_event
    from moderation.models import Question

    withdraw_event(broadcast_id, Question.objects.get(pk=question_id).published_seq, by="mona")


def item(page: Page, question_id: int):
    return page.locator(f"#feed > li.question[data-question='{question_id}']")


def view(page: Page, name: str) -> None:
    """Choose an order or filter with the keyboard, as someone without a mouse would."""
    button = page.locator(f"#views button[data-view='{name}']")
    button.focus()
    page.keyboard.press("Enter")
    expect(button).to_have_attribute("aria-pressed", "true")


def shown_questions(page: Page) -> list[int]:
    return page.locator("#feed > li.question:visible").evaluate_all(
        "items => items.map((i) => Number(i.dataset.question))"
    )


def test_a_viewer_sees_each_answer_with_its_question_marks_orders_and_supports_after_a_reload(
    daphne, personas
):
    from moderation.supports import support_question
    from studio.services import post_answer, post_host_message

    guest, host = personas["guest"], personas["host"]
    broadcast = make_broadcast("jtw", host, [guest], status="live")
    pk = broadcast.pk
    post_host_message(pk, host, "h1", "欢迎收看本期节目，今天聊地铁和公交。")
    nine = published(pk, 9, "一卡通在哪里办理？", "老李")
    ten = published(pk, 10, "夜班公交能加车吗？", "小王")
    # Answered after #10 was published: it must still read as the answer to #9.
    post_answer(pk, guest, "a9", nine, "地铁站客服中心和各区公交营业厅都可以办理。")
    post_answer(pk, guest, "s1", None, "补充说明：下周起网上也能申请。")
    for n in range(3):
        support_question(pk, ten, f"fan-{n}")
    hidden = published(pk, 11, "末班车能延后到十二点吗？", "夜归人", publish=False)
    server = daphne()
    words = {}

    with chromium() as browser:
        viewer = open_live(browser, server, pk, "viewer", locale="zh-CN", viewport=DESK)
        page = viewer.page
        for key in ("answered-mark", "on-air", "statement", "support", "supported", "showing"):
            words[key] = page.get_attribute("#live", f"data-i18n-{key}")
        assert words["answered-mark"] == "已回答" and words["on-air"] == "现场口头回答"

        # The answer to #9 sits inside #9's card, not under #10; #9 is marked, #10 is not.
        answer = item(page, nine).locator("ol.answers > li.answer")
        expect(answer).to_have_count(1, timeout=LIVE_WAIT)
        expect(answer).to_contain_text("客服中心")
        expect(answer.locator(".who")).to_have_text("张明 市交通委新闻发言人")
        expect(item(page, nine).locator(".answered-mark")).to_be_visible()
        expect(item(page, ten).locator("li.answer")).to_have_count(0)
        expect(item(page, ten).locator(".answered-mark")).to_be_hidden()
        # The statement and the host message stand alone, the statement labelled as one.
        statement = page.locator("#feed > li.answer.statement")
        expect(statement).to_contain_text(words["statement"])
        expect(page.locator("#feed > li.host")).to_contain_text("欢迎收看")
        # The counts given before the page was opened are there, without any new support.
        expect(item(page, ten).locator("button.support")).to_have_text(f"{words['support']} 3")

        # A guest answers #11, approved but never published: the question comes with its answer.
        in_thread(post_answer, pk, guest, "a11", hidden, "末班车将于下月起延后半小时。")
        expect(item(page, hidden)).to_contain_text("末班车能延后到十二点吗？", timeout=LIVE_WAIT)
        expect(item(page, hidden).locator("li.answer")).to_contain_text("延后半小时")
        expect(item(page, hidden).locator(".answered-mark")).to_be_visible()
        # A second answer, given by voice on air, joins the same card with its label.
        in_thread(answered_on_air, pk, hidden, "嘉宾口头说明：首末班时间以公告为准。")
        on_air = item(page, hidden).locator("li.answer").nth(1)
        expect(on_air).to_contain_text("首末班时间", timeout=LIVE_WAIT)
        expect(on_air.locator(".tag.on-air")).to_have_text(words["on-air"])

        # 附议 #10: the button says so at once and cannot be pressed twice.
        button = item(page, ten).locator("button.support")
        button.click()
        expect(button).to_have_text(f"{words['supported']} 4", timeout=LIVE_WAIT)
        expect(button).to_be_disabled()

        # Orders and filters, chosen with the keyboard.
        assert shown_questions(page) == [nine, ten, hidden]
        view(page, "support")
        expect(page.locator("#feed > li.question:visible").first).to_have_attribute("data-question", str(ten))
        expect(page.locator("#feed > li.host")).to_be_hidden()
        expect(page.locator("#views-status")).to_have_text(
            words["showing"].replace("{shown}", "3").replace("{total}", "5")
        )
        view(page, "unanswered")
        assert shown_questions(page) == [ten]
        view(page, "answered")
        assert shown_questions(page) == [nine, hidden]
        view(page, "latest")
        # The latest activity first: #11 just got its answers.
        expect(page.locator("#feed > li:visible").first).to_have_attribute("data-question", str(hidden))
        expect(page.locator("#feed > li:visible")).to_have_count(5)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "viewer-live-latest-1280.png"), full_page=True)
        view(page, "programme")
        assert shown_questions(page) == [nine, ten, hidden]
        expect(page.locator("#views-status")).to_have_text("")
        page.screenshot(path=str(ARTIFACTS / "viewer-live-1280.png"), full_page=True)

        # Reloaded, the page shows the count and that this browser already supported #10.
        page.reload()
        button = item(page, ten).locator("button.support")
        expect(button).to_have_text(f"{words['supported']} 4", timeout=LIVE_WAIT)
        expect(button).to_be_disabled()
        expect(item(page, nine).locator("button.support")).to_have_text(f"{words['support']} 0")
        expect(item(page, nine).locator("button.support")).to_be_enabled()

        # Another browser sees the same count and may still support.
        phone = open_live(
            browser, server, pk, "phone", locale="zh-CN", viewport=PHONE, is_mobile=True, has_touch=True
        )
        other = item(phone.page, ten).locator("button.support")
        expect(other).to_have_text(f"{words['support']} 4", timeout=LIVE_WAIT)
        expect(other).to_be_enabled()
        expect(item(phone.page, nine).locator("li.answer")).to_have_count(1)
        assert phone.page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        phone.page.screenshot(path=str(ARTIFACTS / "viewer-live-360.png"), full_page=True)

        # A moderator takes #9 down: its answer stays on screen, saying its question is not shown.
        in_thread(withdraw_published, pk, nine)
        expect(item(phone.page, nine)).to_have_count(0, timeout=LIVE_WAIT)
        alone = phone.page.locator("#feed > li.answer.alone")
        expect(alone).to_contain_text("客服中心")
        expect(alone.locator(".tag.kind")).to_have_text("所答问题未公开")

        for watched in (viewer, phone):
            assert watched.errors == [], watched.report()


def record_with_silences(personas) -> tuple[int, dict[str, int]]:
    """A programme whose first item comes 90 s after it started, and a second one 75 s later."""
    from moderation.supports import support_question
    from studio.models import Event
    from studio.services import post_answer, post_host_message, set_status

    guest, host = personas["guest"], personas["host"]
    broadcast = make_broadcast("jtw", host, [guest])
    pk = broadcast.pk
    set_status(pk, host, "live")  # seq 1, at 0 s
    question = published(pk, 1, "公交卡余额怎么退？", "老张")  # seq 2, at 90 s
    post_answer(pk, guest, "a1", question, "在任意客服网点可以办理退卡。")  # seq 3, at 92 s
    support_question(pk, question, "fan-1")
    post_host_message(pk, host, "h1", "下面进入第二个话题。")  # seq 4, at 167 s
    set_status(pk, host, "ended")  # seq 5, at 170 s
    start = Event.objects.get(broadcast_id=pk, seq=1).at
    for seq, seconds in ((2, 90), (3, 92), (4, 167), (5, 170)):
        Event.objects.filter(broadcast_id=pk, seq=seq).update(at=start + dt.timedelta(seconds=seconds))
    return pk, {"question": question}


def test_the_replay_skips_long_silences_saying_so_and_its_clock_keeps_the_programmes_time(daphne, personas):
    pk, ids = in_thread(record_with_silences, personas)
    server = daphne()
    with chromium() as browser:
        viewer = Watched(browser, "replay", locale="zh-CN", viewport=DESK)
        page = viewer.page
        page.goto(f"{server.url}/replay/{pk}/")
        skipped_words = page.get_attribute("#replay", "data-i18n-skipped")
        assert skipped_words == "已跳过 {time}无内容"
        expect(page.locator("#skip-gaps")).to_be_checked()  # skipping is the default
        expect(page.locator("#next-in")).to_have_text("下一条内容：1 分 30 秒后")
        page.click("#play")  # at 1×
        # The question comes within a few seconds, not after 90, and the page says what it skipped.
        question = item(page, ids["question"])
        expect(question).to_be_visible(timeout=5_000)
        expect(page.locator("#skipped")).to_have_text(re.compile(r"^已跳过 1 分 \d+ 秒无内容$"))
        # The clock and the slider tell the programme's time: about a minute and a half in.
        assert page.locator("#clock").inner_text() >= "01:29"
        assert int(page.locator("#position").input_value()) >= 89_000
        # Its answer follows two seconds later, inside the question's card, which is marked answered.
        expect(question.locator("li.answer")).to_contain_text("退卡", timeout=5_000)
        expect(question.locator(".answered-mark")).to_be_visible()
        expect(question.locator("span.support")).to_have_text("附议 1")
        # The 75 s silence before the host's message is skipped as well.
        expect(page.locator("#feed > li.host")).to_contain_text("第二个话题", timeout=8_000)
        expect(page.locator("#skipped")).to_have_text("已跳过 1 分 14 秒无内容")
        assert page.locator("#clock").inner_text() >= "02:46"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "viewer-replay-1280.png"), full_page=True)

        # Without skipping, the page plays every second and says how long until the next item.
        slow = Watched(browser, "replay at its own pace", locale="zh-CN", viewport=PHONE, is_mobile=True)
        slow.page.goto(f"{server.url}/replay/{pk}/")
        slow.page.locator("#skip-gaps").uncheck()
        slow.page.click("#play")
        expect(slow.page.locator("#clock")).to_have_text("00:02", timeout=5_000)
        expect(slow.page.locator("#next-in")).to_have_text(re.compile(r"^下一条内容：1 分 2\d 秒后$"))
        expect(slow.page.locator("#feed > li")).to_have_count(0)
        expect(slow.page.locator("#skipped")).to_have_text("")
        assert slow.page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        slow.page.click("#to-end")
        expect(slow.page.locator("#feed > li")).to_have_count(2)
        slow.page.screenshot(path=str(ARTIFACTS / "viewer-replay-360.png"), full_page=True)

        for watched in (viewer, slow):
            assert watched.errors == [], watched.report()
