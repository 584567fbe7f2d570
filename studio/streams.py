"""A programme's stream: which URLs it may have, and which player plays it (static/js/player.js)."""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

AUDIO_EXTENSIONS = (".mp3", ".m4a", ".aac", ".ogg", ".oga", ".opus", ".wav", ".flac")


def validate_stream_url(value: str) -> None:
    """A path on this site (/static/…, /media/…), or http(s) on a stream host the site's settings
    name (MINXIN_STREAM_ORIGINS): the Content-Security-Policy lets pages play from exactly those,
    so anything else would be a player that fails in some browsers. javascript:, data: and the
    like are never a stream."""
    if any(ch.isspace() or ord(ch) < 32 for ch in value):
        raise ValidationError(_("A stream URL must not contain spaces."), code="stream_url")
    if value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        parts, port = urlsplit(""), None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError(
            _("A stream URL must start with https://, http:// or / (a path on this site), not %(url)s."),
            code="stream_url",
            params={"url": value[:80]},
        )
    origin = f"{parts.scheme}://{parts.hostname}" + (f":{port}" if port else "")
    if origin not in settings.MINXIN_STREAM_ORIGINS:
        raise ValidationError(
            _("Streams from %(origin)s are not allowed yet: add it to the MINXIN_STREAM_ORIGINS setting."),
            code="stream_origin",
            params={"origin": origin},
        )


def stream_kind(url: str) -> str:
    """Which player plays it, from the file name's extension (a query string aside): hls, audio or video."""
    path = urlsplit(url).path.lower()
    if path.endswith(".m3u8"):
        return "hls"
    if path.endswith(AUDIO_EXTENSIONS):
        return "audio"
    return "video"
