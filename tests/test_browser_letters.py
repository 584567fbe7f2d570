"""End to end in Debian's Chromium against a real daphne process: the letter pages.

One letter's whole life through the pages of the four kinds of user: a netizen writes it and keeps
its code and key, the operator forwards it, the department's handler signs for it, asks for an
extension that the supervisor approves, and replies; the netizen reads the reply and rates it
unsatisfied, the supervisor orders a redo, the handler replies again, the netizen is satisfied,
and the public scoreboard counts it. Every write goes through a browser (pages → letters.services),
so the flow is the same with or without Redis. Pages are asked for in English (the Chinese
catalogue is filled afterwards); states are also checked through data-* attributes.
"""

import pytest
from playwright.sync_api import Page, expect

from tests.test_browser import Watched, chromium, in_thread

pytestmark = [pytest.mark.browser, pytest.mark.processes]

WAIT = 10_000  # ms: pages are server-rendered; this only bounds a failure
PHONE = {"width": 360, "height": 780}


def log_in(staff: Watched, server, user, path: str) -> Page:
    """Open `path`, land on the login form, log in as `user` and come back to `path`."""
    page = staff.page
    page.goto(server.url + path)
    assert "/accounts/login/" in page.url
    page.fill("#id_username", user.username)
    page.fill("#id_password", "pw-" + user.username)
    page.click("main form button[type=submit]")
    page.wait_for_url(f"**{path}")
    return page


def stored_letter(code: str):
    from letters.models import Letter

    return in_thread(Letter.objects.select_related("department").get, code=code)


def letter_count() -> int:
    from letters.models import Letter

    return in_thread(Letter.objects.count)


def track(page: Page, server, code: str, key: str) -> None:
    page.goto(f"{server.url}/letters/track/")
    page.fill("#track-code", code)
    page.fill("#track-key", key)
    page.click("#track-form button[type=submit]")
    expect(page.locator("#letter")).to_have_attribute("data-code", code, timeout=WAIT)


def fits_the_phone(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], page.url


