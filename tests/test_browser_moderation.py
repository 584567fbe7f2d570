"""End to end in Debian's Chromium against a real daphne process: the moderator console.

Two moderators screen one queue with the keyboard and each sees the other's decisions at once;
flagged questions (personal data, review-list words) are marked for the moderator and masked for
viewers; and hostile markup typed by netizens, guests and the host stays inert text on every page
(PROTOCOL.md §1.1–1.3: questions are escaped plain text, answers and host messages a safe subset).

Every write goes through a browser, so it reaches daphne, the one process that pushes frames to the
pages: the flow is the same with or without Redis. Banned words are stored before daphne starts,
so daphne's own automaton (and cache, without Redis) knows them from its first screening.
"""

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import make_broadcast, make_staff
from tests.test_browser import ARTIFACTS, CONNECTED, LIVE_WAIT, Watched, chromium, in_thread, open_live

pytestmark = [pytest.mark.browser, pytest.mark.processes]

QUEUE_WAIT = 5_000  # ms: a new question reaches every open console within 5 s


def log_in(staff: Watched, server, user, path: str) -> Watched:
    """Log `staff` in on the login form `path` redirects to, and wait until its socket is open."""
    page = staff.page
    page.goto(server.url + path)
    assert "/accounts/login/" in page.url
    page.fill("#id_username", user.username)
    page.fill("#id_password", "pw-" + user.username)
    page.click("main form button[type=submit]")
    page.wait_for_url(f"**{path}")
    expect(page.locator("#conn")).to_have_text(CONNECTED, timeout=LIVE_WAIT)
    return staff


def ask(page: Page, text: str, nickname: str = "") -> None:
    """Ask on the live page and wait until the server has stored the question (ask.ok)."""
    mine = page.locator("#mine li[data-id]")
    before = mine.count()
    page.fill("#nickname", nickname)
    page.fill("#question", text)
    page.check("#consent")  # the privacy notice (PIPL)
    page.click("#ask-form button[type=submit]")
    expect(mine).to_have_count(before + 1, timeout=LIVE_WAIT)


def question_ids(broadcast) -> list[int]:
    from moderation.models import Question

    return in_thread(
        lambda: list(Question.objects.filter(broadcast=broadcast).order_by("id").values_list("id", flat=True))
    )


def load_question(question_id: int):
    from moderation.models import Question

    return in_thread(Question.objects.get, pk=question_id)


def focused_id(page: Page) -> int | None:
    value = page.evaluate("document.activeElement && document.activeElement.dataset.id")
    return int(value) if value else None


def select_by_keyboard(page: Page, question_id: int) -> None:
    """Move the console's keyboard focus to one question with k (to the top) and j (down)."""
    ids = [
        int(i) for i in page.locator("#queue > li").evaluate_all("items => items.map((i) => i.dataset.id)")
    ]
    for _ in ids:
        page.keyboard.press("k")
    for _ in range(ids.index(question_id)):
        page.keyboard.press("j")
    assert focused_id(page) == question_id
    expect(page.locator(f"#queue > li[data-id='{question_id}']")).to_have_attribute("aria-selected", "true")


