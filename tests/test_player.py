"""The programme's player without a browser: which stream URLs a programme may have, the policy
that lets pages play them, the page that carries the player, and the pinned hls.js it serves.
(It playing in Chromium: tests/test_browser_player.py.)"""

import json
import re
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.utils import translation

from settings.env import BadSetting, env_origins
from studio.streams import stream_kind, validate_stream_url
from tests.conftest import ROOT, make_broadcast

HLS_JS_VERSION = "1.7.4"
VENDOR = ROOT / "static" / "vendor" / "hls.js"
HOST = "https://live.example.gov.cn"


@pytest.fixture
def english():
    """The messages in English, whatever language an earlier test (or command) left active."""
    with translation.override("en"):
        yield


@pytest.mark.parametrize(
    "url",
    [
        "/static/demo/programme.m3u8",
        "/media/2026/第12期.mp4",
        f"{HOST}/wjw/index.m3u8",
        f"{HOST}/wjw/index.m3u8?token=abc",
        "http://127.0.0.1:8080/radio.mp3",
    ],
)
def test_a_stream_is_a_path_on_this_site_or_on_a_configured_stream_host(settings, url):
    settings.MINXIN_STREAM_ORIGINS = [HOST, "http://127.0.0.1:8080"]
    validate_stream_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "data:video/mp4;base64,AAAA",
        "vbscript:msgbox",
        "//evil.example/x.m3u8",
        "/\\evil.example/x.m3u8",
        "ftp://live.example.gov.cn/x.mp4",
        "rtmp://live.example.gov.cn/live",
        "live.m3u8",
    ],
)
def test_javascript_data_and_other_non_web_urls_are_refused_with_a_clear_error(settings, english, url):
    settings.MINXIN_STREAM_ORIGINS = [HOST]
    with pytest.raises(ValidationError) as refused:
        validate_stream_url(url)
    assert refused.value.messages == [
        f"A stream URL must start with https://, http:// or / (a path on this site), not {url}."
    ]


def test_a_stream_host_the_settings_do_not_name_is_refused_saying_which_setting_to_change(settings, english):
    settings.MINXIN_STREAM_ORIGINS = [HOST]
    with pytest.raises(ValidationError) as refused:
        validate_stream_url("https://cdn.example.com:8443/live.m3u8")
    assert refused.value.messages == [
        "Streams from https://cdn.example.com:8443 are not allowed yet: add it to the MINXIN_STREAM_ORIGINS setting."
    ]
    with pytest.raises(ValidationError, match="spaces"):
        validate_stream_url("/static/demo/programme.m3u8\njavascript:x")


@pytest.mark.django_db
def test_the_admin_form_refuses_a_javascript_stream_url_and_keeps_what_was_typed(client, registry):
    from django.contrib.auth import get_user_model

    from departments.models import Department

    admin = get_user_model().objects.create_superuser("root", password="x-very-long-pass-1")
    client.force_login(admin)
    form = {
        "number": "7",
        "title": "水价听证",
        "department": Department.objects.get(code="swj").pk,
        "starts_at_0": "2026-12-10",
        "starts_at_1": "14:30:00",
        "planned_minutes": "60",
        "stream_url": "javascript:alert(document.cookie)",
        "guests-TOTAL_FORMS": "0",
        "guests-INITIAL_FORMS": "0",
    }
    response = client.post("/admin/studio/broadcast/add/", form)
    assert response.status_code == 200
    page = response.content.decode()
    assert "must start with https://, http:// or /" in page or "必须以 https://、http:// 或 /" in page
    assert "水价听证" in page  # the form comes back filled in
    from studio.models import Broadcast

    assert not Broadcast.objects.exists()
    form["stream_url"] = "/static/demo/programme.m3u8"
    assert client.post("/admin/studio/broadcast/add/", form).status_code == 302
    assert Broadcast.objects.get().stream_url == "/static/demo/programme.m3u8"


@pytest.mark.django_db
def test_createbroadcast_refuses_a_data_url_for_the_stream(registry, english):
    with pytest.raises(
        CommandError, match=r"--stream-url: A stream URL must start with https://.*data:video/mp4,x"
    ):
        call_command(
            "createbroadcast",
            department="jtw",
            title="公交",
            stream_url="data:video/mp4,x",
            stdout=StringIO(),
        )


def test_the_player_is_chosen_by_the_file_name():
    assert stream_kind("https://live.example.gov.cn/a/index.M3U8?token=1") == "hls"
    assert stream_kind("/media/radio.mp3") == "audio"
    assert stream_kind("/media/talk.m4a") == "audio"
    assert stream_kind("/media/talk.ogg") == "audio"
    assert stream_kind("/media/replay.mp4") == "video"
    assert stream_kind("/media/replay.webm") == "video"


