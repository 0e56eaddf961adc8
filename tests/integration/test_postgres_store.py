"""`flow` with FLOW_STORE naming a PostgreSQL store (the real server): runs are recorded there and every
command reads them back; a store that cannot be opened is one line naming it, without its password."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from runner.store import RunState, open_url
from runner.testing.conformance import wait_until_running
from runner.testing.shellsteps import WAIT_FOR_RELEASE, Step, pipeline
from tests.integration.test_cli import EXAMPLE, flow


def test_a_run_is_recorded_in_postgres_and_read_back_by_every_command(
    tmp_path: Path, flow_home: Path, postgres_store_url: str
) -> None:
    store = {"FLOW_STORE": postgres_store_url}
    done = flow(
        "run", str(EXAMPLE), "--backend", "process", "-p", "seed=7", "--root", str(tmp_path), env=store
    )
    assert done.returncode == 0, done.stdout + done.stderr

    shown = json.loads(flow("show", "latest", "-o", "json", env=store).stdout)
    run_id = shown["run_id"]
    assert shown["state"] == "SUCCEEDED" and shown["params"]["seed"] == 7 and shown["backend"] == "process"
    assert {t["path"] for t in shown["tasks"]} == {"prepare-data", "train", "evaluate"}
    assert 0.8 < shown["outputs"]["parameters"]["accuracy"] <= 1.0
    listed = flow("runs", env=store)
    assert listed.returncode == 0 and run_id in listed.stdout and "SUCCEEDED" in listed.stdout
    logs = flow("logs", run_id, "evaluate", env=store)
    assert logs.returncode == 0 and "accuracy" in logs.stdout
    assert f"{run_id}/prepare-data/train" in flow("artifacts", run_id, env=store).stdout

    with psycopg.connect(postgres_store_url) as db:  # in PostgreSQL's tables, not in a file of FLOW_HOME
        rows = db.execute(
            "SELECT path, state FROM tasks WHERE run_id = %s ORDER BY rowid", (run_id,)
        ).fetchall()
    assert sorted(rows) == [("evaluate", "SUCCEEDED"), ("prepare-data", "SUCCEEDED"), ("train", "SUCCEEDED")]
    assert not (flow_home / "flow.db").exists()
    assert flow("runs").stdout.count(run_id) == 0  # without FLOW_STORE: the default SQLite store


def test_resume_finishes_a_failed_run_from_postgres(tmp_path: Path, postgres_store_url: str) -> None:
    flag = tmp_path / "fixed"
    path = tmp_path / "flaky.yaml"
    path.write_text(
        pipeline({"first": Step("echo first"), "second": Step(f"test -f {flag} || exit 3", after=("first",))})
    )
    store = {"FLOW_STORE": postgres_store_url}
    failed = flow("run", str(path), "--backend", "process", "--root", str(tmp_path / "root"), env=store)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    flag.touch()
    resumed = flow("resume", "latest", env=store)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    with open_url(postgres_store_url) as db:
        run = db.runs()[0]
        first, second = db.task(run.run_id, "first"), db.task(run.run_id, "second")
    assert run.state == RunState.SUCCEEDED
    assert first is not None and first.attempts == 1  # succeeded before, not run again
    assert second is not None and second.state.ok


def test_cancel_reaches_an_engine_through_postgres(tmp_path: Path, postgres_store_url: str) -> None:
    path = tmp_path / "held.yaml"
    path.write_text(pipeline({"held": Step(WAIT_FOR_RELEASE)}))
    env = {"FLOW_STORE": postgres_store_url}
    command = [sys.executable, "-m", "runner.cli.main", "run", str(path), "--backend", "process"]
    engine = subprocess.Popen(
        [*command, "--root", str(tmp_path / "root")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )
    try:
        with open_url(postgres_store_url) as db:
            run_id = wait_until_running(db, "held")
        cancelled = flow("cancel", run_id, env=env)
        assert cancelled.returncode == 0 and "CANCELLED" in cancelled.stdout, (
            cancelled.stdout + cancelled.stderr
        )
        engine.communicate(timeout=120)
        assert engine.returncode == 130
    finally:
        if engine.poll() is None:
            engine.kill()
            engine.communicate()
    with open_url(postgres_store_url) as db:
        assert db.run(run_id).state == RunState.CANCELLED


UNREACHABLE = "postgresql://flow:s3cret@127.0.0.1:1/flow"  # nothing listens on port 1


@pytest.mark.parametrize(
    "args",
    [("runs",), ("show", "latest"), ("logs", "latest"), ("resume", "latest"), ("cancel", "latest"), ("ui",)],
)
def test_an_unreachable_store_is_one_line_naming_it_without_the_password(args: tuple[str, ...]) -> None:
    done = flow(*args, env={"FLOW_STORE": UNREACHABLE})
    assert done.returncode == 1
    assert done.stderr.startswith("error: postgresql://flow:***@127.0.0.1:1/flow: cannot connect: ")
    assert done.stderr.count("\n") == 1 and "s3cret" not in done.stderr + done.stdout


def test_a_run_with_an_unreachable_store_starts_nothing(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    marker = tmp_path / "ran"
    path.write_text(pipeline({"a": Step(f"touch {marker}")}))
    done = flow("run", str(path), "--backend", "process", env={"FLOW_STORE": UNREACHABLE})
    assert done.returncode == 1 and "cannot connect" in done.stderr and "s3cret" not in done.stderr
    assert not marker.exists()


def test_a_store_url_of_another_kind_is_a_usage_error() -> None:
    done = flow("runs", env={"FLOW_STORE": "mysql://flow:s3cret@db/flow"})
    assert done.returncode == 2
    assert done.stderr.startswith("error: FLOW_STORE: not a store URL: 'mysql://flow:***@db/flow'")
    assert done.stderr.count("\n") == 1 and "s3cret" not in done.stderr
