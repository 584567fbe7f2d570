"""Network namespaces as hosts on this machine: each its own address on a veth pair to the root.

Names carry the creating process's id (``mxh-<pid>-<n>``, veths ``mx<pid>h<n>r``/``...n``), so two
runs never meet, and `sweep()` removes what a run whose process is gone left behind (only names of
this shape, only when that process no longer exists). Addresses: one 10.x.y.0/24 per run, picked
among those no interface of this machine uses; host n gets the /30 ``.4n+1`` (root side) and
``.4n+2`` (its namespace). Traffic goes only between the root namespace and namespaces made here.
Needs root (``ip netns add``).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import random
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass

PREFIX = "mxh-"
NAME_RE = re.compile(r"^mxh-(\d+)-(\d+)$")


def ip(*args: str, namespace: str | None = None, check: bool = True) -> str:
    command = ["ip", *(["-n", namespace] if namespace else []), *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=20)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: {done.stderr.strip()}")
    return done.stdout


def available() -> str | None:
    """None when namespaces can be made here, else why not."""
    if shutil.which("ip") is None:
        return "needs iproute2 (the ip command)"
    if os.geteuid() != 0:
        return "needs root for ip netns"
    probe = f"{PREFIX}{os.getpid()}-99"
    try:
        ip("netns", "add", probe)
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        return f"cannot make a network namespace: {exc}"
    ip("netns", "del", probe, check=False)
    return None


def namespace_pids(name: str) -> list[int]:
    out = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True, timeout=10).stdout
    return [int(p) for p in out.split()]


def kill_all_in(name: str) -> None:
    """SIGKILL every process in the namespace and wait (≤ 5 s) until none is left."""
    deadline = time.monotonic() + 5
    while (pids := namespace_pids(name)) and time.monotonic() < deadline:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)


def remove(name: str) -> None:
    kill_all_in(name)
    ip("netns", "del", name, check=False)  # its veth end goes with it, and so does the pair


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep() -> list[str]:
    """Remove the namespaces of earlier runs whose process has gone (a crash); returns their names."""
    removed = []
    for line in ip("netns", "list", check=False).splitlines():
        name = line.split()[0] if line.strip() else ""
        match = NAME_RE.match(name)
        if match and int(match.group(1)) != os.getpid() and not _alive(int(match.group(1))):
            remove(name)
            removed.append(name)
    return removed


def free_subnet() -> ipaddress.IPv4Network:
    used = [
        ipaddress.ip_interface(word).network
        for line in ip("-o", "-4", "addr").splitlines()
        for word in line.split()
        if "/" in word and word[0].isdigit()
    ]
    for _ in range(200):
        candidate = ipaddress.IPv4Network(f"10.{random.randint(160, 250)}.{random.randint(1, 250)}.0/24")
        if not any(candidate.overlaps(net) for net in used):
            return candidate
    raise RuntimeError("no free 10.x.y.0/24 for the hosts")


@dataclass
class Namespace:
    """One host: a namespace with loopback up and a veth to the root namespace."""

    name: str
    root_link: str
    link: str
    root_address: str  # the root namespace's end (the host reaches PostgreSQL and Redis here)
    address: str  # the host's own address

    @classmethod
    def create(cls, number: int, subnet: ipaddress.IPv4Network) -> Namespace:
        pid = os.getpid()
        base = int(subnet.network_address) + 4 * number
        root_address, address = str(ipaddress.ip_address(base + 1)), str(ipaddress.ip_address(base + 2))
        host = cls(
            f"{PREFIX}{pid}-{number}", f"mx{pid}h{number}r", f"mx{pid}h{number}n", root_address, address
        )
        ip("netns", "add", host.name)
        try:
            ip("link", "add", host.root_link, "type", "veth", "peer", "name", host.link)
            ip("link", "set", host.link, "netns", host.name)
            ip("addr", "add", f"{root_address}/30", "dev", host.root_link)
            ip("link", "set", host.root_link, "up")
            ip("addr", "add", f"{address}/30", "dev", host.link, namespace=host.name)
            ip("link", "set", host.link, "up", namespace=host.name)
            ip("link", "set", "lo", "up", namespace=host.name)
        except BaseException:
            host.destroy()
            raise
        return host

    def exec_prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.name]

    def link_down(self) -> None:
        ip("link", "set", self.link, "down", namespace=self.name, check=False)

    def destroy(self) -> None:
        remove(self.name)
        ip("link", "del", self.root_link, check=False)  # gone with the namespace already, normally
