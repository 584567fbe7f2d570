"""The bench harness: the processes a benchmark starts and measures.

Servers (daphne with the project, or a reference server) on free ports of 127.0.0.1, each logging
to a file and all stopped at the end; the project's environment for them; CPU and RSS from /proc."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import resource
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def raise_nofile() -> None:
    """Open-file limit up to the hard limit: one descriptor per socket."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def tree_cpu_seconds(pid: int) -> float:
    """cpu_seconds of a process and its live children (nginx's master and its workers)."""
    total = cpu_seconds(pid)
    with contextlib.suppress(OSError):
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            with contextlib.suppress(OSError):
                total += cpu_seconds(int(child))
    return total


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


@dataclass
class Server:
    name: str
    process: subprocess.Popen
    port: int
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class Children:
    """Every server process the bench starts; all stopped in `finally`."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self.servers: list[Server] = []

    def start(self, name: str, command: list[str], env: dict, port: int) -> Server:
        log = self.logdir / f"{name.replace(' ', '-')}-{port}.log"
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            preexec_fn=raise_nofile,
        )
        server = Server(name, process, port, log)
        self.servers.append(server)
        return server

    def stop(self, servers: list[Server] | None = None) -> None:
        for server in list(servers if servers is not None else self.servers):
            server.stop()
            if server in self.servers:
                self.servers.remove(server)


async def wait_listening(server: Server, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} on port {server.port} exited early:\n{server.tail()}")
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise RuntimeError(
        f"{server.name} on port {server.port} did not listen within {within:.0f} s:\n{server.tail()}"
    )


async def warm_up(url: str, origin: str, expect_frame: bool) -> None:
    """One socket opened and closed, so that imports and first-use costs fall before the measurement."""
    from websockets.asyncio.client import connect
    from websockets.typing import Origin

    async with connect(url, origin=Origin(origin), compression=None, proxy=None, open_timeout=30) as ws:
        if expect_frame:
            await asyncio.wait_for(ws.recv(), 30)


# Every bench client comes from 127.0.0.1: the per-address question limits (30 a minute, 300 an
# hour by default) would refuse the ingest burst, so the bench's servers get these instead. The
# per-netizen limits stay as configured: each netizen connection is its own netizen and asks once.
ASKS_PER_ADDRESS = 100_000


def project_env(database_url: str, redis_url: str) -> dict:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "settings.prod",
        "SECRET_KEY": "bench",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        "SECURE_COOKIES": "false",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "PYTHONUNBUFFERED": "1",
        "MINXIN_ASKS_PER_ADDRESS_PER_MINUTE": str(ASKS_PER_ADDRESS),
        "MINXIN_ASKS_PER_ADDRESS_PER_HOUR": str(ASKS_PER_ADDRESS),
        # Stopped at once between rows (no drain, studio/drain.py); bench/hosts.py's drain row sets it.
        "MINXIN_DRAIN_SECONDS": "0",
    }
    for name in ("DEBUG", "SQLITE_PATH", "SECRET_KEY_FILE", "DATABASE_URL_FILE", "REDIS_URL_FILE"):
        env.pop(name, None)
    return env


def daphne() -> str:
    """The virtualenv's daphne, beside its python."""
    return str(Path(sys.executable).parent / "daphne")


class ProjectServers:
    """P daphne processes of the project (``asgi:application``) for one programme, each answering
    HTTP and warmed up with one live socket before anything is measured."""

    def __init__(
        self,
        children: Children,
        env: dict,
        processes: int,
        broadcast_id: int,
        name: str = "minxin hub",
        proxy_headers: bool = False,
    ) -> None:
        self.children = children
        self.env = env
        self.processes = processes
        self.broadcast_id = broadcast_id
        self.name = name
        # Behind a front proxy, as README › Behind a proxy says: the client's address from X-Forwarded-For.
        self.extra = ["--proxy-headers"] if proxy_headers else []
        self.servers: list[Server] = []

    async def start(self) -> None:
        for _ in range(self.processes):
            port = free_port()
            self.servers.append(
                self.children.start(
                    self.name,
                    [daphne(), "-b", "127.0.0.1", "-p", str(port), *self.extra, "asgi:application"],
                    self.env,
                    port,
                )
            )
        await asyncio.gather(*(wait_listening(s) for s in self.servers))
        for server in self.servers:
            await asyncio.to_thread(http_ready, server)
        urls, origins = self.viewer_urls()
        for url, origin in zip(urls, origins, strict=True):
            await warm_up(url, origin, expect_frame=True)

    def viewer_urls(self) -> tuple[list[str], list[str]]:
        """Each process's live URL for the programme, and its origin."""
        bid = self.broadcast_id
        return (
            [f"ws://127.0.0.1:{s.port}/ws/live/{bid}/" for s in self.servers],
            [f"http://127.0.0.1:{s.port}" for s in self.servers],
        )

    def stop(self) -> None:
        self.children.stop(self.servers)
        self.servers = []


