"""`flow rm` and `flow gc`: a finished run goes with its outputs, task logs and records; a running run, a run
whose outputs another run reuses and an unknown run stay, each named in one line; and records that another
user of a shared store could write never make them remove anything outside a run's own folders."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import runner
from backends.base import Backend
from runner.api import open_store
from runner.cli.main import main
from runner.store import RunRecord, RunState, TaskRecord, TaskState
from tests.conftest import make_backend
from tests.integration.cli_pipelines import SCRIPTED

DAY = 86400.0


def flow(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def run(cache: bool = False, backend: str | Backend = "process") -> str:
    """A run of SCRIPTED; with `cache`, one that reuses the outputs of an earlier one (if any)."""
    result = runner.run(SCRIPTED, backend=backend, cache=cache)
    assert result.succeeded
    return result.run_id


def files_of(home: Path, run_id: str) -> list[Path]:
    return [home / "root" / run_id, home / "logs" / run_id]


def one_error(result: Result, exit_code: int, *expected: str) -> None:
    assert result.exit_code == exit_code, result.output
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    assert all(text in result.stderr for text in expected), result.stderr


@pytest.mark.parametrize("store_kind", ["sqlite", "postgresql"])
def test_rm_removes_a_run_with_its_files_and_records_and_nothing_else(
    store_kind: str, flow_home: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    if store_kind == "postgresql":
        monkeypatch.setenv("FLOW_STORE", request.getfixturevalue("postgres_store_url"))
    gone, kept = run(), run()
    assert all(path.is_dir() for path in files_of(flow_home, gone))
    result = flow("rm", gone[:5])
    assert result.exit_code == 0 and result.stdout.startswith(f"removed run {gone} (scripted, SUCCEEDED")
    assert not any(path.exists() for path in files_of(flow_home, gone))
    assert all(path.is_dir() for path in files_of(flow_home, kept))
    one_error(flow("show", gone), 2, f"no run '{gone}'")
    with open_store() as store:
        assert [r.run_id for r in store.runs()] == [kept]
        assert store.tasks(gone) == [] and store.artifacts(gone) == []


def test_rm_removes_what_docker_containers_wrote(flow_home: Path) -> None:
    backend = make_backend("docker")
    try:
        gone = run(backend=backend)
    finally:
        backend.close()
    assert (flow_home / "root" / gone / "prepare-data" / "out").is_file()
    result = flow("rm", gone)
    assert result.exit_code == 0 and not result.stderr, result.output
    assert not any(path.exists() for path in files_of(flow_home, gone))


def test_rm_of_an_unknown_run_is_one_line_and_removes_nothing(flow_home: Path) -> None:
    known = run()
    one_error(flow("rm", known, "nope"), 2, "no run 'nope'")
    assert all(path.is_dir() for path in files_of(flow_home, known))


def test_a_running_run_is_never_removed(flow_home: Path) -> None:
    running, done = run(), run()
    with open_store() as store:
        record = store.run(running)
        record.state, record.engine_pid, record.engine_host = (
            RunState.RUNNING,
            os.getpid(),
            socket.gethostname(),
        )
        store.save_run_progress(record)
    result = flow("rm", running, done)
    one_error(result, 1, f"run {running} is RUNNING", f"flow cancel {running}")
    assert f"removed run {done}" in result.stdout
    assert all(path.is_dir() for path in files_of(flow_home, running))
    with open_store() as store:
        assert store.run(running).state == RunState.RUNNING and store.tasks(running)


def test_a_run_whose_outputs_a_cached_run_reuses_goes_only_with_it(flow_home: Path) -> None:
    maker, reuser = run(cache=True), run(cache=True)
    one_error(flow("rm", maker), 1, f"run {maker} is kept", f"cached tasks of run {reuser}")
    assert (flow_home / "root" / maker / "prepare-data" / "out").is_file()
    result = flow("rm", reuser, maker)
    assert result.exit_code == 0 and result.stdout.count("removed run") == 2, result.output
    assert not (flow_home / "root" / maker).exists() and not (flow_home / "root" / reuser).exists()


def test_gc_removes_runs_created_before_a_moment(flow_home: Path) -> None:
    old, reused, reuser, recent = run(), run(cache=True), run(cache=True), run()
    with open_store() as store:
        for run_id, age in [(old, 40 * DAY), (reused, 40 * DAY), (reuser, 2 * DAY)]:
            record = store.run(run_id)
            record.created_at = time.time() - age
            store.save_run(record)
    dry = flow("gc", "--older-than", "30d", "--dry-run")
    assert dry.exit_code == 0 and f"would remove run {old}" in dry.stdout
    assert (flow_home / "root" / old).is_dir()
    result = flow("gc", "--older-than", "30d")
    assert result.exit_code == 0, result.output
    assert f"removed run {old}" in result.stdout and f"run {reused} is kept" in result.stdout
    with open_store() as store:
        assert {r.run_id for r in store.runs()} == {reused, reuser, recent}
    result = flow("gc", "--older-than", (time.strftime("%Y-%m-%d", time.localtime(time.time() + DAY))))
    assert result.exit_code == 0 and result.stdout.count("removed run") == 3, result.output
    one_error(flow("gc", "--older-than", "a month"), 2, "--older-than", "'a month'")


def hostile(run_id: str, root: str, log_path: str = "") -> None:
    """A finished run's records as another user of a shared store could write them."""
    with open_store() as store:
        store.save_run(
            RunRecord(run_id, "p", "p.yaml", "process", root, state=RunState.SUCCEEDED, created_at=1.0)
        )
        task = TaskRecord(run_id, "t", "t", "comp-t", "container", state=TaskState.SUCCEEDED)
        task.log_path = log_path
        store.save_tasks([task])