def test_two_moderators_screen_one_queue_with_the_keyboard_and_each_sees_the_others_decisions_at_once(
    daphne, personas
):
    mona = personas["moderator"]
    mike = make_staff("mike", "moderator", name="迈克")
    broadcast = make_broadcast("jtw", personas["host"], [personas["guest"]], status="live")
    server = daphne()
    texts = ["12路公交什么时候恢复原线路？", "地铁末班车能否延长到午夜？", "老城区停车位太少怎么办？"]

    with chromium() as browser:
        first = log_in(Watched(browser, "mona", locale="zh-CN"), server, mona, f"/moderate/{broadcast.pk}/")
        second = log_in(Watched(browser, "mike", locale="zh-CN"), server, mike, f"/moderate/{broadcast.pk}/")
        netizen = open_live(browser, server, broadcast.pk, "netizen", locale="zh-CN")
        for text in texts:
            ask(netizen.page, text, nickname="老王")
        q1, q2, q3 = question_ids(broadcast)

        # Both consoles show the three questions as they arrive, without a reload.
        for console in (first, second):
            items = console.page.locator("#queue > li")
            expect(items).to_have_count(3, timeout=QUEUE_WAIT)
            expect(items.locator(".text")).to_have_text(texts)
            expect(console.page.locator("#count")).to_have_text("3")

        # Moderator 1, keyboard only. The first question is preselected; j moves to the next, k back.
        page = first.page
        expect(page.locator(f"#queue > li[data-id='{q1}']")).to_have_attribute("aria-selected", "true")
        page.keyboard.press("j")
        assert focused_id(page) == q2
        page.keyboard.press("k")
        assert focused_id(page) == q1
        expect(page.locator(f"#queue > li[data-id='{q1}']")).to_have_attribute("aria-selected", "true")
        page.keyboard.press("p")  # approve and publish
        for console in (first, second):
            expect(console.page.locator(f"#queue > li[data-id='{q1}']")).to_have_count(0, timeout=LIVE_WAIT)
            expect(console.page.locator("#queue > li")).to_have_count(2)
        status = second.page.locator("#moderate-status")
        expect(status).to_contain_text(f"#{q1}")
        expect(status).to_contain_text(mona.username)
        question = load_question(q1)
        assert question.status == "approved" and question.published_seq is not None
        published = netizen.page.locator("#feed li.question")
        expect(published).to_have_count(1, timeout=LIVE_WAIT)
        expect(published.locator(".text")).to_have_text(texts[0])

        # Moderator 2 rejects with j then r, typing the reason in the dialog and sending it with Enter.
        second.page.keyboard.press("j")
        rejected = focused_id(second.page)
        assert rejected in (q2, q3)
        kept = q3 if rejected == q2 else q2
        second.page.keyboard.press("r")
        dialog = second.page.locator("#reject-dialog")
        expect(dialog).to_be_visible()
        expect(dialog.locator(".dialog-quote")).to_have_text(texts[[q1, q2, q3].index(rejected)])
        second.page.fill("#reject-reason", "含有广告")
        second.page.press("#reject-reason", "Enter")
        expect(dialog).to_be_hidden(timeout=LIVE_WAIT)
        for console in (first, second):
            expect(console.page.locator(f"#queue > li[data-id='{rejected}']")).to_have_count(
                0, timeout=LIVE_WAIT
            )
            expect(console.page.locator("#queue > li")).to_have_count(1)
            expect(console.page.locator(f"#queue > li[data-id='{kept}']")).to_have_count(1)
        expect(first.page.locator("#moderate-status")).to_contain_text(f"#{rejected}")
        expect(first.page.locator("#moderate-status")).to_contain_text(mike.username)
        question = load_question(rejected)
        assert (question.status, question.reason) == ("rejected", "含有广告")
        # The netizen is told, with the reason, on the page it asked from.
        mine = netizen.page.locator(f"#mine li[data-id='{rejected}']")
        expect(mine).to_have_attribute("data-status", "rejected", timeout=LIVE_WAIT)
        expect(mine).to_contain_text("含有广告")
        expect(published).to_have_count(1)  # nothing rejected reached the viewers

        for watched in (first, second, netizen):
            assert watched.errors == [], watched.report()


# Marks every item of the waiting queue with a JS property: a re-created item would not carry it.
MARK_QUEUE = "() => document.querySelectorAll('#queue > li').forEach((li) => { li.__kept = true; })"
QUEUE_KEPT = "() => [...document.querySelectorAll('#queue > li')].map((li) => li.__kept === true)"


