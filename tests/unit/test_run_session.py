"""The run session every way of running a run goes through: a run it recorded that its engine did not end
is recorded as ended on the way out, so nothing stays PENDING or RUNNING behind a process that goes on."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from irbuild import Pipeline, task

import runner
from backends.fake import FakeBackend
from roots.base import Root, TaskView
from roots.files import RootFiles
from runner import api
from runner.errors import UsageError
from runner.store import RunRecord, RunState, SQLiteStore, Store


class UnreachableRoot(TaskView):
    path = uri = "/nowhere"

    def files(self) -> RootFiles:
        raise RuntimeError("no task root")


class UnreachableRootBackend(FakeBackend):
    """Fails where the engine is made, after the run is recorded and before the engine runs it."""

    def root_view(self, root: Root) -> TaskView:
        return UnreachableRoot()


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    monkeypatch.setenv("FLOW_HOME", str(tmp_path))
    opened = SQLiteStore(tmp_path / "db")
    yield opened
    opened.close()


def one_step() -> str:
    return Pipeline("one").container("comp-step").root({"a": task("comp-step")}).yaml()


def test_a_run_whose_engine_failed_before_it_ran_is_recorded_failed_and_resumes(
    store: Store, tmp_path: Path
) -> None:
    started: list[RunRecord] = []
    with pytest.raises(RuntimeError):
        runner.run(
            one_step(), backend=UnreachableRootBackend(), root=tmp_path, store=store, on_start=started.append
        )
    record = store.run(started[0].run_id)
    assert (record.state, record.error) == (RunState.FAILED, "the engine failed: RuntimeError: no task root")
    assert record.finished_at is not None
    resumed = api.resume(record.run_id, store=store)  # on the run's backend by name: a working one
    assert resumed.state == RunState.SUCCEEDED, resumed.error


def test_ctrl_c_before_the_engine_started_records_the_run_cancelled(store: Store, tmp_path: Path) -> None:
    started: list[RunRecord] = []

    def interrupted(record: RunRecord) -> None:
        started.append(record)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        runner.run(one_step(), backend=FakeBackend(), root=tmp_path, store=store, on_start=interrupted)
    record = store.run(started[0].run_id)
    assert (record.state, record.error) == (RunState.CANCELLED, "cancelled by the user")


def test_a_resume_refused_while_another_engine_drives_the_run_leaves_the_run_as_it_is(
    store: Store, tmp_path: Path
) -> None:
    started: list[RunRecord] = []
    with pytest.raises(RuntimeError):
        runner.run(
            one_step(), backend=UnreachableRootBackend(), root=tmp_path, store=store, on_start=started.append
        )
    record = store.run(started[0].run_id)
    record.state, record.engine_pid, record.engine_host = RunState.RUNNING, os.getppid(), ""
    store.save_run(record)
    with pytest.raises(UsageError, match="is still running"):
        api.resume(record.run_id, store=store)
    assert store.run(record.run_id).state == RunState.RUNNING
