"""Every page passes axe-core at WCAG 2.1 AA, in Simplified Chinese and in English.

One daphne process and one Chromium serve the whole module: the demo data (past programmes with
transcripts, one live programme) plus letters in every stage, a pending and a flagged question, are
stored once. Each page is opened in a fresh browser context whose `django_language` cookie picks the
language, logged in as the staff member the page is for, brought to the state worth checking
(socket connected, question asked, letter looked up, replay at its end), and then checked by the
pinned axe-core from npm (package.json; `python3.11 dev.py setup` installs it).
"""

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import pytest
from django.core.management import call_command
from playwright.sync_api import Browser, Page, expect

from tests.conftest import AXE, IN_CI, Daphne, _missing_service, start_daphne
from tests.test_browser import ARTIFACTS, CONNECTED, LIVE_WAIT, Watched, chromium
from tests.test_browser_letters import log_in

# The data is stored once for the module (below), and the tests themselves touch no table here, so
# they declare no app: a transactional test then sets up the test database (and runs with the other
# transactional tests, after the ones in transactions) but flushes nothing between pages.
pytestmark = [
    pytest.mark.browser,
    pytest.mark.processes,
    pytest.mark.axe,
    pytest.mark.django_db(transaction=True, available_apps=[]),
]

WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
LANGUAGES = ["zh-hans", "en"]
AXE_RUN = """(tags) => axe.run(document, {runOnly: {type: "tag", values: tags}, resultTypes: ["violations"]})
  .then((r) => r.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map((n) => ({target: n.target.join(" "), summary: n.failureSummary})),
  })))"""
T = TypeVar("T")
PAGE_SHOTS = ARTIFACTS / "pages"
STAFF = ["host", "moderator", "operator", "supervisor", "handler_jtw", "guest_wjw"]


@dataclass
class Site:
    server: Daphne
    browser: "BrowserThread"
    users: dict
    live: int  # the live programme
    ended: int  # an ended programme with a transcript
    letter: dict  # code and key of a replied letter, to look up and rate


def _store_data() -> dict:
    """The demo data, and letters and questions in the states the pages show differently."""
    from importlib import import_module

    from django.apps import apps
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from letters import services as letters
    from letters.models import Letter
    from moderation.asking import ask_question
    from studio.models import Broadcast

    # An earlier transactional test's flush emptied what the data migrations stored: the demo puts
    # the registry back; the default time limits are put back as migration 0002 does (and as the
    # `registry` fixture does).
    import_module("departments.migrations.0002_default_time_limits").create(apps, None)
    call_command("demo", quiet=True)
    users = {}
    for user in get_user_model().objects.filter(username__in=STAFF):
        user.set_password("pw-" + user.username)  # the password log_in types
        user.save()
        users[user.username] = user
    operator, handler = users["operator"], users["handler_jtw"]

    def write(subject: str) -> dict:
        data = {"kind": "complaint", "subject": subject, "body": "朝阳路站的站牌仍写着旧的首末班时间。"}
        return letters.submit({**data, "name": "王先生", "contact": "13800000000"})[0]

    write("12路公交站牌信息有误")  # waits for the operator
    late = write("公交站台雨棚破损")  # forwarded and late: a red light
    letters.forward(late["code"], "jtw", operator)
    Letter.objects.filter(code=late["code"]).update(sign_deadline=timezone.now())
    slow = write("地铁换乘通道拥挤")  # signed, with an extension waiting for a decision
    letters.forward(slow["code"], "jtw", operator)
    letters.sign(slow["code"], handler)
    letters.request_extension(slow["code"], 2, "需要现场核实。", handler)
    replied = write("夜班公交发车间隔太长")  # replied: to be rated by its writer
    letters.forward(replied["code"], "jtw", operator)
    letters.sign(replied["code"], handler)
    letters.reply(replied["code"], "<p>已调整为每20分钟一班。</p>", handler)

    users.update(_unit_with_divisions(write))

    live = Broadcast.objects.get(status="live").pk
    ended = Broadcast.objects.filter(status="ended").order_by("pk").first().pk  # type: ignore[union-attr]
    # The demo clip as the ended programme's recording too: its replay page carries the player.
    Broadcast.objects.filter(pk=ended).update(stream_url="/static/demo/programme.m3u8")
    ask_question(live, "a11y-1", "社区医院周末开门吗？", "网友甲", "a11y-k1", None)
    ask_question(live, "a11y-2", "药价里有没有腐败问题？", "网友乙", "a11y-k2", None)
    return {"users": users, "live": live, "ended": ended, "letter": replied}


