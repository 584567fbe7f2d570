"""Fan-out benchmark: one answer to N viewers, the project beside the textbook design and the ceiling.

    .venv/bin/python -m bench.fanout                                # --viewers 500,2000 --processes 2 --messages 20 --interval 0.5
    .venv/bin/python -m bench.fanout --viewers 4000

Needs PostgreSQL and Redis (DATABASE_URL, REDIS_URL; defaults below). For each N it starts fresh
servers and measures, with one load generator in its own process:

- ``minxin hub``: the project (asgi.py, settings.prod) in P daphne processes; viewers on
  /ws/live/<id>/ round-robin across them; a logged-in guest posts M answers on /ws/studio/<id>/.
- ``textbook Channels``: bench/fanout_refs.py's tutorial consumer in one daphne process;
  M ``group_send`` calls from this process.
- ``websockets broadcast()``: bench/fanout_refs.py's plain server, one process; M frames on a
  trigger connection, each encoded once and ``broadcast()``.

Every message carries the time it was sent (``time.time()`` just before the send); each viewer
notes when it receives it; same machine, same clock. See bench/README.md ("Fan-out").

This module is the command line and the tables; the designs and the programme are in
bench/fanout_designs.py, the measurements (broadcast, ingest, storm) in bench/fanout_scenarios.py,
and the harness it shares with the other benchmarks in bench/servers.py, bench/database.py,
bench/load.py and bench/report.py.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.database import bench_redis_url, database_name, redis_db, with_database_name
from bench.fanout_designs import DESIGNS, prepare_project
from bench.fanout_scenarios import Bench, IngestRow, Row, StormRow
from bench.load import LoadGen
from bench.report import four, machine, ms, print_grid, print_machine, progress, ratio
from bench.servers import ASKS_PER_ADDRESS, Children, raise_nofile

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/minxin_bench"
SCENARIOS = ("broadcast", "ingest", "storm")


HEADER = (
    "design",
    "processes",
    "viewers",
    "connected/failed",
    "delivered/expected",
    "dups",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "max ms",
    "CPU µs/delivery",
    "KiB/conn",
    "loadgen CPU s",
)


def row_cells(row: Row) -> tuple[str, ...]:
    def num(value: float, digits: int = 0) -> str:
        return "-" if value != value else f"{value:,.{digits}f}"

    return (
        row.design,
        str(row.processes),
        f"{row.viewers:,}",
        f"{row.connected:,}/{row.failed:,}",
        f"{row.delivered:,}/{row.expected:,}",
        str(row.duplicates),
        ms(row.p50),
        ms(row.p95),
        ms(row.p99),
        ms(row.max),
        num(row.cpu_us),
        num(row.kib_per_connection, 1),
        num(row.loadgen_cpu, 2),
    )


def print_table(rows: list[Row]) -> None:
    print_grid(HEADER, [row_cells(r) for r in rows])


BURST_HEADER = (
    "design",
    "viewers",
    "client p99 ms",
    "server lag p50/p99/max ms",
    "longest hold ms",
    "pings",
    "ping p50/p99/max ms",
    "pings ≤ 50 ms",
)


def burst_cells(row: Row) -> tuple[str, ...]:
    server = row.server
    served = server.p99 == server.p99
    return (
        row.design,
        f"{row.viewers:,}",
        ms(row.p99),
        f"{ms(server.p50)}/{ms(server.p99)}/{ms(server.max)}" if served else "-",
        f"{server.hold_max * 1000:.1f}" if served else "-",
        f"{row.ping.pings:,}",
        f"{ms(row.ping.p50)}/{ms(row.ping.p99)}/{ms(row.ping.max)}",
        f"{row.ping.within_50ms / row.ping.pings:.1%}" if row.ping.pings else "-",
    )


def print_burst(rows: list[Row]) -> None:
    """Issue #18: while the answers fan out, the servers' own lag (/metrics) and a ping's round trip."""
    print(
        "\nduring the messages (issue #18): server lag = append → last local write, the worst process's"
        " figure over its recent events, read from /metrics; longest hold = the longest a fan-out kept a"
        " process's event loop; pings: one probe socket per process pinging one at a time"
        " (the protocol's ping on the project, a WebSocket ping frame on the references)"
    )
    print_grid(BURST_HEADER, [burst_cells(r) for r in rows])