def http_ready(server: Server) -> None:
    """Until the project in `server` answers HTTP (the registry's list), at most 60 s."""
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{server.port}/api/departments/", timeout=10).read()
            return
        except OSError:
            if time.monotonic() > deadline or server.process.poll() is not None:
                raise RuntimeError(f"{server.name} does not answer HTTP:\n{server.tail()}") from None
            time.sleep(0.2)


def crash_report(servers: list[Server]) -> str:
    """What to add to an error: each server that exited, its exit code and its log's last lines."""
    return "".join(
        f"\n{server.name} exited ({server.process.returncode}):\n{server.tail()}"
        for server in servers
        if server.process.poll() is not None
    )


NGINX_SITE = ROOT / "docs" / "nginx.conf"
PROXY_WORKERS = 2


def nginx() -> str | None:
    """Debian's nginx, if this machine has it (.ci/run installs it)."""
    # /usr/sbin is not on every PATH (a non-root shell's on Debian).
    return shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)


def nginx_command(upstreams: list[int], workdir: Path, port: int) -> list[str]:
    """The documented site (docs/nginx.conf) filled in for the web processes on the ports `upstreams`,
    listening on `port`, in the foreground (its workers are the master's children: tree_cpu_seconds),
    its cache, temporary files and log in `workdir`."""
    binary = nginx()
    if binary is None:
        raise RuntimeError("nginx is not installed (apt-get install nginx)")
    workdir.mkdir(parents=True, exist_ok=True)
    site = NGINX_SITE.read_text()
    for placeholder, value in (
        ("@@CACHE_DIR@@", str(workdir / "cache")),
        ("@@UPSTREAM_SERVERS@@", "\n    ".join(f"server 127.0.0.1:{p};" for p in upstreams)),
        ("@@LISTEN@@", f"127.0.0.1:{port}"),
    ):
        site = site.replace(placeholder, value)
    (workdir / "site.conf").write_text(site)
    temp = "".join(
        f"{kind}_temp_path {workdir / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    # One worker per core, as `worker_processes auto` would, each up to the open-file limit this
    # process may set (two descriptors a socket: 10,000 viewers need more than one worker's 20,000
    # here, where even root may not raise the hard limit).
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    (workdir / "nginx.conf").write_text(
        # Workers as this user (as root nginx would drop to `nobody`, who cannot enter the bench's
        # private temporary directory).
        f"daemon off;\nuser {pwd.getpwuid(os.getuid()).pw_name};\n"
        f"worker_processes {PROXY_WORKERS};\nworker_rlimit_nofile {hard};\n"
        f"pid {workdir / 'nginx.pid'};\nerror_log {workdir / 'error.log'} warn;\n"
        f"events {{ worker_connections {hard - 500}; }}\n"
        f"http {{\naccess_log off;\n{temp}include {workdir / 'site.conf'};\n}}\n"
    )
    return [binary, "-p", str(workdir), "-e", str(workdir / "error.log"), "-c", str(workdir / "nginx.conf")]


async def start_nginx(children: Children, upstreams: list[Server], workdir: Path, name: str) -> Server:
    """nginx as the front proxy of `upstreams` (nginx_command), listening on a free port."""
    port = free_port()
    command = await asyncio.to_thread(nginx_command, [s.port for s in upstreams], workdir, port)
    server = children.start(name, command, dict(os.environ), port)
    await wait_listening(server)
    return server
