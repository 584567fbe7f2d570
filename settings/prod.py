"""Production: every secret and host from the environment; nothing insecure by default."""

from core.logs import logging_config
from settings.base import *  # noqa: F403
from settings.env import env_bool, env_int, env_list, env_str

SECRET_KEY = env_str("SECRET_KEY", required=True)
# Rotation: the new key in SECRET_KEY, the old ones here until their sessions have expired.
SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS", [])
DEBUG = False
# Static files under hashed names, cached for a year (core/statics.py); `manage.py collectstatic
# --noinput` writes them to STATIC_ROOT before the web processes start.
STORAGES = HASHED_STATIC_STORAGES  # noqa: F405

SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Balancers' health probes and Prometheus talk to the processes directly over plain HTTP, and most
# count a redirect as a failure.
SECURE_REDIRECT_EXEMPT = [r"^healthz(/live|/ready)?$", r"^metrics$"]
# A portal served only over HTTPS: a year of HSTS, subdomains and preload, unless turned off.
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
SECURE_CONTENT_TYPE_NOSNIFF = True

LOGGING = logging_config(env_str("MINXIN_LOG_FORMAT", "json"), env_str("LOG_LEVEL", "INFO"))
