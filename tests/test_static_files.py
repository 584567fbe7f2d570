"""Static files as production serves them (core/statics.py), through a real daphne process.

settings.test uses production's storage: conftest runs collectstatic once per run, so the pages
name their stylesheet and scripts by hashed names, which are cached for a year and compressed.
"""

import gzip
import re
import urllib.error
import urllib.request
from pathlib import Path

import brotli
import pytest
from django.conf import settings
from playwright.sync_api import expect

from tests.conftest import make_broadcast, session_cookie
from tests.test_browser import LIVE_WAIT, Watched, chromium

pytestmark = [pytest.mark.processes]

YEAR = 31_536_000
HASHED = re.compile(r"/static/[\w./-]+\.[0-9a-f]{12}\.\w+")


def get(url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


def directives(cache_control: str) -> set[str]:
    return {part.strip() for part in cache_control.split(",")}


def media_type(content_type: str) -> str:
    """`text/css; charset="utf-8"` (ServeStatic quotes the value, as HTTP allows) as `text/css; charset=utf-8`."""
    return content_type.replace('"', "")


def assets(page: str) -> list[str]:
    """The stylesheet, icon and script URLs a page links."""
    return re.findall(r'<(?:link[^>]*href|script[^>]*src)="(/static/[^"]+)"', page)


@pytest.fixture
def site(daphne):
    return daphne()


def test_a_page_links_its_css_and_js_by_hashed_names_cached_for_a_year(site, personas):
    broadcast = make_broadcast("jtw", personas["host"], [personas["guest"]], status="live")
    status, _headers, body = get(f"{site.url}/live/{broadcast.pk}/")
    assert status == 200
    linked = assets(body.decode())
    assert any(url.endswith(".css") for url in linked) and sum(url.endswith(".js") for url in linked) >= 3
    assert all(HASHED.fullmatch(url) for url in linked), linked
    for url in linked:
        status, headers, content = get(f"{site.url}{url}")
        assert status == 200 and content, url
        assert directives(headers["cache-control"]) == {"public", f"max-age={YEAR}", "immutable"}, url
        expected = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}[
            re.search(r"\.\w+$", url).group()
        ]
        assert headers["content-type"].split(";")[0] == expected, url
        assert headers["x-content-type-options"] == "nosniff", url


def test_text_files_come_compressed_when_the_browser_accepts_it(site, registry):
    status, _headers, body = get(f"{site.url}/letters/write/")
    assert status == 200
    css = next(url for url in assets(body.decode()) if url.endswith(".css"))
    _, plain_headers, plain = get(f"{site.url}{css}")
    assert "content-encoding" not in plain_headers
    _, gzip_headers, gzipped = get(f"{site.url}{css}", **{"Accept-Encoding": "gzip"})
    assert gzip_headers["content-encoding"] == "gzip" and "Accept-Encoding" in gzip_headers["vary"]
    assert gzip.decompress(gzipped) == plain and len(gzipped) < len(plain) / 2
    _, br_headers, compressed = get(f"{site.url}{css}", **{"Accept-Encoding": "gzip, deflate, br"})
    assert br_headers["content-encoding"] == "br"
    assert brotli.decompress(compressed) == plain and len(compressed) < len(gzipped)
    assert gzip_headers["content-type"] == plain_headers["content-type"]
    assert media_type(plain_headers["content-type"]) == "text/css; charset=utf-8"


def test_an_earlier_releases_hashed_file_is_still_served_during_an_upgrade(daphne):
    """collectstatic keeps the files of earlier releases: a page an old process served still loads
    its stylesheet from a new process."""
    earlier = Path(settings.STATIC_ROOT) / "css" / "site.0123456789ab.css"
    earlier.write_text("body { color: black; }\n")
    try:
        site = daphne()
        status, headers, body = get(f"{site.url}/static/css/site.0123456789ab.css")
    finally:
        earlier.unlink()
    assert status == 200 and body == b"body { color: black; }\n"
    assert "immutable" in directives(headers["cache-control"])


def test_an_unknown_hashed_name_and_a_path_out_of_the_folder_are_404(site):
    for path in [
        "/static/css/site.0123456789ab.css",  # a made-up hash
        "/static/js/nothing.js",
        "/static/%2e%2e/settings/prod.py",
        "/static/..%2fsettings/prod.py",
        "/static/staticfiles.json",  # the manifest itself is not a static file
    ]:
        status, headers, body = get(f"{site.url}{path}")
        assert status == 404, path
        assert b"SECRET_KEY" not in body and "immutable" not in headers.get("cache-control", ""), path


