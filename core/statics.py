"""Static files in front of the Django app (asgi.py): the collected, hashed copies in production.

With a manifest storage (settings.prod, settings.test) the files come from STATIC_ROOT as
`manage.py collectstatic` left them, and ServeStatic answers them itself, before Django builds a
request: a hashed name (css/site.3f9a0c1b2d4e.css, what `{% static %}` writes) is cached for a year
as `immutable`, since a change gives it a new name; a plain name (the demo stream's
/static/demo/programme.m3u8, stored in programmes, and the files it lists) for a minute. A text file
goes out gzip- or Brotli-compressed when the client accepts it (`Vary: Accept-Encoding`), from the
.gz and .br files collectstatic made once. A name not in STATIC_ROOT, a made-up hash or a path out
of the folder falls through to Django: 404.

settings.dev (no manifest) keeps Django's handler, which reads static/ as it is edited and is never
cached (core/http.py's StaticFilesHandler).
"""

import re
from collections.abc import Callable
from pathlib import Path
from wsgiref.headers import Headers

from django.conf import settings
from django.contrib.staticfiles.storage import ManifestStaticFilesStorage, staticfiles_storage
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.asgi import ASGIHandler
from servestatic import ServeStaticASGI
from servestatic.storage import CompressedManifestStaticFilesStorage

from core.http import STREAM_TYPES, StaticFilesHandler

YEAR = 365 * 24 * 60 * 60
# A plain name may change at the next release: caches keep it this long.
PLAIN_MAX_AGE = 60
# Django's hashed names: the original's stem, 12 hex digits of its content's MD5, the extension.
HASHED_NAME = re.compile(r"(?P<stem>.+)\.[0-9a-f]{12}(?P<extension>\.[^./]+)")


def with_static_files(application: ASGIHandler) -> Callable:
    """The ASGI app that serves static files and hands every other request to `application`."""
    if not isinstance(staticfiles_storage, ManifestStaticFilesStorage):
        return StaticFilesHandler(application)
    manifest = Path(settings.STATIC_ROOT) / staticfiles_storage.manifest_name
    if not manifest.exists():
        raise ImproperlyConfigured(
            f"No {manifest}: run `python manage.py collectstatic --noinput` before starting the web processes."
        )
    originals = set(staticfiles_storage.hashed_files)  # the manifest: original name → hashed name
    prefix = settings.STATIC_URL

    def immutable(_path: str, url: str) -> bool:
        """A hashed name, this release's or an earlier one's (css/site.3f9a0c1b2d4e.css)."""
        match = HASHED_NAME.fullmatch(url.removeprefix(prefix))
        return match is not None and f"{match['stem']}{match['extension']}" in originals

    server = HashedStaticFiles(
        application,
        max_age=PLAIN_MAX_AGE,
        # Streams' types as players expect them, whatever the machine's mime.types says.
        mimetypes=STREAM_TYPES,
        immutable_file_test=immutable,
        add_headers_function=no_sniffing,
    )
    # Everything in STATIC_ROOT: the earlier releases' hashed files too (collectstatic never removes
    # them), so that during a rolling upgrade a page from an old process finds its files on a new one.
    server.add_files(settings.STATIC_ROOT, prefix)
    server.files.pop(f"{prefix}{staticfiles_storage.manifest_name}", None)
    return server


def no_sniffing(headers: Headers, _path: str, _url: str) -> None:
    """Django's middleware never sees these answers: the one security header a file needs."""
    headers["X-Content-Type-Options"] = "nosniff"


class HashedStaticFiles(ServeStaticASGI):
    """ServeStatic, with a year (the usual far-future max-age) for hashed names instead of its ten."""

    FOREVER = YEAR


class HashedStaticFilesStorage(CompressedManifestStaticFilesStorage):
    """ServeStatic's manifest storage (hashed names, .gz and .br beside each text file), rewriting
    only CSS's url(…) references. Django would also rewrite a script's `//# sourceMappingURL=`
    comment and refuse a script whose map is not there: the vendored hls.js build names its map,
    which the site does not ship (browsers fetch a map only with their developer tools open)."""

    patterns = tuple((glob, rules) for glob, rules in ManifestStaticFilesStorage.patterns if glob == "*.css")