def _unit_with_divisions(write: Callable[[str], dict]) -> dict:
    """mzj (no demo letters: the demo's own unit with divisions is rsj) with two divisions, its
    coordinator and a division's handler, and a letter with a draft waiting for approval (issue #16):
    the pages a unit with divisions shows."""
    from django.contrib.auth import get_user_model

    from departments.models import Department, Division
    from letters import handling
    from letters import services as letters
    from tests.conftest import make_staff

    relief = Division.objects.create(
        department=Department.objects.get(code="mzj"), code="relief", name="社会救助处"
    )
    Division.objects.create(department=relief.department, code="elderly", name="养老服务处")
    users = {
        "coordinator_mzj": make_staff("coordinator_mzj", "coordinator", "mzj"),
        "handler_mzj_relief": make_staff("handler_mzj_relief", "handler", "mzj"),
    }
    users["handler_mzj_relief"].staff.division = relief
    users["handler_mzj_relief"].staff.save()
    operator = get_user_model().objects.get(username="operator")
    for subject, draft in (
        ("低保申请一个月没有结果", "已核实，将于本月底前完成审批。"),
        ("临时救助如何申请", ""),
    ):
        code = write(subject)["code"]
        letters.forward(code, "mzj", operator)
        letters.sign(code, users["coordinator_mzj"])
        handling.assign(code, "relief", users["coordinator_mzj"])
        if draft:
            handling.draft(code, draft, users["handler_mzj_relief"])
    return users


class BrowserThread:
    """One Chromium for the module, driven from a thread of its own: Playwright's sync API keeps an
    event loop running in the thread that drives it, and Django refuses database work (such as a
    transactional test's teardown) in a thread with a running loop."""

    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="axe-browser")
        self.launched = chromium()
        self.browser: Browser = self.run(self.launched.__enter__)

    def run(self, fn: Callable[..., T], *args: object) -> T:
        return self.pool.submit(fn, *args).result()

    def close(self) -> None:
        try:
            self.run(self.launched.__exit__, None, None, None)
        finally:
            self.pool.shutdown()