INGEST_HEADER = (
    "scenario",
    "processes",
    "netizens",
    "connected/failed",
    "acked/sent",
    "errors",
    "ask.ok p50/p95/p99/max ms",
    "on queue/sent",
    "queue p50/p95/p99/max ms",
    "stored in DB",
    "resent: same id",
    "server CPU s",
)


def ingest_cells(row: IngestRow) -> tuple[str, ...]:
    errors = sum(row.errors.values())
    return (
        "ingest",
        str(row.processes),
        f"{row.netizens:,}",
        f"{row.connected:,}/{row.failed:,}",
        f"{row.acked:,}/{row.sent:,}",
        f"{errors:,}",
        four(row.ack),
        f"{row.queued:,}/{row.sent:,}",
        four(row.queue),
        "-" if row.stored < 0 else f"{row.stored:,} ({row.distinct:,} ids)",
        f"{row.resent_same:,}/{row.resent:,}",
        "-" if row.cpu != row.cpu else f"{row.cpu:.2f}",
    )


STORM_HEADER = (
    "scenario",
    "processes",
    "viewers",
    "missed",
    "connected/failed",
    "reconnected/failed",
    "complete/reconnected",
    "dups",
    "to last missed p50/p95/p99/max ms",
    "server CPU s",
    "CPU ms/reconnect",
    "loadgen CPU s",
)


def storm_cells(row: StormRow) -> tuple[str, ...]:
    per = row.cpu * 1000 / row.reconnected if row.reconnected and row.cpu == row.cpu else float("nan")
    return (
        "storm",
        str(row.processes),
        f"{row.viewers:,}",
        str(row.answers),
        f"{row.connected:,}/{row.failed:,}",
        f"{row.reconnected:,}/{row.reconnect_failed:,}",
        f"{row.complete:,}/{row.reconnected:,}",
        str(row.duplicates),
        four((row.p50, row.p95, row.p99, row.max)),
        "-" if row.cpu != row.cpu else f"{row.cpu:.2f}",
        "-" if per != per else f"{per:.2f}",
        "-" if row.loadgen_cpu != row.loadgen_cpu else f"{row.loadgen_cpu:.2f}",
    )


def print_ingest(row: IngestRow) -> None:
    print_grid(INGEST_HEADER, [ingest_cells(row)])
    lines = [
        f"programme {row.broadcast_id}; {row.sent:,} asks sent in {row.send_seconds:.2f} s"
        f" (one per netizen connection, spread over {row.window:g} s)",
        "errors by code: " + (", ".join(f"{k} ×{v}" for k, v in row.errors.items()) or "none"),
        f"distinct question_ids in the ask.oks: {row.distinct_ids:,}; duplicate question.new frames: {row.queue_duplicates}",
    ]
    if row.resent:
        lines.append(
            f"resent {row.resent} client_ids: {row.resent_same} answered with the same question_id;"
            f" question.new frames for them afterwards: {row.queued_after_resend - row.queued};"
            f" stored after the resend: {row.stored:,}"
        )
    lines.append(
        f"server CPU {row.cpu:.2f} s and load generator CPU {row.loadgen_cpu:.2f} s from the first ask until the queue held every question"
    )
    lines.extend(row.notes)
    if row.error:
        lines.append("ERROR " + row.error)
    for line in lines:
        print("  " + line)


def print_storm(row: StormRow) -> None:
    print_grid(STORM_HEADER, [storm_cells(row)])
    lines = [
        f"before the blip the viewers held up to seq {', '.join(f'{k} (×{v:,})' for k, v in sorted(row.seen.items()))};"
        f" {row.closed:,} closed by the client, then {row.acks} answers acknowledged to the guest in all",
        f"reconnected with ?after= ramped evenly over {row.window:g} s, each to the next process;"
        f" complete = exactly the missed seqs, in order, each once; missing {row.missing}, extra {row.extra}",
        f"server CPU and load generator CPU from the first reconnect until every viewer held the last event ({row.seconds:.1f} s)",
    ]
    lines.extend(row.notes)
    if row.error:
        lines.append("ERROR " + row.error)
    for line in lines:
        print("  " + line)


