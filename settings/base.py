"""Settings shared by every environment. Everything that differs per machine comes from the environment."""

from pathlib import Path

from django.utils.translation import gettext_lazy as _
from servestatic.compress import Compressor

from core.logs import logging_config
from settings.env import (
    env_bool,
    env_database,
    env_int,
    env_list,
    env_networks,
    env_origins,
    env_redis_url,
    env_str,
    env_time_zone,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

SECRET_KEY = env_str("SECRET_KEY", "dev-only-insecure-key-change-me")
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
# Origins (scheme://host[:port]) besides the request's own that may post forms and open the
# staff consoles: e.g. https://portal.example.gov.cn when a proxy in front does not tell daphne
# that it terminated TLS.
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
# Origins of the hosts that serve programmes' streams (https://live.example.gov.cn): a programme's
# stream URL is this site's own (/media/…) or on one of these, and the Content-Security-Policy lets
# pages load media and (for hls.js) fetch playlists and segments from them.
MINXIN_STREAM_ORIGINS = env_origins("MINXIN_STREAM_ORIGINS")

INSTALLED_APPS = [
    # daphne before staticfiles so that `runserver` is daphne's ASGI server.
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "departments",
    "studio",
    "moderation",
    "letters",
    "archive",
]

MIDDLEWARE = [
    "core.logs.RequestIdMiddleware",  # first: its id is on every line logged for the request
    "core.params.NulCharacterMiddleware",  # before anything looks a value up in PostgreSQL
    "django.middleware.security.SecurityMiddleware",
    "core.security.SharedAnswerGuardMiddleware",  # before CSRF and sessions: sees the cookies they set
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "core.netizens.NetizenCookieMiddleware",  # after CSRF: the token it asks for is set on the way out
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "core.security.ContentSecurityPolicyMiddleware",
    "core.http.DatabaseUnavailableMiddleware",
]

ROOT_URLCONF = "settings.urls"
CSRF_FAILURE_VIEW = "core.http.csrf_failure"
ASGI_APPLICATION = "asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

DATABASES = {
    "default": env_database("DATABASE_URL", Path(env_str("SQLITE_PATH") or VAR_DIR / "minxin.sqlite3"))
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_redis_url("REDIS_URL")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # socket_timeout=None: redis-py's 5 s default equals the layer's 5 s blocking
                # poll, which drops one consumer per process whenever a room is quiet for 5 s.
                # max_connections: redis-py's cap of 100 fails group_add in a connect burst.
                "hosts": [{"address": REDIS_URL, "socket_timeout": None, "max_connections": 2000}],
                "capacity": 1000,
                "expiry": 30,
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = env_time_zone("TIME_ZONE", "Asia/Shanghai")
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Where `manage.py collectstatic` writes the hashed, compressed copies that settings.prod serves
# (core/statics.py). settings.dev serves static/ as it is edited and needs no collectstatic.
STATIC_ROOT = Path(env_str("STATIC_ROOT") or BASE_DIR / "staticfiles")
# Hashed names (css/site.3f9a0c1b2d4e.css) listed in STATIC_ROOT/staticfiles.json, with .gz and .br
# beside each text file: settings.prod and settings.test use it (settings.dev keeps Django's default).
HASHED_STATIC_STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "core.statics.HashedStaticFilesStorage"},
}
# Not compressed: ServeStatic's list (images, fonts, video, archives) and the streams' media.
SERVESTATIC_SKIP_COMPRESS_EXTENSIONS = [*Compressor.SKIP_COMPRESS_EXTENSIONS, "ts", "m4s", "m4a", "opus"]

