#!/usr/bin/env python3
"""One command to run Minxin, one to test it, on a machine with only Python 3.11.

    python3.11 dev.py run     # venv, install, migrate, demo data, serve on http://127.0.0.1:8000
    python3.11 dev.py test    # venv, install (with test tools), run the whole test suite
    python3.11 dev.py lock    # regenerate requirements.lock and requirements-dev.lock from pyproject.toml
    python3.11 dev.py audit   # report known vulnerabilities of the locked versions

Extra arguments after `test` go to pytest, after `lock` to pip-compile (e.g. --upgrade-package twisted),
after `audit` to pip-audit. Standard library only: it runs before anything is installed.
"""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
STAMP = VENV / ".installed"
# Every third-party package, transitive ones included, pinned with its hashes (generated from
# pyproject.toml's pins by `dev.py lock`): studio/fastsend.py reads private fields of Twisted and
# autobahn, so they must be exactly the versions tested, and a tampered download must not install.
LOCK = ROOT / "requirements.lock"  # production: the web, clock and release processes
DEV_LOCK = ROOT / "requirements-dev.lock"  # the same plus the test and lint tools
# The Python client, a distribution of its own (its dependencies are pinned in the locks above).
CLIENT = ROOT / "minxin_client"
LOCK_OPTIONS = [
    "--generate-hashes",
    "--allow-unsafe",  # pip and setuptools too: --require-hashes wants every package hashed
    "--all-build-deps",  # setuptools, to install the project itself with --no-build-isolation
    "--strip-extras",
    "--no-emit-index-url",
    "--no-emit-find-links",
]


class Failed(Exception):
    """A command failed; it has said why itself, so dev.py adds no traceback of its own."""

    def __init__(self, returncode: int):
        self.returncode = returncode


def run(*command: str, **kwargs) -> None:
    print("+", " ".join(command), flush=True)
    result = subprocess.run(command, cwd=ROOT, **kwargs)
    if result.returncode != 0:
        raise Failed(result.returncode)


def setup(extras: str, check_lock: bool = True) -> None:
    """Create .venv and install the locked dependencies, again only when the lock changed."""
    if sys.version_info[:2] != (3, 11):
        sys.exit(
            f"Minxin needs Python 3.11; this is {sys.version.split()[0]}. Run it as: python3.11 dev.py …"
        )
    if check_lock:
        stale = lock_mismatches(DEV_LOCK, ["dev"]) + lock_mismatches(LOCK, [])
        if stale:
            sys.exit(f"The lock files do not match pyproject.toml ({stale[0]}): run python3.11 dev.py lock")
    if not (BIN / "python").exists():
        print(f"Creating the virtual environment in {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    setup_node()
    wanted = hashlib.sha256(
        (ROOT / "pyproject.toml").read_bytes()
        + (CLIENT / "pyproject.toml").read_bytes()
        + DEV_LOCK.read_bytes()
        + extras.encode()
    ).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    pip = [str(BIN / "python"), "-m", "pip", "install", "--quiet"]
    # Hashes for everything, then the project and the client without letting pip resolve anything
    # else (the client's websockets and jsonschema are in the lock).
    run(*pip, "--require-hashes", "--requirement", str(DEV_LOCK.relative_to(ROOT)))
    # Editable: the apps run from the checkout anyway, `import minxin_client` reads
    # minxin_client/src/ as it is edited, and an editable install builds nothing in the tree (a plain
    # install leaves a build/ copy of minxin_client that mypy would see twice).
    # No build isolation: it would fetch setuptools unhashed; the lock has it.
    run(*pip, "--no-deps", "--no-build-isolation", "--editable", ".", "--editable", "./minxin_client")
    STAMP.write_text(wanted)


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_mismatches(lock: Path, extras: list[str]) -> list[str]:
    """pyproject.toml's pins (of the project and the given extras) missing from the lock file."""
    if not lock.exists():
        return [f"{lock.name} is missing"]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pins = list(project["dependencies"])
    for extra in extras:
        pins += project["optional-dependencies"][extra]
    locked = {
        normalized(name): version
        for name, version in re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+?)\s", lock.read_text(), re.M)
    }
    missing = []
    for pin in pins:
        name, _, version = re.sub(r"\[.*?\]", "", pin).partition("==")
        if locked.get(normalized(name)) != version.strip():
            missing.append(f"{pin} is not in {lock.name}")
    return missing


def lock(args: list[str]) -> None:
    """Regenerate both lock files with pip-compile. Pins of packages not named in pyproject.toml are
    kept as they are unless asked otherwise (--upgrade, --upgrade-package NAME)."""
    setup("[dev]", check_lock=False)  # pip-compile comes from the dev tools of the current lock
    env = {**os.environ, "CUSTOM_COMPILE_COMMAND": "python3.11 dev.py lock"}
    compile_ = [str(BIN / "pip-compile"), "--quiet", *LOCK_OPTIONS, *args]
    run(*compile_, "--output-file", LOCK.name, "pyproject.toml", env=env)
    run(*compile_, "--extra", "dev", "--output-file", DEV_LOCK.name, "pyproject.toml", env=env)


