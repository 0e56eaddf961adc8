"""The engine's journal: what each save writes, and that the store ends up holding the records."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path

import pytest

from runner.engine.journal import Journal
from runner.store import ArtifactRecord, RunRecord, SQLiteStore, TaskRecord, TaskState
from runner.store.columns import TASK_CHEAP, TASK_COSTLY


class RecordingStore(SQLiteStore):
    """A SQLite store that remembers the columns each save updated."""

    updated: list[tuple[str, ...]]

    def save_progress(
        self,
        new_tasks: Collection[TaskRecord],
        changed_tasks: Mapping[tuple[str, ...], Collection[TaskRecord]],
        artifacts: Collection[ArtifactRecord],
    ) -> None:
        self.updated.extend(changed_tasks)
        super().save_progress(new_tasks, changed_tasks, artifacts)


@pytest.fixture
def store(tmp_path: Path) -> RecordingStore:
    store = RecordingStore(tmp_path / "flow.db")
    store.updated = []
    store.save_run(RunRecord(run_id="r1", pipeline="p", pipeline_file="", backend="fake", root="/root"))
    return store


def new_task(path: str) -> TaskRecord:
    return TaskRecord(run_id="r1", path=path, name=path, component="comp", kind="container")


def test_a_transition_writes_the_costly_columns_only_when_they_changed(store: RecordingStore) -> None:
    journal = Journal(store, None)
    task = new_task("a")
    journal.created(task)
    journal.save()
    assert store.updated == []  # a new record is inserted whole

    task.state, task.inputs, task.cache_key = TaskState.RUNNING, {"parameters": {"n": 1}}, "key-1"
    journal.changed(task)
    journal.save()
    task.state, task.outputs = TaskState.SUCCEEDED, {"n": 2}
    task.inputs = {"parameters": {"n": 1}}  # a new dict, equal to the one saved: not written again
    journal.changed(task)
    journal.save()

    assert store.updated == [(*TASK_CHEAP, "inputs", "cache_key"), (*TASK_CHEAP, "outputs")]
    assert store.task("r1", "a") == task


def test_a_record_an_earlier_engine_saved_is_written_whole(store: RecordingStore) -> None:
    earlier = new_task("a")
    earlier.inputs, earlier.cache_key = {"x": 1}, "old"
    store.save_tasks([earlier])
    resumed = TaskRecord(**{name: getattr(earlier, name) for name in earlier.__slots__})
    resumed.state, resumed.inputs, resumed.cache_key = TaskState.RUNNING, {"x": 2}, "new"
    journal = Journal(store, None)
    journal.changed(resumed)
    journal.save()
    assert store.updated == [TASK_CHEAP + TASK_COSTLY]
    assert store.task("r1", "a") == resumed


def test_the_journal_keeps_what_it_saved_in_the_stores_order(store: RecordingStore) -> None:
    journal = Journal(store, None)
    first, second = new_task("b"), new_task("a")
    journal.created(first)
    journal.created(second)
    artifact = ArtifactRecord(run_id="r1", task_path="b", name="out", uri="r1/b/out", type="system.Dataset")
    journal.artifacts([artifact])
    journal.save()
    first.state = TaskState.SUCCEEDED
    journal.changed(first)
    journal.save()
    assert list(journal.saved_tasks.values()) == store.tasks("r1")
    assert list(journal.saved_artifacts.values()) == store.artifacts("r1")
