"""The staff letter queues, the extensions and the transcript a page at a time (issue #17): what
staff and viewers notice — the next letters on page 2, filters kept by the page links, the light
counts of the whole queue on every page, and a page past the last that says so.

Page sizes are made small here (letters.queues.QUEUE_PAGE, archive.views.TRANSCRIPT_PAGE) so that a
few letters fill several pages.
"""

import re

import pytest

from archive import views as archive_views
from letters import queues
from letters.models import Letter
from studio import services as studio
from tests import test_letters
from tests.conftest import make_broadcast
from tests.test_letters import HANDLER, Api

pytestmark = pytest.mark.django_db
clock = test_letters.clock  # Monday 8 June 2026, 10:00, held by core.clock
calendar_2026 = test_letters.calendar_2026


@pytest.fixture
def api(personas, clock, calendar_2026) -> Api:
    return Api(personas)


@pytest.fixture(autouse=True)
def small_pages(monkeypatch) -> None:
    monkeypatch.setattr(queues, "QUEUE_PAGE", 3)
    monkeypatch.setattr(queues, "SIDE_PAGE", 2)
    monkeypatch.setattr(archive_views, "TRANSCRIPT_PAGE", 2)


def codes(html: str, list_id: str) -> list[str]:
    listing = html.split(f'id="{list_id}"', 1)[1].split("</ol>", 1)[0].split("</ul>", 1)[0]
    return re.findall(r'<li[^>]*data-code="([A-Z0-9]+)"', listing)


def page(api: Api, path: str, who: str | None, **params) -> str:
    response = api.get(path, who, **params)
    assert response.status_code == 200
    return response.content.decode()


def test_operators_page_through_the_queue_oldest_first_with_the_total_on_every_page(api, clock):
    written = []
    for hour in range(7):
        clock.set(2026, 6, 8, 9 + hour)
        written.append(api.write()[0])
    first = page(api, "/letters/operator/", "operator")
    second = page(api, "/letters/operator/", "operator", page=2)
    third = page(api, "/letters/operator/", "operator", page=3)

    assert codes(first, "forward-queue") == written[:3]
    assert codes(second, "forward-queue") == written[3:6]
    assert codes(third, "forward-queue") == written[6:]
    for html in (first, second, third):
        assert re.search(r'id="queue-title">[^<]*\b7\b', html)
    assert 'href="?page=2#queue-title"' in first and "?page=1#queue-title" in second


def test_every_letter_of_the_operator_queue_has_its_own_labelled_department_select(api):
    api.write()
    api.write()
    html = page(api, "/letters/operator/", "operator")
    selects = re.findall(
        r'<label for="(department-[A-Z0-9]+)">.*?<select id="\1" name="department" required>(.*?)</select>',
        html,
        re.S,
    )
    assert len(selects) == 2
    for _id, options in selects:
        assert options.count("<option") == 1 + 74  # "choose a department" and the registry
        assert '<option value="jtw">' in options


def test_a_page_past_the_last_shows_the_last_page_and_says_so(api):
    written = [api.write()[0] for _ in range(4)]
    html = page(api, "/letters/operator/", "operator", page=9)
    assert codes(html, "forward-queue") == written[3:]
    assert re.search(r'class="error page-notice" role="status">[^<]*9[^<]*2', html)
    html = page(api, "/letters/operator/", "operator", page="x")
    assert codes(html, "forward-queue") == written[:3]
    assert re.search(r'class="error page-notice" role="status">[^<]*x', html)
    assert "page-notice" not in page(api, "/letters/operator/", "operator", page=2)


def _lights_queue(api: Api, clock) -> None:
    """Letters to jtw forwarded over three days: some red, some yellow, some green on Wednesday."""
    for day, hour in ((8, 9), (8, 11), (9, 10), (9, 12), (10, 8), (10, 9), (10, 10)):
        clock.set(2026, 6, day, hour)
        api.letter("forwarded")
    clock.set(2026, 6, 10, 11)


def _lights(html: str) -> list[str]:
    listing = html.split('id="handler-queue"', 1)[1].split("</ol>", 1)[0]
    return re.findall(
        r'<li id="letter-[A-Z0-9]+" data-code="[A-Z0-9]+" data-status="\w+" data-light="(\w*)"', listing
    )


def test_handlers_see_red_then_yellow_then_green_across_pages_and_the_counts_of_the_whole_queue(api, clock):
    _lights_queue(api, clock)
    pages = [page(api, "/letters/handler/", HANDLER["jtw"], page=n) for n in (1, 2, 3)]
    seen = [light for html in pages for light in _lights(html)]

    order = {"red": 0, "yellow": 1, "green": 2}
    assert len(seen) == 7 and seen == sorted(seen, key=order.__getitem__)
    assert {"red", "green"} <= set(seen)
    for html in pages:  # the totals of the queue, not of the page
        for light in order:
            shown = re.search(rf'class="light light-{light}"[^>]*>[^<]*: (\d+)</a>', html)
            assert shown and int(shown.group(1)) == seen.count(light)