# Live programme limits (PROTOCOL.md §1).
# 32 KiB: the longest text a frame may carry (an answer, 5,000 characters) fits whatever the
# characters — 5,000 Chinese characters are 15,000 UTF-8 bytes, which an 8 KiB limit refused by
# closing the guest's socket (static/js/socket.js refuses a frame over this before sending it).
MINXIN_MAX_FRAME_BYTES = 32 * 1024
MINXIN_PRESENCE_INTERVAL = env_int("MINXIN_PRESENCE_INTERVAL", 5, minimum=1)
# Live sockets one client address (an IPv6 /64) may hold across all processes, so that one
# address cannot inflate the public `online` count (studio/addresses.py). Generous: a carrier's
# NAT shares one IPv4 address among a few dozen to a hundred subscribers, an office among its
# staff, and a viewer may have two tabs open. Raise it for a known larger office.
MINXIN_SOCKETS_PER_ADDRESS = env_int("MINXIN_SOCKETS_PER_ADDRESS", 200, minimum=1)
# On SIGTERM a daphne process stops accepting and closes its sockets spread over this many seconds
# (close code 4503, PROTOCOL.md §4, "Draining"; studio/drain.py), so a deploy moves viewers
# gradually; 0 stops at once. Keep it under the platform's kill timeout (often 30 s).
MINXIN_DRAIN_SECONDS = env_int("MINXIN_DRAIN_SECONDS", 10)

# One JSON object per line (settings.prod's default) or plain text (MINXIN_LOG_FORMAT=json|text),
# with the request or connection id on every line (core/logs.py).
LOGGING = logging_config(env_str("MINXIN_LOG_FORMAT", "text"), env_str("LOG_LEVEL", "INFO"))

# Sessions are read on every WebSocket connect (AuthMiddlewareStack): from the cache first,
# so a viewer's connect costs one cache read, not a database query.
SESSION_ENGINE = "core.sessions"  # cached_db that falls back to the database without Redis
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "core.cache.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Rate limits for netizens' writes, as (window seconds, most actions) pairs; shared across
# processes through the cache (Redis in production).
MINXIN_QUESTION_LIMITS_PER_NETIZEN = [
    (60, env_int("MINXIN_ASKS_PER_MINUTE", 3, minimum=1)),
    (3600, env_int("MINXIN_ASKS_PER_HOUR", 20, minimum=1)),
]
# A whole office or campus can share one address, hence the larger numbers. Behind a proxy, run
# daphne with --proxy-headers so that the address is the netizen's, not the proxy's.
MINXIN_QUESTION_LIMITS_PER_ADDRESS = [
    (60, env_int("MINXIN_ASKS_PER_ADDRESS_PER_MINUTE", 30, minimum=1)),
    (3600, env_int("MINXIN_ASKS_PER_ADDRESS_PER_HOUR", 300, minimum=1)),
]
MINXIN_SUPPORT_LIMITS_PER_NETIZEN = [(60, 30)]
# Looking a letter up by its code (and key), per address: a netizen checks a few letters, a
# script trying codes is stopped (PROTOCOL.md §4).
MINXIN_LETTER_LOOKUP_LIMITS_PER_ADDRESS = [
    (60, env_int("MINXIN_LETTER_LOOKUPS_PER_ADDRESS_PER_MINUTE", 20, minimum=1)),
    (3600, env_int("MINXIN_LETTER_LOOKUPS_PER_ADDRESS_PER_HOUR", 200, minimum=1)),
]
# 附议 per client address: each cookieless socket is a new netizen, so without these one address
# could add any number of supports. An office or a carrier's NAT shares an address, hence a
# generous total; one address adds at most MINXIN_SUPPORTS_PER_ADDRESS_PER_QUESTION to one question.
MINXIN_SUPPORT_LIMITS_PER_ADDRESS = [
    (60, env_int("MINXIN_SUPPORTS_PER_ADDRESS_PER_MINUTE", 60, minimum=1)),
    (3600, env_int("MINXIN_SUPPORTS_PER_ADDRESS_PER_HOUR", 600, minimum=1)),
]
MINXIN_SUPPORT_LIMITS_PER_ADDRESS_AND_QUESTION = [
    (3600, env_int("MINXIN_SUPPORTS_PER_ADDRESS_PER_QUESTION", 20, minimum=1))
]

