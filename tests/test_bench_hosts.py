"""Smoke test of the several-hosts benchmark (bench/hosts.py) at a tiny size: the reference, a
host killed and a drain, each ending with every viewer holding every answer once.

The bench keeps its own PostgreSQL database (the test run's name + "_bench") and its own Redis db.
"""

import pytest

from bench import hosts

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.processes, pytest.mark.netns]


def test_the_hosts_bench_loses_and_doubles_nothing_when_a_host_dies_or_a_process_drains(capsys):
    with pytest.raises(SystemExit) as exit_code:
        hosts.main(
            [
                "--hosts", "2", "--processes", "1", "--viewers", "24", "--answers", "6",
                "--interval", "0.2", "--kill-after", "2", "--drain", "2", "--spread", "1",
            ]
        )  # fmt: skip
    out = capsys.readouterr().out

    assert exit_code.value.code == 0, out
    table = [line.split(" | ") for line in out.splitlines() if " | " in line]
    assert [cells[0].strip() for cells in table] == ["scenario", "reference", "kill", "drain"], out
    header = [cell.strip() for cell in table[0]]
    rows = {
        cells[0].strip(): dict(zip(header, (c.strip() for c in cells), strict=True)) for cells in table[1:]
    }
    for name, row in rows.items():
        assert row["connected"] == "24/24" and row["lost/doubled"] == "0/0", (name, row)
        assert row["events delivered/expected"] == "144/144", (name, row)
    assert rows["reference"]["viewers per host"] == "24"
    assert rows["kill"]["viewers per host"] == "12 / 12"
    assert rows["kill"]["dropped by the fault (close codes)"].startswith("12 (")
    assert rows["drain"]["dropped by the fault (close codes)"] == "12 (4503: 12)"
