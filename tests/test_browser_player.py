"""The programme's player in Debian's Chromium against a real daphne: what a viewer sees and hears.

The streams are made here with ffmpeg (a few seconds each) and served, as a real deployment serves
them, by a separate stream host: a small HTTP server on another port of 127.0.0.1 that sends CORS
headers, named to daphne in MINXIN_STREAM_ORIGINS. Each kind must PLAY: the element's clock passes
a second with a frame ready (readyState ≥ 2), not merely load.

HLS goes two ways. Debian's Chromium plays it natively (canPlayType says "maybe"), and then hls.js
is not even fetched; with canPlayType for HLS made to say "" (as in Firefox or older Chromium),
player.js fetches hls.js from /static/vendor and plays through MediaSource.
"""

import shutil
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.templatetags.static import static
from playwright.sync_api import Page, expect

from tests.conftest import IN_CI, Daphne, make_broadcast, server_env, start_daphne
from tests.test_browser import ARTIFACTS, LIVE_WAIT, Watched, chromium

pytestmark = [pytest.mark.browser, pytest.mark.processes]

HLS_JS = "/static/vendor/hls.js/hls.light.min.js"  # served under its hashed name (core/statics.py)
# What a browser without native HLS answers (Firefox; Chromium before its own HLS player).
NO_NATIVE_HLS = """
(() => {
  const canPlayType = HTMLMediaElement.prototype.canPlayType;
  HTMLMediaElement.prototype.canPlayType = function (type) {
    return /mpegurl/i.test(type) ? "" : canPlayType.call(this, type);
  };
})();
"""
PLAYING = """(seconds) => {
  const media = document.querySelector(".player-media");
  return media.currentTime > seconds && media.readyState >= 2 && !media.paused;
}"""


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], check=True, timeout=120)


def make_streams(folder: Path) -> None:
    """Six seconds of HLS (one-second segments), an MP4 and an MP3, as a studio encoder makes them."""
    picture = ["-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25:duration=6"]
    sound = ["-f", "lavfi", "-i", "sine=frequency=440:duration=6"]
    h264 = "-c:v libx264 -preset ultrafast -pix_fmt yuv420p -g 25 -c:a aac -b:a 48k".split()
    hls = folder / "hls"
    hls.mkdir()
    ffmpeg(*picture, *sound, *h264, "-f", "hls", "-hls_time", "1", "-hls_playlist_type", "vod",
           "-hls_segment_filename", str(hls / "seg-%d.ts"), str(hls / "live.m3u8"))  # fmt: skip
    ffmpeg(*picture, *sound, *h264, "-movflags", "+faststart", str(folder / "clip.mp4"))
    ffmpeg(*sound, "-c:a", "libmp3lame", "-b:a", "64k", str(folder / "radio.mp3"))


class StreamHost(SimpleHTTPRequestHandler):
    """A stream host: the files, with the CORS header hls.js needs to fetch them from a page."""

    extensions_map = {
        **SimpleHTTPRequestHandler.extensions_map,
        ".m3u8": "application/vnd.apple.mpegurl",
        ".ts": "video/mp2t",
    }

    def end_headers(self) -> None:
        self.send_header("Access-Control-Allow-Origin", "*")
        super().end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@dataclass
class Streams:
    folder: Path
    origin: str

    def url(self, name: str) -> str:
        return f"{self.origin}/{name}"


@pytest.fixture(scope="module")
def streams(tmp_path_factory) -> Iterator[Streams]:
    if shutil.which("ffmpeg") is None:
        # Like the other services a test needs: skipped on a laptop without it, a failure in CI.
        reason = "ffmpeg is needed to make the test streams (apt-get install ffmpeg; .ci/run does)"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    folder = tmp_path_factory.mktemp("streams")
    make_streams(folder)
    host = ThreadingHTTPServer(("127.0.0.1", 0), partial(StreamHost, directory=str(folder)))
    thread = threading.Thread(target=host.serve_forever, daemon=True)
    thread.start()
    yield Streams(folder, f"http://127.0.0.1:{host.server_address[1]}")
    host.shutdown()
    host.server_close()


@pytest.fixture
def site(transactional_db, tmp_path, streams) -> Iterator[Daphne]:
    """daphne with the stream host in MINXIN_STREAM_ORIGINS, as a deployment configures it."""
    server = start_daphne(tmp_path, env={**server_env(), "MINXIN_STREAM_ORIGINS": streams.origin})
    yield server
    server.stop()


