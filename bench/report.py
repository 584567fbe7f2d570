"""The bench harness: what the benchmarks print. Percentiles, milliseconds, aligned tables, the
machine and versions, one progress line per measurement with the load average."""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import os
import platform
import resource
import time
from pathlib import Path
from typing import Any

from bench.database import with_database_name


def percentile(values: list[float], q: float) -> float:
    """Nearest rank; values sorted."""
    if not values:
        return float("nan")
    rank = max(1, min(len(values), int(-(-q * len(values) // 100))))
    return values[rank - 1]


def ms(value: float) -> str:
    return "-" if value != value else f"{value * 1000:.0f}"


def four(values: tuple[float, float, float, float]) -> str:
    return "/".join(ms(v) for v in values)


def ratio(a: float, b: float) -> str:
    if a != a or b != b or b == 0:
        return "-"
    return f"{a / b:.2f}×"


def print_grid(header: tuple[str, ...], body: list[tuple[str, ...]]) -> None:
    cells = [header, *body]
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    for i, line in enumerate(cells):
        print(
            " | ".join(
                c.ljust(w) if j == 0 else c.rjust(w)
                for j, (c, w) in enumerate(zip(line, widths, strict=True))
            )
        )
        if i == 0:
            print("-|-".join("-" * w for w in widths))


def versions() -> dict[str, str]:
    found = {}
    for name in (
        "django",
        "channels",
        "daphne",
        "channels_redis",
        "redis",
        "websockets",
        "twisted",
        "autobahn",
        "psycopg",
    ):
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "-"
    return found


def machine(args: argparse.Namespace) -> dict[str, Any]:
    cpu_model = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    mem = "?"
    with contextlib.suppress(OSError):
        kib = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
        mem = f"{kib / 1024 / 1024:.1f} GiB"
    info: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "cpu": cpu_model,
        "memory": mem,
        "python": platform.python_implementation() + " " + platform.python_version(),
        "platform": platform.platform(),
        "versions": versions(),
        "loadavg": os.getloadavg(),
        "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
    }
    with contextlib.suppress(Exception):
        import redis

        client = redis.Redis.from_url(args.redis_url, socket_timeout=5)
        info["redis_server"] = client.info("server")["redis_version"]
        client.close()
    with contextlib.suppress(Exception):
        import psycopg

        with psycopg.connect(with_database_name(args.database_url, "postgres"), connect_timeout=5) as conn:
            version = conn.execute("SHOW server_version").fetchone()
            info["postgresql"] = version[0] if version else "?"
    return info


def print_machine(info: dict[str, Any]) -> None:
    print(
        f"machine  {info['cpus']} CPUs ({info['cpu']}), {info['memory']}, {info['python']}, {info['platform']}"
    )
    print(
        "versions "
        + ", ".join(f"{k} {v}" for k, v in info["versions"].items())
        + f", Redis {info.get('redis_server', '?')}, PostgreSQL {info.get('postgresql', '?')}"
    )
    print(
        f"load     average {info['loadavg'][0]:.2f} {info['loadavg'][1]:.2f} {info['loadavg'][2]:.2f} at the start;"
        f" open-file limit {info['nofile']}"
    )


def progress(what: str, error: str | None, done: str, began: float) -> None:
    """One progress line per row or scenario: its outcome, time taken and the machine's load."""
    status = "ERROR " + error.splitlines()[0] if error else done
    print(
        f"  ... {what}: {status} ({time.monotonic() - began:.0f} s, load {os.getloadavg()[0]:.2f})",
        flush=True,
    )