def test_one_letter_lives_its_whole_life_through_the_pages_of_netizen_operator_handler_and_supervisor(
    daphne, personas
):
    server = daphne()
    subject = "12路公交站牌信息有误"
    first_reply = "已安排人员核实站牌信息，本周内更换。"
    second_reply = "站牌已于昨日更换，感谢您的监督。"

    with chromium() as browser:
        netizen = Watched(browser, "netizen", viewport=PHONE, locale="en-US")
        operator = Watched(browser, "operator", locale="en-US")
        handler = Watched(browser, "handler_a", locale="en-US")
        supervisor = Watched(browser, "supervisor", locale="en-US")

        # The netizen writes a complaint on a phone and notes the code and the key.
        page = netizen.page
        page.goto(f"{server.url}/letters/write/")
        page.select_option("#kind", "complaint")
        page.fill("#subject", subject)
        page.fill("#body", "朝阳路站的站牌仍写着旧的首末班时间。")
        page.fill("#name", "王先生")
        page.fill("#contact", "13800000000")
        expect(page.locator("#privacy-notice")).to_contain_text("How we use your personal information")
        page.check("#consent")
        fits_the_phone(page)
        page.click("#write-send")
        written = page.locator("#written")
        expect(written).to_be_visible(timeout=WAIT)
        expect(page.locator("#write-form")).to_be_hidden()
        expect(written).to_contain_text("Keep the tracking code and the secret key now.")
        code = page.locator("#written-code").inner_text().strip()
        key = page.locator("#written-key").inner_text().strip()
        assert code.startswith("MX") and len(key) >= 16
        fits_the_phone(page)
        letter = stored_letter(code)
        assert (letter.subject, letter.kind, letter.status, letter.public) == (
            subject,
            "complaint",
            "submitted",
            True,
        )

        # Looked up before it is forwarded: waiting, no department yet.
        track(page, server, code, key)
        expect(page.locator("#letter-status")).to_have_text("Waiting to be forwarded")
        expect(page.locator("#letter-department")).to_have_text("not yet forwarded")

        # The operator forwards it to the transport commission (jtw) from the queue.
        ops = log_in(operator, server, personas["operator"], "/letters/operator/")
        queued = ops.locator(f"#forward-queue li[data-code='{code}']")
        expect(queued).to_contain_text(subject)
        queued.locator("select").select_option("jtw")
        queued.locator("button[value=forward]").click()
        expect(ops.locator("#letters-status")).to_contain_text(
            f"Letter {code} was forwarded to 北京市交通委员会"
        )
        expect(queued).to_have_count(0)

        # The jtw handler sees it with a green light, signs for it and asks for two more days.
        hand = log_in(handler, server, personas["handler_a"], "/letters/handler/")
        item = hand.locator(f"#handler-queue li[data-code='{code}']")
        expect(item).to_have_attribute("data-status", "forwarded")
        expect(item.locator(".status")).to_have_text("Forwarded, waiting to be signed for")
        expect(item.locator(".light")).to_have_text("Green light")
        # The writer's contact is behind "show", and opening it is recorded for the supervisor.
        expect(item).not_to_contain_text("13800000000")
        item.locator("button[value=contact]").click()
        expect(item.locator(".writer")).to_contain_text("王先生 · 13800000000")
        item.locator("button[value=sign]").click()
        expect(hand.locator("#letters-status")).to_contain_text(f"You signed for letter {code}.")
        expect(item).to_have_attribute("data-status", "signed")
        expect(item.locator(".status")).to_have_text("Signed for, being handled")
        expect(item.locator(".light")).to_have_text("Green light")
        before = stored_letter(code).reply_deadline
        item.locator("input[name=days]").fill("2")
        item.locator(".extend-form input[name=reason]").fill("需会同公交集团现场核实")
        item.locator("button[value=extend]").click()
        expect(item.locator(".pending")).to_have_text(
            "Extension of 2 working days waits for a decision.", timeout=WAIT
        )

        # The supervisor approves the extension; the reply deadline moves by two working days.
        sup = log_in(supervisor, server, personas["supervisor"], "/letters/supervisor/")
        asked = sup.locator(f"#extensions li[data-code='{code}']")
        expect(asked).to_contain_text("2 more working days asked")
        expect(asked).to_contain_text("需会同公交集团现场核实")
        expect(sup.locator("#lights tr[data-department='jtw'] td.green")).to_have_text("1")
        asked.locator("button[value=approve]").click()
        expect(sup.locator("#letters-status")).to_contain_text(
            f"The extension of letter {code} was approved."
        )
        expect(asked).to_have_count(0)
        extended = stored_letter(code)
        assert extended.extension_days == 2 and extended.reply_deadline > before

        # The handler sees the extension and replies.
        hand.reload()
        expect(item).to_contain_text("extended by 2 working days")
        expect(item.locator(".pending")).to_have_count(0)
        item.locator("textarea[name=text]").fill(first_reply)
        item.locator("button[value=reply]").click()
        expect(hand.locator("#letters-status")).to_contain_text(f"Your reply to letter {code}")
        expect(item).to_have_count(0)  # no longer open

        # The netizen reads the reply and is not satisfied.
        track(page, server, code, key)
        expect(page.locator("#letter-status")).to_have_text("Replied")
        expect(page.locator("#letter-department")).to_have_text("北京市交通委员会")
        expect(page.locator("#letter-reply")).to_have_text(first_reply)
        expect(page.locator("#letter-reply-deadline")).to_contain_text("extended by 2 working days")
        fits_the_phone(page)
        page.check("#rating-unsatisfied")
        page.fill("#rate-comment", "只说会更换，没有说何时。")
        page.click("#rate-form button[type=submit]")
        expect(page.locator("#track-done")).to_be_visible(timeout=WAIT)
        expect(page.locator("#letter-status")).to_have_text("Closed")
        expect(page.locator("#letter-rating")).to_contain_text("Unsatisfied")
        expect(page.locator("#rate-form")).to_have_count(0)

        # The supervisor orders a redo of the closed letter.
        sup.reload()
        done = sup.locator(f"#done-letters li[data-code='{code}']")
        expect(done.locator(".status")).to_have_text("Closed")
        expect(done).to_contain_text("Unsatisfied")
        done.locator("input[name=reason]").fill("答复未说明更换时间")
        done.locator("button[value=redo]").click()
        expect(sup.locator("#letters-status")).to_contain_text(f"Letter {code} goes back to its department")
        expect(done).to_have_count(0)

        # The handler has it back, green, marked as a redo, and replies again.
        hand.reload()
        expect(item).to_have_attribute("data-status", "signed")
        expect(item.locator(".status")).to_have_text("Signed for, being handled")
        expect(item.locator(".light")).to_have_text("Green light")
        expect(item).to_contain_text("ordered to be handled again")
        # …with the supervisor's reason, so the second reply can answer it.
        expect(item.locator(".redo-reason")).to_have_text("Reason for the redo: 答复未说明更换时间")
        item.locator("textarea[name=text]").fill(second_reply)
        item.locator("button[value=reply]").click()
        expect(item).to_have_count(0)

        # The netizen reads the new reply and is satisfied.
        track(page, server, code, key)
        expect(page.locator("#letter-status")).to_have_text("Replied")
        expect(page.locator("#letter-reply")).to_have_text(second_reply)
        page.check("#rating-satisfied")
        page.click("#rate-form button[type=submit]")
        expect(page.locator("#letter-status")).to_have_text("Closed", timeout=WAIT)
        expect(page.locator("#letter-rating")).to_contain_text("Satisfied")
        final = stored_letter(code)
        assert (final.status, final.rating, final.redo_count, final.department.code) == (
            "closed",
            "satisfied",
            1,
            "jtw",
        )

        # The public list shows it with its reply, without the writer; so does the scoreboard.
        page.goto(f"{server.url}/letters/?department=jtw")
        listed = page.locator(f"#public-letters li[data-code='{code}']")
        expect(listed).to_contain_text(subject)
        expect(listed.locator(".reply")).to_contain_text(second_reply)
        expect(listed).not_to_contain_text("王先生")
        expect(listed).not_to_contain_text("13800000000")
        page.goto(f"{server.url}/letters/scoreboard/")
        row = page.locator("#scoreboard tr[data-department='jtw']")
        expect(row.locator(".received")).to_have_text("1")
        expect(row.locator(".replied")).to_have_text("1")
        expect(row.locator(".rank")).to_have_text("not ranked")  # one letter is below the minimum
        expect(row).to_contain_text("100%")
        fits_the_phone(page)

        # The supervisor reads who opened the writer's contact.
        supervise = supervisor.page
        supervise.goto(f"{server.url}/letters/supervisor/contact-access/?letter={code}")
        expect(supervise.locator(f"#contact-accesses tr[data-code='{code}'][data-by='hank']")).to_have_count(
            1
        )

        # The writer has the letter's personal data erased; the letter stays in the scoreboard.
        track(page, server, code, key)
        page.check("#erase-confirm")
        page.click("#erase-form button[type=submit]")
        expect(page.locator("#track-done")).to_be_visible(timeout=WAIT)
        expect(page.locator("#erase-form")).to_have_count(0)
        erased = stored_letter(code)
        assert (erased.name, erased.contact, erased.status) == ("", "", "closed")

        for watched in (netizen, operator, handler, supervisor):
            assert watched.errors == [], watched.report()