def precious(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "keep").write_text("mine")
    return folder / "keep"


def test_hostile_records_remove_nothing_outside_a_runs_own_folders(
    tmp_path: Path, flow_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outside = tmp_path / "outside"
    kept = [precious(outside), precious(tmp_path / "victim")]
    root = tmp_path / "root"
    root.mkdir()
    # An id that climbs out of the root, and one that names a folder beside it.
    hostile("../victim", str(root))
    hostile("victim", str(tmp_path))
    # A run folder and a log folder that are links out; a task folder that is one; a log path outside.
    (root / "0000aaaa").symlink_to(outside)
    (flow_home / "logs").mkdir(parents=True)
    (flow_home / "logs" / "0000aaaa").symlink_to(outside)
    hostile("0000aaaa", str(root), log_path=str(outside / "keep"))
    (root / "0000bbbb").mkdir()
    (root / "0000bbbb" / "t").symlink_to(outside)
    hostile("0000bbbb", str(root))
    # A root and id that together name flow's own home; a relative root.
    home = tmp_path / "0000cccc"
    kept.append(precious(home / "root"))
    hostile("0000dddd", "relative/root")
    monkeypatch.chdir(tmp_path)
    precious(tmp_path / "relative" / "root" / "0000dddd")
    kept.append(tmp_path / "relative" / "root" / "0000dddd" / "keep")

    result = flow("rm", "../victim", "victim", "0000aaaa", "0000bbbb", "0000dddd")
    assert result.exit_code == 0, result.output
    assert result.stdout.count("removed run") == 5, result.output
    for warning in (
        "'../victim': its files are left alone",
        "'victim': its files are left alone",
        "relative",
    ):
        assert warning in result.stderr, result.stderr
    monkeypatch.setenv("FLOW_HOME", str(home))
    hostile("0000cccc", str(tmp_path))
    result = flow("gc", "--older-than", "1d")
    assert result.exit_code == 0 and "it holds flow's home" in result.stderr, result.output

    assert all(path.read_text() == "mine" for path in kept)
    assert outside.is_dir() and not (root / "0000aaaa").exists() and not (root / "0000bbbb").exists()
