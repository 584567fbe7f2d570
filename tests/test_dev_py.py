"""dev.py as a newcomer meets it: a bad setting is one line naming the variable; dependencies come
from hash-locked files that match pyproject.toml; the vulnerability report never passes an outage
off as a clean bill."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT))
import dev

# dev.py's commands with the install step left out: it would reinstall the shared .venv, and it is
# not what these tests are about (a fresh clone's `dev.py setup` is checked by hand, see the README).
RUN_WITHOUT_SETUP = (
    "import sys, dev; dev.setup = lambda *a, **k: None; sys.argv = ['dev.py', *sys.argv[1:]]; dev.main()"
)


def dev_py(tmp_path: Path, command: str, **variables: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env |= {"SQLITE_PATH": str(tmp_path / "dev.sqlite3"), "PORT": "1", **variables}
    return subprocess.run(
        [sys.executable, "-c", RUN_WITHOUT_SETUP, command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def problem_lines(result: subprocess.CompletedProcess) -> list[str]:
    """What dev.py printed besides the commands it echoes (`+ …`)."""
    output = result.stdout + result.stderr
    return [line for line in output.splitlines() if line.strip() and not line.startswith("+ ")]


@pytest.mark.parametrize("command", ["run", "test"])
@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DATABASE_URL", "mysql://minxin@db.example/minxin"),
        ("MINXIN_ASKS_PER_MINUTE", "three"),
        ("TIME_ZONE", "Asia/Beijing"),
        ("MINXIN_METRICS_ALLOW", "intranet"),
    ],
)
def test_a_bad_setting_stops_dev_py_with_one_line_naming_the_variable(tmp_path, command, variable, value):
    result = dev_py(tmp_path, command, **{variable: value})
    assert result.returncode != 0
    lines = problem_lines(result)
    assert len(lines) == 1, lines
    assert variable in lines[0]
    assert "Traceback" not in result.stdout + result.stderr


def test_an_unreachable_database_stops_dev_py_run_with_one_line_naming_database_url(tmp_path):
    result = dev_py(tmp_path, "run", DATABASE_URL="postgres://minxin:secret-pw@127.0.0.1:1/minxin")
    assert result.returncode != 0
    lines = problem_lines(result)
    assert len(lines) == 1, lines
    assert lines[0].startswith("CommandError: DATABASE_URL: cannot use database 'minxin' on 127.0.0.1:1")
    assert "secret-pw" not in result.stdout + result.stderr


def test_a_missing_database_stops_dev_py_run_naming_it(tmp_path):
    """A PostgreSQL server that answers, without the database DATABASE_URL names."""
    import psycopg

    try:
        psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", connect_timeout=3).close()
    except psycopg.OperationalError:
        pytest.skip("needs a PostgreSQL server on 127.0.0.1:5432")
    result = dev_py(tmp_path, "run", DATABASE_URL="postgres://postgres@127.0.0.1:5432/minxin_hops_absent")
    lines = problem_lines(result)
    assert result.returncode != 0 and len(lines) == 1, lines
    assert "DATABASE_URL" in lines[0] and 'database "minxin_hops_absent" does not exist' in lines[0]


def test_an_unreachable_redis_stops_dev_py_run_with_one_line_naming_redis_url(tmp_path):
    result = dev_py(tmp_path, "run", REDIS_URL="redis://127.0.0.1:1/6")
    assert result.returncode != 0
    lines = problem_lines(result)
    assert len(lines) == 1, lines
    assert lines[0].startswith("CommandError: REDIS_URL: cannot reach Redis at 127.0.0.1:1")


def test_manage_py_prints_a_bad_setting_as_one_line_too(tmp_path):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "settings.dev", "MINXIN_ASKS_PER_HOUR": "-1"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert result.stderr.strip() == "Configuration error: MINXIN_ASKS_PER_HOUR must be at least 1, not -1."


# --- the lock files -------------------------------------------------------------------------


def locked_packages(lock: Path) -> dict[str, list[str]]:
    """name → its --hash lines, from a pip-compile lock file."""
    packages: dict[str, list[str]] = {}
    name = ""
    for line in lock.read_text().splitlines():
        if line and line[0].isalnum():
            name = dev.normalized(line.split("==")[0])
            packages[name] = []
        elif line.strip().startswith("--hash=sha256:"):
            packages[name].append(line.strip())
    return packages


def test_the_lock_files_hold_exactly_the_versions_pinned_in_pyproject():
    assert dev.lock_mismatches(dev.LOCK, []) == []
    assert dev.lock_mismatches(dev.DEV_LOCK, ["dev"]) == []


@pytest.mark.parametrize("lock", [dev.LOCK, dev.DEV_LOCK], ids=lambda lock: lock.name)
def test_every_locked_package_transitive_ones_included_has_its_hashes(lock):
    packages = locked_packages(lock)
    # fastsend reads Twisted's and autobahn's private fields: they, and what they stand on, are locked.
    for name in ("twisted", "autobahn", "txaio", "zope-interface", "daphne", "django", "setuptools"):
        assert name in packages, name
    if lock == dev.DEV_LOCK:  # pip-tools needs pip: it is locked too, so dev.py installs no unhashed pip
        assert "pip" in packages
    assert all(packages.values()), [name for name, hashes in packages.items() if not hashes]
    assert "--index-url" not in lock.read_text() and "--find-links" not in lock.read_text()


def test_a_pin_changed_in_pyproject_but_not_in_the_lock_is_named(tmp_path):
    stale = tmp_path / "requirements.lock"
    stale.write_text(dev.LOCK.read_text().replace("\ndjango==", "\ndjango==0.", 1))
    assert dev.lock_mismatches(stale, []) == ["Django==5.2.19 is not in requirements.lock"]


def test_the_installed_twisted_and_autobahn_are_the_locked_ones():
    from importlib.metadata import version

    packages = dev.LOCK.read_text()
    for name in ("Twisted", "autobahn", "daphne", "channels"):
        assert f"\n{name.lower()}=={version(name)} " in packages.lower(), name


# --- the vulnerability report ---------------------------------------------------------------


def test_the_audit_names_each_known_vulnerability_and_its_fixed_version():
    stdout = json.dumps(
        {
            "dependencies": [
                {
                    "name": "django",
                    "version": "5.2.19",
                    "vulns": [{"id": "GHSA-xxxx", "fix_versions": ["5.2.20"]}],
                },
                {"name": "twisted", "version": "26.10.0", "vulns": []},
            ]
        }
    )
    report, vulnerable = dev.audit_report("requirements.lock", stdout, "")
    assert vulnerable
    assert report == "requirements.lock: django 5.2.19: GHSA-xxxx (fixed in: 5.2.20)"


def test_the_audit_says_so_when_the_vulnerability_service_cannot_be_reached():
    report, vulnerable = dev.audit_report(
        "requirements.lock", "", "Traceback …\nrequests.exceptions.ConnectionError: api.osv.dev unreachable\n"
    )
    assert not vulnerable
    assert report.startswith("requirements.lock: NOT AUDITED: the vulnerability service could not be reached")
    assert "api.osv.dev unreachable" in report


def test_the_audit_never_calls_skipped_packages_clean():
    """pip-audit itself says "No known vulnerabilities found" when the service answered for none."""
    skipped = {"skip_reason": "Dependency not found on PyPI and could not be audited: django (5.2.19)"}
    stdout = json.dumps(
        {
            "dependencies": [
                {"name": "django", **skipped},
                {"name": "twisted", "version": "26.10.0", "vulns": []},
            ]
        }
    )
    report, vulnerable = dev.audit_report("requirements.lock", stdout, "")
    assert not vulnerable
    assert report.splitlines() == [
        "requirements.lock: no known vulnerabilities in the 1 packages checked",
        "requirements.lock: NOT AUDITED: 1 of 2 packages could not be checked, the vulnerability service "
        "did not answer for them (Dependency not found on PyPI and could not be audited: django (5.2.19))",
    ]


@pytest.mark.skipif(not shutil.which("pip-audit", path=str(ROOT / ".venv" / "bin")), reason="needs pip-audit")
def test_dev_py_audit_reports_on_both_lock_files_and_fails_only_on_a_known_vulnerability(tmp_path):
    result = dev_py(tmp_path, "audit")
    for name in ("requirements.lock:", "requirements-dev.lock:"):
        assert name in result.stdout, result.stdout + result.stderr
    assert "Traceback" not in result.stdout
    assert result.returncode == (1 if "(fixed in:" in result.stdout else 0), result.stdout