def test_an_empty_subject_is_refused_clearly_and_another_department_does_not_see_the_letter(daphne, personas):
    from letters import services

    server = daphne()
    with chromium() as browser:
        netizen = Watched(browser, "netizen", viewport=PHONE, locale="en-US")
        page = netizen.page
        page.goto(f"{server.url}/letters/write/")
        page.fill("#body", "地铁站电梯经常停运。")
        page.fill("#name", "李女士")
        page.fill("#contact", "lee@example.com")
        page.click("#write-send")
        expect(page.locator("#subject-error")).to_have_text("Please fill this in.")
        # Not sent without agreeing to the privacy notice either.
        expect(page.locator("#consent-error")).to_contain_text(
            "Please agree to how your personal information"
        )
        expect(page.locator("#subject")).to_have_attribute("aria-invalid", "true")
        expect(page.locator("#write-error")).to_have_text(
            "The letter was not sent. Please correct the fields marked below."
        )
        expect(page.locator("#subject")).to_be_focused()
        expect(page.locator("#written")).to_be_hidden()
        assert letter_count() == 0

        # Filled in, a double click stores one letter, sent with an Idempotency-Key.
        keys: list[str | None] = []
        page.on(
            "request",
            lambda r: (
                keys.append(r.headers.get("idempotency-key")) if r.url.endswith("/api/letters/") else None
            ),
        )
        page.fill("#subject", "地铁站电梯停运")
        expect(page.locator("#subject-error")).to_have_text("Please fill this in.")  # until sent again
        page.check("#consent")
        page.dblclick("#write-send")
        expect(page.locator("#written")).to_be_visible(timeout=WAIT)
        expect(page.locator("#subject-error")).to_have_text("")
        assert letter_count() == 1
        assert keys and all(keys) and len(set(keys)) == 1
        code = page.locator("#written-code").inner_text().strip()

        # Forwarded to jtw: its handler sees it, the swj handler does not, nor may open the others' pages.
        in_thread(services.forward, code, "jtw", personas["operator"])
        own = Watched(browser, "handler_a", locale="en-US")
        log_in(own, server, personas["handler_a"], "/letters/handler/")
        expect(own.page.locator(f"#handler-queue li[data-code='{code}']")).to_contain_text("地铁站电梯停运")
        other = Watched(browser, "handler_b", locale="en-US")
        log_in(other, server, personas["handler_b"], "/letters/handler/")
        expect(other.page.locator("h1")).to_contain_text("北京市水务局")
        expect(other.page.locator(f"[data-code='{code}']")).to_have_count(0)
        expect(other.page.locator("main")).not_to_contain_text("地铁站电梯停运")
        for path in ("/letters/operator/", "/letters/supervisor/"):
            response = other.page.goto(server.url + path)
            assert response is not None and response.status == 403
            expect(other.page.locator("h1")).to_have_text("Not allowed")

        for watched in (netizen, own, other):
            assert watched.errors == [], watched.report()


