"""Tests: the same settings as dev, faster password hashing."""

import os
from pathlib import Path

from settings.dev import *  # noqa: F403
from settings.env import env_bool, env_int

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# The daphne processes tests start stop at once on SIGTERM, as before the drain (studio/drain.py);
# tests/test_hosts.py sets MINXIN_DRAIN_SECONDS for the process it drains.
MINXIN_DRAIN_SECONDS = env_int("MINXIN_DRAIN_SECONDS", 0)

# Static files as production serves them: hashed names, a year's cache, gzip and Brotli
# (core/statics.py). tests/conftest.py runs collectstatic once per test run into this folder, one
# per run like the SQLite file; the environment passes it on to the daphne processes tests start.
# Django hashes names only with DEBUG off (pytest-django turns it off in-process; the processes too).
DEBUG = env_bool("DEBUG", False)
STORAGES = HASHED_STATIC_STORAGES  # noqa: F405
STATIC_ROOT = Path(os.environ.setdefault("STATIC_ROOT", str(VAR_DIR / f"test-static-{os.getpid()}")))  # noqa: F405

# A file, not memory, so that the daphne processes that tests start see the same data.
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    # One file per test run, so that two runs on one checkout do not share it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}  # noqa: F405

# Connections are handled exactly as in production (settings/env.py: no persistent connections,
# psycopg's pool on PostgreSQL): a test-only override here once hid a leak of one connection per request.
if REDIS_URL:  # noqa: F405
    # A staff socket's disconnect waits out the layer's blocking poll; 1 s instead of 5 s
    # keeps the suite fast. Production keeps the library's default.
    CHANNEL_LAYERS["default"]["BACKEND"] = "tests.layers.QuickRedisChannelLayer"  # noqa: F405

# Most tests ask many questions from one session; the rate-limit tests set small limits themselves.
MINXIN_QUESTION_LIMITS_PER_NETIZEN = [(60, 10_000)]
MINXIN_QUESTION_LIMITS_PER_ADDRESS = [(60, 10_000)]
MINXIN_SUPPORT_LIMITS_PER_NETIZEN = [(60, 10_000)]
MINXIN_LETTER_LOOKUP_LIMITS_PER_ADDRESS = [(60, 10_000)]
MINXIN_SUPPORT_LIMITS_PER_ADDRESS = [(60, 10_000)]
MINXIN_SUPPORT_LIMITS_PER_ADDRESS_AND_QUESTION = [(60, 10_000)]
MINXIN_LOGIN_LIMITS_PER_ADDRESS = [(60, 10_000)]
MINXIN_LOGIN_LIMITS_PER_USER = [(60, 10_000)]
MINXIN_LOGIN_LIMITS_PER_ACCOUNT = [(60, 10_000)]