def audit(args: list[str]) -> int:
    """Known vulnerabilities of the locked versions, from pip-audit's advisory service.

    1 when some are known; 0 otherwise — also when the service cannot be reached, which is printed
    (this machine may reach only a package index), so that an outage never passes for a clean bill.
    """
    setup("[dev]")
    found = False
    for lock_file in (LOCK, DEV_LOCK):
        command = [
            str(BIN / "pip-audit"),
            "--requirement",
            str(lock_file),
            "--require-hashes",
            "--disable-pip",  # the lock is complete and hashed: nothing to resolve or install
            "--progress-spinner",
            "off",
            "--format",
            "json",
            *args,
        ]
        print("+", " ".join(command), flush=True)
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        report, vulnerable = audit_report(lock_file.name, result.stdout, result.stderr)
        print(report, flush=True)
        found = found or vulnerable
    return 1 if found else 0


def audit_report(name: str, stdout: str, stderr: str) -> tuple[str, bool]:
    """pip-audit's JSON as lines a person reads (what is vulnerable, what could not be checked),
    and whether anything known is vulnerable."""
    try:
        packages = json.loads(stdout)["dependencies"]
    except (ValueError, KeyError, TypeError):
        reason = next((line for line in reversed(stderr.splitlines()) if line.strip()), "no output")
        return (
            f"{name}: NOT AUDITED: the vulnerability service could not be reached ({reason.strip()})",
            False,
        )
    lines = [
        f"{name}: {package['name']} {package['version']}: {vuln['id']} "
        f"(fixed in: {', '.join(vuln.get('fix_versions') or []) or 'no release yet'})"
        for package in packages
        for vuln in package.get("vulns") or []
    ]
    vulnerable = bool(lines)
    skipped = [package for package in packages if package.get("skip_reason")]
    checked = len(packages) - len(skipped)
    if not vulnerable and checked:
        lines.append(f"{name}: no known vulnerabilities in the {checked} packages checked")
    if skipped:
        lines.append(
            f"{name}: NOT AUDITED: {len(skipped)} of {len(packages)} packages could not be checked, "
            f"the vulnerability service did not answer for them ({skipped[0]['skip_reason']})"
        )
    return "\n".join(lines), vulnerable


def setup_node() -> None:
    """Install package-lock.json's test tools (axe-core) with npm, when npm is there; again only when
    the lock file changed. Without npm the accessibility tests skip (and fail under CI=true)."""
    lock = ROOT / "package-lock.json"
    stamp = ROOT / "node_modules" / ".minxin-installed"
    if not shutil.which("npm") or not lock.exists():
        return
    wanted = hashlib.sha256(lock.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == wanted:
        return
    run("npm", "ci", "--no-audit", "--no-fund")
    stamp.write_text(wanted)


def serve() -> None:
    setup("[dev]")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "settings.dev")}
    python = str(BIN / "python")
    # A bad variable, a missing database or an unreachable Redis: one line naming it, before anything.
    run(python, "manage.py", "preflight", env=env)
    run(python, "manage.py", "migrate", "--no-input", "-v", "0", env=env)
    run(python, "manage.py", "demo", env=env)
    port = os.environ.get("PORT", "8000")
    print(
        f"\nMinxin is running: http://127.0.0.1:{port}/   (staff log in at /accounts/login/; Ctrl-C stops)\n",
        flush=True,
    )
    try:
        # The app logs one line per request itself (core/logs.py), as in the Procfile.
        run(
            str(BIN / "daphne"),
            "-b",
            "127.0.0.1",
            "-p",
            port,
            "--access-log",
            "/dev/null",
            "asgi:application",
            env=env,
        )
    except KeyboardInterrupt:
        pass


def test(args: list[str]) -> int:
    setup("[dev]")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "settings.test"}
    # The tests create their own database: only its server must answer.
    run(str(BIN / "python"), "manage.py", "preflight", "--server-only", env=env)
    print("+ pytest", " ".join(args), flush=True)
    return subprocess.run([str(BIN / "pytest"), *args], cwd=ROOT, env=env).returncode


def main() -> None:
    command = sys.argv[1] if len(sys.argv) > 1 else "help"
    try:
        if command == "run":
            serve()
        elif command == "test":
            sys.exit(test(sys.argv[2:]))
        elif command == "setup":
            setup("[dev]")
        elif command == "lock":
            lock(sys.argv[2:])
        elif command == "audit":
            sys.exit(audit(sys.argv[2:]))
        else:
            print(__doc__)
            sys.exit(2 if command != "help" else 0)
    except Failed as failed:
        sys.exit(failed.returncode)


if __name__ == "__main__":
    main()