def print_ratios(rows: list[Row]) -> None:
    print("\nours as a multiple of each reference, at the same N (lower is better):")
    for viewers in sorted({r.viewers for r in rows}):
        by = {r.design: r for r in rows if r.viewers == viewers}
        ours = by.get(DESIGNS[0])
        if ours is None:
            continue
        parts = []
        for name in DESIGNS[1:]:
            ref = by.get(name)
            if ref is not None:
                parts.append(
                    f"vs {name}: CPU/delivery {ratio(ours.cpu_us, ref.cpu_us)}, p99 {ratio(ours.p99, ref.p99)}"
                )
        print(f"  {viewers:>6,} viewers  " + ";  ".join(parts))


def print_notes(rows: list[Row]) -> None:
    for row in rows:
        lines = [*row.notes, *([row.error] if row.error else [])]
        if lines:
            print(f"  {row.design}, {row.viewers:,} viewers: " + "; ".join(lines))


# --- command line ----------------------------------------------------------------------------


def default_database_url(environ: dict[str, str]) -> str:
    """FANOUT_DATABASE_URL; else DATABASE_URL with _bench appended to its name; else the default."""
    if environ.get("FANOUT_DATABASE_URL"):
        return environ["FANOUT_DATABASE_URL"]
    url = environ.get("DATABASE_URL")
    if url:
        name = database_name(url)
        return url if name.endswith("_bench") else with_database_name(url, name + "_bench")
    return DEFAULT_DATABASE_URL


def default_redis_url(environ: dict[str, str]) -> str:
    """FANOUT_REDIS_URL; else REDIS_URL's server with db 9 (10 when REDIS_URL itself is db 9); else the default.

    The bench never flushes its Redis database: it may be shared.
    """
    return bench_redis_url(environ, "FANOUT_REDIS_URL")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.fanout", description=__doc__.splitlines()[0])
    parser.add_argument("--viewers", default="500,2000", help="comma-separated N (default 500,2000)")
    parser.add_argument(
        "--processes", type=int, default=2, help="daphne processes of the project (default 2)"
    )
    parser.add_argument("--messages", type=int, default=20, help="answers per N and design (default 20)")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between answers (default 0.5)")
    parser.add_argument(
        "--ramp", type=float, default=500, help="viewer connections opened per second (default 500)"
    )
    parser.add_argument(
        "--settle", type=float, default=2.0, help="seconds between connecting and measuring (default 2)"
    )
    parser.add_argument(
        "--drain-timeout", type=float, default=30, help="seconds to wait for deliveries after the last send"
    )
    parser.add_argument(
        "--designs", default=",".join(DESIGNS), help="comma-separated subset of: " + ", ".join(DESIGNS)
    )
    parser.add_argument(
        "--scenarios", default=",".join(SCENARIOS), help="comma-separated subset of: " + ", ".join(SCENARIOS)
    )
    parser.add_argument(
        "--netizens", type=int, default=1000, help="ingest: netizen connections (default 1000)"
    )
    parser.add_argument(
        "--ingest-window",
        type=float,
        default=1.0,
        help="ingest: seconds the asks are spread over (default 1)",
    )
    parser.add_argument(
        "--resend", type=int, default=100, help="ingest: client_ids sent again afterwards (default 100)"
    )
    parser.add_argument(
        "--ask-timeout", type=float, default=30, help="ingest: seconds to wait for acks and the queue"
    )
    parser.add_argument("--storm-viewers", type=int, default=5000, help="storm: viewers (default 5000)")
    parser.add_argument(
        "--storm-seen", type=int, default=3, help="storm: answers the viewers see before the blip (default 3)"
    )
    parser.add_argument(
        "--storm-answers", type=int, default=10, help="storm: answers posted while they are away (default 10)"
    )
    parser.add_argument(
        "--storm-window",
        type=float,
        default=10,
        help="storm: seconds the reconnects are spread over (default 10)",
    )
    parser.add_argument("--database-url", default=default_database_url(dict(os.environ)))
    parser.add_argument("--redis-url", default=default_redis_url(dict(os.environ)))
    args = parser.parse_args(argv)
    args.viewer_counts = [int(v) for v in args.viewers.split(",") if v.strip()]
    args.design_names = [d.strip() for d in args.designs.split(",") if d.strip()]
    unknown = [d for d in args.design_names if d not in DESIGNS]
    args.scenario_names = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown += [s for s in args.scenario_names if s not in SCENARIOS]
    if (
        unknown
        or not args.viewer_counts
        or not args.scenario_names
        or args.processes < 1
        or args.messages < 1
        or args.netizens < 1
        or args.storm_viewers < 1
        or args.storm_answers < 1
        or args.storm_seen < 0
        or args.resend < 0
    ):
        parser.error(f"bad arguments (unknown designs {unknown})" if unknown else "bad arguments")
    return args