def test_handlers_see_red_and_yellow_letters_first_and_supervisors_count_lights_per_department(
    daphne, personas
):
    import datetime as dt

    from django.utils import timezone

    from letters import services
    from letters.models import Letter

    def seeded() -> dict[str, str]:
        codes = {}
        for colour in ("green", "yellow", "red"):
            answer, _created = services.submit(
                {
                    "kind": "consultation",
                    "subject": f"{colour} 信件",
                    "body": "内容",
                    "name": "张",
                    "contact": "1",
                }
            )
            services.forward(answer["code"], "jtw", personas["operator"])
            codes[colour] = answer["code"]
        now = timezone.now()
        hour = dt.timedelta(hours=1)
        Letter.objects.filter(code=codes["yellow"]).update(
            sign_yellow_at=now - hour, sign_deadline=now + hour
        )
        Letter.objects.filter(code=codes["red"]).update(
            sign_yellow_at=now - 2 * hour, sign_deadline=now - hour
        )
        return codes

    server = daphne()
    codes = in_thread(seeded)
    with chromium() as browser:
        handler = Watched(browser, "handler_a", viewport=PHONE, locale="en-US")
        page = log_in(handler, server, personas["handler_a"], "/letters/handler/")
        queue = page.locator("#handler-queue > li")
        expect(queue).to_have_count(3)
        assert queue.evaluate_all("items => items.map((i) => i.dataset.code)") == [
            codes["red"],
            codes["yellow"],
            codes["green"],
        ]
        expect(queue.locator("p:first-child .light")).to_have_text(
            ["Red light", "Yellow light", "Green light"]
        )
        alerts = page.locator("#alerts li")
        expect(alerts).to_have_count(2)
        expect(alerts.nth(0)).to_contain_text("Red light")
        expect(alerts.nth(0)).to_contain_text("new")
        expect(alerts.nth(1)).to_contain_text("Yellow light")
        expect(page.locator("#light-counts")).to_contain_text("Red light: 1")
        fits_the_phone(page)

        supervisor = Watched(browser, "supervisor", locale="en-US")
        sup = log_in(supervisor, server, personas["supervisor"], "/letters/supervisor/")
        row = sup.locator("#lights tr[data-department='jtw']")
        expect(row.locator("td")).to_have_text(["1", "1", "1"])
        red = sup.locator("#red-letters li[data-code]")
        expect(red).to_have_count(1)
        expect(red).to_have_attribute("data-code", codes["red"])
        expect(red).to_contain_text("Red light")

        # The assessment for this year, with its downloads.
        expect(sup.locator("#assessment tr[data-department='jtw']")).to_contain_text("3")
        csv_link = sup.locator("#assessment-csv").get_attribute("href")
        assert csv_link and "format=csv" in csv_link
        download = sup.request.get(server.url + csv_link)
        assert download.status == 200 and "北京市交通委员会" in download.text()
        xlsx = sup.request.get(server.url + sup.locator("#assessment-xlsx").get_attribute("href"))
        assert xlsx.status == 200 and xlsx.body()[:2] == b"PK"

        for watched in (handler, supervisor):
            assert watched.errors == [], watched.report()


