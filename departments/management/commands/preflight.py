import logging
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection


class Command(BaseCommand):
    help = (
        "Check that the database and Redis of the settings answer, one line naming the variable for "
        "each that does not (dev.py runs it before migrating and serving)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--server-only",
            action="store_true",
            help="only reach the database server, not the named database (the tests create their own)",
        )

    def handle(self, *args: object, **options: object) -> None:
        problems = [
            problem
            for problem in (self.database_problem(bool(options["server_only"])), self.redis_problem())
            if problem
        ]
        if problems:
            raise CommandError("\n".join(problems))

    def database_problem(self, server_only: bool) -> str | None:
        db = settings.DATABASES["default"]
        if connection.vendor == "sqlite":
            where = f"the SQLite file {db['NAME']} (SQLITE_PATH)"
        else:
            where = f"database {db['NAME']!r} on {db.get('HOST') or 'localhost'}:{db.get('PORT') or 5432}"
        # psycopg's pool logs a warning per failed connect attempt; the one line below says it all.
        pool_log = logging.getLogger("psycopg.pool")
        level, pool_log.level = pool_log.level, logging.ERROR
        try:
            if server_only and connection.vendor != "sqlite":
                with connection._nodb_cursor() as cursor:  # what Django's test runner connects to
                    cursor.execute("SELECT 1")
            elif connection.vendor == "postgresql":
                # Straight to the server, not through the pool: the pool's only complaint would be
                # "couldn't get a connection after 3 s", not why (no such database, refused, …).
                import psycopg

                params = connection.get_connection_params()
                for django_only in ("cursor_factory", "context", "prepare_threshold"):
                    params.pop(django_only, None)
                psycopg.connect(**params, connect_timeout=3).close()
            else:
                connection.ensure_connection()
        except Exception as exc:
            return f"DATABASE_URL: cannot use {where}: {first_line(exc)}"
        finally:
            connection.close()
            pool_log.setLevel(level)
        return None

    def redis_problem(self) -> str | None:
        if not settings.REDIS_URL:
            return None
        import redis

        parts = urlsplit(settings.REDIS_URL)
        where = parts.path if parts.scheme == "unix" else f"{parts.hostname}:{parts.port or 6379}"
        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=3, socket_connect_timeout=3)
        try:
            client.ping()
        except Exception as exc:
            return f"REDIS_URL: cannot reach Redis at {where}: {first_line(exc)}"
        finally:
            client.close()
        return None


def first_line(exc: BaseException) -> str:
    """psycopg's messages run over several lines (and may repeat the host); the first says it."""
    text = " ".join(str(exc).split("\n")[:1]).strip()
    return text or exc.__class__.__name__
