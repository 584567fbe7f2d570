"""Smoke test of the screening benchmark (bench/screening.py) on a small data set."""

import os

from bench import screening


def test_the_screening_benchmark_agrees_with_the_naive_loop_and_prints_every_row(capsys):
    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None

    result = screening.main(["--questions", "500", "--words", "200"])
    out = capsys.readouterr().out

    assert result.agreed == result.sample == 500
    assert "agree on 500 questions" in out
    assert [row.method for row in result.rows] == list(screening.ROWS)
    table = [line for line in out.splitlines() if " | " in line]
    assert table[0].startswith("method") and "questions/s" in table[0] and "vs baseline" in table[0]
    assert [line.split(" | ")[0].strip() for line in table[1:]] == list(screening.ROWS)
    assert "sample" in out and "target" in out
    # The benchmark pins itself to one CPU while it runs, and gives the others back afterwards.
    if cpus is not None:
        assert os.sched_getaffinity(0) == cpus