def test_a_writer_rates_a_letter_the_clock_closed_unrated_from_the_tracking_page(daphne, personas):
    """未评价办结 is not the end of the writer's say: for 30 days the tracking page explains why the
    letter is closed and still takes the rating, on a phone (the Django-client test checks the rules)."""
    import datetime as dt

    from django.utils import timezone

    from letters import followup, services

    server = daphne()
    answer, _ = in_thread(
        services.submit,
        {"kind": "consultation", "subject": "小区路灯不亮", "body": "东门的路灯坏了一周。", "name": "王先生",
         "contact": "13912345678", "public": True, "consent": True},
    )  # fmt: skip
    code, key = answer["code"], answer["key"]
    in_thread(services.forward, code, "jtw", personas["operator"])
    in_thread(services.sign, code, personas["handler_a"])
    in_thread(services.reply, code, "<p>已安排维修，三日内修复。</p>", personas["handler_a"])
    # Two weeks on, past the seven working days, the clock closes it without a rating.
    assert in_thread(followup.close_unrated, timezone.now() + dt.timedelta(days=15)) == 1
    closed = stored_letter(code)
    assert (closed.status, closed.closure, closed.rating) == ("closed", "unrated", "")
    with chromium() as browser:
        netizen = Watched(browser, "netizen-late", viewport=PHONE, locale="zh-CN")
        page = netizen.page
        track(page, server, code, key)
        expect(page.locator("#late-rating")).to_contain_text("因未评价已自动办结；您仍可对答复进行满意度评价")
        fits_the_phone(page)
        page.check("#rating-basic")
        page.fill("#rate-comment", "修好了，但等了一周。")
        page.click("#rate-form button[type=submit]")
        expect(page.locator("#letter-rating")).to_contain_text("基本满意", timeout=WAIT)
        expect(page.locator("#rate-form")).to_have_count(0)
        expect(page.locator("#late-rating")).to_have_count(0)
        assert netizen.errors == [], netizen.report()
    rated = stored_letter(code)
    assert (rated.status, rated.closure, rated.rating, rated.rating_comment) == (
        "closed",
        "unrated",
        "basic",
        "修好了，但等了一周。",
    )