def programme(personas, stream_url: str, status: str = "live"):
    from studio.models import Broadcast

    broadcast = make_broadcast("jtw", personas["host"], [personas["guest"]], status=status)
    Broadcast.objects.filter(pk=broadcast.pk).update(stream_url=stream_url)
    return broadcast


def press_play_and_wait(viewer: Watched, seconds: float = 1.0) -> Page:
    page = viewer.page
    page.click(".player-start")
    try:
        page.wait_for_function(PLAYING, arg=seconds, timeout=LIVE_WAIT)
    except Exception as exc:
        state = page.evaluate(
            "(() => { const m = document.querySelector('.player-media');"
            " return {t: m.currentTime, ready: m.readyState, paused: m.paused, error: m.error && m.error.message,"
            " message: document.querySelector('.player-text').textContent}; })()"
        )
        raise AssertionError(f"the stream did not play: {state}; {viewer.report()}") from exc
    expect(page.locator(".player-text")).to_have_text("")  # no error, no "loading…" left
    return page


def hls_js_fetched(page: Page) -> list[str]:
    return page.evaluate(
        "performance.getEntriesByType('resource').map((e) => e.name).filter((n) => n.includes('/vendor/hls.js/'))"
    )


def test_a_live_hls_stream_plays_natively_in_chromium_without_fetching_hls_js(site, streams, personas):
    broadcast = programme(personas, streams.url("hls/live.m3u8"))
    with chromium() as browser:
        viewer = Watched(browser, "viewer", locale="zh-CN")
        viewer.page.goto(f"{site.url}/live/{broadcast.pk}/")
        page = viewer.page
        assert (
            page.evaluate("document.querySelector('video').canPlayType('application/vnd.apple.mpegurl')")
            != ""
        )
        expect(page.locator(".player-badge")).to_have_text("直播")
        expect(page.locator(".player-card")).to_contain_text(broadcast.title)
        press_play_and_wait(viewer)
        assert page.evaluate("document.querySelector('.player-media').src") == streams.url("hls/live.m3u8")
        assert hls_js_fetched(page) == []
        assert page.evaluate("typeof window.Hls") == "undefined"
        assert viewer.errors == []


def test_without_native_hls_the_player_fetches_hls_js_from_the_site_and_plays_through_media_source(
    site, streams, personas
):
    broadcast = programme(personas, streams.url("hls/live.m3u8"))
    no_stream = make_broadcast("jtw", personas["host"], [], status="live", title="只有图文的一期")
    with chromium() as browser:
        viewer = Watched(browser, "viewer", locale="zh-CN")
        viewer.context.add_init_script(NO_NATIVE_HLS)
        page = viewer.page
        page.goto(f"{site.url}/live/{broadcast.pk}/")
        assert hls_js_fetched(page) == []  # not before the viewer asks for the stream
        press_play_and_wait(viewer)
        assert hls_js_fetched(page) == [f"{site.url}{static(HLS_JS.removeprefix('/static/'))}"]
        assert page.evaluate("document.querySelector('.player-media').src").startswith("blob:")
        assert page.evaluate("Hls.version") == "1.7.4"
        assert viewer.errors == [], viewer.report()

        page.goto(f"{site.url}/live/{no_stream.pk}/")
        expect(page.locator("#feed-title")).to_be_visible()
        assert page.locator(".player").count() == 0
        assert hls_js_fetched(page) == []
        assert page.locator("script[src*='player.js']").count() == 0


@pytest.mark.parametrize("native", [True, False], ids=["native", "hls.js"])
def test_a_live_stream_that_breaks_off_says_so_in_words_and_plays_once_it_is_back(
    site, streams, personas, native
):
    later = streams.folder / f"later-{'native' if native else 'hlsjs'}"
    shutil.rmtree(later, ignore_errors=True)
    broadcast = programme(personas, streams.url(f"{later.name}/live.m3u8"))
    with chromium() as browser:
        viewer = Watched(browser, "viewer", locale="zh-CN")
        if not native:
            viewer.context.add_init_script(NO_NATIVE_HLS)
        page = viewer.page
        page.goto(f"{site.url}/live/{broadcast.pk}/")
        page.click(".player-start")
        # The encoder is not sending yet: the host answers 404 for the playlist.
        expect(page.locator(".player-text")).to_have_text("直播信号暂时中断，正在重试…", timeout=LIVE_WAIT)
        expect(page.locator(".player-retry")).to_be_hidden()  # it retries by itself
        shutil.copytree(streams.folder / "hls", later)
        page.wait_for_function(PLAYING, arg=1.0, timeout=2 * LIVE_WAIT)
        expect(page.locator(".player-text")).to_have_text("")


