"""An engine killed between two store writes leaves a store that `flow resume` can trust: a task recorded as
succeeded always has its artifacts recorded too (scripts/chaos.py kills real engines at random moments)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from pathlib import Path

import pytest

import runner
from backends.fake import FakeBackend, Outcome
from runner.store import ArtifactRecord, RunState, SQLiteStore, Store, TaskRecord, TaskState
from runner.store.postgres import PostgresStore
from runner.store.url import POSTGRES_SCHEMES, sqlite_path
from tests.unit.irbuild import Pipeline, artifact_from_task, task


class EngineKilled(BaseException):
    """Stands for SIGKILL: nothing after it runs, not even `except Exception` handlers."""


class DyingStore(Store):
    """Mixed into a store: its engine dies just before write number `dies_at` (task and artifact writes)."""

    writes, dies_at = 0, 0

    def _count(self) -> None:
        self.writes += 1
        if self.writes == self.dies_at:
            raise EngineKilled

    def save_tasks(self, tasks: Iterable[TaskRecord]) -> None:
        self._count()
        super().save_tasks(tasks)

    def save_artifacts(self, artifacts: Iterable[ArtifactRecord]) -> None:
        self._count()
        super().save_artifacts(artifacts)

    def save_progress(
        self,
        new_tasks: Collection[TaskRecord],
        changed_tasks: Mapping[tuple[str, ...], Collection[TaskRecord]],
        artifacts: Collection[ArtifactRecord],
    ) -> None:
        self._count()
        super().save_progress(new_tasks, changed_tasks, artifacts)


class DyingSQLiteStore(DyingStore, SQLiteStore):
    pass


class DyingPostgresStore(DyingStore, PostgresStore):
    pass


def dying_store(url: str, dies_at: int) -> DyingStore:
    store: DyingStore
    if url.split(":", 1)[0] in POSTGRES_SCHEMES:
        store = DyingPostgresStore(url)
    else:
        store = DyingSQLiteStore(sqlite_path(url))
    store.dies_at = dies_at
    return store


def producer_consumer() -> str:
    return (
        Pipeline("crash")
        .container("comp-make", outputs={"data": "system.Dataset"})
        .container("comp-use", inputs={"data": "system.Dataset"}, outputs={"data": "system.Dataset"})
        .root(
            {
                "make": task("comp-make"),
                "use": task("comp-use", data=artifact_from_task("make", "data")),
            }
        )
        .yaml()
    )


def run_until_killed(tmp_path: Path, store_url: str, dies_at: int) -> tuple[Store, str]:
    store = dying_store(store_url, dies_at)
    backend = FakeBackend()
    backend.script = lambda spec: Outcome(artifacts={"data": spec.task_path.encode()})
    with pytest.raises(EngineKilled):
        runner.run(producer_consumer(), backend=backend, root=tmp_path / "root", store=store)
    return store, store.runs(1)[0].run_id


def writes_of_a_whole_run(tmp_path: Path, store_url: str) -> int:
    store = dying_store(store_url, dies_at=0)
    backend = FakeBackend()
    backend.script = lambda spec: Outcome(artifacts={"data": b"x"})
    result = runner.run(producer_consumer(), backend=backend, root=tmp_path / "root", store=store)
    assert result.state == RunState.SUCCEEDED
    store.close()
    return store.writes


def test_a_task_recorded_as_succeeded_has_its_artifacts_whenever_the_engine_dies(
    tmp_path: Path, store_url: str
) -> None:
    writes = writes_of_a_whole_run(tmp_path / "whole", store_url)
    assert writes >= 3  # the tasks made, then each task's transitions, at least
    for dies_at in range(1, writes + 1):
        store, run_id = run_until_killed(tmp_path / str(dies_at), store_url, dies_at)
        succeeded = [t.path for t in store.tasks(run_id) if t.state == TaskState.SUCCEEDED]
        recorded = {a.task_path for a in store.artifacts(run_id)}
        missing = [path for path in succeeded if path not in recorded]
        assert not missing, f"killed before write {dies_at}: {missing} succeeded without artifacts"
        store.close()
