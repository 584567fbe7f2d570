"""The bench harness: the bench databases and Redis dbs, and the setup scripts run in the project.

Every benchmark keeps a PostgreSQL database of its own (created if missing) and, when it runs
servers, a Redis db of its own that it never flushes. The scripts run in one ``manage.py shell``
(one Django start-up) under the bench's environment (bench/servers.py: ``project_env``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bench.servers import ROOT

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/9"


def with_database_name(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def with_redis_db(url: str, db: int) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{db}"))


def redis_db(url: str) -> int:
    path = urlsplit(url).path.strip("/")
    return int(path) if path else 0


def bench_redis_url(environ: dict[str, str], *variables: str) -> str:
    """The first of `variables` set in `environ`; else REDIS_URL's server with db 9 (10 when REDIS_URL
    itself is db 9); else the default.

    The benches never flush their Redis database: it may be shared.
    """
    for variable in variables:
        if environ.get(variable):
            return environ[variable]
    url = environ.get("REDIS_URL")
    if url:
        return with_redis_db(url, 10 if redis_db(url) == 9 else 9)
    return DEFAULT_REDIS_URL


def manage(env: dict, *args: str, timeout: float = 180) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args[:2])} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def ensure_database(database_url: str) -> None:
    import psycopg

    name = database_name(database_url)
    admin_url = with_database_name(database_url, "postgres")
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


SETUP_SCRIPT = """
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.utils import timezone
from departments.registry import load_registry
from studio.models import Broadcast
load_registry()
table = Broadcast._meta.db_table
with connection.cursor() as cursor:
    cursor.execute(
        "SELECT setval(pg_get_serial_sequence(%s, 'id'), GREATEST(%s, (SELECT COALESCE(MAX(id), 0) FROM " + table + ")))",
        [table, {floor}],
    )
"""

# Staff accounts in one shell (one Django start-up, not one per account): (username, role, options).
STAFF_SCRIPT = """
import io
import secrets
from django.core.management import call_command
for username, role, options in {accounts!r}:
    call_command(
        "createstaff", username, "--role", role, "--password=" + secrets.token_urlsafe(12), *options,
        stdout=io.StringIO(),
    )
"""

# Prints one session cookie (name=value) per username, in order.
LOGIN_SCRIPT = """
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
for username in {usernames!r}:
    client = Client()
    client.force_login(get_user_model().objects.get(username=username))
    print(settings.SESSION_COOKIE_NAME + "=" + client.cookies[settings.SESSION_COOKIE_NAME].value)
"""


COUNT_SCRIPT = """
from moderation.models import Question
questions = Question.objects.filter(broadcast_id={broadcast_id})
print(questions.count(), questions.values("client_id").distinct().count())
"""


def count_questions(env: dict, broadcast_id: int) -> tuple[int, int]:
    """Questions stored for the programme, and distinct client_ids among them (through the ORM)."""
    total, distinct = manage(env, "shell", "-c", COUNT_SCRIPT.format(broadcast_id=broadcast_id)).split()[-2:]
    return int(total), int(distinct)


def ensure_static_files(env: dict) -> None:
    """settings.prod serves the collected, hashed static files and will not start without them. A
    STATIC_ROOT in `env` that holds a manifest (a test run's) is used as it is; otherwise they are
    collected now (about 15 s, Brotli at its best level) into STATIC_ROOT or var/bench-static,
    which is then set in `env`."""
    given = env.get("STATIC_ROOT")
    if given and (Path(given) / "staticfiles.json").exists():
        return
    env["STATIC_ROOT"] = given or str(ROOT / "var" / "bench-static")
    manage(env, "collectstatic", "--noinput", "-v", "0", timeout=600)