def test_a_moderator_sees_times_publishes_withdraws_with_a_confirmation_and_rejects_with_a_reason(
    daphne, personas
):
    from django.utils import timezone

    broadcast = make_broadcast("jtw", personas["host"], [personas["guest"]], status="live")
    server = daphne()
    texts = ["12路公交什么时候恢复原线路？", "代办各类证件，加微信", "地铁末班车能否延长到午夜？"]

    with chromium() as browser:
        console = log_in(
            Watched(browser, "mona", locale="zh-CN"),
            server,
            personas["moderator"],
            f"/moderate/{broadcast.pk}/",
        )
        page = console.page
        conn = page.locator("#conn")
        expect(conn).to_have_text("已连接")  # in words, in a status region
        assert conn.get_attribute("role") == "status"
        expect(page.locator("#published-empty")).to_be_visible()
        netizen = open_live(browser, server, broadcast.pk, "netizen", locale="zh-CN")
        for text in texts:
            ask(netizen.page, text, nickname="老王")
        first, spam, third = question_ids(broadcast)
        items = page.locator("#queue > li")
        expect(items).to_have_count(3, timeout=QUEUE_WAIT)
        expect(page.locator("#moderate-status")).to_have_text(f"新问题 #{third}")

        # Each question shows when it was asked, in the programme's time zone.
        asked_at = timezone.localtime(load_question(first).asked_at)
        when = items.first.locator("time")
        expect(when).to_contain_text(asked_at.strftime("%H:%M"))
        assert when.get_attribute("datetime") == asked_at.isoformat(timespec="milliseconds")

        # Approve and publish with the button: the question moves to the published list.
        page.evaluate(MARK_QUEUE)
        publish = page.get_attribute("#moderate", "data-i18n-publish")
        items.first.get_by_role("button", name=publish, exact=True).click()
        published = page.locator("#published > li")
        expect(published).to_have_count(1, timeout=LIVE_WAIT)
        expect(published.locator(".text")).to_have_text(texts[0])
        expect(published.locator(".kind")).to_have_text(f"问题 #{first}")
        expect(page.locator("#published-count")).to_have_text("1")
        expect(items).to_have_count(2)
        viewer = open_live(browser, server, broadcast.pk, "viewer", locale="zh-CN")
        on_air = viewer.page.locator("#feed li.question")
        expect(on_air).to_have_count(1, timeout=LIVE_WAIT)

        # A viewer's 附议 reaches the console as a batched count: it changes the count text only,
        # and the waiting items (sorted by supports) are the same nodes as before.
        page.select_option("#sort", "support")
        on_air.locator(".support").click()
        expect(published.first.locator(".support")).to_contain_text("1", timeout=LIVE_WAIT)
        assert page.evaluate(QUEUE_KEPT) == [True, True]
        page.screenshot(path=_artifact("moderate-console-1280.png"), full_page=True)
        page.set_viewport_size({"width": 360, "height": 740})
        assert page.evaluate("document.documentElement.scrollWidth") <= 360  # no sideways scrolling
        page.screenshot(path=_artifact("moderate-console-360.png"), full_page=True)
        page.set_viewport_size({"width": 1280, "height": 720})

        # Withdraw it with the button: a confirmation first; Esc cancels and gives focus back.
        withdraw = published.first.get_by_role("button", name=re.compile("^撤回"))
        withdraw.click()
        dialog = page.locator("#withdraw-dialog")
        expect(dialog).to_be_visible()
        expect(dialog.locator(".dialog-quote")).to_have_text(texts[0])
        page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()
        expect(withdraw).to_be_focused()  # waits: the dialog's close hands focus back after it hides
        expect(published).to_have_count(1)
        withdraw.click()
        dialog.get_by_role("button", name="撤回", exact=True).click()
        expect(published).to_have_count(0, timeout=LIVE_WAIT)
        expect(page.locator("#published-empty")).to_be_visible()
        expect(page.locator("#moderate-status")).to_have_text(f"已撤回 问题 #{first}")
        for watched in (viewer, netizen):  # the viewers' live pages no longer show it
            expect(watched.page.locator("#feed li.question")).to_have_count(0, timeout=LIVE_WAIT)
        # A console opened now lists nothing as public either.
        later = log_in(
            Watched(browser, "mona-later", locale="zh-CN"),
            server,
            personas["moderator"],
            f"/moderate/{broadcast.pk}/",
        )
        expect(later.page.locator("#queue > li")).to_have_count(2)
        expect(later.page.locator("#published > li")).to_have_count(0)

        # Reject with a reason picked in the dialog; the netizen's "我的提问" shows it.
        reject = page.get_attribute("#moderate", "data-i18n-reject")
        page.locator(f"#queue > li[data-id='{spam}']").get_by_role("button", name=reject).click()
        dialog = page.locator("#reject-dialog")
        expect(dialog).to_be_visible()
        dialog.get_by_label("与本期主题无关").check()
        expect(page.locator("#reject-reason")).to_have_value("与本期主题无关")
        page.screenshot(path=_artifact("moderate-reject-dialog-1280.png"))
        dialog.get_by_role("button", name=reject).click()
        expect(dialog).to_be_hidden(timeout=LIVE_WAIT)
        expect(items).to_have_count(1)
        mine = netizen.page.locator(f"#mine li[data-id='{spam}']")
        expect(mine).to_have_attribute("data-status", "rejected", timeout=LIVE_WAIT)
        expect(mine).to_contain_text("与本期主题无关")
        assert load_question(spam).reason == "与本期主题无关"

        # Editing refuses an empty text in the dialog, and keeps the question as it was.
        remaining = page.locator(f"#queue > li[data-id='{third}']")
        remaining.get_by_role("button", name="编辑").click()
        page.fill("#edit-text", "   ")
        page.locator("#edit-dialog").get_by_role("button", name="保存").click()
        expect(page.locator("#edit-dialog .dialog-error")).to_have_text("问题须为 1 至 500 个字。")
        page.keyboard.press("Escape")
        expect(page.locator("#edit-dialog")).to_be_hidden()
        expect(remaining).to_be_focused()  # focus back on the question (waits, as above)
        assert page.evaluate(QUEUE_KEPT) == [True]  # every update touched the item in place
        assert load_question(third).text == texts[2]

        for watched in (console, netizen, viewer, later):
            assert watched.errors == [], watched.report()


