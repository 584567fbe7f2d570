"""Tests: the same settings as dev, faster password hashing."""

from settings.dev import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# A file, not memory, so that the daphne processes that tests start see the same data.
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}  # noqa: F405

# Test threads must not keep connections open, or the test database cannot be dropped.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
DATABASES["default"]["CONN_HEALTH_CHECKS"] = False  # noqa: F405
if REDIS_URL:  # noqa: F405
    # A staff socket's disconnect waits out the layer's blocking poll; 1 s instead of 5 s
    # keeps the suite fast. Production keeps the library's default.
    CHANNEL_LAYERS["default"]["BACKEND"] = "tests.layers.QuickRedisChannelLayer"  # noqa: F405