def test_plain_names_and_the_demo_stream_keep_their_types_with_a_short_cache(site):
    for path, content_type in [
        ("/static/demo/programme.m3u8", "application/vnd.apple.mpegurl"),
        ("/static/demo/programme-0.ts", "video/mp2t"),
        ("/static/favicon.svg", "image/svg+xml"),
        ("/static/vendor/hls.js/hls.light.min.js", "text/javascript; charset=utf-8"),
    ]:
        status, headers, _body = get(f"{site.url}{path}")
        assert status == 200 and media_type(headers["content-type"]) == content_type, path
        # A plain name may change at the next release: a minute, never immutable.
        assert directives(headers["cache-control"]) == {"public", "max-age=60"}, path
    _, headers, _ = get(f"{site.url}/static/demo/programme-0.ts", **{"Accept-Encoding": "gzip, br"})
    assert "content-encoding" not in headers  # video is not compressed again


def test_pages_are_never_cached_by_shared_caches(site, personas):
    """A page that carries a CSRF token (a form) or a session is never public."""
    broadcast = make_broadcast("jtw", personas["host"], [personas["guest"]], status="live")
    staff = session_cookie(personas["moderator"]).decode()
    for path, cookie in [
        (f"/live/{broadcast.pk}/", staff),
        ("/letters/write/", ""),
        ("/accounts/login/", ""),
    ]:
        status, headers, _body = get(f"{site.url}{path}", Cookie=cookie)
        assert status == 200, path
        cache_control = directives(headers.get("cache-control", ""))
        # Django's never_cache (the login page) says more; the rest say at least this.
        assert {"private", "no-cache"} <= cache_control and "public" not in cache_control, path


def test_the_live_page_is_the_same_for_every_new_visitor_and_a_shared_cache_may_keep_it(site, personas):
    """The start of a programme is thousands of first visits to one page (issue #18): for a visitor
    without a session it sets no cookie, holds no token and varies with no cookie, so a front proxy
    may answer it for 2 s (docs/nginx.conf); an identity comes only before a first question."""
    broadcast = make_broadcast("jtw", personas["host"], [personas["guest"]], status="live")
    path = f"{site.url}/live/{broadcast.pk}/"
    answers = [get(path, **{"Accept-Language": "zh-CN"}) for _ in range(2)]
    for status, headers, _body in answers:
        assert status == 200
        assert directives(headers.get("cache-control", "")) == {"public", "max-age=0", "s-maxage=2"}
        assert "set-cookie" not in headers
        assert "cookie" not in headers.get("vary", "").lower()
        assert "accept-language" in headers.get("vary", "").lower()
    first, second = (gzip_or_plain(headers, body) for _status, headers, body in answers)
    assert first == second and 'csrfmiddlewaretoken" value=""' in first
    assert re.search(r'name="csrfmiddlewaretoken" value="[^"]', first) is None
    # A returning netizen's identity cookie changes nothing in the page either.
    returning = get(path, **{"Accept-Language": "zh-CN", "Cookie": "minxin_netizen=x; csrftoken=" + "y" * 32})
    assert gzip_or_plain(returning[1], returning[2]) == first and "set-cookie" not in returning[1]
    # A malformed CSRF cookie makes Django set a new one on the answer: then it is nobody's to share.
    renewed = get(path, **{"Accept-Language": "zh-CN", "Cookie": "csrftoken=y"})
    assert "set-cookie" in renewed[1]
    assert directives(renewed[1]["cache-control"]) == {"private", "no-cache"}


def gzip_or_plain(headers: dict[str, str], body: bytes) -> str:
    return (gzip.decompress(body) if headers.get("content-encoding") == "gzip" else body).decode()


@pytest.mark.browser
def test_the_live_page_and_its_hashed_assets_load_in_chromium_without_errors(site, personas):
    broadcast = make_broadcast("jtw", personas["host"], [personas["guest"]], status="live")
    broadcast.stream_url = "/static/demo/programme.m3u8"
    broadcast.save(update_fields=["stream_url"])
    with chromium() as browser:
        viewer = Watched(browser, "viewer", locale="zh-CN")
        fetched: list[tuple[str, int, str]] = []
        viewer.page.on(
            "response",
            lambda r: (
                fetched.append((r.url, r.status, r.headers.get("cache-control", "")))
                if "/static/" in r.url
                else None
            ),
        )
        viewer.page.goto(f"{site.url}/live/{broadcast.pk}/")
        expect(viewer.page.locator("#conn")).not_to_have_text("…", timeout=LIVE_WAIT)
        # The stylesheet applied: the page is not in the browser's default serif look.
        assert "serif" != viewer.page.evaluate("getComputedStyle(document.body).fontFamily")
        linked = [url for url, _status, _cache in fetched if "/static/js/" in url or "/static/css/" in url]
        assert linked and all(HASHED.search(url) for url in linked), fetched
        assert all(status == 200 for _url, status, _cache in fetched), fetched
        assert all("immutable" in cache for url, _status, cache in fetched if url in linked), fetched
        errors = [line for line in viewer.console if line.startswith("[error]")]
        assert viewer.errors == [] and errors == [], viewer.report()
