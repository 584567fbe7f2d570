"""The embedded default: SQLite and the in-memory layer unless DATABASE_URL / REDIS_URL say otherwise."""

from settings.base import *  # noqa: F403
from settings.env import env_bool

DEBUG = env_bool("DEBUG", True)