def test_a_light_filter_is_kept_by_the_page_links(api, clock):
    _lights_queue(api, clock)
    for _ in range(3):
        clock.set(2026, 6, 10, 11)
        api.letter("forwarded")  # more green letters, forwarded this hour
    green = Letter.objects.filter(status="forwarded").count() - len(
        _lights(page(api, "/letters/handler/", HANDLER["jtw"], light="red"))
    )
    first = page(api, "/letters/handler/", HANDLER["jtw"], light="green")
    assert set(_lights(first)) == {"green"}
    assert "?light=green&amp;page=2" in first
    second = page(api, "/letters/handler/", HANDLER["jtw"], light="green", page=2)
    assert set(_lights(second)) == {"green"}
    assert set(_lights(first)).isdisjoint(codes(second, "handler-queue")) and green > 3


def test_a_handler_acting_on_page_two_comes_back_to_page_two(api, clock):
    _lights_queue(api, clock)
    html = page(api, "/letters/handler/", HANDLER["jtw"], page=2)
    code = codes(html, "handler-queue")[0]
    response = api.client(HANDLER["jtw"]).post("/letters/handler/?page=2", {"code": code, "action": "sign"})
    assert response.status_code == 302 and response["Location"] == "/letters/handler/?page=2"


def test_the_extensions_waiting_are_paged_and_keep_the_supervisors_period(api):
    for _ in range(3):
        code, _key = api.letter("signed")
        api.ok(code, "extend", HANDLER["jtw"], days=2, reason="需要现场核实。")
    html = page(api, "/letters/supervisor/", "supervisor", **{"from": "2026-01-01", "to": "2026-06-30"})
    assert len(codes(html, "extensions")) == 2
    assert "?from=2026-01-01&amp;to=2026-06-30&amp;extensions_page=2#extensions-title" in html
    second = page(
        api,
        "/letters/supervisor/",
        "supervisor",
        **{"from": "2026-01-01", "to": "2026-06-30", "extensions_page": 2},
    )
    assert len(codes(second, "extensions")) == 1


# --- the transcript ------------------------------------------------------------------------------


@pytest.fixture
def said(personas) -> tuple[int, list[str]]:
    """An ended programme with five host messages."""
    broadcast = make_broadcast("jtw", personas["host"], [personas["guest"]], status="live")
    texts = [f"第{i}条主持人消息" for i in range(5)]
    for i, text in enumerate(texts):
        studio.post_host_message(broadcast.pk, personas["host"], f"host-{i}", text)
    return broadcast.pk, texts


def test_the_transcript_page_shows_the_next_items_on_page_two(client, said):
    pk, texts = said
    first = client.get(f"/transcript/{pk}/").content.decode()
    second = client.get(f"/transcript/{pk}/", {"page": 2}).content.decode()
    assert texts[0] in first and texts[1] in first and texts[2] not in first
    assert texts[2] in second and texts[3] in second and texts[1] not in second
    assert 'href="?page=3"' in second


def test_the_transcript_api_is_whole_without_a_window_and_windowed_with_after_and_limit(client, said):
    pk, texts = said
    whole = client.get(f"/api/broadcasts/{pk}/transcript/").json()
    assert [item["message"]["text"] for item in whole["items"]] == texts and "more" not in whole

    window = client.get(f"/api/broadcasts/{pk}/transcript/", {"limit": 2}).json()
    assert [item["message"]["text"] for item in window["items"]] == texts[:2] and window["more"] is True
    after = window["items"][-1]["seq"]
    rest = client.get(f"/api/broadcasts/{pk}/transcript/", {"after": after, "limit": 10}).json()
    assert [item["message"]["text"] for item in rest["items"]] == texts[2:] and rest["more"] is False
    bad = client.get(f"/api/broadcasts/{pk}/transcript/", {"limit": 0})
    assert bad.status_code == 400 and bad.json()["error"]["fields"] == {"limit": "out_of_range"}


def test_a_new_event_shows_at_once_in_the_cached_transcript_and_events(client, said, personas):
    pk, _texts = said
    assert len(client.get(f"/api/broadcasts/{pk}/transcript/").json()["items"]) == 5
    assert len(client.get(f"/api/broadcasts/{pk}/events/").json()["events"]) == 5
    studio.post_host_message(pk, personas["host"], "host-late", "补充一条")
    assert (
        client.get(f"/api/broadcasts/{pk}/transcript/").json()["items"][-1]["message"]["text"] == "补充一条"
    )
    assert len(client.get(f"/api/broadcasts/{pk}/events/").json()["events"]) == 6
