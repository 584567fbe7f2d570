"""The harness for several hosts on this machine (issue #18), used by bench/hosts.py and
tests/test_hosts.py.

`Cluster` makes H hosts, each a network namespace of its own (bench/hosts_net.py) with its own
address, running P daphne processes of the project with the Procfile's web command
(``daphne -b 0.0.0.0 -p PORT --access-log /dev/null asgi:application``). They share the one
PostgreSQL and the one Redis, which listen on 127.0.0.1 in the root namespace and are neither
reconfigured nor restarted: a forwarder process (bench/balancer.py, one backend per route) listens
on each host's root-side veth address and passes the connections on to 127.0.0.1. In front, the
balancer (bench/balancer.py) listens on 127.0.0.1 and spreads connections round-robin across every
process of every host, dropping a backend whose connects fail. Everything is stopped and every
namespace removed in `stop()` (a `with` block), also on errors; a crashed run's namespaces are
swept by the next one (bench/hosts_net.sweep).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bench.hosts_net import Namespace, free_subnet, kill_all_in, sweep
from bench.servers import ROOT, daphne, free_port, raise_nofile

DAPHNE_PORT = 8000  # in each namespace (each has its own ports): 8000, 8001, …
# Behind a TCP balancer every viewer comes from the balancer's address, so the per-address caps
# (sockets, questions) would count the whole audience as one client. A production proxy passes the
# client's address (X-Forwarded-For, daphne --proxy-headers); this harness raises the caps instead.
BEHIND_BALANCER = {
    "MINXIN_SOCKETS_PER_ADDRESS": "10000000",
    "MINXIN_ASKS_PER_ADDRESS_PER_MINUTE": "10000000",
    "MINXIN_ASKS_PER_ADDRESS_PER_HOUR": "10000000",
}


def retarget(url: str, host: str, port: int) -> str:
    """`url` with its host and port replaced (user, password, path and query kept)."""
    parts = urlsplit(url)
    auth = parts.netloc.rpartition("@")[0]
    return urlunsplit(parts._replace(netloc=f"{auth + '@' if auth else ''}{host}:{port}"))


@dataclass
class Process:
    host: int
    address: str  # its host's
    port: int
    process: subprocess.Popen
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""


@dataclass
class Cluster:
    """H hosts × P daphne processes behind one balancer; `env` is the processes' environment
    (DATABASE_URL and REDIS_URL as seen from the root namespace: they are pointed at the forwarder)."""

    hosts: int
    processes: int
    env: dict
    logdir: Path
    lifetime: float = 900.0  # the balancer and the forwarder stop by themselves after this long
    namespaces: list[Namespace] = field(default_factory=list)
    daphnes: list[Process] = field(default_factory=list)
    helpers: list[subprocess.Popen] = field(default_factory=list)
    port: int = 0  # the balancer's, on 127.0.0.1
    stats_file: Path | None = None
    killed: set[int] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Cluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- starting -----------------------------------------------------------------------------

    def start(self) -> None:
        sweep()
        subnet = free_subnet()
        self.namespaces = [Namespace.create(n, subnet) for n in range(self.hosts)]
        services = self._forward_services()
        for n, namespace in enumerate(self.namespaces):
            env = {**self.env, **BEHIND_BALANCER}
            for name, port in services.items():
                env[name] = retarget(self.env[name], namespace.root_address, port)
            for k in range(self.processes):
                self._start_daphne(n, namespace, DAPHNE_PORT + k, env)
        for process in self.daphnes:
            self._wait_ready(process)
        self.port = free_port()
        self.stats_file = self.logdir / "balancer-stats.json"
        backends = ",".join(self.backend(p) for p in self.daphnes)
        self._helper(
            "balancer", ["--route", f"127.0.0.1:{self.port}={backends}", "--stats", str(self.stats_file)]
        )

    def _forward_services(self) -> dict[str, int]:
        """A forwarder on each host's root-side address for PostgreSQL and Redis; their ports."""
        ports: dict[str, int] = {}
        routes: list[str] = []
        for name in ("DATABASE_URL", "REDIS_URL"):
            target = urlsplit(self.env[name])
            ports[name] = free_port()
            for namespace in self.namespaces:
                routes += [
                    "--route",
                    f"{namespace.root_address}:{ports[name]}={target.hostname}:{target.port}",
                ]
        self._helper("forwarder", routes)
        return ports

    def _helper(self, name: str, args: list[str]) -> None:
        log = self.logdir / f"{name}.log"
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.balancer", "--lifetime", str(self.lifetime), *args],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log.open("w"),
            text=True,
            preexec_fn=raise_nofile,
        )
        self.helpers.append(process)
        assert process.stdout is not None
        if process.stdout.readline().strip() != "listening":
            raise RuntimeError(f"the {name} did not start:\n{log.read_text()}")

    def _start_daphne(self, host: int, namespace: Namespace, port: int, env: dict) -> None:
        log = self.logdir / f"host{host}-daphne-{port}.log"
        command = [daphne(), "-b", "0.0.0.0", "-p", str(port), "--access-log", os.devnull, "asgi:application"]
        process = subprocess.Popen(
            namespace.exec_prefix() + command,  # ip netns exec replaces itself with daphne: same pid
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            preexec_fn=raise_nofile,
        )
        self.daphnes.append(Process(host, namespace.address, port, process, log))

    def _wait_ready(self, process: Process, within: float = 90) -> None:
        """Until the process answers HTTP through its host's address (Host: 127.0.0.1, an allowed host)."""
        request = urllib.request.Request(
            f"http://{process.address}:{process.port}/api/departments/", headers={"Host": "127.0.0.1"}
        )
        deadline = time.monotonic() + within
        while True:
            try:
                urllib.request.urlopen(request, timeout=5).read()
                return
            except OSError:
                if process.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"host {process.host} port {process.port} not ready:\n{process.tail()}"
                    ) from None
                time.sleep(0.2)

    # --- faults ---------------------------------------------------------------------------------

    def kill_host(self, host: int) -> None:
        """The host dies: every process in it SIGKILLed, then its link taken down."""
        self.killed.add(host)
        kill_all_in(self.namespaces[host].name)
        self.namespaces[host].link_down()
        for process in self.daphnes:
            if process.host == host:
                process.process.wait(timeout=10)

    def terminate(self, process: Process) -> None:
        """SIGTERM one daphne process (a deploy): it drains (studio/drain.py)."""
        os.kill(process.pid, signal.SIGTERM)

    def stats(self) -> dict[str, dict]:
        """The balancer's counts per backend address: opened, open, failed, dead."""
        if self.stats_file is None or not self.stats_file.exists():
            return {}
        merged = json.loads(self.stats_file.read_text())
        return next(iter(merged.values()), {})

    def backend(self, process: Process) -> str:
        return f"{process.address}:{process.port}"

    def crash_report(self) -> str:
        return "".join(
            f"\nhost {p.host} port {p.port} exited ({p.process.returncode}):\n{p.tail()}"
            for p in self.daphnes
            if p.process.poll() is not None and p.host not in self.killed
        )

    # --- stopping -------------------------------------------------------------------------------

    def stop(self) -> None:
        for process in self.daphnes:
            if process.process.poll() is None:
                process.process.kill()
        for process in self.daphnes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.process.wait(timeout=10)
        for helper in self.helpers:
            if helper.poll() is None:
                helper.terminate()
                try:
                    helper.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    helper.kill()
                    helper.wait(timeout=5)
        for namespace in self.namespaces:
            namespace.destroy()
        self.namespaces = []