def _artifact(name: str):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / name


def add_review_word(word: str) -> None:
    from moderation import screening
    from moderation.models import BannedWord, BannedWordList

    word_list = BannedWordList.objects.create(name="人工复核", level="review")
    BannedWord.objects.create(word_list=word_list, word=word)
    screening.words_changed()


def test_the_console_marks_review_words_and_personal_data_and_viewers_see_the_phone_number_masked(
    daphne, personas
):
    broadcast = make_broadcast("jtw", personas["host"], [personas["guest"]], status="live")
    add_review_word("强拆")
    server = daphne()
    phone = "我的电话13812345678，请回电"
    demolition = "老街强拆的补偿标准是什么？"

    with chromium() as browser:
        console = log_in(
            Watched(browser, "mona", locale="zh-CN"),
            server,
            personas["moderator"],
            f"/moderate/{broadcast.pk}/",
        )
        netizen = open_live(browser, server, broadcast.pk, "netizen", locale="zh-CN")
        ask(netizen.page, phone)
        ask(netizen.page, demolition)
        phone_id, demolition_id = question_ids(broadcast)
        assert load_question(phone_id).flags == ["personal_data"]
        assert load_question(demolition_id).flags == ["sensitive:强拆"]

        page = console.page
        expect(page.locator("#queue > li")).to_have_count(2, timeout=QUEUE_WAIT)
        flagged = page.locator(f"#queue > li[data-id='{demolition_id}']")
        expect(flagged.locator(".text mark")).to_have_text(["强拆"])
        expect(flagged.locator(".text")).to_have_text(demolition)
        sensitive_label = page.get_attribute("#moderate", "data-i18n-flag-sensitive")
        expect(flagged.locator(".flags")).to_have_text(f"{sensitive_label} 强拆")
        personal = page.locator(f"#queue > li[data-id='{phone_id}']")
        expect(personal.locator(".flags")).to_be_visible()
        expect(personal.locator(".flags")).not_to_be_empty()
        expect(personal.locator(".text")).to_have_text(phone)  # the moderator sees the number
        expect(personal.locator(".text mark")).to_have_count(0)

        select_by_keyboard(page, phone_id)
        page.keyboard.press("p")
        expect(personal).to_have_count(0, timeout=LIVE_WAIT)
        published = netizen.page.locator("#feed li.question > .text")
        expect(published).to_have_text(["我的电话138******78，请回电"], timeout=LIVE_WAIT)
        assert "13812345678" not in netizen.page.locator("#feed").inner_text()
        # A viewer who opens the page later gets the same masked text from the replay.
        viewer = open_live(browser, server, broadcast.pk, "viewer", locale="zh-CN")
        expect(viewer.page.locator("#feed li.question > .text")).to_have_text(
            ["我的电话138******78，请回电"], timeout=LIVE_WAIT
        )
        assert "13812345678" not in viewer.page.content()
        assert load_question(phone_id).text == phone  # the record keeps what was asked

        for watched in (console, netizen, viewer):
            assert watched.errors == [], watched.report()


