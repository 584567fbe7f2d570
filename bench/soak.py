"""Soak: a whole Thursday programme played end to end, one hour compressed into a few minutes.

    .venv/bin/python -m bench.soak                 # 5 minutes, 2,000 viewers, 150 askers, 2 processes
    .venv/bin/python -m bench.soak --quick         # 1 minute, 200 viewers, 30 askers (development)
    .venv/bin/python -m bench.soak --minutes 10 --viewers 3000

Needs PostgreSQL and Redis (database ``<DATABASE_URL name>_soak``, default ``minxin_soak``; Redis db 9
unless REDIS_URL is db 9, then 10; or ``--database-url``/``--redis-url``). The project runs as in
production (asgi.py, settings.prod) in P daphne processes started by the bench harness
(bench/servers.py, bench/database.py, bench/load.py, bench/report.py);
viewers and askers run in one load-generator process of their own; the host, the guests and the
moderators are logged-in staff consoles in this process. The staff consoles and the askers' pages are
minxin_client's (ModerateConsole, StudioConsole, Viewer.ask); the other viewers' pages stay a lean
loop of their own (they only count seqs: a frame costs them a prefix check, not a json.loads).

The programme: netizens ask before the start; the host starts it; viewers join in a ramp (every page
connects with ``?after=0``, as the live page does) and some leave and come back with ``?after=<last
seq>`` on the other process; netizens ask and support (附议) continuously; the moderators screen the
queue on /ws/moderate/ (approve and publish, forward to the guests unpublished, reject with a reason);
the guests answer approved questions on /ws/studio/ every ``--answer-every`` seconds each; the host
posts messages and ends the programme. Every ``--sample`` seconds it records each daphne process's
RSS and CPU, the connected viewers, events published and questions waiting; at the end, errors, loss
(each viewer's seqs against /api/broadcasts/<id>/events/), questions asked against stored, and memory
drift (RSS at the end against after warm-up, the first 20 % of the run). See bench/README.md ("Soak").

This module is the command line, the verdicts and the printout; the script of the programme is in
bench/soak_plan.py, the load generator in bench/soak_load.py, the staff consoles in
bench/soak_staff.py and the controller (setup, servers, samples, what is read after the end) in
bench/soak_programme.py.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.database import bench_redis_url, database_name, redis_db, with_database_name
from bench.load import LoadGen
from bench.report import machine, print_grid, print_machine
from bench.servers import ROOT, Children, project_env, raise_nofile
from bench.soak_load import loadgen_main
from bench.soak_plan import WARMUP
from bench.soak_programme import Rig, prepare, run_programme, sample_cells, sample_header

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/minxin_soak"


def summarize(report: dict, limit: float) -> None:
    """Adds memory drift, the error total, loss and the verdicts to the report."""
    samples = report["samples"]
    run = report["settings"]["minutes"] * 60
    warm = next(s for s in samples if s["t"] >= run * WARMUP or s["phase"] == "before end")
    end = next(s for s in samples if s["phase"] == "before end")
    after = samples[-1]
    processes = []
    for i, (a, b, c) in enumerate(zip(warm["rss_mib"], end["rss_mib"], after["rss_mib"], strict=True)):
        processes.append(
            {
                "process": i + 1,
                "warmup_mib": a,
                "end_mib": b,
                "drift_pct": round(100 * (b - a) / a, 1),
                "after_end_mib": c,
                "after_end_drift_pct": round(100 * (c - a) / a, 1),
            }
        )
    # For reading the drift: the first sample with (nearly) every viewer connected, if the ramp was late.
    planned = report["settings"]["viewers"]
    full = next((s for s in samples if s["viewers_open"] >= 0.99 * planned), end)
    report["memory"] = {
        "all_connected_t": full["t"],
        "all_connected_mib": full["rss_mib"],
        "drift_from_all_connected_pct": [
            round(100 * (b - a) / a, 1) for a, b in zip(full["rss_mib"], end["rss_mib"], strict=True)
        ],
        "warmup_t": warm["t"],
        "end_t": end["t"],
        "after_end_t": after["t"],
        "processes": processes,
        "limit_pct": limit,
        "pass": all(p["drift_pct"] <= limit for p in processes),
    }
    errors = report["errors"]
    total = (
        errors["failed_connects"]
        + errors["failed_rejoins"]
        + sum(errors["closed_by_server"].values())
        + sum(errors["error_frames"].values())
        + errors["asks_unanswered"]
        + sum(errors["send_failed"].values())
        + sum(errors["unexpected_frames"].values())
        + sum(errors["staff_errors"].values())
        + sum(errors["http_errors"].values())
        + errors["server_log_errors"]
    )
    errors["total"] = total
    viewers = report["viewers"]
    report["loss"] = {
        "viewers_joined": viewers["joined"],
        "viewers_planned": viewers["planned"],
        "viewers_with_full_log": viewers["complete"],
        "missing": viewers["missing"],
        "duplicated": viewers["duplicated"],
        "extra": viewers["extra"],
        "out_of_order": viewers["out_of_order"],
        "log_gapless": report["log"]["gapless"],
    }
    loss = report["loss"]
    report["pass"] = {
        "no_errors": total == 0,
        "no_loss": (
            loss["viewers_with_full_log"] == loss["viewers_planned"]
            and loss["missing"] == loss["duplicated"] == loss["extra"] == loss["out_of_order"] == 0
            and loss["log_gapless"]
        ),
        "questions_stored_once": report["questions"]["each_stored_once"],
        "memory_drift": report["memory"]["pass"],
    }


# --- output ----------------------------------------------------------------------------------


def print_report(report: dict) -> None:
    samples = report["samples"]
    print()
    print_grid(sample_header(len(samples[0]["rss_mib"])), [sample_cells(s) for s in samples])
    memory, loss, errors, questions = report["memory"], report["loss"], report["errors"], report["questions"]
    verdict = report["pass"]

    def ok(flag: bool) -> str:
        return "PASS" if flag else "FAIL"

    drift = ", ".join(
        f"p{p['process']} {p['warmup_mib']:.1f} → {p['end_mib']:.1f} MiB ({p['drift_pct']:+.1f} %)"
        for p in memory["processes"]
    )
    after = ", ".join(
        f"p{p['process']} {p['after_end_mib']:.1f} MiB ({p['after_end_drift_pct']:+.1f} %)"
        for p in memory["processes"]
    )
    print(
        f"\nmemory    RSS after warm-up (t={memory['warmup_t']:.0f} s) → at the end, just before the host ends"
        f" the programme (t={memory['end_t']:.0f} s): {drift}; limit +{memory['limit_pct']:g} %:"
        f" {ok(memory['pass'])}"
    )
    if memory["all_connected_t"] > memory["warmup_t"]:
        print(
            f"          the ramp ended late: from the first sample with every viewer connected"
            f" (t={memory['all_connected_t']:.0f} s) to the end: "
            + ", ".join(f"p{i + 1} {d:+.1f} %" for i, d in enumerate(memory["drift_from_all_connected_pct"]))
        )
    print(
        f"          after the end (t={memory['after_end_t']:.0f} s; the end indexes the transcript for search"
        f" in the host's process): {after}"
    )
    log = report["log"]
    print(
        f"loss      {loss['viewers_with_full_log']:,}/{loss['viewers_planned']:,} viewers hold exactly the public log"
        f" (seqs 1..{log['last_seq']}, {'gapless' if log['gapless'] else 'WITH GAPS'}); missing {loss['missing']},"
        f" duplicated {loss['duplicated']}, extra {loss['extra']}, out of order {loss['out_of_order']}:"
        f" {ok(verdict['no_loss'])}"
    )
    viewers = report["viewers"]
    detail = {
        k: v
        for k, v in errors.items()
        if k
        not in ("total", "failed_connects", "failed_rejoins", "viewers_never_connected", "server_log_errors")
        and v
    }
    print(
        f"errors    {errors['total']}: failed connects {errors['failed_connects']} (viewers never connected"
        f" {errors['viewers_never_connected']}), failed rejoins {errors['failed_rejoins']}/{viewers['rejoins'] + errors['failed_rejoins']},"
        f" closed by the server {sum(errors['closed_by_server'].values())},"
        f" error frames {sum(errors['error_frames'].values())}, staff errors {sum(errors['staff_errors'].values())},"
        f" HTTP errors {sum(errors['http_errors'].values())}, server log errors {errors['server_log_errors']}:"
        f" {ok(verdict['no_errors'])}"
    )
    if detail:
        print("          " + json.dumps(detail, ensure_ascii=False))
    for line in report["server_log_errors"][:5]:
        print("          " + line)
    for message, count in report["server_log_warnings"].items():
        print(f"          server log warning ×{count}: {message}…")
    print(
        f"questions asked {questions['asked']:,}, acknowledged {questions['acknowledged']:,}"
        f" ({questions['distinct_question_ids']:,} question ids), stored {questions['stored']:,}"
        f" ({questions['stored_distinct_client_ids']:,} distinct client ids): {ok(verdict['questions_stored_once'])}"
    )
    staff, kinds = report["staff"], log["kinds"]
    print(
        "programme "
        + ", ".join(f"{v:,} {k}" for k, v in staff["decisions"].items())
        + f"; {staff['answers']} answers posted ({staff['waiting_at_end']} approved questions unanswered at the end),"
        f" {staff['host_messages']} host messages; staff action → ack ms p50/p95/max "
        + ", ".join(f"{k} {'/'.join(map(str, v))}" for k, v in staff["ack_ms_p50_p95_max"].items())
        + f"; supports {viewers['supports_ok']:,}/{viewers['supports_sent']:,};"
        f" {viewers['rejoins']} viewers came back with ?after= ({viewers['reconnects']} more reconnects after a failure);"
        " events by kind " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
    )
    print(f"report    {report['path']}")


# --- command line ----------------------------------------------------------------------------


def default_database_url(environ: dict[str, str]) -> str:
    """SOAK_DATABASE_URL; else DATABASE_URL with _soak appended to its name; else minxin_soak."""
    if environ.get("SOAK_DATABASE_URL"):
        return environ["SOAK_DATABASE_URL"]
    url = environ.get("DATABASE_URL")
    if url:
        return with_database_name(url, database_name(url) + "_soak")
    return DEFAULT_DATABASE_URL


def default_redis_url(environ: dict[str, str]) -> str:
    """SOAK_REDIS_URL; else as bench/fanout.py: FANOUT_REDIS_URL, else REDIS_URL's server with db 9
    (10 if it is 9)."""
    return bench_redis_url(environ, "SOAK_REDIS_URL", "FANOUT_REDIS_URL")


FULL = {"minutes": 5.0, "viewers": 2000, "askers": 150}
QUICK = {"minutes": 1.0, "viewers": 200, "askers": 30}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, help="length of the run: one programme hour (default 5)")
    parser.add_argument("--viewers", type=int, help="live pages, askers included (default 2000)")
    parser.add_argument("--askers", type=int, help="netizens who ask (default 150)")
    parser.add_argument("--processes", type=int, default=2, help="daphne processes (default 2)")
    parser.add_argument("--quick", action="store_true", help="development: 1 minute, 200 viewers, 30 askers")
    parser.add_argument("--questions-per-asker", type=int, default=4, help="over the hour (default 4)")
    parser.add_argument("--moderators", type=int, default=3, help="(default 3)")
    parser.add_argument("--guests", type=int, default=4, help="(default 4)")
    parser.add_argument(
        "--answer-every", type=float, default=20, help="seconds between one guest's answers (default 20)"
    )
    parser.add_argument(
        "--rejoin", type=float, default=0.10, help="share of viewers who leave and come back (default 0.1)"
    )
    parser.add_argument("--sample", type=float, default=10, help="seconds between samples (default 10)")
    parser.add_argument("--drift-limit", type=float, default=10, help="memory drift allowed, %% (default 10)")
    parser.add_argument(
        "--drain-timeout", type=float, default=30, help="seconds for every viewer to hold the last event"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--output", help="the JSON report (default var/bench/soak-<timestamp>.json)")
    parser.add_argument("--database-url", default=default_database_url(dict(os.environ)))
    parser.add_argument("--redis-url", default=default_redis_url(dict(os.environ)))
    args = parser.parse_args(argv)
    defaults = QUICK if args.quick else FULL
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if (
        args.minutes <= 0
        or args.processes < 1
        or args.askers < 1
        or args.viewers < args.askers
        or args.questions_per_asker < 1
        or args.moderators < 1
        or args.guests < 1
        or args.answer_every <= 0
        or not 0 <= args.rejoin <= 1
        or args.sample <= 0
    ):
        parser.error("bad arguments: every count ≥ 1, --viewers ≥ --askers, 0 ≤ --rejoin ≤ 1")
    # A moderator's pause before each decision: the three keep pace with the questions.
    per_moderator = args.minutes * 60 * 0.9 / max(1, args.askers * args.questions_per_asker / args.moderators)
    args.think = (0.2 * min(1.0, per_moderator), 0.6 * min(1.0, per_moderator))
    return args


def limits(minutes: float) -> dict[str, str]:
    """The per-minute limits, compressed with the hour (3 questions a minute → 36 in 5 minutes);
    the hourly ones hold as they are, the whole run being one programme's hour."""
    compression = 60 / minutes
    return {
        "MINXIN_ASKS_PER_MINUTE": str(math.ceil(3 * compression)),
        "MINXIN_SUPPORTS_PER_ADDRESS_PER_MINUTE": str(math.ceil(60 * compression)),
    }


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    raise_nofile()
    info = machine(args)
    command = "python -m bench.soak " + " ".join(argv if argv is not None else sys.argv[1:])
    started = datetime.datetime.now()
    path = (
        Path(args.output)
        if args.output
        else ROOT / "var" / "bench" / ("soak-" + started.strftime("%Y%m%d-%H%M%S") + ".json")
    )
    print(f"soak     {command}")
    print(
        f"         one programme hour in {args.minutes:g} min: {args.viewers:,} viewers ({args.askers} askers,"
        f" {args.askers * args.questions_per_asker:,} questions), {args.moderators} moderators, {args.guests} guests"
        f" (an answer each every {args.answer_every:g} s), {args.processes} daphne processes;"
        f" database {database_name(args.database_url)}, Redis db {redis_db(args.redis_url)}"
    )
    print_machine(info)
    report: dict[str, Any] = {
        "command": command,
        "started_at": started.isoformat(timespec="seconds"),
        "machine": info,
        "settings": {
            k: getattr(args, k)
            for k in (
                "minutes",
                "viewers",
                "askers",
                "processes",
                "questions_per_asker",
                "moderators",
                "guests",
                "answer_every",
                "rejoin",
                "sample",
                "seed",
            )
        },
        "path": str(path),
    }
    with tempfile.TemporaryDirectory(prefix="soak-") as logdir:
        children = Children(Path(logdir))
        loadgen = LoadGen(loadgen_main, "soak-loadgen")
        try:
            rig = Rig(children, loadgen, project_env(args.database_url, args.redis_url))
            rig.env.update(limits(args.minutes))
            report["settings"]["server_env"] = limits(args.minutes)
            began = time.monotonic()
            setup = prepare(rig.env, args)
            print(
                f"setup    programme {setup.broadcast_id} scheduled, {1 + args.guests + args.moderators}"
                f" staff logged in ({time.monotonic() - began:.1f} s)",
                flush=True,
            )
            asyncio.run(run_programme(args, rig, setup, report))
        finally:
            children.stop()
            loadgen.stop()
    summarize(report, args.drift_limit)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, ensure_ascii=False, indent=1, default=str))
    print_report(report)
    return report


if __name__ == "__main__":
    main()
