"""minxin_client as a distribution of its own (minxin_client/pyproject.toml): it ships the frames'
schema as package data, identical to docs/frames.schema.json (the one source), and its wheel installs
and validates frames in a virtual environment that holds none of the server's dependencies.

Nothing is downloaded. The wheel is built from a copy of minxin_client/ with this venv's locked
setuptools (no build isolation, no index), so the checkout gets no build/ or egg-info. The fresh venv
is made without pip and gets, on a .pth line, a directory holding copies of exactly the installed
distributions that websockets and jsonschema need (no Django, nothing else of the server); pip
(this venv's, run with --python) then installs the wheel with its `validate` extra from no index at
all: it succeeds only if the wheel's declared dependencies are satisfied by those alone.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import venv
import zipfile
from importlib.metadata import distribution
from importlib.resources import files
from pathlib import Path

from packaging.requirements import Requirement

import dev
from tests.conftest import ROOT

CLIENT = ROOT / "minxin_client"
SOURCE = ROOT / "docs" / "frames.schema.json"
SHIPPED = CLIENT / "src" / "minxin_client" / "frames.schema.json"
SYNC = f"cp {SOURCE.relative_to(ROOT)} {SHIPPED.relative_to(ROOT)}"


def test_the_schema_the_client_ships_is_docs_frames_schema_byte_for_byte():
    assert SHIPPED.read_bytes() == SOURCE.read_bytes(), (
        f"docs/frames.schema.json changed but the copy minxin_client ships did not: run `{SYNC}`"
    )


def test_the_checkout_imports_the_client_from_minxin_client_src():
    import minxin_client

    assert Path(minxin_client.__file__).resolve().parent == SHIPPED.parent
    assert files("minxin_client").joinpath("frames.schema.json").read_bytes() == SOURCE.read_bytes()


def requirement_names(requirements: list[str]) -> set[str]:
    return {dev.normalized(Requirement(r).name) for r in requirements}


def test_the_client_needs_only_websockets_and_jsonschema_both_pinned_in_the_locks():
    project = tomllib.loads((CLIENT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert requirement_names(project["dependencies"]) == {"websockets"}
    assert {extra: requirement_names(r) for extra, r in project["optional-dependencies"].items()} == {
        "validate": {"jsonschema"}
    }
    # dev.py installs the client --no-deps: the checkout's locks must hold what it needs.
    assert re.search(r"^websockets==", dev.LOCK.read_text(), re.M)
    for name in ("websockets", "jsonschema"):
        assert re.search(rf"^{name}==", dev.DEV_LOCK.read_text(), re.M), name


def copy_distributions(names: list[str], target: Path) -> set[str]:
    """Copy the installed distributions `names` and everything they require (no extras) into
    `target`, laid out as a site-packages directory; their normalized names."""
    copied: set[str] = set()
    todo = list(names)
    while todo:
        name = dev.normalized(todo.pop())
        if name in copied:
            continue
        copied.add(name)
        dist = distribution(name)
        site = Path(str(dist.locate_file(""))).resolve()
        for file in dist.files or []:
            path = Path(str(dist.locate_file(file))).resolve()
            if path.is_file() and path.is_relative_to(site) and "__pycache__" not in path.parts:
                (target / path.relative_to(site)).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target / path.relative_to(site))
        for line in dist.requires or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return copied


CHECK_INSTALLED = """
import json, sys
import minxin_client
from minxin_client import Viewer
from minxin_client.schema import FrameSchemaError, FrameValidator, load_schema
from importlib.resources import files
try:
    import django
except ImportError:
    django = None
validator = FrameValidator()
validator.validate({"type": "presence", "online": 3}, "live", "server")
validator.validate({"type": "ask", "text": "公交什么时候加密班次？", "client_id": "a" * 16}, "live", "client")
try:
    validator.validate({"type": "presence", "online": -1}, "live", "server")
    refused = None
except FrameSchemaError as error:
    refused = str(error)
print(json.dumps({
    "file": minxin_client.__file__,
    "django": django is not None,
    "schema": files("minxin_client").joinpath("frames.schema.json").read_text(encoding="utf-8"),
    "validated": validator.counts,
    "refused": refused,
    "viewer_validates": Viewer("http://127.0.0.1:1", 1, validate=True)._validator is not None,
}))
"""


def test_the_wheel_installs_without_the_server_and_validates_with_the_schema_it_ships(tmp_path):
    source = tmp_path / "minxin_client"
    shutil.copytree(CLIENT, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    offline = ["--quiet", "--no-index", "--no-build-isolation"]  # this venv's setuptools, no index
    build = [*pip, "wheel", *offline, "--no-deps", "--wheel-dir", str(tmp_path / "dist"), str(source)]
    subprocess.run(build, check=True, cwd=tmp_path)
    (wheel,) = (tmp_path / "dist").glob("minxin_client-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        assert archive.read("minxin_client/frames.schema.json") == SOURCE.read_bytes()
        metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
        requires = [
            line.split(":", 1)[1].strip()
            for line in archive.read(metadata).decode().splitlines()
            if line.startswith("Requires-Dist:")
        ]
    assert {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")} == {"minxin_client"}
    assert "minxin_client/py.typed" in names
    assert sorted(requires) == ['jsonschema>=4.18; extra == "validate"', "websockets>=14"]

    # A venv of its own, without pip, seeing only websockets' and jsonschema's distributions.
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    (site,) = (env_dir / "lib").glob("python3.*/site-packages")
    copied = copy_distributions(["websockets", "jsonschema"], tmp_path / "deps")
    assert "django" not in copied and "channels" not in copied
    (site / "deps.pth").write_text(str(tmp_path / "deps") + "\n")
    install = [*pip, "--python", str(python), "install", *offline, f"{wheel}[validate]"]
    subprocess.run(install, check=True, cwd=tmp_path)
    subprocess.run([*pip, "--python", str(python), "check"], check=True, cwd=tmp_path)

    environment = {k: v for k, v in os.environ.items() if not k.startswith(("MINXIN_", "PYTHON"))}
    result = subprocess.run(
        [str(python), "-I", "-c", CHECK_INSTALLED],
        cwd=tmp_path,  # not the checkout: only what is installed can be imported
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert Path(found["file"]).is_relative_to(site), found["file"]
    assert found["django"] is False
    assert found["schema"] == SOURCE.read_text(encoding="utf-8")
    assert found["validated"] == {"live.server": 1, "live.client": 1}
    assert found["refused"] and "/ws/live/" in found["refused"]
    assert found["viewer_validates"] is True