@dataclass
class Result:
    rows: list[Row]
    machine: dict[str, Any]
    command: str
    ingest: IngestRow | None = None
    storm: StormRow | None = None


def main(argv: list[str] | None = None) -> Result:
    args = parse_args(argv)
    raise_nofile()
    info = machine(args)
    command = "python -m bench.fanout " + " ".join(argv if argv is not None else sys.argv[1:])
    print(f"fan-out  {command}")
    print(
        f"         database {database_name(args.database_url)}, Redis db {redis_db(args.redis_url)};"
        f" {args.messages} messages every {args.interval} s; viewers ramped at {args.ramp:.0f}/s"
    )
    print_machine(info)
    if "ingest" in args.scenario_names:
        print(
            f"limits   the bench's daphne processes run with MINXIN_ASKS_PER_ADDRESS_PER_MINUTE and"
            f" MINXIN_ASKS_PER_ADDRESS_PER_HOUR = {ASKS_PER_ADDRESS:,}: every bench client is 127.0.0.1."
            " Per-netizen limits as configured (each netizen connection is its own netizen and asks once)."
        )
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="fanout-") as logdir:
        children = Children(Path(logdir))
        loadgen = LoadGen()
        try:
            bench = Bench(args, children, loadgen)
            began = time.monotonic()
            bench.programme = prepare_project(bench.env, args.database_url)
            print(
                f"setup    programme {bench.programme.broadcast_id} live, guest logged in"
                f" ({time.monotonic() - began:.1f} s)",
                flush=True,
            )
            ingest, storm = asyncio.run(run_scenarios(bench, rows))
        finally:
            children.stop()
            loadgen.stop()
    print_results(args, rows, ingest, storm)
    return Result(rows, info, command, ingest, storm)


async def run_scenarios(bench: Bench, rows: list[Row]) -> tuple[IngestRow | None, StormRow | None]:
    """Every design at every N (rows appended as they come), then ingest and storm, as asked."""
    args = bench.args
    ingest: IngestRow | None = None
    storm: StormRow | None = None
    for viewers in args.viewer_counts if "broadcast" in args.scenario_names else []:
        for name in args.design_names:
            began = time.monotonic()
            row = await bench.measure(name, viewers)
            rows.append(row)
            progress(
                f"{name}, {viewers:,} viewers",
                row.error,
                f"{row.delivered:,}/{row.expected:,} delivered, p99 {ms(row.p99)} ms,"
                f" server lag p99 {ms(row.server.p99)} ms, ping p99 {ms(row.ping.p99)} ms",
                began,
            )
    if "ingest" in args.scenario_names:
        began = time.monotonic()
        ingest = await bench.ingest()
        progress(
            f"ingest, {args.netizens:,} netizens",
            ingest.error,
            f"{ingest.acked:,}/{ingest.sent:,} acknowledged, {ingest.queued:,} on the queue,"
            f" {ingest.stored:,} stored, queue p99 {ms(ingest.queue[2])} ms",
            began,
        )
    if "storm" in args.scenario_names:
        began = time.monotonic()
        storm = await bench.storm()
        progress(
            f"storm, {args.storm_viewers:,} viewers",
            storm.error,
            f"{storm.complete:,}/{storm.viewers:,} complete, p99 {ms(storm.p99)} ms",
            began,
        )
    return ingest, storm


def print_results(
    args: argparse.Namespace, rows: list[Row], ingest: IngestRow | None, storm: StormRow | None
) -> None:
    if rows:
        print()
        print_table(rows)
        print_burst(rows)
        print_ratios(rows)
        print("\nnotes (loadgen CPU s and server CPU cover the message phase only):")
        print_notes(rows)
    if ingest is not None:
        print(
            f"\ningest: {args.netizens:,} netizens each ask once within ~{args.ingest_window:g} s; a moderator on /ws/moderate/"
        )
        print_ingest(ingest)
    if storm is not None:
        print(
            f"\nstorm: {args.storm_viewers:,} viewers miss {args.storm_answers} answers, then reconnect with ?after="
            f" within {args.storm_window:g} s"
        )
        print_storm(storm)


if __name__ == "__main__":
    main()
