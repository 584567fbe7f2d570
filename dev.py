#!/usr/bin/env python3
"""One command to run Minxin, one to test it, on a machine with only Python 3.11.

    python3.11 dev.py run     # venv, install, migrate, demo data, serve on http://127.0.0.1:8000
    python3.11 dev.py test    # venv, install (with test tools), run the whole test suite

Extra arguments after `test` go to pytest. Standard library only: it runs before anything is installed.
"""

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
STAMP = VENV / ".installed"


def run(*command: str, **kwargs) -> None:
    print("+", " ".join(command), flush=True)
    subprocess.run(command, cwd=ROOT, check=True, **kwargs)


def setup(extras: str) -> None:
    """Create .venv and install the pinned dependencies, again only when pyproject.toml changed."""
    if sys.version_info[:2] != (3, 11):
        sys.exit(
            f"Minxin needs Python 3.11; this is {sys.version.split()[0]}. Run it as: python3.11 dev.py …"
        )
    if not (BIN / "python").exists():
        print(f"Creating the virtual environment in {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    setup_node()
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    run(str(BIN / "python"), "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    # Editable: the apps run from the checkout anyway, and an editable install builds nothing in
    # the tree (a plain install leaves a build/ copy of minxin_client that mypy would see twice).
    run(str(BIN / "python"), "-m", "pip", "install", "--quiet", "--editable", f".{extras}")
    STAMP.write_text(wanted)


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
    run(python, "manage.py", "migrate", "--no-input", "-v", "0", env=env)
    run(python, "manage.py", "demo", env=env)
    port = os.environ.get("PORT", "8000")
    print(
        f"\nMinxin is running: http://127.0.0.1:{port}/   (staff log in at /accounts/login/; Ctrl-C stops)\n",
        flush=True,
    )
    try:
        # The app logs one line per request itself (departments/logs.py), as in the Procfile.
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
    print("+ pytest", " ".join(args), flush=True)
    return subprocess.run([str(BIN / "pytest"), *args], cwd=ROOT, env=env).returncode


def main() -> None:
    command = sys.argv[1] if len(sys.argv) > 1 else "help"
    if command == "run":
        serve()
    elif command == "test":
        sys.exit(test(sys.argv[2:]))
    elif command == "setup":
        setup("[dev]")
    else:
        print(__doc__)
        sys.exit(2 if command != "help" else 0)


if __name__ == "__main__":
    main()