def test_stream_origins_from_the_environment_are_exact_origins(monkeypatch):
    monkeypatch.setenv("MINXIN_STREAM_ORIGINS", "https://Live.Example.gov.cn, http://10.0.0.5:8080")
    assert env_origins("MINXIN_STREAM_ORIGINS") == ["https://live.example.gov.cn", "http://10.0.0.5:8080"]
    for bad in ["live.example.gov.cn", "https://live.example.gov.cn/hls/", "ftp://x", "https://x:99999", "*"]:
        monkeypatch.setenv("MINXIN_STREAM_ORIGINS", bad)
        with pytest.raises(BadSetting, match="MINXIN_STREAM_ORIGINS"):
            env_origins("MINXIN_STREAM_ORIGINS")


@pytest.mark.django_db
def test_the_policy_lets_pages_play_from_stream_hosts_and_through_media_source(client, registry, settings):
    settings.MINXIN_STREAM_ORIGINS = [HOST]
    policy = dict(part.split(" ", 1) for part in client.get("/")["Content-Security-Policy"].split("; "))
    assert policy["media-src"] == f"'self' blob: https: {HOST}"  # blob: is hls.js's MediaSource
    assert policy["connect-src"] == f"'self' ws: wss: {HOST}"  # hls.js fetches playlists and segments
    assert policy["script-src"] == "'self'"  # hls.js comes from /static, and runs no blob: worker
    assert "worker-src" not in policy


@pytest.mark.django_db
def test_the_live_page_carries_the_player_only_for_a_programme_with_a_stream(client, personas):
    from studio.models import Broadcast

    broadcast = make_broadcast("jtw", personas["host"], [personas["guest"]], status="live")
    page = client.get(f"/live/{broadcast.pk}/").content.decode()
    assert 'class="player' not in page and "player.js" not in page and "hls" not in page
    Broadcast.objects.filter(pk=broadcast.pk).update(stream_url="/static/demo/programme.m3u8")
    page = client.get(f"/live/{broadcast.pk}/").content.decode()
    assert 'data-kind="hls"' in page and "data-live" in page and "直播信号暂时中断，正在重试…" in page
    # Under their hashed names, as production serves them (core/statics.py)
    assert re.search(r'data-hls="/static/vendor/hls\.js/hls\.light\.min\.[0-9a-f]{12}\.js"', page)
    assert re.search(r'<script src="/static/js/player\.[0-9a-f]{12}\.js" defer></script>', page)
    assert "<script>" not in page  # nothing inline (the policy forbids it)


@pytest.mark.django_db
def test_the_replay_of_an_ended_programme_plays_its_recording(client, personas):
    from studio.models import Broadcast

    broadcast = make_broadcast("jtw", personas["host"], [personas["guest"]], status="ended")
    Broadcast.objects.filter(pk=broadcast.pk).update(stream_url="/media/recording.mp4")
    page = client.get(f"/replay/{broadcast.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'data-kind="video"' in page and "Play the recording" in page
    assert "data-live" not in page and "LIVE" not in page


def test_the_served_hls_js_is_the_pinned_npm_release_unchanged():
    pinned = json.loads((ROOT / "package.json").read_text())["devDependencies"]["hls.js"]
    assert pinned == HLS_JS_VERSION  # exact, no range
    lock = json.loads((ROOT / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/hls.js"]["version"] == HLS_JS_VERSION
    package = ROOT / "node_modules" / "hls.js"
    installed = json.loads((package / "package.json").read_text())["version"]
    assert installed == HLS_JS_VERSION, "run: npm ci"
    assert (VENDOR / "hls.light.min.js").read_bytes() == (package / "dist" / "hls.light.min.js").read_bytes()
    assert (VENDOR / "LICENSE").read_bytes() == (package / "LICENSE").read_bytes()
    assert f"hls.js {HLS_JS_VERSION}" in (VENDOR / "README.md").read_text()


def test_the_demo_clip_is_small_and_licensed():
    demo = ROOT / "static" / "demo"
    playlist = (demo / "programme.m3u8").read_text()
    segments = re.findall(r"^programme-\d+\.ts$", playlist, re.M)
    assert segments and "#EXT-X-ENDLIST" in playlist
    assert all((demo / name).exists() for name in segments)
    assert sum(path.stat().st_size for path in demo.iterdir()) < 1_000_000
    assert "CC0" in (demo / "LICENSE.txt").read_text()