def test_a_question_with_personal_data_is_labelled_personal_data_in_the_moderators_language(daphne, personas):
    broadcast = make_broadcast("jtw", personas["host"], [personas["guest"]], status="live")
    server = daphne()
    with chromium() as browser:
        console = log_in(
            Watched(browser, "mona", locale="zh-CN"),
            server,
            personas["moderator"],
            f"/moderate/{broadcast.pk}/",
        )
        netizen = open_live(browser, server, broadcast.pk, "netizen", locale="zh-CN")
        ask(netizen.page, "我的电话13812345678，请回电")
        label = console.page.get_attribute("#moderate", "data-i18n-flag-personal-data")
        assert label and label != "flag_personal_data"
        flags = console.page.locator("#queue > li .flags")
        expect(flags).to_have_count(1, timeout=QUEUE_WAIT)
        expect(flags).to_have_text(label, timeout=2_000)


# --- hostile markup ----------------------------------------------------------------------------

# Each payload, if it ever ran, would call window.__xss(N) (or show a dialog).
XSS = [
    "<script>window.__xss(1)</script>",
    '<img src=x onerror="window.__xss(2)">',
    '<svg onload="window.__xss(3)"><circle r=9></circle></svg>',
    '<a href="javascript:window.__xss(4)">点这里</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5wYXJlbnQuX194c3MoNSk8L3NjcmlwdD4=">数据</a>',
    "&lt;script&gt;window.__xss(6)&lt;/script&gt;",
    "&#x3C;script&#x3E;window.__xss(7)&#x3C;/script&#x3E;",
    "%3Cscript%3Ewindow.__xss(8)%3C/script%3E",
    '"><script>window.__xss(9)</script>',
    '<iframe src="javascript:parent.__xss(10)"></iframe>',
    '<a href="java&#x09;script:window.__xss(11)">制表符</a>',
    '<p style="background:url(javascript:window.__xss(12));width:expression(window.__xss(12))">样式</p>',
    '<details open ontoggle="window.__xss(13)"><summary>x</summary></details>',
    '<math><mtext><table><mglyph><style><img src=x onerror="window.__xss(14)">',
    '<noscript><p title="</noscript><img src=x onerror=window.__xss(15)>">',
    '<a href=" &#106;ava&#115;cript:window.__xss(16)">实体</a>',
    '<input autofocus onfocus="window.__xss(17)">',
    "'-alert(18)-'<body onload=window.__xss(18)>",
]
HOSTILE_NICKNAME = "<img src=x onerror=__xss(98)>"
HOSTILE_REASON = '<img src=x onerror="window.__xss(99)">不予发布'
RECORD_HITS = "window.__xss_hits = []; window.__xss = (n) => window.__xss_hits.push(n);"

