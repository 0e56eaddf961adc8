"""Ten `flow run`s of the same pipeline started at once on one store (SQLite and PostgreSQL) and one pipeline
root."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from runner.api import open_store, result
from runner.store import TaskState
from runner.testing.conformance import WIRING

RUNS = 10


def test_ten_runs_at_once_share_a_store_and_a_root_safely(
    tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOW_STORE", store_url)  # the engines' store, and the one read back below
    pipeline = tmp_path / "wiring.yaml"
    pipeline.write_text(WIRING)
    root = tmp_path / "root"
    # Half the runs are identical (n=3), so they race for one cache entry; the others are each their own.
    sizes = [3] * (RUNS // 2) + list(range(4, 4 + RUNS - RUNS // 2))
    command = [sys.executable, "-m", "runner.cli.main", "run", str(pipeline), "--backend", "process"]
    started = [
        subprocess.Popen(
            [*command, "--root", str(root), "-p", f"n={n}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in sizes
    ]
    finished = [process.communicate(timeout=300) for process in started]

    for process, (out, err) in zip(started, finished, strict=True):
        assert process.returncode == 0, err
        assert "locked" not in out + err
    with open_store() as store:
        runs = store.runs(RUNS)
        results = {record.run_id: result(store, record.run_id) for record in runs}
    assert len(results) == RUNS

    for run in results.values():
        n = run.tasks["consume"].outputs["summary"].split()[0]
        produce = run.tasks["produce"]
        table = produce.artifacts["table"]
        assert table.path.read_text().split() == [str(i) for i in range(1, int(n) + 1)]
        if produce.state == TaskState.SUCCEEDED:
            # Its own outputs, in its own folder: never another run's.
            assert table.uri == f"{run.run_id}/produce/table"
        else:
            assert produce.state == TaskState.CACHED and "cached from run" in _reason(run.run_id)
    ran_alone = [r for r in results.values() if r.tasks["consume"].outputs["summary"].split()[0] != "3"]
    assert all(r.tasks["produce"].state == TaskState.SUCCEEDED for r in ran_alone)


def _reason(run_id: str) -> str:
    with open_store() as store:
        record = store.task(run_id, "produce")
    return record.reason if record is not None else ""
