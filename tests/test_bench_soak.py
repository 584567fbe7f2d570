"""The soak bench (bench/soak.py) in a short quick mode: a whole programme in 24 s on two daphne
processes, with askers, moderators, guests, a host and viewers who leave and come back.

The bench keeps its own PostgreSQL database (the test run's name + "_soak") and its own Redis db
number, so it never touches the test database or flushes the test's Redis.
"""

import json
import os

import pytest
from django.conf import settings

from bench import database, soak


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.processes
def test_a_short_soak_loses_nothing_stores_every_question_once_and_reports_memory(capsys, tmp_path):
    database_url = soak.default_database_url(dict(os.environ))
    redis_url = soak.default_redis_url(dict(os.environ))
    test_database = settings.DATABASES["default"]["NAME"]
    assert database.database_name(database_url) not in (test_database, f"test_{test_database}")
    assert database.redis_db(redis_url) != database.redis_db(settings.REDIS_URL)
    output = tmp_path / "soak.json"

    report = soak.main(
        [
            "--quick", "--minutes", "0.4", "--viewers", "60", "--askers", "10", "--sample", "4",
            "--database-url", database_url, "--redis-url", redis_url, "--output", str(output),
        ]
    )  # fmt: skip
    out = capsys.readouterr().out

    # Errors: none of any kind (handshakes, server closes, error frames, staff, HTTP, server logs).
    assert report["errors"]["total"] == 0, report["errors"]
    assert report["pass"]["no_errors"] is True
    # Loss: every viewer, the five who left and came back with ?after= included, holds exactly the log.
    log = report["log"]
    assert log["gapless"] and log["last_seq"] == log["events"] > 0, log
    assert log["kinds"]["broadcast.status"] == 2 and log["kinds"]["host.message"] == 4, log
    assert log["kinds"]["question.published"] >= 1 and log["kinds"]["answer.posted"] >= 1, log
    assert report["loss"] == {
        "viewers_joined": 60,
        "viewers_planned": 60,
        "viewers_with_full_log": 60,
        "missing": 0,
        "duplicated": 0,
        "extra": 0,
        "out_of_order": 0,
        "log_gapless": True,
    }
    assert report["viewers"]["rejoins"] == 5 and report["viewers"]["rejoin_failed"] == 0, report["viewers"]
    assert report["pass"]["no_loss"] is True
    # Questions: 10 askers × 4, each acknowledged and stored exactly once.
    assert report["questions"] == {
        "asked": 40,
        "acknowledged": 40,
        "distinct_question_ids": 40,
        "stored": 40,
        "stored_distinct_client_ids": 40,
        "each_stored_once": True,
    }
    assert sum(report["staff"]["decisions"].values()) >= 1 and report["staff"]["answers"] >= 1, report[
        "staff"
    ]
    assert report["staff"]["status"] == ["live", "ended"]
    # Memory over time: a sample every 4 s of both processes, the last live one and one after the end.
    samples = report["samples"]
    assert samples[0]["phase"] == "pre" and [s["phase"] for s in samples[-2:]] == ["before end", "after end"]
    assert len(samples) >= 7, [s["t"] for s in samples]
    for sample in samples:
        assert len(sample["rss_mib"]) == len(sample["cpu_pct"]) == 2 and min(sample["rss_mib"]) > 20, sample
    memory = report["memory"]
    assert memory["warmup_t"] >= 0.2 * 24 and memory["end_t"] > memory["warmup_t"], memory
    assert [p["process"] for p in memory["processes"]] == [1, 2]
    for process in memory["processes"]:
        expected = round(100 * (process["end_mib"] - process["warmup_mib"]) / process["warmup_mib"], 1)
        assert process["drift_pct"] == expected, process
    assert memory["pass"] == all(p["drift_pct"] <= 10 for p in memory["processes"])
    # The JSON file holds the same report; the printout has the table and the verdicts.
    assert json.loads(output.read_text())["loss"] == report["loss"]
    table = [line for line in out.splitlines() if " | " in line]
    assert table[0].split(" | ")[:4] == ["t s", "     phase", "p1 RSS MiB", "p1 CPU %"], table[0]
    assert "p2 RSS MiB" in table[0] and "viewers open/metric" in table[0]
    assert len(table) == len(samples) + 1
    for verdict in ("memory ", "loss ", "errors ", "questions "):
        assert any(line.startswith(verdict) for line in out.splitlines()), verdict
    assert "60/60 viewers hold exactly the public log" in out