# Everything found inside `root` that should never be there: active elements, event handlers,
# style attributes and script-capable URLs (attribute values are already entity-decoded here).
FIND_ACTIVE = """
(root) => {
  const bad = [];
  const tags = new Set(["script", "iframe", "frame", "object", "embed", "svg", "math", "img", "style",
    "link", "meta", "base", "form", "input", "details", "body", "noscript", "template", "video", "audio"]);
  for (const el of root.querySelectorAll("*")) {
    if (tags.has(el.localName)) bad.push("<" + el.localName + ">");
    for (const attr of el.attributes) {
      const name = attr.name.toLowerCase();
      if (name.startsWith("on")) bad.push(el.localName + "[" + name + "]");
      if (name === "style" || name === "srcdoc") bad.push(el.localName + "[" + name + "]");
      if (["href", "src", "action", "formaction", "xlink:href", "data"].includes(name)) {
        const url = attr.value.replace(/[\\u0000-\\u0020]/g, "").toLowerCase();
        if (/^(javascript|data|vbscript):/.test(url)) bad.push(el.localName + "[" + name + "=" + attr.value + "]");
        try {
          const protocol = new URL(attr.value, location.href).protocol;
          if (!["http:", "https:", "mailto:"].includes(protocol)) bad.push(el.localName + "[" + name + "]→" + protocol);
        } catch (e) { bad.push(el.localName + "[" + name + "] unparsable"); }
      }
    }
  }
  return bad;
}
"""