@pytest.fixture(scope="module")
def site(request, django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[Site]:
    # A module fixture is set up before the per-test service check: check first here too.
    reason = _missing_service(request.node)
    if reason:
        if IN_CI:
            pytest.fail(f"CI must not skip a service test: {reason}")
        pytest.skip(reason)
    with django_db_blocker.unblock():
        data = _store_data()
    server = start_daphne(tmp_path_factory.mktemp("axe"))
    try:
        browser = BrowserThread()
        try:
            yield Site(server=server, browser=browser, **data)
        finally:
            browser.close()
    finally:
        server.stop()
        with django_db_blocker.unblock():
            call_command("flush", interactive=False, verbosity=0)


# --- how each page is brought to the state that is checked ------------------------------------


def connected(page: Page) -> None:
    expect(page.locator("#conn")).not_to_have_text("…", timeout=LIVE_WAIT)


def staff_socket(page: Page) -> None:
    # Both consoles say it in words (已连接 / connected).
    expect(page.locator("#conn")).to_have_text(CONNECTED, timeout=LIVE_WAIT)


def live_with_a_question(page: Page) -> None:
    connected(page)
    page.fill("#nickname", "网友丙")
    page.fill("#question", "周末能预约家庭医生吗？")
    page.check("#consent")
    page.click("#ask-form button[type=submit]")
    expect(page.locator("#mine li[data-id]")).to_have_count(1, timeout=LIVE_WAIT)


def live_playing(page: Page) -> None:
    connected(page)
    page.click(".player-start")
    page.wait_for_function("document.querySelector('.player-media').currentTime > 0.5", timeout=LIVE_WAIT)


def moderation_queue(page: Page) -> None:
    expect(page.locator("#conn")).to_have_attribute("data-state", "open", timeout=LIVE_WAIT)
    expect(page.locator("#queue > li").nth(1)).to_be_visible(timeout=LIVE_WAIT)  # the two stored


def replay_at_the_end(page: Page) -> None:
    page.click("#to-end")
    expect(page.locator("#feed li").first).to_be_visible(timeout=LIVE_WAIT)


def draft_to_approve(page: Page) -> None:
    expect(page.locator(".assign-form select")).to_have_count(2)
    expect(page.locator("button[value=approve-draft]")).to_be_visible()


def drafts_to_write(page: Page) -> None:
    expect(page.locator(".draft-form textarea")).to_have_count(2)


@dataclass
class Visit:
    path: Callable[[Site], str]
    staff: str | None = None  # log in as this demo account first
    ready: Callable[[Page], None] | None = None
    look_up: bool = False  # look the replied letter up on the track page


PAGES = {
    "home": Visit(lambda s: "/"),
    "live": Visit(lambda s: f"/live/{s.live}/", ready=live_with_a_question),
    "live-playing": Visit(lambda s: f"/live/{s.live}/", ready=live_playing),
    "studio-guest": Visit(lambda s: f"/studio/{s.live}/", "guest_wjw", staff_socket),
    "studio-host": Visit(lambda s: f"/studio/{s.live}/", "host", staff_socket),
    "moderate": Visit(lambda s: f"/moderate/{s.live}/", "moderator", moderation_queue),
    "replay": Visit(lambda s: f"/replay/{s.ended}/", ready=replay_at_the_end),
    "transcript": Visit(lambda s: f"/transcript/{s.ended}/"),
    "search": Visit(lambda s: "/search/?q=公交"),
    "stats": Visit(lambda s: "/stats/"),
    "letters-public": Visit(lambda s: "/letters/"),
    "letters-write": Visit(lambda s: "/letters/write/"),
    "letters-track": Visit(lambda s: "/letters/track/", look_up=True),
    "letters-scoreboard": Visit(lambda s: "/letters/scoreboard/"),
    "letters-operator": Visit(lambda s: "/letters/operator/", "operator"),
    "letters-handler": Visit(lambda s: "/letters/handler/", "handler_jtw"),
    "letters-coordinator": Visit(lambda s: "/letters/handler/", "coordinator_mzj", ready=draft_to_approve),
    "letters-division": Visit(lambda s: "/letters/handler/", "handler_mzj_relief", ready=drafts_to_write),
    "letters-supervisor": Visit(lambda s: "/letters/supervisor/", "supervisor"),
    "letters-contact-access": Visit(lambda s: "/letters/supervisor/contact-access/", "supervisor"),
    "login": Visit(lambda s: "/accounts/login/"),
}


def open_page(site: Site, visit: Visit, language: str, width: int = 1280) -> Watched:
    viewer = Watched(  # axe is injected as an inline script
        site.browser.browser, language, bypass_csp=True, viewport={"width": width, "height": 800}
    )
    viewer.context.add_cookies([{"name": "django_language", "value": language, "url": site.server.url}])
    path = visit.path(site)
    if visit.staff:
        log_in(viewer, site.server, site.users[visit.staff], path)
    else:
        viewer.page.goto(site.server.url + path)
    page = viewer.page
    if visit.look_up:
        page.fill("#track-code", site.letter["code"])
        page.fill("#track-key", site.letter["key"])
        page.click("#track-form button[type=submit]")
        expect(page.locator("#rate-form")).to_be_visible(timeout=LIVE_WAIT)
    if visit.ready:
        visit.ready(page)
    return viewer


def describe(violations: list[dict]) -> str:
    lines = []
    for v in violations:
        lines.append(f"{v['id']} ({v['impact']}): {v['help']}")
        lines += [f"    {n['target']}  — {n['summary'].splitlines()[-1].strip()}" for n in v["nodes"]]
    return "\n".join(lines)


def check(site: Site, name: str, language: str) -> tuple[str, str, list[dict], Watched]:
    """Open the page, run axe on it; the page's address and language, the violations, the viewer."""
    viewer = open_page(site, PAGES[name], language)
    try:
        page = viewer.page
        page.add_script_tag(path=str(AXE))
        violations = page.evaluate(AXE_RUN, WCAG_21_AA)
        return page.url, page.evaluate("document.documentElement.lang"), violations, viewer
    finally:
        viewer.context.close()


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("name", list(PAGES))
def test_the_page_has_no_wcag_21_aa_violations(site: Site, name: str, language: str) -> None:
    url, lang, violations, viewer = site.browser.run(check, site, name, language)
    assert lang == language
    assert not violations, f"{url} in {language}:\n{describe(violations)}"
    assert viewer.errors == [], viewer.report()


# --- how each page looks: every page and role at a desk (1280 px) and on a phone (360 px) ------


def look(site: Site, name: str, width: int) -> tuple[int, int, Watched]:
    """Open the page in Simplified Chinese at this width, keep a full-page screenshot as a CI
    artifact (var/artifacts/pages/), and measure how wide the page is and how wide it may be."""
    viewer = open_page(site, PAGES[name], "zh-hans", width)
    try:
        page = viewer.page
        page.wait_for_load_state("networkidle")
        PAGE_SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(PAGE_SHOTS / f"{name}-{width}.png"), full_page=True)
        return page.evaluate("document.documentElement.scrollWidth"), page.evaluate("innerWidth"), viewer
    finally:
        viewer.context.close()


@pytest.mark.parametrize("width", [1280, 360])
@pytest.mark.parametrize("name", list(PAGES))
def test_the_page_fits_a_desk_and_a_phone_and_is_kept_as_a_screenshot(
    site: Site, name: str, width: int
) -> None:
    scroll_width, inner_width, viewer = site.browser.run(look, site, name, width)
    # Nothing makes a reader scroll sideways (a wide table scrolls inside its own box instead).
    assert scroll_width <= inner_width, f"{name} at {width} px is {scroll_width} px wide"
    assert (PAGE_SHOTS / f"{name}-{width}.png").stat().st_size > 0
    assert viewer.errors == [], viewer.report()
