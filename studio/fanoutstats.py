"""How long a process's fan-out takes, per room (issue #18), for /metrics.

- The fan-out lag of each event: from its append (the event's `at`, stamped when the log row was
  written) to the end of this process's fan-out, i.e. the last write to a local viewer's socket.
  Kept as a Prometheus histogram (cumulative buckets, sum, count since the room opened here) and as
  the last RECENT lags, from which the median, the 99th percentile and the maximum are read.
- The longest hold of the event loop by a fan-out: the longest stretch one fan-out handed out
  events without yielding (studio/hub.py's slices). The target is ~20 ms; everything else the
  process does (pings, asks, handshakes) waits that long at most for a fan-out.

Each process publishes its figures in the presence round (a Redis hash per room, one field per
process), so that any process's /metrics answers for all of them, as it does for viewers.
"""

from __future__ import annotations

import bisect
import json
import math
from collections import deque
from typing import Any

# Seconds; le="+Inf" is implied. Around the targets: a ~20 ms hold, a 250 ms server-side p99, 1 s client p99.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
RECENT = 1000


def nearest_rank(ordered: list[float], q: float) -> float:
    """The q-quantile (0 < q ≤ 1) of a sorted list by nearest rank; 0 for an empty one."""
    if not ordered:
        return 0.0
    rank = max(1, min(len(ordered), math.ceil(q * len(ordered))))
    return ordered[rank - 1]


class FanoutStats:
    __slots__ = ("count", "counts", "hold_max", "recent", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)  # per bucket, not cumulative; the last one is +Inf
        self.total = 0.0
        self.count = 0
        self.recent: deque[float] = deque(maxlen=RECENT)
        self.hold_max = 0.0

    def observe(self, lag: float) -> None:
        self.counts[bisect.bisect_left(BUCKETS, lag)] += 1
        self.total += lag
        self.count += 1
        self.recent.append(lag)

    def held(self, seconds: float) -> None:
        if seconds > self.hold_max:
            self.hold_max = seconds

    def snapshot(self) -> dict[str, Any]:
        cumulative, running = [], 0
        for n in self.counts:
            running += n
            cumulative.append(running)
        ordered = sorted(self.recent)
        return {
            "buckets": cumulative,
            "sum": round(self.total, 6),
            "count": self.count,
            "p50": nearest_rank(ordered, 0.5),
            "p99": nearest_rank(ordered, 0.99),
            "max": ordered[-1] if ordered else 0.0,
            "hold_max": round(self.hold_max, 6),
        }


def encode_snapshot(snapshot: dict[str, Any], now: float) -> str:
    return json.dumps({**snapshot, "t": round(now)}, separators=(",", ":"))


def fresh_snapshots(entries: dict[str, str], now: float, ttl: float) -> dict[str, dict[str, Any]]:
    """Each process's snapshot written within `ttl` seconds; malformed ones are skipped."""
    found = {}
    for process, value in entries.items():
        try:
            snapshot = json.loads(value)
            stamp = float(snapshot["t"])
            valid = len(snapshot["buckets"]) == len(BUCKETS) + 1
        except (ValueError, KeyError, TypeError):
            continue
        if valid and now - stamp <= ttl:
            found[process] = snapshot
    return found


def metric_lines(samples: dict[tuple[int, str], dict[str, Any]]) -> list[str]:
    """Prometheus text for the snapshots of (broadcast id, process)."""
    lines = [
        "# HELP minxin_fanout_lag_seconds Per event, from its append to the last write to a viewer of the "
        "process (the end of the process's fan-out), since the process opened the programme's room.",
        "# TYPE minxin_fanout_lag_seconds histogram",
    ]
    for (broadcast_id, process), snap in samples.items():
        labels = f'broadcast="{broadcast_id}",process="{process}"'
        for bound, n in zip([*(f"{b:g}" for b in BUCKETS), "+Inf"], snap["buckets"], strict=True):
            lines.append(f'minxin_fanout_lag_seconds_bucket{{{labels},le="{bound}"}} {n}')
        lines.append(f"minxin_fanout_lag_seconds_sum{{{labels}}} {snap['sum']}")
        lines.append(f"minxin_fanout_lag_seconds_count{{{labels}}} {snap['count']}")
    lines += [
        f"# HELP minxin_fanout_lag_recent_seconds The fan-out lag's median, 99th percentile and maximum "
        f"over the process's last {RECENT} events of the programme.",
        "# TYPE minxin_fanout_lag_recent_seconds gauge",
    ]
    for (broadcast_id, process), snap in samples.items():
        labels = f'broadcast="{broadcast_id}",process="{process}"'
        for quantile, key in (("0.5", "p50"), ("0.99", "p99"), ("1", "max")):
            lines.append(f'minxin_fanout_lag_recent_seconds{{{labels},quantile="{quantile}"}} {snap[key]}')
    lines += [
        "# HELP minxin_fanout_hold_max_seconds The longest a fan-out of the programme held the process's "
        "event loop without yielding, since the process opened the room.",
        "# TYPE minxin_fanout_hold_max_seconds gauge",
    ]
    for (broadcast_id, process), snap in samples.items():
        lines.append(
            f'minxin_fanout_hold_max_seconds{{broadcast="{broadcast_id}",process="{process}"}} {snap["hold_max"]}'
        )
    return lines