def test_a_recording_that_cannot_be_loaded_offers_to_try_again(site, streams, personas):
    broadcast = programme(personas, streams.url("missing/recording.mp4"), status="ended")
    with chromium() as browser:
        viewer = Watched(browser, "viewer", locale="en")
        page = viewer.page
        page.goto(f"{site.url}/replay/{broadcast.pk}/")
        expect(page.locator(".player-badge")).to_have_count(0)
        page.click(".player-start")
        expect(page.locator(".player-text")).to_have_text(
            "The stream could not be played.", timeout=LIVE_WAIT
        )
        (streams.folder / "missing").mkdir(exist_ok=True)
        shutil.copyfile(streams.folder / "clip.mp4", streams.folder / "missing" / "recording.mp4")
        page.click(".player-retry")
        page.wait_for_function(PLAYING, arg=1.0, timeout=LIVE_WAIT)
        expect(page.locator(".player-retry")).to_be_hidden()


def test_a_plain_mp4_plays_as_it_is(site, streams, personas):
    broadcast = programme(personas, streams.url("clip.mp4"))
    with chromium() as browser:
        viewer = Watched(browser, "viewer", locale="en")
        viewer.page.goto(f"{site.url}/live/{broadcast.pk}/")
        expect(viewer.page.locator(".player-badge")).to_have_text("LIVE")
        page = press_play_and_wait(viewer)
        assert page.evaluate("document.querySelector('.player-media').localName") == "video"
        assert hls_js_fetched(page) == []


def test_a_sound_only_programme_plays_in_an_audio_player_under_its_title_card(site, streams, personas):
    broadcast = programme(personas, streams.url("radio.mp3"))
    with chromium() as browser:
        viewer = Watched(browser, "viewer", locale="zh-CN", viewport={"width": 360, "height": 780})
        viewer.page.goto(f"{site.url}/live/{broadcast.pk}/")
        page = press_play_and_wait(viewer)
        assert page.evaluate("document.querySelector('.player-media').localName") == "audio"
        expect(page.locator(".player-card")).to_be_visible()  # the title card stays as its picture
        expect(page.locator(".player-title")).to_have_text(broadcast.title)
        expect(page.locator("audio")).to_be_visible()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.locator(".player").screenshot(path=ARTIFACTS / "player-audio-360.png")


def test_the_demo_programme_plays_the_clip_the_repository_carries(site, registry):
    from django.core.management import call_command

    from studio.models import Broadcast

    call_command("demo", quiet=True)
    live = Broadcast.objects.get(status="live")
    assert live.stream_url == "/static/demo/programme.m3u8"
    for path, content_type in [
        ("programme.m3u8", "application/vnd.apple.mpegurl"),
        ("programme-0.ts", "video/mp2t"),
    ]:
        with urllib.request.urlopen(f"{site.url}/static/demo/{path}", timeout=10) as response:
            assert response.headers["Content-Type"] == content_type
    with chromium() as browser:
        for width, height, native in [(1280, 800, True), (360, 780, False)]:
            viewer = Watched(
                browser, f"viewer-{width}", locale="zh-CN", viewport={"width": width, "height": height}
            )
            if not native:
                viewer.context.add_init_script(NO_NATIVE_HLS)
            viewer.page.goto(f"{site.url}/live/{live.pk}/")
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            viewer.page.locator(".player").screenshot(path=ARTIFACTS / f"player-card-{width}.png")
            page = press_play_and_wait(viewer, seconds=2.0)
            assert bool(hls_js_fetched(page)) is not native
            box = page.locator(".player-box").bounding_box()
            assert box is not None and box["width"] <= width
            assert abs(box["width"] / box["height"] - 16 / 9) < 0.02
            page.screenshot(path=ARTIFACTS / f"live-player-{width}.png")
            assert viewer.errors == [], viewer.report()
            viewer.context.close()