# Letters: rankings on the public scoreboard need at least this many letters received.
MINXIN_SCOREBOARD_MIN_LETTERS = 10
# The assessment (docs/ASSESSMENT.md): weights of the measures, efficiency then quality (sum 100).
MINXIN_ASSESSMENT_WEIGHTS = {
    "timely_sign_for": 15,
    "timely_reply": 25,
    "no_extension": 10,
    "no_wrong_sign_for": 10,
    "no_wrong_closure": 10,
    "no_complaint": 15,
    "substantive_closure": 15,
}
# Volume adjustment (docs/ASSESSMENT.md): a raw score above MINXIN_ASSESSMENT_PRIOR_SCORE is pulled
# toward it as if this many letters more had scored it; a raw score below it is kept as it is.
MINXIN_ASSESSMENT_PRIOR_LETTERS = 20
MINXIN_ASSESSMENT_PRIOR_SCORE = 60
# A replied letter its writer has not rated within this many working days is closed by the clock
# as 未评价办结 (docs/ASSESSMENT.md "Closure"): about a week and a half, enough for a writer who
# reads the reply on a weekend or after a holiday.
MINXIN_UNRATED_CLOSE_WORKDAYS = env_int("MINXIN_UNRATED_CLOSE_WORKDAYS", 7, minimum=1)
# A writer who comes back after that closure may still rate the reply for this many days: the
# letter stays closed (and counted as closed unrated), the rating counts among the ratings.
MINXIN_LATE_RATING_DAYS = env_int("MINXIN_LATE_RATING_DAYS", 30, minimum=0)
# The staff queues show a reminder (催办) once a letter has this many working days or fewer left.
MINXIN_REMINDER_WORKDAYS = env_int("MINXIN_REMINDER_WORKDAYS", 1, minimum=0)
# The reports on their schedule (docs/REPORTS.md): each kind's period as month-day of its first and
# last day (a first day after the last one starts in the year before), produced by the clock at the
# first tick `delay_days` days after the period's last day, and only within `catch_up_days` of that
# moment (an older period is produced by hand: `manage.py report`).
MINXIN_REPORTS = {
    "half_year": {"from": "01-01", "to": "06-30"},  # 每年6月 半年通报
    "year_end": {"from": "12-01", "to": "11-30"},  # 11月底 年终考核
    "delay_days": 0,
    "catch_up_days": 30,
}
# PIPL: a writer's name and contact are erased this many days after the letter closed (or after
# the reply, for a letter its writer never rated), by the clock's `erasecontacts` (letters.privacy).
MINXIN_CONTACT_RETENTION_DAYS = env_int("MINXIN_CONTACT_RETENTION_DAYS", 180, minimum=1)

# Failed and successful login attempts alike count, per client address and per address + user name.
MINXIN_LOGIN_LIMITS_PER_ADDRESS = [(60, 30), (3600, 200)]
MINXIN_LOGIN_LIMITS_PER_USER = [(60, 5), (3600, 30)]

# /metrics is not public (it tells how busy the service is and which programmes are live): it answers
# clients inside MINXIN_METRICS_ALLOW (CIDRs; `none` for none), or any client with
# `Authorization: Bearer $MINXIN_METRICS_TOKEN`.
MINXIN_METRICS_TOKEN = env_str("MINXIN_METRICS_TOKEN")
MINXIN_METRICS_ALLOW = env_networks("MINXIN_METRICS_ALLOW", ["127.0.0.0/8", "::1/128"])
# Per account from any address: slows a guesser spread over many addresses. Never a lockout:
# the longest wait is one window, and a browser that logged in to the account before (its
# signed device cookie) is not held by it (core/security.py).
MINXIN_LOGIN_LIMITS_PER_ACCOUNT = [(60, 10), (3600, 60)]