class Guarded(Watched):
    """A page that records any call of window.__xss and any dialog it did not expect."""

    def __init__(self, browser: Browser, name: str, **context_options):
        super().__init__(browser, name, **context_options)
        self.context.add_init_script(RECORD_HITS)
        self.dialogs: list[str] = []  # browser dialogs (alert, prompt): no page should open one
        self.page.on("dialog", self._dialog)

    def _dialog(self, dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def assert_inert(self, *selectors: str) -> None:
        hits = self.page.evaluate("window.__xss_hits")
        assert hits == [], f"{self.name} ran payloads {hits}; {self.report()}"
        assert self.dialogs == [], f"{self.name} showed dialogs {self.dialogs}"
        for selector in selectors:
            found = self.page.locator(selector).evaluate(FIND_ACTIVE)
            assert found == [], f"{self.name} {selector} holds {found}"
        assert self.errors == [], self.report()


def test_hostile_markup_from_netizens_guests_and_the_host_stays_inert_text_on_every_page(daphne, personas):
    broadcast = make_broadcast("jtw", personas["host"], [personas["guest"]], status="live")
    server = daphne()
    answers = [f"答复{n}：{payload}" for n, payload in enumerate(XSS, 1)]
    messages = [f"主持人{n}：{payload}" for n, payload in enumerate(XSS, 1)]
    half = len(XSS) // 2

    with chromium() as browser:
        moderator = log_in(
            Guarded(browser, "moderator", locale="zh-CN"),
            server,
            personas["moderator"],
            f"/moderate/{broadcast.pk}/",
        )
        guest = log_in(
            Guarded(browser, "guest", locale="zh-CN"), server, personas["guest"], f"/studio/{broadcast.pk}/"
        )
        host = log_in(
            Guarded(browser, "host", locale="zh-CN"), server, personas["host"], f"/studio/{broadcast.pk}/"
        )
        netizen = Guarded(browser, "netizen", locale="zh-CN")
        netizen.page.goto(f"{server.url}/live/{broadcast.pk}/")
        expect(netizen.page.locator("#conn")).not_to_have_text("…", timeout=LIVE_WAIT)

        # The netizen asks every payload (with a hostile nickname), plus one to be rejected.
        ask(netizen.page, "这条请拒绝", nickname=HOSTILE_NICKNAME)
        for payload in XSS:
            ask(netizen.page, payload, nickname=HOSTILE_NICKNAME)
        ids = question_ids(broadcast)
        to_reject, published_ids = ids[0], ids[1:]
        netizen.assert_inert("#feed", "#mine")
        expect(netizen.page.locator("#mine li[data-id] .text")).to_have_text(["这条请拒绝", *XSS])

        # The moderator sees every payload as text, then rejects one (hostile reason) and publishes the rest.
        queue = moderator.page.locator("#queue > li")
        expect(queue).to_have_count(len(ids), timeout=QUEUE_WAIT)
        expect(queue.locator(".text")).to_have_text(["这条请拒绝", *XSS])
        expect(queue.first.locator(".who")).to_contain_text(HOSTILE_NICKNAME)
        moderator.assert_inert("#queue")
        select_by_keyboard(moderator.page, to_reject)
        moderator.page.keyboard.press("r")
        moderator.page.fill("#reject-reason", HOSTILE_REASON)
        moderator.page.press("#reject-reason", "Enter")
        expect(queue).to_have_count(len(published_ids), timeout=LIVE_WAIT)
        for remaining in range(len(published_ids) - 1, -1, -1):
            moderator.page.keyboard.press("p")  # the next question is selected after each decision
            expect(moderator.page.locator("#count")).to_have_text(str(remaining), timeout=LIVE_WAIT)
        moderator.assert_inert("#queue", "#published", "#moderate-status", "#moderate-error")
        assert load_question(to_reject).reason == HOSTILE_REASON
        rejected = netizen.page.locator(f"#mine li[data-id='{to_reject}']")
        expect(rejected).to_have_attribute("data-status", "rejected", timeout=LIVE_WAIT)
        expect(rejected.locator(".badge")).to_contain_text(HOSTILE_REASON)

        # Both studio consoles list the approved questions as text.
        for studio in (guest, host):
            items = studio.page.locator("#queue > li")
            expect(items).to_have_count(len(XSS), timeout=LIVE_WAIT)
            expect(items.locator(".text")).to_have_text(XSS)
            studio.assert_inert("#queue")

        # The guest answers the first half of the questions and makes the rest statements; the host posts messages.
        for question_id, text in zip(published_ids[:half], answers[:half], strict=True):
            item = guest.page.locator(f"#queue > li[data-id='{question_id}']")
            item.locator("textarea").fill(text)
            item.locator("button").click()
            expect(item).to_have_count(0, timeout=LIVE_WAIT)
        for text in answers[half:]:
            guest.page.fill("#statement", text)
            guest.page.click("#statement-send")
            expect(guest.page.locator("#statement")).to_have_value("")
        for text in messages:
            host.page.fill("#host-text", text)
            host.page.click("#host-send")
            expect(host.page.locator("#host-text")).to_have_value("")

        # The live page, and a viewer who replays the programme from the start, show it all as text.
        viewer = Guarded(browser, "viewer", locale="zh-CN")
        viewer.page.goto(f"{server.url}/live/{broadcast.pk}/")
        for page_of in (netizen, viewer):
            feed = page_of.page.locator("#feed")
            expect(feed.locator("li.question")).to_have_count(len(XSS), timeout=LIVE_WAIT)
            expect(feed.locator("li.answer")).to_have_count(len(XSS), timeout=LIVE_WAIT)
            expect(feed.locator("li.host")).to_have_count(len(XSS), timeout=LIVE_WAIT)
            expect(feed.locator("li.question > .text")).to_have_text(XSS)
            expect(feed.locator("li.question .who").first).to_contain_text(HOSTILE_NICKNAME)
            # Answers and host messages keep their own words; the markup is stripped or shown as text.
            for locator, texts in (
                (feed.locator("li.answer .text"), answers),
                (feed.locator("li.host .text"), messages),
            ):
                shown = locator.all_inner_texts()
                assert [s.split("：", 1)[0] for s in shown] == [t.split("：", 1)[0] for t in texts]
            feed_text = feed.inner_text()
            assert "<script>window.__xss(1)</script>" in feed_text
            assert "&lt;script&gt;window.__xss(6)&lt;/script&gt;" in feed_text
            assert "%3Cscript%3Ewindow.__xss(8)%3C/script%3E" in feed_text
        # Give any failed image load time to fire its onerror before the last look.
        netizen.page.wait_for_timeout(300)
        for page_of in (netizen, viewer):
            page_of.assert_inert("#feed", "#mine")
        # The moderator's list of what is public holds every question, answer, statement and message.
        expect(moderator.page.locator("#published > li")).to_have_count(3 * len(XSS), timeout=LIVE_WAIT)
        moderator.assert_inert("#queue", "#published", "#moderate-status")
        for studio in (guest, host):
            studio.assert_inert("#queue")
        expect(guest.page.locator("#queue > li")).to_have_count(len(XSS) - half)
        expect(guest.page.locator("#console-error")).to_be_empty()
        expect(host.page.locator("#console-error")).to_be_empty()
