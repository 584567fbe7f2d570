"""The documented front proxy (docs/nginx.conf) in front of a real daphne: what its cache may keep.

It answers the start of a programme from its cache (issue #18), so it must never hand one visitor's
personal answer to another: a staff member's page, a netizen's identity, another language. Each
check goes through Debian's nginx running exactly that file, as bench/rush.py does.
"""

import asyncio
import json
import subprocess
import time
import urllib.error
import urllib.request

import pytest
from websockets.asyncio.client import connect

from bench.servers import free_port, nginx_command
from tests.conftest import make_broadcast, session_cookie, start_daphne

pytestmark = [pytest.mark.nginx, pytest.mark.processes]


@pytest.fixture
def front(transactional_db, tmp_path):
    """daphne --proxy-headers (as README › Behind a proxy runs it) behind nginx; yields nginx's URL."""
    server = start_daphne(tmp_path, options=("--proxy-headers",))
    port = free_port()
    log = (tmp_path / "nginx.log").open("w")
    proxy = subprocess.Popen(
        nginx_command([server.port], tmp_path / "nginx", port), stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/departments/", timeout=2)
            break
        except OSError:
            assert proxy.poll() is None and time.monotonic() < deadline, (tmp_path / "nginx.log").read_text()
            time.sleep(0.2)
    yield url
    proxy.terminate()
    proxy.wait(timeout=10)
    server.stop()


def get(url: str, **headers: str) -> tuple[int, dict[str, list[str]], str]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            found: dict[str, list[str]] = {}
            for name, value in response.headers.items():
                found.setdefault(name.lower(), []).append(value)
            return response.status, found, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): [v] for k, v in error.headers.items()}, error.read().decode()


def cache_status(headers: dict[str, list[str]]) -> str:
    return headers.get("x-cache", ["-"])[0]


def test_the_proxy_answers_the_shared_live_page_from_its_cache_and_nothing_personal(front, personas):
    broadcast = make_broadcast("jtw", personas["host"], [personas["guest"]], status="live")
    page = f"{front}/live/{broadcast.pk}/"

    # The same page for every new visitor: the first reaches daphne, the next come from the cache.
    first = get(page, **{"Accept-Language": "zh-CN"})
    second = get(page, **{"Accept-Language": "zh-CN"})
    assert (first[0], second[0]) == (200, 200)
    assert cache_status(first[1]) == "MISS" and cache_status(second[1]) == "HIT"
    assert "set-cookie" not in second[1] and second[2] == first[2]

    # A moderator's page (a session) is never taken from the cache nor kept in it: it has her name
    # and her token, and the next netizen still gets the shared page.
    staff_cookie = session_cookie(personas["moderator"]).decode()
    staff = get(page, Cookie=staff_cookie, **{"Accept-Language": "zh-CN"})
    assert cache_status(staff[1]) == "BYPASS" and "private" in staff[1]["cache-control"][0]
    name = personas["moderator"].get_full_name() or personas["moderator"].username
    assert name in staff[2] and 'name="csrfmiddlewaretoken" value="' in staff[2]
    after = get(page, **{"Accept-Language": "zh-CN"})
    assert cache_status(after[1]) == "HIT" and name not in after[2] and after[2] == first[2]

    # A reader who chose English (the language cookie, which Django's Vary does not name) gets the
    # English page, and the Chinese one stays Chinese.
    english = get(page, Cookie="django_language=en", **{"Accept-Language": "zh-CN"})
    assert '<html lang="en"' in english[2]
    assert '<html lang="zh-hans"' in get(page, **{"Accept-Language": "zh-CN"})[2]

    # The 附议 counts as everyone without an identity gets them: kept.
    supports = f"{front}/api/broadcasts/{broadcast.pk}/supports/"
    get(supports)
    shared = get(supports)
    assert cache_status(shared[1]) == "HIT" and json.loads(shared[2])["identified"] is False
    # An identity is each browser's own: never kept, never shared …
    answers = [get(f"{front}/api/netizen/") for _ in range(3)]
    identities = {
        next(c for c in headers["set-cookie"] if c.startswith("minxin_netizen="))
        for _s, headers, _b in answers
    }
    assert len(identities) == 3 and all(cache_status(headers) == "-" for _s, headers, _b in answers)
    # … and a browser that has one gets its own counts, past the cache.
    cookie = next(iter(identities)).split(";", 1)[0]
    own = get(supports, Cookie=cookie)
    assert cache_status(own[1]) == "BYPASS" and json.loads(own[2])["identified"] is True
    assert "private" in own[1]["cache-control"][0]

    # A static file, hashed and immutable: kept after the first request.
    stylesheet = first[2].split('href="', 2)[1].split('"', 1)[0]
    assert stylesheet.startswith("/static/css/site.")
    get(f"{front}{stylesheet}")
    kept = get(f"{front}{stylesheet}")
    assert cache_status(kept[1]) == "HIT" and "immutable" in kept[1]["cache-control"][0]


def test_a_netizen_asks_through_the_proxy_and_its_identity_holds_over_the_socket(front, personas):
    from moderation.models import Question

    broadcast = make_broadcast("jtw", personas["host"], [personas["guest"]], status="live")
    _status, headers, _body = get(f"{front}/api/netizen/")
    cookie = next(c for c in headers["set-cookie"] if c.startswith("minxin_netizen=")).split(";", 1)[0]

    async def ask() -> dict:
        ws_url = front.replace("http://", "ws://") + f"/ws/live/{broadcast.pk}/"
        async with connect(ws_url, origin=front, additional_headers={"Cookie": cookie}) as ws:
            hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert hello["type"] == "hello"
            frame = {"type": "ask", "client_id": "p1", "text": "经过代理的提问", "consent": True}
            await ws.send(json.dumps(frame, ensure_ascii=False))
            while (answer := json.loads(await asyncio.wait_for(ws.recv(), 10)))["type"] != "ask.ok":
                assert answer["type"] in ("presence", "support"), answer
            return answer

    answer = asyncio.run(ask())
    question = Question.objects.get(pk=answer["question_id"])
    # The same browser reads it back over HTTP with the same cookie; no other browser does.
    _status, _headers, body = get(f"{front}/api/broadcasts/{broadcast.pk}/my-questions/", Cookie=cookie)
    assert [q["question_id"] for q in json.loads(body)["questions"]] == [question.pk]
    assert get(f"{front}/api/broadcasts/{broadcast.pk}/my-questions/")[2] == '{"questions": []}'
