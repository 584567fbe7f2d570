"""Tests: the same settings as dev, faster password hashing."""

from settings.dev import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
